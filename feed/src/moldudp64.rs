//! MoldUDP64 downstream packets: header view, zero-copy message-block iterator, and a per-session [`Sequencer`].
//!
//! A MoldUDP64 downstream packet is a 20-byte header — session (10 bytes), sequence number of the first message
//! (u64 BE), message count (u16 BE) — followed by `count` message blocks, each a 2-byte big-endian length and that
//! many bytes of message. Count 0 is a heartbeat, count `0xFFFF` announces the end of the session; neither carries
//! blocks. Sequence numbers start at 1.
//!
//! # Contract
//! - [`Packet::parse`] and [`Blocks`] borrow the datagram; nothing is copied or allocated, nothing panics.
//! - Framing problems (a block running past the end of the datagram, fewer blocks than announced, bytes after the
//!   last block) end the iteration and are reported by [`Blocks::error`]; the blocks yielded before the problem are
//!   good and stay accepted.
//! - A datagram cut by the capture is not framing damage: the caller withholds its messages and reports the packet
//!   with [`Sequencer::on_lost_packet`], which turns its new sequence numbers into a gap (see the crate docs'
//!   truncation policy).
//! - [`Sequencer`] keeps a fixed table of [`MAX_SESSIONS`] sessions (least recently used evicted), so interleaved
//!   sessions (a merged capture, A/B feeds of several markets) are tracked independently. It allocates nothing after
//!   construction.
//! - Sequence number **0** is treated as *unsequenced*: sanitised captures (the `*-20230822-*` NASDAQ samples) carry
//!   session = 10 NUL bytes and sequence 0 on every packet. Such packets are counted ([`SeqCounters::unsequenced`])
//!   and their messages delivered; they never produce gaps or duplicates and do not touch session state.
//!
//! ```
//! use feed::moldudp64::{Packet, Sequencer, SeqEvent};
//! let mut dgram = Vec::new();
//! dgram.extend_from_slice(b"SESSION001");
//! dgram.extend_from_slice(&1u64.to_be_bytes());
//! dgram.extend_from_slice(&1u16.to_be_bytes());
//! dgram.extend_from_slice(&[0, 3, b'X', b'Y', b'Z']);
//! let pkt = Packet::parse(&dgram).unwrap();
//! let mut seq = Sequencer::new();
//! assert_eq!(seq.on_packet(&pkt), SeqEvent::InOrder);
//! let mut blocks = pkt.blocks();
//! assert_eq!(blocks.next(), Some(&b"XYZ"[..]));
//! assert_eq!(blocks.next(), None);
//! assert!(blocks.error().is_none());
//! ```

use core::fmt;

use zerocopy::byteorder::big_endian::{U16, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Size of the MoldUDP64 downstream header.
pub const HEADER_LEN: usize = 20;
/// Message count announcing the end of the session.
pub const END_OF_SESSION: u16 = 0xFFFF;
/// Number of sessions a [`Sequencer`] tracks at once.
pub const MAX_SESSIONS: usize = 16;

/// The 20-byte MoldUDP64 downstream header.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, PartialEq, Eq, Hash, Debug,
)]
#[repr(C)]
pub struct MoldHeader {
    /// Session identifier (10 ASCII bytes; NUL bytes in sanitised captures).
    pub session: [u8; 10],
    /// Sequence number of the first message in the packet (for heartbeats: the next expected sequence number).
    pub sequence: U64,
    /// Number of message blocks; 0 = heartbeat, 0xFFFF = end of session.
    pub count: U16,
}

impl MoldHeader {
    /// Builds a header.
    pub fn new(session: [u8; 10], sequence: u64, count: u16) -> Self {
        MoldHeader {
            session,
            sequence: U64::new(sequence),
            count: U16::new(count),
        }
    }
}

/// What a packet is, by its message count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketKind {
    /// Carries this many message blocks (1..=0xFFFE).
    Messages(u16),
    /// Count 0: heartbeat.
    Heartbeat,
    /// Count 0xFFFF: end of session.
    EndOfSession,
}

/// A MoldUDP64 packet whose header was read; the blocks are read lazily by [`Packet::blocks`].
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    /// The header view.
    pub header: &'a MoldHeader,
    /// Everything after the header.
    pub payload: &'a [u8],
}

/// The datagram is too short to hold a MoldUDP64 header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShortHeader {
    /// Datagram length.
    pub len: usize,
}

impl fmt::Display for ShortHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "datagram of {} bytes is shorter than the 20-byte MoldUDP64 header",
            self.len
        )
    }
}

impl std::error::Error for ShortHeader {}

impl<'a> Packet<'a> {
    /// Reads the header of `datagram` (the UDP payload).
    #[inline]
    pub fn parse(datagram: &'a [u8]) -> Result<Self, ShortHeader> {
        match MoldHeader::ref_from_prefix(datagram) {
            Ok((header, payload)) => Ok(Packet { header, payload }),
            Err(_) => Err(ShortHeader {
                len: datagram.len(),
            }),
        }
    }

    /// Session identifier.
    #[inline]
    pub fn session(&self) -> &'a [u8; 10] {
        &self.header.session
    }

    /// Sequence number of the first message.
    #[inline]
    pub fn sequence(&self) -> u64 {
        self.header.sequence.get()
    }

    /// Message count field.
    #[inline]
    pub fn count(&self) -> u16 {
        self.header.count.get()
    }

    /// Heartbeat, end of session, or a number of messages.
    #[inline]
    pub fn kind(&self) -> PacketKind {
        match self.count() {
            0 => PacketKind::Heartbeat,
            END_OF_SESSION => PacketKind::EndOfSession,
            n => PacketKind::Messages(n),
        }
    }

    /// Iterator over the message blocks (empty for heartbeats and end of session).
    #[inline]
    pub fn blocks(&self) -> Blocks<'a> {
        let expected = match self.kind() {
            PacketKind::Messages(n) => n,
            _ => 0,
        };
        Blocks {
            rest: self.payload,
            expected,
            yielded: 0,
            error: None,
        }
    }
}

/// A framing problem inside a MoldUDP64 packet. Small and `Copy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FramingError {
    /// Block `index` (0-based) announces more bytes than remain in the datagram (or its length prefix is cut).
    BlockOverrun {
        /// 0-based block index.
        index: u16,
        /// Announced block length (0 if the 2-byte prefix itself is cut).
        len: u16,
        /// Bytes left after the length prefix.
        available: usize,
    },
    /// All announced blocks were read but bytes remain after the last one.
    TrailingBytes {
        /// Number of unexpected bytes.
        len: usize,
    },
}

impl fmt::Display for FramingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FramingError::BlockOverrun {
                index,
                len,
                available,
            } => write!(
                f,
                "MoldUDP64 block {index} needs {len} bytes, {available} available"
            ),
            FramingError::TrailingBytes { len } => {
                write!(f, "{len} bytes after the last MoldUDP64 block")
            }
        }
    }
}

impl std::error::Error for FramingError {}

/// Zero-copy iterator over the message blocks of a packet; yields each message without its length prefix.
#[derive(Clone, Debug)]
pub struct Blocks<'a> {
    rest: &'a [u8],
    expected: u16,
    yielded: u16,
    error: Option<FramingError>,
}

impl<'a> Blocks<'a> {
    /// The framing problem found, if any. Complete only once the iterator returned `None`.
    #[inline]
    pub fn error(&self) -> Option<FramingError> {
        self.error
    }

    /// Number of blocks yielded so far.
    #[inline]
    pub fn yielded(&self) -> u16 {
        self.yielded
    }

    /// Number of announced blocks not yielded (non-zero only after a framing error).
    #[inline]
    pub fn missing(&self) -> u16 {
        self.expected - self.yielded
    }
}

impl<'a> Iterator for Blocks<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.yielded == self.expected {
            if !self.rest.is_empty() && self.error.is_none() {
                self.error = Some(FramingError::TrailingBytes {
                    len: self.rest.len(),
                });
                self.rest = &[];
            }
            return None;
        }
        if self.error.is_some() {
            return None;
        }
        let rest = self.rest;
        if rest.len() < 2 {
            self.error = Some(FramingError::BlockOverrun {
                index: self.yielded,
                len: 0,
                available: rest.len(),
            });
            self.expected = self.yielded;
            self.rest = &[];
            return None;
        }
        let len = u16::from_be_bytes([rest[0], rest[1]]);
        let body = &rest[2..];
        if body.len() < len as usize {
            self.error = Some(FramingError::BlockOverrun {
                index: self.yielded,
                len,
                available: body.len(),
            });
            // Keep `expected` so `missing()` reports the blocks lost.
            self.rest = &[];
            return None;
        }
        let (msg, tail) = body.split_at(len as usize);
        self.rest = tail;
        self.yielded += 1;
        Some(msg)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.error.is_some() {
            (0, Some(0))
        } else {
            (0, Some((self.expected - self.yielded) as usize))
        }
    }
}

/// What the [`Sequencer`] concluded about one packet; tells the caller which messages to process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqEvent {
    /// The packet continues its session (or is the first packet of the first session seen): process all messages.
    InOrder,
    /// Sequence number 0: unsequenced (sanitised capture). Process all messages; no session state touched.
    Unsequenced,
    /// Heartbeat (count 0) with no gap.
    Heartbeat,
    /// Messages `first_missing .. first_missing + count` were never received. The packet's own messages are new:
    /// process all of them (for a heartbeat there are none).
    Gap {
        /// First missing sequence number.
        first_missing: u64,
        /// Number of missing messages.
        count: u64,
    },
    /// Every message of the packet was already received (retransmission, A/B arbitration loser): skip them all.
    Duplicate,
    /// The first `skip` messages were already received, the rest are new: skip `skip` blocks, process the rest.
    PartialOverlap {
        /// Blocks to skip at the start of the packet.
        skip: u16,
    },
    /// First packet of a session not seen before while another session was active: process all messages.
    SessionChange,
    /// End of session (count 0xFFFF). `missing` messages were lost just before it (normally 0).
    EndOfSession {
        /// Messages announced by the end-of-session sequence number but never received.
        missing: u64,
    },
}

impl SeqEvent {
    /// Number of leading message blocks the caller must skip.
    #[inline]
    pub fn skip(&self, count: u16) -> u16 {
        match *self {
            SeqEvent::Duplicate => count,
            SeqEvent::PartialOverlap { skip } => skip,
            _ => 0,
        }
    }
}

/// Running totals kept by the [`Sequencer`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeqCounters {
    /// Packets seen (all kinds).
    pub packets: u64,
    /// Heartbeats (count 0).
    pub heartbeats: u64,
    /// End-of-session packets.
    pub end_of_session: u64,
    /// Gaps detected (each a run of missing messages).
    pub gaps: u64,
    /// Messages missing in those gaps.
    pub gap_messages: u64,
    /// Packets entirely already seen.
    pub duplicates: u64,
    /// Messages skipped as already seen (whole duplicate packets and the overlapped part of partial overlaps).
    pub duplicate_messages: u64,
    /// Packets partly already seen.
    pub partial_overlaps: u64,
    /// Packets with sequence number 0.
    pub unsequenced: u64,
    /// Session changes (first packet of a new session after another one).
    pub session_changes: u64,
    /// Sessions evicted from the full session table (tracking restarted if they come back).
    pub sessions_evicted: u64,
}

#[derive(Clone, Copy, Debug)]
struct SessionState {
    id: [u8; 10],
    /// Next expected sequence number.
    next: u64,
    last_used: u64,
    in_use: bool,
    ended: bool,
}

const EMPTY: SessionState = SessionState {
    id: [0; 10],
    next: 0,
    last_used: 0,
    in_use: false,
    ended: false,
};

/// Per-session MoldUDP64 sequence tracking. See the module docs for the rules.
#[derive(Clone, Debug)]
pub struct Sequencer {
    sessions: [SessionState; MAX_SESSIONS],
    current: usize,
    tick: u64,
    any: bool,
    counters: SeqCounters,
}

impl Default for Sequencer {
    fn default() -> Self {
        Self::new()
    }
}

impl Sequencer {
    /// An empty sequencer.
    pub fn new() -> Self {
        Sequencer {
            sessions: [EMPTY; MAX_SESSIONS],
            current: 0,
            tick: 0,
            any: false,
            counters: SeqCounters::default(),
        }
    }

    /// Counters so far.
    #[inline]
    pub fn counters(&self) -> &SeqCounters {
        &self.counters
    }

    /// Next expected sequence number of `session`, if tracked.
    pub fn next_expected(&self, session: &[u8; 10]) -> Option<u64> {
        self.sessions
            .iter()
            .find(|s| s.in_use && &s.id == session)
            .map(|s| s.next)
    }

    /// Classifies a packet and advances the session state.
    #[inline]
    pub fn on_packet(&mut self, pkt: &Packet<'_>) -> SeqEvent {
        self.on_header(pkt.session(), pkt.sequence(), pkt.count())
    }

    /// Like [`Sequencer::on_packet`], from the header fields.
    pub fn on_header(&mut self, session: &[u8; 10], seq: u64, count: u16) -> SeqEvent {
        let c = &mut self.counters;
        c.packets += 1;
        if seq == 0 {
            c.unsequenced += 1;
            match count {
                0 => c.heartbeats += 1,
                END_OF_SESSION => c.end_of_session += 1,
                _ => {}
            }
            return SeqEvent::Unsequenced;
        }
        self.tick += 1;
        let (idx, new) = self.lookup(session);
        let c = &mut self.counters;
        let st = &mut self.sessions[idx];
        st.last_used = self.tick;
        let switched = self.any && new;
        self.any = true;
        self.current = idx;
        if new {
            // A session's first packet sets the baseline: a receiver may join mid-session.
            st.next = seq;
            if switched {
                c.session_changes += 1;
            }
        }
        match count {
            0 => {
                c.heartbeats += 1;
                // A heartbeat carries the next sequence number to be sent.
                if seq > st.next {
                    let ev = gap(c, st.next, seq - st.next);
                    st.next = seq;
                    return ev;
                }
                if switched {
                    SeqEvent::SessionChange
                } else {
                    SeqEvent::Heartbeat
                }
            }
            END_OF_SESSION => {
                c.end_of_session += 1;
                st.ended = true;
                let missing = seq.saturating_sub(st.next);
                if missing > 0 {
                    c.gaps += 1;
                    c.gap_messages = c.gap_messages.saturating_add(missing);
                    st.next = seq;
                }
                SeqEvent::EndOfSession { missing }
            }
            n => {
                let end = seq.saturating_add(n as u64);
                if switched {
                    st.next = end;
                    SeqEvent::SessionChange
                } else if seq == st.next {
                    st.next = end;
                    SeqEvent::InOrder
                } else if seq > st.next {
                    let ev = gap(c, st.next, seq - st.next);
                    st.next = end;
                    ev
                } else if end <= st.next {
                    c.duplicates += 1;
                    c.duplicate_messages += n as u64;
                    SeqEvent::Duplicate
                } else {
                    let skip = (st.next - seq) as u16;
                    c.partial_overlaps += 1;
                    c.duplicate_messages += skip as u64;
                    st.next = end;
                    SeqEvent::PartialOverlap { skip }
                }
            }
        }
    }

    /// Classifies a packet whose messages the caller withholds because the datagram was cut by the capture (snap
    /// length, file ending inside the record), and advances the session past it as [`Sequencer::on_header`] does.
    ///
    /// Every message of the packet that had not been received before is reported missing: the result is a
    /// [`SeqEvent::Gap`] covering them (merged with a gap just before the packet, if any), counted in
    /// [`SeqCounters::gaps`] / [`SeqCounters::gap_messages`], so a live consumer can request them again. A packet
    /// whose messages had all been seen is [`SeqEvent::Duplicate`] (nothing lost); heartbeats, end of session and
    /// unsequenced packets carry nothing to lose and are classified as usual.
    pub fn on_lost_packet(&mut self, session: &[u8; 10], seq: u64, count: u16) -> SeqEvent {
        let ev = self.on_header(session, seq, count);
        if seq == 0 || count == 0 || count == END_OF_SESSION {
            return ev;
        }
        let n = count as u64;
        let c = &mut self.counters;
        match ev {
            SeqEvent::Duplicate => ev,
            SeqEvent::Gap {
                first_missing,
                count: before,
            } => {
                // The gap before the packet is already counted; extend it over the packet's own messages.
                c.gap_messages = c.gap_messages.saturating_add(n);
                SeqEvent::Gap {
                    first_missing,
                    count: before.saturating_add(n),
                }
            }
            SeqEvent::PartialOverlap { skip } => gap(c, seq + skip as u64, n - skip as u64),
            _ => gap(c, seq, n),
        }
    }

    fn lookup(&mut self, session: &[u8; 10]) -> (usize, bool) {
        let cur = &self.sessions[self.current];
        if cur.in_use && &cur.id == session {
            return (self.current, false);
        }
        if let Some(i) = self
            .sessions
            .iter()
            .position(|s| s.in_use && &s.id == session)
        {
            return (i, false);
        }
        let idx = match self.sessions.iter().position(|s| !s.in_use) {
            Some(i) => i,
            None => {
                self.counters.sessions_evicted += 1;
                self.sessions
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, s)| s.last_used)
                    .map(|(i, _)| i)
                    .unwrap_or(0)
            }
        };
        self.sessions[idx] = SessionState {
            id: *session,
            next: 0,
            last_used: self.tick,
            in_use: true,
            ended: false,
        };
        (idx, true)
    }

    /// True if `session` is tracked and has seen its end-of-session packet.
    pub fn has_ended(&self, session: &[u8; 10]) -> bool {
        self.sessions
            .iter()
            .any(|s| s.in_use && &s.id == session && s.ended)
    }
}

#[inline]
fn gap(c: &mut SeqCounters, first_missing: u64, count: u64) -> SeqEvent {
    c.gaps += 1;
    // Saturating: a hostile sequence number can announce a gap of nearly 2^64 messages in several sessions.
    c.gap_messages = c.gap_messages.saturating_add(count);
    SeqEvent::Gap {
        first_missing,
        count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(session: &[u8; 10], seq: u64, msgs: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(session);
        v.extend_from_slice(&seq.to_be_bytes());
        v.extend_from_slice(&(msgs.len() as u16).to_be_bytes());
        for m in msgs {
            v.extend_from_slice(&(m.len() as u16).to_be_bytes());
            v.extend_from_slice(m);
        }
        v
    }

    #[test]
    fn header_layout() {
        assert_eq!(size_of::<MoldHeader>(), HEADER_LEN);
        assert!(Packet::parse(&[0u8; 19]).is_err());
        let p = Packet::parse(&[0u8; 20]).unwrap();
        assert_eq!(p.kind(), PacketKind::Heartbeat);
    }

    #[test]
    fn blocks_and_framing_errors() {
        let d = pkt(b"ABCDEFGHIJ", 5, &[b"one", b"", b"three"]);
        let p = Packet::parse(&d).unwrap();
        assert_eq!(p.sequence(), 5);
        let got: Vec<&[u8]> = p.blocks().collect();
        assert_eq!(got, vec![&b"one"[..], b"", b"three"]);

        // Trailing garbage.
        let mut t = d.clone();
        t.push(0xAA);
        let p = Packet::parse(&t).unwrap();
        let mut b = p.blocks();
        assert_eq!(b.by_ref().count(), 3);
        assert_eq!(b.error(), Some(FramingError::TrailingBytes { len: 1 }));

        // Cut in the last block: two good blocks survive.
        let c = &d[..d.len() - 2];
        let p = Packet::parse(c).unwrap();
        let mut b = p.blocks();
        assert_eq!(b.by_ref().count(), 2);
        assert_eq!(
            b.error(),
            Some(FramingError::BlockOverrun {
                index: 2,
                len: 5,
                available: 3
            })
        );
        assert_eq!(b.missing(), 1);

        // Cut inside a length prefix.
        let c = &d[..HEADER_LEN + 1];
        let p = Packet::parse(c).unwrap();
        let mut b = p.blocks();
        assert_eq!(b.next(), None);
        assert!(matches!(
            b.error(),
            Some(FramingError::BlockOverrun { index: 0, .. })
        ));

        // Heartbeat with trailing bytes.
        let mut h = pkt(b"ABCDEFGHIJ", 5, &[]);
        h.push(1);
        let p = Packet::parse(&h).unwrap();
        let mut b = p.blocks();
        assert_eq!(b.next(), None);
        assert_eq!(b.error(), Some(FramingError::TrailingBytes { len: 1 }));
    }

    #[test]
    fn lost_packets_are_gaps() {
        let s = b"SESSION001";
        let mut q = Sequencer::new();
        // First packet cut by the capture: its 3 messages are missing.
        assert_eq!(
            q.on_lost_packet(s, 1, 3),
            SeqEvent::Gap {
                first_missing: 1,
                count: 3
            }
        );
        assert_eq!(q.on_header(s, 4, 2), SeqEvent::InOrder); // next 6
                                                             // Lost packet after a real gap: one gap covering both (6..8 never seen, 8..10 withheld).
        assert_eq!(
            q.on_lost_packet(s, 8, 2),
            SeqEvent::Gap {
                first_missing: 6,
                count: 4
            }
        );
        // Lost copy of already-received messages: nothing missing.
        assert_eq!(q.on_lost_packet(s, 4, 2), SeqEvent::Duplicate);
        // Partly new: only the new part is missing.
        assert_eq!(
            q.on_lost_packet(s, 9, 3),
            SeqEvent::Gap {
                first_missing: 10,
                count: 2
            }
        );
        assert_eq!(q.on_lost_packet(s, 12, 0), SeqEvent::Heartbeat);
        assert_eq!(q.on_lost_packet(s, 0, 5), SeqEvent::Unsequenced);
        let c = q.counters();
        assert_eq!((c.gaps, c.gap_messages), (3, 3 + 4 + 2));
        assert_eq!(q.next_expected(s), Some(12));
    }

    #[test]
    fn sequencing_rules() {
        let s = b"SESSION001";
        let mut q = Sequencer::new();
        assert_eq!(q.on_header(s, 10, 2), SeqEvent::InOrder); // baseline 10, next 12
        assert_eq!(q.on_header(s, 12, 3), SeqEvent::InOrder); // next 15
        assert_eq!(
            q.on_header(s, 20, 1),
            SeqEvent::Gap {
                first_missing: 15,
                count: 5
            }
        ); // next 21
        assert_eq!(q.on_header(s, 18, 2), SeqEvent::Duplicate);
        assert_eq!(q.on_header(s, 19, 4), SeqEvent::PartialOverlap { skip: 2 }); // next 23
        assert_eq!(SeqEvent::PartialOverlap { skip: 2 }.skip(4), 2);
        assert_eq!(q.on_header(s, 23, 0), SeqEvent::Heartbeat);
        assert_eq!(
            q.on_header(s, 25, 0),
            SeqEvent::Gap {
                first_missing: 23,
                count: 2
            }
        );
        assert_eq!(q.on_header(s, 0, 3), SeqEvent::Unsequenced);
        assert_eq!(q.next_expected(s), Some(25));
        assert_eq!(
            q.on_header(s, 25, END_OF_SESSION),
            SeqEvent::EndOfSession { missing: 0 }
        );
        assert!(q.has_ended(s));
        assert_eq!(q.on_header(b"SESSION002", 1, 1), SeqEvent::SessionChange);
        let c = q.counters();
        assert_eq!(c.packets, 10);
        assert_eq!(c.gaps, 2);
        assert_eq!(c.gap_messages, 7);
        assert_eq!(c.duplicates, 1);
        assert_eq!(c.duplicate_messages, 4);
        assert_eq!(c.partial_overlaps, 1);
        assert_eq!(c.unsequenced, 1);
        assert_eq!(c.session_changes, 1);
        assert_eq!(c.heartbeats, 2);
        assert_eq!(c.end_of_session, 1);
    }

    #[test]
    fn interleaved_sessions_are_independent() {
        let mut q = Sequencer::new();
        assert_eq!(q.on_header(b"AAAAAAAAAA", 100, 1), SeqEvent::InOrder);
        assert_eq!(q.on_header(b"BBBBBBBBBB", 7, 1), SeqEvent::SessionChange);
        assert_eq!(q.on_header(b"AAAAAAAAAA", 101, 1), SeqEvent::InOrder);
        assert_eq!(q.on_header(b"BBBBBBBBBB", 8, 2), SeqEvent::InOrder);
        assert_eq!(q.counters().gaps, 0);
    }

    #[test]
    fn session_table_evicts_lru_without_panicking() {
        let mut q = Sequencer::new();
        for i in 0..(MAX_SESSIONS as u64 * 3) {
            let mut id = [b'S'; 10];
            id[..8].copy_from_slice(&i.to_be_bytes());
            q.on_header(&id, 1, 1);
        }
        assert_eq!(q.counters().sessions_evicted, MAX_SESSIONS as u64 * 2);
        // Overflowing sequence numbers saturate instead of panicking.
        assert_eq!(
            q.on_header(b"ZZZZZZZZZZ", u64::MAX, 5),
            SeqEvent::SessionChange
        );
        let _ = q.on_header(b"ZZZZZZZZZZ", u64::MAX, 5);
        let _ = q.on_header(b"ZZZZZZZZZZ", u64::MAX - 1, END_OF_SESSION);
    }
}
