//! Shared helpers for the tickwatch benchmarks: thread CPU clocks for timing on a shared machine, the detect
//! benches' generated day, replay session options and the book-only detector configuration.

/// CPU time consumed by the calling thread so far, in ns (`CLOCK_THREAD_CPUTIME_ID`, exact to the ns; the
/// `/proc/thread-self/schedstat` figure used before moved in 4 ms scheduler steps on this VM, ±1.3 % of a
/// criterion sample of the detect bench). The figure stays meaningful when the 2-core machine is shared (wall time
/// then includes waiting for a core). `Option` for the callers' sake: always `Some` on Linux.
pub fn thread_cpu_ns() -> Option<u64> {
    Some(thread_cpu().as_nanos() as u64)
}

/// CPU time (user + system) of the calling thread, from `CLOCK_THREAD_CPUTIME_ID` (no file read: cheap enough to
/// take around short passes).
pub fn thread_cpu() -> std::time::Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID is supported on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The detect benches' input: one `tickwatch gen` day, seed 3, 2 M background messages, 100 symbols (every
/// detector's episodes and decoys).
pub fn detect_bench_day() -> tools::gen::GenConfig {
    tools::gen::GenConfig {
        seed: 3,
        symbols: 100,
        messages: 2_000_000,
        ..tools::gen::GenConfig::default()
    }
}

/// A detector configuration with every built-in detector off (TOML): the book-only pipeline.
pub fn detectors_off_toml() -> String {
    detect::DetectorKind::ALL
        .map(|k| format!("[{}]\nenabled = false\n", k.name()))
        .concat()
}

/// The thread layout that runs receive, book and detect on one thread pinned to core 1 (unpinned, with a warning,
/// where it is missing): the whole pipeline's cost on one core.
pub fn fused_layout() -> tools::runtime::topology::Config {
    tools::runtime::topology::Config::parse(
        "[[threads]]\nname = \"all\"\nstages = [\"receive\", \"book\", \"detect\"]\ncore = 1\n\
         wait = \"spin-then-yield\"\n",
        "fused",
    )
    .expect("fused layout")
}

/// Options of a `tickwatch replay` session at full speed with thread layout `config`, the detector configuration
/// file `detectors` (`None`: the defaults) and alerts as JSON lines to `alerts` (no broker, no statistics, no
/// progress).
pub fn replay_options(
    config: tools::runtime::topology::Config,
    detectors: Option<&std::path::Path>,
    alerts: std::path::PathBuf,
) -> tools::runtime::session::SessionOptions {
    tools::runtime::session::SessionOptions {
        config,
        detectors: detectors.map(std::path::Path::to_path_buf),
        alerts_out: Some(alerts),
        snapshots_out: None,
        features_out: None,
        publish: tools::runtime::session::no_broker(),
        hist_out: None,
        stats: false,
        live: false,
        feed: tools::runtime::topology::FeedKind::Auto,
        analyzer: feed::analyze::AnalyzerConfig::default(),
        progress: false,
        total_bytes: None,
        metrics: None,
    }
}
