//! IEX captures through the generic capture analyzer (`feed::analyze::Analyzer`, the engine of `tickwatch stats` /
//! `dump`): autodetection of IEX-TP, per-type counts equal to the oracle, and the transport figures (restarts,
//! gaps, duplicates, truncation) of `FeedStats`, checked against MANIFEST.md and the oracle's packet tables.

use std::collections::BTreeMap;

use feed::analyze::{Analyzer, AnalyzerConfig, FeedMessage};
use feed::capture::Capture;
use feed::stats::FeedStats;
use feed::testdata;

fn analyze(rel: &str) -> Option<(FeedStats, u64)> {
    let path = testdata::require(rel)?;
    let cap = Capture::open(&path).unwrap_or_else(|e| panic!("{e}"));
    let mut an = Analyzer::new(AnalyzerConfig::default());
    let mut iex = 0u64;
    an.run(&cap, &mut |_, m| {
        if let FeedMessage::Iex(_) = m {
            iex += 1;
        }
    });
    Some((an.stats(), iex))
}

fn oracle_counts(rel: &str) -> Option<(BTreeMap<String, u64>, serde_json::Value)> {
    let path = testdata::require(rel)?;
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let m = v["message_counts"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, n)| (k.clone(), n.as_u64().unwrap()))
        .collect();
    Some((m, v))
}

fn counts_of(s: &FeedStats) -> BTreeMap<String, u64> {
    let j = serde_json::to_value(s).unwrap();
    j["counts"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, n)| (k.clone(), n.as_u64().unwrap()))
        .collect()
}

#[test]
fn every_iex_capture_counts_equal_the_oracle() {
    let mut captures = vec![
        (
            "iex/tops16.pcap.gz".to_string(),
            "oracle/iex/tops16.counts.json".to_string(),
        ),
        (
            "iex/iex_cppparser-test.pcap.gz".into(),
            "oracle/iex/iex_cppparser-test.counts.json".into(),
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
        let stem = n.trim_end_matches(".pcap");
        captures.push((
            format!("iex/omi/{n}"),
            format!("oracle/iex/omi/{stem}.counts.json"),
        ));
    }
    let mut total = 0;
    for (cap, oracle) in &captures {
        let Some((s, delivered)) = analyze(cap) else {
            return;
        };
        let Some((expected, o)) = oracle_counts(oracle) else {
            return;
        };
        assert_eq!(counts_of(&s), expected, "{cap}: counts");
        assert_eq!(
            s.messages,
            o["messages_total"].as_u64().unwrap(),
            "{cap}: messages"
        );
        assert_eq!(
            delivered, s.messages,
            "{cap}: every counted message delivered as FeedMessage::Iex"
        );
        assert_eq!(s.packets, o["packets"].as_u64().unwrap(), "{cap}: packets");
        assert_eq!(s.frames, s.packets, "{cap}: every frame an IEX-TP segment");
        assert_eq!(
            s.heartbeats,
            o["heartbeat_or_empty_packets"].as_u64().unwrap(),
            "{cap}: heartbeats"
        );
        assert_eq!(
            (s.unknown, s.malformed, s.truncated, s.unrecognized),
            (0, 0, 0, 0),
            "{cap}: damage"
        );
        total += s.messages;
    }
    eprintln!(
        "{} IEX captures, {total} messages: counts equal the oracle",
        captures.len()
    );
}

#[test]
fn contiguous_captures_have_no_sequence_events() {
    for cap in ["iex/tops16.pcap.gz", "iex/iex_cppparser-test.pcap.gz"] {
        let Some((s, _)) = analyze(cap) else { return };
        assert_eq!(
            (
                s.gaps,
                s.duplicates,
                s.duplicate_messages,
                s.sequence_resets,
                s.session_changes
            ),
            (0, 0, 0, 0, 0),
            "{cap} (MANIFEST: contiguous, no gaps or resets)"
        );
    }
}

/// DEEP10: 11 sequence resets inside one session and a final record cut short (MANIFEST.md). By the crate's
/// truncation policy the cut record's 11 complete messages are withheld (the oracle, tshark, drops the record).
#[test]
fn deep10_figures() {
    let Some((s, _)) = analyze("iex/DEEP10.pcap.gz") else {
        return;
    };
    assert_eq!(s.messages, 391_999);
    assert_eq!(s.frames, 121_315);
    assert_eq!(s.packets, 121_315);
    assert_eq!(s.heartbeats, 7_937);
    assert_eq!(s.sequence_resets, 11);
    // The only gap is the cut final packet (MANIFEST: 44 messages announced, seq 105211..105254, right after the
    // last complete packet's seq 105210): withheld, so its whole range is missing.
    assert_eq!(
        (s.gaps, s.gap_messages, s.duplicates, s.duplicate_messages),
        (1, 44, 0, 0)
    );
    assert_eq!(s.session_changes, 0);
    assert_eq!(s.truncated, 1, "the cut final pcap record");
    assert_eq!(s.truncated_complete_messages, 11);
    assert_eq!(s.truncated_lost_messages, 33);
    assert_eq!((s.unknown, s.malformed, s.unrecognized), (0, 0, 0));
    // MANIFEST: message time span 2017-04-25T15:03:41.826542542Z .. 19:51:44.901796060Z.
    assert_eq!(s.min_timestamp, Some(1_493_132_621_826_542_542));
    assert_eq!(s.max_timestamp, Some(1_493_149_904_901_796_060));
    let j = serde_json::to_value(&s).unwrap();
    for key in [
        "sequence_resets",
        "truncated",
        "truncated_complete_messages",
        "truncated_lost_messages",
        "gaps",
    ] {
        assert!(j.get(key).is_some_and(|v| v.is_u64()), "JSON key {key}");
    }
    let text = s.to_string();
    assert!(text.contains("11 sequence resets"), "{text}");
    assert!(text.contains("11 complete (withheld"), "{text}");
    assert!(
        text.contains("gaps            1 (44 messages missing)"),
        "{text}"
    );
}

/// DEEP+ all_message_types: 13 single-packet fixtures concatenated out of order. After the first packet
/// (seq 59330) every other packet carries older sequence numbers (the oracle's packet table), and its sequence-1
/// packets are older replays (send time before the latest seen), not restarts: 12 duplicate packets, 446 messages.
#[test]
fn deepplus_out_of_order_concatenation() {
    let Some((s, _)) = analyze("iex/omi/iex-deepplus1.0.2-all_message_types.pcap") else {
        return;
    };
    assert_eq!(
        s.messages, 447,
        "capture analysis delivers every message present"
    );
    assert_eq!((s.duplicates, s.duplicate_messages), (12, 446));
    assert_eq!((s.gaps, s.sequence_resets, s.session_changes), (0, 0, 0));

    // A live consumer (duplicates off) gets only the first packet's message.
    let path = testdata::require("iex/omi/iex-deepplus1.0.2-all_message_types.pcap").unwrap();
    let cap = Capture::open(&path).unwrap();
    let mut an = Analyzer::new(AnalyzerConfig {
        deliver_duplicates: false,
        ..AnalyzerConfig::default()
    });
    let mut n = 0;
    an.run(&cap, &mut |_, _| n += 1);
    assert_eq!(n, 1);
}
