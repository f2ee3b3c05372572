//! Golden test: the analyzer's statistics of every NASDAQ ITCH capture against the oracle's `*.counts.json`
//! (tshark + Open-Markets-Initiative dissector; see ../shared/data/oracle/README.md).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use feed::analyze::{Analyzer, AnalyzerConfig};
use feed::capture::{Capture, Format};
use feed::stats::FeedStats;
use serde_json::Value;

fn analyze(path: &Path, format: Option<Format>) -> FeedStats {
    let cap = Capture::open_as(path, format).unwrap_or_else(|e| panic!("{e}"));
    let mut an = Analyzer::new(AnalyzerConfig::default());
    an.run(&cap, &mut |_, _| {});
    assert!(
        an.stopped().is_none(),
        "{}: {:?}",
        path.display(),
        an.stopped()
    );
    an.stats()
}

fn oracle_counts(v: &Value) -> BTreeMap<String, u64> {
    v["message_counts"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, n)| (k.clone(), n.as_u64().unwrap()))
        .collect()
}

fn our_counts(s: &FeedStats) -> BTreeMap<String, u64> {
    let j = serde_json::to_value(s).unwrap();
    j["counts"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, n)| (k.clone(), n.as_u64().unwrap()))
        .collect()
}

/// "1692711000.007661955" -> ns since the epoch.
fn parse_epoch_ns(s: &str) -> u64 {
    let (sec, frac) = s.split_once('.').unwrap();
    sec.parse::<u64>().unwrap() * 1_000_000_000 + format!("{frac:0<9}")[..9].parse::<u64>().unwrap()
}

fn check(pcap: &Path, counts_json: &Path, format: Option<Format>) -> u64 {
    let oracle: Value =
        serde_json::from_str(&std::fs::read_to_string(counts_json).unwrap()).unwrap();
    let s = analyze(pcap, format);
    let is_raw = Capture::open_as(pcap, format).unwrap().format() == Format::RawItch;
    let name = pcap.file_name().unwrap().to_string_lossy();
    assert_eq!(our_counts(&s), oracle_counts(&oracle), "{name}: counts");
    assert_eq!(
        s.messages,
        oracle["messages_total"].as_u64().unwrap(),
        "{name}: messages"
    );
    assert_eq!(
        s.unknown + s.malformed + s.truncated,
        0,
        "{name}: damage counters {s:?}"
    );
    assert_eq!(
        s.min_timestamp,
        oracle["message_timestamp_min"].as_u64(),
        "{name}"
    );
    assert_eq!(
        s.max_timestamp,
        oracle["message_timestamp_max"].as_u64(),
        "{name}"
    );
    if !is_raw {
        assert_eq!(
            s.frames,
            oracle["packets"].as_u64().unwrap(),
            "{name}: frames"
        );
        assert_eq!(
            s.packets,
            oracle["packets"].as_u64().unwrap(),
            "{name}: packets"
        );
        assert_eq!(
            s.heartbeats,
            oracle["heartbeat_or_empty_packets"].as_u64().unwrap(),
            "{name}: heartbeats"
        );
        assert_eq!(
            s.first_capture_ns,
            Some(parse_epoch_ns(
                oracle["capture_time_first"].as_str().unwrap()
            )),
            "{name}"
        );
        assert_eq!(
            s.last_capture_ns,
            Some(parse_epoch_ns(
                oracle["capture_time_last"].as_str().unwrap()
            )),
            "{name}"
        );
    }
    s.messages
}

fn pcaps(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_moldudp64_capture_matches_oracle_counts() {
    let Some(dir) = feed::testdata::require("nasdaq/itch50-moldudp64") else {
        return;
    };
    let oracle_dir = feed::testdata::data_dir().join("oracle/nasdaq/itch50-moldudp64");
    let files = pcaps(&dir);
    assert_eq!(
        files.len(),
        50,
        "expected the 49 NASDAQ ITCH captures and their merge"
    );
    let mut total = 0;
    for p in &files {
        let stem = p.file_stem().unwrap().to_string_lossy();
        total += check(p, &oracle_dir.join(format!("{stem}.counts.json")), None);
    }
    eprintln!(
        "compared per-type counts of {} captures, {total} messages",
        files.len()
    );
    assert_eq!(total, 227 * 2, "49 files plus their merge");
}

#[test]
fn sequence_figures() {
    let Some(dir) = feed::testdata::require("nasdaq/itch50-moldudp64") else {
        return;
    };
    // Oracle: one sequence break (frame 2 expected 14764497, got 19009117).
    let s = analyze(&dir.join("nasdaq-itch50-Multiple.Packets.pcap"), None);
    assert_eq!((s.gaps, s.gap_messages), (1, 19009117 - 14764497));
    assert_eq!((s.duplicates, s.unsequenced, s.session_changes), (0, 0, 0));
    // Sanitised: sequence 0 everywhere -> unsequenced, never gaps or duplicates.
    let s = analyze(&dir.join("nasdaq-20230822-AddOrderNoMPID.pcap"), None);
    assert_eq!((s.unsequenced, s.gaps, s.duplicates), (5, 0, 0));
    // Merged: 178 sanitised packets, sessions 000010059B (9 packets, 8 of them after a jump) and 000010059D (3
    // packets, 2 jumps); the second session's first packet is a session change. Values from the oracle's
    // packets.csv, tracked per session.
    let s = analyze(&dir.join("merged-all-49-files.pcap"), None);
    assert_eq!(s.unsequenced, 178);
    assert_eq!(s.session_changes, 1);
    assert_eq!(s.gaps, 7 + 2);
    assert_eq!(s.duplicates, 0);
}

#[test]
fn raw_sample_and_its_moldudp64_wrapping_match_oracle_counts() {
    let Some(raw) = feed::testdata::require("nasdaq/itch50-raw/bbekele-sample.itch") else {
        return;
    };
    let oracle = feed::testdata::data_dir().join("oracle/nasdaq/itch50-raw");
    let counts = oracle.join("bbekele-sample.moldudp64.counts.json");
    assert_eq!(check(&raw, &counts, None), 1000);
    assert_eq!(check(&raw, &counts, Some(Format::RawItch)), 1000);
    let cap = Capture::open(&raw).unwrap();
    assert_eq!(cap.format(), Format::RawItch);
    assert_eq!(
        check(&oracle.join("bbekele-sample.moldudp64.pcap"), &counts, None),
        1000
    );
}

#[test]
fn synthetic_stress_file() {
    let Some(p) = feed::testdata::require("synthetic/itchbook-syn-1m-s11.itch.gz") else {
        return;
    };
    let cap = Capture::open(&p).unwrap();
    assert!(cap.was_gzip());
    assert_eq!(cap.format(), Format::RawItch);
    let s = analyze(&p, None);
    // From ../shared/data/README.md (the generator's own figures).
    assert_eq!(s.messages, 985_574);
    assert_eq!(s.unknown, 14_932);
    assert_eq!((s.malformed, s.truncated), (0, 0), "{s:?}");
    // The file ends with a zero-length record (an end marker after the final `S` event).
    assert_eq!(s.empty, 1);
}
