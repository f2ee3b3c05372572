//! Fuzz target: IEX-TP framing, message decode, field rendering and the sequence-tracking handler.
//!
//! The input is read as a series of datagrams (`u16` little-endian length + bytes, the last one taking whatever
//! remains) fed to one `IexHandler`, so sequence state carries across segments; each datagram is also walked
//! block by block and decoded under all three protocols. Any panic is a bug.
#![no_main]

use feed::iex::fields::for_each_field;
use feed::iex::{decode, IexHandler, Packet, Protocol};
use libfuzzer_sys::fuzz_target;

fn render(m: &feed::iex::Message<'_>) -> usize {
    let mut n = 0;
    for_each_field(m, |name, v| {
        n += name.len() + v.to_string().len() + usize::from(v.price_raw().is_some());
    });
    n
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    let mut handler = IexHandler::new().deliver_duplicates(mode & 1 == 0);
    let mut sink = 0usize;
    while !rest.is_empty() {
        let datagram = match rest.split_first_chunk::<2>() {
            Some((len, tail)) => {
                let len = usize::from(u16::from_le_bytes(*len)).min(tail.len());
                let (d, t) = tail.split_at(len);
                rest = t;
                d
            }
            None => std::mem::take(&mut rest),
        };
        if let Ok(packet) = Packet::parse(datagram) {
            let _ = packet.integrity();
            for block in packet.messages() {
                let Ok(block) = block else { break };
                for p in Protocol::ALL {
                    if let Ok(m) = decode(p, block.bytes) {
                        sink += render(&m) + m.bytes().len() + m.spec_len();
                        let _ = (m.timestamp(), m.symbol());
                    }
                }
            }
        }
        let truncated = mode & 2 != 0;
        handler.on_datagram(datagram, truncated, |meta, m| {
            assert!(!truncated, "a datagram cut by the capture delivers nothing");
            sink += render(&m) + usize::from(meta.index);
        });
    }
    let s = handler.stats();
    let q = s.sequence;
    // Accounting invariants hold for any input.
    assert!(q.heartbeats <= q.packets);
    assert_eq!(s.messages, s.counts.iter().sum::<u64>());
    std::hint::black_box(sink);
});
