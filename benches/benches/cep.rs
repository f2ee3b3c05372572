//! CEP engine benchmark: throughput (events/s) and per-event latency with 100 and 1,000 active rules, and the cost
//! of in-stream scoring.
//!
//! Events: the book events of the third-party synthetic ITCH file `synthetic/itchbook-syn-1m-s11.itch.gz` (replayed
//! through `book::Books` before timing, then adapted with `cep::pipeline::from_book`), first 300,000 events over its
//! 500 symbols. That file's timestamps span only 0.3 ms, which would put the whole stream inside every window, so
//! they are re-stamped 20 µs apart (50,000 events/s, ~100 per symbol per second — a busy NASDAQ rate). Without the
//! shared data, a generated stream of the same length and rate (adds, cancels, deletes, executions over 200
//! symbols).
//!
//! Rules: N rules generated from five templates with different thresholds and windows — order-level add → cancel
//! (partition by order), a symbol-level add → opposite execution → delete sequence, an absence (an execution not
//! followed by another within the window, fired by a timer), a same-side layer loop (`times 3..` with `having`,
//! anchored with `not_preceded_by`), and a lookback-anchored burst of deletes (windows 50–420 ms). Two sets: `Selective`
//! (each rule restricted to one tenth of the symbols by `locate % 10` in its first and `not_preceded_by` steps, which
//! the engine indexes, as large rule sets are organised per
//! instrument group; the criterion groups and a latency pass) and `Dense` (every rule on every symbol, thresholds
//! keeping 5–50 % of the orders: a stress case with matches on most events; a latency pass over 30,000 events).
//!
//! Timed:
//! * `cep_cpu_time/throughput/{100,1000}_rules` (selective set): `Engine::on_event` over the first 50,000 events (1 s of feed
//!   time; one engine per rule count, built outside the timing, each pass one hour of feed time after the
//!   previous so that every window has expired and the pools' pages are resident after criterion's warm-up),
//!   `Throughput::Elements` = events, timed by the thread CPU clock (flat sampling: one pass over 1,000 rules takes
//!   seconds);
//! * `score/logistic_24` and `score/trees_60x3`: one `Model::score` on a 24-feature vector;
//! * `score/feature_table_update`: `FeatureTable::update` (the per-event feature upkeep when rules read features).
//!
//! The thread CPU clock (criterion `iter_custom` over `CLOCK_THREAD_CPUTIME_ID`) leaves out the time the thread
//! was not scheduled — the figure to trust on a shared 2-core machine. The scoring groups run with both clocks
//! (`score/…` wall, `score_cpu_time/…` CPU).
//!
//! Before criterion runs, a latency pass over the first 150,000 events (3 s of feed time; after an untimed warm-up
//! pass over the same events one hour of feed time earlier) times every `on_event`
//! call with `Instant` (≈ 20 ns of timer overhead included; wall clock, so preemption by other processes shows in
//! the tail) and prints p50 / p90 / p99 / p99.9 / max per rule count, the pass's wall and thread-CPU rates, matches
//! and live state.
//!
//! Run: `cargo bench -p benches --bench cep`.

use benches::thread_cpu;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use book::{BookEvent, Books, EventKind, Side, Symbol};
use criterion::{criterion_group, Criterion, SamplingMode, Throughput};
use detect::cep::features::{feature_names, FeatureTable, FEATURE_NAMES};
use detect::cep::{pipeline, CepEvent, CompileContext, Engine, EngineConfig, RuleSet};
use detect::score::train::{fit_logistic, fit_trees, Dataset, LogisticParams, TreeParams};
use detect::score::Model;

const EVENTS: usize = 300_000;
const HOUR: u64 = 3_600_000_000_000;
/// Events of the latency pass (3 s of feed time).
const LATENCY_EVENTS: usize = 150_000;
/// Events of the latency pass of the dense rule set (0.6 s of feed time, longer than every window).
const DENSE_LATENCY_EVENTS: usize = 30_000;
/// Events per criterion iteration (1 s of feed time).
const THROUGHPUT_EVENTS: usize = 50_000;

fn synthetic_book_events() -> Option<Vec<BookEvent>> {
    let path = feed::testdata::data_dir().join("synthetic/itchbook-syn-1m-s11.itch.gz");
    if !path.exists() {
        eprintln!(
            "cep bench: {} missing, using a generated stream",
            path.display()
        );
        return None;
    }
    let cap = feed::capture::Capture::open(&path).ok()?;
    let mut books = Books::default();
    let mut out = Vec::with_capacity(EVENTS);
    book::replay::replay(&cap, feed::capture::UdpFilter::default(), &mut books, |e| {
        if out.len() < EVENTS && e.book != 0 {
            let mut e = *e;
            e.ts_ns = 34_200_000_000_000 + out.len() as u64 * 20_000;
            out.push(e);
        }
    });
    Some(out)
}

fn generated_book_events() -> Vec<BookEvent> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut live: Vec<(u64, u16, Side, i64, u32)> = Vec::new();
    let mut out = Vec::with_capacity(EVENTS);
    let mut next_ref = 1;
    for i in 0..EVENTS as u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut e = BookEvent::EMPTY;
        e.ts_ns = 34_200_000_000_000 + i * 20_000;
        e.seq = i + 1;
        let r = x % 100;
        if r < 45 || live.len() < 100 {
            let loc = 1 + (x >> 8) as u16 % 200;
            let side = if (x >> 20) & 1 == 0 {
                Side::Buy
            } else {
                Side::Sell
            };
            let px = 1_000_000 + ((x >> 24) % 20) as i64 * 100;
            let qty = 100 * (1 + ((x >> 32) % 12) as u32);
            e.kind = EventKind::Add;
            e.order_ref = next_ref;
            next_ref += 1;
            e.book = loc;
            e.side = side;
            e.price = px;
            e.qty = qty;
            e.remaining = qty;
            live.push((e.order_ref, loc, side, px, qty));
        } else {
            let k = (x >> 40) as usize % live.len();
            let (oref, loc, side, px, qty) = live.swap_remove(k);
            e.kind = match r {
                45..=74 => EventKind::Delete,
                75..=84 => EventKind::Cancel,
                _ => EventKind::Execute,
            };
            e.order_ref = oref;
            e.book = loc;
            e.side = side;
            e.price = px;
            e.qty = qty;
        }
        e.symbol = Symbol::new(&format!("S{:03}", e.book));
        e.mpid = if (x >> 50) % 4 == 0 { *b"MMKR" } else { [0; 4] };
        e.bid_price = 999_900;
        e.bid_qty = 300;
        e.ask_price = 1_000_100;
        e.ask_qty = 300;
        out.push(e);
    }
    out
}

fn events() -> Vec<CepEvent> {
    let be = synthetic_book_events().unwrap_or_else(generated_book_events);
    be.iter().map(pipeline::from_book).collect()
}

/// The two rule sets of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Set {
    /// Every rule applies to every symbol, with thresholds that keep 5–50 % of the orders of its kinds: every
    /// add starts partial matches in hundreds of rules (a stress case: ~2 matches per event with 100 rules, ~23 with
    /// 1,000).
    Dense,
    /// The same templates, each rule restricted to one tenth of the symbols (`locate % 10`) — how a large rule set
    /// is usually organised (per instrument group): the engine's start-step index offers each event only to the
    /// rules of its symbol's group, and partial matches and matches are ~10× fewer.
    Selective,
}

/// `n` rules from five templates with varied thresholds and windows.
fn rules_text(n: usize, set: Set) -> String {
    let mut s = String::new();
    for i in 0..n {
        // Size thresholds from the stream's add sizes (p10 ≈ 200, p50 ≈ 1000, p90 ≈ 1800 shares): each rule keeps
        // between ~5 % and ~50 % of the orders of its kinds.
        let q = 1000 + 100 * (i % 10);
        let w = 50 + 37 * (i % 11); // window, ms
        let g = |x: &str| match set {
            Set::Dense => String::new(),
            Set::Selective => format!(" and {x}.locate % 10 == {}", (i / 5) % 10),
        };
        let rule = match i % 5 {
            0 => format!(
                "rule t{i} {{ partition by order_ref within {w}ms skip past_last_event pattern {{
                   a: add where a.qty >= {q}{}
                   followed_by d: delete | cancel }} }}\n",
                g("a")
            ),
            1 => format!(
                "rule t{i} {{ partition by symbol within {w}ms skip past_last_event pattern {{
                   a: add where a.qty >= {q}{}
                   followed_by e: execute | execute_with_price where e.side != a.side
                   followed_by c: delete where c.order_ref == a.order_ref }} }}\n",
                g("a")
            ),
            2 => format!(
                "rule t{i} {{ partition by symbol within {w}ms pattern {{
                   e: execute | execute_with_price where e.qty >= {q}{}
                   not_followed_by x: execute | execute_with_price }} }}\n",
                g("e")
            ),
            3 => format!(
                "rule t{i} {{ partition by symbol within {w}ms skip past_last_event pattern {{
                   not_preceded_by p: add where p.qty >= {q}{} within 50ms
                   a: add where a.qty >= {q}{} and (count(a) == 0 or a.side == first(a.side)) times 3..
                   followed_by e: execute | execute_with_price where e.side != a.side }}
                 having distinct(a.price) >= 3 }}\n",
                g("p"),
                g("a")
            ),
            _ => format!(
                "rule t{i} {{ partition by symbol within {w}ms skip past_last_event pattern {{
                   not_preceded_by p: delete where p.qty >= {q}{} within 20ms
                   d: delete where d.qty >= {q}{}
                   followed_by d2: delete where d2.side == d.side times 2 }} }}\n",
                g("p"),
                g("d")
            ),
        };
        s.push_str(&rule);
    }
    s
}

fn engine(n: usize, set: Set) -> Engine {
    let mut rs = RuleSet::new(CompileContext::new(Arc::new(pipeline::schema())));
    rs.add_str("bench.cep", &rules_text(n, set))
        .expect("bench rules compile");
    // Roomy pools: the benchmark measures matching, not dropping (the latency pass reports drops, expected 0).
    let cfg = EngineConfig {
        max_runs: 1 << 20,
        max_runs_per_key: 1 << 14,
        max_partitions: 1 << 19,
        max_keys: 1 << 19,
        max_nodes: 1 << 22,
        max_events: 1 << 20,
        max_lookback_keys: 1 << 16,
    };
    Engine::new(rs, cfg)
}

fn latency_report(evs: &[CepEvent], set: Set) {
    for n in [100usize, 1000] {
        let mut e = engine(n, set);
        // Warm-up pass: touches the pools' pages (a long-running engine has), then the timed pass one hour of
        // feed time later (every window of the warm-up has expired by its first event).
        for ev in evs {
            e.on_event(ev, &(), |m| {
                black_box(m.len());
            });
        }
        let mut lat: Vec<u32> = Vec::with_capacity(evs.len());
        let mut matches = 0u64;
        let c0 = thread_cpu();
        let t0 = Instant::now();
        for ev in evs {
            let mut ev = *ev;
            ev.ts_ns += HOUR;
            let t = Instant::now();
            e.on_event(&ev, &(), |m| {
                matches += 1;
                black_box(m.len());
            });
            lat.push(t.elapsed().as_nanos().min(u32::MAX as u128) as u32);
        }
        let wall = t0.elapsed();
        let cpu = thread_cpu() - c0;
        lat.sort_unstable();
        let p = |q: f64| lat[((lat.len() - 1) as f64 * q) as usize];
        let s = e.stats();
        println!(
            "cep latency {set:?} {n:>4} rules: {} events in {:.3} s wall ({:.0} events/s incl. timer), {:.3} s thread CPU \
             ({:.0} events/s), per event p50 {} ns  \
             p90 {} ns  p99 {} ns  p99.9 {} ns  max {} ns; matches {matches}; runs peak {}, dropped {}; \
             state {:.1} MB live / {:.1} MB reserved",
            evs.len(),
            wall.as_secs_f64(),
            evs.len() as f64 / wall.as_secs_f64(),
            cpu.as_secs_f64(),
            evs.len() as f64 / cpu.as_secs_f64(),
            p(0.5),
            p(0.9),
            p(0.99),
            p(0.999),
            lat[lat.len() - 1],
            s.runs_peak,
            s.dropped_key_cap + s.dropped_total_cap + s.dropped_pool + s.dropped_partition_cap,
            s.state_bytes as f64 / 1e6,
            s.reserved_bytes as f64 / 1e6,
        );
    }
}

fn bench_cep(c: &mut Criterion) {
    let evs = events();
    // Sanity before timing: the rule sets match something.
    for n in [100, 1000] {
        let mut e = engine(n, Set::Selective);
        let mut m = 0u64;
        for ev in &evs[..10_000] {
            e.on_event(ev, &(), |_| m += 1);
        }
        assert!(m > 0, "{n} rules: no match on the bench stream");
    }
    latency_report(&evs[..LATENCY_EVENTS], Set::Selective);
    latency_report(&evs[..DENSE_LATENCY_EVENTS], Set::Dense);
    // Criterion: the first THROUGHPUT_EVENTS events (1 s of feed time, twice the longest window: the engine
    // reaches its steady state of live partial matches well before the end).
    let evs = &evs[..THROUGHPUT_EVENTS];
    let mut g = c.benchmark_group("cep_cpu_time/throughput");
    g.throughput(Throughput::Elements(evs.len() as u64));
    g.sample_size(10);
    g.sampling_mode(SamplingMode::Flat);
    g.measurement_time(Duration::from_secs(20));
    for n in [100usize, 1000] {
        // One engine for every pass, each pass one hour of feed time after the previous one: after the first
        // (warm-up) pass the pools' pages are resident, as in a long-running engine.
        let mut e = engine(n, Set::Selective);
        let mut offset = 0u64;
        g.bench_function(format!("{n}_rules"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let mut m = 0u64;
                    let t0 = thread_cpu();
                    for ev in evs {
                        let mut ev = *ev;
                        ev.ts_ns += offset;
                        e.on_event(&ev, &(), |_| m += 1);
                    }
                    total += thread_cpu() - t0;
                    offset += HOUR;
                    black_box(m);
                }
                total
            })
        });
    }
    g.finish();
}

/// Runs `f` `iters` times and returns the thread CPU time spent.
fn cpu_time<T>(iters: u64, mut f: impl FnMut() -> T) -> Duration {
    let t0 = thread_cpu();
    for _ in 0..iters {
        black_box(f());
    }
    thread_cpu() - t0
}

fn bench_score(c: &mut Criterion) {
    // Models on all 24 features, trained on synthetic rows (the timing does not depend on the data).
    let names = feature_names();
    let mut ds = Dataset {
        names: names.clone(),
        ..Default::default()
    };
    let mut x = 1u64;
    for i in 0..4000 {
        let row: Vec<f64> = (0..FEATURE_NAMES.len())
            .map(|_| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (x >> 11) as f64 / (1u64 << 53) as f64
            })
            .collect();
        ds.y.push(if row[0] + row[5] > 1.0 { 1.0 } else { 0.0 });
        ds.x.push(row);
        ds.symbols.push(format!("S{}", i % 50));
        ds.spans.push((0, 0));
    }
    let lin = Model::new(
        fit_logistic(&ds, &LogisticParams::default(), "lin").unwrap(),
        "b",
        &names,
    )
    .unwrap();
    let gbt = Model::new(
        fit_trees(&ds, &TreeParams::default(), "gbt").unwrap(),
        "b",
        &names,
    )
    .unwrap();
    let probe: Vec<Vec<f64>> = ds.x[..256].to_vec();
    let mut g = c.benchmark_group("score");
    g.throughput(Throughput::Elements(probe.len() as u64));
    g.bench_function("logistic_24", |b| {
        b.iter(|| probe.iter().map(|r| lin.score(black_box(r))).sum::<f64>())
    });
    g.bench_function("trees_60x3", |b| {
        b.iter(|| probe.iter().map(|r| gbt.score(black_box(r))).sum::<f64>())
    });
    g.finish();
    let be = generated_book_events();
    let mut table = FeatureTable::new();
    for e in &be[..10_000] {
        table.update(e, None);
    }
    let mut g = c.benchmark_group("score");
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("feature_table_update", |b| {
        b.iter(|| {
            for e in &be[10_000..20_000] {
                table.update(black_box(e), None);
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("score_cpu_time");
    g.throughput(Throughput::Elements(probe.len() as u64));
    g.bench_function("logistic_24", |b| {
        b.iter_custom(|n| {
            cpu_time(n, || {
                probe.iter().map(|r| lin.score(black_box(r))).sum::<f64>()
            })
        })
    });
    g.bench_function("trees_60x3", |b| {
        b.iter_custom(|n| {
            cpu_time(n, || {
                probe.iter().map(|r| gbt.score(black_box(r))).sum::<f64>()
            })
        })
    });
    g.finish();
    let mut g = c.benchmark_group("score_cpu_time");
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("feature_table_update", |b| {
        b.iter_custom(|n| {
            cpu_time(n, || {
                for e in &be[10_000..20_000] {
                    table.update(black_box(e), None);
                }
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench_cep, bench_score);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
