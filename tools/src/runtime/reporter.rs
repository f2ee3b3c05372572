//! The reporter thread: receives every recorder's interval reports, merges the histograms into run totals, writes the
//! HdrHistogram interval log (`--hist-out`), keeps the metrics snapshot current and drives the progress bar.
//! Cold thread (unpinned); it allocates and does file I/O, none of which touches the hot threads.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::Histogram;

use super::clock::Clock;
use super::latency::{new_histogram, Counters, Metric, METRIC_COUNT};
use super::metrics::MetricsState;
use super::pipeline::{RecorderSet, Shared};
use super::topology::Stage;

/// What the reporter does besides merging.
#[derive(Debug, Clone)]
pub struct ReporterOptions {
    /// Interval log file.
    pub hist_out: Option<PathBuf>,
    /// Show a progress bar on stderr (hidden automatically when stderr is not a terminal).
    pub progress: bool,
    /// Progress bar length in bytes of input (replay), if known.
    pub total_bytes: Option<u64>,
    /// Metrics snapshot to keep current.
    pub metrics: Option<Arc<MetricsState>>,
    /// Clock of the recorders.
    pub clock: Clock,
    /// Run start stamp (interval timestamps are relative to it).
    pub t0: u64,
    /// Wall-clock time at `t0` (the log's BaseTime/StartTime).
    pub start: SystemTime,
    /// Histogram upper bound.
    pub max_ns: u64,
}

/// What the reporter hands back at the end.
#[derive(Debug)]
pub struct ReporterOutput {
    /// Run totals per metric.
    pub totals: Vec<(Metric, Histogram<u64>)>,
    /// Name, stage and final counters of every recorder.
    pub recorders: Vec<(String, Stage, Counters)>,
    /// Problem writing the interval log, if any.
    pub error: Option<String>,
}

impl ReporterOutput {
    /// Total of `m`.
    pub fn total(&self, m: Metric) -> Option<&Histogram<u64>> {
        self.totals.iter().find(|(x, _)| *x == m).map(|(_, h)| h)
    }

    /// Sum of a counter over the recorders of `stage` (`pick` selects the field).
    pub fn sum(&self, stage: Stage, pick: impl Fn(&Counters) -> u64) -> u64 {
        self.recorders
            .iter()
            .filter(|(_, s, _)| *s == stage)
            .map(|(_, _, c)| pick(c))
            .sum()
    }
}

/// Runs the reporter until every recorder of `set` has finished.
pub fn run_reporter(
    mut set: RecorderSet,
    opts: ReporterOptions,
    shared: &Shared,
) -> ReporterOutput {
    let n = set.links.len();
    let mut totals: Vec<Histogram<u64>> = (0..METRIC_COUNT)
        .map(|_| new_histogram(opts.max_ns))
        .collect();
    let mut counters = vec![Counters::default(); n];
    let mut done = vec![false; n];
    let mut error = None;

    let mut log_file = match &opts.hist_out {
        Some(p) => match std::fs::File::create(p) {
            Ok(f) => Some(std::io::BufWriter::new(f)),
            Err(e) => {
                error = Some(format!("{}: {e}", p.display()));
                None
            }
        },
        None => None,
    };
    let mut serializer = V2DeflateSerializer::new();
    let mut builder = IntervalLogWriterBuilder::new();
    builder
        .add_comment("tickwatch latency interval log: one histogram per recorder, stage tag and interval; values in ns")
        .add_comment(&format!("recorders: {}", set.names.join(", ")))
        .add_comment(&format!("clock: {}", opts.clock.name()))
        .with_start_time(opts.start)
        .with_base_time(opts.start)
        .with_max_value_divisor(1000.0);
    let mut writer = match log_file.as_mut() {
        Some(f) => match builder.begin_log_with(f, &mut serializer) {
            Ok(w) => Some(w),
            Err(e) => {
                error = Some(format!("interval log: {e}"));
                None
            }
        },
        None => None,
    };

    let bar = opts.progress.then(|| {
        let bar = match opts.total_bytes {
            Some(total) => indicatif::ProgressBar::new(total).with_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {elapsed_precise} [{bar:30}] {bytes}/{total_bytes} {msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            ),
            None => indicatif::ProgressBar::new_spinner().with_style(
                indicatif::ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                    .expect("valid template"),
            ),
        };
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(5));
        bar
    });
    let started = Instant::now();
    let mut last_tick = (Instant::now(), 0u64);
    let mut rate = 0.0f64;
    let mut last_metrics = Instant::now() - Duration::from_secs(1);

    loop {
        let mut progressed = false;
        for (i, link) in set.links.iter_mut().enumerate() {
            while let Some(mut r) = link.reports.try_pop() {
                progressed = true;
                for m in Metric::ALL {
                    if let Some(h) = r.hists.get(m) {
                        if h.is_empty() {
                            continue;
                        }
                        let _ = totals[m as usize].add(h);
                        if let Some(w) = writer.as_mut() {
                            let start = Duration::from_nanos(opts.clock.delta_ns(opts.t0, r.start));
                            let dur = Duration::from_nanos(opts.clock.delta_ns(r.start, r.end));
                            let tag = Tag::new(m.tag());
                            if let Err(e) = w.write_histogram(h, start, dur, tag) {
                                error.get_or_insert_with(|| format!("interval log: {e:?}"));
                            }
                        }
                    }
                }
                counters[r.thread] = r.counters;
                if r.last {
                    done[r.thread] = true;
                }
                r.hists.reset();
                let _ = link.spares.try_push(r.hists);
            }
            if link.reports.is_finished() {
                done[i] = true;
            }
        }
        let finished = done.iter().all(|d| *d);

        if let Some(bar) = &bar {
            let now = Instant::now();
            let msgs = shared.messages.load(Ordering::Relaxed);
            let dt = now.duration_since(last_tick.0).as_secs_f64();
            if dt >= 0.5 {
                rate = (msgs.saturating_sub(last_tick.1)) as f64 / dt;
                last_tick = (now, msgs);
            }
            if opts.total_bytes.is_some() {
                bar.set_position(shared.bytes.load(Ordering::Relaxed));
            } else {
                bar.tick();
            }
            bar.set_message(format!("{} msgs  {:.2} M msgs/s", human(msgs), rate / 1e6));
        }
        if let Some(m) = &opts.metrics {
            if finished || last_metrics.elapsed() >= Duration::from_millis(200) {
                m.update(
                    &set.names,
                    &set.stages,
                    &counters,
                    &totals,
                    shared,
                    started.elapsed(),
                );
                last_metrics = Instant::now();
            }
        }
        if finished {
            break;
        }
        if !progressed {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    drop(writer);
    if let Some(mut f) = log_file {
        if let Err(e) = f.flush() {
            error.get_or_insert_with(|| format!("interval log: {e}"));
        }
    }
    ReporterOutput {
        totals: Metric::ALL.into_iter().zip(totals).collect(),
        recorders: set
            .names
            .into_iter()
            .zip(set.stages)
            .zip(counters)
            .map(|((n, s), c)| (n, s, c))
            .collect(),
        error,
    }
}

/// `12345678` → `12.35 M`.
pub fn human(n: u64) -> String {
    match n {
        0..=9_999 => n.to_string(),
        10_000..=9_999_999 => format!("{:.1} k", n as f64 / 1e3),
        _ => format!("{:.2} M", n as f64 / 1e6),
    }
}
