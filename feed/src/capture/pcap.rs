//! Classic libpcap files: 24-byte global header, then 16-byte record headers each followed by the captured bytes.
//!
//! All four magics are accepted: `a1b2c3d4` (microsecond timestamps) and `a1b23c4d` (nanosecond timestamps), each in
//! either byte order. The reader is a zero-copy cursor over the file bytes.

use super::{CorruptRecord, Frame, HeaderError, LinkType};

/// Size of the pcap global header.
pub const GLOBAL_HEADER_LEN: usize = 24;
/// Size of a pcap record header.
pub const RECORD_HEADER_LEN: usize = 16;
/// Largest record length accepted before the record header is considered corrupt (libpcap uses 256 KiB for most
/// link types; 16 MiB leaves room for unusual captures while still catching garbage).
pub const MAX_RECORD_LEN: u32 = 16 << 20;

/// Byte order and timestamp resolution, from the magic number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcapMagic {
    /// Header fields are big-endian.
    pub big_endian: bool,
    /// Timestamp fraction is nanoseconds (else microseconds).
    pub nanos: bool,
}

impl PcapMagic {
    /// Recognises a pcap magic number in the first four bytes.
    pub fn detect(bytes: &[u8]) -> Option<Self> {
        let m: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
        match m {
            [0xa1, 0xb2, 0xc3, 0xd4] => Some(PcapMagic {
                big_endian: true,
                nanos: false,
            }),
            [0xd4, 0xc3, 0xb2, 0xa1] => Some(PcapMagic {
                big_endian: false,
                nanos: false,
            }),
            [0xa1, 0xb2, 0x3c, 0x4d] => Some(PcapMagic {
                big_endian: true,
                nanos: true,
            }),
            [0x4d, 0x3c, 0xb2, 0xa1] => Some(PcapMagic {
                big_endian: false,
                nanos: true,
            }),
            _ => None,
        }
    }
}

#[inline]
fn rd32(b: &[u8], at: usize, be: bool) -> u32 {
    let a = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    if be {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    }
}

/// Zero-copy iterator over the records of a pcap file.
#[derive(Clone, Debug)]
pub struct PcapFrames<'a> {
    bytes: &'a [u8],
    pos: usize,
    magic: PcapMagic,
    link_type: LinkType,
    snaplen: u32,
    number: u64,
    stop: Option<CorruptRecord>,
    done: bool,
}

impl<'a> PcapFrames<'a> {
    /// Reads the global header of `bytes` (a whole pcap file).
    pub fn new(bytes: &'a [u8]) -> Result<Self, HeaderError> {
        let magic = PcapMagic::detect(bytes).ok_or(HeaderError::BadMagic)?;
        if bytes.len() < GLOBAL_HEADER_LEN {
            return Err(HeaderError::Corrupt {
                offset: 0,
                what: "pcap global header is cut short",
            });
        }
        let be = magic.big_endian;
        let major = if be {
            u16::from_be_bytes([bytes[4], bytes[5]])
        } else {
            u16::from_le_bytes([bytes[4], bytes[5]])
        };
        if major != 2 {
            return Err(HeaderError::Corrupt {
                offset: 4,
                what: "pcap major version is not 2",
            });
        }
        let snaplen = rd32(bytes, 16, be);
        // The upper 4 bits of the link-type field may carry FCS information (pcap-linktype(7)); bits 16..28 are
        // reserved.
        let network = rd32(bytes, 20, be);
        Ok(PcapFrames {
            bytes,
            pos: GLOBAL_HEADER_LEN,
            magic,
            link_type: LinkType((network & 0xFFFF) as u16),
            snaplen,
            number: 0,
            stop: None,
            done: false,
        })
    }

    /// Link type of every record.
    pub fn link_type(&self) -> LinkType {
        self.link_type
    }

    /// Snapshot length from the global header.
    pub fn snaplen(&self) -> u32 {
        self.snaplen
    }

    /// The magic (byte order, resolution).
    pub fn magic(&self) -> PcapMagic {
        self.magic
    }

    /// Why iteration stopped before the end of the file, if it did.
    pub fn stopped(&self) -> Option<CorruptRecord> {
        self.stop
    }
}

impl<'a> Iterator for PcapFrames<'a> {
    type Item = Frame<'a>;

    #[inline]
    fn next(&mut self) -> Option<Frame<'a>> {
        if self.done {
            return None;
        }
        let b = self.bytes;
        let at = self.pos;
        let left = b.len() - at;
        if left == 0 {
            self.done = true;
            return None;
        }
        if left < RECORD_HEADER_LEN {
            self.done = true;
            self.stop = Some(CorruptRecord {
                offset: at as u64,
                what: "file ends inside a pcap record header",
                cut_short: true,
            });
            return None;
        }
        let be = self.magic.big_endian;
        let sec = rd32(b, at, be) as u64;
        let frac = rd32(b, at + 4, be) as u64;
        let incl = rd32(b, at + 8, be);
        let orig = rd32(b, at + 12, be);
        let frac_ns = if self.magic.nanos { frac } else { frac * 1000 };
        if incl > MAX_RECORD_LEN || frac_ns >= 1_000_000_000 {
            self.done = true;
            self.stop = Some(CorruptRecord {
                offset: at as u64,
                what: if incl > MAX_RECORD_LEN {
                    "pcap record length is implausible"
                } else {
                    "pcap record timestamp fraction out of range"
                },
                cut_short: false,
            });
            return None;
        }
        let data_at = at + RECORD_HEADER_LEN;
        let avail = b.len() - data_at;
        self.number += 1;
        let (data, truncated) = if (incl as usize) <= avail {
            self.pos = data_at + incl as usize;
            (&b[data_at..data_at + incl as usize], incl < orig)
        } else {
            // The final record is cut short: hand out what exists, flagged.
            self.done = true;
            (&b[data_at..], true)
        };
        Some(Frame {
            number: self.number,
            offset: at as u64,
            ts_ns: sec.saturating_mul(1_000_000_000).saturating_add(frac_ns),
            orig_len: orig,
            data,
            link_type: self.link_type,
            truncated,
            cut_short: (incl as usize) > avail,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(magic: [u8; 4], be: bool, records: &[(u32, u32, &[u8], u32)]) -> Vec<u8> {
        let w16 = |v: u16| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let w32 = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut f = magic.to_vec();
        f.extend_from_slice(&w16(2));
        f.extend_from_slice(&w16(4));
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&w32(65535));
        f.extend_from_slice(&w32(0x1000_0071)); // SLL with FCS bits set in the upper nibble
        for &(sec, frac, data, orig) in records {
            f.extend_from_slice(&w32(sec));
            f.extend_from_slice(&w32(frac));
            f.extend_from_slice(&w32(data.len() as u32));
            f.extend_from_slice(&w32(orig));
            f.extend_from_slice(data);
        }
        f
    }

    #[test]
    fn all_magics_and_byte_orders() {
        let recs: &[(u32, u32, &[u8], u32)] = &[(10, 5, b"abc", 3), (11, 999_999, b"de", 60)];
        for (magic, be, nanos) in [
            ([0xa1, 0xb2, 0xc3, 0xd4], true, false),
            ([0xd4, 0xc3, 0xb2, 0xa1], false, false),
            ([0xa1, 0xb2, 0x3c, 0x4d], true, true),
            ([0x4d, 0x3c, 0xb2, 0xa1], false, true),
        ] {
            let f = file(magic, be, recs);
            let mut it = PcapFrames::new(&f).unwrap();
            assert_eq!(it.link_type(), LinkType::LINUX_SLL);
            let a = it.next().unwrap();
            let b = it.next().unwrap();
            assert!(it.next().is_none() && it.stopped().is_none());
            let unit = if nanos { 1 } else { 1000 };
            assert_eq!(
                (a.number, a.ts_ns, a.data, a.truncated),
                (1, 10_000_000_000 + 5 * unit, &b"abc"[..], false)
            );
            assert_eq!(
                (b.number, b.ts_ns, b.data, b.truncated),
                (2, 11_000_000_000 + 999_999 * unit, &b"de"[..], true)
            );
            // Cut in the last record's data: yielded, flagged; cut in its header: stop, flagged as the file ending.
            let cut: Vec<_> = PcapFrames::new(&f[..f.len() - 1]).unwrap().collect();
            assert_eq!(cut.len(), 2);
            assert!(cut[1].cut_short && cut[1].data == b"d");
            let mut it = PcapFrames::new(&f[..f.len() - 2 - 10]).unwrap();
            assert_eq!(it.by_ref().count(), 1);
            assert!(it.stopped().unwrap().cut_short);
        }
        // Nanosecond fraction out of range is corruption.
        let f = file(
            [0x4d, 0x3c, 0xb2, 0xa1],
            false,
            &[(1, 1_000_000_000, b"x", 1)],
        );
        let mut it = PcapFrames::new(&f).unwrap();
        assert!(it.next().is_none());
        assert!(!it.stopped().unwrap().cut_short);
    }
}
