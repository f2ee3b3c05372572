//! Capture files: pcap, pcapng and raw NASDAQ ITCH (BinaryFILE) files, read zero-copy.
//!
//! # Contract
//! - [`Capture::open`] maps a plain file into memory (`memmap2`, read-only) or, for gzip files (detected by the magic
//!   `1f 8b`, whatever the name), decompresses it into one heap buffer. That is the only allocation and the only
//!   I/O; iteration afterwards ([`Capture::frames`], [`Capture::raw_messages`]) is zero-copy, allocation-free and
//!   panic-free on any bytes.
//! - The format is detected from the first bytes ([`Format::detect`]): pcap (all four magics), pcapng (SHB), or a raw
//!   ITCH stream (2-byte big-endian length prefixes whose first messages have known ITCH types and spec lengths).
//!   [`Capture::open_as`] overrides detection.
//! - Errors that make a file unusable — unreadable, unknown magic, corrupt file header — are [`CaptureError`]s naming
//!   the file and byte offset. Damage *inside* a readable file is not an error: a final record cut short is yielded
//!   flagged ([`Frame::cut_short`], [`Frame::truncated`]); a corrupt record header ends the iteration and is reported
//!   by [`Frames::stopped`] (with its offset) for the caller to count.
//!
//! # Why no pcap/packet-parsing crate
//! The readers here are ~500 lines over `&[u8]`. `pcap-file` reads through `std::io::Read` and copies each packet
//! into its own buffer (or borrows with lifetimes tied to a parser object), and treats a cut-short final record as
//! an error for the whole stream; `etherparse` parses far more than needed (IPv6 extension headers, TCP) and
//! validates differently from what a feed handler wants (we keep the bytes of a truncated UDP payload so complete
//! messages at its start survive). A zero-copy cursor over an mmap keeps frames as `&[u8]` into the file with no
//! per-frame work beyond reading 16 header bytes, which is what replay at tens of millions of messages per second
//! needs. `memmap2` and `flate2` are used for the I/O they are good at.

pub mod net;
pub mod pcap;
pub mod pcapng;

use core::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

pub use net::{Skip, Udp, UdpFilter};
pub use pcap::PcapFrames;
pub use pcapng::PcapNgFrames;

use crate::itch;

/// A link-layer header type (`LINKTYPE_*` value of pcap / pcapng).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkType(pub u16);

impl LinkType {
    /// BSD loopback (4-byte host-order address family).
    pub const NULL: LinkType = LinkType(0);
    /// Ethernet II.
    pub const ETHERNET: LinkType = LinkType(1);
    /// Raw IP (IPv4 or IPv6, by version nibble).
    pub const RAW: LinkType = LinkType(101);
    /// OpenBSD loopback (network-order address family).
    pub const LOOP: LinkType = LinkType(108);
    /// Linux cooked capture v1.
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// Raw IPv4.
    pub const IPV4: LinkType = LinkType(228);
    /// Linux cooked capture v2.
    pub const LINUX_SLL2: LinkType = LinkType(276);
    /// Placeholder for packets whose interface is unknown (pcapng) and for raw ITCH files.
    pub const UNKNOWN: LinkType = LinkType(0xFFFF);
}

/// One captured frame, borrowed from the capture bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// 1-based frame number, as tshark numbers frames.
    pub number: u64,
    /// Byte offset of the record (header) in the capture.
    pub offset: u64,
    /// Capture timestamp, nanoseconds since the Unix epoch (0 when the format has none, e.g. pcapng SPB).
    pub ts_ns: u64,
    /// Original length on the wire.
    pub orig_len: u32,
    /// Captured bytes.
    pub data: &'a [u8],
    /// Link type of `data`.
    pub link_type: LinkType,
    /// Fewer bytes captured than were on the wire (snap length or cut short).
    pub truncated: bool,
    /// The file ends inside this record: its header announces more bytes than the file holds. Always the last frame.
    pub cut_short: bool,
}

/// A record header inside the file is corrupt, so iteration cannot continue (pcap has no resynchronisation).
/// Not fatal for the file: frames before it were delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CorruptRecord {
    /// Byte offset of the bad record or field.
    pub offset: u64,
    /// What is wrong.
    pub what: &'static str,
    /// The file simply ends there (inside a record header or message): a truncated file rather than a corrupt one.
    pub cut_short: bool,
}

impl fmt::Display for CorruptRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte offset {}", self.what, self.offset)
    }
}

/// A file-header problem found by the readers over bytes (no file name yet); see [`CaptureError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// The magic number is not the reader's.
    BadMagic,
    /// The header is invalid.
    Corrupt {
        /// Byte offset of the bad field.
        offset: u64,
        /// What is wrong.
        what: &'static str,
    },
}

/// Errors that make a capture unusable. Cold path; each names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// The file cannot be opened, mapped or read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The gzip stream is corrupt (a stream merely cut short is accepted: the bytes inflated so far are used).
    #[error("{path}: corrupt gzip data after {offset} decompressed bytes: {source}")]
    Gzip {
        /// The file.
        path: PathBuf,
        /// Decompressed bytes produced before the error.
        offset: u64,
        /// The inflate error.
        #[source]
        source: std::io::Error,
    },
    /// No known format starts with these bytes.
    #[error(
        "{path}: unknown capture format at byte offset 0 (first bytes {magic:02x?}); expected pcap, pcapng or raw \
         ITCH (use --format to force one)"
    )]
    UnknownFormat {
        /// The file.
        path: PathBuf,
        /// The first (up to 4) bytes.
        magic: Vec<u8>,
    },
    /// The file is empty.
    #[error("{path}: file is empty")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The forced or detected format's file header is invalid.
    #[error("{path}: corrupt {format} header at byte offset {offset}: {what}")]
    CorruptHeader {
        /// The file.
        path: PathBuf,
        /// The format.
        format: Format,
        /// Byte offset of the bad field.
        offset: u64,
        /// What is wrong.
        what: &'static str,
    },
    /// The format was forced but the file does not start with its magic.
    #[error("{path}: not a {format} file (bad magic at byte offset 0)")]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The format.
        format: Format,
    },
}

/// Capture file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// libpcap (µs or ns, either byte order).
    Pcap,
    /// pcapng.
    PcapNg,
    /// Raw ITCH 5.0 stream: each message preceded by its 2-byte big-endian length (NASDAQ BinaryFILE).
    RawItch,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Pcap => "pcap",
            Format::PcapNg => "pcapng",
            Format::RawItch => "raw-itch",
        })
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pcap" => Ok(Format::Pcap),
            "pcapng" => Ok(Format::PcapNg),
            "raw-itch" | "raw" | "itch" => Ok(Format::RawItch),
            other => Err(format!(
                "unknown format {other:?} (expected pcap, pcapng or raw-itch)"
            )),
        }
    }
}

/// Messages examined by raw-ITCH detection.
const RAW_PROBE: usize = 32;

impl Format {
    /// Detects the format from the first bytes of a (decompressed) capture.
    pub fn detect(bytes: &[u8]) -> Option<Format> {
        if pcap::PcapMagic::detect(bytes).is_some() {
            return Some(Format::Pcap);
        }
        if bytes.starts_with(&[0x0A, 0x0D, 0x0D, 0x0A]) {
            return Some(Format::PcapNg);
        }
        if looks_like_raw_itch(bytes) {
            return Some(Format::RawItch);
        }
        None
    }
}

/// True if `bytes` starts like a raw ITCH stream: the first message has a known type and its spec length, and at
/// least three quarters of the first 32 framed messages do too (real files and stress files contain some
/// unknown types).
pub fn looks_like_raw_itch(bytes: &[u8]) -> bool {
    let mut seen = 0usize;
    let mut good = 0usize;
    for (_, m) in RawMessages::new(bytes).take(RAW_PROBE) {
        let ok = m
            .first()
            .is_some_and(|&t| itch::spec_len(t) == Some(m.len()));
        if seen == 0 && !ok {
            return false;
        }
        seen += 1;
        good += ok as usize;
    }
    // A cut-short first message is not a raw file.
    seen > 0 && good * 4 >= seen * 3
}

/// Zero-copy iterator over a raw ITCH stream: yields `(offset of the length prefix, message bytes)`.
///
/// A final message cut short (length prefix says more than the file holds) is not yielded; see
/// [`RawMessages::cut_short`].
///
/// The iterator reads each length prefix one step ahead: when it yields a message it has already loaded the next
/// message's length. A consumer that dispatches on the message type (a mispredicted indirect jump on mixed traffic)
/// then does not also throw away the load that locates the next message: that load is older than the jump, so the
/// walk's dependent chain (position -> length -> next position) keeps running while the misprediction resolves.
#[derive(Clone, Debug)]
pub struct RawMessages<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// The length prefix at `pos`, read ahead; [`NO_PREFIX`] when fewer than two bytes remain.
    ahead: u32,
    cut: Option<CorruptRecord>,
}

/// `RawMessages::ahead` when no complete length prefix remains.
const NO_PREFIX: u32 = u32::MAX;

/// The big-endian length prefix at `at`, or [`NO_PREFIX`].
#[inline(always)]
fn length_prefix(bytes: &[u8], at: usize) -> u32 {
    match bytes.get(at..at.wrapping_add(2)) {
        Some(&[hi, lo]) => u32::from(u16::from_be_bytes([hi, lo])),
        _ => NO_PREFIX,
    }
}

impl<'a> RawMessages<'a> {
    /// Iterates `bytes` from the start.
    pub fn new(bytes: &'a [u8]) -> Self {
        RawMessages {
            bytes,
            pos: 0,
            ahead: length_prefix(bytes, 0),
            cut: None,
        }
    }

    /// Set when the stream ends inside a message (or its length prefix).
    pub fn cut_short(&self) -> Option<CorruptRecord> {
        self.cut
    }

    /// Byte offset of the next length prefix.
    pub fn position(&self) -> usize {
        self.pos
    }

    #[cold]
    fn end(&mut self, what: &'static str) -> Option<(u64, &'a [u8])> {
        self.cut = Some(CorruptRecord {
            offset: self.pos as u64,
            what,
            cut_short: true,
        });
        self.pos = self.bytes.len();
        self.ahead = NO_PREFIX;
        None
    }
}

impl<'a> Iterator for RawMessages<'a> {
    type Item = (u64, &'a [u8]);

    #[inline(always)]
    fn next(&mut self) -> Option<(u64, &'a [u8])> {
        let b = self.bytes;
        let at = self.pos;
        let len = self.ahead;
        if len == NO_PREFIX {
            // Fewer than two bytes left: the end, or a cut inside a length prefix.
            if at < b.len() {
                return self.end("raw ITCH stream ends inside a length prefix");
            }
            return None;
        }
        let start = at + 2;
        let end = start + len as usize;
        match b.get(start..end) {
            Some(m) => {
                self.pos = end;
                self.ahead = length_prefix(b, end);
                Some((at as u64, m))
            }
            None => self.end("raw ITCH stream ends inside a message"),
        }
    }
}

/// Frames of a pcap or pcapng capture.
// One per capture walk, on the stack: boxing the pcapng interface table would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Frames<'a> {
    /// From a pcap file.
    Pcap(PcapFrames<'a>),
    /// From a pcapng file.
    PcapNg(PcapNgFrames<'a>),
}

impl<'a> Frames<'a> {
    /// Why iteration ended before the end of the file, if it did.
    pub fn stopped(&self) -> Option<CorruptRecord> {
        match self {
            Frames::Pcap(f) => f.stopped(),
            Frames::PcapNg(f) => f.stopped(),
        }
    }

    /// Opens `bytes` (a whole pcap or pcapng file) for frame iteration, detecting which by magic.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, HeaderError> {
        if bytes.starts_with(&[0x0A, 0x0D, 0x0D, 0x0A]) {
            PcapNgFrames::new(bytes).map(Frames::PcapNg)
        } else {
            PcapFrames::new(bytes).map(Frames::Pcap)
        }
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Frame<'a>;
    #[inline]
    fn next(&mut self) -> Option<Frame<'a>> {
        match self {
            Frames::Pcap(f) => f.next(),
            Frames::PcapNg(f) => f.next(),
        }
    }
}

enum Backing {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

/// An opened capture: its bytes (mapped or decompressed) and format.
pub struct Capture {
    path: PathBuf,
    backing: Backing,
    format: Format,
    gzip: bool,
    gzip_cut_short: bool,
}

impl fmt::Debug for Capture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Capture")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("len", &self.bytes().len())
            .field("gzip", &self.gzip)
            .finish()
    }
}

impl Capture {
    /// Opens `path`, detecting gzip and the format.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, CaptureError> {
        Self::open_as(path, None)
    }

    /// Opens `path`; `format` overrides detection when `Some`.
    pub fn open_as(path: impl AsRef<Path>, format: Option<Format>) -> Result<Self, CaptureError> {
        let path = path.as_ref().to_path_buf();
        let io = |source| CaptureError::Io {
            path: path.clone(),
            source,
        };
        let file = File::open(&path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if meta.is_dir() {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "is a directory",
            )));
        }
        if meta.len() == 0 {
            return Err(CaptureError::Empty { path });
        }
        // SAFETY: the mapping is read-only and private to this process. The usual memmap caveat applies: if another
        // process truncates or rewrites the file while it is mapped, reads may fault or observe changing bytes.
        // Captures are immutable inputs; nothing in this crate writes to them.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        let (backing, gzip, gzip_cut_short) = if map.starts_with(&[0x1f, 0x8b]) {
            let (buf, cut) = gunzip(&path, &map)?;
            (Backing::Owned(buf), true, cut)
        } else {
            (Backing::Mapped(map), false, false)
        };
        Self::finish(path, backing, format, gzip, gzip_cut_short)
    }

    /// Wraps bytes already in memory (tests, generators, fuzzing). Gzip is inflated; `name` is used in errors.
    pub fn from_vec(
        name: impl Into<PathBuf>,
        bytes: Vec<u8>,
        format: Option<Format>,
    ) -> Result<Self, CaptureError> {
        let path = name.into();
        if bytes.is_empty() {
            return Err(CaptureError::Empty { path });
        }
        let (bytes, gzip, cut) = if bytes.starts_with(&[0x1f, 0x8b]) {
            let (b, cut) = gunzip(&path, &bytes)?;
            (b, true, cut)
        } else {
            (bytes, false, false)
        };
        Self::finish(path, Backing::Owned(bytes), format, gzip, cut)
    }

    fn finish(
        path: PathBuf,
        backing: Backing,
        format: Option<Format>,
        gzip: bool,
        gzip_cut_short: bool,
    ) -> Result<Self, CaptureError> {
        let bytes: &[u8] = match &backing {
            Backing::Mapped(m) => m,
            Backing::Owned(v) => v,
        };
        if bytes.is_empty() {
            return Err(CaptureError::Empty { path });
        }
        let format = match format {
            Some(f) => f,
            None => match Format::detect(bytes) {
                Some(f) => f,
                None => {
                    return Err(CaptureError::UnknownFormat {
                        magic: bytes[..bytes.len().min(4)].to_vec(),
                        path,
                    })
                }
            },
        };
        // Validate the file header now so that `frames()` cannot fail later.
        let header = match format {
            Format::Pcap => PcapFrames::new(bytes).map(|_| ()),
            Format::PcapNg => PcapNgFrames::new(bytes).map(|_| ()),
            Format::RawItch => Ok(()),
        };
        match header {
            Ok(()) => {}
            Err(HeaderError::BadMagic) => return Err(CaptureError::BadMagic { path, format }),
            Err(HeaderError::Corrupt { offset, what }) => {
                return Err(CaptureError::CorruptHeader {
                    path,
                    format,
                    offset,
                    what,
                })
            }
        }
        Ok(Capture {
            path,
            backing,
            format,
            gzip,
            gzip_cut_short,
        })
    }

    /// The file path (or name given to [`Capture::from_vec`]).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The format in use.
    pub fn format(&self) -> Format {
        self.format
    }

    /// True if the file was gzip-compressed.
    pub fn was_gzip(&self) -> bool {
        self.gzip
    }

    /// True if the gzip stream ended early (the bytes inflated so far are used).
    pub fn gzip_cut_short(&self) -> bool {
        self.gzip_cut_short
    }

    /// The (decompressed) capture bytes.
    pub fn bytes(&self) -> &[u8] {
        match &self.backing {
            Backing::Mapped(m) => m,
            Backing::Owned(v) => v,
        }
    }

    /// Frames of a pcap / pcapng capture; `None` for raw ITCH.
    pub fn frames(&self) -> Option<Frames<'_>> {
        let b = self.bytes();
        match self.format {
            // Headers were validated in `finish`.
            Format::Pcap => PcapFrames::new(b).ok().map(Frames::Pcap),
            Format::PcapNg => PcapNgFrames::new(b).ok().map(Frames::PcapNg),
            Format::RawItch => None,
        }
    }

    /// Messages of a raw ITCH capture (for other formats: iterates the bytes as if they were raw).
    pub fn raw_messages(&self) -> RawMessages<'_> {
        RawMessages::new(self.bytes())
    }
}

/// Inflates a (possibly multi-member) gzip stream. A stream cut short keeps what was inflated.
fn gunzip(path: &Path, compressed: &[u8]) -> Result<(Vec<u8>, bool), CaptureError> {
    // Size hint: ISIZE (last 4 bytes, mod 2^32) of the last member; bounded to avoid absurd reservations.
    let hint = compressed
        .len()
        .checked_sub(4)
        .map(|i| u32::from_le_bytes(compressed[i..].try_into().unwrap_or([0; 4])) as usize)
        .unwrap_or(0)
        .clamp(
            compressed.len(),
            compressed.len().saturating_mul(64).max(1 << 20),
        );
    let mut out = Vec::with_capacity(hint);
    let mut dec = flate2::read::MultiGzDecoder::new(compressed);
    match dec.read_to_end(&mut out) {
        Ok(_) => Ok((out, false)),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !out.is_empty() => {
            Ok((out, true))
        }
        Err(source) => Err(CaptureError::Gzip {
            path: path.to_path_buf(),
            offset: out.len() as u64,
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(msgs: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        for m in msgs {
            v.extend_from_slice(&(m.len() as u16).to_be_bytes());
            v.extend_from_slice(m);
        }
        v
    }

    #[test]
    fn detect_formats() {
        assert_eq!(
            Format::detect(&[0xd4, 0xc3, 0xb2, 0xa1, 0, 0]),
            Some(Format::Pcap)
        );
        assert_eq!(
            Format::detect(&[0x4d, 0x3c, 0xb2, 0xa1]),
            Some(Format::Pcap)
        );
        assert_eq!(
            Format::detect(&[0x0a, 0x0d, 0x0d, 0x0a]),
            Some(Format::PcapNg)
        );
        let mut s = vec![b'S'];
        s.extend_from_slice(&[0; 11]);
        assert_eq!(Format::detect(&raw(&[&s, &s])), Some(Format::RawItch));
        assert_eq!(Format::detect(&raw(&[&s[..5]])), None);
        assert_eq!(Format::detect(b"hello world"), None);
        assert_eq!(Format::detect(&[]), None);
    }

    #[test]
    fn raw_messages_cut_short() {
        let mut b = raw(&[b"abc", b"de"]);
        b.extend_from_slice(&[0, 9, 1]);
        let mut it = RawMessages::new(&b);
        assert_eq!(it.next(), Some((0, &b"abc"[..])));
        assert_eq!(it.next(), Some((5, &b"de"[..])));
        assert_eq!(it.next(), None);
        assert_eq!(it.cut_short().unwrap().offset, 9);
        assert_eq!(it.next(), None);
    }

    #[test]
    fn errors_name_file() {
        let e = Capture::from_vec("x.bin", b"garbage!".to_vec(), None).unwrap_err();
        assert!(e.to_string().contains("x.bin"), "{e}");
        let e = Capture::from_vec("x.pcap", vec![0xd4, 0xc3, 0xb2, 0xa1, 2], None).unwrap_err();
        assert!(
            matches!(e, CaptureError::CorruptHeader { offset: 0, .. }),
            "{e}"
        );
        let e = Capture::from_vec("y.pcap", b"garbage!".to_vec(), Some(Format::Pcap)).unwrap_err();
        assert!(matches!(e, CaptureError::BadMagic { .. }), "{e}");
        let e = Capture::open("/nonexistent/file.pcap").unwrap_err();
        assert!(e.to_string().contains("/nonexistent/file.pcap"), "{e}");
    }
}
