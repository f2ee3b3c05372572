//! MoldUDP64 framing and sequencing on arbitrary datagrams: the block iterator never reads past the datagram, the
//! blocks it yields plus the reported error account for every byte, and the sequencer/analyzer never panic.
#![no_main]

use feed::analyze::{Analyzer, AnalyzerConfig};
use feed::moldudp64::{FramingError, Packet, PacketKind, Sequencer, HEADER_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut seq = Sequencer::new();
    let mut an = Analyzer::new(AnalyzerConfig::default());
    // The input may hold several datagrams: split on a 2-byte big-endian length prefix whose top bit says the
    // datagram was cut by the capture (its messages withheld, its sequence range a gap).
    let mut rest = data;
    while rest.len() >= 2 {
        let prefix = u16::from_be_bytes([rest[0], rest[1]]);
        let cut = prefix & 0x8000 != 0;
        let n = ((prefix & 0x7FFF) as usize).min(rest.len() - 2);
        let dgram = &rest[2..2 + n];
        rest = &rest[2 + n..];
        let Ok(p) = Packet::parse(dgram) else {
            assert!(dgram.len() < HEADER_LEN);
            continue;
        };
        let gaps_before = seq.counters().gaps;
        if cut {
            let _ = seq.on_lost_packet(p.session(), p.sequence(), p.count());
        } else {
            let _ = seq.on_packet(&p);
        }
        assert!(seq.counters().gaps <= gaps_before + 1);
        let mut blocks = p.blocks();
        let mut used = 0usize;
        let mut count = 0u32;
        for b in blocks.by_ref() {
            used += 2 + b.len();
            count += 1;
        }
        assert!(used <= p.payload.len());
        match (p.kind(), blocks.error()) {
            (PacketKind::Messages(k), None) => {
                assert_eq!(count, k as u32);
                assert_eq!(used, p.payload.len());
            }
            (_, Some(FramingError::TrailingBytes { len })) => {
                assert_eq!(used + len, p.payload.len())
            }
            (PacketKind::Messages(k), Some(FramingError::BlockOverrun { .. })) => {
                assert!(count < k as u32)
            }
            (_, None) => assert_eq!(count, 0),
            (_, Some(e)) => panic!("unexpected {e:?} for {:?}", p.kind()),
        }
        let mut delivered = 0u32;
        an.on_mold(1, 0, dgram, cut, &mut |_, _| delivered += 1);
        if cut {
            assert_eq!(
                delivered, 0,
                "a datagram cut by the capture delivers nothing"
            );
        }
    }
    let s = an.stats();
    assert!(s.messages <= data.len() as u64);
});
