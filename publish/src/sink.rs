//! The [`Sink`] abstraction shared by the JSON-lines and Kafka sinks, and [`TeeSink`].

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::counters::{CountersSnapshot, SinkCounters};
use crate::record::Record;
use crate::spool::SpoolError;

/// A destination for records. Owned and driven by one thread (the publish thread); never called from a hot
/// thread. Implementations must not block in [`Sink::submit`]; [`Sink::poll`] may block up to its timeout.
pub trait Sink: Send {
    /// Short name for reports (`jsonl`, `kafka`, `tee`).
    fn name(&self) -> &'static str;

    /// Whether the sink can take another record now. When `false` the caller stops draining its input and
    /// keeps calling [`Sink::poll`]; the backpressure then reaches the hand-off ring.
    fn ready(&self) -> bool {
        true
    }

    /// Takes one record (validated by the caller with [`Record::validate`]). Never blocks.
    fn submit(&mut self, record: Record) -> Result<(), SinkError>;

    /// Serves background work (delivery reports, resending the spool, flushing buffered output). Blocks at most
    /// `timeout` when there is nothing to do; `Duration::ZERO` never blocks.
    fn poll(&mut self, timeout: Duration) -> Result<(), SinkError>;

    /// The live counters (shared; readable from any thread).
    fn counters(&self) -> Arc<SinkCounters>;

    /// Flushes everything: waits up to `timeout` for outstanding deliveries, then leaves whatever is still
    /// undelivered in the spool (Kafka) and reports it. After `shutdown` the sink accepts no more records.
    fn shutdown(&mut self, timeout: Duration) -> Result<ShutdownReport, SinkError>;
}

impl<S: Sink + ?Sized> Sink for Box<S> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn ready(&self) -> bool {
        (**self).ready()
    }
    fn submit(&mut self, record: Record) -> Result<(), SinkError> {
        (**self).submit(record)
    }
    fn poll(&mut self, timeout: Duration) -> Result<(), SinkError> {
        (**self).poll(timeout)
    }
    fn counters(&self) -> Arc<SinkCounters> {
        (**self).counters()
    }
    fn shutdown(&mut self, timeout: Duration) -> Result<ShutdownReport, SinkError> {
        (**self).shutdown(timeout)
    }
}

/// Errors of a sink (cold path).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// Writing JSON lines failed.
    #[error("writing {what}: {source}")]
    Write {
        /// The destination (`stdout` or a path).
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The spool failed.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// librdkafka refused the configuration or could not create the client.
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// A configuration value is invalid.
    #[error("invalid publish configuration: {0}")]
    Config(String),
    /// The sink was used after [`Sink::shutdown`].
    #[error("sink already shut down")]
    Closed,
}

/// What a sink reports when it shuts down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Sink name.
    pub sink: &'static str,
    /// Final counters.
    pub counters: CountersSnapshot,
    /// Records left undelivered (in the spool for Kafka; they are sent first by the next run or by
    /// `tickwatch drain`).
    pub undelivered: u64,
    /// The spool directory, for sinks that have one.
    pub spool_dir: Option<PathBuf>,
    /// Whether the flush timeout expired with records still outstanding.
    pub timed_out: bool,
    /// Parts of a composite sink.
    pub parts: Vec<ShutdownReport>,
}

impl ShutdownReport {
    /// Whether every record was delivered and none failed or was lost.
    pub fn is_complete(&self) -> bool {
        self.undelivered == 0
            && self.counters.failed == 0
            && self.counters.lost == 0
            && self.parts.iter().all(ShutdownReport::is_complete)
    }
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.parts.is_empty() {
            for (i, part) in self.parts.iter().enumerate() {
                if i > 0 {
                    writeln!(f)?;
                }
                write!(f, "{part}")?;
            }
            return Ok(());
        }
        write!(f, "publish[{}]: {}", self.sink, self.counters)?;
        if self.undelivered > 0 {
            let dir = self
                .spool_dir
                .as_ref()
                .map_or_else(|| "-".to_owned(), |d| d.display().to_string());
            write!(
                f,
                "; {} record(s) NOT delivered{}: left in spool {} (sent first by the next run, or run `tickwatch \
                 drain --brokers B --spool-dir {}`)",
                self.undelivered,
                if self.timed_out { " within the flush timeout" } else { "" },
                dir,
                dir
            )?;
        } else {
            write!(f, "; all records delivered")?;
        }
        if self.counters.failed > 0 {
            let dir = self
                .spool_dir
                .as_ref()
                .map_or_else(|| "-".to_owned(), |d| d.display().to_string());
            write!(
                f,
                "; {} record(s) FAILED permanently (kept in {dir}/dead-letter.twspool)",
                self.counters.failed
            )?;
        }
        if self.counters.lost > 0 {
            write!(
                f,
                "; {} record(s) LOST (spool unwritable)",
                self.counters.lost
            )?;
        }
        Ok(())
    }
}

/// Sends every record to several sinks (e.g. Kafka and an `--alerts-out` file). Ready when all parts are.
pub struct TeeSink {
    parts: Vec<Box<dyn Sink>>,
    counters: Arc<SinkCounters>,
}

impl fmt::Debug for TeeSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.parts.iter().map(|p| p.name()).collect();
        f.debug_struct("TeeSink").field("parts", &names).finish()
    }
}

impl TeeSink {
    /// A tee over `parts` (each receives a copy of every record; the last one receives the original).
    pub fn new(parts: Vec<Box<dyn Sink>>) -> TeeSink {
        TeeSink {
            parts,
            counters: Arc::new(SinkCounters::default()),
        }
    }
}

impl Sink for TeeSink {
    fn name(&self) -> &'static str {
        "tee"
    }

    fn ready(&self) -> bool {
        self.parts.iter().all(|p| p.ready())
    }

    fn submit(&mut self, record: Record) -> Result<(), SinkError> {
        self.counters.add_produced(1);
        let Some((last, rest)) = self.parts.split_last_mut() else {
            return Ok(());
        };
        for part in rest {
            part.submit(record.clone())?;
        }
        last.submit(record)
    }

    fn poll(&mut self, timeout: Duration) -> Result<(), SinkError> {
        // Only the last part may block; the others are served without waiting.
        let Some((last, rest)) = self.parts.split_last_mut() else {
            std::thread::sleep(timeout);
            return Ok(());
        };
        for part in rest {
            part.poll(Duration::ZERO)?;
        }
        last.poll(timeout)
    }

    fn counters(&self) -> Arc<SinkCounters> {
        Arc::clone(&self.counters)
    }

    fn shutdown(&mut self, timeout: Duration) -> Result<ShutdownReport, SinkError> {
        let mut parts = Vec::with_capacity(self.parts.len());
        for part in &mut self.parts {
            parts.push(part.shutdown(timeout)?);
        }
        Ok(ShutdownReport {
            sink: "tee",
            counters: self.counters.snapshot(),
            undelivered: parts.iter().map(|p| p.undelivered).sum(),
            spool_dir: None,
            timed_out: parts.iter().any(|p| p.timed_out),
            parts,
        })
    }
}
