//! Sink counters: written by the publish thread only, readable from any thread (metrics endpoint, tests).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Live counters of one sink. One writer (the publish thread), any number of readers; all accesses are
/// `Relaxed` (each counter is independently monotonic; take a [`SinkCounters::snapshot`] for a report).
#[derive(Debug, Default)]
pub struct SinkCounters {
    produced: AtomicU64,
    delivered: AtomicU64,
    spooled: AtomicU64,
    resent: AtomicU64,
    failed: AtomicU64,
    queue_full: AtomicU64,
    unrouted: AtomicU64,
    spool_corrupt: AtomicU64,
    spool_duplicates: AtomicU64,
    lost: AtomicU64,
}

/// A point-in-time copy of [`SinkCounters`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CountersSnapshot {
    /// Records the application handed to the sink in this run.
    pub produced: u64,
    /// Records confirmed: a successful Kafka delivery report, or a line written (JSON lines).
    pub delivered: u64,
    /// Records written to the spool because they could not be handed to or delivered by the broker.
    pub spooled: u64,
    /// Records handed to librdkafka again after having been spooled or failed (spool drain, retry).
    pub resent: u64,
    /// Records that failed permanently (e.g. message too large, unknown topic); kept in the spool's
    /// dead-letter file, never silently dropped.
    pub failed: u64,
    /// Times librdkafka's local queue was full (`QueueFull`), handled as backpressure.
    pub queue_full: u64,
    /// Records of a kind the sink has no destination for (JSON lines without a route for that kind).
    pub unrouted: u64,
    /// Corrupt or torn spool regions detected by the checksum (each counted once; the bytes are reported).
    pub spool_corrupt: u64,
    /// Spool records skipped because an earlier copy (same sequence) was already read.
    pub spool_duplicates: u64,
    /// Records that could neither be delivered nor written to the spool (spool I/O failure).
    pub lost: u64,
}

macro_rules! counter_methods {
    ($($name:ident => $add:ident),* $(,)?) => {
        impl SinkCounters {
            $(
                #[doc = concat!("Adds `n` to `", stringify!($name), "`.")]
                #[inline]
                pub fn $add(&self, n: u64) {
                    self.$name.fetch_add(n, Ordering::Relaxed);
                }
            )*

            /// Copies every counter.
            pub fn snapshot(&self) -> CountersSnapshot {
                CountersSnapshot { $($name: self.$name.load(Ordering::Relaxed),)* }
            }
        }
    };
}

counter_methods!(
    produced => add_produced,
    delivered => add_delivered,
    spooled => add_spooled,
    resent => add_resent,
    failed => add_failed,
    queue_full => add_queue_full,
    unrouted => add_unrouted,
    spool_corrupt => add_spool_corrupt,
    spool_duplicates => add_spool_duplicates,
    lost => add_lost,
);

impl fmt::Display for CountersSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "produced={} delivered={} spooled={} re-sent={} failed={} queue_full={} unrouted={} spool_corrupt={} \
             spool_duplicates={} lost={}",
            self.produced,
            self.delivered,
            self.spooled,
            self.resent,
            self.failed,
            self.queue_full,
            self.unrouted,
            self.spool_corrupt,
            self.spool_duplicates,
            self.lost
        )
    }
}
