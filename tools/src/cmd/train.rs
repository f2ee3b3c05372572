//! `tickwatch train --features FILE [--labels LABELS.jsonl] [--detector NAME] [--model logistic|trees] --out MODEL.json`:
//! fits a scoring model offline from labelled feature rows (see `detect::score::train` for the input formats) and
//! writes it as `tickwatch-model-v1` JSON, loadable by the CEP stage (`score`, `score("NAME")` in rules).
//!
//! Rows are split by symbol into a training part and a held-out part (`--holdout`, default 20 %); the model is fitted
//! on the training part and both parts' metrics (log loss, AUC, precision and recall at 0.5) are printed and stored in
//! the model's `training` object.
//!
//! Exit status: 0 on success, 2 on unreadable or invalid input.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use detect::cep::features::FEATURE_NAMES;
use detect::score::train::{
    evaluate, fit_logistic, fit_trees, read_labels, Dataset, LogisticParams, Metrics, TreeParams,
};
use detect::score::Model;
use serde_json::json;

/// Model family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// Logistic regression (standardised features, L2).
    Logistic,
    /// Gradient-boosted tree ensemble (logistic loss).
    Trees,
}

/// Arguments of `tickwatch train`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Feature rows: detect feature records (JSON lines) or CSV with `ts_ns,symbol,<features…>[,label]`.
    #[arg(long, value_name = "FILE")]
    pub features: PathBuf,
    /// `LABELS.jsonl` of `tickwatch gen`: rows overlapping a labelled episode of their symbol are positive
    /// (decoys are not). Without it the CSV needs a `label` column.
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// Only episodes of this detector count as positives; also the default model name.
    #[arg(long, value_name = "NAME")]
    pub detector: Option<String>,
    /// Episodes extend this many milliseconds past their end when labelling rows.
    #[arg(long, value_name = "MS", default_value_t = 1_000)]
    pub slack_ms: u64,
    /// Model family.
    #[arg(long, value_enum, default_value_t = Kind::Logistic)]
    pub model: Kind,
    /// Output model file (JSON).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Model name (default: the detector, or `model`).
    #[arg(long)]
    pub name: Option<String>,
    /// Features to use, comma-separated (default: every feature column).
    #[arg(long = "use", value_name = "NAMES", value_delimiter = ',')]
    pub use_features: Vec<String>,
    /// Fraction of symbols held out for evaluation.
    #[arg(long, default_value_t = 0.2)]
    pub holdout: f64,
    /// Seed of the hold-out split.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// L2 penalty (logistic weights / tree leaf values).
    #[arg(long, default_value_t = 1.0)]
    pub l2: f64,
    /// Trees: number of trees.
    #[arg(long, default_value_t = 60)]
    pub trees: usize,
    /// Trees: maximum depth.
    #[arg(long, default_value_t = 3)]
    pub depth: usize,
    /// Trees: learning rate.
    #[arg(long, default_value_t = 0.2)]
    pub learning_rate: f64,
    /// Do not re-weigh classes to equal total weight (on by default: episodes are rare).
    #[arg(long)]
    pub no_balance: bool,
}

fn line(name: &str, m: &Metrics) -> String {
    format!(
        "{name:<8} rows {:>9}  positives {:>7}  log-loss {:.4}  AUC {:.4}  precision {:.3}  recall {:.3}",
        m.rows, m.positives, m.log_loss, m.auc, m.precision, m.recall
    )
}

/// Runs `tickwatch train`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match train(&args) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("tickwatch train: {e:#}");
            Ok(ExitCode::from(2))
        }
    }
}

fn train(args: &Args) -> anyhow::Result<()> {
    if !(0.0..1.0).contains(&args.holdout) {
        bail!("--holdout must be in [0, 1)");
    }
    let text = std::fs::read_to_string(&args.features)
        .with_context(|| format!("reading {}", args.features.display()))?;
    let mut ds = Dataset::parse(&args.features.display().to_string(), &text)?;
    if let Some(l) = &args.labels {
        let lt = std::fs::read_to_string(l).with_context(|| format!("reading {}", l.display()))?;
        let eps = read_labels(&l.display().to_string(), &lt)?;
        ds.label_from(&eps, args.detector.as_deref(), args.slack_ms * 1_000_000);
    }
    if !args.use_features.is_empty() {
        ds.select(&args.use_features)?;
    }
    if ds.y.len() != ds.len() {
        bail!("rows are not labelled: give --labels, or a `label` column in the CSV");
    }
    let unknown: Vec<&str> = ds
        .names
        .iter()
        .filter(|n| !FEATURE_NAMES.contains(&n.as_str()))
        .map(|s| s.as_str())
        .collect();
    if !unknown.is_empty() {
        eprintln!(
            "warning: features {} are not in the pipeline's feature vector; the CEP stage cannot load this model",
            unknown.join(", ")
        );
    }
    let name = args
        .name
        .clone()
        .or_else(|| args.detector.clone())
        .unwrap_or_else(|| "model".into());
    let (train, hold) = ds.split(args.holdout, args.seed);
    if train.positives() == 0 || train.positives() == train.len() {
        bail!(
            "the training rows hold a single class ({} of {} positive)",
            train.positives(),
            train.len()
        );
    }
    let balance = !args.no_balance;
    let mut spec = match args.model {
        Kind::Logistic => fit_logistic(
            &train,
            &LogisticParams {
                l2: args.l2,
                balance,
                ..LogisticParams::default()
            },
            &name,
        )?,
        Kind::Trees => fit_trees(
            &train,
            &TreeParams {
                trees: args.trees,
                depth: args.depth,
                learning_rate: args.learning_rate,
                l2: args.l2,
                balance,
                ..TreeParams::default()
            },
            &name,
        )?,
    };
    let model = Model::new(spec.clone(), &args.out.display().to_string(), &ds.names)?;
    let mt = evaluate(&model, &train);
    println!("{}", line("train", &mt));
    let mut meta = spec.training.take().unwrap_or_else(|| json!({}));
    meta["input"] = json!(args.features.display().to_string());
    meta["labels"] = json!(args.labels.as_ref().map(|p| p.display().to_string()));
    meta["detector"] = json!(args.detector);
    meta["train"] = mt.to_json();
    if !hold.is_empty() {
        let mh = evaluate(&model, &hold);
        println!("{}", line("holdout", &mh));
        meta["holdout"] = mh.to_json();
    }
    spec.training = Some(meta);
    let out = serde_json::to_string_pretty(&spec)? + "\n";
    std::fs::write(&args.out, out).with_context(|| format!("writing {}", args.out.display()))?;
    println!(
        "wrote {} ({} model `{}`, {} features)",
        args.out.display(),
        spec.kind,
        spec.name,
        spec.features.len()
    );
    Ok(())
}
