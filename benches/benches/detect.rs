//! Detect benchmark: what the seven built-in detectors add to the decode + book pipeline, per message.
//!
//! Input: one `tickwatch gen` day (seed 3, 2 M background messages, 100 symbols, all episodes and decoys) written to
//! a temporary MoldUDP64 pcap and memory-mapped, as `tickwatch replay` reads it. Before timing, a sanity check
//! runs the whole pipeline once and requires alerts from every detector (so the detectors are really working on
//! this input) and prints the per-detector counts.
//!
//! * `pipeline_book_only`: `book::replay::replay` (pcap record walk, MoldUDP64 sequencing, ITCH decode,
//!   `Books::apply`) with every event folded into a checksum — the book-only pipeline;
//! * `pipeline_book_detect`: the same with `DetectorSet::on_event` (default configuration, all detectors) called on
//!   every event — the full pipeline (as `tickwatch replay` runs it: no sliding-feature reader, so the sliding
//!   feature windows are not kept; each message's detect state prefetched before the book applies it);
//! * `pipeline_book_detect_sliding`: the full pipeline with the sliding feature windows kept as well (what it
//!   costs when CEP rules read features);
//! * `detect_only`: the events recorded once into a `Vec<BookEvent>`; times `DetectorSet::on_event` alone.
//!
//! Each timed iteration starts from a fresh `Books` and a fresh `DetectorSet` whose symbols are reserved up front
//! (construction is outside the timing). `detect_cpu/*` measure the benchmark thread's own CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`), which stays meaningful on the shared 2-core machine; `detect/*` are wall time.
//! `Throughput::Elements` = messages, so criterion's time per element is ns per message.
//!
//! Run: `cargo bench -p benches --bench detect`.

use benches::thread_cpu_ns;
use std::hint::black_box;
use std::time::{Duration, Instant};

use book::replay::{replay, replay_to, ReplaySink};
use book::{BookEvent, Books, StoreConfig};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use detect::{Alert, DetectorSet};
use feed::analyze::FeedMessage;
use feed::capture::{Capture, UdpFilter};
use tools::gen::{generate_to_file, Format};

const SYMBOLS: u16 = 100;

#[inline(always)]
fn fold(acc: u64, ev: &BookEvent) -> u64 {
    acc.rotate_left(7) ^ u64::from(ev.level_qty) ^ (ev.bid_price as u64) ^ u64::from(ev.flags)
}

fn fresh_set(sliding: bool) -> DetectorSet {
    let mut set = DetectorSet::default();
    if sliding {
        set.keep_sliding_features();
    }
    for loc in 1..=SYMBOLS {
        set.reserve_symbol(loc, book::Symbol::EMPTY);
    }
    set
}

fn book_only(cap: &Capture, books: &mut Books) -> u64 {
    let mut acc = 0u64;
    replay(cap, UdpFilter::default(), books, |ev| acc = fold(acc, ev));
    acc
}

/// The full pipeline: every decoded message's detect state is prefetched before the book applies it (as the runtime's
/// fused layout does; its threaded layout prefetches the next event waiting in the detect thread's ring), then the
/// event goes to the detectors.
struct Full<'a> {
    set: &'a mut DetectorSet,
    acc: u64,
    alerts: u64,
}

impl ReplaySink for Full<'_> {
    #[inline(always)]
    fn message(&mut self, msg: &FeedMessage<'_>) {
        self.set.prefetch_message(msg);
    }

    #[inline(always)]
    fn event(&mut self, ev: &BookEvent) {
        self.acc = fold(self.acc, ev);
        let alerts = &mut self.alerts;
        self.set.on_event(ev, &mut |_: &Alert| *alerts += 1);
    }
}

fn book_detect(cap: &Capture, books: &mut Books, set: &mut DetectorSet) -> u64 {
    let mut full = Full {
        set,
        acc: 0,
        alerts: 0,
    };
    replay_to(cap, UdpFilter::default(), books, &mut full);
    let Full {
        set,
        acc,
        mut alerts,
    } = full;
    set.finish(&mut |_: &Alert| alerts += 1);
    acc ^ alerts
}

/// Times `iters` runs of `work` on fresh state; `cpu` selects thread CPU time (falls back to wall time).
fn timed(
    iters: u64,
    cpu: bool,
    sliding: bool,
    mut work: impl FnMut(&mut Books, &mut DetectorSet) -> u64,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let mut books = Books::new(StoreConfig::default());
        let mut set = fresh_set(sliding);
        let (c0, w0) = (thread_cpu_ns(), Instant::now());
        black_box(work(&mut books, &mut set));
        let wall = w0.elapsed();
        total += match (cpu, c0, thread_cpu_ns()) {
            (true, Some(a), Some(b)) => Duration::from_nanos(b - a),
            _ => wall,
        };
    }
    total
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("day.pcap");
    let cfg = benches::detect_bench_day();
    assert_eq!(cfg.symbols as u64, u64::from(SYMBOLS));
    let summary = generate_to_file(&cfg, &path, Format::Pcap).expect("gen");
    let cap = Capture::open(&path).expect("capture");

    // Sanity: the full pipeline finds every detector's episodes in this day.
    let mut books = Books::new(StoreConfig::default());
    let mut set = fresh_set(false);
    let mut events = Vec::with_capacity(summary.messages as usize);
    let mut per = std::collections::BTreeMap::<&str, u64>::new();
    let rs = replay(&cap, UdpFilter::default(), &mut books, |ev| {
        events.push(*ev);
        set.on_event(ev, &mut |a: &Alert| {
            *per.entry(a.detector.name()).or_default() += 1
        });
    });
    set.finish(&mut |a: &Alert| *per.entry(a.detector.name()).or_default() += 1);
    assert_eq!(per.len(), 7, "every detector fires on a gen day: {per:?}");
    let messages = rs.messages;
    eprintln!(
        "detect bench input: gen seed 3, {messages} messages, {} events, {} labels; alerts {per:?}; state {} KB",
        events.len(),
        summary.labels.len(),
        set.stats().state_bytes / 1024
    );

    for (group, cpu) in [("detect_cpu", true), ("detect", false)] {
        let mut g = c.benchmark_group(group);
        g.throughput(Throughput::Elements(messages));
        g.sample_size(10);
        g.measurement_time(Duration::from_secs(20));
        g.bench_function("pipeline_book_only", |b| {
            b.iter_custom(|iters| timed(iters, cpu, false, |books, _| book_only(&cap, books)))
        });
        g.bench_function("pipeline_book_detect", |b| {
            b.iter_custom(|iters| {
                timed(iters, cpu, false, |books, set| {
                    book_detect(&cap, books, set)
                })
            })
        });
        g.bench_function("pipeline_book_detect_sliding", |b| {
            b.iter_custom(|iters| {
                timed(iters, cpu, true, |books, set| book_detect(&cap, books, set))
            })
        });
        g.bench_function("detect_only", |b| {
            b.iter_custom(|iters| {
                timed(iters, cpu, false, |_, set| {
                    let mut alerts = 0u64;
                    for ev in &events {
                        set.on_event(ev, &mut |_: &Alert| alerts += 1);
                    }
                    alerts
                })
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
