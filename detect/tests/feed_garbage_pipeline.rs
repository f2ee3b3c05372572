//! Property tests, end to end: random feeds decoded, applied to the books and run through every detector and the
//! CEP stage with the shipped rules. No panic (overflow checks on), every alert valid JSON, and the same alerts twice.
//!
//! - Raw ITCH 5.0: well-formed messages of every type whose fields are random bytes (prices and sizes up to
//!   `u32::MAX`, any side byte, any timestamp), with the stock locates and order references drawn from small pools
//!   half the time so that orders meet again (executed, cancelled, replaced, re-added, in unannounced books).
//! - IEX-TP in pcap (TOPS, DEEP, DEEP+): messages of every type of the protocol with random bodies (prices are
//!   8-byte integers, so any `i64`), symbols and DEEP+ order ids from small pools half the time.

use book::replay::{replay, FeedKind};
use book::{Books, StoreConfig};
use detect::{Alert, DetectConfig, DetectorSet};
use feed::capture::{Capture, Format, UdpFilter};
use feed::encode::{write_iex_segment, IexSegmentHeader, PcapWriter, UdpFraming};
use feed::iex::Protocol;
use feed::itch;
use proptest::prelude::*;

mod common;
use common::{alert_json, shipped_cep_stage};

/// Types whose order reference sits at bytes 11..19 (and, for `U`, the new one at 19..27).
const WITH_REF: &[u8] = b"AFECXDU";

/// A generated ITCH message: its bytes, whether it is tamed, and the locate, references and side it then gets.
type ItchGen = (Vec<u8>, bool, u16, u64, u64, bool);

/// One message: a random well-formed message of any type; when `tame`, its locate is 1–4, its order references
/// come from a pool of 16, an add's side is `B` or `S` and its timestamp follows `ts`.
fn message() -> impl Strategy<Value = ItchGen> {
    (0..itch::ALL_TYPES.len()).prop_flat_map(|i| {
        let t = itch::ALL_TYPES[i];
        let len = itch::spec_len(t).expect("spec length");
        (
            proptest::collection::vec(any::<u8>(), len - 1).prop_map(move |mut body| {
                body.insert(0, t);
                body
            }),
            any::<bool>(),
            1u16..5,
            1u64..17,
            1u64..17,
            any::<bool>(),
        )
    })
}

/// The raw ITCH file (2-byte big-endian length before each message) of `msgs`, tamed as [`message`] says; tamed
/// timestamps advance from 09:30 by `step_ns` per message.
fn raw_itch(msgs: &[ItchGen], step_ns: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ts = 34_200_000_000_000u64;
    for (m, tame, locate, r1, r2, buy) in msgs {
        let mut m = m.clone();
        if *tame {
            m[1..3].copy_from_slice(&locate.to_be_bytes());
            ts += step_ns;
            m[5..11].copy_from_slice(&ts.to_be_bytes()[2..]);
            if WITH_REF.contains(&m[0]) {
                m[11..19].copy_from_slice(&r1.to_be_bytes());
                if m[0] == b'U' {
                    m[19..27].copy_from_slice(&r2.to_be_bytes());
                }
                if matches!(m[0], b'A' | b'F') {
                    m[19] = if *buy { b'B' } else { b'S' };
                }
            }
        }
        out.extend_from_slice(&(m.len() as u16).to_be_bytes());
        out.extend_from_slice(&m);
    }
    out
}

/// Decode → books → detectors (and CEP) over `bytes` (raw ITCH when `raw`, else a pcap); every alert as its JSON
/// line.
fn run(bytes: &[u8], raw: bool, cfg: &DetectConfig) -> Vec<String> {
    let cap = if raw {
        Capture::from_vec("garbage.itch", bytes.to_vec(), Some(Format::RawItch))
    } else {
        Capture::from_vec("garbage.pcap", bytes.to_vec(), None)
    }
    .expect("capture");
    let mut books = Books::new(StoreConfig::default());
    let mut set = DetectorSet::new(cfg);
    set.keep_sliding_features();
    let mut cep = shipped_cep_stage();
    let mut out = Vec::new();
    let mut push = |a: &Alert| {
        let line = alert_json(a);
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("invalid JSON ({e}): {line}"));
        assert!(
            v["detector"].is_string() && v["evidence"].is_object(),
            "{line}"
        );
        out.push(line);
    };
    let summary = replay(&cap, UdpFilter::default(), &mut books, |ev| {
        set.on_event(ev, &mut push);
        let snap = set.features(ev.book);
        cep.on_event(ev, snap.as_ref(), &mut push);
    });
    // The input really reached the books as the feed it was made as (else the property proves nothing).
    assert_eq!(
        summary.feed,
        if raw { FeedKind::Itch } else { FeedKind::Iex }
    );
    assert!(summary.messages > 0);
    set.finish(&mut push);
    cep.finish(&mut push);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_itch_through_books_and_detectors(
        msgs in prop::collection::vec(message(), 1..300),
        step_ns in prop_oneof![Just(1u64), 1_000u64..50_000_000],
    ) {
        let bytes = raw_itch(&msgs, step_ns);
        let cfg = DetectConfig::from_toml_str(
            "[general]\nmedian_min_orders = 1\nmedian_window_orders = 8\nmedian_refresh_orders = 1\n\
             [layering]\nanon_max_chance = 1.0\n[quote_stuffing]\nmin_messages = 3\n\
             [order_to_trade]\nmin_order_messages = 3\nmpid_min_order_messages = 2\n",
        )
        .expect("config");
        for cfg in [DetectConfig::default(), cfg] {
            prop_assert_eq!(run(&bytes, true, &cfg), run(&bytes, true, &cfg));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_iex_through_books_and_detectors(
        p in prop_oneof![Just(Protocol::Tops), Just(Protocol::Deep), Just(Protocol::DeepPlus)],
        msgs in prop::collection::vec(
            (0usize..64, proptest::collection::vec(any::<u8>(), 80), any::<bool>(), 0usize..3, 1u64..17),
            1..200,
        ),
        per_segment in 1usize..8,
    ) {
        let bytes = iex_pcap(p, &msgs, per_segment);
        let cfg = DetectConfig::from_toml_str(
            "[general]\nmedian_min_orders = 1\n[quote_stuffing]\nmin_messages = 3\n\
             [order_to_trade]\nmin_order_messages = 3\n",
        )
        .expect("config");
        for cfg in [DetectConfig::default(), cfg] {
            prop_assert_eq!(run(&bytes, false, &cfg), run(&bytes, false, &cfg));
        }
    }
}

/// A pcap of IEX-TP segments (`per_segment` messages each, sequence numbers in order) holding `msgs`: each a type
/// index, random body bytes, whether it is tamed (timestamp advancing from 2024-01-02 09:30 ET, symbol from a pool
/// of 3, DEEP+ order id from a pool of 16) and those pool indices.
fn iex_pcap(
    p: Protocol,
    msgs: &[(usize, Vec<u8>, bool, usize, u64)],
    per_segment: usize,
) -> Vec<u8> {
    const SYMBOLS: [&[u8; 8]; 3] = [b"AAA     ", b"BBB     ", b"CCC     "];
    let types = p.message_types();
    let mut ts = 1_704_205_800_000_000_000i64;
    let wire: Vec<Vec<u8>> = msgs
        .iter()
        .map(|(ti, body, tame, sym, id)| {
            let (ty, len) = types[ti % types.len()];
            let mut m = body[..len].to_vec();
            m[0] = ty;
            if *tame {
                ts += 1_000_000;
                m[2..10].copy_from_slice(&ts.to_le_bytes());
                if len >= 18 && ty != b'S' {
                    m[10..18].copy_from_slice(SYMBOLS[*sym]);
                }
                if p == Protocol::DeepPlus && matches!(ty, b'a' | b'M' | b'R' | b'L') {
                    m[18..26].copy_from_slice(&id.to_le_bytes());
                }
            }
            m
        })
        .collect();
    let mut w = PcapWriter::new(Vec::new(), UdpFraming::default()).expect("pcap writer");
    let mut seq = 1u64;
    for (k, chunk) in wire.chunks(per_segment.max(1)).enumerate() {
        let mut s = Vec::new();
        let h = IexSegmentHeader {
            protocol: p,
            channel_id: 1,
            session_id: 7,
            stream_offset: 0,
            first_seq: seq,
            send_time: ts + k as i64,
        };
        write_iex_segment(&mut s, &h, chunk);
        seq += chunk.len() as u64;
        w.write_udp(1_000 + k as u64, &s).expect("write");
    }
    w.into_inner().expect("pcap bytes")
}
