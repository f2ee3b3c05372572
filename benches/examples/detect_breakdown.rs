//! Per-detector cost breakdown of the detect stage on the detect bench's input (one `tickwatch gen` day: seed 3,
//! 2 M background messages, 100 symbols): thread CPU time per event of the single-threaded pipeline (pcap walk,
//! MoldUDP64, ITCH decode, `Books::apply`, then `DetectorSet::on_event`; each decoded message's detect state is
//! prefetched before the book applies it, as in `detect_cpu/pipeline_book_detect`) with
//!
//! * `book_only`: no detect stage;
//! * `all`: every detector (defaults; what `detect_cpu/pipeline_book_detect` times);
//! * `none`: the detect stage with every detector disabled (what remains: classification, the per-symbol touch and
//!   median, the aggressive-order tracking);
//! * `<detector>`: that detector alone.
//!
//! Each figure is the minimum over 7 runs (fresh books and detector set each; the set is built before the clock
//! starts, as in the criterion bench), which on a shared VM is steadier than a mean. Complements the criterion
//! bench (`cargo bench -p benches --bench detect`).
//!
//! `ratio` alternates `book_only` and `all` passes in one process (21 rounds) and prints both minima and the ratio
//! of the full pipeline to the book-only one: on a host whose load comes and goes, both figures of a round see the
//! same conditions, which makes the ratio steadier than figures taken minutes apart. `donly` times the detect stage
//! alone over the events recorded once (9 passes, minimum): no book work in between, so it moves less than the
//! pipeline figures and shows instruction-level changes the pipeline's cache misses hide.
//!
//! Environment: `DISABLE=a,b` turns those detectors off in `all` (and `ratio`, `donly`); `NOPF=1` turns the
//! prefetch off; `PCAP=file` uses another capture; `GROUP=N` (with `donly`) reorders the recorded events by symbol
//! within consecutive chunks of N events (stable: each symbol's events keep their order) before timing — a bound,
//! not a result: it shows what the stage costs when each symbol's own state is hot for a run of its events (not
//! layering's table of tracked orders, shared by all symbols; the alerts then differ, since cross-symbol order
//! changes).
//!
//! Comparing two builds: code placement alone moves the book-only figure by up to ~5 ns (benches/README, "Code
//! placement"); build both with `RUSTFLAGS="-C llvm-args=-align-loops=64 -C llvm-args=-align-all-functions=6"`
//! (in a target directory of their own: it reduces, not removes, that effect), alternate their `ratio` runs and
//! compare the full-pipeline figures over several pairs.
//!
//! `replay` does the same for the pipeline as `tickwatch replay` runs it (threads, rings, latency stamps, publish
//! thread): book-only (every detector off) alternated with all detectors, in the fused one-core layout and in the
//! default 2-core layout (see [`replay_ratio`]).
//!
//! Run: `cargo run --release -p benches --example detect_breakdown [NAME] [--once]`. `NAME` runs one figure only;
//! `--once` runs it once without timing (for `valgrind --tool=cachegrind`; `book` = book only). The generated day is
//! cached in the system temp directory (`tickwatch-detect-bench-seed3.pcap`, ~190 MB).

use benches::thread_cpu_ns;
use book::replay::replay;
use book::{Books, StoreConfig};
use detect::{Alert, DetectConfig, DetectorKind, DetectorSet};
use feed::capture::{Capture, UdpFilter};
use tools::gen::{generate_to_file, Format};

/// The detector configuration (TOML) that `DISABLE=a,b` asks for: those detectors off (`None` without it).
fn disabled_toml() -> Option<String> {
    std::env::var("DISABLE")
        .ok()
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.split(',')
                .map(|n| format!("[{n}]\nenabled = false\n"))
                .collect()
        })
}

/// Every detector disabled except `keep` (none when `keep` is `None`).
fn only(keep: Option<&str>) -> DetectConfig {
    let mut t = String::new();
    for n in DetectorKind::ALL
        .map(|k| k.name())
        .iter()
        .filter(|n| Some(**n) != keep)
    {
        t.push_str(&format!("[{n}]\nenabled = false\n"));
    }
    DetectConfig::from_toml_str(&t).expect("config")
}

fn fresh_set(cfg: &DetectConfig) -> DetectorSet {
    let mut set = DetectorSet::new(cfg);
    for loc in 1..=100u16 {
        set.reserve_symbol(loc, book::Symbol::EMPTY);
    }
    set
}

/// One pipeline pass; returns a checksum (alerts, or folded events for the book only).
/// The full pipeline's sink: each decoded message's detect state is prefetched before the book applies it, then
/// the event goes to the detectors (unless `prefetch` is off: `NOPF=1`).
struct Sink {
    set: DetectorSet,
    prefetch: bool,
    acc: u64,
}

impl book::replay::ReplaySink for Sink {
    #[inline(always)]
    fn message(&mut self, msg: &feed::analyze::FeedMessage<'_>) {
        if self.prefetch {
            self.set.prefetch_message(msg);
        }
    }

    #[inline(always)]
    fn event(&mut self, ev: &book::BookEvent) {
        let acc = &mut self.acc;
        self.set.on_event(ev, &mut |_: &Alert| *acc += 1);
    }
}

/// One pipeline pass on fresh books (and a fresh detector set, built before the clock starts, as the criterion
/// bench does: construction is not per message); returns a checksum (alerts, or folded events for the book only)
/// and the thread CPU time of the pass.
fn pass(cap: &Capture, cfg: Option<&DetectConfig>) -> (u64, u64) {
    let mut books = Books::new(StoreConfig::default());
    match cfg {
        None => {
            let mut acc = 0u64;
            let c0 = thread_cpu_ns().expect("thread CPU clock");
            replay(cap, UdpFilter::default(), &mut books, |ev| {
                acc = acc.rotate_left(7) ^ u64::from(ev.level_qty)
            });
            (acc, thread_cpu_ns().expect("thread CPU clock") - c0)
        }
        Some(cfg) => {
            let mut sink = Sink {
                set: fresh_set(cfg),
                prefetch: std::env::var_os("NOPF").is_none(),
                acc: 0,
            };
            let c0 = thread_cpu_ns().expect("thread CPU clock");
            book::replay::replay_to(cap, UdpFilter::default(), &mut books, &mut sink);
            let Sink {
                mut set, mut acc, ..
            } = sink;
            set.finish(&mut |_: &Alert| acc += 1);
            (acc, thread_cpu_ns().expect("thread CPU clock") - c0)
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let once = args.iter().any(|a| a == "--once");
    let name = args.iter().find(|a| !a.starts_with("--")).cloned();

    let path = std::env::temp_dir().join("tickwatch-detect-bench-seed3.pcap");
    if !path.exists() {
        generate_to_file(&benches::detect_bench_day(), &path, Format::Pcap).expect("gen");
    }
    let path = std::env::var_os("PCAP").map_or(path, std::path::PathBuf::from);
    let cap = Capture::open(&path).expect("capture");

    let mut figures: Vec<(String, Option<DetectConfig>)> = vec![
        ("book_only".into(), None),
        (
            "all".into(),
            Some(disabled_toml().map_or_else(DetectConfig::default, |t| {
                DetectConfig::from_toml_str(&t).expect("config")
            })),
        ),
        ("none".into(), Some(only(None))),
    ];
    for d in DetectorKind::ALL.map(|k| k.name()) {
        figures.push((d.into(), Some(only(Some(d)))));
    }
    if once {
        let name = name.as_deref().unwrap_or("all");
        let name = if name == "book" { "book_only" } else { name };
        let (_, cfg) = figures
            .iter()
            .find(|(n, _)| n == name)
            .expect("unknown figure");
        println!("{name}: {}", pass(&cap, cfg.as_ref()).0);
        return;
    }
    let mut events = 0u64;
    replay(
        &cap,
        UdpFilter::default(),
        &mut Books::new(StoreConfig::default()),
        |_| events += 1,
    );
    if name.as_deref() == Some("donly") {
        let mut evs = Vec::with_capacity(events as usize);
        replay(
            &cap,
            UdpFilter::default(),
            &mut Books::new(StoreConfig::default()),
            |e| evs.push(*e),
        );
        if let Some(g) = std::env::var("GROUP")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
        {
            for ch in evs.chunks_mut(g.max(1)) {
                ch.sort_by_key(|e| e.book);
            }
        }
        let cfg = figures[1].1.clone().expect("all");
        let mut best = u64::MAX;
        for _ in 0..9 {
            let mut set = fresh_set(&cfg);
            let mut n = 0u64;
            let c0 = thread_cpu_ns().unwrap();
            for e in &evs {
                set.on_event(e, &mut |_: &Alert| n += 1);
            }
            set.finish(&mut |_: &Alert| n += 1);
            best = best.min(thread_cpu_ns().unwrap() - c0);
            std::hint::black_box(n);
        }
        println!(
            "detect only {:.1} ns/event ({} alerts)",
            best as f64 / evs.len() as f64,
            fresh_alerts(&evs, &cfg)
        );
        return;
    }
    if name.as_deref() == Some("ratio") {
        ratio(&cap, events, &figures[1].1);
        return;
    }
    if name.as_deref() == Some("replay") {
        replay_ratio(&path);
        return;
    }
    for (n, cfg) in &figures {
        if name.as_ref().is_some_and(|x| x != n) {
            continue;
        }
        let mut best = u64::MAX;
        let mut check = 0;
        for _ in 0..7 {
            let (c, ns) = std::hint::black_box(pass(&cap, cfg.as_ref()));
            check = c;
            best = best.min(ns);
        }
        let per = best as f64 / events as f64;
        match cfg {
            Some(_) => println!("{n:20} {per:7.1} ns/event  (alerts {check})"),
            None => println!("{n:20} {per:7.1} ns/event"),
        }
    }
}

/// Alternates book-only and full passes; prints the minima, the ratio of the minima and the median of the
/// per-round ratios.
fn ratio(cap: &Capture, events: u64, all: &Option<DetectConfig>) {
    const ROUNDS: usize = 21;
    let time = |cfg: Option<&DetectConfig>| std::hint::black_box(pass(cap, cfg)).1;
    let (mut book, mut full, mut ratios) = (u64::MAX, u64::MAX, Vec::with_capacity(ROUNDS));
    for _ in 0..ROUNDS {
        let b = time(None);
        let f = time(all.as_ref());
        book = book.min(b);
        full = full.min(f);
        ratios.push(f as f64 / b as f64);
    }
    ratios.sort_by(f64::total_cmp);
    let per = |ns: u64| ns as f64 / events as f64;
    println!(
        "book_only {:.1} ns/event, all {:.1} ns/event (minima of {ROUNDS} alternated passes): all / book_only = {:.2} (median of the rounds' ratios {:.2}, range {:.2}-{:.2})",
        per(book),
        per(full),
        full as f64 / book as f64,
        ratios[ROUNDS / 2],
        ratios[0],
        ratios[ROUNDS - 1],
    );
}

/// `replay`: the pipeline as `tickwatch replay` runs it (`tools::runtime::session::run_session`: capture reader,
/// decode, sequencing, books, the detect stage, the publish thread writing alerts as JSON lines, per-stage latency
/// stamps), book-only (every detector off: the detect stage skips the detector set) alternated with all detectors
/// (`DISABLE` applies), in the fused one-thread layout (receive + book + detect on core 1: the pipeline's cost on
/// one core) and in the default 2-core layout. The figure is each session's own ns/msg (its wall clock over the
/// messages, as `tickwatch replay` prints it); minima of 21 alternated rounds and the median of the rounds' ratios.
fn replay_ratio(pcap: &std::path::Path) {
    use tools::runtime::pipeline::Shared;
    use tools::runtime::session::run_session;
    use tools::runtime::topology::Config;
    use tools::runtime::wiring::CaptureSource;
    const ROUNDS: usize = 21;
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p
    };
    let off = write("off.toml", benches::detectors_off_toml());
    let all = disabled_toml().map(|t| write("all.toml", t));
    let fused = benches::fused_layout();
    let caps = vec![Capture::open(pcap).expect("capture")];
    for (layout, config) in [("fused", fused), ("default", Config::default())] {
        let run = |detectors: Option<&std::path::Path>| {
            let opts =
                benches::replay_options(config.clone(), detectors, dir.path().join("alerts.jsonl"));
            let res = run_session(
                &opts,
                None,
                &mut CaptureSource::new(&caps, None),
                &Shared::default(),
            )
            .expect("replay");
            assert!(res.end.errors.is_empty(), "{:?}", res.end.errors);
            (
                res.wall.as_nanos() as f64 / res.messages() as f64,
                res.alerts(),
            )
        };
        let (mut book, mut full, mut ratios, mut alerts) =
            (f64::MAX, f64::MAX, Vec::with_capacity(ROUNDS), 0);
        for _ in 0..ROUNDS {
            let (b, none) = run(Some(&off));
            assert_eq!(none, 0, "book-only alerts");
            let (f, a) = run(all.as_deref());
            alerts = a;
            book = book.min(b);
            full = full.min(f);
            ratios.push(f / b);
        }
        ratios.sort_by(f64::total_cmp);
        println!(
            "replay {layout:7}: book_only {book:.1} ns/msg, all {full:.1} ns/msg ({alerts} alerts; minima of {ROUNDS} alternated runs): all / book_only = {:.2} (median of the rounds' ratios {:.2}, range {:.2}-{:.2})",
            full / book,
            ratios[ROUNDS / 2],
            ratios[0],
            ratios[ROUNDS - 1],
        );
    }
}

fn fresh_alerts(evs: &[book::BookEvent], cfg: &DetectConfig) -> u64 {
    let mut set = fresh_set(cfg);
    let mut n = 0u64;
    for e in evs {
        set.on_event(e, &mut |_: &Alert| n += 1);
    }
    n
}
