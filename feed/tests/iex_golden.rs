//! Golden tests: every IEX capture in the shared data, decoded by `feed::iex`, compared field by field with the
//! independent oracle (tshark + Open-Markets-Initiative dissectors, `../shared/data/oracle`), and DEEP10's counts
//! and sequence figures with `../shared/data/MANIFEST.md`.
//!
//! For each message the test checks the transport columns (frame, msg_index, seq, session, msg_type, msg_len), every
//! oracle column (timestamp, symbol, side, shares, price, price_raw, order_ref, match_number; empty = the message
//! has no such field) and every key of `fields_json` (flag bytes, flag names, bit fields, `*_raw` prices), with the
//! key sets required to be equal. Per-type counts are compared with the oracle's `counts.json`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use feed::capture::{net, Capture};
use feed::iex::fields::{for_each_field, FieldValue, ORACLE_COLUMNS};
use feed::iex::{IexHandler, IexStats, Outcome};
use feed::testdata;

/// One decoded message, rendered the way the oracle CSV holds it.
#[derive(Debug, Default)]
struct Row {
    columns: BTreeMap<String, String>,
    json: BTreeMap<String, serde_json::Value>,
}

/// Decodes every frame of a capture through `IexHandler`, returning rows and the handler's stats.
fn decode_capture(path: &Path) -> (Vec<Row>, IexStats, u64) {
    let capture = Capture::open(path).unwrap_or_else(|e| panic!("{e}"));
    let frames = capture.frames().expect("a pcap capture");
    let mut handler = IexHandler::new();
    let mut rows = Vec::new();
    let mut n_frames = 0;
    for frame in frames {
        n_frames += 1;
        let Ok(udp) = net::udp_payload(frame.link_type, frame.data) else {
            continue;
        };
        let out = handler.on_datagram(udp.payload, udp.truncated, |meta, msg| {
            let mut row = Row::default();
            let mut col = |k: &str, v: String| {
                row.columns.insert(k.to_string(), v);
            };
            col("frame", frame.number.to_string());
            col("msg_index", meta.index.to_string());
            col("seq", meta.seq.to_string());
            col("session", meta.session_id.to_string());
            col("msg_type", char::from(msg.message_type()).to_string());
            col("msg_len", meta.len.to_string());
            for_each_field(&msg, |name, value| {
                let text = value.to_string();
                if ORACLE_COLUMNS.contains(&name) {
                    row.columns.insert(name.to_string(), text);
                    if let FieldValue::Price(raw) = value {
                        row.columns.insert(format!("{name}_raw"), raw.to_string());
                    }
                } else {
                    row.json
                        .insert(name.to_string(), serde_json::Value::String(text));
                    if let FieldValue::Price(raw) = value {
                        row.json
                            .insert(format!("{name}_raw"), serde_json::Value::from(raw));
                    }
                }
            });
            rows.push(row);
        });
        assert_ne!(
            out,
            Outcome::Rejected,
            "frame {} of {} is not IEX-TP",
            frame.number,
            path.display()
        );
    }
    (rows, handler.stats(), n_frames)
}

/// Minimal RFC 4180 CSV reader (quoted fields, doubled quotes); the oracle files need no more.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                _ => field.push(c),
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
                _ => field.push(c),
            }
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

fn read_text(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if path.extension().is_some_and(|e| e == "gz") {
        let mut s = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut s)
            .expect("gzip oracle");
        s
    } else {
        String::from_utf8(bytes).expect("utf-8 oracle")
    }
}

/// TOPS 1.5 names the low sale-condition nibble `unused4`; translate our (TOPS 1.6) split for those fixtures.
fn to_tops15(json: &mut BTreeMap<String, serde_json::Value>) {
    let (Some(u3), Some(spc)) = (json.remove("unused3"), json.remove("singlepricecrosstrade"))
    else {
        return;
    };
    let n = |v: &serde_json::Value| v.as_str().unwrap().parse::<u64>().unwrap();
    json.insert(
        "unused4".into(),
        serde_json::Value::String((n(&u3) + 8 * n(&spc)).to_string()),
    );
    if let Some(serde_json::Value::String(t)) = json.get_mut("saleconditionflags_text") {
        *t = t
            .split('|')
            .filter(|f| *f != "Singleprice Cross Trade")
            .collect::<Vec<_>>()
            .join("|");
        if t.is_empty() {
            json.remove("saleconditionflags_text");
        }
    }
}

#[derive(Default)]
struct Compared {
    messages: u64,
    fields: u64,
}

/// Compares one capture with its oracle CSV and counts.json.
fn check_capture(capture_rel: &str, oracle_rel: &str, total: &mut Compared) {
    let Some(capture) = testdata::require(capture_rel) else {
        return;
    };
    let Some(oracle_csv) = testdata::require(&format!("{oracle_rel}.csv{}", gz_suffix(oracle_rel)))
    else {
        return;
    };
    let Some(counts_json) = testdata::require(&format!("{oracle_rel}.counts.json")) else {
        return;
    };
    let (ours, stats, _) = decode_capture(&capture);

    let table = parse_csv(&read_text(&oracle_csv));
    let header = &table[0];
    let oracle: Vec<&Vec<String>> = table[1..].iter().collect();
    assert_eq!(ours.len(), oracle.len(), "{capture_rel}: message count");
    let tops15 = capture_rel.contains("tops1.5");
    let mut fields = 0u64;
    for (i, (mine, theirs)) in ours.into_iter().zip(oracle).enumerate() {
        let ctx = || format!("{capture_rel} message {i} (frame {})", theirs[0]);
        let mut mine = mine;
        if tops15 {
            to_tops15(&mut mine.json);
        }
        for (name, value) in header.iter().zip(theirs.iter()) {
            if name == "fields_json" {
                let expected: BTreeMap<String, serde_json::Value> = serde_json::from_str(value)
                    .unwrap_or_else(|e| panic!("{}: bad fields_json: {e}", ctx()));
                assert_eq!(
                    mine.json.keys().collect::<Vec<_>>(),
                    expected.keys().collect::<Vec<_>>(),
                    "{}: fields_json keys",
                    ctx()
                );
                for (k, v) in &expected {
                    assert_eq!(mine.json.get(k), Some(v), "{}: fields_json.{k}", ctx());
                    fields += 1;
                }
            } else {
                assert_eq!(
                    mine.columns.get(name).map(String::as_str).unwrap_or(""),
                    value,
                    "{}: {name}",
                    ctx()
                );
                fields += 1;
            }
        }
        for k in mine.columns.keys() {
            assert!(
                header.contains(k),
                "{}: column {k} not in the oracle",
                ctx()
            );
        }
        total.messages += 1;
    }
    total.fields += fields;

    let counts: serde_json::Value = serde_json::from_str(&read_text(&counts_json)).unwrap();
    let expected: BTreeMap<String, u64> = counts["message_counts"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    let mine: BTreeMap<String, u64> = stats
        .type_counts()
        .map(|(t, n)| (char::from(t).to_string(), n))
        .collect();
    assert_eq!(mine, expected, "{capture_rel}: per-type counts");
    assert_eq!(
        stats.messages,
        counts["messages_total"].as_u64().unwrap(),
        "{capture_rel}: total"
    );
    assert_eq!(
        stats.segments,
        counts["packets"].as_u64().unwrap(),
        "{capture_rel}: packets"
    );
    assert_eq!(
        stats.sequence.heartbeats,
        counts["heartbeat_or_empty_packets"].as_u64().unwrap(),
        "{capture_rel}: heartbeats"
    );
    assert_eq!(
        stats.unknown_messages + stats.short_messages + stats.framing_errors,
        0,
        "{capture_rel}: errors"
    );
    assert_eq!(
        stats.sequence.truncated_packets, 0,
        "{capture_rel}: truncated"
    );
    eprintln!(
        "{capture_rel}: {} messages, {fields} fields equal to the oracle",
        stats.messages
    );
}

/// The large oracle CSVs are gzipped, the OMI ones are not.
fn gz_suffix(oracle_rel: &str) -> &'static str {
    if testdata::data_dir()
        .join(format!("{oracle_rel}.csv.gz"))
        .exists()
    {
        ".gz"
    } else {
        ""
    }
}

#[test]
fn tops16_matches_oracle() {
    let mut c = Compared::default();
    check_capture("iex/tops16.pcap.gz", "oracle/iex/tops16", &mut c);
    eprintln!("compared {} messages, {} fields", c.messages, c.fields);
}

#[test]
fn deep_cppparser_matches_oracle() {
    let mut c = Compared::default();
    check_capture(
        "iex/iex_cppparser-test.pcap.gz",
        "oracle/iex/iex_cppparser-test",
        &mut c,
    );
    eprintln!("compared {} messages, {} fields", c.messages, c.fields);
}

#[test]
fn every_omi_fixture_matches_oracle() {
    let Some(dir) = testdata::require("iex/omi") else {
        return;
    };
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".pcap"))
        .collect();
    names.sort();
    assert!(
        names.len() >= 27,
        "expected the 27 OMI fixtures, found {}",
        names.len()
    );
    let mut c = Compared::default();
    for name in &names {
        let stem = name.trim_end_matches(".pcap");
        check_capture(
            &format!("iex/omi/{name}"),
            &format!("oracle/iex/omi/{stem}"),
            &mut c,
        );
    }
    eprintln!(
        "compared {} messages, {} fields in {} OMI fixtures",
        c.messages,
        c.fields,
        names.len()
    );
    assert_eq!(
        c.messages, 960,
        "messages in the 27 OMI fixtures (MANIFEST.md counts)"
    );
}

/// DEEP10 has no per-message oracle; MANIFEST.md gives its counts, sequence restarts and the truncated final record.
#[test]
fn deep10_counts_restarts_and_truncation_match_manifest() {
    let Some(path) = testdata::require("iex/DEEP10.pcap.gz") else {
        return;
    };
    let (rows, s, frames) = decode_capture(&path);
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
    let mine: BTreeMap<String, u64> = s
        .type_counts()
        .map(|(t, n)| (char::from(t).to_string(), n))
        .collect();
    assert_eq!(mine, expected, "per-type counts (MANIFEST oracle column)");
    assert_eq!(s.messages, 391_999);
    assert_eq!(rows.len(), 391_999);
    assert_eq!(frames, 121_315, "pcap records, the last one cut short");
    assert_eq!(s.segments, 121_315);
    assert_eq!(s.segments_by_protocol, [0, 121_315, 0]);
    assert_eq!(s.sequence.heartbeats, 7_937);
    assert_eq!(
        s.sequence.restarts, 11,
        "sequence resets to 1 inside one session"
    );
    // The one gap is the cut record's range (MANIFEST: 44 messages announced from seq 105211, right after the last
    // complete packet's 105210), withheld by the truncation policy.
    assert_eq!((s.sequence.gaps, s.sequence.gap_messages), (1, 44));
    assert_eq!(
        s.sequence.duplicate_packets + s.sequence.duplicate_messages,
        0
    );
    assert_eq!(s.sequence.session_changes, 0);
    assert_eq!(s.sequence.truncated_packets, 1);
    assert_eq!(
        s.sequence.truncated_complete_messages, 11,
        "3 sells + 8 buys complete in the cut record"
    );
    assert_eq!(
        s.sequence.truncated_lost_messages, 33,
        "1 partial + 32 absent of the 44 announced"
    );
    assert_eq!(s.unknown_messages + s.short_messages + s.framing_errors, 0);
    // Time span of the messages (MANIFEST: 2017-04-25T15:03:41.826542542Z .. 19:51:44.901796060Z).
    assert_eq!(
        s.timestamp_range,
        Some((1_493_132_621_826_542_542, 1_493_149_904_901_796_060))
    );
    // The last accepted message is seq 105210 of the last segment.
    let last = rows.last().unwrap();
    assert_eq!(last.columns["seq"], "105210");
    eprintln!(
        "DEEP10: {} messages in {} packets, {} restarts, truncated: {} packet / {} complete / {} lost",
        s.messages,
        s.segments,
        s.sequence.restarts,
        s.sequence.truncated_packets,
        s.sequence.truncated_complete_messages,
        s.sequence.truncated_lost_messages
    );
}
