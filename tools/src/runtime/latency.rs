//! Latency measurement: per-thread HdrHistograms, handed to a reporter thread at each interval and merged there.
//!
//! Measured hops (tags in the interval log):
//!
//! | tag | from | to | recorded by |
//! |---|---|---|---|
//! | `rx_decoded` | packet receive stamp | message decoded | book thread, per message |
//! | `decoded_book` | message decoded | book event produced (book applied) | book thread, per message |
//! | `book_detected` | book applied | detectors done with the event | detect thread, per event |
//! | `rx_detected` | packet receive stamp | detectors done with the event | detect thread, per event |
//! | `rx_alert` | packet receive stamp | alert handed to the sink (end to end) | publish thread, per alert |
//!
//! The *receive stamp* is taken by the receive thread when the datagram was dequeued from the socket (live) or when
//! the reader handed the packet to the pipeline (replay); see [`clock`](super::clock) for the clock.
//!
//! Threading contract: each pipeline thread owns a [`Recorder`] (no sharing, no atomics on the record path;
//! `saturating_record`). Every `histogram_interval_ms` — checked against a timestamp the thread already has — the
//! recorder swaps its histogram set for a spare one returned by the reporter and pushes the full set on an SPSC ring
//! to the reporter, which merges it into the run totals, writes the interval log and hands the set back reset. No
//! allocation after start-up: the sets circulate. If no spare is available (reporter behind), the thread keeps
//! recording into the current set (the interval just gets longer); nothing is lost.

use hdrhistogram::Histogram;

use super::clock::Clock;
use super::ring::{ring, Rx, Tx};

/// A measured hop. See the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    /// Receive stamp → message decoded.
    RxDecoded = 0,
    /// Decoded → book applied.
    DecodedBook = 1,
    /// Book applied → detectors done.
    BookDetected = 2,
    /// Receive stamp → detectors done.
    RxDetected = 3,
    /// Receive stamp → alert handed to the sink (end to end).
    RxAlert = 4,
}

/// Number of [`Metric`]s.
pub const METRIC_COUNT: usize = 5;

impl Metric {
    /// All metrics in pipeline order.
    pub const ALL: [Metric; METRIC_COUNT] = [
        Metric::RxDecoded,
        Metric::DecodedBook,
        Metric::BookDetected,
        Metric::RxDetected,
        Metric::RxAlert,
    ];

    /// Interval-log tag.
    pub const fn tag(self) -> &'static str {
        match self {
            Metric::RxDecoded => "rx_decoded",
            Metric::DecodedBook => "decoded_book",
            Metric::BookDetected => "book_detected",
            Metric::RxDetected => "rx_detected",
            Metric::RxAlert => "rx_alert",
        }
    }

    /// Human label.
    pub const fn label(self) -> &'static str {
        match self {
            Metric::RxDecoded => "receive→decoded",
            Metric::DecodedBook => "decoded→book",
            Metric::BookDetected => "book→detected",
            Metric::RxDetected => "receive→detected",
            Metric::RxAlert => "receive→alert (e2e)",
        }
    }

    /// Parses a tag.
    pub fn from_tag(tag: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.tag() == tag)
    }
}

/// Creates an empty histogram tracking 1 ns ..= `max_ns` with 3 significant digits.
pub fn new_histogram(max_ns: u64) -> Histogram<u64> {
    Histogram::new_with_bounds(1, max_ns.max(2), 3).expect("bounds 1..max with 3 sigfigs are valid")
}

/// The histograms one thread records into, one per metric it measures.
#[derive(Debug, Clone)]
pub struct HistSet {
    hists: [Option<Histogram<u64>>; METRIC_COUNT],
}

impl HistSet {
    /// A set with histograms for `metrics`.
    pub fn new(metrics: &[Metric], max_ns: u64) -> Self {
        let mut hists: [Option<Histogram<u64>>; METRIC_COUNT] = Default::default();
        for m in metrics {
            hists[*m as usize] = Some(new_histogram(max_ns));
        }
        HistSet { hists }
    }

    /// The histogram of `m`, if this set measures it.
    pub fn get(&self, m: Metric) -> Option<&Histogram<u64>> {
        self.hists[m as usize].as_ref()
    }

    /// Clears every histogram (keeps the allocation).
    pub fn reset(&mut self) {
        for h in self.hists.iter_mut().flatten() {
            h.reset();
        }
    }

    #[inline(always)]
    fn record(&mut self, m: Metric, ns: u64) {
        if let Some(h) = &mut self.hists[m as usize] {
            h.saturating_record(ns.max(1));
        }
    }
}

/// Plain counters a thread reports with each interval (cumulative values, not deltas).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// Packets handled by this thread's first stage.
    pub packets: u64,
    /// Bytes of those packets (UDP payload).
    pub bytes: u64,
    /// Feed messages decoded.
    pub messages: u64,
    /// Book events produced or consumed.
    pub events: u64,
    /// Alerts produced or published.
    pub alerts: u64,
    /// Live receive: datagrams dropped by the backpressure policy.
    pub dropped_packets: u64,
    /// Live receive: feed messages in the dropped datagrams (from their transport headers).
    pub dropped_messages: u64,
    /// Live receive: datagrams longer than a pool slot (truncated, counted, not decoded).
    pub truncated: u64,
    /// Sequence gaps seen by the sequencer.
    pub gaps: u64,
    /// Messages missing in those gaps.
    pub gap_messages: u64,
    /// Duplicate / old packets.
    pub duplicates: u64,
    /// Times an output ring was full and the thread had to wait.
    pub ring_full_waits: u64,
    /// Highest depth of the thread's input ring during the interval.
    pub input_depth_max: u64,
    /// Capacity of the thread's input ring (0 for a source thread).
    pub input_capacity: u64,
}

/// One thread's interval, sent to the reporter.
#[derive(Debug)]
pub struct IntervalReport {
    /// Index of the sending thread.
    pub thread: usize,
    /// Interval start (clock ticks).
    pub start: u64,
    /// Interval end (clock ticks).
    pub end: u64,
    /// The histograms of the interval.
    pub hists: Box<HistSet>,
    /// Counters at the end of the interval.
    pub counters: Counters,
    /// Whether this is the thread's last report.
    pub last: bool,
}

/// A pipeline thread's latency recorder. See the module docs.
#[derive(Debug)]
pub struct Recorder {
    active: Box<HistSet>,
    to_reporter: Tx<IntervalReport>,
    spares: Rx<Box<HistSet>>,
    thread: usize,
    clock: Clock,
    interval: u64,
    start: u64,
    deadline: u64,
    /// Counters reported with each interval; the owning thread updates them directly.
    pub counters: Counters,
}

/// The reporter's end of one thread's recorder.
#[derive(Debug)]
pub struct RecorderLink {
    /// Interval reports from the thread.
    pub reports: Rx<IntervalReport>,
    /// Reset sets going back.
    pub spares: Tx<Box<HistSet>>,
}

/// Creates a recorder for thread `thread` measuring `metrics`, and the reporter's link to it.
pub fn recorder(
    thread: usize,
    metrics: &[Metric],
    clock: Clock,
    interval: std::time::Duration,
    max_ns: u64,
) -> (Recorder, RecorderLink) {
    const SETS: usize = 3;
    let (rep_tx, rep_rx) = ring(SETS + 1, false);
    let (mut sp_tx, sp_rx) = ring(SETS + 1, false);
    for _ in 1..SETS {
        let _ = sp_tx.try_push(Box::new(HistSet::new(metrics, max_ns)));
    }
    let now = clock.now();
    let interval = clock.ticks(interval).max(1);
    (
        Recorder {
            active: Box::new(HistSet::new(metrics, max_ns)),
            to_reporter: rep_tx,
            spares: sp_rx,
            thread,
            clock,
            interval,
            start: now,
            deadline: now.saturating_add(interval),
            counters: Counters::default(),
        },
        RecorderLink {
            reports: rep_rx,
            spares: sp_tx,
        },
    )
}

impl Recorder {
    /// Records one latency sample in nanoseconds.
    #[inline(always)]
    pub fn record(&mut self, m: Metric, ns: u64) {
        self.active.record(m, ns);
    }

    /// Records the latency from stamp `from` to stamp `to`.
    #[inline(always)]
    pub fn record_span(&mut self, m: Metric, from: u64, to: u64) {
        let ns = self.clock.delta_ns(from, to);
        self.active.record(m, ns);
    }

    /// The clock this recorder converts with.
    #[inline(always)]
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Whether an interval hand-over is due at `now` (then [`tick`](Self::tick) will hand it over).
    #[inline(always)]
    pub fn due(&self, now: u64) -> bool {
        now >= self.deadline
    }

    /// Call regularly with a current stamp (once per packet or batch, and when idle): hands the interval over when
    /// it is due. Returns true when it did.
    #[inline]
    pub fn tick(&mut self, now: u64) -> bool {
        if now < self.deadline {
            return false;
        }
        self.flush(now, false)
    }

    #[cold]
    fn flush(&mut self, now: u64, last: bool) -> bool {
        let Some(spare) = self.spares.try_pop() else {
            // Reporter behind: keep recording into the current set; try again next interval.
            self.deadline = now.saturating_add(self.interval);
            return false;
        };
        let full = std::mem::replace(&mut self.active, spare);
        let report = IntervalReport {
            thread: self.thread,
            start: self.start,
            end: now,
            hists: full,
            counters: self.counters,
            last,
        };
        self.counters.input_depth_max = 0;
        match self.to_reporter.try_push(report) {
            Ok(()) => {
                self.start = now;
                self.deadline = now.saturating_add(self.interval);
                true
            }
            Err(report) => {
                // Cannot happen while sets circulate (ring capacity > sets); keep the data regardless.
                self.active = report.hists;
                self.deadline = now.saturating_add(self.interval);
                false
            }
        }
    }

    /// Sends the final interval (waiting briefly for a spare set if the reporter is behind).
    pub fn finish(mut self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let now = self.clock.now();
            if self.flush(now, true)
                || std::time::Instant::now() > deadline
                || self.spares.is_finished()
            {
                return;
            }
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
    }
}

/// Formats a percentile table (p50, p90, p99, p99.9, p99.99, max, count) in microseconds for the given rows.
pub fn percentile_table<'a>(
    rows: impl IntoIterator<Item = (&'a str, &'a Histogram<u64>)>,
) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<32} {:>12} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "stage (µs)", "count", "p50", "p90", "p99", "p99.9", "p99.99", "max"
    );
    for (name, h) in rows {
        if h.is_empty() {
            let _ = writeln!(s, "{name:<32} {:>12} {:>9}", 0, "-");
            continue;
        }
        let us = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        let _ = writeln!(
            s,
            "{name:<32} {:>12} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            h.len(),
            us(0.5),
            us(0.9),
            us(0.99),
            us(0.999),
            us(0.9999),
            h.max() as f64 / 1000.0
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn intervals_circulate_without_loss() {
        let clock = Clock::monotonic();
        let (mut rec, mut link) = recorder(
            0,
            &[Metric::RxDecoded],
            clock,
            Duration::from_millis(1),
            1_000_000_000,
        );
        let mut total = new_histogram(1_000_000_000);
        let mut sent = 0u64;
        for round in 0..50u64 {
            for v in 0..100 {
                rec.record(Metric::RxDecoded, 1000 + v + round);
                rec.record(Metric::RxAlert, 5); // not measured by this thread: ignored
                sent += 1;
            }
            std::thread::sleep(Duration::from_micros(1100));
            rec.tick(clock.now());
            // Reporter side: merge, reset, hand back.
            while let Some(mut r) = link.reports.try_pop() {
                assert!(r.hists.get(Metric::RxAlert).is_none());
                total.add(r.hists.get(Metric::RxDecoded).unwrap()).unwrap();
                r.hists.reset();
                link.spares.try_push(r.hists).unwrap();
            }
        }
        rec.finish();
        while let Some(r) = link.reports.try_pop() {
            total.add(r.hists.get(Metric::RxDecoded).unwrap()).unwrap();
            assert!(r.last);
        }
        assert_eq!(total.len(), sent);
        assert!(percentile_table([("x", &total)]).contains("p99.99"));
    }
}
