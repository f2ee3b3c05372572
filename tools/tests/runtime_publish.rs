//! `replay` publishes book snapshots (periodic and one per alert) and tumbling-window feature records besides the
//! alerts: as JSON lines here (the same payloads go to Kafka with --brokers), matching the publish schemas' fields.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const TW: &str = env!("CARGO_BIN_EXE_tickwatch");

fn lines(p: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn required(schema: &str) -> Vec<String> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../publish/schema")
        .join(schema);
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    v["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn snapshots_and_features_accompany_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("day.pcap");
    let gen = Command::new(TW)
        .args([
            "gen",
            "--seed",
            "3",
            "--symbols",
            "20",
            "--messages",
            "80000",
            "--episodes",
            "1",
            "--decoys",
            "0",
            "-o",
        ])
        .arg(&cap)
        .output()
        .unwrap();
    assert!(
        gen.status.success(),
        "{}",
        String::from_utf8_lossy(&gen.stderr)
    );
    let det = dir.path().join("det.toml");
    std::fs::write(&det, "[features]\ntumbling_ms = 60000\n").unwrap();
    for layout in [
        None,
        Some("[[threads]]\nname='all'\nstages=['receive','book','detect']\n"),
        Some(
            "book_shards = 2\n[[threads]]\nname='rx'\nstages=['receive']\n[[threads]]\nname='b'\nstages=['book']\n\
             [[threads]]\nname='d'\nstages=['detect']\nwait='park'\n",
        ),
    ] {
        let mut cmd = Command::new(TW);
        cmd.args(["replay", "-q", "--snapshot-interval-ms", "600000", "--snapshot-depth", "5", "--detectors"])
            .arg(&det)
            .arg("--alerts-out")
            .arg(dir.path().join("a.jsonl"))
            .arg("--snapshots-out")
            .arg(dir.path().join("s.jsonl"))
            .arg("--features-out")
            .arg(dir.path().join("f.jsonl"))
            .arg(&cap);
        if let Some(text) = layout {
            let cfg = dir.path().join("layout.toml");
            std::fs::write(&cfg, text).unwrap();
            cmd.arg("--config").arg(cfg);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let alerts = lines(&dir.path().join("a.jsonl"));
        let snaps = lines(&dir.path().join("s.jsonl"));
        let feats = lines(&dir.path().join("f.jsonl"));
        assert!(alerts.len() >= 5, "{layout:?}: {} alerts", alerts.len());
        // One alert snapshot per alert, for the alerted symbol, naming the detector.
        let mut want: BTreeMap<(String, String), usize> = BTreeMap::new();
        for a in &alerts {
            *want.entry((a["symbol"].as_str().unwrap().into(), a["detector"].as_str().unwrap().into())).or_default() += 1;
        }
        let mut got: BTreeMap<(String, String), usize> = BTreeMap::new();
        let snap_keys = required("snapshot.schema.json");
        for s in &snaps {
            for k in &snap_keys {
                assert!(s.get(k).is_some(), "snapshot lacks {k}: {s}");
            }
            let px = |side: &str| -> Vec<i64> { s[side].as_array().unwrap().iter().map(|l| l["price"].as_i64().unwrap()).collect() };
            let (bids, asks) = (px("bids"), px("asks"));
            assert!(bids.len() <= 5 && asks.len() <= 5);
            assert!(bids.windows(2).all(|w| w[0] > w[1]), "bids best first: {s}");
            assert!(asks.windows(2).all(|w| w[0] < w[1]), "asks best first: {s}");
            if s["reason"] == "alert" {
                *got.entry((s["symbol"].as_str().unwrap().into(), s["trigger"].as_str().unwrap().into())).or_default() += 1;
            }
        }
        assert_eq!(got, want, "{layout:?}: alert snapshots");
        assert!(snaps.iter().any(|s| s["reason"] == "periodic"), "{layout:?}: no periodic snapshot");
        let feat_keys = required("feature.schema.json");
        assert!(!feats.is_empty(), "{layout:?}: no feature records");
        for f in &feats {
            for k in &feat_keys {
                assert!(f.get(k).is_some(), "feature record lacks {k}: {f}");
            }
            assert_eq!(f["window"], "tumbling");
        }
    }
}
