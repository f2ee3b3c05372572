//! One run of the full pipeline with the real stages, shared by `replay`, `run` and `demo`: builds the topology,
//! the book shards, the detect stage and the publish thread, installs the signal handlers, runs, and collects
//! everything the commands report.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use book::Books;
use detect::cep::{CepConfig, CepStage};
use detect::DetectorSet;
use feed::analyze::AnalyzerConfig;
use feed::stats::FeedStats;
use publish::{JsonLinesSink, PublishArgs, RecordKind, Sink, StageBuilder, StageReport};

use super::affinity;
use super::clock::Clock;
use super::latency::{percentile_table, Metric};
use super::metrics::{MetricsServer, MetricsState};
use super::pipeline::{run, PipelineConfig, RunEnd, Shared, Source};
use super::pool::PacketPool;
use super::reporter::{human, run_reporter, ReporterOptions, ReporterOutput};
use super::ring::ring;
use super::topology::{Config, FeedKind, Stage};
use super::wiring::{Detect, FeedBook, PubItem, SnapRequest, SnapshotOut};

/// What a session needs besides the source.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Runtime configuration (topology, rings, clock).
    pub config: Config,
    /// Detector configuration file (TOML), else defaults.
    pub detectors: Option<PathBuf>,

    /// Alerts as JSON lines to this file (`-` or none: stdout, unless a broker is configured).
    pub alerts_out: Option<PathBuf>,
    /// Book snapshots as JSON lines to this file.
    pub snapshots_out: Option<PathBuf>,
    /// Feature records as JSON lines to this file.
    pub features_out: Option<PathBuf>,
    /// Publish options (Kafka).
    pub publish: PublishArgs,
    /// HdrHistogram interval log.
    pub hist_out: Option<PathBuf>,
    /// Compute the capture-analysis statistics (`--stats-out`).
    pub stats: bool,
    /// Live mode.
    pub live: bool,
    /// Forced feed protocol.
    pub feed: FeedKind,
    /// UDP filter for the analyzers.
    pub analyzer: AnalyzerConfig,
    /// Show the progress bar (replay).
    pub progress: bool,
    /// Total input bytes, for the progress bar.
    pub total_bytes: Option<u64>,
    /// Metrics endpoint address (live).
    pub metrics: Option<String>,
}

/// Everything a session produced.
#[derive(Debug)]
pub struct SessionResult {
    /// Book stages (one per shard), with their books and statistics.
    pub books: Vec<FeedBook>,
    /// The detect stage.
    pub detect: Detect,
    /// Pipeline thread errors.
    pub end: RunEnd,
    /// Merged histograms and final counters.
    pub report: ReporterOutput,
    /// Publish thread report.
    pub publish: StageReport,
    /// Wall time of the pipeline.
    pub wall: Duration,
    /// Clock used.
    pub clock: Clock,
    /// Thread layout.
    pub plan_text: String,
    /// Metrics endpoint address.
    pub metrics_addr: Option<std::net::SocketAddr>,
}

impl SessionResult {
    /// Messages decoded (primary shard).
    pub fn messages(&self) -> u64 {
        self.report
            .recorders
            .iter()
            .find(|(_, s, _)| *s == Stage::Book)
            .map_or(0, |(_, _, c)| c.messages)
    }

    /// Alerts emitted.
    pub fn alerts(&self) -> u64 {
        self.report.sum(Stage::Detect, |c| c.alerts)
    }

    /// The capture-analysis statistics of the input, with the time spent producing them.
    pub fn feed_stats(&mut self) -> Option<(FeedStats, Duration)> {
        self.books.first_mut().and_then(FeedBook::feed_stats)
    }

    /// The books of every shard.
    pub fn all_books(&self) -> Vec<&Books> {
        self.books.iter().map(FeedBook::books).collect()
    }

    /// A human summary: messages, ns/msg, alerts, drops, gaps, and the latency table.
    pub fn summary(&self, what: &str) -> String {
        use std::fmt::Write;
        let msgs = self.messages();
        let secs = self.wall.as_secs_f64();
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{what}: {} messages in {:.3} s: {:.1} ns/msg, {:.2} M msgs/s; {} book events, {} alerts",
            msgs,
            secs,
            if msgs > 0 { secs * 1e9 / msgs as f64 } else { 0.0 },
            if secs > 0.0 { msgs as f64 / secs / 1e6 } else { 0.0 },
            self.report.sum(Stage::Detect, |c| c.events),
            self.alerts(),
        );
        let r = &self.report;
        let dropped = r.sum(Stage::Receive, |c| c.dropped_packets);
        let primary = r
            .recorders
            .iter()
            .find(|(_, st, _)| *st == Stage::Book)
            .map(|(_, _, c)| *c)
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "transport: {} packets, {} bytes; sequence gaps {} ({} messages), duplicates {}; receive drops {} ({} \
             messages), truncated {}",
            r.sum(Stage::Receive, |c| c.packets),
            human(r.sum(Stage::Receive, |c| c.bytes)),
            primary.gaps,
            primary.gap_messages,
            primary.duplicates,
            dropped,
            r.sum(Stage::Receive, |c| c.dropped_messages),
            r.sum(Stage::Receive, |c| c.truncated),
        );
        let (snaps, snaps_dropped) = self
            .books
            .iter()
            .map(FeedBook::snapshot_counts)
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        if snaps + snaps_dropped + self.detect.features_sent + self.detect.features_dropped > 0 {
            let _ = writeln!(
                s,
                "published besides alerts: {snaps} snapshots ({snaps_dropped} dropped, {} requests dropped), {} \
                 feature records ({} dropped)",
                self.detect.requests_dropped,
                self.detect.features_sent,
                self.detect.features_dropped
            );
        }
        if let Some(cep) = self.detect.cep.as_ref() {
            let c = cep.stats();
            let _ = writeln!(
                s,
                "cep: {} matches ({} by timer); partial matches live {} (peak {}), dropped at caps {}; state {} bytes \
                 live / {} reserved; late events {}",
                c.matches,
                c.matches_by_timer,
                c.runs_live,
                c.runs_peak,
                c.dropped_key_cap
                    + c.dropped_total_cap
                    + c.dropped_pool
                    + c.dropped_partition_cap
                    + c.dropped_len_cap
                    + c.dropped_lookback,
                human(c.state_bytes),
                human(c.reserved_bytes),
                c.late_events,
            );
        }
        let rejected: u64 = self.books.iter().map(FeedBook::rejected_feed).sum();
        if rejected > 0 {
            let _ = writeln!(
                s,
                "ignored: {rejected} datagrams of another feed than --feed"
            );
        }
        let _ = writeln!(
            s,
            "threads: {}; clock {}{}",
            self.plan_text,
            self.clock.name(),
            self.clock
                .tsc_mhz()
                .map_or(String::new(), |m| format!(" ({m:.0} MHz)")),
        );
        let rows: Vec<(&str, &hdrhistogram::Histogram<u64>)> = r
            .totals
            .iter()
            .filter(|(m, h)| !h.is_empty() || *m == Metric::RxAlert)
            .map(|(m, h)| (m.label(), h))
            .collect();
        s.push_str(&percentile_table(rows));
        s
    }
}

/// Publish options with no broker (alerts as JSON lines) and the command-line defaults otherwise.
pub fn no_broker() -> PublishArgs {
    PublishArgs {
        brokers: None,
        topic_prefix: String::new(),
        kafka_config: Vec::new(),
        spool_dir: PathBuf::from("tickwatch-spool"),
        flush_timeout: Duration::from_secs(30),
        spool_fsync: publish::FsyncPolicy::default(),
    }
}

/// Installs SIGINT/SIGTERM handlers that set `stop` (a second signal exits at once, status 130).
pub fn install_signals(stop: &Arc<std::sync::atomic::AtomicBool>) -> anyhow::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    for sig in [SIGINT, SIGTERM] {
        // Exit right away if the flag is already set (second signal); otherwise set it.
        signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(stop))
            .context("signal handler")?;
        signal_hook::flag::register(sig, Arc::clone(stop)).context("signal handler")?;
    }
    Ok(())
}

/// Builds the detect stage from the detector config and the CEP configuration (no rules: no CEP stage).
pub fn build_detect(detectors: Option<&Path>, cep: &CepConfig) -> anyhow::Result<Detect> {
    let set = match detectors {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            DetectorSet::from_config(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?
        }
        None => DetectorSet::default(),
    };
    let cep = if cep.rules.is_empty() {
        None
    } else {
        Some(CepStage::load(cep).map_err(|e| anyhow::anyhow!("CEP: {e}"))?)
    };
    Ok(Detect::new(set, cep))
}

fn build_sink(opts: &SessionOptions) -> anyhow::Result<Box<dyn Sink>> {
    let broker = opts.publish.brokers.is_some();
    let mut jsonl: Option<JsonLinesSink> = None;
    let mut route =
        |kind: RecordKind, path: Option<&PathBuf>, stdout_default: bool| -> anyhow::Result<()> {
            let sink = jsonl.take().unwrap_or_default();
            jsonl = Some(match path {
                Some(p) if p.as_os_str() != "-" => sink
                    .with_file(&[kind], p)
                    .with_context(|| format!("opening {}", p.display()))?,
                Some(_) => sink.with_stdout(&[kind]),
                None if stdout_default => sink.with_stdout(&[kind]),
                None => sink,
            });
            Ok(())
        };
    route(RecordKind::Alert, opts.alerts_out.as_ref(), !broker)?;
    route(RecordKind::Snapshot, opts.snapshots_out.as_ref(), false)?;
    route(RecordKind::Feature, opts.features_out.as_ref(), false)?;
    let jsonl = if broker
        && opts.alerts_out.is_none()
        && opts.snapshots_out.is_none()
        && opts.features_out.is_none()
    {
        None
    } else {
        jsonl
    };
    opts.publish
        .build_sink(jsonl)
        .map_err(|e| anyhow::anyhow!("publish: {e}"))
}

/// Runs the pipeline over `source` with the real stages. `pool` is the live packet pool (`None` in replay).
pub fn run_session<S: Source>(
    opts: &SessionOptions,
    pool: Option<&PacketPool>,
    source: &mut S,
    shared: &Shared,
) -> anyhow::Result<SessionResult> {
    let cfg = &opts.config;
    let cores = affinity::available_cores();
    let plan = cfg.plan(cores)?;
    let (clock, warn) = Clock::new(cfg.clock);
    if let Some(w) = warn {
        eprintln!("tickwatch: warning: {w}");
    }
    let pcfg = PipelineConfig {
        plan: plan.clone(),
        rings: cfg.rings,
        clock,
        interval: Duration::from_millis(cfg.histogram_interval_ms.max(10)),
        max_ns: cfg.histogram_max_ns,
        live: opts.live,
        drop_after: Duration::from_micros(cfg.live.drop_after_us),
    };
    let shards = u16::from(plan.shards);
    let mut detect = build_detect(opts.detectors.as_deref(), &cfg.cep)?;
    let mut stage = StageBuilder::<PubItem>::new()
        .flush_timeout(opts.publish.flush_timeout)
        .thread_name("tw-publish");
    let mut sender = stage.input("detect", cfg.rings.alerts);

    // Snapshots and features only when something will receive them.
    let broker = opts.publish.brokers.is_some();
    let want_snapshots = broker || opts.snapshots_out.is_some();
    let want_features =
        (broker || opts.features_out.is_some()) && detect.set.config().features.tumbling_ms > 0;
    let pc = cfg.publish;
    let periodic_ns = pc.snapshot_interval_ms.saturating_mul(1_000_000);
    let on_alert = want_snapshots && pc.snapshot_on_alert;
    let mut request_txs = Vec::new();
    let mut books: Vec<FeedBook> = Vec::with_capacity(usize::from(shards));
    for i in 0..shards {
        let mut b = FeedBook::new(i, shards, opts.feed, opts.stats, opts.analyzer);
        if want_snapshots && (on_alert || periodic_ns > 0) {
            let requests = on_alert.then(|| {
                let (tx, rx) = ring::<SnapRequest>(1024, false);
                request_txs.push(tx);
                rx
            });
            let snd = stage.input(format!("book-{i}"), cfg.rings.alerts);
            b = b.with_snapshots(SnapshotOut::new(
                snd,
                requests,
                periodic_ns,
                pc.snapshot_depth,
                opts.live,
            ));
        }
        books.push(b);
    }
    if on_alert {
        detect = detect.with_snapshot_requests(request_txs);
    }
    if want_features {
        detect = detect.with_features(stage.input("features", cfg.rings.alerts), opts.live);
    }
    let handle = stage
        .spawn(build_sink(opts)?)
        .context("starting the publish thread")?;

    let metrics_state = opts
        .metrics
        .as_ref()
        .map(|_| Arc::new(MetricsState::default()));
    let server = match (&opts.metrics, &metrics_state) {
        (Some(addr), Some(state)) => match MetricsServer::start(addr, Arc::clone(state)) {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!(
                    "tickwatch: warning: metrics endpoint {addr}: {e}; continuing without it"
                );
                None
            }
        },
        _ => None,
    };
    let metrics_addr = server.as_ref().map(|s| s.addr);
    if let Some(a) = metrics_addr {
        eprintln!("tickwatch: metrics on http://{a}/metrics");
    }

    let ropts = ReporterOptions {
        hist_out: opts.hist_out.clone(),
        progress: opts.progress,
        total_bytes: opts.total_bytes,
        metrics: metrics_state,
        clock,
        t0: clock.now(),
        start: SystemTime::now(),
        max_ns: cfg.histogram_max_ns,
    };
    let t0 = Instant::now();
    let (end, report) = run(
        &pcfg,
        pool,
        source,
        &mut books,
        &mut detect,
        &mut sender,
        shared,
        |set| run_reporter(set, ropts, shared),
    );
    let wall = t0.elapsed();
    // Every publish input must be closed before the publish thread can finish (also after a stage panicked).
    drop(sender);
    detect.close_publish();
    for b in &mut books {
        b.close_publish();
    }
    let publish = handle
        .join()
        .map_err(|_| anyhow::anyhow!("the publish thread panicked"))?;
    drop(server);
    let report = report.ok_or_else(|| anyhow::anyhow!("the reporter thread panicked"))?;
    if let Some(e) = &report.error {
        eprintln!("tickwatch: warning: {e}");
    }
    Ok(SessionResult {
        books,
        detect,
        end,
        report,
        publish,
        wall,
        clock,
        plan_text: plan.describe(),
        metrics_addr,
    })
}

/// The `stats --json` document for `stats` (FeedStats plus `file`, `format`, `elapsed_ns`, `ns_per_msg`, `cpu_ns`,
/// `cpu_ns_per_msg`). `cpu_ns` is the CPU time the whole pipeline (every thread of the process) used for the
/// session, where `tickwatch stats` reports its single walking thread's.
pub fn stats_document(
    stats: &FeedStats,
    file: &str,
    format: &str,
    elapsed: Duration,
    cpu_ns: u64,
) -> anyhow::Result<String> {
    let mut v = serde_json::to_value(stats).context("serialising stats")?;
    let elapsed_ns = elapsed.as_nanos() as u64;
    let per_msg = |ns: u64| {
        let x = if stats.messages > 0 {
            ns as f64 / stats.messages as f64
        } else {
            0.0
        };
        serde_json::Number::from_f64((x * 100.0).round() / 100.0)
            .map_or(serde_json::Value::Null, Into::into)
    };
    if let Some(obj) = v.as_object_mut() {
        obj.insert("file".into(), file.into());
        obj.insert("format".into(), format.into());
        obj.insert("elapsed_ns".into(), elapsed_ns.into());
        obj.insert("ns_per_msg".into(), per_msg(elapsed_ns));
        obj.insert("cpu_ns".into(), cpu_ns.into());
        obj.insert("cpu_ns_per_msg".into(), per_msg(cpu_ns));
    }
    Ok(format!("{v}\n"))
}
