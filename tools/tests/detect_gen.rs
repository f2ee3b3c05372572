//! End to end: `gen` output → decode → books → detectors → `eval` against the labels.
//!
//! The default test runs one small day (seed from `TW_GEN_SEED`, default 11) and requires every detector to reach
//! precision and recall ≥ 0.95 with no decoy hit. The 10-seed acceptance table of detect/README.md is produced by
//! `detect/scripts/eval_seeds.sh` with the release binary.

use std::path::Path;

use detect::DetectConfig;
use tools::cmd::eval::{evaluate, read_alerts, read_truth, table};
use tools::gen::check::detect_capture;
use tools::gen::{generate_to_file, write_labels, Format, GenConfig};

fn run_seed(
    dir: &Path,
    seed: u64,
    messages: u64,
    format: Format,
) -> (
    String,
    std::collections::BTreeMap<String, tools::cmd::eval::Score>,
) {
    let cfg = GenConfig {
        seed,
        messages,
        ..GenConfig::default()
    };
    let cap = dir.join(if format == Format::Pcap {
        "day.pcap"
    } else {
        "day.itch"
    });
    let summary = generate_to_file(&cfg, &cap, format).unwrap();
    let labels = dir.join("LABELS.jsonl");
    let decoys = dir.join("DECOYS.jsonl");
    write_labels(&labels, &summary.labels).unwrap();
    write_labels(&decoys, &summary.decoys).unwrap();
    let run = detect_capture(&cap, &DetectConfig::default()).unwrap();
    let alerts = dir.join("alerts.jsonl");
    std::fs::write(&alerts, &run.alerts_jsonl).unwrap();
    let scores = evaluate(
        &read_alerts(&alerts).unwrap(),
        &read_truth(&labels).unwrap(),
        &read_truth(&decoys).unwrap(),
        1_000_000_000,
    );
    (table(&scores), scores)
}

#[test]
fn gen_day_is_detected_with_high_precision_and_recall() {
    let seed: u64 = std::env::var("TW_GEN_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(11);
    let messages: u64 = std::env::var("TW_GEN_MESSAGES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let (text, scores) = run_seed(dir.path(), seed, messages, Format::Pcap);
    eprintln!("seed {seed}, {messages} messages:\n{text}");
    if let Ok(keep) = std::env::var("TW_GEN_KEEP") {
        for f in ["alerts.jsonl", "LABELS.jsonl", "DECOYS.jsonl", "day.pcap"] {
            let _ = std::fs::copy(dir.path().join(f), Path::new(&keep).join(f));
        }
    }
    for (k, s) in &scores {
        if k == "all" {
            continue;
        }
        assert!(s.labels > 0, "{k}: no labels generated");
        assert!(
            s.precision.unwrap_or(0.0) >= 0.95,
            "{k}: precision {:?}\n{text}",
            s.precision
        );
        assert!(
            s.recall.unwrap_or(0.0) >= 0.95,
            "{k}: recall {:?}\n{text}",
            s.recall
        );
        assert_eq!(s.decoy_hits, 0, "{k}: decoy hits\n{text}");
    }
    assert_eq!(scores.len(), 8, "7 detectors + all\n{text}");
}
