//! Bad input at the library level: every cut of real and generated captures, payloads cut mid-message, corrupted
//! headers, random bytes and random mutations. Never a panic; damage lands in counters. Truncation policy (crate docs):
//! a datagram cut by the capture is withheld and becomes a gap; an intact one with broken framing keeps the messages
//! before the break.

use feed::analyze::{Analyzer, AnalyzerConfig};
use feed::capture::{Capture, CaptureError, Format};
use feed::encode::{write_mold_packet, PcapNgWriter, PcapWriter, UdpFraming};
use feed::stats::FeedStats;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn run(bytes: Vec<u8>, format: Option<Format>) -> Result<FeedStats, CaptureError> {
    let cap = Capture::from_vec("garbage", bytes, format)?;
    let mut an = Analyzer::new(AnalyzerConfig::default());
    let mut n = 0u64;
    an.run(&cap, &mut |_, _| n += 1);
    let s = an.stats();
    assert_eq!(n, s.messages);
    Ok(s)
}

/// A pcap + pcapng pair of 30 MoldUDP64 packets with 1..=5 Order Delete messages each (seq from 1).
fn generated() -> (Vec<u8>, Vec<u8>, u64) {
    let framing = UdpFraming::default();
    let mut pcap = PcapWriter::new(Vec::new(), framing).unwrap();
    let mut ng = PcapNgWriter::new(Vec::new(), framing).unwrap();
    let mut seq = 1u64;
    for p in 0..30u64 {
        let k = (p % 5 + 1) as usize;
        let msgs: Vec<Vec<u8>> = (0..k)
            .map(|i| {
                let mut d = vec![b'D', 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
                d.extend_from_slice(&(seq + i as u64).to_be_bytes());
                d
            })
            .collect();
        let refs: Vec<&[u8]> = msgs.iter().map(|m| m.as_slice()).collect();
        let mut buf = [0u8; 512];
        let n = write_mold_packet(&mut buf, b"GARBAGE001", seq, &refs).unwrap();
        pcap.write_udp(1_000_000_000 + p, &buf[..n]).unwrap();
        ng.write_udp(1_000_000_000 + p, &buf[..n]).unwrap();
        seq += k as u64;
    }
    (
        pcap.into_inner().unwrap(),
        ng.into_inner().unwrap(),
        seq - 1,
    )
}

#[test]
fn every_cut_of_a_generated_pcap_and_pcapng() {
    let (pcap, ng, total) = generated();
    for (file, fmt) in [(pcap, Format::Pcap), (ng, Format::PcapNg)] {
        let full = run(file.clone(), None).unwrap();
        assert_eq!(full.messages, total);
        let mut prev = 0;
        for cut in 1..file.len() {
            match run(file[..cut].to_vec(), None) {
                Ok(s) => {
                    // Messages only grow with the cut point; nothing decoded is invented.
                    assert!(
                        s.messages >= prev && s.messages <= total,
                        "{fmt} cut {cut}: {s:?}"
                    );
                    assert_eq!(s.duplicates + s.unknown, 0, "{fmt} cut {cut}: {s:?}");
                    // The only possible gap is the cut packet itself: withheld, its messages are missing.
                    assert!(s.gaps <= 1, "{fmt} cut {cut}: {s:?}");
                    assert_eq!(
                        s.gap_messages,
                        s.truncated_complete_messages + s.truncated_lost_messages,
                        "{fmt} cut {cut}: {s:?}"
                    );
                    prev = s.messages;
                }
                // Only cuts inside the file header may be errors.
                Err(e) => assert!(cut < 28, "{fmt} cut {cut}: {e}"),
            }
        }
        // One byte short: the last packet (5 messages) is cut, so all of it is withheld (pcapng loses only the
        // block's trailing length field: the datagram itself is intact and delivered).
        assert!(
            prev == total - 5 || (fmt == Format::PcapNg && prev == total),
            "{fmt}: {prev}"
        );
    }
}

#[test]
fn every_cut_of_the_real_merged_capture() {
    let Some(p) = feed::testdata::require("nasdaq/itch50-moldudp64/merged-all-49-files.pcap")
    else {
        return;
    };
    let file = std::fs::read(p).unwrap();
    for cut in (24..file.len()).step_by(7) {
        let s = run(file[..cut].to_vec(), None).unwrap();
        assert!(s.messages <= 227);
        assert_eq!(s.malformed + s.unknown, 0, "cut {cut}: {s:?}");
        assert!(s.truncated <= 1, "cut {cut}: {s:?}");
    }
}

#[test]
fn udp_payloads_cut_mid_message_are_withheld_and_become_a_gap() {
    // Each frame keeps its headers and the first `keep` payload bytes: 20-byte MoldUDP64 header + blocks of 21
    // bytes (2 + 19); the record says the wire length was the full frame.
    let framing = UdpFraming::default();
    let mut msgs = Vec::new();
    for i in 0..4u64 {
        let mut d = vec![b'D', 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
        d.extend_from_slice(&(i + 1).to_be_bytes());
        msgs.push(d);
    }
    let refs: Vec<&[u8]> = msgs.iter().map(|m| m.as_slice()).collect();
    let mut buf = [0u8; 256];
    let n = write_mold_packet(&mut buf, b"CUTCUTCUT1", 1, &refs).unwrap();
    let mut frame = Vec::new();
    feed::encode::build_udp_frame(&mut frame, &framing, 1, &buf[..n]);
    let headers = frame.len() - n;
    for keep in 0..n {
        let mut w = PcapWriter::new(Vec::new(), framing).unwrap();
        w.write_frame(5, &frame[..headers + keep], frame.len() as u32)
            .unwrap();
        let s = run(w.into_inner().unwrap(), None).unwrap();
        assert_eq!(
            s.messages, 0,
            "keep {keep}: a datagram cut by the capture delivers nothing: {s:?}"
        );
        assert_eq!(s.truncated, 1, "keep {keep}");
        assert_eq!(
            s.malformed, 0,
            "keep {keep}: cut by the capture, not malformed"
        );
        if keep >= 20 {
            // MoldUDP64 header present: the 4 announced messages are a gap, split into complete and cut/absent.
            let complete = ((keep - 20) / 21) as u64;
            assert_eq!(
                (s.packets, s.gaps, s.gap_messages),
                (1, 1, 4),
                "keep {keep}"
            );
            assert_eq!(
                (s.truncated_complete_messages, s.truncated_lost_messages),
                (complete, 4 - complete),
                "keep {keep}"
            );
        } else {
            assert_eq!((s.packets, s.gaps), (0, 0), "keep {keep}");
        }
    }
    // The same cut with the record claiming the cut length (i.e. the datagram itself is inconsistent): the UDP
    // length then exceeds the IP length -> malformed.
    let mut bad = frame.clone();
    let ip = 14;
    let total = (bad.len() - ip - 10) as u16;
    bad[ip + 2..ip + 4].copy_from_slice(&total.to_be_bytes());
    bad.truncate(bad.len() - 10);
    let mut w = PcapWriter::new(Vec::new(), framing).unwrap();
    w.write_frame(5, &bad, bad.len() as u32).unwrap();
    let s = run(w.into_inner().unwrap(), None).unwrap();
    assert_eq!((s.messages, s.malformed), (0, 1));
}

#[test]
fn framing_errors_inside_packets_are_malformed() {
    let framing = UdpFraming::default();
    let mut d = vec![b'D', 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
    d.extend_from_slice(&7u64.to_be_bytes());
    let mut buf = [0u8; 128];
    let n = write_mold_packet(&mut buf, b"FRAMING001", 1, &[&d, &d]).unwrap();
    // Count says 3 but only 2 blocks: block overrun. Then trailing bytes. Then a wrong-length message.
    let mut overrun = buf[..n].to_vec();
    overrun[19] = 3;
    let mut trailing = buf[..n].to_vec();
    trailing.extend_from_slice(&[1, 2, 3]);
    let mut short = buf[..n].to_vec();
    short[20 + 1] = 18; // first block length 18: 'D' with a wrong length, and the rest misframed
    let mut w = PcapWriter::new(Vec::new(), framing).unwrap();
    for p in [&overrun, &trailing, &short] {
        w.write_udp(1, p).unwrap();
    }
    w.write_udp(1, &[0u8; 7]).unwrap(); // too short for any transport header
    let s = run(w.into_inner().unwrap(), None).unwrap();
    // overrun: 2 messages + malformed; trailing: 2 messages (seq 1, duplicate delivered) + malformed;
    // short: 'D' of 18 bytes malformed, then a misframed block -> malformed.
    assert_eq!(s.messages, 4, "{s:?}");
    assert_eq!(s.malformed, 1 + 1 + 2, "{s:?}");
    assert_eq!(s.unrecognized, 1, "{s:?}");
    assert_eq!(s.truncated, 0);
}

#[test]
fn corrupt_record_header_stops_the_walk_and_is_counted() {
    let (pcap, _, _) = generated();
    let mut bad = pcap.clone();
    // Second record header's incl_len -> absurd.
    let first_len = u32::from_le_bytes(bad[32..36].try_into().unwrap()) as usize;
    let second = 24 + 16 + first_len;
    bad[second + 8..second + 12].copy_from_slice(&u32::MAX.to_le_bytes());
    let cap = Capture::from_vec("bad.pcap", bad, None).unwrap();
    let mut an = Analyzer::new(AnalyzerConfig::default());
    an.run(&cap, &mut |_, _| {});
    let stop = an.stopped().unwrap();
    assert_eq!(stop.offset, second as u64);
    let s = an.stats();
    assert_eq!((s.messages, s.malformed), (1, 1));
}

#[test]
fn wrong_magic_and_corrupt_headers_are_clean_errors() {
    let (pcap, ng, _) = generated();
    let mut bad = pcap.clone();
    bad[0] = 0;
    assert!(matches!(
        run(bad.clone(), None),
        Err(CaptureError::UnknownFormat { .. })
    ));
    assert!(matches!(
        run(bad, Some(Format::Pcap)),
        Err(CaptureError::BadMagic { .. })
    ));
    let mut ver = pcap.clone();
    ver[4] = 9;
    let e = run(ver, None).unwrap_err();
    assert!(e.to_string().contains("offset 4"), "{e}");
    let mut shb = ng.clone();
    shb[8] = 0;
    assert!(matches!(
        run(shb, None),
        Err(CaptureError::CorruptHeader { offset: 8, .. })
    ));
    assert!(matches!(
        run(Vec::new(), None),
        Err(CaptureError::Empty { .. })
    ));
    assert!(matches!(
        run(pcap, Some(Format::PcapNg)),
        Err(CaptureError::BadMagic { .. })
    ));
}

#[test]
fn random_bytes_and_mutations_never_panic() {
    let mut rng = ChaCha8Rng::seed_from_u64(0x17c4);
    let (pcap, ng, _) = generated();
    let mut raw = Vec::new();
    let mut w = feed::encode::RawItchWriter::new(&mut raw);
    for i in 0..200u64 {
        let mut d = vec![b'D', 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
        d.extend_from_slice(&i.to_be_bytes());
        w.write_message(&d).unwrap();
    }
    for _ in 0..300 {
        let len = rng.gen_range(0..4096);
        let bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        for f in [
            None,
            Some(Format::Pcap),
            Some(Format::PcapNg),
            Some(Format::RawItch),
        ] {
            let _ = run(bytes.clone(), f);
        }
    }
    for base in [&pcap, &ng, &raw] {
        for _ in 0..300 {
            let mut b = base.clone();
            for _ in 0..rng.gen_range(1..20) {
                let i = rng.gen_range(0..b.len());
                b[i] = rng.gen();
            }
            if rng.gen_bool(0.3) {
                b.truncate(rng.gen_range(0..b.len()));
            }
            if let Ok(s) = run(b, None) {
                assert!(s.messages <= 200);
            }
        }
    }
}

#[test]
fn gzip_cut_short_keeps_what_inflated() {
    use std::io::Write;
    let (pcap, _, total) = generated();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&pcap).unwrap();
    let gz = gz.finish().unwrap();
    let full = run(gz.clone(), None).unwrap();
    assert_eq!(full.messages, total);
    let cut = run(gz[..gz.len() * 2 / 3].to_vec(), None).unwrap();
    assert!(cut.messages < total && cut.truncated >= 1, "{cut:?}");
    // Corrupt deflate data is an error naming the file.
    let mut bad = gz.clone();
    for b in &mut bad[20..40] {
        *b = 0xFF;
    }
    match run(bad, None) {
        Err(e) => assert!(e.to_string().contains("garbage"), "{e}"),
        Ok(s) => assert!(s.messages <= total),
    }
}
