//! Sequence tracking of IEX-TP streams: gaps, duplicates, session changes, sequence restarts, heartbeats and
//! truncated packets.
//!
//! A **stream** is one (message protocol id, channel id) pair; it carries one session at a time. For each stream
//! the tracker keeps the next expected sequence number, the session id and the latest send time, in a table of
//! [`SequenceTracker::MAX_STREAMS`] entries allocated at construction (no allocation afterwards). Each packet
//! header gets a [`Verdict`]; every message announced by a data packet ends up in exactly one bucket of
//! [`SequenceStats`]: in order (counted by the caller), duplicate, or missing (gap; a truncated packet's new messages
//! are missing too, see below).
//!
//! Rules, applied to the header of every packet, heartbeats included (a heartbeat's sequence number is the next
//! message's):
//! * first packet of a stream: [`Verdict::Start`];
//! * session id differs from the stream's: [`Verdict::SessionChange`] (tracking restarts from this packet);
//! * same session, sequence 1 at stream offset 0 while a later number was expected, and a send time after the
//!   latest seen: [`Verdict::Restart`]. IEX's DEEP sample capture restarts its sequence 11 times inside one session
//!   (each time announced by a heartbeat); a restart is not a gap and not a duplicate. A sequence-1 packet that is
//!   not newer than what was seen is a replay and is judged as a duplicate instead;
//! * sequence above the expected one: [`Verdict::Gap`] (first missing, count);
//! * all messages below the expected one: [`Verdict::Duplicate`]; some below: [`Verdict::Overlap`];
//! * otherwise [`Verdict::InOrder`] or [`Verdict::Heartbeat`].
//!
//! **Truncated packets** (a datagram cut by the capture: snap length, or the record ends early) go through
//! [`SequenceTracker::observe_truncated`]: the header is judged as above, the stream moves past the packet, and its
//! messages are not accepted. Their sequence numbers that were not accepted before are a **gap** (counted in
//! [`SequenceStats::gaps`] / [`SequenceStats::gap_messages`], verdict [`Verdict::Gap`]), so a consumer can
//! recover them; the truncated packet's messages are also broken down into
//! [`SequenceStats::truncated_complete_messages`] (present and decodable, withheld) and
//! [`SequenceStats::truncated_lost_messages`] (partial or absent). Withholding them keeps per-type counts equal
//! to decoders that drop the cut record (tshark).

use super::transport::TransportHeader;

/// What a packet means for its stream's sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// First packet seen on the stream; tracking starts here.
    Start,
    /// Data packet with exactly the expected sequence number.
    InOrder,
    /// Heartbeat announcing exactly the expected sequence number.
    Heartbeat,
    /// Messages `first_missing .. first_missing + count` were never seen; the packet itself is new.
    Gap {
        /// First missing sequence number.
        first_missing: u64,
        /// Number of missing messages.
        count: u64,
    },
    /// Every message of the packet was already accepted (or, for a heartbeat, it announces an older number).
    Duplicate,
    /// The first `duplicates` messages were already accepted, the rest are new.
    Overlap {
        /// Leading messages already accepted.
        duplicates: u16,
    },
    /// Sequence numbers restarted at 1 (stream offset 0) inside the same session.
    Restart {
        /// The sequence number expected before the restart.
        previous_expected: u64,
    },
    /// The stream switched to a new session id.
    SessionChange {
        /// The previous session id.
        previous: u32,
    },
    /// The stream table is full; this packet's stream is not tracked (counted in
    /// [`SequenceStats::untracked_packets`]).
    Untracked,
}

impl Verdict {
    /// Index of the first message of the packet that has not been accepted before: 0 except for
    /// [`Verdict::Overlap`] (its `duplicates`) and [`Verdict::Duplicate`] (`u16::MAX`: none is new).
    #[inline]
    pub fn first_new_message(&self) -> u16 {
        match *self {
            Verdict::Duplicate => u16::MAX,
            Verdict::Overlap { duplicates } => duplicates,
            _ => 0,
        }
    }
}

/// Sequence figures of every stream seen by a [`SequenceTracker`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SequenceStats {
    /// Packets observed (data, heartbeats and truncated).
    pub packets: u64,
    /// Heartbeat packets (message count 0).
    pub heartbeats: u64,
    /// Gap events.
    pub gaps: u64,
    /// Messages missing in gaps.
    pub gap_messages: u64,
    /// Data packets whose messages were all already accepted.
    pub duplicate_packets: u64,
    /// Messages already accepted (in duplicate and overlapping packets).
    pub duplicate_messages: u64,
    /// Sequence restarts at 1 inside a session.
    pub restarts: u64,
    /// Session id changes on a stream.
    pub session_changes: u64,
    /// Packets with fewer bytes than their header announces.
    pub truncated_packets: u64,
    /// Complete messages inside truncated packets (present and decodable, but not accepted).
    pub truncated_complete_messages: u64,
    /// Messages announced by truncated packets that are partial or absent.
    pub truncated_lost_messages: u64,
    /// Packets of streams beyond the tracker's capacity.
    pub untracked_packets: u64,
    /// Distinct streams tracked.
    pub streams: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Stream {
    protocol_id: u16,
    channel_id: u32,
    session_id: u32,
    expected: u64,
    last_send_time: i64,
}

/// Tracks the sequence of up to [`Self::MAX_STREAMS`] IEX-TP streams. Owned by one thread; no allocation after
/// [`SequenceTracker::new`].
#[derive(Debug, Clone)]
pub struct SequenceTracker {
    streams: Box<[Stream; SequenceTracker::MAX_STREAMS]>,
    len: usize,
    stats: SequenceStats,
}

impl Default for SequenceTracker {
    fn default() -> Self {
        SequenceTracker::new()
    }
}

impl SequenceTracker {
    /// Streams (protocol id, channel id) tracked at once.
    pub const MAX_STREAMS: usize = 16;

    /// An empty tracker (allocates its stream table once).
    pub fn new() -> SequenceTracker {
        SequenceTracker {
            streams: Box::new([Stream::default(); SequenceTracker::MAX_STREAMS]),
            len: 0,
            stats: SequenceStats::default(),
        }
    }

    /// The figures so far.
    #[inline]
    pub fn stats(&self) -> &SequenceStats {
        &self.stats
    }

    /// The next expected sequence number of a stream, if it has been seen.
    pub fn expected(&self, protocol_id: u16, channel_id: u32) -> Option<u64> {
        self.streams[..self.len]
            .iter()
            .find(|s| s.protocol_id == protocol_id && s.channel_id == channel_id)
            .map(|s| s.expected)
    }

    /// Judges a complete packet (all announced messages present) and advances its stream.
    #[inline]
    pub fn observe(&mut self, header: &TransportHeader) -> Verdict {
        let count = u64::from(header.message_count());
        let verdict = self.judge(header, count);
        match verdict {
            Verdict::Duplicate if count > 0 => {
                self.stats.duplicate_packets += 1;
                self.stats.duplicate_messages += count;
            }
            Verdict::Overlap { duplicates } => {
                self.stats.duplicate_messages += u64::from(duplicates)
            }
            _ => {}
        }
        verdict
    }

    /// Judges a truncated packet holding `complete` complete messages out of its announced `message_count`, and
    /// moves its stream past the packet. None of its messages is accepted: the new ones are reported missing, as a
    /// [`Verdict::Gap`] (merged with a gap just before the packet, if any) counted in [`SequenceStats::gaps`]; a
    /// packet whose messages were all accepted before stays [`Verdict::Duplicate`]. See the module docs.
    #[inline]
    pub fn observe_truncated(&mut self, header: &TransportHeader, complete: u16) -> Verdict {
        let count = u64::from(header.message_count());
        let verdict = self.judge(header, count);
        let complete = u64::from(complete).min(count);
        self.stats.truncated_packets += 1;
        self.stats.truncated_complete_messages += complete;
        self.stats.truncated_lost_messages += count - complete;
        if count == 0 {
            return verdict;
        }
        let seq = header.first_message_sequence_number();
        let (first_missing, lost) = match verdict {
            Verdict::Duplicate | Verdict::Untracked | Verdict::Heartbeat => return verdict,
            Verdict::Gap {
                first_missing,
                count: before,
            } => {
                // The gap before the packet is already counted; extend it over the packet's own messages.
                self.stats.gap_messages = self.stats.gap_messages.saturating_add(count);
                return Verdict::Gap {
                    first_missing,
                    count: before.saturating_add(count),
                };
            }
            Verdict::Overlap { duplicates } => (
                seq.saturating_add(u64::from(duplicates)),
                count - u64::from(duplicates),
            ),
            Verdict::Start
            | Verdict::InOrder
            | Verdict::Restart { .. }
            | Verdict::SessionChange { .. } => (seq, count),
        };
        self.stats.gaps += 1;
        self.stats.gap_messages = self.stats.gap_messages.saturating_add(lost);
        Verdict::Gap {
            first_missing,
            count: lost,
        }
    }

    fn judge(&mut self, h: &TransportHeader, count: u64) -> Verdict {
        self.stats.packets += 1;
        if count == 0 {
            self.stats.heartbeats += 1;
        }
        let (protocol_id, channel_id, session_id) =
            (h.message_protocol_id(), h.channel_id(), h.session_id());
        let seq = h.first_message_sequence_number();
        let send_time = h.send_time();
        let end = seq.saturating_add(count);
        let Some(i) = self.streams[..self.len]
            .iter()
            .position(|s| s.protocol_id == protocol_id && s.channel_id == channel_id)
        else {
            if self.len == Self::MAX_STREAMS {
                self.stats.untracked_packets += 1;
                return Verdict::Untracked;
            }
            self.streams[self.len] = Stream {
                protocol_id,
                channel_id,
                session_id,
                expected: end,
                last_send_time: send_time,
            };
            self.len += 1;
            self.stats.streams += 1;
            return Verdict::Start;
        };
        let stream = &mut self.streams[i];
        if stream.session_id != session_id {
            let previous = stream.session_id;
            *stream = Stream {
                protocol_id,
                channel_id,
                session_id,
                expected: end,
                last_send_time: send_time,
            };
            self.stats.session_changes += 1;
            return Verdict::SessionChange { previous };
        }
        let expected = stream.expected;
        if seq == expected {
            stream.expected = end;
            stream.last_send_time = stream.last_send_time.max(send_time);
            return if count == 0 {
                Verdict::Heartbeat
            } else {
                Verdict::InOrder
            };
        }
        if seq == 1 && h.stream_offset() == 0 && send_time > stream.last_send_time {
            stream.expected = end;
            stream.last_send_time = send_time;
            self.stats.restarts += 1;
            return Verdict::Restart {
                previous_expected: expected,
            };
        }
        if seq > expected {
            let missing = seq - expected;
            stream.expected = end;
            stream.last_send_time = stream.last_send_time.max(send_time);
            self.stats.gaps += 1;
            // Saturating: hostile sequence numbers can announce gaps of nearly 2^64 messages on several streams.
            self.stats.gap_messages = self.stats.gap_messages.saturating_add(missing);
            return Verdict::Gap {
                first_missing: expected,
                count: missing,
            };
        }
        // seq < expected
        if end <= expected || count == 0 {
            return Verdict::Duplicate;
        }
        stream.expected = end;
        stream.last_send_time = stream.last_send_time.max(send_time);
        // expected - seq < count <= u16::MAX
        Verdict::Overlap {
            duplicates: u16::try_from(expected - seq).unwrap_or(u16::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iex::Packet;

    fn header(session: u32, seq: u64, count: u16, offset: u64, send: i64) -> Vec<u8> {
        let mut p = vec![1u8, 0];
        p.extend_from_slice(&0x8004u16.to_le_bytes());
        p.extend_from_slice(&1u32.to_le_bytes());
        p.extend_from_slice(&session.to_le_bytes());
        p.extend_from_slice(&0u16.to_le_bytes());
        p.extend_from_slice(&count.to_le_bytes());
        p.extend_from_slice(&offset.to_le_bytes());
        p.extend_from_slice(&seq.to_le_bytes());
        p.extend_from_slice(&send.to_le_bytes());
        p
    }

    fn obs(t: &mut SequenceTracker, bytes: &[u8]) -> Verdict {
        t.observe(Packet::parse(bytes).unwrap().header())
    }

    #[test]
    fn verdicts_follow_the_rules() {
        let mut t = SequenceTracker::new();
        assert_eq!(obs(&mut t, &header(7, 1, 0, 0, 10)), Verdict::Start);
        assert_eq!(obs(&mut t, &header(7, 1, 3, 0, 11)), Verdict::InOrder);
        assert_eq!(obs(&mut t, &header(7, 4, 0, 90, 12)), Verdict::Heartbeat);
        assert_eq!(
            obs(&mut t, &header(7, 6, 2, 150, 13)),
            Verdict::Gap {
                first_missing: 4,
                count: 2
            }
        );
        assert_eq!(obs(&mut t, &header(7, 6, 2, 150, 13)), Verdict::Duplicate);
        assert_eq!(
            obs(&mut t, &header(7, 7, 3, 180, 14)),
            Verdict::Overlap { duplicates: 1 }
        );
        assert_eq!(
            obs(&mut t, &header(7, 1, 0, 0, 15)),
            Verdict::Restart {
                previous_expected: 10
            }
        );
        assert_eq!(obs(&mut t, &header(7, 1, 2, 0, 16)), Verdict::InOrder);
        // A replayed sequence-1 packet (not newer) is a duplicate, not a restart.
        assert_eq!(obs(&mut t, &header(7, 1, 2, 0, 16)), Verdict::Duplicate);
        assert_eq!(
            obs(&mut t, &header(8, 1, 1, 0, 17)),
            Verdict::SessionChange { previous: 7 }
        );
        let s = *t.stats();
        assert_eq!(s.packets, 10);
        assert_eq!(s.heartbeats, 3);
        assert_eq!((s.gaps, s.gap_messages), (1, 2));
        assert_eq!((s.duplicate_packets, s.duplicate_messages), (2, 5));
        assert_eq!(s.restarts, 1);
        assert_eq!(s.session_changes, 1);
        assert_eq!(s.streams, 1);
    }

    #[test]
    fn truncated_packets_are_gaps_and_advance_the_stream() {
        let mut t = SequenceTracker::new();
        assert_eq!(obs(&mut t, &header(1, 1, 10, 0, 1)), Verdict::Start);
        let h = header(1, 11, 44, 300, 2);
        assert_eq!(
            t.observe_truncated(Packet::parse(&h).unwrap().header(), 11),
            Verdict::Gap {
                first_missing: 11,
                count: 44
            }
        );
        assert_eq!(obs(&mut t, &header(1, 55, 1, 2000, 3)), Verdict::InOrder);
        // A cut copy of messages already accepted loses nothing; a cut packet after a gap extends it.
        let h = header(1, 50, 6, 1800, 4);
        assert_eq!(
            t.observe_truncated(Packet::parse(&h).unwrap().header(), 0),
            Verdict::Duplicate
        );
        let h = header(1, 60, 5, 2500, 5);
        assert_eq!(
            t.observe_truncated(Packet::parse(&h).unwrap().header(), 2),
            Verdict::Gap {
                first_missing: 56,
                count: 9
            }
        );
        assert_eq!(t.expected(0x8004, 1), Some(65));
        let s = t.stats();
        assert_eq!(
            (
                s.truncated_packets,
                s.truncated_complete_messages,
                s.truncated_lost_messages
            ),
            (3, 11 + 2, 33 + 6 + 3)
        );
        assert_eq!((s.gaps, s.gap_messages), (2, 44 + 9));
    }

    #[test]
    fn streams_are_independent_and_bounded() {
        let mut t = SequenceTracker::new();
        for ch in 0..SequenceTracker::MAX_STREAMS as u32 + 2 {
            let mut h = header(1, 5, 1, 0, 1);
            h[4..8].copy_from_slice(&ch.to_le_bytes());
            let v = obs(&mut t, &h);
            if (ch as usize) < SequenceTracker::MAX_STREAMS {
                assert_eq!(v, Verdict::Start);
            } else {
                assert_eq!(v, Verdict::Untracked);
            }
        }
        assert_eq!(t.stats().untracked_packets, 2);
        assert_eq!(t.expected(0x8004, 3), Some(6));
    }
}
