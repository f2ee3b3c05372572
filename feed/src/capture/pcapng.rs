//! pcapng files: Section Header, Interface Description, Enhanced / Simple / (obsolete) Packet blocks.
//!
//! Per section the byte order comes from the SHB's byte-order magic; per interface the link type, snap length and
//! timestamp resolution (`if_tsresol`, default microseconds) and offset (`if_tsoffset`) come from its IDB. Blocks of
//! other types are skipped by their length. Frames are numbered 1.. over packet blocks only, as tshark numbers them.
//! Interface table: at most [`MAX_INTERFACES`] per section (fixed array, no allocation); packets naming an interface
//! beyond it get link type [`LinkType::UNKNOWN`] and are counted as unsupported link type downstream.

use super::{CorruptRecord, Frame, HeaderError, LinkType};

/// SHB block type (also the file magic).
pub const BT_SHB: u32 = 0x0A0D_0D0A;
/// Interface Description Block.
pub const BT_IDB: u32 = 1;
/// Obsolete Packet Block.
pub const BT_PB: u32 = 2;
/// Simple Packet Block.
pub const BT_SPB: u32 = 3;
/// Enhanced Packet Block.
pub const BT_EPB: u32 = 6;
/// Byte-order magic inside the SHB.
pub const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
/// Interfaces tracked per section.
pub const MAX_INTERFACES: usize = 64;

/// Prefix of the messages of stops caused by the file ending (see [`CorruptRecord::cut_short`]).
const CUT: &str = "file ends";

#[derive(Clone, Copy, Debug)]
struct Interface {
    link_type: LinkType,
    snaplen: u32,
    /// Ticks per second as (base 10 exponent) or (base 2 exponent).
    tsresol: u8,
    tsoffset_s: i64,
}

const DEFAULT_IF: Interface = Interface {
    link_type: LinkType::UNKNOWN,
    snaplen: 0,
    tsresol: 6,
    tsoffset_s: 0,
};

/// Zero-copy iterator over the packet blocks of a pcapng file.
#[derive(Clone, Debug)]
pub struct PcapNgFrames<'a> {
    bytes: &'a [u8],
    pos: usize,
    be: bool,
    ifaces: [Interface; MAX_INTERFACES],
    n_ifaces: usize,
    number: u64,
    stop: Option<CorruptRecord>,
    done: bool,
}

#[inline]
fn rd16(b: &[u8], at: usize, be: bool) -> u16 {
    let a = [b[at], b[at + 1]];
    if be {
        u16::from_be_bytes(a)
    } else {
        u16::from_le_bytes(a)
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

/// Reads the byte order of an SHB starting at `at`.
fn shb_order(b: &[u8], at: usize) -> Option<bool> {
    let m = b.get(at + 8..at + 12)?;
    match m {
        [0x1A, 0x2B, 0x3C, 0x4D] => Some(true),
        [0x4D, 0x3C, 0x2B, 0x1A] => Some(false),
        _ => None,
    }
}

/// Converts a timestamp in interface ticks to nanoseconds.
fn ticks_to_ns(ticks: u64, tsresol: u8) -> u64 {
    let v = tsresol & 0x7F;
    if tsresol & 0x80 == 0 {
        if v <= 9 {
            ticks.saturating_mul(10u64.pow(9 - v as u32))
        } else {
            let div = 10u128.checked_pow(v as u32 - 9).unwrap_or(u128::MAX);
            (ticks as u128 / div) as u64
        }
    } else {
        // 2^-v seconds per tick.
        let ns = (ticks as u128 * 1_000_000_000u128) >> (v.min(127) as u32);
        ns.min(u64::MAX as u128) as u64
    }
}

impl<'a> PcapNgFrames<'a> {
    /// Checks the leading Section Header Block of `bytes` (a whole pcapng file).
    pub fn new(bytes: &'a [u8]) -> Result<Self, HeaderError> {
        if bytes.get(..4) != Some(&[0x0A, 0x0D, 0x0D, 0x0A]) {
            return Err(HeaderError::BadMagic);
        }
        let be = shb_order(bytes, 0).ok_or(HeaderError::Corrupt {
            offset: 8,
            what: "pcapng section header has no valid byte-order magic",
        })?;
        if bytes.len() < 28 {
            return Err(HeaderError::Corrupt {
                offset: 0,
                what: "pcapng section header block is cut short",
            });
        }
        let len = rd32(bytes, 4, be) as usize;
        if len < 28 || len % 4 != 0 || len > bytes.len() {
            return Err(HeaderError::Corrupt {
                offset: 4,
                what: "pcapng section header block length is invalid",
            });
        }
        Ok(PcapNgFrames {
            bytes,
            pos: 0,
            be,
            ifaces: [DEFAULT_IF; MAX_INTERFACES],
            n_ifaces: 0,
            number: 0,
            stop: None,
            done: false,
        })
    }

    /// Why iteration stopped before the end of the file, if it did.
    pub fn stopped(&self) -> Option<CorruptRecord> {
        self.stop
    }

    /// Link type of interface `id` in the current section.
    pub fn interface_link_type(&self, id: usize) -> Option<LinkType> {
        (id < self.n_ifaces).then(|| self.ifaces[id].link_type)
    }

    fn corrupt(&mut self, offset: usize, what: &'static str) -> Option<Frame<'a>> {
        self.done = true;
        self.stop = Some(CorruptRecord {
            offset: offset as u64,
            what,
            cut_short: what.starts_with(CUT),
        });
        None
    }

    fn parse_idb(&mut self, body: &[u8]) {
        let be = self.be;
        if body.len() < 8 {
            return;
        }
        let mut iface = Interface {
            link_type: LinkType(rd16(body, 0, be)),
            snaplen: rd32(body, 4, be),
            ..DEFAULT_IF
        };
        let mut p = 8;
        while p + 4 <= body.len() {
            let code = rd16(body, p, be);
            let olen = rd16(body, p + 2, be) as usize;
            let v = p + 4;
            if code == 0 || v + olen > body.len() {
                break;
            }
            match (code, olen) {
                (9, 1..) => iface.tsresol = body[v],
                (14, 8..) => {
                    let raw = if be {
                        u64::from_be_bytes(body[v..v + 8].try_into().unwrap_or([0; 8]))
                    } else {
                        u64::from_le_bytes(body[v..v + 8].try_into().unwrap_or([0; 8]))
                    };
                    iface.tsoffset_s = raw as i64;
                }
                _ => {}
            }
            p = v + ((olen + 3) & !3);
        }
        if self.n_ifaces < MAX_INTERFACES {
            self.ifaces[self.n_ifaces] = iface;
        }
        self.n_ifaces += 1;
    }

    fn iface(&self, id: usize) -> Interface {
        if id < self.n_ifaces.min(MAX_INTERFACES) {
            self.ifaces[id]
        } else {
            DEFAULT_IF
        }
    }

    fn timestamp(&self, iface: &Interface, hi: u32, lo: u32) -> u64 {
        let ticks = ((hi as u64) << 32) | lo as u64;
        let ns = ticks_to_ns(ticks, iface.tsresol);
        let off = iface.tsoffset_s.saturating_mul(1_000_000_000);
        if off >= 0 {
            ns.saturating_add(off as u64)
        } else {
            ns.saturating_sub(off.unsigned_abs())
        }
    }
}

impl<'a> Iterator for PcapNgFrames<'a> {
    type Item = Frame<'a>;

    fn next(&mut self) -> Option<Frame<'a>> {
        loop {
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
            if left < 12 {
                return self.corrupt(at, "file ends inside a pcapng block header");
            }
            // A new section may switch byte order.
            if b[at..at + 4] == [0x0A, 0x0D, 0x0D, 0x0A] {
                match shb_order(b, at) {
                    Some(be) => {
                        self.be = be;
                        self.n_ifaces = 0;
                    }
                    None => {
                        return self.corrupt(
                            at + 8,
                            "pcapng section header has no valid byte-order magic",
                        )
                    }
                }
            }
            let be = self.be;
            let btype = rd32(b, at, be);
            let blen = rd32(b, at + 4, be) as usize;
            if blen < 12 || blen % 4 != 0 {
                return self.corrupt(at + 4, "pcapng block length is invalid");
            }
            let cut_short = blen > left;
            let end = if cut_short { b.len() } else { at + blen };
            // Body excludes the 8-byte head and (when present) the 4-byte trailing length.
            let body = &b[at + 8..if cut_short { end } else { end - 4 }];
            if !cut_short {
                self.pos = end;
            } else {
                self.done = true;
            }
            match btype {
                BT_SHB => {}
                BT_IDB => self.parse_idb(body),
                BT_EPB | BT_PB => {
                    if body.len() < 20 {
                        if cut_short {
                            return self.corrupt(at, "file ends inside a pcapng packet block");
                        }
                        return self.corrupt(at, "pcapng packet block is too short");
                    }
                    let (id, hi, lo) = if btype == BT_EPB {
                        (
                            rd32(body, 0, be) as usize,
                            rd32(body, 4, be),
                            rd32(body, 8, be),
                        )
                    } else {
                        (
                            rd16(body, 0, be) as usize,
                            rd32(body, 4, be),
                            rd32(body, 8, be),
                        )
                    };
                    let cap = rd32(body, 12, be) as usize;
                    let orig = rd32(body, 16, be);
                    let data_all = &body[20..];
                    if !cut_short && cap > data_all.len() {
                        return self
                            .corrupt(at, "pcapng packet block captured length exceeds the block");
                    }
                    let data = &data_all[..cap.min(data_all.len())];
                    let iface = self.iface(id);
                    self.number += 1;
                    return Some(Frame {
                        number: self.number,
                        offset: at as u64,
                        ts_ns: self.timestamp(&iface, hi, lo),
                        orig_len: orig,
                        data,
                        link_type: iface.link_type,
                        truncated: (data.len() as u64) < orig as u64,
                        cut_short,
                    });
                }
                BT_SPB => {
                    if body.len() < 4 {
                        return self.corrupt(at, "pcapng simple packet block is too short");
                    }
                    let orig = rd32(body, 0, be);
                    let iface = self.iface(0);
                    let data_all = &body[4..];
                    let mut cap = (orig as usize).min(data_all.len());
                    if iface.snaplen != 0 {
                        cap = cap.min(iface.snaplen as usize);
                    }
                    let data = &data_all[..cap];
                    self.number += 1;
                    return Some(Frame {
                        number: self.number,
                        offset: at as u64,
                        ts_ns: 0,
                        orig_len: orig,
                        data,
                        link_type: iface.link_type,
                        truncated: (data.len() as u64) < orig as u64,
                        cut_short,
                    });
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds one block in the given byte order.
    fn block(be: bool, btype: u32, body: &[u8]) -> Vec<u8> {
        let w32 = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let padded = (body.len() + 3) & !3;
        let total = (12 + padded) as u32;
        let mut v = Vec::new();
        v.extend_from_slice(&w32(btype));
        v.extend_from_slice(&w32(total));
        v.extend_from_slice(body);
        v.resize(8 + padded, 0);
        v.extend_from_slice(&w32(total));
        v
    }

    fn shb(be: bool) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&BYTE_ORDER_MAGIC.to_be_bytes());
        if !be {
            body.reverse();
        }
        body.extend_from_slice(&[0, 1, 0, 0]); // version (value unused)
        body.extend_from_slice(&[0xFF; 8]); // section length -1
        block(be, BT_SHB, &body)
    }

    fn idb(be: bool, link: u16, tsresol: Option<u8>) -> Vec<u8> {
        let w16 = |v: u16| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut body = Vec::new();
        body.extend_from_slice(&w16(link));
        body.extend_from_slice(&[0, 0]);
        body.extend_from_slice(&[0, 0, 0, 0]);
        if let Some(r) = tsresol {
            body.extend_from_slice(&w16(9));
            body.extend_from_slice(&w16(1));
            body.extend_from_slice(&[r, 0, 0, 0]);
            body.extend_from_slice(&[0, 0, 0, 0]);
        }
        block(be, BT_IDB, &body)
    }

    fn epb(be: bool, iface: u32, ticks: u64, data: &[u8], orig: u32) -> Vec<u8> {
        let w32 = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut body = Vec::new();
        body.extend_from_slice(&w32(iface));
        body.extend_from_slice(&w32((ticks >> 32) as u32));
        body.extend_from_slice(&w32(ticks as u32));
        body.extend_from_slice(&w32(data.len() as u32));
        body.extend_from_slice(&w32(orig));
        body.extend_from_slice(data);
        block(be, BT_EPB, &body)
    }

    #[test]
    fn sections_interfaces_and_block_kinds() {
        let mut f = shb(true);
        f.extend(idb(true, 1, None)); // Ethernet, default µs
        f.extend(idb(true, 113, Some(9))); // SLL, ns
        f.extend(block(true, 0x0BAD, &[1, 2, 3, 4])); // unknown block type: skipped
        f.extend(epb(true, 0, 1_500_000, b"abc", 3));
        f.extend(epb(true, 1, 7, b"defgh", 9)); // snapped
        let mut spb = 2u32.to_be_bytes().to_vec();
        spb.extend_from_slice(b"xy");
        f.extend(block(true, BT_SPB, &spb));
        // New little-endian section: interface table resets.
        f.extend(shb(false));
        f.extend(idb(false, 101, Some(0x80 | 10))); // raw IP, 2^-10 s
        f.extend(epb(false, 0, 1024, b"z", 1));
        f.extend(epb(false, 5, 1, b"?", 1)); // unknown interface
        let frames: Vec<_> = PcapNgFrames::new(&f).unwrap().collect();
        let got: Vec<(u64, u64, &[u8], u16, bool)> = frames
            .iter()
            .map(|x| (x.number, x.ts_ns, x.data, x.link_type.0, x.truncated))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, 1_500_000_000, &b"abc"[..], 1, false),
                (2, 7, &b"defgh"[..], 113, true),
                (3, 0, &b"xy"[..], 1, false),
                (4, 1_000_000_000, &b"z"[..], 101, false),
                (5, 1_000, &b"?"[..], LinkType::UNKNOWN.0, false),
            ]
        );
        // Cut inside the last EPB: the bytes present are yielded, flagged.
        let cut = &f[..f.len() - 6];
        let mut it = PcapNgFrames::new(cut).unwrap();
        let last = it.by_ref().last().unwrap();
        assert!(last.cut_short);
        assert_eq!(last.number, 5);
        // Cut inside a block header: stop, reported as the file ending.
        let hdr_cut = &f[..f.len() - epb(false, 5, 1, b"?", 1).len() + 5];
        let mut it = PcapNgFrames::new(hdr_cut).unwrap();
        assert_eq!(it.by_ref().count(), 4);
        assert!(it.stopped().unwrap().cut_short);
        // A bad block length is corruption.
        let mut bad = f.clone();
        let at = shb(true).len() + 4;
        bad[at..at + 4].copy_from_slice(&7u32.to_be_bytes());
        let mut it = PcapNgFrames::new(&bad).unwrap();
        assert_eq!(it.by_ref().count(), 0);
        assert_eq!(it.stopped().unwrap().offset, at as u64);
        assert!(!it.stopped().unwrap().cut_short);
    }

    #[test]
    fn resolutions() {
        assert_eq!(ticks_to_ns(5, 6), 5_000);
        assert_eq!(ticks_to_ns(5, 9), 5);
        assert_eq!(ticks_to_ns(5_000, 12), 5);
        assert_eq!(ticks_to_ns(1 << 30, 0x80 | 30), 1_000_000_000);
        assert_eq!(ticks_to_ns(u64::MAX, 0), u64::MAX);
        assert_eq!(ticks_to_ns(7, 0xFF), 0);
    }
}
