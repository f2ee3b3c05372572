//! Offline training of scoring models (`tickwatch train`): reads labelled feature rows, fits a logistic regression
//! or a small gradient-boosted tree ensemble, and writes a [`super::ModelSpec`] (`tickwatch-model-v1` JSON).
//!
//! # Input
//! Feature rows, in one of two formats (chosen by content: a first non-blank character `{` means JSON lines):
//! - **JSON lines of detect feature records** — what the detect stage emits (`FeatureSnapshot::write_json`,
//!   `{"record":"features","symbol":…,"window_start_ns":…,"window_end_ns":…,"messages":…,…}`). Keys are mapped to
//!   the names of the pipeline's feature vector ([`crate::cep::features::FEATURE_NAMES`]: `message_rate_per_s` →
//!   `message_rate`, `bid_price` → `bid`, `ask_price` → `ask`; `mid`, `spread`, `spread_bps` are derived; `null`
//!   and a 0 median are missing). A row covers `[window_start_ns, window_end_ns]`.
//! - **CSV** with a header: `ts_ns` and `symbol` columns, an optional `label` column (0/1), and one column per
//!   feature (any other name; empty cell = missing). A row covers the instant `ts_ns`. `stock_locate` and
//!   `window_start_ns` columns are ignored (or, for `window_start_ns`, make the row cover `[window_start_ns, ts_ns]`).
//!
//! Labels come from the CSV `label` column, or from a `tickwatch gen` `LABELS.jsonl` ([`Episode`]): a row is
//! positive when its span overlaps `[start_ns, end_ns + slack]` of a labelled episode of the same symbol (optionally
//! only episodes of one detector). Decoys (records with a `decoy` key) are not positives.
//!
//! # Output
//! A model whose `features` are the training columns used; to be scored in the pipeline they must be names of its
//! feature vector. Training metadata (rows, positives, parameters, metrics on the training rows and on a held-out
//! part) goes into the model's `training` object.
//!
//! Cold path: everything here allocates freely.

// Dense linear algebra and per-row loops read best with explicit indices.
#![allow(clippy::needless_range_loop)]

use std::collections::HashMap;

use serde_json::{json, Value};

use super::{Model, ModelSpec, TreeNodeSpec, TreeSpec, FORMAT};

/// A training-data problem, with the line it is on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// The input is malformed.
    #[error("{file}:{line}: {message}")]
    Invalid {
        /// File name.
        file: String,
        /// 1-based line (0 when not tied to a line).
        line: usize,
        /// What is wrong.
        message: String,
    },
}

fn bad(file: &str, line: usize, message: impl Into<String>) -> TrainError {
    TrainError::Invalid {
        file: file.to_owned(),
        line,
        message: message.into(),
    }
}

/// Labelled feature rows.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// Feature names (columns of `x`).
    pub names: Vec<String>,
    /// Rows of feature values (`NaN` = missing).
    pub x: Vec<Vec<f64>>,
    /// Labels (0 or 1); empty until labelled.
    pub y: Vec<f64>,
    /// Symbol of each row.
    pub symbols: Vec<String>,
    /// Span of each row: `(start_ns, end_ns)`.
    pub spans: Vec<(u64, u64)>,
}

/// A labelled episode of `tickwatch gen` (one line of `LABELS.jsonl`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Episode {
    /// Detector name.
    pub detector: String,
    /// Symbol.
    pub symbol: String,
    /// First event of the episode.
    pub start_ns: u64,
    /// Completing event.
    pub end_ns: u64,
    /// Whether this is a decoy (near miss), not an episode.
    pub decoy: bool,
}

/// Parses `LABELS.jsonl`.
pub fn read_labels(file: &str, text: &str) -> Result<Vec<Episode>, TrainError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line).map_err(|e| bad(file, i + 1, e.to_string()))?;
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
        let n = |k: &str| v.get(k).and_then(|x| x.as_u64());
        let (Some(detector), Some(symbol), Some(start_ns), Some(end_ns)) =
            (s("detector"), s("symbol"), n("start_ns"), n("end_ns"))
        else {
            return Err(bad(
                file,
                i + 1,
                "a label needs detector, symbol, start_ns and end_ns",
            ));
        };
        out.push(Episode {
            detector,
            symbol,
            start_ns,
            end_ns,
            decoy: v.get("decoy").is_some_and(|d| !d.is_null()),
        });
    }
    Ok(out)
}

const RECORD_KEYS: [(&str, &str); 20] = [
    ("message_rate_per_s", "message_rate"),
    ("messages", "messages"),
    ("adds", "adds"),
    ("cancels", "cancels"),
    ("deletes", "deletes"),
    ("replaces", "replaces"),
    ("executions", "executions"),
    ("volume", "volume"),
    ("notional", "notional"),
    ("order_to_trade", "order_to_trade"),
    ("cancel_rate", "cancel_rate"),
    ("vwap", "vwap"),
    ("median_order_size", "median_order_size"),
    ("move_bps", "move_bps"),
    ("last_price", "last_price"),
    ("bid_price", "bid"),
    ("ask_price", "ask"),
    ("bid_qty", "bid_qty"),
    ("ask_qty", "ask_qty"),
    ("window_end_ns", ""),
];

impl Dataset {
    /// Parses feature rows (JSON lines of feature records, or CSV; see the module docs).
    pub fn parse(file: &str, text: &str) -> Result<Dataset, TrainError> {
        if text.trim_start().starts_with('{') {
            Dataset::parse_records(file, text)
        } else {
            Dataset::parse_csv(file, text)
        }
    }

    fn parse_records(file: &str, text: &str) -> Result<Dataset, TrainError> {
        let mut names: Vec<String> = RECORD_KEYS
            .iter()
            .filter(|k| !k.1.is_empty())
            .map(|k| k.1.to_owned())
            .collect();
        names.extend(["mid", "spread", "spread_bps"].map(str::to_owned));
        let mut d = Dataset {
            names,
            ..Default::default()
        };
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let v: Value =
                serde_json::from_str(line).map_err(|e| bad(file, i + 1, e.to_string()))?;
            if v.get("record")
                .and_then(|r| r.as_str())
                .is_some_and(|r| r != "features")
            {
                continue;
            }
            let Some(symbol) = v.get("symbol").and_then(|s| s.as_str()) else {
                return Err(bad(file, i + 1, "a feature record needs `symbol`"));
            };
            let (Some(t0), Some(t1)) = (
                v.get("window_start_ns").and_then(|x| x.as_u64()),
                v.get("window_end_ns").and_then(|x| x.as_u64()),
            ) else {
                return Err(bad(
                    file,
                    i + 1,
                    "a feature record needs window_start_ns and window_end_ns",
                ));
            };
            let mut row = Vec::with_capacity(d.names.len());
            for (key, name) in RECORD_KEYS {
                if name.is_empty() {
                    continue;
                }
                let x = v.get(key).and_then(|x| x.as_f64()).unwrap_or(f64::NAN);
                row.push(if name == "median_order_size" && x == 0.0 {
                    f64::NAN
                } else {
                    x
                });
            }
            let (bid, ask) = (row[15], row[16]);
            row.push((bid + ask) / 2.0);
            row.push(ask - bid);
            row.push((ask - bid) / ((bid + ask) / 2.0) * 1e4);
            d.x.push(row);
            d.symbols.push(symbol.to_owned());
            d.spans.push((t0, t1));
        }
        Ok(d)
    }

    fn parse_csv(file: &str, text: &str) -> Result<Dataset, TrainError> {
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let Some((_, header)) = lines.next() else {
            return Err(bad(file, 1, "empty file"));
        };
        let cols: Vec<String> = header.split(',').map(|c| c.trim().to_owned()).collect();
        let find = |n: &str| cols.iter().position(|c| c == n);
        let (Some(ts_col), Some(sym_col)) = (find("ts_ns"), find("symbol")) else {
            return Err(bad(
                file,
                1,
                "the header needs `ts_ns` and `symbol` columns",
            ));
        };
        let label_col = find("label");
        let start_col = find("window_start_ns");
        let skip = |i: usize| {
            i == ts_col
                || i == sym_col
                || Some(i) == label_col
                || Some(i) == start_col
                || cols[i] == "stock_locate"
        };
        let feat_cols: Vec<usize> = (0..cols.len()).filter(|&i| !skip(i)).collect();
        let mut d = Dataset {
            names: feat_cols.iter().map(|&i| cols[i].clone()).collect(),
            ..Default::default()
        };
        for (i, line) in lines {
            let cells: Vec<&str> = line.split(',').map(str::trim).collect();
            if cells.len() != cols.len() {
                return Err(bad(
                    file,
                    i + 1,
                    format!("{} cells, expected {}", cells.len(), cols.len()),
                ));
            }
            let ts: u64 = cells[ts_col].parse().map_err(|_| {
                bad(
                    file,
                    i + 1,
                    format!("ts_ns `{}` is not an integer", cells[ts_col]),
                )
            })?;
            let t0 = match start_col {
                Some(c) => cells[c]
                    .parse()
                    .map_err(|_| bad(file, i + 1, "window_start_ns is not an integer"))?,
                None => ts,
            };
            let mut row = Vec::with_capacity(feat_cols.len());
            for &c in &feat_cols {
                let cell = cells[c];
                row.push(if cell.is_empty() {
                    f64::NAN
                } else {
                    cell.parse().map_err(|_| {
                        bad(
                            file,
                            i + 1,
                            format!("column `{}`: `{cell}` is not a number", cols[c]),
                        )
                    })?
                });
            }
            if let Some(lc) = label_col {
                d.y.push(match cells[lc] {
                    "1" | "true" => 1.0,
                    "0" | "false" => 0.0,
                    other => {
                        return Err(bad(file, i + 1, format!("label `{other}` is not 0 or 1")))
                    }
                });
            }
            d.x.push(row);
            d.symbols.push(cells[sym_col].to_owned());
            d.spans.push((t0, ts));
        }
        Ok(d)
    }

    /// Labels every row from episodes: positive when the row's span overlaps `[start_ns, end_ns + slack_ns]` of a
    /// non-decoy episode of the same symbol (and of `detector`, when given).
    pub fn label_from(&mut self, episodes: &[Episode], detector: Option<&str>, slack_ns: u64) {
        let mut by_sym: HashMap<&str, Vec<(u64, u64)>> = HashMap::new();
        for e in episodes
            .iter()
            .filter(|e| !e.decoy && detector.is_none_or(|d| d == e.detector))
        {
            by_sym
                .entry(e.symbol.as_str())
                .or_default()
                .push((e.start_ns, e.end_ns.saturating_add(slack_ns)));
        }
        self.y = self
            .symbols
            .iter()
            .zip(&self.spans)
            .map(|(s, &(a, b))| {
                let hit = by_sym
                    .get(s.as_str())
                    .is_some_and(|v| v.iter().any(|&(s0, s1)| a <= s1 && b >= s0));
                if hit {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
    }

    /// Keeps only the named feature columns (in that order).
    pub fn select(&mut self, names: &[String]) -> Result<(), TrainError> {
        let mut idx = Vec::new();
        for n in names {
            let i = self.names.iter().position(|x| x == n).ok_or_else(|| {
                bad(
                    "features",
                    0,
                    format!(
                        "no feature `{n}` in the data (have: {})",
                        self.names.join(", ")
                    ),
                )
            })?;
            idx.push(i);
        }
        for row in &mut self.x {
            *row = idx.iter().map(|&i| row[i]).collect();
        }
        self.names = names.to_vec();
        Ok(())
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.x.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }

    /// Number of positive rows.
    pub fn positives(&self) -> usize {
        self.y.iter().filter(|&&y| y > 0.5).count()
    }

    /// Splits rows into (train, holdout): a row goes to the holdout when a hash of its symbol and `seed` falls in
    /// `holdout` (a fraction), so one symbol's rows stay together (no leakage between neighbouring windows).
    pub fn split(&self, holdout: f64, seed: u64) -> (Dataset, Dataset) {
        let mut a = Dataset {
            names: self.names.clone(),
            ..Default::default()
        };
        let mut b = a.clone();
        for i in 0..self.len() {
            let mut h = seed ^ 0x9E37_79B9_7F4A_7C15;
            for c in self.symbols[i].bytes() {
                h = (h ^ c as u64).wrapping_mul(0x0100_0000_01B3);
            }
            h ^= h >> 31;
            let to = if ((h % 10_000) as f64) < holdout * 10_000.0 {
                &mut b
            } else {
                &mut a
            };
            to.x.push(self.x[i].clone());
            if !self.y.is_empty() {
                to.y.push(self.y[i]);
            }
            to.symbols.push(self.symbols[i].clone());
            to.spans.push(self.spans[i]);
        }
        (a, b)
    }
}

/// Per-row weights: 1, or balanced classes (each class weighs half of the total).
fn weights(y: &[f64], balance: bool) -> Vec<f64> {
    let n = y.len() as f64;
    let pos = y.iter().filter(|&&v| v > 0.5).count() as f64;
    if !balance || pos == 0.0 || pos == n {
        return vec![1.0; y.len()];
    }
    let (wp, wn) = (n / (2.0 * pos), n / (2.0 * (n - pos)));
    y.iter().map(|&v| if v > 0.5 { wp } else { wn }).collect()
}

/// Logistic-regression parameters.
#[derive(Debug, Clone, Copy)]
pub struct LogisticParams {
    /// L2 penalty on the (standardised) weights.
    pub l2: f64,
    /// Maximum Newton iterations.
    pub max_iter: usize,
    /// Weigh both classes equally.
    pub balance: bool,
}

impl Default for LogisticParams {
    fn default() -> Self {
        LogisticParams {
            l2: 1.0,
            max_iter: 50,
            balance: true,
        }
    }
}

/// Solves `a x = b` for a symmetric positive definite `a` (Cholesky). `None` if not positive definite.
fn cholesky_solve(a: &[Vec<f64>], b: &[f64]) -> Option<Vec<f64>> {
    let n = b.len();
    let mut l = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let mut s = a[i][j];
            for k in 0..j {
                s -= l[i][k] * l[j][k];
            }
            if i == j {
                if s <= 0.0 {
                    return None;
                }
                l[i][i] = s.sqrt();
            } else {
                l[i][j] = s / l[j][j];
            }
        }
    }
    let mut z = vec![0.0; n];
    for i in 0..n {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i][k] * z[k];
        }
        z[i] = s / l[i][i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let mut s = z[i];
        for k in i + 1..n {
            s -= l[k][i] * x[k];
        }
        x[i] = s / l[i][i];
    }
    Some(x)
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Fits a logistic regression (standardised features, missing = mean, L2-penalised Newton iterations).
pub fn fit_logistic(ds: &Dataset, p: &LogisticParams, name: &str) -> Result<ModelSpec, TrainError> {
    check(ds)?;
    let d = ds.names.len();
    let (mut mean, mut scale) = (vec![0.0; d], vec![1.0; d]);
    for j in 0..d {
        let v: Vec<f64> =
            ds.x.iter()
                .map(|r| r[j])
                .filter(|x| x.is_finite())
                .collect();
        if !v.is_empty() {
            let m = v.iter().sum::<f64>() / v.len() as f64;
            let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64;
            mean[j] = m;
            scale[j] = if var.sqrt() > 1e-12 { var.sqrt() } else { 1.0 };
        }
    }
    let z: Vec<Vec<f64>> =
        ds.x.iter()
            .map(|r| {
                (0..d)
                    .map(|j| {
                        if r[j].is_finite() {
                            (r[j] - mean[j]) / scale[j]
                        } else {
                            0.0
                        }
                    })
                    .collect()
            })
            .collect();
    let w = weights(&ds.y, p.balance);
    // Parameters: [bias, w_1 .. w_d].
    let mut beta = vec![0.0; d + 1];
    let mut iters = 0;
    for _ in 0..p.max_iter {
        iters += 1;
        let mut g = vec![0.0; d + 1];
        let mut h = vec![vec![0.0; d + 1]; d + 1];
        for (i, zi) in z.iter().enumerate() {
            let mut s = beta[0];
            for j in 0..d {
                s += beta[j + 1] * zi[j];
            }
            let pi = sigmoid(s);
            let r = w[i] * (pi - ds.y[i]);
            let q = w[i] * (pi * (1.0 - pi)).max(1e-12);
            let xi = |j: usize| if j == 0 { 1.0 } else { zi[j - 1] };
            for a in 0..=d {
                g[a] += r * xi(a);
                for b in 0..=a {
                    h[a][b] += q * xi(a) * xi(b);
                }
            }
        }
        for a in 0..=d {
            for b in 0..a {
                h[b][a] = h[a][b];
            }
            if a > 0 {
                g[a] += p.l2 * beta[a];
                h[a][a] += p.l2;
            }
        }
        h[0][0] += 1e-9;
        let Some(step) = cholesky_solve(&h, &g) else {
            break;
        };
        let mut delta = 0.0f64;
        for a in 0..=d {
            beta[a] -= step[a];
            delta = delta.max(step[a].abs());
        }
        if delta < 1e-8 {
            break;
        }
    }
    Ok(ModelSpec {
        format: FORMAT.into(),
        name: name.into(),
        kind: "logistic".into(),
        features: ds.names.clone(),
        mean: Some(mean),
        scale: Some(scale),
        weights: Some(beta[1..].to_vec()),
        bias: Some(beta[0]),
        base_score: None,
        link: None,
        trees: None,
        training: Some(
            json!({"algorithm": "logistic (Newton, L2)", "l2": p.l2, "iterations": iters,
                              "balanced": p.balance}),
        ),
    })
}

/// Tree-ensemble (gradient boosting, logistic loss) parameters.
#[derive(Debug, Clone, Copy)]
pub struct TreeParams {
    /// Number of trees.
    pub trees: usize,
    /// Maximum depth of a tree.
    pub depth: usize,
    /// Shrinkage of each tree's leaves.
    pub learning_rate: f64,
    /// Minimum total (weighted) hessian in a leaf.
    pub min_leaf: f64,
    /// L2 penalty on leaf values.
    pub l2: f64,
    /// Candidate thresholds per feature (quantiles).
    pub bins: usize,
    /// Weigh both classes equally.
    pub balance: bool,
}

impl Default for TreeParams {
    fn default() -> Self {
        TreeParams {
            trees: 60,
            depth: 3,
            learning_rate: 0.2,
            min_leaf: 1.0,
            l2: 1.0,
            bins: 32,
            balance: true,
        }
    }
}

/// Candidate thresholds of each feature: midpoints between distinct quantile values.
fn thresholds(ds: &Dataset, bins: usize) -> Vec<Vec<f64>> {
    (0..ds.names.len())
        .map(|j| {
            let mut v: Vec<f64> =
                ds.x.iter()
                    .map(|r| r[j])
                    .filter(|x| x.is_finite())
                    .collect();
            v.sort_by(f64::total_cmp);
            v.dedup();
            if v.len() < 2 {
                return Vec::new();
            }
            let mut t = Vec::new();
            let k = bins.max(2).min(v.len());
            for q in 1..k {
                let i = q * (v.len() - 1) / k;
                let mid = (v[i] + v[i + 1]) / 2.0;
                if t.last() != Some(&mid) {
                    t.push(mid);
                }
            }
            t
        })
        .collect()
}

struct Split {
    feature: usize,
    threshold: f64,
    missing_left: bool,
    gain: f64,
}

fn best_split(
    ds: &Dataset,
    rows: &[usize],
    g: &[f64],
    h: &[f64],
    th: &[Vec<f64>],
    p: &TreeParams,
) -> Option<Split> {
    let (gt, ht): (f64, f64) = rows
        .iter()
        .fold((0.0, 0.0), |a, &i| (a.0 + g[i], a.1 + h[i]));
    let score = |gs: f64, hs: f64| gs * gs / (hs + p.l2);
    let parent = score(gt, ht);
    let mut best: Option<Split> = None;
    for (j, ts) in th.iter().enumerate() {
        if ts.is_empty() {
            continue;
        }
        // Histogram of (g, h) per threshold bucket, plus missing.
        let mut bg = vec![0.0; ts.len() + 1];
        let mut bh = vec![0.0; ts.len() + 1];
        let (mut mg, mut mh) = (0.0, 0.0);
        for &i in rows {
            let x = ds.x[i][j];
            if !x.is_finite() {
                mg += g[i];
                mh += h[i];
                continue;
            }
            let b = ts.partition_point(|&t| t <= x);
            bg[b] += g[i];
            bh[b] += h[i];
        }
        let (mut lg, mut lh) = (0.0, 0.0);
        for (k, &t) in ts.iter().enumerate() {
            lg += bg[k];
            lh += bh[k];
            for missing_left in [true, false] {
                let (gl, hl) = if missing_left {
                    (lg + mg, lh + mh)
                } else {
                    (lg, lh)
                };
                let (gr, hr) = (gt - gl, ht - hl);
                if hl < p.min_leaf || hr < p.min_leaf {
                    continue;
                }
                let gain = score(gl, hl) + score(gr, hr) - parent;
                if gain > 1e-9 && best.as_ref().is_none_or(|b| gain > b.gain) {
                    best = Some(Split {
                        feature: j,
                        threshold: t,
                        missing_left,
                        gain,
                    });
                }
            }
        }
    }
    best
}

#[allow(clippy::too_many_arguments)]
fn grow(
    ds: &Dataset,
    rows: Vec<usize>,
    depth: usize,
    g: &[f64],
    h: &[f64],
    th: &[Vec<f64>],
    p: &TreeParams,
    nodes: &mut Vec<TreeNodeSpec>,
) -> usize {
    let me = nodes.len();
    nodes.push(TreeNodeSpec {
        feature: None,
        threshold: None,
        left: None,
        right: None,
        missing: None,
        value: None,
    });
    let split = if depth < p.depth {
        best_split(ds, &rows, g, h, th, p)
    } else {
        None
    };
    match split {
        None => {
            let (gs, hs): (f64, f64) = rows
                .iter()
                .fold((0.0, 0.0), |a, &i| (a.0 + g[i], a.1 + h[i]));
            nodes[me].value = Some(-gs / (hs + p.l2) * p.learning_rate);
        }
        Some(s) => {
            let (l, r): (Vec<usize>, Vec<usize>) = rows.into_iter().partition(|&i| {
                let x = ds.x[i][s.feature];
                if x.is_finite() {
                    x < s.threshold
                } else {
                    s.missing_left
                }
            });
            let li = grow(ds, l, depth + 1, g, h, th, p, nodes);
            let ri = grow(ds, r, depth + 1, g, h, th, p, nodes);
            let n = &mut nodes[me];
            n.feature = Some(s.feature);
            n.threshold = Some(s.threshold);
            n.left = Some(li);
            n.right = Some(ri);
            n.missing = Some(if s.missing_left { "left" } else { "right" }.into());
        }
    }
    me
}

fn tree_value(nodes: &[TreeNodeSpec], x: &[f64]) -> f64 {
    let mut n = &nodes[0];
    while let (Some(f), Some(t), Some(l), Some(r)) = (n.feature, n.threshold, n.left, n.right) {
        let v = x[f];
        let left = if v.is_finite() {
            v < t
        } else {
            n.missing.as_deref() != Some("right")
        };
        n = &nodes[if left { l } else { r }];
    }
    n.value.unwrap_or(0.0)
}

/// Fits a gradient-boosted tree ensemble with logistic loss.
pub fn fit_trees(ds: &Dataset, p: &TreeParams, name: &str) -> Result<ModelSpec, TrainError> {
    check(ds)?;
    let w = weights(&ds.y, p.balance);
    let wsum: f64 = w.iter().sum();
    let pos: f64 = ds.y.iter().zip(&w).map(|(y, w)| y * w).sum();
    let prior = (pos / wsum).clamp(1e-6, 1.0 - 1e-6);
    let base = (prior / (1.0 - prior)).ln();
    let th = thresholds(ds, p.bins);
    let mut margin = vec![base; ds.len()];
    let mut trees = Vec::with_capacity(p.trees);
    let all: Vec<usize> = (0..ds.len()).collect();
    for _ in 0..p.trees {
        let mut g = vec![0.0; ds.len()];
        let mut h = vec![0.0; ds.len()];
        for i in 0..ds.len() {
            let pi = sigmoid(margin[i]);
            g[i] = w[i] * (pi - ds.y[i]);
            h[i] = w[i] * (pi * (1.0 - pi)).max(1e-12);
        }
        let mut nodes = Vec::new();
        grow(ds, all.clone(), 0, &g, &h, &th, p, &mut nodes);
        for i in 0..ds.len() {
            margin[i] += tree_value(&nodes, &ds.x[i]);
        }
        trees.push(TreeSpec { nodes });
    }
    Ok(ModelSpec {
        format: FORMAT.into(),
        name: name.into(),
        kind: "tree_ensemble".into(),
        features: ds.names.clone(),
        mean: None,
        scale: None,
        weights: None,
        bias: None,
        base_score: Some(base),
        link: Some("logistic".into()),
        trees: Some(trees),
        training: Some(
            json!({"algorithm": "gradient boosting (logistic loss)", "trees": p.trees,
                              "depth": p.depth, "learning_rate": p.learning_rate, "min_leaf": p.min_leaf,
                              "l2": p.l2, "bins": p.bins, "balanced": p.balance}),
        ),
    })
}

fn check(ds: &Dataset) -> Result<(), TrainError> {
    if ds.is_empty() {
        return Err(bad("features", 0, "no rows"));
    }
    if ds.y.len() != ds.len() {
        return Err(bad(
            "features",
            0,
            "rows are not labelled (no `label` column and no labels given)",
        ));
    }
    if ds.names.is_empty() {
        return Err(bad("features", 0, "no feature columns"));
    }
    Ok(())
}

/// Quality of a model on labelled rows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metrics {
    /// Rows.
    pub rows: usize,
    /// Positive rows.
    pub positives: usize,
    /// Mean log loss.
    pub log_loss: f64,
    /// Area under the ROC curve (`NaN` with one class only).
    pub auc: f64,
    /// Precision at score ≥ 0.5.
    pub precision: f64,
    /// Recall at score ≥ 0.5.
    pub recall: f64,
}

impl Metrics {
    /// As JSON.
    pub fn to_json(&self) -> Value {
        let f = |x: f64| if x.is_finite() { json!(x) } else { Value::Null };
        json!({"rows": self.rows, "positives": self.positives, "log_loss": f(self.log_loss), "auc": f(self.auc),
               "precision": f(self.precision), "recall": f(self.recall)})
    }
}

/// Scores `ds` with `model` (bound to `ds.names`) and measures it.
pub fn evaluate(model: &Model, ds: &Dataset) -> Metrics {
    let s: Vec<f64> = ds.x.iter().map(|r| model.score(r)).collect();
    let n = ds.len();
    let pos = ds.positives();
    let mut ll = 0.0;
    let (mut tp, mut fp, mut fneg) = (0usize, 0usize, 0usize);
    for (i, &p) in s.iter().enumerate() {
        let p = p.clamp(1e-12, 1.0 - 1e-12);
        let y = ds.y[i] > 0.5;
        ll -= if y { p.ln() } else { (1.0 - p).ln() };
        match (p >= 0.5, y) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fneg += 1,
            _ => {}
        }
    }
    // AUC by ranks (ties averaged).
    let auc = if pos == 0 || pos == n {
        f64::NAN
    } else {
        let mut idx: Vec<usize> = (0..n).collect();
        idx.sort_by(|&a, &b| s[a].total_cmp(&s[b]));
        let mut rank_sum = 0.0;
        let mut i = 0;
        while i < n {
            let mut j = i;
            while j + 1 < n && s[idx[j + 1]] == s[idx[i]] {
                j += 1;
            }
            let r = (i + j) as f64 / 2.0 + 1.0;
            for &k in &idx[i..=j] {
                if ds.y[k] > 0.5 {
                    rank_sum += r;
                }
            }
            i = j + 1;
        }
        let (np, nn) = (pos as f64, (n - pos) as f64);
        (rank_sum - np * (np + 1.0) / 2.0) / (np * nn)
    };
    Metrics {
        rows: n,
        positives: pos,
        log_loss: ll / n.max(1) as f64,
        auc,
        precision: if tp + fp == 0 {
            f64::NAN
        } else {
            tp as f64 / (tp + fp) as f64
        },
        recall: if tp + fneg == 0 {
            f64::NAN
        } else {
            tp as f64 / (tp + fneg) as f64
        },
    }
}
