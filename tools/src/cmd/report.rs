//! `tickwatch report HIST... [--out DIR]`: percentile table per stage, `.hgrm` percentile distributions and a latency
//! plot (`latency.svg`, `latency.png`) from the HdrHistogram interval logs written by `replay`/`run --hist-out`.
//!
//! Intervals with the same tag (stage) are summed across all intervals and all files. The `.hgrm` files follow
//! HdrHistogram's `outputPercentileDistribution` format with values in microseconds (the Java tool's
//! `-outputValueUnitRatio 1000`), so they load into HdrHistogram's plotter. The plot uses the same axes: latency
//! against percentile on a log scale of `1/(1-p)`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;

use crate::runtime::latency::{percentile_table, Metric};

/// Arguments of `tickwatch report`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// HdrHistogram interval log(s) (`--hist-out` of replay/run).
    #[arg(required = true, value_name = "HIST")]
    pub hist: Vec<PathBuf>,
    /// Directory for `<stage>.hgrm`, `latency.svg` and `latency.png` (created if missing).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
}

/// Runs `tickwatch report`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let stages = load_logs(&args.hist)?;
    if stages.is_empty() {
        bail!(
            "no interval histograms found in {}",
            display_paths(&args.hist)
        );
    }
    let rows: Vec<(&str, &Histogram<u64>)> =
        stages.iter().map(|(n, h)| (n.label.as_str(), h)).collect();
    print!("{}", percentile_table(rows));
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    for (name, h) in &stages {
        let path = args.out.join(format!("{}.hgrm", name.tag));
        std::fs::write(&path, hgrm(h)).with_context(|| format!("writing {}", path.display()))?;
    }
    let svg = args.out.join("latency.svg");
    let png = args.out.join("latency.png");
    let names: Vec<String> = args
        .hist
        .iter()
        .map(|p| {
            p.file_name().map_or_else(
                || p.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            )
        })
        .collect();
    plot(&stages, &names.join(", "), &svg, &png)?;
    eprintln!(
        "report: wrote {} .hgrm files, {} and {} in {}",
        stages.len(),
        svg.file_name().unwrap_or_default().to_string_lossy(),
        png.file_name().unwrap_or_default().to_string_lossy(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn display_paths(p: &[PathBuf]) -> String {
    p.iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A stage found in the logs: its tag and display label; ordered pipeline-first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct StageName {
    order: usize,
    /// Interval-log tag.
    pub tag: String,
    /// Display label.
    pub label: String,
}

impl StageName {
    fn from_tag(tag: &str) -> Self {
        match Metric::from_tag(tag) {
            Some(m) => StageName {
                order: m as usize,
                tag: tag.to_string(),
                label: format!("{} [{}]", m.label(), tag),
            },
            None => StageName {
                order: usize::MAX,
                tag: tag.to_string(),
                label: tag.to_string(),
            },
        }
    }
}

/// Reads interval logs and sums the histograms per tag.
pub fn load_logs(paths: &[PathBuf]) -> anyhow::Result<BTreeMap<StageName, Histogram<u64>>> {
    let mut out: BTreeMap<StageName, Histogram<u64>> = BTreeMap::new();
    let mut de = Deserializer::new();
    for path in paths {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let mut intervals = 0usize;
        for (i, entry) in IntervalLogIterator::new(&bytes).enumerate() {
            let entry = entry.map_err(|e| {
                anyhow::anyhow!(
                    "{}: entry {}: malformed interval log ({e:?})",
                    path.display(),
                    i + 1
                )
            })?;
            let LogEntry::Interval(iv) = entry else {
                continue;
            };
            let tag = iv.tag().map_or("untagged", |t| t.as_str());
            let raw = base64_decode(iv.encoded_histogram()).with_context(|| {
                format!(
                    "{}: interval {} ({tag}): bad base64",
                    path.display(),
                    intervals + 1
                )
            })?;
            let h: Histogram<u64> = de.deserialize(&mut raw.as_slice()).map_err(|e| {
                anyhow::anyhow!(
                    "{}: interval {} ({tag}): {e:?}",
                    path.display(),
                    intervals + 1
                )
            })?;
            intervals += 1;
            let total = out.entry(StageName::from_tag(tag)).or_insert_with(|| {
                let mut t = Histogram::<u64>::new_with_bounds(1, 2, 3).expect("valid bounds");
                t.auto(true);
                t
            });
            total
                .add(&h)
                .map_err(|e| anyhow::anyhow!("{}: merging {tag}: {e:?}", path.display()))?;
        }
        if intervals == 0 {
            eprintln!(
                "report: warning: {} holds no interval histograms",
                path.display()
            );
        }
    }
    Ok(out)
}

/// Decodes standard base64 (with or without padding).
fn base64_decode(s: &str) -> anyhow::Result<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let s = s.trim().trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for chunk in s.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            let v = val(c).ok_or_else(|| anyhow::anyhow!("invalid character {:?}", c as char))?;
            acc |= v << (18 - 6 * i);
        }
        match chunk.len() {
            4 => out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]),
            3 => out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8]),
            2 => out.push((acc >> 16) as u8),
            _ => bail!("truncated base64"),
        }
    }
    Ok(out)
}

/// HdrHistogram percentile distribution text, values in microseconds.
pub fn hgrm(h: &Histogram<u64>) -> String {
    const RATIO: f64 = 1000.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total = 0u64;
    for v in h.iter_quantiles(5) {
        total += v.count_since_last_iteration();
        let q = v.quantile_iterated_to();
        let value = v.value_iterated_to() as f64 / RATIO;
        if q < 1.0 {
            let _ = writeln!(
                s,
                "{value:12.3} {q:2.12} {total:10} {:14.2}",
                1.0 / (1.0 - q)
            );
        } else {
            let _ = writeln!(s, "{value:12.3} {q:1.12} {total:10}");
        }
    }
    let _ = writeln!(
        s,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]",
        h.mean() / RATIO,
        h.stdev() / RATIO
    );
    let _ = writeln!(
        s,
        "#[Max     = {:12.3}, Total count    = {:12}]",
        h.max() as f64 / RATIO,
        h.len()
    );
    // Sub-buckets per bucket: 2 × 10^sigfig rounded up to a power of two (HdrHistogram's layout).
    let sub_buckets = (2 * 10u64.pow(u32::from(h.sigfig()))).next_power_of_two();
    let _ = writeln!(
        s,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        h.buckets(),
        sub_buckets
    );
    s
}

/// Points (x = log10(1/(1-q)), latency µs) of a percentile curve, x capped at `x_max`.
fn curve(h: &Histogram<u64>, x_max: f64) -> Vec<(f64, f64)> {
    let mut pts = Vec::new();
    // Percentiles are monotone; the running max removes the iterator's bucket-equivalence wiggles.
    let mut top = 0.0f64;
    for v in h.iter_quantiles(5) {
        let q = v.quantile_iterated_to();
        let x = if q >= 1.0 {
            x_max
        } else {
            (1.0 / (1.0 - q)).log10().min(x_max)
        };
        top = top.max(v.value_iterated_to() as f64 / 1000.0);
        pts.push((x, top.max(0.001)));
    }
    pts
}

/// `y` µs as a short duration: `50 ns`, `2 µs`, `10 ms`, `1 s`.
fn duration_label(us: f64) -> String {
    let (v, unit) = if us >= 1e6 {
        (us / 1e6, "s")
    } else if us >= 1e3 {
        (us / 1e3, "ms")
    } else if us >= 1.0 {
        (us, "µs")
    } else {
        (us * 1e3, "ns")
    };
    if v >= 10.0 || v == v.round() {
        format!("{v:.0} {unit}")
    } else {
        format!("{v:.1} {unit}")
    }
}

fn percent_label(x: f64) -> String {
    // x = log10(1/(1-q)) → q = 1 - 10^-x
    if x <= 0.0 {
        return "0%".into();
    }
    let q = 100.0 * (1.0 - 10f64.powf(-x));
    let decimals = (x.round() as usize).saturating_sub(2);
    format!("{q:.decimals$}%")
}

/// Draws the per-stage percentile curves to an SVG and a PNG; `source` (the logs' names) goes in the title.
pub fn plot(
    stages: &BTreeMap<StageName, Histogram<u64>>,
    source: &str,
    svg: &Path,
    png: &Path,
) -> anyhow::Result<()> {
    use plotters::prelude::*;
    let nonempty: Vec<(&StageName, &Histogram<u64>)> =
        stages.iter().filter(|(_, h)| !h.is_empty()).collect();
    if nonempty.is_empty() {
        bail!("no recorded values to plot");
    }
    let max_count = nonempty.iter().map(|(_, h)| h.len()).max().unwrap_or(1) as f64;
    // The curve is meaningful up to 1/(1-q) ≈ count; show at least up to 99.99 %.
    let x_max = max_count.log10().ceil().clamp(4.0, 7.0);
    let y_min = nonempty
        .iter()
        .map(|(_, h)| h.min_nz() as f64 / 1000.0)
        .fold(f64::INFINITY, f64::min)
        .max(0.001);
    let y_max = nonempty
        .iter()
        .map(|(_, h)| h.max() as f64 / 1000.0)
        .fold(0.0, f64::max);
    let y_lo = 10f64.powf(y_min.log10().floor());
    // Two decades of headroom above the highest curve keep the legend (upper left) clear of the data.
    let y_hi = 10f64.powf(y_max.log10().ceil() + 2.0).max(y_lo * 1000.0);
    let palette = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
    ];

    fn draw<DB: DrawingBackend>(
        root: DrawingArea<DB, plotters::coord::Shift>,
        nonempty: &[(&StageName, &Histogram<u64>)],
        title: &str,
        x_max: f64,
        y: (f64, f64),
        palette: &[RGBColor],
    ) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)
            .map_err(|e| anyhow::anyhow!("plot: {e}"))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 24))
            .margin(20)
            .margin_right(50)
            .x_label_area_size(50)
            .y_label_area_size(80)
            .build_cartesian_2d(0f64..x_max, (y.0..y.1).log_scale())
            .map_err(|e| anyhow::anyhow!("plot: {e}"))?;
        chart
            .configure_mesh()
            .x_desc("percentile")
            .y_desc("latency (log scale)")
            .x_labels(x_max as usize + 1)
            .x_label_formatter(&|x| percent_label(*x))
            .y_label_formatter(&|y| duration_label(*y))
            .label_style(("sans-serif", 16))
            .axis_desc_style(("sans-serif", 18))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(|e| anyhow::anyhow!("plot: {e}"))?;
        for (i, (name, h)) in nonempty.iter().enumerate() {
            let color = palette[i % palette.len()];
            let pts = curve(h, x_max);
            let us = |v: u64| duration_label(v as f64 / 1000.0);
            let label = format!(
                "{}   n {}   p50 {}   p99 {}   p99.9 {}   max {}",
                name.label,
                h.len(),
                us(h.value_at_quantile(0.5)),
                us(h.value_at_quantile(0.99)),
                us(h.value_at_quantile(0.999)),
                us(h.max())
            );
            chart
                .draw_series(LineSeries::new(pts, color.stroke_width(3)))
                .map_err(|e| anyhow::anyhow!("plot: {e}"))?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 15))
            .draw()
            .map_err(|e| anyhow::anyhow!("plot: {e}"))?;
        root.present().map_err(|e| anyhow::anyhow!("plot: {e}"))?;
        Ok(())
    }

    let size = (1280u32, 760u32);
    let mut title = format!("tickwatch latency by stage (percentile distribution): {source}");
    if title.chars().count() > 100 {
        title = title.chars().take(99).chain(std::iter::once('…')).collect();
    }
    draw(
        SVGBackend::new(svg, size).into_drawing_area(),
        &nonempty,
        &title,
        x_max,
        (y_lo, y_hi),
        &palette,
    )
    .with_context(|| format!("writing {}", svg.display()))?;
    draw(
        BitMapBackend::new(png, size).into_drawing_area(),
        &nonempty,
        &title,
        x_max,
        (y_lo, y_hi),
        &palette,
    )
    .with_context(|| format!("writing {}", png.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_roundtrip_known_vectors() {
        assert_eq!(base64_decode("TWFu").unwrap(), b"Man");
        assert_eq!(base64_decode("TWE=").unwrap(), b"Ma");
        assert_eq!(base64_decode("TQ==").unwrap(), b"M");
        assert!(base64_decode("T").is_err());
        assert!(base64_decode("T!==").is_err());
    }

    #[test]
    fn duration_labels() {
        assert_eq!(duration_label(0.05), "50 ns");
        assert_eq!(duration_label(2.0), "2 µs");
        assert_eq!(duration_label(1.5), "1.5 µs");
        assert_eq!(duration_label(10_000.0), "10 ms");
        assert_eq!(duration_label(1e6), "1 s");
    }

    #[test]
    fn percent_labels() {
        assert_eq!(percent_label(0.0), "0%");
        assert_eq!(percent_label(1.0), "90%");
        assert_eq!(percent_label(2.0), "99%");
        assert_eq!(percent_label(3.0), "99.9%");
        assert_eq!(percent_label(5.0), "99.999%");
    }

    #[test]
    fn hgrm_has_java_layout() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 1_000_000, 3).unwrap();
        for v in 1..=1000u64 {
            h.record(v * 1000).unwrap();
        }
        let text = hgrm(&h);
        let first = text.lines().next().unwrap();
        assert!(first.contains("Value") && first.contains("1/(1-Percentile)"));
        assert!(text.contains("Total count    =         1000"));
        // The last data row is the max with quantile 1.
        let last_row = text
            .lines()
            .rfind(|l| !l.starts_with('#') && !l.trim().is_empty())
            .unwrap();
        assert!(last_row.contains("1.000000000000"), "{last_row}");
        assert!(
            last_row.trim_start().starts_with("1000.") || last_row.trim_start().starts_with("1000"),
            "{last_row}"
        );
    }
}
