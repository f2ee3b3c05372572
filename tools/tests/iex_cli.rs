//! `tickwatch stats` and `tickwatch dump` on every IEX capture of the shared data, against the independent oracle
//! (`../shared/data/oracle`, tshark + Open-Markets-Initiative dissectors) and MANIFEST.md.
//!
//! `dump`: every JSON line is compared with its oracle row: the transport columns, every non-empty oracle column
//! and every `fields_json` key (flag bytes and names, bit fields, decimal prices and their `*_raw` integers); the key
//! sets must be equal. `stats --json`: per-type counts equal the oracle's, DEEP10's sequence restarts and truncated
//! final record are reported as figures.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::Command;

use feed::testdata;
use serde_json::Value;

fn tickwatch(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tickwatch"))
        .args(args)
        .output()
        .expect("run tickwatch");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).expect("utf-8 stdout"),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn read_text(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if path.extension().is_some_and(|e| e == "gz") {
        let mut s = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut s)
            .expect("gzip");
        s
    } else {
        String::from_utf8(bytes).expect("utf-8")
    }
}

/// Minimal RFC 4180 CSV reader (quoted fields, doubled quotes).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field, mut quoted) = (Vec::new(), Vec::new(), String::new(), false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, _) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, '\r') => {}
            (false, _) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// A JSON value as the oracle's text: strings as they are, numbers in decimal.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("unexpected JSON value {other}"),
    }
}

/// The oracle row as one flat map: non-empty columns plus the `fields_json` entries.
fn oracle_row(header: &[String], row: &[String]) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for (k, v) in header.iter().zip(row) {
        if k == "fields_json" {
            let j: BTreeMap<String, Value> = serde_json::from_str(v).expect("fields_json");
            for (fk, fv) in j {
                m.insert(fk, text(&fv));
            }
        } else if !v.is_empty() {
            m.insert(k.clone(), v.clone());
        }
    }
    m
}

/// TOPS 1.5 names the low sale-condition nibble `unused4` (TOPS 1.6: `unused3` + `singlepricecrosstrade`).
fn to_tops15(m: &mut BTreeMap<String, String>) {
    let (Some(u3), Some(spc)) = (m.remove("unused3"), m.remove("singlepricecrosstrade")) else {
        return;
    };
    let v = u3.parse::<u64>().unwrap() + 8 * spc.parse::<u64>().unwrap();
    m.insert("unused4".into(), v.to_string());
    if let Some(t) = m.get_mut("saleconditionflags_text") {
        *t = t
            .split('|')
            .filter(|f| *f != "Singleprice Cross Trade")
            .collect::<Vec<_>>()
            .join("|");
        if t.is_empty() {
            m.remove("saleconditionflags_text");
        }
    }
}

/// Dumps a capture and compares every line with the oracle CSV; returns (messages, values) compared.
fn check_dump(capture_rel: &str, oracle_rel: &str) -> Option<(u64, u64)> {
    let capture = testdata::require(capture_rel)?;
    let csv = ["csv.gz", "csv"]
        .iter()
        .map(|ext| testdata::data_dir().join(format!("{oracle_rel}.{ext}")))
        .find(|p| p.exists());
    let csv = match csv {
        Some(p) => p,
        None => testdata::require(&format!("{oracle_rel}.csv"))?,
    };
    let (code, out, err) = tickwatch(&["dump", capture.to_str().unwrap()]);
    assert_eq!(code, 0, "dump {capture_rel}: {err}");
    let table = parse_csv(&read_text(&csv));
    let (header, rows) = (&table[0], &table[1..]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.len(),
        rows.len(),
        "{capture_rel}: dumped messages vs oracle rows"
    );
    let tops15 = capture_rel.contains("tops1.5");
    let mut values = 0u64;
    for (i, (line, row)) in lines.iter().zip(rows).enumerate() {
        let obj: BTreeMap<String, Value> =
            serde_json::from_str(line).expect("dump line is a JSON object");
        let mut mine: BTreeMap<String, String> =
            obj.iter().map(|(k, v)| (k.clone(), text(v))).collect();
        if mine.get("session").is_some_and(String::is_empty) {
            mine.remove("session");
        }
        if tops15 {
            to_tops15(&mut mine);
        }
        let expected = oracle_row(header, row);
        if mine != expected {
            let keys = |m: &BTreeMap<String, String>| m.keys().cloned().collect::<Vec<_>>();
            assert_eq!(
                keys(&mine),
                keys(&expected),
                "{capture_rel} message {i}: field names"
            );
            for (k, v) in &expected {
                assert_eq!(
                    &mine[k], v,
                    "{capture_rel} message {i} (frame {}): {k}",
                    row[0]
                );
            }
        }
        values += expected.len() as u64;
    }
    Some((rows.len() as u64, values))
}

#[test]
fn dump_equals_the_oracle_for_every_iex_capture() {
    let mut pairs = vec![
        (
            "iex/tops16.pcap.gz".to_string(),
            "oracle/iex/tops16".to_string(),
        ),
        (
            "iex/iex_cppparser-test.pcap.gz".into(),
            "oracle/iex/iex_cppparser-test".into(),
        ),
    ];
    let Some(dir) = testdata::require("iex/omi") else {
        return;
    };
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    for n in names.iter().filter(|n| n.ends_with(".pcap")) {
        pairs.push((
            format!("iex/omi/{n}"),
            format!("oracle/iex/omi/{}", n.trim_end_matches(".pcap")),
        ));
    }
    let (mut messages, mut values) = (0, 0);
    for (cap, oracle) in &pairs {
        let Some((m, v)) = check_dump(cap, oracle) else {
            return;
        };
        messages += m;
        values += v;
    }
    eprintln!(
        "tickwatch dump: {} IEX captures, {messages} messages, {values} values equal to the oracle",
        pairs.len()
    );
    assert_eq!(
        messages,
        57_674 + 48_325 + 960,
        "tops16 + cppparser + the 27 OMI fixtures (MANIFEST.md)"
    );
}

#[test]
fn stats_json_reports_deep10_restarts_and_truncation() {
    let Some(path) = testdata::require("iex/DEEP10.pcap.gz") else {
        return;
    };
    let (code, out, err) = tickwatch(&["stats", "--json", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let j: Value = serde_json::from_str(&out).expect("stats --json is one JSON object");
    let counts: BTreeMap<String, u64> = j["counts"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    let expected: BTreeMap<String, u64> = [
        ("H", 93_638),
        ("O", 93_638),
        ("P", 93_636),
        ("T", 83_343),
        ("5", 14_627),
        ("8", 12_941),
        ("B", 73),
        ("E", 59),
        ("S", 44),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(counts, expected, "MANIFEST.md oracle counts");
    let n = |k: &str| j[k].as_u64().unwrap_or_else(|| panic!("key {k} in {out}"));
    assert_eq!(n("messages"), 391_999);
    assert_eq!(n("packets"), 121_315);
    assert_eq!(n("heartbeats"), 7_937);
    assert_eq!(n("sequence_resets"), 11);
    // The cut final packet (MANIFEST: 44 messages announced, seq 105211..105254, right after the last complete
    // packet's 105210) is withheld, so its range is the one gap.
    assert_eq!((n("gaps"), n("gap_messages"), n("duplicates")), (1, 44, 0));
    assert_eq!(n("truncated"), 1);
    assert_eq!(n("truncated_complete_messages"), 11);
    assert_eq!(n("truncated_lost_messages"), 33);

    let (code, text, _) = tickwatch(&["stats", path.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(text.contains("11 sequence resets"), "{text}");
    assert!(text.contains("truncated 1"), "{text}");
    assert!(text.contains("11 complete (withheld"), "{text}");
    assert!(text.contains("33 cut or absent"), "{text}");
    assert!(
        text.contains("gaps            1 (44 messages missing)"),
        "{text}"
    );
}

#[test]
fn stats_json_counts_equal_the_oracle_for_tops_and_deep() {
    for (cap, oracle) in [
        ("iex/tops16.pcap.gz", "oracle/iex/tops16.counts.json"),
        (
            "iex/iex_cppparser-test.pcap.gz",
            "oracle/iex/iex_cppparser-test.counts.json",
        ),
        (
            "iex/omi/iex-deepplus1.0.2-all_message_types.pcap",
            "oracle/iex/omi/iex-deepplus1.0.2-all_message_types.counts.json",
        ),
    ] {
        let (Some(c), Some(o)) = (testdata::require(cap), testdata::require(oracle)) else {
            return;
        };
        let (code, out, err) = tickwatch(&["stats", "--json", c.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        let j: Value = serde_json::from_str(&out).unwrap();
        let o: Value = serde_json::from_str(&std::fs::read_to_string(o).unwrap()).unwrap();
        assert_eq!(j["counts"], o["message_counts"], "{cap}");
        assert_eq!(j["messages"], o["messages_total"], "{cap}");
        assert_eq!(j["packets"], o["packets"], "{cap}");
    }
}
