//! Spool format and recovery: ordering across segments and restarts, torn tails, corruption, locking.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use proptest::prelude::*;
use publish::spool::{self, FsyncPolicy, SegmentReader, Spool, SpoolError, SpoolOptions};
use publish::{Envelope, Record, RecordId, RecordKind, SinkCounters};

fn env(seq: u64) -> Envelope {
    let kind = RecordKind::from_code((seq % 3) as u8).unwrap();
    Envelope {
        id: RecordId { run_id: 0xabc, seq },
        record: Record::new(
            kind,
            format!("SYM{}", seq % 7),
            seq * 1000,
            format!(
                r#"{{"n":{seq},"pad":"{}"}}"#,
                "x".repeat((seq % 50) as usize)
            ),
        ),
    }
}

fn opts(segment_bytes: u64) -> SpoolOptions {
    SpoolOptions {
        fsync: FsyncPolicy::Never,
        segment_bytes,
    }
}

fn open(dir: &Path, segment_bytes: u64) -> (Spool, Arc<SinkCounters>) {
    let counters = Arc::new(SinkCounters::default());
    (
        Spool::open(dir, opts(segment_bytes), Arc::clone(&counters)).unwrap(),
        counters,
    )
}

fn seqs(envs: &[Envelope]) -> Vec<u64> {
    envs.iter().map(|e| e.id.seq).collect()
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name().unwrap().to_str().unwrap().starts_with("seg-")
                && p.extension().is_some_and(|e| e == "twspool")
        })
        .collect();
    v.sort();
    v
}

#[test]
fn append_read_mark_done_in_order_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (mut sp, _) = open(dir.path(), 600);
    for s in 0..100 {
        sp.append(&env(s)).unwrap();
    }
    sp.flush().unwrap();
    assert!(sp.segment_count() > 3, "small segments rotate");
    let mut got = Vec::new();
    let mut ids = Vec::new();
    while let Some((e, id)) = sp.next_unread().unwrap() {
        assert_eq!(e, env(e.id.seq));
        got.push(e.id.seq);
        ids.push(id);
    }
    assert_eq!(got, (0..100).collect::<Vec<_>>());
    assert!(!sp.has_unread());
    for id in ids {
        sp.mark_done(id).unwrap();
    }
    assert_eq!(sp.segment_count(), 0);
    assert!(
        segment_files(dir.path()).is_empty(),
        "delivered segments are deleted"
    );
}

#[test]
fn reader_reaching_the_active_segment_seals_it_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let (mut sp, _) = open(dir.path(), 1 << 20);
    for s in 0..5 {
        sp.append(&env(s)).unwrap();
    }
    let (first, _) = sp.next_unread().unwrap().unwrap();
    assert_eq!(first.id.seq, 0);
    for s in 5..10 {
        sp.append(&env(s)).unwrap();
    }
    let mut rest = Vec::new();
    while let Some((e, _)) = sp.next_unread().unwrap() {
        rest.push(e.id.seq);
    }
    assert_eq!(rest, (1..10).collect::<Vec<_>>());
}

#[test]
fn close_rewrites_unconfirmed_first_then_unread_then_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (mut sp, _) = open(dir.path(), 700);
    for s in 10..60 {
        sp.append(&env(s)).unwrap();
    }
    // Read 20 records: 10..30. Pretend 10..15 were delivered and 15..30 are unconfirmed (purged).
    let mut read = Vec::new();
    for _ in 0..20 {
        read.push(sp.next_unread().unwrap().unwrap());
    }
    for (e, id) in &read[..5] {
        assert!(e.id.seq < 15);
        sp.mark_done(*id).unwrap();
    }
    // Direct records that never reached the spool (older than everything spooled) are also unconfirmed.
    let mut handed: Vec<Envelope> = read[5..].iter().rev().map(|(e, _)| e.clone()).collect();
    handed.extend([env(3), env(4)]);
    let tail: Vec<Envelope> = (60..70).map(env).collect();
    let report = sp.close(handed, tail).unwrap();
    let (all, regions) = spool::read_all(dir.path()).unwrap();
    assert!(regions.is_empty());
    let expect: Vec<u64> = [3, 4].into_iter().chain(15..70).collect();
    assert_eq!(seqs(&all), expect);
    assert_eq!(report.records, expect.len() as u64);
    assert_eq!(
        spool::summarize(dir.path()).unwrap().records,
        expect.len() as u64
    );

    // A new run over the same directory continues the numbering and reads the same order.
    let (mut sp, _) = open(dir.path(), 700);
    assert_eq!(sp.next_seq(), 70);
    let mut got = Vec::new();
    while let Some((e, _)) = sp.next_unread().unwrap() {
        got.push(e.id.seq);
    }
    assert_eq!(got, expect);
}

#[test]
fn second_open_of_a_locked_spool_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (_sp, _) = open(dir.path(), 1 << 20);
    let err =
        Spool::open(dir.path(), opts(1 << 20), Arc::new(SinkCounters::default())).unwrap_err();
    assert!(matches!(err, SpoolError::Locked(_)), "{err}");
}

#[test]
fn torn_tail_is_reported_and_the_valid_prefix_survives() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut sp, _) = open(dir.path(), 1 << 20);
        for s in 0..20 {
            sp.append(&env(s)).unwrap();
        }
        sp.flush().unwrap();
    }
    let seg = segment_files(dir.path()).pop().unwrap();
    let len = fs::metadata(&seg).unwrap().len();
    // Cut the last frame in half (a crash mid-write).
    OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 20)
        .unwrap();
    let (mut sp, counters) = open(dir.path(), 1 << 20);
    assert_eq!(sp.next_seq(), 19, "highest valid sequence is 18");
    let mut got = Vec::new();
    while let Some((e, _)) = sp.next_unread().unwrap() {
        got.push(e.id.seq);
    }
    assert_eq!(got, (0..19).collect::<Vec<_>>());
    assert_eq!(counters.snapshot().spool_corrupt, 1);
    let region = &sp.corrupt_regions()[0];
    assert!(region.tail);
    let aside = PathBuf::from(format!("{}.corrupt-{}", seg.display(), region.offset));
    assert_eq!(fs::metadata(aside).unwrap().len(), region.bytes);
}

#[test]
fn flipped_byte_loses_only_that_record() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut sp, _) = open(dir.path(), 1 << 20);
        for s in 0..30 {
            sp.append(&env(s)).unwrap();
        }
        sp.flush().unwrap();
    }
    let seg = segment_files(dir.path()).pop().unwrap();
    let mut bytes = fs::read(&seg).unwrap();
    // Find the frame of seq 10 and flip a payload byte.
    let (mut reader, _) = SegmentReader::from_bytes(seg.clone(), bytes.clone());
    let mut offset = spool::FILE_HEADER_LEN;
    for _ in 0..10 {
        let (e, _) = reader.next_record();
        let mut buf = Vec::new();
        spool::encode_frame(&e.unwrap(), &mut buf).unwrap();
        offset += buf.len();
    }
    bytes[offset + 40] ^= 0x55;
    fs::write(&seg, &bytes).unwrap();
    let (all, regions) = spool::read_all(dir.path()).unwrap();
    let expect: Vec<u64> = (0..30).filter(|&s| s != 10).collect();
    assert_eq!(seqs(&all), expect);
    assert_eq!(regions.len(), 1);
    assert!(!regions[0].tail);
    assert_eq!(regions[0].offset, offset as u64);
}

#[test]
fn overlapping_segments_never_duplicate() {
    // A crash between writing a rewritten segment and deleting the one it replaces leaves both.
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut sp, _) = open(dir.path(), 1 << 20);
        for s in 0..10 {
            sp.append(&env(s)).unwrap();
        }
        sp.flush().unwrap();
    }
    let seg = segment_files(dir.path()).pop().unwrap();
    let copy = dir
        .path()
        .join("seg-00000000000000000000-ffffffffffffffff.twspool");
    fs::copy(&seg, &copy).unwrap();
    let (mut sp, counters) = open(dir.path(), 1 << 20);
    let mut got = Vec::new();
    while let Some((e, _)) = sp.next_unread().unwrap() {
        got.push(e.id.seq);
    }
    assert_eq!(got, (0..10).collect::<Vec<_>>());
    assert_eq!(counters.snapshot().spool_duplicates, 10);
}

#[test]
fn garbage_and_empty_files_do_not_crash() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path()
            .join("seg-00000000000000000005-0000000000000001.twspool"),
        b"",
    )
    .unwrap();
    fs::write(
        dir.path()
            .join("seg-00000000000000000006-0000000000000001.twspool"),
        b"TWSPOOL\0garbage!!garbage",
    )
    .unwrap();
    let mut f = fs::File::create(
        dir.path()
            .join("seg-00000000000000000007-0000000000000001.twspool"),
    )
    .unwrap();
    f.write_all(&[0xff; 100]).unwrap();
    let (mut sp, counters) = open(dir.path(), 1 << 20);
    assert_eq!(
        sp.next_seq(),
        8,
        "numbering continues past segment names even without valid records"
    );
    assert!(sp.next_unread().unwrap().is_none());
    assert_eq!(
        counters.snapshot().spool_corrupt,
        2,
        "the empty file is not corruption"
    );
    let report = sp.close(Vec::new(), vec![env(8)]).unwrap();
    assert_eq!(report.records, 1);
    let (all, _) = spool::read_all(dir.path()).unwrap();
    assert_eq!(seqs(&all), vec![8]);
}

#[test]
fn fsync_policy_parses() {
    assert_eq!("never".parse::<FsyncPolicy>().unwrap(), FsyncPolicy::Never);
    assert_eq!(
        "always".parse::<FsyncPolicy>().unwrap(),
        FsyncPolicy::Always
    );
    assert_eq!("1".parse::<FsyncPolicy>().unwrap(), FsyncPolicy::Always);
    assert_eq!(
        "64".parse::<FsyncPolicy>().unwrap(),
        FsyncPolicy::EveryRecords(64)
    );
    assert!("0".parse::<FsyncPolicy>().is_err());
    assert!("sometimes".parse::<FsyncPolicy>().is_err());
}

#[test]
fn every_fsync_policy_round_trips() {
    for fsync in [
        FsyncPolicy::Never,
        FsyncPolicy::Always,
        FsyncPolicy::EveryRecords(3),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let counters = Arc::new(SinkCounters::default());
        let mut sp = Spool::open(
            dir.path(),
            SpoolOptions {
                fsync,
                segment_bytes: 1 << 20,
            },
            counters,
        )
        .unwrap();
        for s in 0..10 {
            sp.append(&env(s)).unwrap();
        }
        sp.close(Vec::new(), Vec::new()).unwrap();
        assert_eq!(
            seqs(&spool::read_all(dir.path()).unwrap().0),
            (0..10).collect::<Vec<_>>()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Arbitrary damage (truncation, byte flips, inserted garbage) never panics, and every record returned is
    /// one that was written, in increasing order.
    #[test]
    fn damaged_spool_never_panics(n in 1u64..40, cut in 0usize..4000, flips in proptest::collection::vec((0usize..4000, 1u8..=255), 0..6), junk in proptest::collection::vec(any::<u8>(), 0..64), junk_at in 0usize..4000) {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&spool::MAGIC);
        bytes.extend_from_slice(&spool::VERSION.to_le_bytes());
        bytes.extend_from_slice(&[0; 4]);
        for s in 0..n {
            spool::encode_frame(&env(s), &mut bytes).unwrap();
        }
        for (at, x) in flips {
            let i = at % bytes.len();
            bytes[i] ^= x;
        }
        let at = junk_at % (bytes.len() + 1);
        bytes.splice(at..at, junk);
        bytes.truncate(cut.max(1).min(bytes.len()));
        let (mut reader, _) = SegmentReader::from_bytes(PathBuf::from("mem"), bytes);
        let mut last = None;
        loop {
            match reader.next_record() {
                (Some(e), _) => {
                    prop_assert_eq!(&e, &env(e.id.seq));
                    prop_assert!(last.is_none_or(|l| e.id.seq > l));
                    last = Some(e.id.seq);
                }
                (None, Some(_)) => continue,
                (None, None) => break,
            }
        }
    }
}
