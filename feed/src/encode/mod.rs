//! Encoders: ITCH 5.0 messages, MoldUDP64 packets, raw length-prefixed ITCH files, and pcap / pcapng files with
//! Ethernet + IPv4 + UDP framing.
//!
//! This is what synthetic feeds (`tickwatch gen`), round-trip tests and fuzz seeds are written with. The pieces:
//! - [`itch`]: owned message structs (native types) and [`itch::Message::encode`] into a caller buffer;
//! - [`write_mold_packet`] / [`MoldPacketizer`]: MoldUDP64 downstream packets (messages, heartbeats, end of session);
//! - [`RawItchWriter`]: the NASDAQ BinaryFILE framing (2-byte big-endian length + message);
//! - [`write_iex_segment`]: an IEX-TP segment (40-byte header + 2-byte little-endian length before each message);
//! - [`PcapWriter`]: a nanosecond pcap file of Ethernet/IPv4/UDP frames (optionally 802.1Q-tagged);
//!   [`PcapNgWriter`]: the same frames as pcapng (SHB, one IDB with `if_tsresol` = 9, EPBs).
//!
//! Allocation: encoding a message or a packet into a caller buffer allocates nothing; the packetiser and the file
//! writers own one scratch buffer each, allocated at construction. Writers do I/O only through the `Write` they wrap.

pub mod itch;

use core::fmt;
use std::io::{self, Write};
use std::net::SocketAddrV4;

use crate::moldudp64::{self, END_OF_SESSION, HEADER_LEN};

/// The header fields of an IEX-TP segment that [`write_iex_segment`] does not derive from its messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IexSegmentHeader {
    /// Message protocol (TOPS, DEEP, DEEP+).
    pub protocol: crate::iex::Protocol,
    /// Channel id.
    pub channel_id: u32,
    /// Session id (changes when the session restarts its sequence numbers).
    pub session_id: u32,
    /// Byte offset of the payload in the session's stream.
    pub stream_offset: u64,
    /// Sequence number of the first message.
    pub first_seq: u64,
    /// Send time, ns since the Unix epoch.
    pub send_time: i64,
}

/// Appends an IEX-TP segment holding `msgs` to `out`: the 40-byte header (version
/// [`IEX_TP_VERSION`](crate::iex::transport::IEX_TP_VERSION), payload length and message count from `msgs`), then
/// each message preceded by its 2-byte little-endian length. Returns the number of bytes appended.
///
/// # Panics
/// If the payload (messages and their length prefixes) exceeds 65 535 bytes: the header's `u16` length cannot
/// describe it (nor could one UDP datagram carry it).
pub fn write_iex_segment<M: AsRef<[u8]>>(
    out: &mut Vec<u8>,
    h: &IexSegmentHeader,
    msgs: &[M],
) -> usize {
    let start = out.len();
    let payload: usize = msgs.iter().map(|m| 2 + m.as_ref().len()).sum();
    assert!(
        payload <= u16::MAX as usize,
        "IEX-TP payload of {payload} bytes does not fit the header's u16 length"
    );
    out.push(crate::iex::transport::IEX_TP_VERSION);
    out.push(0);
    out.extend_from_slice(&h.protocol.id().to_le_bytes());
    out.extend_from_slice(&h.channel_id.to_le_bytes());
    out.extend_from_slice(&h.session_id.to_le_bytes());
    out.extend_from_slice(&(payload as u16).to_le_bytes());
    out.extend_from_slice(&(msgs.len() as u16).to_le_bytes());
    out.extend_from_slice(&h.stream_offset.to_le_bytes());
    out.extend_from_slice(&h.first_seq.to_le_bytes());
    out.extend_from_slice(&h.send_time.to_le_bytes());
    for m in msgs {
        let m = m.as_ref();
        out.extend_from_slice(&(m.len() as u16).to_le_bytes());
        out.extend_from_slice(m);
    }
    out.len() - start
}

/// The output buffer is too small.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferTooSmall {
    /// Bytes needed.
    pub needed: usize,
    /// Bytes available.
    pub available: usize,
}

impl fmt::Display for BufferTooSmall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "buffer too small: {} bytes needed, {} available",
            self.needed, self.available
        )
    }
}

impl std::error::Error for BufferTooSmall {}

/// Writes a MoldUDP64 packet (`count` = number of `messages`; 0 = heartbeat) into `buf`; returns its length.
pub fn write_mold_packet(
    buf: &mut [u8],
    session: &[u8; 10],
    sequence: u64,
    messages: &[&[u8]],
) -> Result<usize, BufferTooSmall> {
    let needed = HEADER_LEN + messages.iter().map(|m| 2 + m.len()).sum::<usize>();
    if buf.len() < needed || messages.len() >= END_OF_SESSION as usize {
        return Err(BufferTooSmall {
            needed,
            available: buf.len(),
        });
    }
    write_mold_header(buf, session, sequence, messages.len() as u16);
    let mut at = HEADER_LEN;
    for m in messages {
        let len = u16::try_from(m.len()).map_err(|_| BufferTooSmall {
            needed,
            available: buf.len(),
        })?;
        buf[at..at + 2].copy_from_slice(&len.to_be_bytes());
        buf[at + 2..at + 2 + m.len()].copy_from_slice(m);
        at += 2 + m.len();
    }
    Ok(at)
}

fn write_mold_header(buf: &mut [u8], session: &[u8; 10], sequence: u64, count: u16) {
    buf[..10].copy_from_slice(session);
    buf[10..18].copy_from_slice(&sequence.to_be_bytes());
    buf[18..20].copy_from_slice(&count.to_be_bytes());
}

/// Packs messages into MoldUDP64 packets of at most `max_payload` bytes and `max_messages` messages, numbering them
/// from the first sequence number. Completed packets are handed to a callback (e.g. a UDP socket or a
/// [`PcapWriter`]).
#[derive(Clone, Debug)]
pub struct MoldPacketizer {
    session: [u8; 10],
    next_seq: u64,
    max_payload: usize,
    max_messages: u16,
    buf: Vec<u8>,
    count: u16,
}

impl MoldPacketizer {
    /// Typical payload limit for a 1500-byte Ethernet MTU (1500 - 20 IPv4 - 8 UDP).
    pub const MTU_PAYLOAD: usize = 1472;

    /// A packetiser for `session` whose first message gets `first_seq` (MoldUDP64 starts at 1).
    /// `max_payload` is clamped to at least 20 + 2 + 50 bytes (one message of any ITCH type).
    pub fn new(session: [u8; 10], first_seq: u64, max_payload: usize, max_messages: u16) -> Self {
        let max_payload = max_payload.clamp(HEADER_LEN + 2 + 50, 65_507);
        let mut buf = Vec::with_capacity(max_payload);
        buf.resize(HEADER_LEN, 0);
        MoldPacketizer {
            session,
            next_seq: first_seq,
            max_payload,
            max_messages: max_messages.clamp(1, END_OF_SESSION - 1),
            buf,
            count: 0,
        }
    }

    /// Sequence number the next pushed message will get.
    pub fn next_sequence(&self) -> u64 {
        self.next_seq + self.count as u64
    }

    /// Adds one message; if it does not fit in the current packet, the current packet is emitted first.
    /// Messages longer than the payload limit allows are rejected.
    pub fn push(&mut self, msg: &[u8], emit: &mut impl FnMut(&[u8])) -> Result<(), BufferTooSmall> {
        let need = 2 + msg.len();
        if HEADER_LEN + need > self.max_payload || msg.len() > u16::MAX as usize {
            return Err(BufferTooSmall {
                needed: HEADER_LEN + need,
                available: self.max_payload,
            });
        }
        if self.buf.len() + need > self.max_payload || self.count == self.max_messages {
            self.flush(emit);
        }
        self.buf
            .extend_from_slice(&(msg.len() as u16).to_be_bytes());
        self.buf.extend_from_slice(msg);
        self.count += 1;
        Ok(())
    }

    /// Emits the current packet if it holds any message.
    pub fn flush(&mut self, emit: &mut impl FnMut(&[u8])) {
        if self.count == 0 {
            return;
        }
        write_mold_header(&mut self.buf, &self.session, self.next_seq, self.count);
        emit(&self.buf);
        self.next_seq += self.count as u64;
        self.count = 0;
        self.buf.truncate(HEADER_LEN);
    }

    /// Flushes, then emits a heartbeat (count 0, sequence = next sequence number).
    pub fn heartbeat(&mut self, emit: &mut impl FnMut(&[u8])) {
        self.flush(emit);
        let mut h = [0u8; HEADER_LEN];
        write_mold_header(&mut h, &self.session, self.next_seq, 0);
        emit(&h);
    }

    /// Flushes, then emits an end-of-session packet (count 0xFFFF).
    pub fn end_of_session(&mut self, emit: &mut impl FnMut(&[u8])) {
        self.flush(emit);
        let mut h = [0u8; HEADER_LEN];
        write_mold_header(
            &mut h,
            &self.session,
            self.next_seq,
            moldudp64::END_OF_SESSION,
        );
        emit(&h);
    }
}

/// Writes a raw ITCH file: each message preceded by its 2-byte big-endian length.
#[derive(Debug)]
pub struct RawItchWriter<W: Write> {
    w: W,
}

impl<W: Write> RawItchWriter<W> {
    /// Wraps a writer (use a `BufWriter` for files).
    pub fn new(w: W) -> Self {
        RawItchWriter { w }
    }

    /// Writes one message.
    pub fn write_message(&mut self, msg: &[u8]) -> io::Result<()> {
        let len = u16::try_from(msg.len()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "message longer than 65535 bytes",
            )
        })?;
        self.w.write_all(&len.to_be_bytes())?;
        self.w.write_all(msg)
    }

    /// Encodes and writes one owned ITCH message.
    pub fn write(&mut self, msg: &itch::Message) -> io::Result<()> {
        let mut buf = [0u8; 64];
        let n = msg
            .encode(&mut buf)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        self.write_message(&buf[..n])
    }

    /// Flushes and returns the inner writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.w.flush()?;
        Ok(self.w)
    }
}

/// Addresses and link options of the frames a [`PcapWriter`] / [`PcapNgWriter`] builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpFraming {
    /// Source address and port.
    pub src: SocketAddrV4,
    /// Destination address and port (a multicast group gets the matching 01:00:5e MAC).
    pub dst: SocketAddrV4,
    /// 802.1Q VLAN id to tag frames with, if any.
    pub vlan: Option<u16>,
}

impl Default for UdpFraming {
    fn default() -> Self {
        UdpFraming {
            src: SocketAddrV4::new([10, 0, 0, 1].into(), 40000),
            dst: SocketAddrV4::new([233, 54, 12, 111].into(), 26477),
            vlan: None,
        }
    }
}

/// Builds an Ethernet (+ optional 802.1Q) / IPv4 / UDP frame around `payload` into `out` (cleared first).
pub fn build_udp_frame(out: &mut Vec<u8>, framing: &UdpFraming, ip_id: u16, payload: &[u8]) {
    out.clear();
    let dst_ip = framing.dst.ip().octets();
    let dst_mac = if dst_ip[0] & 0xF0 == 0xE0 {
        [0x01, 0x00, 0x5e, dst_ip[1] & 0x7F, dst_ip[2], dst_ip[3]]
    } else {
        [0x02, 0, 0, 0, 0, 0x02]
    };
    out.extend_from_slice(&dst_mac);
    out.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    if let Some(vlan) = framing.vlan {
        out.extend_from_slice(&0x8100u16.to_be_bytes());
        out.extend_from_slice(&(vlan & 0x0FFF).to_be_bytes());
    }
    out.extend_from_slice(&0x0800u16.to_be_bytes());
    let ip_at = out.len();
    let udp_len = (8 + payload.len()) as u16;
    let total = 20 + udp_len;
    out.extend_from_slice(&[0x45, 0]);
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&ip_id.to_be_bytes());
    out.extend_from_slice(&[0x40, 0]); // don't fragment
    out.extend_from_slice(&[32, 17, 0, 0]); // TTL, UDP, checksum placeholder
    out.extend_from_slice(&framing.src.ip().octets());
    out.extend_from_slice(&dst_ip);
    let csum = ipv4_checksum(&out[ip_at..ip_at + 20]);
    out[ip_at + 10..ip_at + 12].copy_from_slice(&csum.to_be_bytes());
    out.extend_from_slice(&framing.src.port().to_be_bytes());
    out.extend_from_slice(&framing.dst.port().to_be_bytes());
    out.extend_from_slice(&udp_len.to_be_bytes());
    out.extend_from_slice(&[0, 0]); // UDP checksum optional over IPv4
    out.extend_from_slice(payload);
}

/// Internet checksum of an IPv4 header.
pub fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in header.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        sum += w as u32;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

/// Largest UDP payload that fits an IPv4 datagram.
pub const MAX_UDP_PAYLOAD: usize = 65_507;

fn check_payload(payload: &[u8]) -> io::Result<()> {
    if payload.len() > MAX_UDP_PAYLOAD {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "UDP payload larger than 65507 bytes",
        ));
    }
    Ok(())
}

/// Writes a nanosecond-resolution pcap file (little-endian, link type Ethernet) of UDP datagrams.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    w: W,
    framing: UdpFraming,
    ip_id: u16,
    frame: Vec<u8>,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the global header.
    pub fn new(mut w: W, framing: UdpFraming) -> io::Result<Self> {
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&0xa1b2_3c4du32.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&0i32.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(&262_144u32.to_le_bytes());
        h.extend_from_slice(&1u32.to_le_bytes());
        w.write_all(&h)?;
        Ok(PcapWriter {
            w,
            framing,
            ip_id: 0,
            frame: Vec::with_capacity(2048),
        })
    }

    /// Writes one frame carrying `payload` as a UDP datagram, captured at `ts_ns` (ns since the Unix epoch).
    pub fn write_udp(&mut self, ts_ns: u64, payload: &[u8]) -> io::Result<()> {
        check_payload(payload)?;
        build_udp_frame(&mut self.frame, &self.framing, self.ip_id, payload);
        self.ip_id = self.ip_id.wrapping_add(1);
        let frame = std::mem::take(&mut self.frame);
        let r = self.write_frame(ts_ns, &frame, frame.len() as u32);
        self.frame = frame;
        r
    }

    /// Writes a raw record: `data` captured, `orig_len` on the wire (≥ `data.len()` for a truncated capture).
    pub fn write_frame(&mut self, ts_ns: u64, data: &[u8], orig_len: u32) -> io::Result<()> {
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&((ts_ns / 1_000_000_000) as u32).to_le_bytes());
        h[4..8].copy_from_slice(&((ts_ns % 1_000_000_000) as u32).to_le_bytes());
        h[8..12].copy_from_slice(&(data.len() as u32).to_le_bytes());
        h[12..16].copy_from_slice(&orig_len.max(data.len() as u32).to_le_bytes());
        self.w.write_all(&h)?;
        self.w.write_all(data)
    }

    /// Flushes and returns the inner writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.w.flush()?;
        Ok(self.w)
    }
}

/// Writes a pcapng file (little-endian; one Ethernet interface with nanosecond timestamps) of UDP datagrams.
#[derive(Debug)]
pub struct PcapNgWriter<W: Write> {
    w: W,
    framing: UdpFraming,
    ip_id: u16,
    frame: Vec<u8>,
}

impl<W: Write> PcapNgWriter<W> {
    /// Writes the section header and interface description blocks.
    pub fn new(mut w: W, framing: UdpFraming) -> io::Result<Self> {
        // SHB: type, length 28, byte-order magic, version 1.0, section length -1.
        let mut shb = Vec::with_capacity(28);
        shb.extend_from_slice(&0x0A0D_0D0Au32.to_le_bytes());
        shb.extend_from_slice(&28u32.to_le_bytes());
        shb.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
        shb.extend_from_slice(&1u16.to_le_bytes());
        shb.extend_from_slice(&0u16.to_le_bytes());
        shb.extend_from_slice(&(-1i64).to_le_bytes());
        shb.extend_from_slice(&28u32.to_le_bytes());
        w.write_all(&shb)?;
        // IDB: link type 1, snaplen 0, option if_tsresol = 9, opt_endofopt.
        let mut idb = Vec::with_capacity(32);
        idb.extend_from_slice(&1u32.to_le_bytes());
        idb.extend_from_slice(&32u32.to_le_bytes());
        idb.extend_from_slice(&1u16.to_le_bytes());
        idb.extend_from_slice(&0u16.to_le_bytes());
        idb.extend_from_slice(&0u32.to_le_bytes());
        idb.extend_from_slice(&9u16.to_le_bytes());
        idb.extend_from_slice(&1u16.to_le_bytes());
        idb.extend_from_slice(&[9, 0, 0, 0]);
        idb.extend_from_slice(&[0, 0, 0, 0]);
        idb.extend_from_slice(&32u32.to_le_bytes());
        w.write_all(&idb)?;
        Ok(PcapNgWriter {
            w,
            framing,
            ip_id: 0,
            frame: Vec::with_capacity(2048),
        })
    }

    /// Writes one Enhanced Packet Block carrying `payload` as a UDP datagram.
    pub fn write_udp(&mut self, ts_ns: u64, payload: &[u8]) -> io::Result<()> {
        check_payload(payload)?;
        build_udp_frame(&mut self.frame, &self.framing, self.ip_id, payload);
        self.ip_id = self.ip_id.wrapping_add(1);
        let frame = std::mem::take(&mut self.frame);
        let r = self.write_frame(ts_ns, &frame, frame.len() as u32);
        self.frame = frame;
        r
    }

    /// Writes one Enhanced Packet Block with `data` (orig_len ≥ data.len()).
    pub fn write_frame(&mut self, ts_ns: u64, data: &[u8], orig_len: u32) -> io::Result<()> {
        let padded = (data.len() + 3) & !3;
        let total = (32 + padded) as u32;
        let mut h = [0u8; 28];
        h[0..4].copy_from_slice(&6u32.to_le_bytes());
        h[4..8].copy_from_slice(&total.to_le_bytes());
        h[8..12].copy_from_slice(&0u32.to_le_bytes());
        h[12..16].copy_from_slice(&((ts_ns >> 32) as u32).to_le_bytes());
        h[16..20].copy_from_slice(&(ts_ns as u32).to_le_bytes());
        h[20..24].copy_from_slice(&(data.len() as u32).to_le_bytes());
        h[24..28].copy_from_slice(&orig_len.max(data.len() as u32).to_le_bytes());
        self.w.write_all(&h)?;
        self.w.write_all(data)?;
        self.w.write_all(&[0u8; 3][..padded - data.len()])?;
        self.w.write_all(&total.to_le_bytes())
    }

    /// Flushes and returns the inner writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.w.flush()?;
        Ok(self.w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{Capture, Format};
    use crate::moldudp64::{Packet, PacketKind};

    #[test]
    fn iex_segment_parses_back() {
        let h = IexSegmentHeader {
            protocol: crate::iex::Protocol::DeepPlus,
            channel_id: 3,
            session_id: 42,
            stream_offset: 1_000,
            first_seq: 77,
            send_time: 1_704_205_800_000_000_000,
        };
        let msgs: [&[u8]; 2] = [b"S\0abcdefgh", b"hello"];
        let mut out = vec![0xEE];
        let n = write_iex_segment(&mut out, &h, &msgs);
        assert_eq!(n, 40 + 2 + 10 + 2 + 5);
        assert_eq!(out.len(), 1 + n);
        let p = crate::iex::Packet::parse(&out[1..]).expect("segment");
        let hd = p.header();
        assert_eq!(hd.protocol(), Some(crate::iex::Protocol::DeepPlus));
        assert_eq!(hd.session_id(), 42);
        assert_eq!(hd.message_count(), 2);
        assert_eq!(hd.payload_length() as usize, n - 40);
        assert_eq!(hd.first_message_sequence_number(), 77);
        assert_eq!(hd.channel_id(), 3);
        assert_eq!(hd.stream_offset(), 1_000);
        assert_eq!(hd.send_time(), 1_704_205_800_000_000_000);
        let got: Vec<&[u8]> = p.messages().map(|b| b.expect("block").bytes).collect();
        assert_eq!(got, msgs);
    }

    #[test]
    fn mold_packetizer_splits_by_size_and_count() {
        let mut p = MoldPacketizer::new(*b"TESTSESS01", 1, 200, 3);
        let mut out: Vec<Vec<u8>> = Vec::new();
        let mut emit = |b: &[u8]| out.push(b.to_vec());
        for i in 0..7u8 {
            p.push(&[b'x'; 40][..(30 + i as usize)], &mut emit).unwrap();
        }
        p.heartbeat(&mut emit);
        p.end_of_session(&mut emit);
        // 200-byte limit: header 20 + at most 5 blocks of 32..38 bytes, and at most 3 per packet.
        let kinds: Vec<(u64, PacketKind)> = out
            .iter()
            .map(|b| {
                let pk = Packet::parse(b).unwrap();
                assert!(b.len() <= 200);
                (pk.sequence(), pk.kind())
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                (1, PacketKind::Messages(3)),
                (4, PacketKind::Messages(3)),
                (7, PacketKind::Messages(1)),
                (8, PacketKind::Heartbeat),
                (8, PacketKind::EndOfSession)
            ]
        );
        let mut emit2 = |_: &[u8]| {};
        assert!(p.push(&[0u8; 300], &mut emit2).is_err());
    }

    #[test]
    fn pcap_and_pcapng_writers_read_back() {
        let framing = UdpFraming {
            vlan: Some(141),
            ..UdpFraming::default()
        };
        let mut pkt = [0u8; 128];
        let n = write_mold_packet(&mut pkt, b"SESSION001", 5, &[b"abc", b"de"]).unwrap();
        let mut w = PcapWriter::new(Vec::new(), framing).unwrap();
        w.write_udp(1_692_711_000_007_661_955, &pkt[..n]).unwrap();
        let pcap = w.into_inner().unwrap();
        let mut w = PcapNgWriter::new(Vec::new(), framing).unwrap();
        w.write_udp(1_692_711_000_007_661_955, &pkt[..n]).unwrap();
        let ng = w.into_inner().unwrap();
        for (bytes, fmt) in [(pcap, Format::Pcap), (ng, Format::PcapNg)] {
            let cap = Capture::from_vec("mem", bytes, None).unwrap();
            assert_eq!(cap.format(), fmt);
            let frames: Vec<_> = cap.frames().unwrap().collect();
            assert_eq!(frames.len(), 1);
            assert_eq!(frames[0].ts_ns, 1_692_711_000_007_661_955);
            let udp =
                crate::capture::net::udp_payload(frames[0].link_type, frames[0].data).unwrap();
            assert_eq!(udp.payload, &pkt[..n]);
            assert_eq!(udp.dst, framing.dst);
            assert_eq!(ipv4_checksum(&frames[0].data[18..38]), 0);
        }
    }
}
