//! The publish stage: SPSC hand-off rings from the hot threads and the (unpinned) publish thread that encodes
//! records and drives a [`Sink`].

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use serde::Serialize;

use crate::counters::{CountersSnapshot, SinkCounters};
use crate::record::Publishable;
use crate::sink::{ShutdownReport, Sink};

/// Items taken from one input per loop turn before the other inputs and the sink get a turn.
const BATCH: usize = 256;

/// The hot side of one hand-off ring. Owned by one hot thread.
///
/// [`RecordSender::try_send`] is wait-free: one SPSC ring push (no allocation, no lock, no syscall); on a full
/// ring it returns the item in [`Backpressure`] and counts it. It never touches librdkafka or the disk.
pub struct RecordSender<T> {
    name: String,
    tx: rtrb::Producer<T>,
    rejected: Arc<CachePadded<AtomicU64>>,
}

impl<T> fmt::Debug for RecordSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordSender")
            .field("name", &self.name)
            .field("free", &self.tx.slots())
            .finish()
    }
}

/// A full hand-off ring gave the item back. See the crate docs for the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backpressure<T>(pub T);

impl<T> Backpressure<T> {
    /// The rejected item.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> RecordSender<T> {
    /// Offers `item` to the publish thread. `Err(Backpressure(item))` when the ring is full (counted in
    /// [`RecordSender::rejected`]); the caller decides: retry with its wait strategy (lossless replay) or drop it
    /// (live), never block on the publish thread indefinitely.
    #[inline]
    pub fn try_send(&mut self, item: T) -> Result<(), Backpressure<T>> {
        match self.tx.push(item) {
            Ok(()) => Ok(()),
            Err(rtrb::PushError::Full(item)) => {
                self.rejected.fetch_add(1, Ordering::Relaxed);
                Err(Backpressure(item))
            }
        }
    }

    /// Items rejected so far because the ring was full.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    /// Free slots in the ring right now.
    pub fn free_slots(&self) -> usize {
        self.tx.slots()
    }

    /// Whether the publish thread has gone (it then never reads again).
    pub fn is_abandoned(&self) -> bool {
        self.tx.is_abandoned()
    }

    /// The input's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

struct Input<T> {
    name: String,
    rx: rtrb::Consumer<T>,
    rejected: Arc<CachePadded<AtomicU64>>,
}

/// Live counters of the stage itself (the sink has its own [`SinkCounters`]).
#[derive(Debug, Default)]
struct StageCounters {
    received: AtomicU64,
    encode_errors: AtomicU64,
    discarded: AtomicU64,
}

/// Final report of the publish stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageReport {
    /// Items taken from the rings.
    pub received: u64,
    /// Items whose encoding failed (not published; reported on stderr).
    pub encode_errors: u64,
    /// Items taken from the rings but not given to the sink because the sink had failed (see `sink_error`),
    /// plus items left in the rings when the stage gave up waiting for a stalled sink.
    pub discarded: u64,
    /// Per input: name and items rejected by a full ring (hot-side backpressure).
    pub rejected: Vec<(String, u64)>,
    /// The first sink error, if any.
    pub sink_error: Option<String>,
    /// The sink's shutdown report (`None` if the sink failed to shut down; see `sink_error`).
    pub sink: Option<ShutdownReport>,
}

impl StageReport {
    /// Whether everything received was delivered (nothing rejected, discarded, failed or left in a spool).
    pub fn is_complete(&self) -> bool {
        self.encode_errors == 0
            && self.discarded == 0
            && self.sink_error.is_none()
            && self.rejected.iter().all(|(_, n)| *n == 0)
            && self.sink.as_ref().is_some_and(ShutdownReport::is_complete)
    }
}

impl fmt::Display for StageReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "publish stage: received={} encode_errors={} discarded={}",
            self.received, self.encode_errors, self.discarded
        )?;
        for (name, n) in &self.rejected {
            if *n > 0 {
                write!(f, " rejected[{name}]={n}")?;
            }
        }
        if let Some(e) = &self.sink_error {
            write!(f, "; sink error: {e}")?;
        }
        if let Some(sink) = &self.sink {
            write!(f, "\n{sink}")?;
        }
        Ok(())
    }
}

/// Live view of the stage counters for a metrics endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StageSnapshot {
    /// Items taken from the rings.
    pub received: u64,
    /// Items whose encoding failed.
    pub encode_errors: u64,
    /// Items discarded after a sink failure.
    pub discarded: u64,
    /// Items rejected by full rings (all inputs).
    pub rejected: u64,
}

/// Builds the publish stage: one [`RecordSender`] per producing hot thread, then [`StageBuilder::spawn`].
pub struct StageBuilder<T> {
    inputs: Vec<Input<T>>,
    idle_wait: Duration,
    flush_timeout: Duration,
    thread_name: String,
}

impl<T> fmt::Debug for StageBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.inputs.iter().map(|i| i.name.as_str()).collect();
        f.debug_struct("StageBuilder")
            .field("inputs", &names)
            .field("idle_wait", &self.idle_wait)
            .field("flush_timeout", &self.flush_timeout)
            .finish()
    }
}

impl<T: Publishable> Default for StageBuilder<T> {
    fn default() -> Self {
        StageBuilder::new()
    }
}

impl<T: Publishable> StageBuilder<T> {
    /// A builder with no inputs, a 1 ms idle wait and a 30 s flush timeout.
    pub fn new() -> StageBuilder<T> {
        StageBuilder {
            inputs: Vec::new(),
            idle_wait: Duration::from_millis(1),
            flush_timeout: Duration::from_secs(30),
            thread_name: "tw-publish".to_owned(),
        }
    }

    /// Adds an input ring of `capacity` items (allocated now) and returns its hot-side sender.
    pub fn input(&mut self, name: impl Into<String>, capacity: usize) -> RecordSender<T> {
        let name = name.into();
        let (tx, rx) = rtrb::RingBuffer::new(capacity.max(1));
        let rejected = Arc::new(CachePadded::new(AtomicU64::new(0)));
        self.inputs.push(Input {
            name: name.clone(),
            rx,
            rejected: Arc::clone(&rejected),
        });
        RecordSender { name, tx, rejected }
    }

    /// How long the publish thread waits in [`Sink::poll`] when every ring is empty (default 1 ms).
    pub fn idle_wait(mut self, wait: Duration) -> Self {
        self.idle_wait = wait;
        self
    }

    /// How long [`Sink::shutdown`] may wait for outstanding deliveries (default 30 s, `--flush-timeout`).
    pub fn flush_timeout(mut self, timeout: Duration) -> Self {
        self.flush_timeout = timeout;
        self
    }

    /// Name of the publish thread (default `tw-publish`).
    pub fn thread_name(mut self, name: impl Into<String>) -> Self {
        self.thread_name = name.into();
        self
    }

    /// Starts the publish thread (unpinned) driving `sink`.
    pub fn spawn(self, sink: Box<dyn Sink>) -> io::Result<PublishHandle> {
        let stop = Arc::new(AtomicBool::new(false));
        let sink_counters = sink.counters();
        let stage = Arc::new(StageCounters::default());
        let rejected: Vec<Arc<CachePadded<AtomicU64>>> = self
            .inputs
            .iter()
            .map(|i| Arc::clone(&i.rejected))
            .collect();
        let worker = Worker {
            inputs: self.inputs,
            sink,
            stop: Arc::clone(&stop),
            stage: Arc::clone(&stage),
            idle_wait: self.idle_wait,
            flush_timeout: self.flush_timeout,
        };
        let thread = std::thread::Builder::new()
            .name(self.thread_name)
            .spawn(move || worker.run())?;
        Ok(PublishHandle {
            thread,
            stop,
            sink_counters,
            stage,
            rejected,
        })
    }
}

/// Control of a running publish stage (owned by the runtime's control thread).
pub struct PublishHandle {
    thread: JoinHandle<StageReport>,
    stop: Arc<AtomicBool>,
    sink_counters: Arc<SinkCounters>,
    stage: Arc<StageCounters>,
    rejected: Vec<Arc<CachePadded<AtomicU64>>>,
}

impl fmt::Debug for PublishHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublishHandle")
            .field("sink", &self.sink_counters.snapshot())
            .finish_non_exhaustive()
    }
}

/// The publish thread panicked (a bug; the report is lost).
#[derive(Debug, thiserror::Error)]
#[error("the publish thread panicked")]
pub struct PublishThreadPanicked;

impl PublishHandle {
    /// Live sink counters.
    pub fn sink_counters(&self) -> CountersSnapshot {
        self.sink_counters.snapshot()
    }

    /// Live stage counters.
    pub fn stage_counters(&self) -> StageSnapshot {
        StageSnapshot {
            received: self.stage.received.load(Ordering::Relaxed),
            encode_errors: self.stage.encode_errors.load(Ordering::Relaxed),
            discarded: self.stage.discarded.load(Ordering::Relaxed),
            rejected: self
                .rejected
                .iter()
                .map(|r| r.load(Ordering::Relaxed))
                .sum(),
        }
    }

    /// Asks the stage to finish: it drains every ring, then shuts the sink down (flush timeout), and returns
    /// the report. Stop the hot threads (or stop sending) first; items sent after the rings were found empty
    /// may be left unread.
    pub fn shutdown(self) -> Result<StageReport, PublishThreadPanicked> {
        self.stop.store(true, Ordering::Release);
        self.join()
    }

    /// Waits for the stage to finish on its own: when every [`RecordSender`] has been dropped and the rings are
    /// drained.
    pub fn join(self) -> Result<StageReport, PublishThreadPanicked> {
        self.thread.join().map_err(|_| PublishThreadPanicked)
    }
}

struct Worker<T> {
    inputs: Vec<Input<T>>,
    sink: Box<dyn Sink>,
    stop: Arc<AtomicBool>,
    stage: Arc<StageCounters>,
    idle_wait: Duration,
    flush_timeout: Duration,
}

impl<T: Publishable> Worker<T> {
    fn run(mut self) -> StageReport {
        let mut sink_error: Option<String> = None;
        let mut stalled_since: Option<Instant> = None;
        loop {
            let mut moved = 0usize;
            for input in &mut self.inputs {
                let mut budget = BATCH;
                while budget > 0 && (sink_error.is_some() || self.sink.ready()) {
                    let Ok(item) = input.rx.pop() else { break };
                    budget -= 1;
                    moved += 1;
                    self.stage.received.fetch_add(1, Ordering::Relaxed);
                    if sink_error.is_some() {
                        self.stage.discarded.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let record = match item.into_record().and_then(|r| r.validate().map(|()| r)) {
                        Ok(r) => r,
                        Err(e) => {
                            let n = self.stage.encode_errors.fetch_add(1, Ordering::Relaxed);
                            if n < 10 {
                                eprintln!(
                                    "tickwatch publish: record from {} not published: {e}",
                                    input.name
                                );
                            }
                            continue;
                        }
                    };
                    if let Err(e) = self.sink.submit(record) {
                        eprintln!("tickwatch publish: error: sink {} failed: {e}; further records are discarded", self.sink.name());
                        sink_error = Some(e.to_string());
                    }
                }
            }
            let stopping = self.stop.load(Ordering::Acquire)
                || self.inputs.iter().all(|i| i.rx.is_abandoned());
            let drained = self.inputs.iter().all(|i| i.rx.is_empty());
            if moved == 0 && stopping {
                if drained {
                    break;
                }
                // Items remain but the sink takes nothing: give it the flush timeout, then give up on them.
                let since = *stalled_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= self.flush_timeout {
                    let left: usize = self.inputs.iter().map(|i| i.rx.slots()).sum();
                    eprintln!("tickwatch publish: error: sink stalled; {left} record(s) left unread in the rings");
                    self.stage
                        .discarded
                        .fetch_add(left as u64, Ordering::Relaxed);
                    break;
                }
            } else {
                stalled_since = None;
            }
            if sink_error.is_none() {
                if let Err(e) = self.sink.poll(if moved == 0 {
                    self.idle_wait
                } else {
                    Duration::ZERO
                }) {
                    eprintln!("tickwatch publish: error: sink {} failed: {e}; further records are discarded", self.sink.name());
                    sink_error = Some(e.to_string());
                }
            } else if moved == 0 {
                std::thread::sleep(self.idle_wait);
            }
        }
        let sink = match self.sink.shutdown(self.flush_timeout) {
            Ok(report) => Some(report),
            Err(e) => {
                eprintln!(
                    "tickwatch publish: error: sink {} shutdown failed: {e}",
                    self.sink.name()
                );
                sink_error.get_or_insert(e.to_string());
                None
            }
        };
        StageReport {
            received: self.stage.received.load(Ordering::Relaxed),
            encode_errors: self.stage.encode_errors.load(Ordering::Relaxed),
            discarded: self.stage.discarded.load(Ordering::Relaxed),
            rejected: self
                .inputs
                .iter()
                .map(|i| (i.name.clone(), i.rejected.load(Ordering::Relaxed)))
                .collect(),
            sink_error,
            sink,
        }
    }
}
