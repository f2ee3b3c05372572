//! Replay throughput with every stage on: capture reader → decode + sequence + L3 books → all built-in detectors →
//! publish thread (alerts as JSON lines to a file), the default 2-core topology, on the third-party synthetic ITCH
//! file (1,000,000 frames, 985,574 known messages) and the IEX DEEP capture (DEEP10, 392k messages).
//!
//! Each iteration is one whole `replay` (threads started and joined, output flushed); criterion reports time per
//! replay and messages/s (`Throughput::Elements` = messages decoded). The files are inflated once, before timing.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use feed::analyze::AnalyzerConfig;
use feed::capture::Capture;
use tools::runtime::pipeline::Shared;
use tools::runtime::session::{no_broker, run_session, SessionOptions};
use tools::runtime::topology::{Config, FeedKind};
use tools::runtime::wiring::CaptureSource;

fn data(rel: &str) -> Option<PathBuf> {
    feed::testdata::require(rel)
}

fn options(alerts: PathBuf) -> SessionOptions {
    SessionOptions {
        config: Config::default(),
        detectors: None,
        alerts_out: Some(alerts),
        snapshots_out: None,
        features_out: None,
        publish: no_broker(),
        hist_out: None,
        stats: false,
        live: false,
        feed: FeedKind::Auto,
        analyzer: AnalyzerConfig::default(),
        progress: false,
        total_bytes: None,
        metrics: None,
    }
}

fn replay(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("replay");
    g.sample_size(10);
    for rel in [
        "synthetic/itchbook-syn-1m-s11.itch.gz",
        "iex/DEEP10.pcap.gz",
    ] {
        let Some(path) = data(rel) else { continue };
        let caps = vec![Capture::open(&path).unwrap()];
        let opts = options(tmp.path().join("alerts.jsonl"));
        // Sanity before timing: every message decoded, nothing lost.
        let shared = Shared::default();
        let res = run_session(&opts, None, &mut CaptureSource::new(&caps, None), &shared).unwrap();
        assert!(res.end.errors.is_empty(), "{:?}", res.end.errors);
        let msgs = res.messages();
        assert!(msgs > 300_000, "{rel}: only {msgs} messages");
        eprintln!("{}", res.summary(&format!("replay {rel} (warm-up)")));
        g.throughput(Throughput::Elements(msgs));
        g.bench_function(rel, |b| {
            b.iter(|| {
                let shared = Shared::default();
                let res = run_session(&opts, None, &mut CaptureSource::new(&caps, None), &shared)
                    .unwrap();
                assert_eq!(res.messages(), msgs);
                res.wall
            })
        });
    }
    g.finish();
}

criterion_group!(benches, replay);
criterion_main!(benches);
