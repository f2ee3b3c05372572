//! In-process detection over a capture (decode → books → detectors), used by tests and benches to score `gen`
//! output without the threaded runtime. Cold path: it owns the capture and the books.

use std::path::Path;

use book::replay::{replay, ReplaySummary};
use book::{Books, StoreConfig};
use detect::{Alert, DetectConfig, DetectStats, DetectorSet};
use feed::capture::{Capture, UdpFilter};

/// Alerts (as JSON lines) and figures of one in-process detection run.
#[derive(Debug)]
pub struct CheckRun {
    /// The alerts, one JSON object per line, in emission order.
    pub alerts_jsonl: Vec<u8>,
    /// The alerts themselves.
    pub alerts: Vec<Alert>,
    /// Detector counters.
    pub detect: DetectStats,
    /// Transport / decode figures.
    pub replay: ReplaySummary,
}

/// Replays `path` through `book::Books` and a [`DetectorSet`] built from `cfg`.
pub fn detect_capture(path: &Path, cfg: &DetectConfig) -> anyhow::Result<CheckRun> {
    let capture = Capture::open(path)?;
    let mut books = Books::new(StoreConfig::default());
    let mut set = DetectorSet::new(cfg);
    let mut alerts = Vec::new();
    let stats = replay(&capture, UdpFilter::default(), &mut books, |ev| {
        set.on_event(ev, &mut |a: &Alert| alerts.push(*a));
    });
    set.finish(&mut |a: &Alert| alerts.push(*a));
    let mut out = Vec::with_capacity(alerts.len() * 600);
    for a in &alerts {
        a.write_json_line(&mut out, None);
    }
    Ok(CheckRun {
        alerts_jsonl: out,
        alerts,
        detect: set.stats(),
        replay: stats,
    })
}
