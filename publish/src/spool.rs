//! The spool: an append-only, checksummed on-disk queue of records the broker has not confirmed.
//!
//! # Layout
//! A spool directory holds:
//! - `LOCK` — held with `flock(LOCK_EX)` while a sink or `tickwatch drain` uses the directory;
//! - `seg-<first seq, 20 digits>-<nonce, 16 hex>.twspool` — segments, read in (first seq, nonce) order;
//! - `dead-letter.twspool` — records that failed permanently (same format; kept for inspection, never re-sent
//!   automatically);
//! - `<segment>.corrupt-<offset>` — the raw bytes of any corrupt region found in a segment.
//!
//! # File format (little-endian)
//! A 16-byte file header: magic `TWSPOOL\0`, version `u32` (= 1), reserved `u32` (= 0). Then frames:
//!
//! | field | type | notes |
//! |---|---|---|
//! | `len` | u32 | length of the body (28 + key + payload), at most [`MAX_BODY_LEN`] |
//! | `crc` | u32 | CRC-32 (IEEE) of the body |
//! | `seq` | u64 | record sequence ([`RecordId::seq`]) |
//! | `run_id` | u64 | run that first accepted the record ([`RecordId::run_id`]) |
//! | `feed_ts_ns` | u64 | feed timestamp |
//! | `kind` | u8 | [`RecordKind::code`] |
//! | reserved | u8 | 0 |
//! | `key_len` | u16 | |
//! | key, payload | bytes | payload = the rest of the body |
//!
//! # Order and integrity
//! Within a segment sequences strictly increase, and a segment's name carries its first sequence, so reading
//! segments in name order yields records in acceptance order. The reader also skips any record whose sequence
//! is not above the last one it returned (a copy left by a crash between writing a rewritten segment and
//! deleting the one it replaces), so overlaps never duplicate a record. A frame whose length is out of range,
//! whose checksum does not match or that runs past the end of the file is reported (stderr, the
//! `spool_corrupt` counter, the raw bytes saved beside the segment); the reader then searches for the next
//! valid frame and continues. Nothing in a spool makes the reader panic.
//!
//! # Durability
//! [`FsyncPolicy`] decides when appended frames are `fdatasync`ed; frames are always handed to the OS at the
//! end of each batch ([`Spool::flush`]) and synced when a segment is sealed or the spool is closed (unless the
//! policy is `never`).

use std::collections::hash_map::RandomState;
use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use crate::counters::SinkCounters;
use crate::record::{Envelope, Record, RecordId, RecordKind};

/// File magic at the start of every spool file.
pub const MAGIC: [u8; 8] = *b"TWSPOOL\0";
/// Format version.
pub const VERSION: u32 = 1;
/// Length of the file header.
pub const FILE_HEADER_LEN: usize = 16;
/// Length of a frame header (`len`, `crc`).
pub const FRAME_HEADER_LEN: usize = 8;
/// Length of the fixed part of a frame body.
pub const BODY_FIXED_LEN: usize = 28;
/// Largest accepted frame body (a bound for corrupt length fields).
pub const MAX_BODY_LEN: usize = 16 << 20;
/// Name of the dead-letter file.
pub const DEAD_LETTER_FILE: &str = "dead-letter.twspool";
/// Default size at which a segment is sealed and a new one started.
pub const DEFAULT_SEGMENT_BYTES: u64 = 16 << 20;

/// When appended spool frames are forced to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Never `fdatasync` (the OS writes back in its own time; survives a process crash, not a power loss).
    Never,
    /// `fdatasync` after every N appended records (and on seal / close).
    EveryRecords(u32),
    /// `fdatasync` after every record.
    Always,
}

impl Default for FsyncPolicy {
    fn default() -> Self {
        FsyncPolicy::EveryRecords(1000)
    }
}

impl FromStr for FsyncPolicy {
    type Err = String;

    /// `never`, `always` (= every record) or a positive integer N (every N records).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "never" => Ok(FsyncPolicy::Never),
            "always" | "every-record" => Ok(FsyncPolicy::Always),
            n => match n.parse::<u32>() {
                Ok(0) | Err(_) => Err(format!(
                    "invalid fsync policy {s:?}: expected never, always or a positive integer N"
                )),
                Ok(1) => Ok(FsyncPolicy::Always),
                Ok(n) => Ok(FsyncPolicy::EveryRecords(n)),
            },
        }
    }
}

impl fmt::Display for FsyncPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsyncPolicy::Never => f.write_str("never"),
            FsyncPolicy::Always => f.write_str("always"),
            FsyncPolicy::EveryRecords(n) => write!(f, "{n}"),
        }
    }
}

/// Spool tuning.
#[derive(Debug, Clone, Copy)]
pub struct SpoolOptions {
    /// Durability of appended records.
    pub fsync: FsyncPolicy,
    /// Seal a segment once it reaches this many bytes.
    pub segment_bytes: u64,
}

impl Default for SpoolOptions {
    fn default() -> Self {
        SpoolOptions {
            fsync: FsyncPolicy::default(),
            segment_bytes: DEFAULT_SEGMENT_BYTES,
        }
    }
}

/// Errors of the spool (all cold path, with the file involved).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpoolError {
    /// An I/O operation failed.
    #[error("spool {op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Another process holds the spool directory.
    #[error("spool directory {0} is in use by another process (LOCK is held)")]
    Locked(PathBuf),
    /// A record does not fit the format (key longer than 65535 bytes or body above the maximum).
    #[error("record {0} is too large for the spool format")]
    TooLarge(RecordId),
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> SpoolError + 'a {
    move |source| SpoolError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// A corrupt or torn region found while reading a spool file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptRegion {
    /// The file.
    pub path: PathBuf,
    /// Byte offset of the region.
    pub offset: u64,
    /// Length of the region in bytes.
    pub bytes: u64,
    /// Why the first frame of the region was rejected.
    pub reason: &'static str,
    /// Whether the region runs to the end of the file (a torn tail).
    pub tail: bool,
}

impl fmt::Display for CorruptRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} bytes at offset {} of {} ({})",
            if self.tail {
                "torn/corrupt tail:"
            } else {
                "corrupt region:"
            },
            self.bytes,
            self.offset,
            self.path.display(),
            self.reason
        )
    }
}

/// Identity of a segment (its first sequence and nonce), returned with each record read from the spool so the
/// caller can report the record done with [`Spool::mark_done`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SegmentId {
    first_seq: u64,
    nonce: u64,
}

impl SegmentId {
    fn file_name(&self) -> String {
        format!("seg-{:020}-{:016x}.twspool", self.first_seq, self.nonce)
    }

    fn parse(name: &str) -> Option<SegmentId> {
        let rest = name.strip_prefix("seg-")?.strip_suffix(".twspool")?;
        let (seq, nonce) = rest.split_once('-')?;
        if seq.len() != 20 || nonce.len() != 16 {
            return None;
        }
        Some(SegmentId {
            first_seq: seq.parse().ok()?,
            nonce: u64::from_str_radix(nonce, 16).ok()?,
        })
    }
}

/// Appends `env` as one frame to `out`.
pub fn encode_frame(env: &Envelope, out: &mut Vec<u8>) -> Result<(), SpoolError> {
    let rec = &env.record;
    let key_len = u16::try_from(rec.key.len()).map_err(|_| SpoolError::TooLarge(env.id))?;
    let body_len = BODY_FIXED_LEN + rec.key.len() + rec.payload.len();
    if body_len > MAX_BODY_LEN {
        return Err(SpoolError::TooLarge(env.id));
    }
    let start = out.len();
    out.extend_from_slice(&(body_len as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&env.id.seq.to_le_bytes());
    out.extend_from_slice(&env.id.run_id.to_le_bytes());
    out.extend_from_slice(&rec.feed_ts_ns.to_le_bytes());
    out.push(rec.kind.code());
    out.push(0);
    out.extend_from_slice(&key_len.to_le_bytes());
    out.extend_from_slice(&rec.key);
    out.extend_from_slice(&rec.payload);
    let crc = crc32fast::hash(&out[start + FRAME_HEADER_LEN..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

fn file_header() -> [u8; FILE_HEADER_LEN] {
    let mut h = [0u8; FILE_HEADER_LEN];
    h[..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h
}

/// Result of parsing one frame at the start of a buffer.
#[derive(Debug)]
pub enum Frame {
    /// A valid frame and its total length.
    Valid(Envelope, usize),
    /// The frame runs past the end of the buffer.
    Incomplete,
    /// The frame is invalid.
    Bad(&'static str),
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// Parses the frame at the start of `buf`.
pub fn parse_frame(buf: &[u8]) -> Frame {
    if buf.len() < FRAME_HEADER_LEN {
        return Frame::Incomplete;
    }
    let len = le_u32(buf) as usize;
    if !(BODY_FIXED_LEN..=MAX_BODY_LEN).contains(&len) {
        return Frame::Bad("frame length out of range");
    }
    let Some(body) = buf.get(FRAME_HEADER_LEN..FRAME_HEADER_LEN + len) else {
        return Frame::Incomplete;
    };
    if crc32fast::hash(body) != le_u32(&buf[4..]) {
        return Frame::Bad("checksum mismatch");
    }
    let Some(kind) = RecordKind::from_code(body[24]) else {
        return Frame::Bad("unknown record kind");
    };
    if body[25] != 0 {
        return Frame::Bad("reserved byte set");
    }
    let key_len = u16::from_le_bytes([body[26], body[27]]) as usize;
    if key_len > len - BODY_FIXED_LEN {
        return Frame::Bad("key length out of range");
    }
    let key_end = BODY_FIXED_LEN + key_len;
    let env = Envelope {
        id: RecordId {
            run_id: le_u64(&body[8..]),
            seq: le_u64(body),
        },
        record: Record {
            kind,
            key: body[BODY_FIXED_LEN..key_end].to_vec(),
            feed_ts_ns: le_u64(&body[16..]),
            payload: body[key_end..].to_vec(),
        },
    };
    Frame::Valid(env, FRAME_HEADER_LEN + len)
}

/// Sequential reader over the bytes of one spool file, with checksum-driven resynchronisation.
#[derive(Debug)]
pub struct SegmentReader {
    path: PathBuf,
    data: Vec<u8>,
    pos: usize,
    last_seq: Option<u64>,
}

impl SegmentReader {
    /// Reads the whole file. A missing or wrong file header is reported as a corrupt region covering the file.
    pub fn open(path: &Path) -> Result<(SegmentReader, Option<CorruptRegion>), SpoolError> {
        let mut data = Vec::new();
        File::open(path)
            .and_then(|mut f| f.read_to_end(&mut data))
            .map_err(io_err("read", path))?;
        Ok(SegmentReader::from_bytes(path.to_path_buf(), data))
    }

    /// A reader over bytes already in memory (`path` is used in reports).
    pub fn from_bytes(path: PathBuf, data: Vec<u8>) -> (SegmentReader, Option<CorruptRegion>) {
        let header_ok =
            data.len() >= FILE_HEADER_LEN && data[..8] == MAGIC && le_u32(&data[8..]) == VERSION;
        let mut reader = SegmentReader {
            path,
            data,
            pos: FILE_HEADER_LEN,
            last_seq: None,
        };
        if header_ok {
            return (reader, None);
        }
        let region = (!reader.data.is_empty()).then(|| CorruptRegion {
            path: reader.path.clone(),
            offset: 0,
            bytes: reader.data.len() as u64,
            reason: if reader.data.len() < FILE_HEADER_LEN {
                "truncated file header"
            } else {
                "bad file header"
            },
            tail: true,
        });
        reader.pos = reader.data.len();
        (reader, region)
    }

    /// Whether bytes remain.
    pub fn has_remaining(&self) -> bool {
        self.pos < self.data.len()
    }

    /// The raw bytes of a region (to save them aside).
    pub fn region_bytes(&self, region: &CorruptRegion) -> &[u8] {
        let start = region.offset as usize;
        &self.data[start..start + region.bytes as usize]
    }

    /// Next valid record; a corrupt region met on the way is returned alongside (at most one per call).
    pub fn next_record(&mut self) -> (Option<Envelope>, Option<CorruptRegion>) {
        if !self.has_remaining() {
            return (None, None);
        }
        match parse_frame(&self.data[self.pos..]) {
            Frame::Valid(env, len) => {
                self.pos += len;
                self.last_seq = Some(env.id.seq);
                (Some(env), None)
            }
            Frame::Incomplete => self.resync("frame runs past end of file"),
            Frame::Bad(reason) => self.resync(reason),
        }
    }

    fn resync(&mut self, reason: &'static str) -> (Option<Envelope>, Option<CorruptRegion>) {
        let start = self.pos;
        let mut q = start + 1;
        while q + FRAME_HEADER_LEN + BODY_FIXED_LEN <= self.data.len() {
            if self.plausible(q) {
                if let Frame::Valid(env, len) = parse_frame(&self.data[q..]) {
                    let region = CorruptRegion {
                        path: self.path.clone(),
                        offset: start as u64,
                        bytes: (q - start) as u64,
                        reason,
                        tail: false,
                    };
                    self.pos = q + len;
                    self.last_seq = Some(env.id.seq);
                    return (Some(env), Some(region));
                }
            }
            q += 1;
        }
        self.pos = self.data.len();
        let region = CorruptRegion {
            path: self.path.clone(),
            offset: start as u64,
            bytes: (self.data.len() - start) as u64,
            reason,
            tail: true,
        };
        (None, Some(region))
    }

    /// Cheap pre-check before computing a checksum at a candidate offset.
    fn plausible(&self, q: usize) -> bool {
        let b = &self.data[q..];
        let len = le_u32(b) as usize;
        if !(BODY_FIXED_LEN..=MAX_BODY_LEN).contains(&len)
            || q + FRAME_HEADER_LEN + len > self.data.len()
        {
            return false;
        }
        let body = &b[FRAME_HEADER_LEN..];
        if body[24] > 2 || body[25] != 0 {
            return false;
        }
        let seq = le_u64(body);
        self.last_seq.is_none_or(|last| seq > last)
    }
}

struct SegmentState {
    path: PathBuf,
    /// Read into the reader (or being read).
    loaded: bool,
    /// Every record has been handed out.
    read_done: bool,
    /// Records handed out and not yet reported done.
    outstanding: u64,
    /// Record count when known (segments written by this process).
    records: Option<u64>,
}

impl SegmentState {
    fn new(path: PathBuf, records: Option<u64>) -> SegmentState {
        SegmentState {
            path,
            loaded: false,
            read_done: false,
            outstanding: 0,
            records,
        }
    }
}

struct ActiveWriter {
    id: SegmentId,
    path: PathBuf,
    file: BufWriter<File>,
    bytes: u64,
    unsynced: u32,
}

/// What [`Spool::close`] left behind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpoolCloseReport {
    /// Records in the spool after closing (to be sent by the next run or `tickwatch drain`).
    pub records: u64,
    /// Segment files in the spool after closing.
    pub segments: u64,
}

/// The spool of one sink. Owned by the publish thread; every method does file I/O (cold path).
pub struct Spool {
    dir: PathBuf,
    _lock: File,
    opts: SpoolOptions,
    counters: Arc<SinkCounters>,
    segments: BTreeMap<SegmentId, SegmentState>,
    writer: Option<ActiveWriter>,
    reader: Option<(SegmentId, SegmentReader)>,
    dead_letter: Option<BufWriter<File>>,
    last_seq_read: Option<u64>,
    next_seq: u64,
    nonce: u64,
    scratch: Vec<u8>,
    corrupt: Vec<CorruptRegion>,
}

impl fmt::Debug for Spool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spool")
            .field("dir", &self.dir)
            .field("segments", &self.segments.len())
            .field("next_seq", &self.next_seq)
            .finish_non_exhaustive()
    }
}

/// A fresh random 64-bit value (std's randomly keyed SipHash over the time and pid).
pub fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    h.finish()
}

fn lock_dir(dir: &Path) -> Result<File, SpoolError> {
    let path = dir.join("LOCK");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err("open", &path))?;
    // SAFETY: `file` owns a valid open descriptor for the duration of the call; flock only reads the fd.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::WouldBlock {
            return Err(SpoolError::Locked(dir.to_path_buf()));
        }
        return Err(SpoolError::Io {
            op: "lock",
            path,
            source: err,
        });
    }
    Ok(file)
}

fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync directory", dir))
}

impl Spool {
    /// Opens (creating if needed) and locks the spool directory, and lists its segments. Reads the last
    /// segment to learn the highest sequence, so new records sort after every spooled one.
    pub fn open(
        dir: &Path,
        opts: SpoolOptions,
        counters: Arc<SinkCounters>,
    ) -> Result<Spool, SpoolError> {
        fs::create_dir_all(dir).map_err(io_err("create", dir))?;
        let lock = lock_dir(dir)?;
        let mut segments = BTreeMap::new();
        for entry in fs::read_dir(dir).map_err(io_err("list", dir))? {
            let entry = entry.map_err(io_err("list", dir))?;
            let name = entry.file_name();
            let Some(id) = name.to_str().and_then(SegmentId::parse) else {
                continue;
            };
            segments.insert(id, SegmentState::new(entry.path(), None));
        }
        let mut spool = Spool {
            dir: dir.to_path_buf(),
            _lock: lock,
            opts,
            counters,
            segments,
            writer: None,
            reader: None,
            dead_letter: None,
            last_seq_read: None,
            next_seq: 0,
            nonce: random_u64(),
            scratch: Vec::with_capacity(4096),
            corrupt: Vec::new(),
        };
        spool.next_seq = spool.scan_max_seq()?.map_or(0, |s| s + 1);
        Ok(spool)
    }

    fn scan_max_seq(&self) -> Result<Option<u64>, SpoolError> {
        let mut max = self.segments.keys().map(|id| id.first_seq).max();
        for state in self.segments.values().rev() {
            let (mut reader, _) = SegmentReader::open(&state.path)?;
            let mut found = None;
            loop {
                match reader.next_record() {
                    (Some(env), _) => found = Some(env.id.seq),
                    (None, Some(_)) => continue,
                    (None, None) => break,
                }
            }
            if let Some(seq) = found {
                max = max.max(Some(seq));
                break;
            }
        }
        Ok(max)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The first sequence number the owner should assign: one above every spooled record (0 for an empty spool).
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Corrupt regions found so far.
    pub fn corrupt_regions(&self) -> &[CorruptRegion] {
        &self.corrupt
    }

    /// Number of segment files currently in the spool.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Appends a record at the tail (sequences must increase across calls). Rotates segments by size and syncs
    /// per the fsync policy; call [`Spool::flush`] at the end of a batch.
    pub fn append(&mut self, env: &Envelope) -> Result<(), SpoolError> {
        self.scratch.clear();
        encode_frame(env, &mut self.scratch)?;
        let mut w = match self.writer.take() {
            Some(w) => w,
            None => self.start_segment(env.id.seq)?,
        };
        w.file
            .write_all(&self.scratch)
            .map_err(io_err("write", &w.path))?;
        w.bytes += self.scratch.len() as u64;
        w.unsynced += 1;
        if let Some(state) = self.segments.get_mut(&w.id) {
            state.records = state.records.map(|n| n + 1);
        }
        let sync = match self.opts.fsync {
            FsyncPolicy::Never => false,
            FsyncPolicy::Always => true,
            FsyncPolicy::EveryRecords(n) => w.unsynced >= n,
        };
        if sync {
            w.file.flush().map_err(io_err("write", &w.path))?;
            w.file
                .get_ref()
                .sync_data()
                .map_err(io_err("fsync", &w.path))?;
            w.unsynced = 0;
        }
        self.next_seq = self.next_seq.max(env.id.seq + 1);
        let full = w.bytes >= self.opts.segment_bytes;
        self.writer = Some(w);
        if full {
            self.seal_writer()?;
        }
        Ok(())
    }

    fn start_segment(&mut self, first_seq: u64) -> Result<ActiveWriter, SpoolError> {
        self.nonce = self.nonce.wrapping_add(1);
        let id = SegmentId {
            first_seq,
            nonce: self.nonce,
        };
        let path = self.dir.join(id.file_name());
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_err("create", &path))?;
        let mut file = BufWriter::with_capacity(256 << 10, file);
        file.write_all(&file_header())
            .map_err(io_err("write", &path))?;
        if self.opts.fsync != FsyncPolicy::Never {
            file.flush().map_err(io_err("write", &path))?;
            sync_dir(&self.dir)?;
        }
        self.segments
            .insert(id, SegmentState::new(path.clone(), Some(0)));
        Ok(ActiveWriter {
            id,
            path,
            file,
            bytes: FILE_HEADER_LEN as u64,
            unsynced: 0,
        })
    }

    fn seal_writer(&mut self) -> Result<(), SpoolError> {
        if let Some(mut w) = self.writer.take() {
            w.file.flush().map_err(io_err("write", &w.path))?;
            if self.opts.fsync != FsyncPolicy::Never {
                w.file
                    .get_ref()
                    .sync_data()
                    .map_err(io_err("fsync", &w.path))?;
            }
        }
        Ok(())
    }

    /// Hands buffered frames to the OS (and syncs if the policy is `always`, already done per record).
    pub fn flush(&mut self) -> Result<(), SpoolError> {
        if let Some(w) = self.writer.as_mut() {
            w.file.flush().map_err(io_err("write", &w.path))?;
        }
        if let Some(d) = self.dead_letter.as_mut() {
            let path = self.dir.join(DEAD_LETTER_FILE);
            d.flush().map_err(io_err("write", &path))?;
        }
        Ok(())
    }

    /// Whether records may remain to be read (a segment not yet read, or the rest of the current one).
    pub fn has_unread(&self) -> bool {
        self.reader.as_ref().is_some_and(|(_, r)| r.has_remaining())
            || self.segments.values().any(|s| !s.loaded)
    }

    /// The oldest record not yet read, with the segment it belongs to; `None` when the spool has nothing unread.
    /// Seals the active segment when the reader reaches it. The caller reports each returned record done
    /// with [`Spool::mark_done`] once it is delivered (or dead-lettered).
    pub fn next_unread(&mut self) -> Result<Option<(Envelope, SegmentId)>, SpoolError> {
        loop {
            if let Some((id, mut reader)) = self.reader.take() {
                let (env, region) = reader.next_record();
                if let Some(region) = region {
                    let raw = reader.region_bytes(&region).to_vec();
                    self.report_corruption(region, &raw);
                }
                match env {
                    Some(env) => {
                        self.reader = Some((id, reader));
                        if self.last_seq_read.is_some_and(|last| env.id.seq <= last) {
                            self.counters.add_spool_duplicates(1);
                            continue;
                        }
                        self.last_seq_read = Some(env.id.seq);
                        if let Some(state) = self.segments.get_mut(&id) {
                            state.outstanding += 1;
                        }
                        return Ok(Some((env, id)));
                    }
                    None if reader.has_remaining() => {
                        self.reader = Some((id, reader));
                        continue;
                    }
                    None => {
                        if let Some(state) = self.segments.get_mut(&id) {
                            state.read_done = true;
                        }
                        self.maybe_remove(id)?;
                    }
                }
            }
            let Some((&id, _)) = self.segments.iter().find(|(_, s)| !s.loaded) else {
                return Ok(None);
            };
            if self.writer.as_ref().is_some_and(|w| w.id == id) {
                self.seal_writer()?;
            }
            let Some(state) = self.segments.get_mut(&id) else {
                return Ok(None);
            };
            state.loaded = true;
            let (reader, region) = SegmentReader::open(&state.path)?;
            if let Some(region) = region {
                let raw = reader.region_bytes(&region).to_vec();
                self.report_corruption(region, &raw);
            }
            self.reader = Some((id, reader));
        }
    }

    fn report_corruption(&mut self, region: CorruptRegion, raw: &[u8]) {
        self.counters.add_spool_corrupt(1);
        let aside = PathBuf::from(format!(
            "{}.corrupt-{}",
            region.path.display(),
            region.offset
        ));
        let saved = fs::write(&aside, raw);
        match saved {
            Ok(()) => eprintln!(
                "tickwatch publish: warning: spool {region}; raw bytes saved to {}",
                aside.display()
            ),
            Err(e) => eprintln!(
                "tickwatch publish: warning: spool {region}; could not save raw bytes: {e}"
            ),
        }
        self.corrupt.push(region);
    }

    fn maybe_remove(&mut self, id: SegmentId) -> Result<(), SpoolError> {
        let done = self
            .segments
            .get(&id)
            .is_some_and(|s| s.read_done && s.outstanding == 0);
        if done {
            if let Some(state) = self.segments.remove(&id) {
                remove_if_present(&state.path)?;
            }
        }
        Ok(())
    }

    /// Reports one record read from segment `id` as done (delivered or dead-lettered). A segment is deleted
    /// once it has been read completely and all its records are done.
    pub fn mark_done(&mut self, id: SegmentId) -> Result<(), SpoolError> {
        if let Some(state) = self.segments.get_mut(&id) {
            state.outstanding = state.outstanding.saturating_sub(1);
        }
        self.maybe_remove(id)
    }

    /// Appends a permanently failed record to the dead-letter file (synced per record).
    pub fn dead_letter(&mut self, env: &Envelope) -> Result<(), SpoolError> {
        let path = self.dir.join(DEAD_LETTER_FILE);
        let mut w = match self.dead_letter.take() {
            Some(w) => w,
            None => {
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(io_err("open", &path))?;
                let empty = file.metadata().map_err(io_err("stat", &path))?.len() == 0;
                let mut w = BufWriter::new(file);
                if empty {
                    w.write_all(&file_header())
                        .map_err(io_err("write", &path))?;
                }
                w
            }
        };
        self.scratch.clear();
        encode_frame(env, &mut self.scratch)?;
        w.write_all(&self.scratch).map_err(io_err("write", &path))?;
        w.flush().map_err(io_err("write", &path))?;
        if self.opts.fsync != FsyncPolicy::Never {
            w.get_ref().sync_data().map_err(io_err("fsync", &path))?;
        }
        self.dead_letter = Some(w);
        Ok(())
    }

    /// Closes the spool so that the next reader sees, in order: `handed` (records that were read or accepted
    /// earlier and are not done, e.g. purged from librdkafka; any order, sorted here), the unread rest of the
    /// current segment, the segments not yet read, then `tail` (records newer than everything spooled, in
    /// order).
    ///
    /// Segments that have been read are replaced by one new segment holding `handed` and the unread rest; the
    /// new segment is synced before the old ones are deleted, so a crash in between leaves duplicates (skipped
    /// by sequence on the next read), never a loss.
    pub fn close(
        mut self,
        mut handed: Vec<Envelope>,
        tail: Vec<Envelope>,
    ) -> Result<SpoolCloseReport, SpoolError> {
        if let Some((_, mut reader)) = self.reader.take() {
            loop {
                match reader.next_record() {
                    (Some(env), region) => {
                        if let Some(region) = region {
                            let raw = reader.region_bytes(&region).to_vec();
                            self.report_corruption(region, &raw);
                        }
                        handed.push(env);
                    }
                    (None, Some(region)) => {
                        let raw = reader.region_bytes(&region).to_vec();
                        self.report_corruption(region, &raw);
                    }
                    (None, None) => break,
                }
            }
        }
        handed.sort_unstable_by_key(|e| e.id.seq);
        handed.dedup_by_key(|e| e.id.seq);
        let read: Vec<SegmentId> = self
            .segments
            .iter()
            .filter(|(_, s)| s.loaded)
            .map(|(id, _)| *id)
            .collect();
        if let Some(first) = handed.first() {
            self.nonce = self.nonce.wrapping_add(1);
            let id = SegmentId {
                first_seq: first.id.seq,
                nonce: self.nonce,
            };
            let path = self.dir.join(id.file_name());
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(io_err("create", &path))?;
            let mut w = BufWriter::with_capacity(256 << 10, file);
            w.write_all(&file_header())
                .map_err(io_err("write", &path))?;
            for env in &handed {
                self.scratch.clear();
                encode_frame(env, &mut self.scratch)?;
                w.write_all(&self.scratch).map_err(io_err("write", &path))?;
            }
            w.flush().map_err(io_err("write", &path))?;
            w.get_ref().sync_data().map_err(io_err("fsync", &path))?;
            sync_dir(&self.dir)?;
            self.segments
                .insert(id, SegmentState::new(path, Some(handed.len() as u64)));
        }
        for id in read {
            if let Some(state) = self.segments.remove(&id) {
                remove_if_present(&state.path)?;
            }
        }
        for env in &tail {
            self.append(env)?;
        }
        self.seal_writer()?;
        self.flush()?;
        if let Some(d) = self.dead_letter.take() {
            let path = self.dir.join(DEAD_LETTER_FILE);
            let file = d.into_inner().map_err(|e| SpoolError::Io {
                op: "write",
                path: path.clone(),
                source: e.into_error(),
            })?;
            file.sync_all().map_err(io_err("fsync", &path))?;
        }
        sync_dir(&self.dir)?;
        let mut records = 0;
        for state in self.segments.values() {
            records += match state.records {
                Some(n) => n,
                None => count_records(&state.path)?,
            };
        }
        Ok(SpoolCloseReport {
            records,
            segments: self.segments.len() as u64,
        })
    }
}

fn remove_if_present(path: &Path) -> Result<(), SpoolError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(SpoolError::Io {
            op: "remove",
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

/// Counts the valid records in one spool file (corrupt regions skipped, nothing reported).
pub fn count_records(path: &Path) -> Result<u64, SpoolError> {
    let (mut reader, _) = SegmentReader::open(path)?;
    let mut n = 0;
    loop {
        match reader.next_record() {
            (Some(_), _) => n += 1,
            (None, Some(_)) => continue,
            (None, None) => return Ok(n),
        }
    }
}

/// Summary of a spool directory without locking it (for status output and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpoolSummary {
    /// Segment files.
    pub segments: u64,
    /// Valid records in the segments.
    pub records: u64,
    /// Valid records in the dead-letter file.
    pub dead_letter: u64,
}

/// Counts the records of a spool directory (a missing directory is an empty spool).
pub fn summarize(dir: &Path) -> Result<SpoolSummary, SpoolError> {
    let mut summary = SpoolSummary::default();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(summary),
        Err(e) => {
            return Err(SpoolError::Io {
                op: "list",
                path: dir.to_path_buf(),
                source: e,
            })
        }
    };
    for entry in entries {
        let entry = entry.map_err(io_err("list", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if SegmentId::parse(name).is_some() {
            summary.segments += 1;
            summary.records += count_records(&entry.path())?;
        } else if name == DEAD_LETTER_FILE {
            summary.dead_letter += count_records(&entry.path())?;
        }
    }
    Ok(summary)
}

/// Reads every record of a spool directory in spool order (segments by name, duplicates by sequence
/// skipped), without locking or modifying it. For inspection and tests.
pub fn read_all(dir: &Path) -> Result<(Vec<Envelope>, Vec<CorruptRegion>), SpoolError> {
    let mut ids: Vec<(SegmentId, PathBuf)> = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err("list", dir))? {
        let entry = entry.map_err(io_err("list", dir))?;
        if let Some(id) = entry.file_name().to_str().and_then(SegmentId::parse) {
            ids.push((id, entry.path()));
        }
    }
    ids.sort();
    let mut out: Vec<Envelope> = Vec::new();
    let mut regions = Vec::new();
    for (_, path) in ids {
        let (mut reader, region) = SegmentReader::open(&path)?;
        regions.extend(region);
        loop {
            match reader.next_record() {
                (Some(env), region) => {
                    regions.extend(region);
                    if out.last().is_none_or(|last| env.id.seq > last.id.seq) {
                        out.push(env);
                    }
                }
                (None, Some(region)) => regions.push(region),
                (None, None) => break,
            }
        }
    }
    Ok((out, regions))
}
