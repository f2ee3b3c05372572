//! JSON-lines sink: each record's payload as one line, routed per kind to a writer (file or stdout). The
//! embedded default when no broker is configured.

use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::counters::SinkCounters;
use crate::record::{Record, RecordKind};
use crate::sink::{ShutdownReport, Sink, SinkError};

/// How often buffered lines are flushed while the stream is idle.
const IDLE_FLUSH_EVERY: Duration = Duration::from_millis(50);

struct Output {
    what: String,
    writer: Box<dyn Write + Send>,
    dirty: bool,
}

/// Writes each record's payload followed by `\n`, exactly the bytes the Kafka sink sends as the message value.
///
/// Each [`RecordKind`] is routed to at most one output; several kinds may share one. Records of a kind without
/// a route are counted as `unrouted`. Output is buffered and flushed when the stream goes idle (at most every
/// 50 ms) and at shutdown, so `tail -f` on the file follows along.
pub struct JsonLinesSink {
    outputs: Vec<Output>,
    route: [Option<usize>; 3],
    counters: Arc<SinkCounters>,
    last_flush: Instant,
    closed: bool,
}

impl fmt::Debug for JsonLinesSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let outs: Vec<&str> = self.outputs.iter().map(|o| o.what.as_str()).collect();
        f.debug_struct("JsonLinesSink")
            .field("outputs", &outs)
            .field("route", &self.route)
            .finish()
    }
}

impl Default for JsonLinesSink {
    fn default() -> Self {
        JsonLinesSink::new()
    }
}

impl JsonLinesSink {
    /// A sink with no outputs (every record unrouted) — add outputs with [`JsonLinesSink::with_output`].
    pub fn new() -> JsonLinesSink {
        JsonLinesSink {
            outputs: Vec::new(),
            route: [None; 3],
            counters: Arc::new(SinkCounters::default()),
            last_flush: Instant::now(),
            closed: false,
        }
    }

    /// Routes `kinds` to `writer` (buffered internally; pass an unbuffered writer). `what` names it in errors.
    pub fn with_output(
        mut self,
        kinds: &[RecordKind],
        what: impl Into<String>,
        writer: impl Write + Send + 'static,
    ) -> Self {
        let idx = self.outputs.len();
        self.outputs.push(Output {
            what: what.into(),
            writer: Box::new(BufWriter::with_capacity(64 << 10, writer)),
            dirty: false,
        });
        for kind in kinds {
            self.route[kind.index()] = Some(idx);
        }
        self
    }

    /// Routes `kinds` to standard output.
    pub fn with_stdout(self, kinds: &[RecordKind]) -> Self {
        self.with_output(kinds, "stdout", io::stdout())
    }

    /// Routes `kinds` to a file (created or truncated).
    pub fn with_file(self, kinds: &[RecordKind], path: &Path) -> io::Result<Self> {
        let file = File::create(path)?;
        Ok(self.with_output(kinds, path.display().to_string(), file))
    }

    fn flush_all(&mut self) -> Result<(), SinkError> {
        for out in &mut self.outputs {
            if out.dirty {
                out.writer.flush().map_err(|source| SinkError::Write {
                    what: out.what.clone(),
                    source,
                })?;
                out.dirty = false;
            }
        }
        self.last_flush = Instant::now();
        Ok(())
    }
}

impl Sink for JsonLinesSink {
    fn name(&self) -> &'static str {
        "jsonl"
    }

    fn submit(&mut self, record: Record) -> Result<(), SinkError> {
        if self.closed {
            return Err(SinkError::Closed);
        }
        self.counters.add_produced(1);
        let Some(idx) = self.route[record.kind.index()] else {
            self.counters.add_unrouted(1);
            return Ok(());
        };
        let out = &mut self.outputs[idx];
        let written = out
            .writer
            .write_all(&record.payload)
            .and_then(|()| out.writer.write_all(b"\n"));
        match written {
            Ok(()) => {
                out.dirty = true;
                self.counters.add_delivered(1);
                Ok(())
            }
            Err(source) => {
                self.counters.add_lost(1);
                Err(SinkError::Write {
                    what: out.what.clone(),
                    source,
                })
            }
        }
    }

    fn poll(&mut self, timeout: Duration) -> Result<(), SinkError> {
        // Called with a zero timeout while records flow and with the idle wait otherwise.
        if !timeout.is_zero() && self.last_flush.elapsed() >= IDLE_FLUSH_EVERY {
            self.flush_all()?;
        }
        if !timeout.is_zero() {
            std::thread::sleep(timeout);
        }
        Ok(())
    }

    fn counters(&self) -> Arc<SinkCounters> {
        Arc::clone(&self.counters)
    }

    fn shutdown(&mut self, _timeout: Duration) -> Result<ShutdownReport, SinkError> {
        self.closed = true;
        self.flush_all()?;
        Ok(ShutdownReport {
            sink: "jsonl",
            counters: self.counters.snapshot(),
            undelivered: 0,
            spool_dir: None,
            timed_out: false,
            parts: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| io::Error::other("poisoned"))?
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn routes_per_kind_and_counts_unrouted() {
        let alerts = Shared::default();
        let feats = Shared::default();
        let mut sink = JsonLinesSink::new()
            .with_output(&[RecordKind::Alert], "alerts", alerts.clone())
            .with_output(&[RecordKind::Feature], "features", feats.clone());
        sink.submit(Record::new(RecordKind::Alert, "A", 1, r#"{"a":1}"#))
            .unwrap();
        sink.submit(Record::new(RecordKind::Snapshot, "A", 2, r#"{"s":1}"#))
            .unwrap();
        sink.submit(Record::new(RecordKind::Feature, "B", 3, r#"{"f":1}"#))
            .unwrap();
        sink.submit(Record::new(RecordKind::Alert, "B", 4, r#"{"a":2}"#))
            .unwrap();
        let report = sink.shutdown(Duration::ZERO).unwrap();
        assert_eq!(
            alerts.0.lock().unwrap().as_slice(),
            b"{\"a\":1}\n{\"a\":2}\n"
        );
        assert_eq!(feats.0.lock().unwrap().as_slice(), b"{\"f\":1}\n");
        assert_eq!(report.counters.produced, 4);
        assert_eq!(report.counters.delivered, 3);
        assert_eq!(report.counters.unrouted, 1);
        assert!(report.is_complete());
        assert!(matches!(
            sink.submit(Record::new(RecordKind::Alert, "A", 1, "{}")),
            Err(SinkError::Closed)
        ));
    }

    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::new(io::ErrorKind::BrokenPipe, "closed"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::Error::new(io::ErrorKind::BrokenPipe, "closed"))
        }
    }

    #[test]
    fn write_errors_are_reported_not_panics() {
        let mut sink = JsonLinesSink::new().with_output(&RecordKind::ALL, "broken", Broken);
        // Buffered: the first small write succeeds, the flush reports the error.
        sink.submit(Record::new(RecordKind::Alert, "A", 1, "{}"))
            .unwrap();
        assert!(matches!(
            sink.shutdown(Duration::ZERO),
            Err(SinkError::Write { .. })
        ));
    }
}
