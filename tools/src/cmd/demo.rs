//! `tickwatch demo`: the main job on an embedded default, with nothing to download. Generates a small labelled
//! synthetic ITCH 5.0 day (`tickwatch gen`: MoldUDP64 pcap plus LABELS.jsonl) in a temporary directory, replays it
//! through the full pipeline (books, every detector, publish thread), prints the alerts as JSON lines on stdout and,
//! on stderr, the run summary (messages, ns/msg, per-stage latency percentiles) and the detectors' precision and
//! recall against the generator's labels.
//!
//! `--dir DIR` keeps the capture, labels, alerts and latency log (`tickwatch report DIR/latency.hlog` plots it).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use feed::analyze::AnalyzerConfig;
use feed::capture::Capture;

use crate::gen::{generate_to_file, write_labels, Format as GenFormat, GenConfig};
use crate::runtime::pipeline::Shared;
use crate::runtime::session::{install_signals, no_broker, run_session, SessionOptions};
use crate::runtime::topology::{Config, FeedKind};
use crate::runtime::wiring::CaptureSource;

/// Arguments of `tickwatch demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Generator seed.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Symbols in the generated day.
    #[arg(long, default_value_t = 40)]
    pub symbols: u16,
    /// Approximate background messages over the session.
    #[arg(long, default_value_t = 400_000)]
    pub messages: u64,
    /// Labelled episodes per detector.
    #[arg(long, default_value_t = 3)]
    pub episodes: usize,
    /// Near-miss decoys per detector.
    #[arg(long, default_value_t = 3)]
    pub decoys: usize,
    /// Keep the generated files, alerts and latency log in DIR (default: a temporary directory, removed).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Runtime configuration (TOML).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Do not print the alerts on stdout (the summary still goes to stderr).
    #[arg(long)]
    pub no_alerts: bool,
}

/// Runs `tickwatch demo`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let tmp;
    let dir = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            d.clone()
        }
        None => {
            tmp = tempfile_dir()?;
            tmp.path().to_path_buf()
        }
    };
    let cap_path = dir.join("demo.pcap");
    let gen_cfg = GenConfig {
        seed: args.seed,
        symbols: args.symbols,
        messages: args.messages,
        episodes: args.episodes,
        decoys: args.decoys,
        ..GenConfig::default()
    };
    let t0 = std::time::Instant::now();
    let summary = generate_to_file(&gen_cfg, &cap_path, GenFormat::Pcap)
        .with_context(|| format!("generating {}", cap_path.display()))?;
    let labels = dir.join("LABELS.jsonl");
    let decoys = dir.join("DECOYS.jsonl");
    write_labels(&labels, &summary.labels).context("writing LABELS.jsonl")?;
    write_labels(&decoys, &summary.decoys).context("writing DECOYS.jsonl")?;
    eprintln!(
        "demo: generated {} messages in {} MoldUDP64 packets ({} labelled episodes, {} decoys) in {:.2} s -> {}",
        summary.messages,
        summary.packets,
        summary.labels.len(),
        summary.decoys.len(),
        t0.elapsed().as_secs_f64(),
        cap_path.display()
    );

    let config = match &args.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    let alerts = dir.join("alerts.jsonl");
    let hist = dir.join("latency.hlog");
    let opts = SessionOptions {
        config,
        detectors: None,
        alerts_out: Some(alerts.clone()),
        snapshots_out: None,
        features_out: None,
        publish: no_broker(),
        hist_out: Some(hist.clone()),
        stats: false,
        live: false,
        feed: FeedKind::Auto,
        analyzer: AnalyzerConfig::default(),
        progress: true,
        total_bytes: None,
        metrics: None,
    };
    let caps = vec![Capture::open(&cap_path)?];
    let shared = Shared::default();
    install_signals(&shared.stop)?;
    let res = run_session(&opts, None, &mut CaptureSource::new(&caps, None), &shared)?;
    if !args.no_alerts {
        let text =
            std::fs::read(&alerts).with_context(|| format!("reading {}", alerts.display()))?;
        let mut out = std::io::stdout().lock();
        out.write_all(&text)?;
        out.flush()?;
    }
    eprint!("{}", res.summary("demo replay"));
    for e in &res.end.errors {
        eprintln!("tickwatch: error: {e}");
    }
    let truth = crate::cmd::eval::read_truth(&labels)?;
    let near = crate::cmd::eval::read_truth(&decoys)?;
    let got = crate::cmd::eval::read_alerts(&alerts)?;
    let scores = crate::cmd::eval::evaluate(&got, &truth, &near, 1_000_000_000);
    eprintln!("demo: detectors against the generator's labels:");
    eprint!("{}", crate::cmd::eval::table(&scores));
    if args.dir.is_some() {
        eprintln!(
            "demo: files in {} (tickwatch report {} --out {} plots the latency)",
            dir.display(),
            hist.display(),
            dir.join("report").display()
        );
    }
    Ok(if res.end.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn tempfile_dir() -> anyhow::Result<TempDir> {
    let base = std::env::temp_dir().join(format!("tickwatch-demo-{}", std::process::id()));
    std::fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
    Ok(TempDir(base))
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
