//! Exit codes and messages of `tickwatch stats` / `dump` on bad input: non-zero only for files that cannot be read
//! or identified (the error names the file and offset); damage inside a readable capture is counted, exit 0.

use std::path::Path;
use std::process::{Command, Output};

use feed::encode::{write_mold_packet, PcapWriter, UdpFraming};

fn tickwatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tickwatch"))
        .args(args)
        .output()
        .expect("running tickwatch")
}

fn stats(path: &Path, extra: &[&str]) -> Output {
    let mut a = vec!["stats", "--json", path.to_str().unwrap()];
    a.extend_from_slice(extra);
    tickwatch(&a)
}

fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// 10 packets of 3 Order Delete messages each.
fn sample_pcap() -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), UdpFraming::default()).unwrap();
    for p in 0..10u64 {
        let msgs: Vec<Vec<u8>> = (0..3u64)
            .map(|i| {
                let mut d = vec![b'D', 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
                d.extend_from_slice(&(p * 3 + i).to_be_bytes());
                d
            })
            .collect();
        let refs: Vec<&[u8]> = msgs.iter().map(|m| m.as_slice()).collect();
        let mut buf = [0u8; 256];
        let n = write_mold_packet(&mut buf, b"CLITEST001", 1 + p * 3, &refs).unwrap();
        w.write_udp(1_000 + p, &buf[..n]).unwrap();
    }
    w.into_inner().unwrap()
}

#[test]
fn unreadable_or_unidentifiable_files_fail_with_the_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pcap");
    let o = stats(&missing, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("missing.pcap"), "{}", stderr(&o));

    let empty = dir.path().join("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    let o = stats(&empty, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("empty.pcap") && stderr(&o).contains("empty"),
        "{}",
        stderr(&o)
    );

    let o = stats(dir.path(), &[]);
    assert_eq!(o.status.code(), Some(2));

    let random = dir.path().join("random.bin");
    let bytes: Vec<u8> = (0..5000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&random, &bytes).unwrap();
    let o = stats(&random, &[]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("random.bin") && e.contains("offset 0"), "{e}");
    let o = tickwatch(&["dump", random.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));

    // Wrong magic on a forced format; corrupt header with the byte offset.
    let mut pcap = sample_pcap();
    let wrong = dir.path().join("wrong-magic.pcap");
    std::fs::write(&wrong, &pcap[4..]).unwrap();
    let o = stats(&wrong, &["--format", "pcap"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("wrong-magic.pcap"), "{}", stderr(&o));
    pcap[4] = 7;
    let corrupt = dir.path().join("corrupt-header.pcap");
    std::fs::write(&corrupt, &pcap).unwrap();
    let o = stats(&corrupt, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("corrupt-header.pcap") && stderr(&o).contains("offset 4"),
        "{}",
        stderr(&o)
    );

    // An unknown --format value is a usage error.
    let o = stats(&corrupt, &["--format", "tar"]);
    assert!(!o.status.success());
}

#[test]
fn damage_inside_readable_files_is_counted_with_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = sample_pcap();

    // Truncated pcap (cut inside the 7th packet's payload).
    let cut = dir.path().join("cut.pcap");
    let rec = (pcap.len() - 24) / 10;
    std::fs::write(&cut, &pcap[..24 + rec * 6 + rec - 25]).unwrap();
    let s = json(&stats(&cut, &[]));
    assert_eq!(s["truncated"], 1);
    assert_eq!(
        s["messages"],
        6 * 3,
        "a datagram cut by the capture is withheld, even its complete message: {s}"
    );
    // Its 3 messages (seq 19..21) are a gap: 1 complete and 2 cut or absent.
    assert_eq!(
        (s["gaps"].as_u64(), s["gap_messages"].as_u64()),
        (Some(1), Some(3))
    );
    assert_eq!(
        (
            s["truncated_complete_messages"].as_u64(),
            s["truncated_lost_messages"].as_u64()
        ),
        (Some(1), Some(2))
    );
    let d = tickwatch(&["dump", cut.to_str().unwrap()]);
    assert!(d.status.success());
    assert_eq!(String::from_utf8(d.stdout).unwrap().lines().count(), 18);

    // Random bytes forced to be read as raw ITCH: counters, no error.
    let random = dir.path().join("random.itch");
    let bytes: Vec<u8> = (0..5000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    std::fs::write(&random, &bytes).unwrap();
    let s = json(&stats(&random, &["--format", "raw-itch"]));
    let damage = ["unknown", "malformed", "truncated", "empty"]
        .iter()
        .map(|k| s[k].as_u64().unwrap())
        .sum::<u64>();
    assert!(damage > 0, "{s}");

    // Garbage appended after valid records: the walk stops at the bad record header, exit 0, counted.
    let mut tail = pcap.clone();
    tail.extend_from_slice(&[0xFF; 40]);
    let tailed = dir.path().join("tail.pcap");
    std::fs::write(&tailed, &tail).unwrap();
    let o = stats(&tailed, &[]);
    let s = json(&o);
    assert_eq!(s["messages"], 30);
    assert_eq!(s["malformed"], 1);
    assert!(stderr(&o).contains("offset"), "{}", stderr(&o));

    // A closed stdout ends dump quietly.
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} dump {} | head -1",
            env!("CARGO_BIN_EXE_tickwatch"),
            cut.display()
        ))
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(String::from_utf8(o.stdout).unwrap().lines().count(), 1);
}

/// A pcap whose UDP payloads are cut mid-message by the snap length (caplen < len) in every other record.
#[test]
fn snap_length_cuts_inside_messages_are_counted_with_exit_0() {
    use feed::encode::build_udp_frame;
    let dir = tempfile::tempdir().unwrap();
    let framing = UdpFraming::default();
    let mut w = PcapWriter::new(Vec::new(), framing).unwrap();
    let mut frame = Vec::new();
    for p in 0..10u64 {
        let msgs: Vec<Vec<u8>> = (0..3u64)
            .map(|i| {
                let mut d = vec![b'D', 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
                d.extend_from_slice(&(p * 3 + i).to_be_bytes());
                d
            })
            .collect();
        let refs: Vec<&[u8]> = msgs.iter().map(|m| m.as_slice()).collect();
        let mut buf = [0u8; 256];
        let n = write_mold_packet(&mut buf, b"SNAPLEN001", 1 + p * 3, &refs).unwrap();
        build_udp_frame(&mut frame, &framing, p as u16, &buf[..n]);
        // Odd records keep all but the last 10 bytes: 2 complete Order Deletes, the third cut mid-message.
        let keep = if p % 2 == 1 {
            frame.len() - 10
        } else {
            frame.len()
        };
        w.write_frame(1_000 + p, &frame[..keep], frame.len() as u32)
            .unwrap();
    }
    let path = dir.path().join("snaplen.pcap");
    std::fs::write(&path, w.into_inner().unwrap()).unwrap();
    let o = stats(&path, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s = json(&o);
    let n = |k: &str| s[k].as_u64().unwrap_or_else(|| panic!("{k} in {s}"));
    // 5 intact packets delivered; the 5 cut ones are withheld (crate truncation policy), each a 3-message gap.
    assert_eq!((n("messages"), n("frames"), n("packets")), (15, 10, 10));
    assert_eq!(n("truncated"), 5);
    assert_eq!((n("gaps"), n("gap_messages")), (5, 15));
    assert_eq!(
        (
            n("truncated_complete_messages"),
            n("truncated_lost_messages")
        ),
        (10, 5)
    );
    assert_eq!(n("malformed") + n("unknown") + n("duplicates"), 0);
    let d = tickwatch(&["dump", path.to_str().unwrap()]);
    assert_eq!(d.status.code(), Some(0));
    assert_eq!(String::from_utf8(d.stdout).unwrap().lines().count(), 15);
}

#[test]
fn gzip_input_is_transparent() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&sample_pcap()).unwrap();
    let p = dir.path().join("sample.pcap.gz");
    std::fs::write(&p, gz.finish().unwrap()).unwrap();
    let s = json(&stats(&p, &[]));
    assert_eq!(
        (s["messages"].as_u64(), s["format"].as_str()),
        (Some(30), Some("pcap"))
    );
}
