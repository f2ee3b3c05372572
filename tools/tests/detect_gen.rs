//! End to end through the binary: `tickwatch gen` → `tickwatch replay --alerts-out` → `tickwatch eval`.
//!
//! - Generated days (seeds from `TW_GEN_SEEDS`, default `11 12`; `TW_GEN_MESSAGES` background messages, default
//!   1 M) must each give every detector precision and recall ≥ 0.95 and no decoy hit.
//! - Two replays of the same capture give byte-identical alerts, equal to the in-process path
//!   (`tools::gen::check`), and two `gen` runs with the same flags give byte-identical captures and labels.
//!
//! The 10-seed table of detect/README.md comes from `detect/scripts/eval_seeds.sh` (release binary).

use std::path::Path;
use std::process::Command;

use detect::DetectConfig;
use tools::gen::check::detect_capture;

fn tw(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_tickwatch"))
        .args(args)
        .output()
        .expect("run tickwatch");
    if !out.status.success() && out.status.code() != Some(1) {
        panic!(
            "tickwatch {args:?} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

fn gen(dir: &Path, seed: u64, messages: u64, name: &str) {
    let p = |f: &str| dir.join(f).to_str().unwrap().to_string();
    let out = tw(&[
        "gen",
        "--seed",
        &seed.to_string(),
        "--messages",
        &messages.to_string(),
        "--out",
        &p(name),
        "--labels",
        &p(&format!("{name}.labels.jsonl")),
        "--decoys-out",
        &p(&format!("{name}.decoys.jsonl")),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn gen_replay_eval_meets_the_bar() {
    let seeds: Vec<u64> = std::env::var("TW_GEN_SEEDS")
        .unwrap_or_else(|_| "11 12".into())
        .split_whitespace()
        .map(|s| s.parse().expect("TW_GEN_SEEDS: seeds separated by spaces"))
        .collect();
    let messages: u64 = std::env::var("TW_GEN_MESSAGES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    assert!(!seeds.is_empty());
    for (i, &seed) in seeds.iter().enumerate() {
        one_day(seed, messages, i == 0);
    }
}

/// gen → replay → eval for one seed; `determinism` also replays twice and compares with the in-process path.
fn one_day(seed: u64, messages: u64, determinism: bool) {
    let dir = tempfile::tempdir().unwrap();
    let p = |f: &str| dir.path().join(f).to_str().unwrap().to_string();
    gen(dir.path(), seed, messages, "day.pcap");

    let replay = tw(&["replay", &p("day.pcap"), "--alerts-out", &p("alerts.jsonl")]);
    assert!(
        replay.status.success(),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    let eval = tw(&[
        "eval",
        "--alerts",
        &p("alerts.jsonl"),
        "--labels",
        &p("day.pcap.labels.jsonl"),
        "--decoys",
        &p("day.pcap.decoys.jsonl"),
        "--json-out",
        &p("eval.json"),
        "--min-precision",
        "0.95",
        "--min-recall",
        "0.95",
        "--no-decoy-hits",
    ]);
    let table = String::from_utf8_lossy(&eval.stdout).to_string();
    eprintln!(
        "seed {seed}, {messages} messages:\n{table}{}",
        String::from_utf8_lossy(&eval.stderr)
    );
    if let Ok(keep) = std::env::var("TW_GEN_KEEP") {
        let keep = Path::new(&keep).join(format!("seed{seed}"));
        std::fs::create_dir_all(&keep).unwrap();
        for f in [
            "alerts.jsonl",
            "day.pcap.labels.jsonl",
            "day.pcap.decoys.jsonl",
            "day.pcap",
            "eval.json",
        ] {
            let _ = std::fs::copy(dir.path().join(f), keep.join(f));
        }
    }
    assert!(
        eval.status.success(),
        "seed {seed}: below the bar or decoy hit:\n{table}"
    );
    let scores: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p("eval.json")).unwrap()).unwrap();
    for d in detect::DetectorKind::ALL.map(|k| k.name()) {
        assert!(
            scores[d]["labels"].as_u64().unwrap_or(0) > 0,
            "{d}: no labels\n{table}"
        );
    }
    if !determinism {
        return;
    }

    // Determinism: a second replay, and the in-process path, give the same bytes.
    let again = tw(&[
        "replay",
        &p("day.pcap"),
        "--alerts-out",
        &p("alerts2.jsonl"),
    ]);
    assert!(again.status.success());
    let a1 = std::fs::read(p("alerts.jsonl")).unwrap();
    assert_eq!(
        a1,
        std::fs::read(p("alerts2.jsonl")).unwrap(),
        "two replays differ"
    );
    let inproc = detect_capture(Path::new(&p("day.pcap")), &DetectConfig::default()).unwrap();
    assert_eq!(
        a1, inproc.alerts_jsonl,
        "replay and in-process detection differ"
    );
}

#[test]
fn gen_is_deterministic_per_seed_and_raw_matches_pcap() {
    let dir = tempfile::tempdir().unwrap();
    let p = |f: &str| dir.path().join(f);
    gen(dir.path(), 5, 150_000, "a.pcap");
    gen(dir.path(), 5, 150_000, "b.pcap");
    gen(dir.path(), 5, 150_000, "c.itch");
    gen(dir.path(), 6, 150_000, "d.pcap");
    let read = |f: &str| std::fs::read(p(f)).unwrap();
    assert_eq!(
        read("a.pcap"),
        read("b.pcap"),
        "same seed, different capture"
    );
    assert_eq!(read("a.pcap.labels.jsonl"), read("b.pcap.labels.jsonl"));
    assert_eq!(read("a.pcap.decoys.jsonl"), read("b.pcap.decoys.jsonl"));
    assert_ne!(
        read("a.pcap"),
        read("d.pcap"),
        "different seeds, same capture"
    );
    // The raw file carries the same messages: same labels, and the same alerts.
    assert_eq!(read("a.pcap.labels.jsonl"), read("c.itch.labels.jsonl"));
    let cfg = DetectConfig::default();
    let from_pcap = detect_capture(&p("a.pcap"), &cfg).unwrap();
    let from_raw = detect_capture(&p("c.itch"), &cfg).unwrap();
    assert_eq!(from_pcap.replay.messages, from_raw.replay.messages);
    // Sequence numbers differ in meaning (MoldUDP64 vs ordinal) but here both count messages from 1.
    assert_eq!(from_pcap.alerts_jsonl, from_raw.alerts_jsonl);
    assert!(from_pcap.replay.messages > 100_000);

    // Quote stuffing reads its baseline from order-to-trade's per-symbol window when their geometry matches (the
    // defaults); with order-to-trade disabled it keeps its own window: the same stuffing alerts either way.
    let stuffing = |run: &tools::gen::check::CheckRun| {
        let mut out = Vec::new();
        for a in run
            .alerts
            .iter()
            .filter(|a| a.detector.name() == "quote_stuffing")
        {
            a.write_json_line(&mut out, None);
        }
        out
    };
    let own_base =
        DetectConfig::from_toml_str("[order_to_trade]\nenabled = false\n").expect("config");
    let own = detect_capture(&p("a.pcap"), &own_base).unwrap();
    assert!(!stuffing(&from_pcap).is_empty(), "no quote stuffing alert");
    assert_eq!(stuffing(&from_pcap), stuffing(&own));
}
