//! Book benchmark: decode + apply of the third-party synthetic stress file `synthetic/itchbook-syn-1m-s11.itch.gz`
//! (985,574 known ITCH messages over 500 symbols; deep, often crossed books; ~1.5% references to unknown orders).
//!
//! The file is inflated and memory-mapped through `feed::capture::Capture` (as `tickwatch book` reads it). Before
//! timing, a sanity check replays it once and compares the final BBO of every symbol with the independent C++
//! book's CSV (`synthetic/itchbook-syn-1m-s11.bbo.csv`). Each timed iteration starts from a fresh
//! `book::Books` (default configuration) and replays the whole file; `Throughput::Elements` = 985,574 messages, so
//! criterion's time per element is ns per message.
//! * `book/decode_apply`: walk the length prefixes, `itch::decode`, `Books::apply_itch` (the event is folded into a
//!   checksum so it cannot be optimised away);
//! * `book/apply_predecoded`: the messages decoded into a `Vec` before timing; times `Books::apply_itch` alone;
//! * `book/replay`: `book::replay::replay`, the `tickwatch book` path (`feed::analyze::Analyzer` with stats and
//!   sequencing, then apply).
//! * `book_cpu/decode_apply`, `book_cpu/apply_predecoded`: the same work timed in the benchmark thread's own CPU
//!   time (`CLOCK_THREAD_CPUTIME_ID`, ns), which stays meaningful when the 2-core machine is shared with other
//!   jobs (wall time then includes time spent waiting for a core). Creating the `Books` is outside the timing.
//!
//! Run: `cargo bench -p benches --bench book`. Needs the shared data (`TICKWATCH_DATA`, default `../shared/data`);
//! prints SKIPPED without it.

use benches::thread_cpu_ns;
use std::hint::black_box;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use book::{BookEvent, Books, FmtPrice, StoreConfig};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use feed::capture::{Capture, RawMessages};
use feed::itch;

const KNOWN: u64 = 985_574;

#[inline(always)]
fn fold(acc: u64, ev: &BookEvent) -> u64 {
    acc.rotate_left(7) ^ u64::from(ev.level_qty) ^ (ev.bid_price as u64) ^ u64::from(ev.flags)
}

fn decode_apply(bytes: &[u8], books: &mut Books) -> (u64, u64) {
    let mut acc = 0u64;
    let mut n = 0u64;
    let mut ev = BookEvent::EMPTY;
    for (seq, (_, m)) in RawMessages::new(bytes).enumerate() {
        if let Ok(msg) = itch::decode(m) {
            n += 1;
            if books.apply_itch_into(&msg, seq as u64 + 1, &mut ev) {
                acc = fold(acc, &ev);
            }
        }
    }
    (n, acc)
}

fn load() -> Option<(tempfile::NamedTempFile, Capture)> {
    let path = feed::testdata::require("synthetic/itchbook-syn-1m-s11.itch.gz")?;
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&path).ok()?)
        .read_to_end(&mut raw)
        .ok()?;
    let mut tmp = tempfile::NamedTempFile::new().ok()?;
    tmp.write_all(&raw).ok()?;
    tmp.flush().ok()?;
    let cap = Capture::open(tmp.path()).ok()?;
    Some((tmp, cap))
}

/// Sanity: the decode+apply loop builds the books the independent C++ book printed.
fn sanity(bytes: &[u8]) {
    let mut books = Books::new(StoreConfig::default());
    let (n, _) = decode_apply(bytes, &mut books);
    assert_eq!(n, KNOWN);
    assert_eq!(books.integrity().unknown_order, 14_881);
    if let Some(oracle) = feed::testdata::require("synthetic/itchbook-syn-1m-s11.bbo.csv") {
        let text = std::fs::read_to_string(oracle).expect("oracle csv");
        for line in text.lines().skip(1) {
            let loc: u16 = line.split(',').next().unwrap().parse().unwrap();
            let t = books.bbo(loc);
            let side = |l: Option<book::LevelInfo>| {
                l.map_or((String::new(), 0), |l| {
                    (FmtPrice(l.price).to_string(), l.qty)
                })
            };
            let ((bp, bq), (ap, aq)) = (side(t.bid), side(t.ask));
            assert_eq!(
                format!("{loc},{},{bp},{bq},{ap},{aq}", books.symbol(loc)),
                line
            );
        }
    }
}

/// Runs `work` on a fresh `Books` `iters` times; returns the thread CPU time of the `work` calls only (wall time if
/// CPU time is unavailable).
fn cpu_time(iters: u64, mut work: impl FnMut(&mut Books)) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let mut books = Books::new(StoreConfig::default());
        let (t0, w0) = (thread_cpu_ns(), Instant::now());
        work(&mut books);
        total += match (t0, thread_cpu_ns()) {
            (Some(a), Some(b)) => Duration::from_nanos(b.saturating_sub(a)),
            _ => w0.elapsed(),
        };
    }
    total
}

fn apply_predecoded(decoded: &[itch::Message<'_>], books: &mut Books) -> u64 {
    let mut acc = 0u64;
    let mut ev = BookEvent::EMPTY;
    for (i, m) in decoded.iter().enumerate() {
        if books.apply_itch_into(m, i as u64 + 1, &mut ev) {
            acc = fold(acc, &ev);
        }
    }
    acc
}

fn bench(c: &mut Criterion) {
    let Some((_tmp, cap)) = load() else {
        eprintln!("SKIPPED: book bench needs the shared data");
        return;
    };
    let bytes = cap.bytes();
    sanity(bytes);
    let decoded: Vec<itch::Message<'_>> = RawMessages::new(bytes)
        .filter_map(|(_, m)| itch::decode(m).ok())
        .collect();

    let mut g = c.benchmark_group("book");
    g.throughput(Throughput::Elements(KNOWN));
    g.sample_size(20);
    g.bench_function("decode_apply", |b| {
        b.iter_batched_ref(
            || Books::new(StoreConfig::default()),
            |books| black_box(decode_apply(bytes, books)),
            BatchSize::PerIteration,
        )
    });
    g.bench_function("apply_predecoded", |b| {
        b.iter_batched_ref(
            || Books::new(StoreConfig::default()),
            |books| black_box(apply_predecoded(&decoded, books)),
            BatchSize::PerIteration,
        )
    });
    g.bench_function("replay", |b| {
        b.iter_batched_ref(
            || Books::new(StoreConfig::default()),
            |books| {
                let mut acc = 0u64;
                let s =
                    book::replay::replay(&cap, Default::default(), books, |ev| acc = fold(acc, ev));
                black_box((s.messages, acc))
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();

    let mut g = c.benchmark_group("book_cpu");
    g.throughput(Throughput::Elements(KNOWN));
    g.sample_size(20);
    g.bench_function("decode_apply", |b| {
        b.iter_custom(|iters| {
            cpu_time(iters, |books| {
                black_box(decode_apply(bytes, books));
            })
        })
    });
    g.bench_function("apply_predecoded", |b| {
        b.iter_custom(|iters| {
            cpu_time(iters, |books| {
                black_box(apply_predecoded(&decoded, books));
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
