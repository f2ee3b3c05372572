//! Robustness and invariants of the IEX decoder on generated input: arbitrary bytes never panic, generated
//! segments round-trip, every cut of a segment is reported as truncation with the right number of complete
//! messages, and every announced message lands in exactly one sequence bucket.

use feed::encode::{write_iex_segment, IexSegmentHeader};
use feed::iex::fields::for_each_field;
use feed::iex::{decode, IexHandler, Message, Outcome, Packet, Protocol};
use proptest::prelude::*;

/// A generated message: type byte, the byte at offset 1, and the remaining body bytes after the timestamp.
#[derive(Debug, Clone)]
struct Gen {
    ty: u8,
    b1: u8,
    ts: i64,
    tail: Vec<u8>,
}

/// Spec lengths per (protocol, type); the types each protocol defines.
fn types(p: Protocol) -> &'static [(u8, usize)] {
    p.message_types()
}

fn encode(m: &Gen) -> Vec<u8> {
    let mut v = vec![m.ty, m.b1];
    v.extend_from_slice(&m.ts.to_le_bytes());
    v.extend_from_slice(&m.tail);
    v
}

fn segment(p: Protocol, session: u32, seq: u64, msgs: &[Vec<u8>]) -> Vec<u8> {
    let mut s = Vec::new();
    let h = IexSegmentHeader {
        protocol: p,
        channel_id: 1,
        session_id: session,
        stream_offset: 0,
        first_seq: seq,
        send_time: 1,
    };
    write_iex_segment(&mut s, &h, msgs);
    s
}

fn arb_protocol() -> impl Strategy<Value = Protocol> {
    prop_oneof![
        Just(Protocol::Tops),
        Just(Protocol::Deep),
        Just(Protocol::DeepPlus)
    ]
}

fn arb_messages(p: Protocol) -> impl Strategy<Value = Vec<Gen>> {
    let t = types(p);
    prop::collection::vec(
        (
            0..t.len(),
            any::<u8>(),
            any::<i64>(),
            prop::collection::vec(any::<u8>(), 80),
            0usize..4,
        ),
        0..20,
    )
    .prop_map(move |v| {
        v.into_iter()
            .map(|(i, b1, ts, bytes, grow)| {
                let (ty, len) = t[i];
                // `grow` > 0 appends bytes (IEX may extend messages at their end).
                Gen {
                    ty,
                    b1,
                    ts,
                    tail: bytes[..len - 10 + grow].to_vec(),
                }
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300), p in arb_protocol()) {
        if let Ok(packet) = Packet::parse(&bytes) {
            for block in packet.messages() {
                let Ok(block) = block else { break };
                if let Ok(m) = decode(p, block.bytes) {
                    for_each_field(&m, |_, v| { let _ = v.to_string(); });
                }
            }
            let _ = packet.integrity();
        }
        let _ = decode(p, &bytes);
        let mut h = IexHandler::new();
        h.on_datagram(&bytes, false, |_, m| for_each_field(&m, |_, v| { let _ = v.to_string(); }));
    }

    #[test]
    fn generated_segments_round_trip(p in arb_protocol(), msgs in arb_protocol().prop_flat_map(arb_messages)) {
        // Re-map the generated types into `p`'s type set where needed.
        let t = types(p);
        let msgs: Vec<Gen> = msgs.into_iter().enumerate().map(|(i, mut g)| {
            if !t.iter().any(|&(ty, _)| ty == g.ty) {
                let (ty, len) = t[i % t.len()];
                g.ty = ty;
                g.tail.resize(len - 10, 0);
            }
            g
        }).collect();
        let wire: Vec<Vec<u8>> = msgs.iter().map(encode).collect();
        let seg = segment(p, 9, 100, &wire);
        let mut h = IexHandler::new();
        let mut got = Vec::new();
        let out = h.on_datagram(&seg, false, |meta, m: Message<'_>| {
            got.push((meta.seq, meta.index, m.message_type(), m.timestamp(), m.bytes().to_vec()));
        });
        let Outcome::Segment { delivered, .. } = out else { panic!("{out:?}") };
        prop_assert_eq!(usize::from(delivered), msgs.len());
        for (i, ((seq, index, ty, ts, bytes), g)) in got.iter().zip(&msgs).enumerate() {
            prop_assert_eq!(*seq, 100 + i as u64);
            prop_assert_eq!(usize::from(*index), i);
            prop_assert_eq!(*ty, g.ty);
            prop_assert_eq!(*ts, g.ts);
            let w = &wire[i];
            prop_assert_eq!(&bytes[..], &w[..bytes.len()]);
        }
        prop_assert_eq!(h.stats().messages, msgs.len() as u64);
    }

    #[test]
    fn every_capture_cut_is_truncation_and_an_unflagged_cut_is_malformed(
        p in arb_protocol(),
        msgs in arb_protocol().prop_flat_map(arb_messages),
        cut_frac in 0.0f64..1.0,
    ) {
        let wire: Vec<Vec<u8>> = msgs.iter().map(encode).collect();
        let seg = segment(p, 9, 1, &wire);
        let body = seg.len() - 40;
        prop_assume!(body > 0);
        let keep = 40 + ((body as f64) * cut_frac) as usize; // always < seg.len()
        let mut complete = 0u16;
        let mut used = 0;
        for w in &wire {
            if used + 2 + w.len() <= keep - 40 { used += 2 + w.len(); complete += 1; } else { break; }
        }
        // Cut by the capture (flagged): nothing delivered, the whole segment is a gap.
        let mut h = IexHandler::new();
        let out = h.on_datagram(&seg[..keep], true, |_, _| panic!("delivered from a truncated segment"));
        let announced = wire.len() as u16;
        // Unknown types in another protocol's set still frame as blocks, so `complete` counts blocks.
        prop_assert_eq!(out, Outcome::Truncated { protocol: p, complete, announced });
        let s = h.stats().sequence;
        prop_assert_eq!(s.truncated_complete_messages + s.truncated_lost_messages, u64::from(announced));
        prop_assert_eq!((s.gaps, s.gap_messages), (1, u64::from(announced)));
        // The same bytes as an intact datagram: broken framing, the complete blocks before the break are walked.
        let mut h = IexHandler::new();
        let mut delivered = 0u64;
        let out = h.on_datagram(&seg[..keep], false, |_, _| delivered += 1);
        prop_assert!(matches!(out, Outcome::Segment { .. }), "{:?}", out);
        let s = h.stats();
        prop_assert_eq!(delivered + s.unknown_messages + s.short_messages, u64::from(complete));
        prop_assert_eq!(s.framing_errors, 1);
        prop_assert_eq!(s.sequence.gaps, 0);
    }

    #[test]
    fn every_announced_message_lands_in_one_bucket(
        plan in prop::collection::vec((0u64..40, 0u16..6, any::<bool>()), 1..60)
    ) {
        // A stream of heartbeats and data segments with random (possibly repeated, skipped or restarted) sequence
        // numbers; every message of a data segment must be counted exactly once: delivered-new, duplicate, or
        // truncated. Gaps count messages that never arrived.
        let mut h = IexHandler::new().deliver_duplicates(false);
        let m = encode(&Gen { ty: b'S', b1: b'O', ts: 1, tail: vec![] });
        let mut announced = 0u64;
        let mut delivered = 0u64;
        for (i, (seq, count, truncate)) in plan.iter().enumerate() {
            let mut seg = segment(Protocol::Deep, 1, seq + 1, &vec![m.clone(); usize::from(*count)]);
            seg[32..40].copy_from_slice(&(i as i64).to_le_bytes()); // send time increases
            let cut = if *truncate && *count > 0 { seg.len() - 1 } else { seg.len() };
            announced += u64::from(*count);
            h.on_datagram(&seg[..cut], cut < seg.len(), |_, _| delivered += 1);
        }
        let s = h.stats();
        let q = s.sequence;
        prop_assert_eq!(
            delivered + s.skipped_duplicates + q.truncated_complete_messages + q.truncated_lost_messages,
            announced
        );
        prop_assert_eq!(s.skipped_duplicates, q.duplicate_messages);
    }
}
