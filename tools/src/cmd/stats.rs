//! `tickwatch stats CAPTURE [--json] [--format pcap|pcapng|raw-itch] [--port N] [--group ADDR]`: message counts by
//! type and transport figures of a capture (pcap, pcapng, raw ITCH; `.gz` read transparently).
//!
//! Exit status: 0 when the file could be read (damage inside it is reported in the counters), 2 when it cannot be
//! opened or its format/header is unusable (the error names the file and byte offset).
//!
//! The JSON form (`--json`) is `feed::stats::FeedStats` (stable keys, documented in `feed::stats`) plus `file`,
//! `format`, `elapsed_ns` (time spent walking and decoding, excluding opening / inflating) and `ns_per_msg`.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use feed::analyze::{Analyzer, AnalyzerConfig, FeedMessage};
use feed::capture::{Capture, Format, UdpFilter};
use feed::stats::FeedStats;

/// Input options shared by `stats` and `dump`.
#[derive(Debug, Clone, clap::Args)]
pub struct CaptureArgs {
    /// Capture file: pcap, pcapng or raw ITCH 5.0 (2-byte length prefixes); gzip-compressed files are inflated.
    #[arg(value_name = "CAPTURE")]
    pub capture: PathBuf,
    /// Force the format instead of detecting it from the first bytes.
    #[arg(long, value_name = "pcap|pcapng|raw-itch")]
    pub format: Option<Format>,
    /// Only UDP datagrams to this destination port.
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Only UDP datagrams to this destination address (multicast group).
    #[arg(long, value_name = "ADDR")]
    pub group: Option<Ipv4Addr>,
}

impl CaptureArgs {
    /// Opens the capture (errors name the file and offset).
    pub fn open(&self) -> anyhow::Result<Capture> {
        Capture::open_as(&self.capture, self.format).map_err(anyhow::Error::from)
    }

    /// Analyzer configuration for capture analysis (every message delivered, filters applied).
    pub fn analyzer_config(&self) -> AnalyzerConfig {
        AnalyzerConfig {
            filter: UdpFilter {
                dst_port: self.port,
                dst_addr: self.group,
            },
            ..AnalyzerConfig::default()
        }
    }
}

/// Arguments of `tickwatch stats`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The capture and input options.
    #[command(flatten)]
    pub input: CaptureArgs,
    /// Print one JSON object instead of the human-readable report.
    #[arg(long)]
    pub json: bool,
}

/// Result of walking a capture once.
#[derive(Debug)]
pub struct Walk {
    /// The statistics.
    pub stats: FeedStats,
    /// Wall time of the walk (decode included, open/inflate excluded).
    pub elapsed_ns: u64,
    /// Corrupt record that ended the walk early, if any.
    pub stopped: Option<feed::capture::CorruptRecord>,
}

/// Walks `cap`, touching every decoded message (its type byte) so the work cannot be skipped.
pub fn walk(cap: &Capture, cfg: AnalyzerConfig) -> Walk {
    let mut an = Analyzer::new(cfg);
    let mut sink = 0u64;
    let t0 = Instant::now();
    an.run(cap, &mut |_, m| {
        sink = sink.wrapping_add(match m {
            FeedMessage::Itch(m) => m.timestamp(),
            _ => 1,
        });
    });
    let elapsed_ns = t0.elapsed().as_nanos() as u64;
    std::hint::black_box(sink);
    Walk {
        stats: an.stats(),
        elapsed_ns,
        stopped: an.stopped(),
    }
}

/// Runs `tickwatch stats`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let t_open = Instant::now();
    let cap = args.input.open()?;
    let open_ns = t_open.elapsed().as_nanos() as u64;
    let w = walk(&cap, args.input.analyzer_config());
    let ns_per_msg = if w.stats.messages > 0 {
        w.elapsed_ns as f64 / w.stats.messages as f64
    } else {
        0.0
    };
    if let Some(stop) = w.stopped {
        eprintln!(
            "tickwatch: warning: {}: {stop}; the rest of the file was not read (counted as malformed)",
            cap.path().display()
        );
    }
    if args.json {
        let mut v = serde_json::to_value(&w.stats).context("serialising stats")?;
        if let Some(obj) = v.as_object_mut() {
            obj.insert("file".into(), cap.path().display().to_string().into());
            obj.insert("format".into(), cap.format().to_string().into());
            obj.insert("elapsed_ns".into(), w.elapsed_ns.into());
            obj.insert(
                "ns_per_msg".into(),
                serde_json::Number::from_f64((ns_per_msg * 100.0).round() / 100.0)
                    .map_or(serde_json::Value::Null, Into::into),
            );
        }
        println!("{v}");
    } else {
        println!(
            "{}  ({}{}, {} bytes)",
            cap.path().display(),
            cap.format(),
            if cap.was_gzip() { ", gzip" } else { "" },
            cap.bytes().len()
        );
        print!("{}", w.stats);
        println!(
            "decode          {:.2} ns/msg  ({} messages in {:.3} ms; open{} {:.3} ms)",
            ns_per_msg,
            w.stats.messages,
            w.elapsed_ns as f64 / 1e6,
            if cap.was_gzip() { "+inflate" } else { "" },
            open_ns as f64 / 1e6
        );
    }
    Ok(ExitCode::SUCCESS)
}
