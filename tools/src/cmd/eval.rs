//! `tickwatch eval --alerts A.jsonl --labels L.jsonl [--decoys D.jsonl] [--json]`: precision and recall of alerts
//! against ground-truth labels, per detector. Several days can be scored at once by repeating the flags
//! (`--alerts A1 --labels L1 --alerts A2 --labels L2 ...`, pairs in order): each pair is matched on its own and the
//! counts are summed.
//!
//! Matching rule: an alert *matches* a label when they have the same `detector`, the alert's `symbol` is the label's
//! `symbol` (or one of the label's `parameters.symbols` / `symbols`, for cross-symbol episodes), and the alert's
//! `event_ts_ns` lies in [`start_ns`, `end_ns` + tolerance] (tolerance 1 s by default). Precision = matching alerts
//! / alerts; recall = labels matched by at least one alert / labels. With `--decoys`, alerts that match a decoy
//! record (same rule) are counted as `decoy_hits` (they are also false positives in the precision).
//!
//! Exit status: 0, or 1 when `--min-precision` / `--min-recall` is given and a detector with labels falls below it
//! (or any decoy was hit with `--no-decoy-hits`); 2 on unreadable input.
//!
//! Records written by other tools are read as well: symbols are compared without the space / NUL padding of
//! fixed-width feed fields, `start_ns` / `end_ns` / `event_ts_ns` may also be integral floats (`3.42e13`) or
//! decimal strings, a cross-symbol label may name its symbols in `symbols` only (`symbol` absent or null), and
//! other fields are ignored.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use serde::Serialize;
use serde_json::Value;

/// Arguments of `tickwatch eval`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Alerts, one JSON object per line (the alert record of `detect`). Repeatable (one per day).
    #[arg(long, required = true)]
    pub alerts: Vec<PathBuf>,
    /// Ground truth, one JSON object per line (`detector`, `symbol`, `start_ns`, `end_ns`, `parameters`).
    /// Repeatable: the n-th labels file goes with the n-th alerts file.
    #[arg(long, required = true)]
    pub labels: Vec<PathBuf>,
    /// Decoy records (same format): alerts matching them are reported as decoy hits. Repeatable (none or one per
    /// day).
    #[arg(long)]
    pub decoys: Vec<PathBuf>,
    /// Print the result as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON result to this file.
    #[arg(long = "json-out")]
    pub json_out: Option<PathBuf>,
    /// Tolerance after a label's end_ns, in ns.
    #[arg(long, default_value_t = 1_000_000_000)]
    pub tolerance_ns: u64,
    /// Fail (exit 1) if a detector with labels has precision below this.
    #[arg(long)]
    pub min_precision: Option<f64>,
    /// Fail (exit 1) if a detector with labels has recall below this.
    #[arg(long)]
    pub min_recall: Option<f64>,
    /// Fail (exit 1) if any alert matches a decoy.
    #[arg(long)]
    pub no_decoy_hits: bool,
}

/// One ground-truth (or decoy) record.
#[derive(Debug, Clone)]
pub struct Truth {
    /// Detector name.
    pub detector: String,
    /// Symbols the record covers (its `symbol` first).
    pub symbols: Vec<String>,
    /// Start, ns.
    pub start_ns: u64,
    /// End, ns.
    pub end_ns: u64,
}

/// The fields of an alert that matching uses.
#[derive(Debug, Clone)]
pub struct AlertKey {
    /// Detector name.
    pub detector: String,
    /// Symbol.
    pub symbol: String,
    /// Feed time of the completing event.
    pub event_ts_ns: u64,
}

/// Scores of one detector.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Score {
    /// Ground-truth episodes.
    pub labels: usize,
    /// Alerts.
    pub alerts: usize,
    /// Alerts that match a label.
    pub matched_alerts: usize,
    /// Labels matched by at least one alert.
    pub found_labels: usize,
    /// matched_alerts / alerts (None without alerts).
    pub precision: Option<f64>,
    /// found_labels / labels (None without labels).
    pub recall: Option<f64>,
    /// Decoy records.
    pub decoys: usize,
    /// Alerts that match a decoy.
    pub decoy_hits: usize,
}

fn read_jsonl(path: &Path) -> anyhow::Result<Vec<(usize, Value)>> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line)
            .with_context(|| format!("{}:{}: not JSON", path.display(), i + 1))?;
        if !v.is_object() {
            bail!("{}:{}: not a JSON object", path.display(), i + 1);
        }
        out.push((i + 1, v));
    }
    Ok(out)
}

fn str_field(v: &Value, k: &str, path: &Path, line: usize) -> anyhow::Result<String> {
    v.get(k)
        .and_then(Value::as_str)
        .map(str::to_string)
        .with_context(|| format!("{}:{line}: missing string field {k:?}", path.display()))
}

/// A symbol as matching compares it: without the space / NUL padding of fixed-width feed fields (`"AAPL    "` and
/// `"AAPL"` are one symbol).
fn symbol_key(s: &str) -> String {
    s.trim_matches(|c: char| c == ' ' || c == '\0').to_string()
}

/// A non-negative integer field: a JSON integer, a float with no fractional part below 2⁶⁴ (some writers print
/// large integers as `3.42e13`), or a string of decimal digits (writers that avoid 53-bit JSON numbers).
fn u64_field(v: &Value, k: &str, path: &Path, line: usize) -> anyhow::Result<u64> {
    let f = v.get(k);
    f.and_then(Value::as_u64)
        .or_else(|| {
            f.and_then(Value::as_f64)
                .filter(|x| *x >= 0.0 && x.fract() == 0.0 && *x < 18_446_744_073_709_551_616.0)
                .map(|x| x as u64)
        })
        .or_else(|| {
            f.and_then(Value::as_str)
                .and_then(|s| s.trim().parse().ok())
        })
        .with_context(|| {
            format!(
                "{}:{line}: missing or not a non-negative integer: field {k:?}",
                path.display()
            )
        })
}

/// Reads label (or decoy) records.
pub fn read_truth(path: &Path) -> anyhow::Result<Vec<Truth>> {
    let mut out = Vec::new();
    for (line, v) in read_jsonl(path)? {
        let detector = str_field(&v, "detector", path, line)?;
        let start_ns = u64_field(&v, "start_ns", path, line)?;
        let end_ns = u64_field(&v, "end_ns", path, line)?;
        if end_ns < start_ns {
            bail!("{}:{line}: end_ns < start_ns", path.display());
        }
        // `symbol` first; a cross-symbol record may instead name its symbols only in `symbols` (`symbol` absent
        // or null).
        let mut symbols = Vec::new();
        match v.get("symbol") {
            Some(Value::String(s)) => symbols.push(symbol_key(s)),
            None | Some(Value::Null) => {}
            Some(_) => bail!(
                "{}:{line}: field \"symbol\" is not a string",
                path.display()
            ),
        }
        let extra = v
            .get("parameters")
            .and_then(|p| p.get("symbols"))
            .or_else(|| v.get("symbols"))
            .and_then(Value::as_array);
        for s in extra
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(symbol_key)
        {
            if !symbols.contains(&s) {
                symbols.push(s);
            }
        }
        if symbols.is_empty() {
            bail!(
                "{}:{line}: missing string field \"symbol\" (or a \"symbols\" list)",
                path.display()
            );
        }
        out.push(Truth {
            detector,
            symbols,
            start_ns,
            end_ns,
        });
    }
    Ok(out)
}

/// Reads alert records.
pub fn read_alerts(path: &Path) -> anyhow::Result<Vec<AlertKey>> {
    let mut out = Vec::new();
    for (line, v) in read_jsonl(path)? {
        out.push(AlertKey {
            detector: str_field(&v, "detector", path, line)?,
            symbol: symbol_key(&str_field(&v, "symbol", path, line)?),
            event_ts_ns: u64_field(&v, "event_ts_ns", path, line)?,
        });
    }
    Ok(out)
}

/// Index of truth records by (detector, symbol).
struct Index<'a> {
    by_key: HashMap<(&'a str, &'a str), Vec<usize>>,
}

impl<'a> Index<'a> {
    fn new(truth: &'a [Truth]) -> Self {
        let mut by_key: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
        for (i, t) in truth.iter().enumerate() {
            for s in &t.symbols {
                by_key
                    .entry((t.detector.as_str(), s.as_str()))
                    .or_default()
                    .push(i);
            }
        }
        Index { by_key }
    }

    fn matches(&self, truth: &[Truth], a: &AlertKey, tol: u64) -> Vec<usize> {
        self.by_key
            .get(&(a.detector.as_str(), a.symbol.as_str()))
            .map(|v| {
                v.iter()
                    .copied()
                    .filter(|&i| {
                        let t = &truth[i];
                        a.event_ts_ns >= t.start_ns && a.event_ts_ns <= t.end_ns.saturating_add(tol)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Scores `alerts` against `labels` (and `decoys`), per detector (every detector that has labels, decoys or
/// alerts), plus an `all` row.
pub fn evaluate(
    alerts: &[AlertKey],
    labels: &[Truth],
    decoys: &[Truth],
    tol: u64,
) -> BTreeMap<String, Score> {
    let mut scores: BTreeMap<String, Score> = BTreeMap::new();
    for l in labels {
        scores.entry(l.detector.clone()).or_default().labels += 1;
    }
    for d in decoys {
        scores.entry(d.detector.clone()).or_default().decoys += 1;
    }
    let li = Index::new(labels);
    let di = Index::new(decoys);
    let mut found = vec![false; labels.len()];
    for a in alerts {
        let s = scores.entry(a.detector.clone()).or_default();
        s.alerts += 1;
        let m = li.matches(labels, a, tol);
        if !m.is_empty() {
            s.matched_alerts += 1;
            for i in m {
                found[i] = true;
            }
        }
        if !di.matches(decoys, a, tol).is_empty() {
            s.decoy_hits += 1;
        }
    }
    for (i, l) in labels.iter().enumerate() {
        if found[i] {
            scores.get_mut(&l.detector).expect("present").found_labels += 1;
        }
    }
    let mut all = Score::default();
    for s in scores.values_mut() {
        s.precision = (s.alerts > 0).then(|| s.matched_alerts as f64 / s.alerts as f64);
        s.recall = (s.labels > 0).then(|| s.found_labels as f64 / s.labels as f64);
        all.labels += s.labels;
        all.alerts += s.alerts;
        all.matched_alerts += s.matched_alerts;
        all.found_labels += s.found_labels;
        all.decoys += s.decoys;
        all.decoy_hits += s.decoy_hits;
    }
    all.precision = (all.alerts > 0).then(|| all.matched_alerts as f64 / all.alerts as f64);
    all.recall = (all.labels > 0).then(|| all.found_labels as f64 / all.labels as f64);
    scores.insert("all".into(), all);
    scores
}

fn fmt_opt(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into())
}

/// The result as a text table.
pub fn table(scores: &BTreeMap<String, Score>) -> String {
    let mut s = format!(
        "{:<20} {:>7} {:>7} {:>8} {:>9} {:>6} {:>7} {:>7} {:>10}\n",
        "detector",
        "labels",
        "alerts",
        "matched",
        "precision",
        "found",
        "recall",
        "decoys",
        "decoy_hits"
    );
    let rows = scores
        .iter()
        .filter(|(k, _)| k.as_str() != "all")
        .chain(scores.get_key_value("all"));
    for (k, v) in rows {
        s.push_str(&format!(
            "{:<20} {:>7} {:>7} {:>8} {:>9} {:>6} {:>7} {:>7} {:>10}\n",
            k,
            v.labels,
            v.alerts,
            v.matched_alerts,
            fmt_opt(v.precision),
            v.found_labels,
            fmt_opt(v.recall),
            v.decoys,
            v.decoy_hits
        ));
    }
    s
}

/// Adds `b`'s counts to `a` and recomputes the ratios.
fn merge(a: &mut BTreeMap<String, Score>, b: BTreeMap<String, Score>) {
    for (k, s) in b {
        let t = a.entry(k).or_default();
        t.labels += s.labels;
        t.alerts += s.alerts;
        t.matched_alerts += s.matched_alerts;
        t.found_labels += s.found_labels;
        t.decoys += s.decoys;
        t.decoy_hits += s.decoy_hits;
        t.precision = (t.alerts > 0).then(|| t.matched_alerts as f64 / t.alerts as f64);
        t.recall = (t.labels > 0).then(|| t.found_labels as f64 / t.labels as f64);
    }
}

/// Runs `tickwatch eval`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.alerts.len() != args.labels.len() {
        bail!(
            "{} --alerts but {} --labels: give one labels file per alerts file",
            args.alerts.len(),
            args.labels.len()
        );
    }
    if !args.decoys.is_empty() && args.decoys.len() != args.alerts.len() {
        bail!(
            "give either no --decoys or one per --alerts ({} vs {})",
            args.decoys.len(),
            args.alerts.len()
        );
    }
    let mut scores = BTreeMap::new();
    for (i, (a, l)) in args.alerts.iter().zip(&args.labels).enumerate() {
        let alerts = read_alerts(a)?;
        let labels = read_truth(l)?;
        let decoys = match args.decoys.get(i) {
            Some(p) => read_truth(p)?,
            None => Vec::new(),
        };
        merge(
            &mut scores,
            evaluate(&alerts, &labels, &decoys, args.tolerance_ns),
        );
    }
    let json = serde_json::to_string_pretty(&scores)?;
    if args.json {
        println!("{json}");
    } else {
        print!("{}", table(&scores));
    }
    if let Some(p) = &args.json_out {
        fs::write(p, json.as_bytes()).with_context(|| format!("writing {}", p.display()))?;
    }
    let mut ok = true;
    for (k, s) in scores
        .iter()
        .filter(|(k, s)| k.as_str() != "all" && s.labels > 0)
    {
        if let Some(min) = args.min_precision {
            if s.precision.unwrap_or(0.0) < min {
                eprintln!("eval: {k}: precision {} < {min}", fmt_opt(s.precision));
                ok = false;
            }
        }
        if let Some(min) = args.min_recall {
            if s.recall.unwrap_or(0.0) < min {
                eprintln!("eval: {k}: recall {} < {min}", fmt_opt(s.recall));
                ok = false;
            }
        }
    }
    if args.no_decoy_hits {
        if let Some(all) = scores.get("all") {
            if all.decoy_hits > 0 {
                eprintln!("eval: {} alert(s) matched decoys", all.decoy_hits);
                ok = false;
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(d: &str, s: &[&str], a: u64, b: u64) -> Truth {
        Truth {
            detector: d.into(),
            symbols: s.iter().map(|x| x.to_string()).collect(),
            start_ns: a,
            end_ns: b,
        }
    }

    fn a(d: &str, s: &str, ts: u64) -> AlertKey {
        AlertKey {
            detector: d.into(),
            symbol: s.into(),
            event_ts_ns: ts,
        }
    }

    #[test]
    fn matching_window_and_symbols() {
        let labels = vec![
            t("spoofing", &["AAA"], 100, 200),
            t("spoofing", &["BBB"], 100, 200),
            t("coordinated_buying", &["CCC", "DDD", "EEE"], 1_000, 2_000),
        ];
        let decoys = vec![t("spoofing", &["ZZZ"], 100, 200)];
        let alerts = vec![
            a("spoofing", "AAA", 100),             // start: match
            a("spoofing", "AAA", 200 + 50),        // within tolerance: match (same label again)
            a("spoofing", "AAA", 200 + 51),        // just after: false positive
            a("spoofing", "BBB", 99),              // just before: false positive
            a("layering", "BBB", 150),             // wrong detector
            a("coordinated_buying", "EEE", 1_500), // any of the symbols
            a("spoofing", "ZZZ", 150),             // decoy hit
        ];
        let s = evaluate(&alerts, &labels, &decoys, 50);
        let sp = &s["spoofing"];
        assert_eq!(
            (sp.labels, sp.alerts, sp.matched_alerts, sp.found_labels),
            (2, 5, 2, 1)
        );
        assert_eq!(sp.precision, Some(0.4));
        assert_eq!(sp.recall, Some(0.5));
        assert_eq!(sp.decoy_hits, 1);
        assert_eq!(s["layering"].precision, Some(0.0));
        assert_eq!(s["layering"].recall, None);
        assert_eq!(s["coordinated_buying"].recall, Some(1.0));
        assert_eq!(s["all"].labels, 3);
        assert!(table(&s).contains("spoofing"));
        // Two days summed.
        let mut total = BTreeMap::new();
        merge(&mut total, s.clone());
        merge(&mut total, s);
        assert_eq!(total["spoofing"].alerts, 10);
        assert_eq!(total["spoofing"].precision, Some(0.4));
        assert_eq!(total["all"].labels, 6);
    }

    /// Labels and alerts written by other tools: padded symbols, large integers as floats or strings, extra fields.
    #[test]
    fn reads_other_writers_styles() {
        let dir = std::env::temp_dir().join(format!("tw-eval-styles-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let labels = dir.join("l.jsonl");
        let alerts = dir.join("a.jsonl");
        fs::write(
            &labels,
            concat!(
                r#"{"detector":"spoofing","symbol":"AAPL    ","start_ns":3.42e13,"end_ns":"34200500000000","note":1}"#,
                "\n\n",
                r#"{"detector":"coordinated_buying","symbol":"X","start_ns":5,"end_ns":6,"#,
                r#""parameters":{"symbols":["X","Y\u0000\u0000"]}}"#,
                "\n",
                r#"{"detector":"coordinated_buying","symbol":null,"symbols":["P","Q","R"],"start_ns":1,"end_ns":2}"#,
                "\n"
            ),
        )
        .unwrap();
        fs::write(
            &alerts,
            concat!(
                r#"{"detector":"spoofing","symbol":"AAPL","event_ts_ns":34200700000000,"extra":[1]}"#,
                "\n",
                r#"{"detector":"coordinated_buying","symbol":"Y   ","event_ts_ns":6}"#,
                "\n",
                r#"{"detector":"coordinated_buying","symbol":"Q","event_ts_ns":2}"#,
                "\n"
            ),
        )
        .unwrap();
        let truth = read_truth(&labels).unwrap();
        assert_eq!(truth[0].symbols, ["AAPL"]);
        assert_eq!(truth.len(), 3);
        assert_eq!(truth[2].symbols, ["P", "Q", "R"]);
        assert_eq!(
            (truth[0].start_ns, truth[0].end_ns),
            (34_200_000_000_000, 34_200_500_000_000)
        );
        assert_eq!(truth[1].symbols, ["X", "Y"]);
        let keys = read_alerts(&alerts).unwrap();
        let s = evaluate(&keys, &truth, &[], 1_000_000_000);
        assert_eq!(s["spoofing"].precision, Some(1.0));
        assert_eq!(s["coordinated_buying"].recall, Some(1.0));
        // Not integers: a clear error naming the line and the field.
        fs::write(
            &labels,
            r#"{"detector":"spoofing","start_ns":1,"end_ns":2}"#,
        )
        .unwrap();
        let e = format!("{:#}", read_truth(&labels).unwrap_err());
        assert!(e.contains(":1:") && e.contains("symbol"), "{e}");
        for bad in [r#""start_ns":-1"#, r#""start_ns":1.5"#, r#""start_ns":"x""#] {
            fs::write(
                &labels,
                format!(r#"{{"detector":"spoofing","symbol":"A",{bad},"end_ns":2}}"#),
            )
            .unwrap();
            let e = format!("{:#}", read_truth(&labels).unwrap_err());
            assert!(e.contains(":1:") && e.contains("start_ns"), "{e}");
        }
        fs::remove_dir_all(&dir).unwrap();
    }
}
