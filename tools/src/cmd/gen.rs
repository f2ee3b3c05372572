//! `tickwatch gen`: writes a synthetic, labelled NASDAQ ITCH 5.0 day (MoldUDP64 pcap or raw BinaryFILE) plus
//! `LABELS.jsonl` (ground truth: one line per injected episode) and `DECOYS.jsonl` (near misses that must not
//! fire). See `tools::gen` for what the feed contains.
//!
//! ```text
//! tickwatch gen --seed 7 --symbols 100 --messages 5000000 --out day.pcap
//! tickwatch gen --seed 7 --format raw --out day.itch --labels day.labels.jsonl
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};

use crate::gen::{generate_to_file, write_labels, Format, GenConfig};

/// Output format of `gen`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutFormat {
    /// MoldUDP64 packets in a nanosecond pcap (Ethernet/IPv4/UDP).
    Pcap,
    /// Raw ITCH with 2-byte length prefixes (NASDAQ BinaryFILE).
    Raw,
}

/// Arguments of `tickwatch gen`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// RNG seed; the output is a deterministic function of all flags.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of symbols (stock locates 1..=N), activity Zipf-skewed.
    #[arg(long, default_value_t = 100)]
    pub symbols: u16,
    /// Approximate number of background messages over the 09:30-16:00 session (episodes add their own).
    #[arg(long, default_value_t = 5_000_000)]
    pub messages: u64,
    /// Labelled episodes per detector.
    #[arg(long, default_value_t = 8)]
    pub episodes: usize,
    /// Near-miss decoys per detector.
    #[arg(long, default_value_t = 8)]
    pub decoys: usize,
    /// Output capture file.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    /// Output format (default: raw for .itch/.bin files, pcap otherwise).
    #[arg(long, value_enum)]
    pub format: Option<OutFormat>,
    /// Ground-truth labels file (default: LABELS.jsonl next to --out).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Decoys file (default: DECOYS.jsonl next to --out).
    #[arg(long = "decoys-out")]
    pub decoys_out: Option<PathBuf>,
    /// Trading date YYYY-MM-DD (pcap timestamps are that day's US/Eastern midnight + feed time).
    #[arg(long, default_value = "2024-03-15")]
    pub date: String,
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// UTC ns of US/Eastern midnight of `date` (EDT from the second Sunday of March to the first Sunday of November).
fn eastern_midnight_utc_ns(date: &str) -> anyhow::Result<u64> {
    let parts: Vec<&str> = date.split('-').collect();
    if parts.len() != 3 {
        bail!("--date {date:?}: expected YYYY-MM-DD");
    }
    let y: i64 = parts[0]
        .parse()
        .with_context(|| format!("--date {date:?}"))?;
    let m: i64 = parts[1]
        .parse()
        .with_context(|| format!("--date {date:?}"))?;
    let d: i64 = parts[2]
        .parse()
        .with_context(|| format!("--date {date:?}"))?;
    if !(1970..=2200).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        bail!("--date {date:?}: out of range");
    }
    let day = days_from_civil(y, m, d);
    let weekday = |days: i64| (days + 4).rem_euclid(7); // 0 = Sunday
    let nth_sunday = |month: i64, n: i64| {
        let first = days_from_civil(y, month, 1);
        first + (7 - weekday(first)) % 7 + 7 * (n - 1)
    };
    let dst = day >= nth_sunday(3, 2) && day < nth_sunday(11, 1);
    let offset_h = if dst { 4 } else { 5 };
    Ok(((day * 86_400 + offset_h * 3_600) as u64) * 1_000_000_000)
}

/// Runs `tickwatch gen`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let format = match args.format {
        Some(OutFormat::Pcap) => Format::Pcap,
        Some(OutFormat::Raw) => Format::Raw,
        None => match args.out.extension().and_then(|e| e.to_str()) {
            Some("itch") | Some("bin") | Some("raw") => Format::Raw,
            _ => Format::Pcap,
        },
    };
    if args.symbols == 0 {
        bail!("--symbols must be at least 1");
    }
    let dir = args.out.parent().map(PathBuf::from).unwrap_or_default();
    let labels_path = args
        .labels
        .clone()
        .unwrap_or_else(|| dir.join("LABELS.jsonl"));
    let decoys_path = args
        .decoys_out
        .clone()
        .unwrap_or_else(|| dir.join("DECOYS.jsonl"));
    let cfg = GenConfig {
        seed: args.seed,
        symbols: args.symbols,
        messages: args.messages,
        episodes: args.episodes,
        decoys: args.decoys,
        date_midnight_utc_ns: eastern_midnight_utc_ns(&args.date)?,
    };
    let t0 = Instant::now();
    let summary = generate_to_file(&cfg, &args.out, format)
        .with_context(|| format!("writing {}", args.out.display()))?;
    write_labels(&labels_path, &summary.labels)
        .with_context(|| format!("writing {}", labels_path.display()))?;
    write_labels(&decoys_path, &summary.decoys)
        .with_context(|| format!("writing {}", decoys_path.display()))?;
    let secs = t0.elapsed().as_secs_f64();
    eprintln!(
        "gen: seed {} | {} messages{} | {} labels -> {} | {} decoys -> {} | {:.1} s ({:.2} M msgs/s)",
        cfg.seed,
        summary.messages,
        if format == Format::Pcap { format!(" in {} MoldUDP64 packets", summary.packets) } else { String::new() },
        summary.labels.len(),
        labels_path.display(),
        summary.decoys.len(),
        decoys_path.display(),
        secs,
        summary.messages as f64 / secs.max(1e-9) / 1e6
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eastern_midnight() {
        // 2024-03-15 is EDT: 04:00 UTC.
        assert_eq!(
            eastern_midnight_utc_ns("2024-03-15").unwrap(),
            1_710_475_200 * 1_000_000_000
        );
        // 2024-01-02 is EST: 05:00 UTC.
        assert_eq!(
            eastern_midnight_utc_ns("2024-01-02").unwrap(),
            1_704_171_600 * 1_000_000_000
        );
        assert!(eastern_midnight_utc_ns("2024-13-01").is_err());
        assert!(eastern_midnight_utc_ns("yesterday").is_err());
    }
}
