//! `tickwatch stats CAPTURE [--json] [--format pcap|pcapng|raw-itch] [--port N] [--group ADDR]`: message counts by
//! type and transport figures of a capture (pcap, pcapng, raw ITCH; `.gz` read transparently).
//!
//! Exit status: 0 when the file could be read (damage inside it is reported in the counters), 2 when it cannot be
//! opened or its format/header is unusable (the error names the file and byte offset).
//!
//! The JSON form (`--json`) is `feed::stats::FeedStats` (stable keys, documented in `feed::stats`) plus `file`,
//! `format`, `elapsed_ns` (wall time spent walking and decoding, excluding opening / inflating), `ns_per_msg`
//! (that per decoded message), `cpu_ns` and `cpu_ns_per_msg` (the same walk in the thread's CPU time,
//! `CLOCK_THREAD_CPUTIME_ID`: on a shared machine it leaves out the time the thread waited for a core).

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
    /// CPU time of the walking thread during the walk.
    pub cpu_ns: u64,
    /// Corrupt record that ended the walk early, if any.
    pub stopped: Option<feed::capture::CorruptRecord>,
}

/// Walks `cap`, touching every decoded message (its type byte) so the work cannot be skipped.
pub fn walk(cap: &Capture, cfg: AnalyzerConfig) -> Walk {
    let mut an = Analyzer::new(cfg);
    let mut sink = 0u64;
    let cpu0 = thread_cpu_ns();
    let t0 = Instant::now();
    an.run(cap, &mut |_, m| {
        sink = sink.wrapping_add(match m {
            FeedMessage::Itch(m) => m.timestamp(),
            _ => 1,
        });
    });
    let elapsed_ns = t0.elapsed().as_nanos() as u64;
    let cpu_ns = thread_cpu_ns().saturating_sub(cpu0);
    std::hint::black_box(sink);
    Walk {
        stats: an.stats(),
        elapsed_ns,
        cpu_ns,
        stopped: an.stopped(),
    }
}

/// CPU time consumed by the calling thread so far, ns (`CLOCK_THREAD_CPUTIME_ID`); 0 if the clock is unavailable.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable `timespec` for the duration of the call and the clock id is a constant;
    // clock_gettime writes only into `ts`.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// `num / messages`, or 0 without messages.
fn per_msg(num: u64, messages: u64) -> f64 {
    if messages > 0 {
        num as f64 / messages as f64
    } else {
        0.0
    }
}

/// Runs `tickwatch stats`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let t_open = Instant::now();
    let cap = args.input.open()?;
    let open_ns = t_open.elapsed().as_nanos() as u64;
    let w = walk(&cap, args.input.analyzer_config());
    let ns_per_msg = per_msg(w.elapsed_ns, w.stats.messages);
    let cpu_ns_per_msg = per_msg(w.cpu_ns, w.stats.messages);
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
            let round = |x: f64| {
                serde_json::Number::from_f64((x * 100.0).round() / 100.0)
                    .map_or(serde_json::Value::Null, Into::into)
            };
            obj.insert("ns_per_msg".into(), round(ns_per_msg));
            obj.insert("cpu_ns".into(), w.cpu_ns.into());
            obj.insert("cpu_ns_per_msg".into(), round(cpu_ns_per_msg));
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
            "decode          {:.2} ns/msg wall, {:.2} ns/msg thread CPU  ({} messages in {:.3} ms; open{} {:.3} ms)",
            ns_per_msg,
            cpu_ns_per_msg,
            w.stats.messages,
            w.elapsed_ns as f64 / 1e6,
            if cap.was_gzip() { "+inflate" } else { "" },
            open_ns as f64 / 1e6
        );
    }
    Ok(ExitCode::SUCCESS)
}
