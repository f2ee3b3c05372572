//! `tickwatch demo`: generates, replays and prints alerts (JSON lines on stdout) and the summary (stderr).

use std::process::Command;

#[test]
fn demo_prints_alerts_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tickwatch"))
        .args([
            "demo",
            "--messages",
            "60000",
            "--symbols",
            "20",
            "--episodes",
            "1",
            "--decoys",
            "1",
            "--dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut detectors = std::collections::BTreeSet::new();
    for line in stdout.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        detectors.insert(v["detector"].as_str().unwrap().to_string());
        assert!(
            v.get("latency_ns").is_none(),
            "replay output must not carry latency_ns"
        );
    }
    // One labelled episode per detector was injected; the summary reports precision/recall against them.
    assert!(detectors.len() >= 5, "alerts from only {detectors:?}");
    for needle in [
        "demo replay:",
        "receive→decoded",
        "p99.99",
        "precision",
        "recall",
    ] {
        assert!(stderr.contains(needle), "missing {needle:?} in:\n{stderr}");
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join("alerts.jsonl")).unwrap(),
        stdout,
        "stdout carries exactly the published alerts"
    );
    assert!(dir.path().join("latency.hlog").metadata().unwrap().len() > 100);
}
