//! Round trips through the encoder and every reader: random ITCH messages of every type -> owned structs -> bytes
//! -> (raw file | MoldUDP64 in pcap | MoldUDP64 in pcapng) -> Capture -> Analyzer -> decode -> owned again.
//! The expected values are the random input bytes themselves.

use feed::analyze::{Analyzer, AnalyzerConfig, FeedMessage, Session};
use feed::capture::Capture;
use feed::encode::itch::Message as Owned;
use feed::encode::{MoldPacketizer, PcapNgWriter, PcapWriter, RawItchWriter, UdpFraming};
use feed::itch;
use proptest::prelude::*;

/// A random, well-formed message of any type: the type byte plus spec-length-minus-one random bytes.
fn any_message() -> impl Strategy<Value = Vec<u8>> {
    (0..itch::ALL_TYPES.len()).prop_flat_map(|i| {
        let t = itch::ALL_TYPES[i];
        let len = itch::spec_len(t).unwrap();
        proptest::collection::vec(any::<u8>(), len - 1).prop_map(move |mut body| {
            body.insert(0, t);
            body
        })
    })
}

#[derive(Debug, PartialEq)]
struct Seen {
    seq: u64,
    msg_index: u16,
    frame: u64,
    bytes: Vec<u8>,
}

fn analyze(bytes: Vec<u8>) -> (Vec<Seen>, feed::stats::FeedStats) {
    let cap = Capture::from_vec("roundtrip", bytes, None).unwrap();
    let mut an = Analyzer::new(AnalyzerConfig::default());
    let mut seen = Vec::new();
    an.run(&cap, &mut |meta, m| {
        let FeedMessage::Itch(m) = m else {
            panic!("not ITCH")
        };
        if let Session::Mold(s) = meta.session {
            assert_eq!(s, b"RNDTRIP001");
        }
        // Owned conversion and re-encoding reproduce the wire bytes.
        let owned = Owned::from(m);
        let mut buf = [0u8; 64];
        let n = owned.encode(&mut buf).unwrap();
        assert_eq!(&buf[..n], m.as_bytes());
        assert_eq!(owned.timestamp(), m.timestamp());
        assert_eq!(owned.stock_locate(), m.stock_locate());
        seen.push(Seen {
            seq: meta.seq,
            msg_index: meta.msg_index,
            frame: meta.frame,
            bytes: m.as_bytes().to_vec(),
        });
    });
    (seen, an.stats())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn owned_encode_decode_is_identity(msg in any_message()) {
        let m = itch::decode(&msg).unwrap();
        let owned = Owned::from(m);
        prop_assert_eq!(owned.msg_type(), msg[0]);
        let mut buf = vec![0u8; owned.len()];
        owned.encode(&mut buf).unwrap();
        prop_assert_eq!(&buf, &msg);
        // Every field visited; alpha values are the trimmed bytes.
        let mut fields = 0;
        m.for_each_field(|_, _| fields += 1);
        prop_assert!(fields >= 4);
    }

    #[test]
    fn raw_file_round_trip(msgs in proptest::collection::vec(any_message(), 1..200)) {
        let mut w = RawItchWriter::new(Vec::new());
        for m in &msgs {
            w.write_message(m).unwrap();
        }
        // Force the format: random first messages are valid ITCH, so detection would also work.
        let (seen, stats) = analyze(w.into_inner().unwrap());
        prop_assert_eq!(seen.len(), msgs.len());
        for (i, (s, m)) in seen.iter().zip(&msgs).enumerate() {
            prop_assert_eq!(&s.bytes, m);
            prop_assert_eq!(s.seq, i as u64 + 1);
        }
        prop_assert_eq!(stats.messages, msgs.len() as u64);
        prop_assert_eq!(stats.unknown + stats.malformed + stats.truncated, 0);
    }

    #[test]
    fn moldudp64_pcap_and_pcapng_round_trip(
        msgs in proptest::collection::vec(any_message(), 1..300),
        per_packet in 1u16..40,
        first_seq in 1u64..1_000_000_000,
        vlan in proptest::option::of(0u16..4096),
    ) {
        let framing = UdpFraming { vlan, ..UdpFraming::default() };
        let mut datagrams: Vec<Vec<u8>> = Vec::new();
        let mut p = MoldPacketizer::new(*b"RNDTRIP001", first_seq, MoldPacketizer::MTU_PAYLOAD, per_packet);
        for m in &msgs {
            p.push(m, &mut |d: &[u8]| datagrams.push(d.to_vec())).unwrap();
        }
        p.heartbeat(&mut |d: &[u8]| datagrams.push(d.to_vec()));
        let mut pcap = PcapWriter::new(Vec::new(), framing).unwrap();
        let mut ng = PcapNgWriter::new(Vec::new(), framing).unwrap();
        for (i, d) in datagrams.iter().enumerate() {
            let ts = 1_700_000_000_000_000_000 + i as u64 * 1_000;
            pcap.write_udp(ts, d).unwrap();
            ng.write_udp(ts, d).unwrap();
        }
        for file in [pcap.into_inner().unwrap(), ng.into_inner().unwrap()] {
            let (seen, stats) = analyze(file);
            prop_assert_eq!(seen.len(), msgs.len());
            for (i, (s, m)) in seen.iter().zip(&msgs).enumerate() {
                prop_assert_eq!(&s.bytes, m);
                prop_assert_eq!(s.seq, first_seq + i as u64);
            }
            prop_assert_eq!(stats.frames, datagrams.len() as u64);
            prop_assert_eq!(stats.packets, datagrams.len() as u64);
            prop_assert_eq!(stats.heartbeats, 1);
            prop_assert_eq!(stats.gaps + stats.duplicates + stats.unknown + stats.malformed + stats.truncated, 0);
            // Frame numbers are 1-based and the index restarts per packet.
            prop_assert_eq!(seen[0].frame, 1);
            prop_assert_eq!(seen[0].msg_index, 0);
        }
    }
}
