//! Golden tests of `tickwatch dump` / `tickwatch stats --json` against the independent decodes in
//! ../shared/data/oracle (tshark 4.0.17 + Open-Markets-Initiative ITCH 5.0 dissector): every message of every NASDAQ
//! ITCH capture, every column and every `fields_json` value, both directions (nothing missing, nothing extra).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn tickwatch(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tickwatch"))
        .args(args)
        .output()
        .expect("running tickwatch")
}

/// Minimal RFC 4180 CSV reader (quoted fields, doubled quotes, commas and newlines inside quotes).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                c => field.push(c),
            }
        } else {
            match c {
                '"' => quoted = true,
                ',' => row.push(std::mem::take(&mut field)),
                '\n' => {
                    row.push(std::mem::take(&mut field));
                    rows.push(std::mem::take(&mut row));
                }
                '\r' => {}
                c => field.push(c),
            }
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

fn oracle_rows(csv: &Path) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(csv).unwrap_or_else(|e| panic!("{}: {e}", csv.display()));
    let mut rows = parse_csv(&text).into_iter();
    let header = rows.next().unwrap();
    rows.map(|r| {
        assert_eq!(r.len(), header.len(), "{}", csv.display());
        header.iter().cloned().zip(r).collect()
    })
    .collect()
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("unexpected JSON value {other}"),
    }
}

/// Columns that describe transport position, compared separately for raw files.
const POSITION: [&str; 3] = ["frame", "msg_index", "session"];

/// Compares a dump with an oracle CSV; returns (messages, values) compared.
fn compare(capture: &Path, csv: &Path, compare_position: bool) -> (usize, usize) {
    let out = tickwatch(&["dump", capture.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}: {}",
        capture.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let dump: Vec<serde_json::Map<String, Value>> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l)
                .unwrap()
                .as_object()
                .unwrap()
                .clone()
        })
        .collect();
    let oracle = oracle_rows(csv);
    let name = capture.file_name().unwrap().to_string_lossy();
    assert_eq!(dump.len(), oracle.len(), "{name}: message count");
    let mut values = 0;
    for (i, (d, o)) in dump.iter().zip(&oracle).enumerate() {
        let ctx = format!(
            "{name} message {i} (oracle frame {} msg_index {})",
            o["frame"], o["msg_index"]
        );
        let fields: serde_json::Map<String, Value> =
            serde_json::from_str(&o["fields_json"]).unwrap();
        let mut expected: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in o {
            if k == "fields_json"
                || v.is_empty()
                || (!compare_position && POSITION.contains(&k.as_str()))
            {
                continue;
            }
            expected.insert(k.clone(), v.clone());
        }
        for (k, v) in &fields {
            assert!(
                !expected.contains_key(k),
                "{ctx}: {k} both a column and in fields_json"
            );
            expected.insert(k.clone(), text(v));
        }
        let mut got: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in d {
            if !compare_position && POSITION.contains(&k.as_str()) {
                continue;
            }
            // The oracle leaves `session` empty for sanitised captures (10 NUL bytes).
            if k == "session" && text(v).is_empty() {
                continue;
            }
            got.insert(k.clone(), text(v));
        }
        assert_eq!(got, expected, "{ctx}");
        values += expected.len();
    }
    (dump.len(), values)
}

fn captures(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    v.sort();
    v
}

#[test]
fn dump_equals_oracle_for_every_moldudp64_capture() {
    let Some(dir) = feed::testdata::require("nasdaq/itch50-moldudp64") else {
        return;
    };
    let oracle = feed::testdata::data_dir().join("oracle/nasdaq/itch50-moldudp64");
    let files = captures(&dir);
    assert_eq!(files.len(), 50);
    let (mut msgs, mut vals) = (0, 0);
    for f in &files {
        let stem = f.file_stem().unwrap().to_string_lossy();
        let (m, v) = compare(f, &oracle.join(format!("{stem}.csv")), true);
        msgs += m;
        vals += v;
    }
    eprintln!(
        "dump vs oracle: {} captures, {msgs} messages, {vals} values compared, all equal",
        files.len()
    );
    assert_eq!(msgs, 454);
}

#[test]
fn dump_equals_oracle_for_raw_sample() {
    let Some(raw) = feed::testdata::require("nasdaq/itch50-raw/bbekele-sample.itch") else {
        return;
    };
    let oracle = feed::testdata::data_dir().join("oracle/nasdaq/itch50-raw");
    let csv = oracle.join("bbekele-sample.moldudp64.csv");
    // The raw file: seq is the 1-based ordinal (frame / msg_index / session belong to the oracle's wrapping).
    let (m, v) = compare(&raw, &csv, false);
    eprintln!("raw sample vs oracle: {m} messages, {v} values compared, all equal");
    assert_eq!(m, 1000);
    // The oracle's own MoldUDP64 wrapping of it: everything including frame, index and session.
    let (m, v) = compare(&oracle.join("bbekele-sample.moldudp64.pcap"), &csv, true);
    eprintln!("wrapped raw sample vs oracle: {m} messages, {v} values compared, all equal");
    assert_eq!(m, 1000);
}

fn stats_json(path: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["stats", "--json", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = tickwatch(&args);
    assert!(
        out.status.success(),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn stats_counts_equal_oracle_counts() {
    let Some(dir) = feed::testdata::require("nasdaq/itch50-moldudp64") else {
        return;
    };
    let data = feed::testdata::data_dir();
    let mut pairs: Vec<(PathBuf, PathBuf)> = captures(&dir)
        .into_iter()
        .map(|p| {
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            let c = data.join(format!("oracle/nasdaq/itch50-moldudp64/{stem}.counts.json"));
            (p, c)
        })
        .collect();
    pairs.push((
        data.join("nasdaq/itch50-raw/bbekele-sample.itch"),
        data.join("oracle/nasdaq/itch50-raw/bbekele-sample.moldudp64.counts.json"),
    ));
    for (cap, counts) in &pairs {
        let oracle: Value =
            serde_json::from_str(&std::fs::read_to_string(counts).unwrap()).unwrap();
        let s = stats_json(cap, &[]);
        assert_eq!(s["counts"], oracle["message_counts"], "{}", cap.display());
        assert_eq!(s["messages"], oracle["messages_total"], "{}", cap.display());
        assert_eq!(
            s["min_timestamp"],
            oracle["message_timestamp_min"],
            "{}",
            cap.display()
        );
        assert_eq!(
            s["max_timestamp"],
            oracle["message_timestamp_max"],
            "{}",
            cap.display()
        );
        assert!(s["ns_per_msg"].is_number());
    }
    eprintln!(
        "stats --json counts equal the oracle for {} captures",
        pairs.len()
    );
}

#[test]
fn stats_on_synthetic_stress_file() {
    let Some(p) = feed::testdata::require("synthetic/itchbook-syn-1m-s11.itch.gz") else {
        return;
    };
    let s = stats_json(&p, &[]);
    // Independent figures: issue 2's "Done when" and ../shared/data/README.md (the generator's own counts).
    assert_eq!(s["messages"], 985_574, "known messages");
    assert_eq!(s["unknown"], 14_932, "unknown-type frames");
    let by_type: u64 = s["counts"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(
        by_type, 985_574,
        "per-type counts add up to the known messages"
    );
    assert_eq!(
        (s["malformed"].as_u64(), s["truncated"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(s["format"], "raw-itch");
    let human = tickwatch(&["stats", p.to_str().unwrap()]);
    assert!(human.status.success());
    let text = String::from_utf8(human.stdout).unwrap();
    assert!(text.contains("985574") && text.contains("ns/msg"), "{text}");
    assert!(text.contains("ns/msg thread CPU"), "{text}");
    assert!(
        s["cpu_ns_per_msg"].is_number() && s["cpu_ns"].is_u64(),
        "{s}"
    );
}

#[test]
fn filters_and_format_override() {
    let Some(dir) = feed::testdata::require("nasdaq/itch50-moldudp64") else {
        return;
    };
    let merged = dir.join("merged-all-49-files.pcap");
    // Only the unsanitised NASDAQ session goes to 233.54.12.111:26477 (MANIFEST): 9 packets, 1+1+1+1+1+1+1+38+1.
    let s = stats_json(&merged, &["--port", "26477"]);
    assert_eq!(s["messages"], 46);
    assert_eq!(s["filtered"], 190 - 9);
    let s = stats_json(&merged, &["--group", "233.49.196.40"]);
    assert_eq!(s["messages"], 3);
    // Forcing the wrong format is a clean error naming the file.
    let out = tickwatch(&["stats", merged.to_str().unwrap(), "--format", "pcapng"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("merged-all-49-files.pcap") && err.contains("pcapng"),
        "{err}"
    );
}
