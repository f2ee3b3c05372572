//! `tickwatch replay CAPTURE... [--speed X] [--stats-out FILE] [--hist-out FILE] [--alerts-out FILE]
//! [--detectors FILE] [--rules FILE] [--config FILE]` + publish flags: the full pipeline over captures.
//!
//! Captures (pcap, pcapng, raw ITCH; `.gz` inflated) are read in order, as one stream, at full speed (default) or
//! paced by their capture timestamps × `--speed`. Replay is lossless (a full ring blocks the reader) and
//! deterministic: the same input gives byte-identical alerts. At the end a summary goes to stderr: messages,
//! ns/msg, per-stage latency percentiles.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use feed::analyze::AnalyzerConfig;
use feed::capture::{Capture, Format, UdpFilter};
use publish::PublishArgs;

use crate::runtime::pipeline::Shared;
use crate::runtime::session::{
    install_signals, run_session, stats_document, SessionOptions, SessionResult,
};
use crate::runtime::topology::{Config, FeedKind};
use crate::runtime::wait::WaitStrategy;
use crate::runtime::wiring::CaptureSource;

/// Replay speed: `max` or a factor of the recorded pacing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// As fast as possible.
    Max,
    /// Capture-time pacing × factor (2 = twice as fast).
    Factor(f64),
}

impl std::str::FromStr for Speed {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("max") {
            return Ok(Speed::Max);
        }
        match s.trim_end_matches(['x', 'X']).parse::<f64>() {
            Ok(f) if f.is_finite() && f > 0.0 => Ok(Speed::Factor(f)),
            _ => Err(format!(
                "speed {s:?}: expected `max` or a positive factor such as 1, 10 or 0.5"
            )),
        }
    }
}

impl Speed {
    /// The factor, `None` for max.
    pub fn factor(self) -> Option<f64> {
        match self {
            Speed::Max => None,
            Speed::Factor(f) => Some(f),
        }
    }
}

/// Options shared by `replay` and `run`.
#[derive(Debug, Clone, clap::Args)]
pub struct PipelineArgs {
    /// Runtime configuration (TOML: threads, cores, wait strategies, rings, shards; see
    /// tools/src/runtime/example.toml). Flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Write the statistics of the input (the `tickwatch stats --json` document) to FILE at the end.
    #[arg(long, value_name = "FILE")]
    pub stats_out: Option<PathBuf>,
    /// Write HdrHistogram interval logs (one histogram per stage and interval) to FILE; read them with
    /// `tickwatch report`.
    #[arg(long, value_name = "FILE")]
    pub hist_out: Option<PathBuf>,
    /// Alerts as JSON lines to FILE (`-` = stdout, the default when no broker is configured).
    #[arg(long, value_name = "FILE")]
    pub alerts_out: Option<PathBuf>,
    /// Book snapshots (periodic and with each alert; see `[publish]` in the config) as JSON lines to FILE.
    #[arg(long, value_name = "FILE")]
    pub snapshots_out: Option<PathBuf>,
    /// Tumbling-window feature records (detector config `[features] tumbling_ms`) as JSON lines to FILE.
    #[arg(long, value_name = "FILE")]
    pub features_out: Option<PathBuf>,
    /// Periodic per-symbol snapshots every MS milliseconds of feed time (overrides the config; 0 = off).
    #[arg(long, value_name = "MS")]
    pub snapshot_interval_ms: Option<u64>,
    /// Levels per side in snapshots (1..=10; overrides the config).
    #[arg(long, value_name = "N")]
    pub snapshot_depth: Option<u16>,
    /// Detector configuration (TOML) overriding the defaults.
    #[arg(long, value_name = "FILE")]
    pub detectors: Option<PathBuf>,
    /// CEP rule file (repeatable; adds to the config's `[cep] rules`).
    #[arg(long = "rules", value_name = "FILE")]
    pub rules: Vec<PathBuf>,
    /// Reference-data CSV for CEP rules (`ref.COLUMN`).
    #[arg(long, value_name = "FILE")]
    pub ref_data: Option<PathBuf>,
    /// Scoring model for CEP rules (repeatable; the first is the default model).
    #[arg(long = "model", value_name = "FILE")]
    pub models: Vec<PathBuf>,
    /// Write every price level of every book at the end (`symbol,side,price,shares,orders`, as `tickwatch book`).
    #[arg(long, value_name = "FILE")]
    pub levels_csv: Option<PathBuf>,
    /// Write the final BBO of every book at the end (`stock_locate,symbol,bid_price,bid_shares,ask_price,ask_shares`).
    #[arg(long, value_name = "FILE")]
    pub bbo_csv: Option<PathBuf>,
    /// Number of book shards (overrides the config).
    #[arg(long, value_name = "N")]
    pub shards: Option<u8>,
    /// Wait strategy of every pipeline thread: busy-spin, spin-then-yield or park (overrides the config).
    #[arg(long, value_name = "STRATEGY", value_parser = parse_wait)]
    pub wait: Option<WaitStrategy>,
    /// Do not print the summary on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// Publish options (Kafka); without --brokers alerts go to JSON lines.
    #[command(flatten)]
    pub publish: PublishArgs,
}

fn parse_wait(s: &str) -> Result<WaitStrategy, String> {
    WaitStrategy::parse_short(s)
        .ok_or_else(|| format!("{s:?}: expected busy-spin, spin-then-yield or park"))
}

impl PipelineArgs {
    /// The configuration file (or defaults) with the flags applied.
    pub fn load_config(&self) -> anyhow::Result<Config> {
        let mut cfg = match &self.config {
            Some(p) => Config::load(p)?,
            None => Config::default(),
        };
        if let Some(n) = self.shards {
            cfg.book_shards = n;
        }
        if let Some(ms) = self.snapshot_interval_ms {
            cfg.publish.snapshot_interval_ms = ms;
        }
        if let Some(d) = self.snapshot_depth {
            cfg.publish.snapshot_depth = d;
        }
        cfg.cep.rules.extend(self.rules.iter().cloned());
        cfg.cep.models.extend(self.models.iter().cloned());
        if self.ref_data.is_some() {
            cfg.cep.ref_data = self.ref_data.clone();
        }
        if let Some(w) = self.wait {
            if cfg.threads.is_empty() {
                cfg.threads = crate::runtime::topology::default_threads(
                    crate::runtime::affinity::available_cores(),
                );
            }
            for t in &mut cfg.threads {
                t.wait = w;
            }
        }
        Ok(cfg)
    }

    /// Session options common to replay and run.
    pub fn session(
        &self,
        config: Config,
        live: bool,
        feed: FeedKind,
        analyzer: AnalyzerConfig,
    ) -> SessionOptions {
        SessionOptions {
            config,
            detectors: self.detectors.clone(),
            alerts_out: self.alerts_out.clone(),
            snapshots_out: self.snapshots_out.clone(),
            features_out: self.features_out.clone(),
            publish: self.publish.clone(),
            hist_out: self.hist_out.clone(),
            stats: self.stats_out.is_some(),
            live,
            feed,
            analyzer,
            progress: false,
            total_bytes: None,
            metrics: None,
        }
    }

    /// Writes `--levels-csv` / `--bbo-csv` from the final books.
    pub fn write_books(&self, res: &SessionResult) -> anyhow::Result<()> {
        let books = res.all_books();
        if let Some(p) = &self.levels_csv {
            std::fs::write(p, crate::runtime::books_csv::levels_csv(&books))
                .with_context(|| format!("writing {}", p.display()))?;
        }
        if let Some(p) = &self.bbo_csv {
            std::fs::write(p, crate::runtime::books_csv::bbo_csv(&books))
                .with_context(|| format!("writing {}", p.display()))?;
        }
        Ok(())
    }

    /// Prints the summary and errors; returns the exit code.
    pub fn finish(&self, res: &SessionResult, what: &str) -> ExitCode {
        if !self.quiet {
            eprint!("{}", res.summary(what));
        }
        let mut ok = true;
        for e in &res.end.errors {
            eprintln!("tickwatch: error: {e}");
            ok = false;
        }
        let p = &res.publish;
        if p.encode_errors > 0 || p.discarded > 0 || p.sink_error.is_some() {
            eprintln!("tickwatch: error: publish: {p}");
            ok = false;
        } else if let Some(s) = &p.sink {
            if !s.is_complete() {
                eprintln!("tickwatch: warning: publish: {s}");
            }
        }
        if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    }
}

/// Arguments of `tickwatch replay`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Capture files (pcap, pcapng, raw ITCH 5.0; gzip inflated), replayed in order as one stream.
    #[arg(required = true, value_name = "CAPTURE")]
    pub captures: Vec<PathBuf>,
    /// `max` (default) or a factor applied to the capture's own pacing (1 = real time, 10 = ten times faster).
    #[arg(long, default_value = "max")]
    pub speed: Speed,
    /// Force the capture format instead of detecting it.
    #[arg(long, value_name = "pcap|pcapng|raw-itch")]
    pub format: Option<Format>,
    /// Only UDP datagrams to this destination port.
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Only UDP datagrams to this destination address (multicast group).
    #[arg(long, value_name = "ADDR")]
    pub group: Option<Ipv4Addr>,
    /// Pipeline options.
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

/// Runs `tickwatch replay`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cfg = args.pipeline.load_config()?;
    let caps: Vec<Capture> = args
        .captures
        .iter()
        .map(|p| Capture::open_as(p, args.format).map_err(anyhow::Error::from))
        .collect::<anyhow::Result<_>>()?;
    if args.speed != Speed::Max && caps.iter().any(|c| c.format() == Format::RawItch) {
        eprintln!("tickwatch: warning: raw ITCH files carry no capture timestamps; they are replayed at full speed");
    }
    let analyzer = AnalyzerConfig {
        filter: UdpFilter {
            dst_port: args.port,
            dst_addr: args.group,
        },
        ..AnalyzerConfig::default()
    };
    let mut opts = args.pipeline.session(cfg, false, FeedKind::Auto, analyzer);
    opts.progress = !args.pipeline.quiet;
    opts.total_bytes = Some(caps.iter().map(|c| c.bytes().len() as u64).sum());
    let shared = Shared::default();
    install_signals(&shared.stop)?;
    let mut source = CaptureSource::new(&caps, args.speed.factor());
    let cpu0 = crate::runtime::clock::process_cpu_ns();
    let mut res = run_session(&opts, None, &mut source, &shared)?;
    let cpu_ns = cpu0
        .zip(crate::runtime::clock::process_cpu_ns())
        .map_or(0, |(a, b)| b.saturating_sub(a));
    if let Some(path) = &args.pipeline.stats_out {
        let (stats, elapsed) = res
            .feed_stats()
            .ok_or_else(|| anyhow::anyhow!("statistics were not collected"))?;
        let file = caps
            .iter()
            .map(|c| c.path().display().to_string())
            .collect::<Vec<_>>()
            .join(",");
        let mut formats: Vec<String> = caps.iter().map(|c| c.format().to_string()).collect();
        formats.dedup();
        std::fs::write(
            path,
            stats_document(&stats, &file, &formats.join(","), elapsed, cpu_ns)?,
        )
        .with_context(|| format!("writing {}", path.display()))?;
    }
    args.pipeline.write_books(&res)?;
    let what = if shared.stopping() {
        "replay (interrupted)"
    } else {
        "replay"
    };
    Ok(args.pipeline.finish(&res, what))
}
