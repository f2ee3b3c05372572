//! Publish-stage benchmarks: what the sinks sustain and what the hot side pays.
//!
//! Records are realistic alert payloads (~330 bytes of JSON, 12 symbols) built before timing. Timed:
//! * `publish/encode_feature`: `FeatureRecord` → `Record` (serde_json), the per-record work done on the publish
//!   thread before a sink sees it;
//! * `publish/jsonl_submit`: `JsonLinesSink::submit` into a discarding writer (buffered formatting only);
//! * `publish/kafka_mock_delivered`: `KafkaSink` against librdkafka's mock cluster (`test.mock.num.brokers=1`,
//!   idempotent, acks=all): submit N records and poll until all N delivery reports are in — alerts/s confirmed;
//! * `publish/kafka_down_spooled`: `KafkaSink` whose broker refuses connections: submit N records (librdkafka's
//!   queue fills, then pending, then the spool on disk with fsync `never`) — alerts/s accepted while down;
//! * `publish/stage_accept/{jsonl,kafka_up,kafka_down}`: the rate a hot thread can hand records to a running publish
//!   stage indefinitely: push N records with `RecordSender::try_send` into a 64Ki ring (spinning on a full ring)
//!   and stop the clock when the publish thread has drained the ring into the sink. `kafka_down` vs `kafka_up` is
//!   the "broker down does not slow the hot side" figure; `full-ring spins` (stderr) counts backpressure.
//!
//! Run: `cargo bench -p benches --bench publish`. Figures and machine: benches/README.md, section Publish.

use std::hint::black_box;
use std::io;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use publish::{
    FeatureRecord, JsonLinesSink, KafkaConfig, KafkaSink, Publishable, Record, RecordKind,
    RecordSender, Sink, StageBuilder, WindowKind,
};

fn alert(i: u64) -> Record {
    let sym = [
        "AAPL", "MSFT", "NVDA", "AMZN", "TSLA", "META", "SPY", "QQQ", "GOOG", "NFLX", "AMD", "INTC",
    ][(i % 12) as usize];
    let ts = 34_200_000_000_000 + i * 1_000;
    let payload = format!(
        r#"{{"detector":"spoofing","symbol":"{sym}","stock_locate":{},"side":"buy","event_ts_ns":{ts},"window_start_ns":{},"window_end_ns":{ts},"score":0.93,"seq":{},"evidence":{{"order_ref":{},"size":25000,"median_size":400,"placed_ns":{},"cancelled_ns":{ts},"opposite_executions":3}}}}"#,
        i % 12 + 1,
        ts - 2_000_000_000,
        i * 3 + 1,
        i * 7 + 100_000,
        ts - 1_500_000_000,
    );
    Record::new(RecordKind::Alert, sym, ts, payload)
}

fn feature(i: u64) -> FeatureRecord {
    FeatureRecord {
        symbol: "AAPL".into(),
        stock_locate: 1,
        event_ts_ns: 34_200_000_000_000 + i,
        window: WindowKind::Sliding,
        window_start_ns: 34_199_000_000_000 + i,
        window_end_ns: 34_200_000_000_000 + i,
        messages: 1234,
        msg_rate: 1234.0,
        adds: 600,
        cancels: 580,
        executions: 54,
        volume: 5400,
        notional: 812_345.5,
        vwap: Some(150.43),
        order_to_trade: Some(22.85),
        cancel_rate: Some(0.966),
        median_order_size: Some(100.0),
        move_bps: Some(-4.2),
    }
}

fn mock_config(spool: &std::path::Path) -> KafkaConfig {
    let mut cfg = KafkaConfig::new("127.0.0.1:1", spool);
    cfg.overrides
        .push(("test.mock.num.brokers".into(), "1".into()));
    cfg.spool.fsync = publish::FsyncPolicy::Never;
    cfg
}

fn down_config(spool: &std::path::Path) -> KafkaConfig {
    // Nothing listens on port 1: every connection is refused, as with a broker that is down.
    let mut cfg = KafkaConfig::new("127.0.0.1:1", spool);
    cfg.spool.fsync = publish::FsyncPolicy::Never;
    cfg
}

fn wait_delivered(sink: &mut KafkaSink, target: u64, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    while sink.counters().snapshot().delivered < target {
        if Instant::now() > end {
            return false;
        }
        sink.poll(Duration::from_millis(1)).expect("poll");
    }
    true
}

fn bench_encode_and_jsonl(c: &mut Criterion) {
    let mut g = c.benchmark_group("publish");
    // Sanity: the encoded feature is one JSON line with the expected key.
    let rec = feature(1).into_record().unwrap();
    assert_eq!(rec.key, b"AAPL");
    assert!(rec.validate().is_ok());
    g.throughput(Throughput::Elements(1));
    g.bench_function("encode_feature", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            black_box(feature(i).into_record().unwrap())
        })
    });

    const N: u64 = 10_000;
    let records: Vec<Record> = (0..N).map(alert).collect();
    let mut check = JsonLinesSink::new().with_output(&RecordKind::ALL, "check", Vec::new());
    check.submit(records[0].clone()).unwrap();
    assert_eq!(
        check.shutdown(Duration::ZERO).unwrap().counters.delivered,
        1
    );
    g.throughput(Throughput::Elements(N));
    g.bench_function("jsonl_submit", |b| {
        let mut sink = JsonLinesSink::new().with_output(&RecordKind::ALL, "null", io::sink());
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let batch = records.clone();
                let start = Instant::now();
                for r in batch {
                    sink.submit(r).unwrap();
                }
                total += start.elapsed();
            }
            total
        })
    });
    g.finish();
}

fn bench_kafka(c: &mut Criterion) {
    let mut g = c.benchmark_group("publish");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    const N: u64 = 20_000;
    let records: Vec<Record> = (0..N).map(alert).collect();

    let spool = tempfile::tempdir().unwrap();
    let mut sink = KafkaSink::open(mock_config(spool.path())).unwrap();
    // Sanity: the mock cluster confirms what is sent.
    sink.submit(records[0].clone()).unwrap();
    assert!(
        wait_delivered(&mut sink, 1, Duration::from_secs(20)),
        "mock cluster did not confirm"
    );
    g.throughput(Throughput::Elements(N));
    g.bench_function("kafka_mock_delivered", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let batch = records.clone();
                let target = sink.counters().snapshot().delivered + N;
                let start = Instant::now();
                for (i, r) in batch.into_iter().enumerate() {
                    sink.submit(r).unwrap();
                    if i % 256 == 0 {
                        sink.poll(Duration::ZERO).unwrap();
                    }
                }
                assert!(
                    wait_delivered(&mut sink, target, Duration::from_secs(120)),
                    "not all delivered"
                );
                total += start.elapsed();
            }
            total
        })
    });
    let report = sink.shutdown(Duration::from_secs(30)).unwrap();
    assert!(report.is_complete(), "{report}");

    const M: u64 = 100_000;
    let records: Vec<Record> = (0..M).map(alert).collect();
    g.throughput(Throughput::Elements(M));
    g.bench_function("kafka_down_spooled", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().unwrap();
                let mut sink = KafkaSink::open(down_config(dir.path())).unwrap();
                let batch = records.clone();
                let start = Instant::now();
                for (i, r) in batch.into_iter().enumerate() {
                    sink.submit(r).unwrap();
                    if i % 256 == 0 {
                        sink.poll(Duration::ZERO).unwrap();
                    }
                }
                total += start.elapsed();
                let counters = sink.counters().snapshot();
                assert_eq!(counters.delivered, 0);
                assert!(counters.spooled > 0, "{counters}");
                let report = sink.shutdown(Duration::ZERO).unwrap();
                assert_eq!(report.undelivered, M, "{report}");
            }
            total
        })
    });
    g.finish();
}

fn push_all(tx: &mut RecordSender<Record>, batch: Vec<Record>) -> u64 {
    let mut spins = 0;
    for mut item in batch {
        loop {
            match tx.try_send(item) {
                Ok(()) => break,
                Err(back) => {
                    item = back.into_inner();
                    spins += 1;
                    std::hint::spin_loop();
                }
            }
        }
    }
    spins
}

fn bench_stage_accept(c: &mut Criterion) {
    let mut g = c.benchmark_group("publish/stage_accept");
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(3));
    const N: u64 = 20_000;
    const RING: usize = 1 << 16;
    let records: Vec<Record> = (0..N).map(alert).collect();
    g.throughput(Throughput::Elements(N));
    for which in ["jsonl", "kafka_up", "kafka_down"] {
        let dir = tempfile::tempdir().unwrap();
        let sink: Box<dyn Sink> = match which {
            "jsonl" => {
                Box::new(JsonLinesSink::new().with_output(&RecordKind::ALL, "null", io::sink()))
            }
            "kafka_up" => Box::new(KafkaSink::open(mock_config(dir.path())).unwrap()),
            _ => Box::new(KafkaSink::open(down_config(dir.path())).unwrap()),
        };
        let flush = Duration::from_secs(if which == "kafka_up" { 120 } else { 0 });
        let mut stage = StageBuilder::<Record>::new().flush_timeout(flush);
        let mut tx = stage.input("bench", RING);
        let handle = stage.spawn(sink).unwrap();
        let mut spins = 0;
        g.bench_function(which, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let batch = records.clone();
                    let start = Instant::now();
                    spins += push_all(&mut tx, batch);
                    while tx.free_slots() < RING {
                        std::hint::spin_loop();
                    }
                    total += start.elapsed();
                }
                total
            })
        });
        drop(tx);
        let report = handle.join().unwrap();
        let sink = report.sink.as_ref().unwrap();
        eprintln!("publish/stage_accept/{which}: full-ring spins {spins}; {sink}");
        if which != "kafka_down" {
            assert!(sink.is_complete(), "{report}");
        } else {
            assert_eq!(sink.counters.delivered, 0);
            assert_eq!(sink.undelivered, report.received, "{report}");
        }
    }
    g.finish();
}

criterion_group!(
    benches,
    bench_encode_and_jsonl,
    bench_kafka,
    bench_stage_accept
);
criterion_main!(benches);
