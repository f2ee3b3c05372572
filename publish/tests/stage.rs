//! The publish stage: hand-off rings, encoding on the publish thread, backpressure, sink failures, tee.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use publish::{
    EncodeError, JsonLinesSink, Publishable, Record, RecordKind, ShutdownReport, Sink,
    SinkCounters, SinkError, StageBuilder, TeeSink,
};

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn lines(&self) -> Vec<String> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// A fixed-size `Copy` event as a hot thread would send it; formatted only on the publish thread.
#[derive(Debug, Clone, Copy)]
struct Tick {
    input: u8,
    n: u32,
    fail: bool,
}

impl Publishable for Tick {
    fn kind(&self) -> RecordKind {
        RecordKind::Alert
    }
    fn feed_ts_ns(&self) -> u64 {
        u64::from(self.n)
    }
    fn write_key(&self, key: &mut Vec<u8>) {
        key.extend_from_slice(format!("S{}", self.input).as_bytes());
    }
    fn write_payload(&self, payload: &mut Vec<u8>) -> Result<(), EncodeError> {
        if self.fail {
            return Err(EncodeError::Invalid("test failure"));
        }
        publish::record::write_json(
            &serde_json::json!({"input": self.input, "n": self.n}),
            payload,
        )
    }
}

#[test]
fn two_inputs_keep_their_order_and_everything_arrives() {
    let out = Shared::default();
    let mut stage = StageBuilder::<Tick>::new();
    let mut a = stage.input("detect", 64);
    let mut b = stage.input("book", 64);
    let sink = JsonLinesSink::new().with_output(&RecordKind::ALL, "mem", out.clone());
    let handle = stage.spawn(Box::new(sink)).unwrap();
    let ta = std::thread::spawn(move || {
        for n in 0..5000 {
            let mut t = Tick {
                input: 0,
                n,
                fail: false,
            };
            while let Err(back) = a.try_send(t) {
                t = back.into_inner();
                std::thread::yield_now();
            }
        }
    });
    for n in 0..5000 {
        let mut t = Tick {
            input: 1,
            n,
            fail: false,
        };
        while let Err(back) = b.try_send(t) {
            t = back.into_inner();
            std::thread::yield_now();
        }
    }
    drop(b);
    ta.join().unwrap();
    let report = handle.join().unwrap();
    assert_eq!(report.received, 10_000);
    assert_eq!(report.sink.as_ref().unwrap().counters.delivered, 10_000);
    let lines = out.lines();
    assert_eq!(lines.len(), 10_000);
    for input in 0..2u8 {
        let ns: Vec<u64> = lines
            .iter()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v["input"] == input)
            .map(|v| v["n"].as_u64().unwrap())
            .collect();
        assert_eq!(
            ns,
            (0..5000).collect::<Vec<u64>>(),
            "input {input} in order"
        );
    }
}

#[test]
fn encode_errors_are_counted_not_published() {
    let out = Shared::default();
    let mut stage = StageBuilder::<Tick>::new();
    let mut tx = stage.input("detect", 16);
    let handle = stage
        .spawn(Box::new(JsonLinesSink::new().with_output(
            &[RecordKind::Alert],
            "mem",
            out.clone(),
        )))
        .unwrap();
    for n in 0..10 {
        tx.try_send(Tick {
            input: 0,
            n,
            fail: n % 3 == 0,
        })
        .unwrap();
    }
    let report = handle.shutdown().unwrap();
    assert_eq!(report.received, 10);
    assert_eq!(report.encode_errors, 4);
    assert_eq!(out.lines().len(), 6);
    assert!(!report.is_complete());
}

/// A sink that refuses records until released, to exercise ring backpressure.
struct Gate {
    open: Arc<AtomicBool>,
    counters: Arc<SinkCounters>,
}

impl Sink for Gate {
    fn name(&self) -> &'static str {
        "gate"
    }
    fn ready(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }
    fn submit(&mut self, _: Record) -> Result<(), SinkError> {
        self.counters.add_produced(1);
        self.counters.add_delivered(1);
        Ok(())
    }
    fn poll(&mut self, timeout: Duration) -> Result<(), SinkError> {
        std::thread::sleep(timeout);
        Ok(())
    }
    fn counters(&self) -> Arc<SinkCounters> {
        Arc::clone(&self.counters)
    }
    fn shutdown(&mut self, _: Duration) -> Result<ShutdownReport, SinkError> {
        Ok(ShutdownReport {
            sink: "gate",
            counters: self.counters.snapshot(),
            undelivered: 0,
            spool_dir: None,
            timed_out: false,
            parts: Vec::new(),
        })
    }
}

#[test]
fn full_ring_hands_the_item_back_and_counts_it() {
    let open = Arc::new(AtomicBool::new(false));
    let mut stage = StageBuilder::<Record>::new();
    let mut tx = stage.input("detect", 4);
    let handle = stage
        .spawn(Box::new(Gate {
            open: Arc::clone(&open),
            counters: Arc::new(SinkCounters::default()),
        }))
        .unwrap();
    let rec = |n: u64| Record::new(RecordKind::Alert, "A", n, format!("{{\"n\":{n}}}"));
    for n in 0..4 {
        tx.try_send(rec(n)).unwrap();
    }
    let back = tx.try_send(rec(99)).unwrap_err().into_inner();
    assert_eq!(
        back.feed_ts_ns, 99,
        "the rejected item is handed back intact"
    );
    assert_eq!(tx.rejected(), 1);
    assert_eq!(handle.stage_counters().rejected, 1);
    open.store(true, Ordering::Release);
    while tx.free_slots() < 4 {
        std::thread::sleep(Duration::from_millis(1));
    }
    tx.try_send(back).unwrap();
    drop(tx);
    let report = handle.join().unwrap();
    assert_eq!(report.received, 5);
    assert_eq!(report.rejected, vec![("detect".to_owned(), 1)]);
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
fn a_failed_sink_is_reported_and_never_blocks_the_hot_side() {
    let mut stage = StageBuilder::<Record>::new().flush_timeout(Duration::from_millis(100));
    let mut tx = stage.input("detect", 8);
    // Tiny writes are buffered; the first flush (when the stream goes idle) fails.
    let handle = stage
        .spawn(Box::new(JsonLinesSink::new().with_output(
            &RecordKind::ALL,
            "broken",
            Broken,
        )))
        .unwrap();
    for n in 0..2000u64 {
        let mut r = Record::new(RecordKind::Alert, "A", n, format!("{{\"n\":{n}}}"));
        while let Err(back) = tx.try_send(r) {
            r = back.into_inner();
            std::thread::sleep(Duration::from_micros(100));
        }
        if n == 10 {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    drop(tx);
    let report = handle.join().unwrap();
    assert_eq!(report.received, 2000);
    assert!(report.sink_error.is_some(), "{report}");
    assert!(report.discarded > 0, "{report}");
    assert!(!report.is_complete());
}

#[test]
fn tee_sends_every_record_to_every_part() {
    let a = Shared::default();
    let b = Shared::default();
    let mut tee = TeeSink::new(vec![
        Box::new(JsonLinesSink::new().with_output(&[RecordKind::Alert], "a", a.clone())),
        Box::new(JsonLinesSink::new().with_output(&RecordKind::ALL, "b", b.clone())),
    ]);
    tee.submit(Record::new(RecordKind::Alert, "X", 1, "{\"a\":1}"))
        .unwrap();
    tee.submit(Record::new(RecordKind::Feature, "X", 2, "{\"f\":1}"))
        .unwrap();
    let report = tee.shutdown(Duration::ZERO).unwrap();
    assert_eq!(a.lines(), vec!["{\"a\":1}"]);
    assert_eq!(b.lines(), vec!["{\"a\":1}", "{\"f\":1}"]);
    assert_eq!(report.parts.len(), 2);
    assert_eq!(report.parts[0].counters.unrouted, 1);
    assert!(report.is_complete());
}
