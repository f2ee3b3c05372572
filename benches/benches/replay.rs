//! Replay throughput with every stage on: capture reader → decode + sequence + L3 books → all built-in detectors →
//! publish thread (alerts as JSON lines to a file), the default 2-core topology, on the third-party synthetic ITCH
//! file (1,000,000 frames, 985,574 known messages) and the IEX DEEP capture (DEEP10, 392k messages).
//!
//! Each iteration is one whole `replay` (threads started and joined, output flushed); criterion reports time per
//! replay and messages/s (`Throughput::Elements` = messages decoded). The files are inflated once, before timing.
//!
//! `replay_detect`: what the detectors cost in the pipeline as `tickwatch replay` runs it — one `tickwatch gen`
//! day (seed 3, 2 M background messages, 100 symbols: the detect bench's input), replayed with every built-in
//! detector on (`all_detectors`) and with every detector off (`book_only`: the detect stage then skips the
//! detector set, see `DetectorSet::is_idle`), in two thread layouts: `fused` (receive, book and detect on one
//! pinned thread, so the figure is the whole pipeline's CPU cost on one core) and `default` (the 2-core layout:
//! feed + book on core 1, detect on core 0). The pipeline time is the session's own wall clock (what `tickwatch
//! replay` divides by the messages for its ns/msg), summed by `iter_custom`.

use std::path::PathBuf;
use std::time::Duration;

use benches::{detect_bench_day, detectors_off_toml, fused_layout, replay_options};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use feed::capture::Capture;
use tools::gen::{generate_to_file, Format};
use tools::runtime::pipeline::Shared;
use tools::runtime::session::run_session;
use tools::runtime::topology::Config;
use tools::runtime::wiring::CaptureSource;

fn data(rel: &str) -> Option<PathBuf> {
    feed::testdata::require(rel)
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
        let opts = replay_options(Config::default(), None, tmp.path().join("alerts.jsonl"));
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

fn replay_detect(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let day = tmp.path().join("day.pcap");
    generate_to_file(&detect_bench_day(), &day, Format::Pcap).expect("gen");
    let off = tmp.path().join("off.toml");
    std::fs::write(&off, detectors_off_toml()).unwrap();
    let caps = vec![Capture::open(&day).unwrap()];
    let mut g = c.benchmark_group("replay_detect");
    g.sample_size(10);
    for (layout, config) in [("fused", fused_layout()), ("default", Config::default())] {
        for (name, detectors) in [("book_only", Some(off.as_path())), ("all_detectors", None)] {
            let opts = replay_options(config.clone(), detectors, tmp.path().join("alerts.jsonl"));
            let shared = Shared::default();
            let res =
                run_session(&opts, None, &mut CaptureSource::new(&caps, None), &shared).unwrap();
            assert!(res.end.errors.is_empty(), "{:?}", res.end.errors);
            let msgs = res.messages();
            let alerts = res.alerts();
            // The day has every detector's episodes: all on must alert, all off must not.
            assert_eq!(alerts == 0, detectors.is_some(), "{name}: {alerts} alerts");
            eprintln!(
                "{}",
                res.summary(&format!("replay_detect {layout}/{name} (warm-up)"))
            );
            g.throughput(Throughput::Elements(msgs));
            g.bench_function(format!("{layout}/{name}"), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let shared = Shared::default();
                        let res =
                            run_session(&opts, None, &mut CaptureSource::new(&caps, None), &shared)
                                .unwrap();
                        assert_eq!(res.messages(), msgs);
                        total += res.wall;
                    }
                    total
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, replay, replay_detect);
criterion_main!(benches);
