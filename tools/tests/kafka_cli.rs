//! `tickwatch drain` and `tickwatch tail` against librdkafka's mock cluster (no external broker needed): exit
//! codes, spool left untouched when the broker is unreachable, order kept, records read back.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use publish::consume::EnvelopeJson;
use publish::testing::MockBroker;
use publish::{KafkaConfig, KafkaSink, Record, RecordKind, Sink};

fn tickwatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tickwatch"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run tickwatch")
}

fn record(i: u64) -> Record {
    let sym = format!("S{}", i % 5);
    Record::new(
        RecordKind::Alert,
        sym.clone(),
        1_000 + i,
        format!(r#"{{"i":{i},"symbol":"{sym}"}}"#),
    )
}

/// Writes `n` records into a spool by running a sink against a broker that refuses connections.
fn spool_records(dir: &Path, prefix: &str, n: u64) {
    let mut cfg = KafkaConfig::new("127.0.0.1:1", dir);
    cfg.topic_prefix = prefix.to_owned();
    let mut sink = KafkaSink::open(cfg).unwrap();
    for i in 0..n {
        sink.submit(record(i)).unwrap();
    }
    let report = sink.shutdown(Duration::from_millis(200)).unwrap();
    assert_eq!(report.undelivered, n, "{report}");
}

#[test]
fn drain_delivers_a_spool_in_order_and_tail_reads_it_back() {
    let mock = MockBroker::new(1).unwrap();
    mock.create_topics("d.", 2).unwrap();
    let spool = tempfile::tempdir().unwrap();
    spool_records(spool.path(), "d.", 500);
    let dir = spool.path().to_str().unwrap();

    // Broker unreachable: exit 1, the spool is left as it was.
    let out = tickwatch(&[
        "drain",
        "--brokers",
        "127.0.0.1:1",
        "--spool-dir",
        dir,
        "--flush-timeout",
        "0.5",
        "--topic-prefix",
        "d.",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("500 record(s) NOT delivered"), "{err}");
    let (left, _) = publish::spool::read_all(spool.path()).unwrap();
    assert_eq!(
        left.iter().map(|e| e.id.seq).collect::<Vec<_>>(),
        (0..500).collect::<Vec<_>>()
    );

    // Broker up: exit 0, spool empty.
    let out = tickwatch(&[
        "drain",
        "--brokers",
        mock.bootstrap(),
        "--spool-dir",
        dir,
        "--topic-prefix",
        "d.",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("delivered=500") && err.contains("all records delivered"),
        "{err}"
    );
    assert_eq!(publish::spool::summarize(spool.path()).unwrap().records, 0);

    // tail: values in order per key; envelopes carry key and headers.
    let out = tickwatch(&[
        "tail",
        "--brokers",
        mock.bootstrap(),
        "--topic",
        "d.alerts",
        "--from-beginning",
        "--exit-at-end",
        "--timeout",
        "20",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let values: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(values.len(), 500);
    for sym in 0..5 {
        let is: Vec<u64> = values
            .iter()
            .filter(|v| v["symbol"] == format!("S{sym}"))
            .map(|v| v["i"].as_u64().unwrap())
            .collect();
        assert_eq!(
            is,
            (0..500).filter(|i| i % 5 == sym).collect::<Vec<_>>(),
            "order of S{sym}"
        );
    }
    let out = tickwatch(&[
        "tail",
        "--brokers",
        mock.bootstrap(),
        "--topic",
        "d.alerts",
        "--from-beginning",
        "--max",
        "3",
        "--format",
        "envelope",
    ]);
    assert!(out.status.success());
    let envs: Vec<EnvelopeJson> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(envs.len(), 3);
    for e in &envs {
        assert_eq!(e.topic, "d.alerts");
        assert_eq!(
            e.headers.get("record_type").cloned().flatten().as_deref(),
            Some("alert")
        );
        let v: serde_json::Value = serde_json::from_str(e.value.as_deref().unwrap()).unwrap();
        assert_eq!(e.key.as_deref(), v["symbol"].as_str());
        let ts: u64 = e.headers["feed_ts_ns"].as_deref().unwrap().parse().unwrap();
        assert_eq!(ts, 1_000 + v["i"].as_u64().unwrap());
    }
}

#[test]
fn drain_refuses_a_locked_or_missing_spool() {
    let spool = tempfile::tempdir().unwrap();
    let dir = spool.path().to_str().unwrap();
    let _held = KafkaSink::open(KafkaConfig::new("127.0.0.1:1", spool.path())).unwrap();
    let out = tickwatch(&["drain", "--brokers", "127.0.0.1:1", "--spool-dir", dir]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use by another process"));
    let out = tickwatch(&[
        "drain",
        "--brokers",
        "127.0.0.1:1",
        "--spool-dir",
        "/nonexistent/tw-spool",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}
