//! `tickwatch replay` over the real captures in ../shared/data: the counts equal `tickwatch stats` and the
//! independent decoder's (oracle) counts; replay is lossless and deterministic across thread layouts; the histogram
//! log feeds `tickwatch report`.

use std::path::{Path, PathBuf};
use std::process::Command;

const TW: &str = env!("CARGO_BIN_EXE_tickwatch");

fn captures(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if p.is_dir() {
                if name != "oracle" {
                    stack.push(p);
                }
            } else if [".pcap", ".pcap.gz", ".pcapng", ".itch", ".itch.gz"]
                .iter()
                .any(|x| name.ends_with(x))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn json(path: &Path) -> serde_json::Map<String, serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match serde_json::from_str(&text).unwrap() {
        serde_json::Value::Object(m) => m,
        other => panic!("{}: not an object: {other}", path.display()),
    }
}

fn run_ok(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().expect("spawn tickwatch");
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn replay_counts_equal_stats_and_oracle_for_every_capture() {
    let Some(data) = feed::testdata::require("nasdaq") else {
        return;
    };
    let data = data.parent().unwrap().to_path_buf();
    let oracle: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(data.join("oracle/counts_summary.json"))
            .expect("oracle counts_summary.json"),
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let caps = captures(&data);
    assert!(
        caps.len() >= 80,
        "expected the shared captures, found {}",
        caps.len()
    );
    let mut oracle_checked = 0;
    let mut messages = 0u64;
    for cap in &caps {
        let a = tmp.path().join("replay.json");
        let replayed = run_ok(
            Command::new(TW)
                .args(["replay", "--alerts-out"])
                .arg(tmp.path().join("alerts.jsonl"))
                .arg("--stats-out")
                .arg(&a)
                .arg(cap),
        );
        let summary = String::from_utf8_lossy(&replayed.stderr).to_string();
        let out = run_ok(Command::new(TW).args(["stats", "--json"]).arg(cap));
        let mut r = json(&a);
        let mut s: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&out.stdout).unwrap();
        // Timing figures differ by nature (and `cpu_ns` is the whole pipeline's CPU time in replay, the walking
        // thread's in stats); every other key and value must be equal.
        for k in ["elapsed_ns", "ns_per_msg", "cpu_ns", "cpu_ns_per_msg"] {
            assert!(r.remove(k).is_some(), "{}: replay lacks {k}", cap.display());
            assert!(s.remove(k).is_some(), "{}: stats lacks {k}", cap.display());
        }
        assert_eq!(
            r,
            s,
            "{}: replay --stats-out differs from stats --json",
            cap.display()
        );
        messages += r["messages"].as_u64().unwrap();
        // Lossless: every message went through the book stage, nothing was dropped at receive. (Messages of
        // packets the sequencer recognised as duplicates are counted, not applied: the DEEP+ all-message-types
        // fixture is out of sequence order, 446 of its 447 messages repeat sequence numbers already seen.)
        let applied = r["messages"].as_u64().unwrap() - r["duplicate_messages"].as_u64().unwrap();
        assert!(
            summary.contains(&format!("replay: {applied} messages in ")),
            "{}: {summary}",
            cap.display()
        );
        assert!(
            summary.contains("receive drops 0 (0 messages)"),
            "{}: {summary}",
            cap.display()
        );
        // Independent decoder: per-type counts (DEEP10's oracle stops before its cut-short last record, which
        // holds 12 more messages; MANIFEST.md documents the difference).
        let rel = cap
            .strip_prefix(&data)
            .unwrap()
            .to_string_lossy()
            .to_string();
        let key = rel
            .trim_end_matches(".gz")
            .trim_end_matches(".pcap")
            .trim_end_matches(".itch");
        let key = if key.ends_with("bbekele-sample") {
            format!("{key}.moldudp64")
        } else {
            key.to_string()
        };
        if let Some(o) = oracle.get(&key).filter(|_| !key.ends_with("DEEP10")) {
            let by_type = o["by_type"].as_object().unwrap();
            let counts = r["counts"].as_object().unwrap();
            assert_eq!(
                counts,
                by_type,
                "{}: per-type counts differ from the oracle",
                cap.display()
            );
            oracle_checked += 1;
        }
    }
    assert!(
        oracle_checked >= 75,
        "only {oracle_checked} captures had oracle counts"
    );
    eprintln!(
        "replayed {} captures, {messages} messages; {oracle_checked} checked against the oracle",
        caps.len()
    );
}

/// Alerts of a replay with the given extra arguments.
fn alerts(cap: &Path, extra: &[&str], dir: &Path, name: &str) -> Vec<u8> {
    let out = dir.join(name);
    run_ok(
        Command::new(TW)
            .args(["replay", "-q"])
            .args(extra)
            .arg("--alerts-out")
            .arg(&out)
            .arg(cap),
    );
    std::fs::read(&out).unwrap()
}

#[test]
fn replay_alerts_are_byte_identical_across_runs_and_layouts() {
    let Some(cap) = feed::testdata::require("synthetic/itchbook-syn-1m-s11.itch.gz") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let layout = |name: &str, text: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().to_string()
    };
    let fused = layout(
        "fused.toml",
        "[[threads]]\nname='all'\nstages=['receive','book','detect']\n",
    );
    let sharded = layout(
        "sharded.toml",
        "book_shards = 3\n[rings]\npackets = 64\nevents = 256\n\
         [[threads]]\nname='rx'\nstages=['receive']\n\
         [[threads]]\nname='book'\nstages=['book']\nwait='park'\n\
         [[threads]]\nname='det'\nstages=['detect']\nwait='park'\n",
    );
    let a = alerts(&cap, &[], tmp.path(), "a.jsonl");
    assert!(!a.is_empty(), "the stress file is expected to raise alerts");
    let b = alerts(&cap, &[], tmp.path(), "b.jsonl");
    assert!(a == b, "two replays of the same input differ");
    let c = alerts(&cap, &["--config", &fused], tmp.path(), "c.jsonl");
    assert!(a == c, "fused single-thread layout gives different alerts");
    let d = alerts(&cap, &["--config", &sharded], tmp.path(), "d.jsonl");
    assert!(a == d, "3 book shards give different alerts");
    eprintln!(
        "{} alert lines identical across 4 runs",
        a.iter().filter(|&&x| x == b'\n').count()
    );
}

#[test]
fn sharded_books_equal_single_book() {
    let Some(cap) = feed::testdata::require("synthetic/itchbook-syn-1m-s11.itch.gz") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("s.toml");
    std::fs::write(
        &cfg,
        "book_shards = 4\n[[threads]]\nname='rx'\nstages=['receive']\n[[threads]]\nname='book'\nstages=['book']\n\
         [[threads]]\nname='det'\nstages=['detect']\n",
    )
    .unwrap();
    for (name, extra) in [
        ("one", vec![]),
        (
            "four",
            vec!["--config".to_string(), cfg.to_string_lossy().to_string()],
        ),
    ] {
        run_ok(
            Command::new(TW)
                .args(["replay", "-q", "--alerts-out"])
                .arg(tmp.path().join(format!("{name}.jsonl")))
                .arg("--bbo-csv")
                .arg(tmp.path().join(format!("{name}.bbo.csv")))
                .arg("--levels-csv")
                .arg(tmp.path().join(format!("{name}.levels.csv")))
                .args(&extra)
                .arg(&cap),
        );
    }
    let read = |n: &str| std::fs::read_to_string(tmp.path().join(n)).unwrap();
    assert_eq!(read("one.levels.csv"), read("four.levels.csv"));
    assert_eq!(read("one.bbo.csv"), read("four.bbo.csv"));
    // The independent C++ book's final BBO (../shared/data/synthetic/*.bbo.csv) equals ours, symbol by symbol.
    let oracle =
        std::fs::read_to_string(cap.with_file_name("itchbook-syn-1m-s11.bbo.csv")).unwrap();
    let norm = |s: &str| -> Vec<String> {
        s.lines()
            .skip(1)
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    };
    assert_eq!(
        norm(&read("four.bbo.csv")),
        norm(&oracle),
        "final BBO differs from the independent book"
    );
}

#[test]
fn hist_log_feeds_report_table_hgrm_and_plots() {
    let Some(cap) = feed::testdata::require("iex/tops16.pcap.gz") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let hist = tmp.path().join("lat.hlog");
    run_ok(
        Command::new(TW)
            .args(["replay", "-q", "--alerts-out", "-", "--hist-out"])
            .arg(&hist)
            .arg(&cap),
    );
    let out_dir = tmp.path().join("report");
    let out = run_ok(
        Command::new(TW)
            .arg("report")
            .arg(&hist)
            .arg("--out")
            .arg(&out_dir),
    );
    let table = String::from_utf8(out.stdout).unwrap();
    for hdr in ["p50", "p90", "p99", "p99.9", "p99.99", "max"] {
        assert!(table.contains(hdr), "table lacks {hdr}:\n{table}");
    }
    // tops16 holds 57,674 messages: the receive→decoded histogram counts each once.
    let line = table
        .lines()
        .find(|l| l.contains("rx_decoded"))
        .expect("rx_decoded row");
    assert!(line.split_whitespace().any(|w| w == "57674"), "{line}");
    for f in [
        "rx_decoded.hgrm",
        "decoded_book.hgrm",
        "latency.svg",
        "latency.png",
    ] {
        let p = out_dir.join(f);
        let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        assert!(len > 500, "{} missing or tiny ({len} bytes)", p.display());
    }
    let png = std::fs::read(out_dir.join("latency.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let hgrm = std::fs::read_to_string(out_dir.join("rx_decoded.hgrm")).unwrap();
    assert!(hgrm.contains("Total count    =        57674"), "{hgrm}");
}

#[test]
fn missing_core_is_a_warning_and_every_wait_strategy_is_lossless() {
    // A layout pinned to a core that does not exist still runs (unpinned, with a warning), and each consumer wait
    // strategy gives the same books and counts as the default layout.
    let Some(cap) = feed::testdata::require("iex/iex_cppparser-test.pcap.gz") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let replay = |name: &str, extra: &[&str]| {
        let out = run_ok(
            Command::new(TW)
                .args(["replay", "--alerts-out"])
                .arg(tmp.path().join(format!("{name}.jsonl")))
                .arg("--stats-out")
                .arg(tmp.path().join(format!("{name}.json")))
                .arg("--levels-csv")
                .arg(tmp.path().join(format!("{name}.csv")))
                .args(extra)
                .arg(&cap),
        );
        let mut stats = json(&tmp.path().join(format!("{name}.json")));
        for k in ["elapsed_ns", "ns_per_msg", "cpu_ns", "cpu_ns_per_msg"] {
            stats.remove(k);
        }
        let levels = std::fs::read_to_string(tmp.path().join(format!("{name}.csv"))).unwrap();
        (
            String::from_utf8_lossy(&out.stderr).to_string(),
            stats,
            levels,
        )
    };
    let (_, want_stats, want_levels) = replay("default", &[]);
    assert!(want_levels.lines().count() > 800, "{want_levels}");
    for (wait, name) in [
        ("'busy-spin'", "busy-spin"),
        ("'spin-then-yield'", "spin-then-yield"),
        ("'park'", "park"),
        (
            "{ kind = 'park', spins = 10, yields = 2, park_us = 50 }",
            "park",
        ),
    ] {
        let cfg = tmp.path().join("layout.toml");
        std::fs::write(
            &cfg,
            format!(
                "[rings]\npackets = 64\nevents = 256\n\
                 [[threads]]\nname='rx'\nstages=['receive']\ncore=4096\nwait={wait}\n\
                 [[threads]]\nname='book'\nstages=['book']\nwait={wait}\n\
                 [[threads]]\nname='det'\nstages=['detect']\nwait={wait}\n"
            ),
        )
        .unwrap();
        let (err, stats, levels) = replay("cfg", &["--config", &cfg.to_string_lossy()]);
        assert!(
            err.contains("warning: thread rx: core 4096 does not exist"),
            "{wait}: {err}"
        );
        assert!(
            err.contains(&format!(
                "rx[receive]@- ({name}; core 4096 unavailable, unpinned)"
            )),
            "{err}"
        );
        assert!(err.contains(&format!("det[detect]@- ({name})")), "{err}");
        assert!(err.contains("ns/msg"), "{err}");
        assert_eq!(stats, want_stats, "{wait}");
        assert_eq!(levels, want_levels, "{wait}");
    }
}
