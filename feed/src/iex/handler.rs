//! The IEX arm of a datagram pipeline: one call per UDP payload parses the IEX-TP segment, tracks its sequence,
//! walks and decodes its messages, counts them by type and hands each decoded message to a callback.
//!
//! [`IexHandler`] is what capture replay (`tickwatch stats` / `dump`) and the live receiver share; it does no I/O
//! and allocates nothing after [`IexHandler::new`].
//!
//! Policy, stated once:
//! * **Truncated segments** (the caller's `udp_truncated` flag: the capture holds fewer bytes of the datagram than
//!   were sent, by snap length or a record cut short) deliver no message: their complete messages are counted as
//!   [`SequenceStats::truncated_complete_messages`], partial and absent ones as
//!   [`SequenceStats::truncated_lost_messages`], and every new sequence number they announce is a gap (see
//!   [`super::sequence`]). Per-type counts therefore equal those of decoders that drop a cut capture record
//!   (tshark). This is the crate-wide truncation policy (see the crate docs), shared with MoldUDP64.
//! * **Duplicates** (messages whose sequence number was already accepted) are delivered and counted when
//!   [`IexHandler::deliver_duplicates`] is on (capture analysis: a capture's content is reported as it is, the
//!   sequence figures say what was duplicated), and skipped when it is off (live book building).
//! * **Bad messages** (unknown type for the protocol, shorter than the spec) are skipped by length and counted;
//!   **bad framing** of an intact datagram (a block overrunning the payload, a payload shorter than the header's
//!   payload length, a zero length, bytes after the last block) stops the walk of that segment, keeps what was
//!   delivered and is counted in [`IexStats::framing_errors`].

use super::message::{decode, DecodeError, Message};
use super::sequence::{SequenceStats, SequenceTracker, Verdict};
use super::transport::Packet;
use super::Protocol;

/// Where a message came from, handed to the callback with each decoded message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageMeta {
    /// Protocol of the segment.
    pub protocol: Protocol,
    /// Session id of the segment.
    pub session_id: u32,
    /// Sequence number of the message (first sequence number of the segment + index).
    pub seq: u64,
    /// 0-based index of the message in the segment.
    pub index: u16,
    /// Length of the message block (type byte included).
    pub len: u16,
    /// The segment's send time, ns since the Unix epoch.
    pub send_time: i64,
}

/// What [`IexHandler::on_datagram`] made of one UDP payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A segment was processed; its sequence verdict and the number of messages delivered to the callback.
    Segment {
        /// Protocol of the segment.
        protocol: Protocol,
        /// Sequence verdict of the segment.
        verdict: Verdict,
        /// Messages handed to the callback.
        delivered: u16,
    },
    /// A truncated segment: sequence judged, no message delivered.
    Truncated {
        /// Protocol of the segment.
        protocol: Protocol,
        /// Complete messages present (not delivered).
        complete: u16,
        /// Messages announced by the header.
        announced: u16,
    },
    /// Not an IEX-TP segment we decode (too short, wrong version, other message protocol id).
    Rejected,
}

/// Counters of an [`IexHandler`] (transport figures are in [`IexStats::sequence`]).
#[derive(Debug, Clone)]
pub struct IexStats {
    /// Decoded messages by type byte (`counts[b'T' as usize]`).
    pub counts: [u64; 256],
    /// Decoded messages delivered (sum of `counts`).
    pub messages: u64,
    /// Segments processed (data, heartbeat and truncated).
    pub segments: u64,
    /// Payload bytes of processed segments (headers excluded).
    pub payload_bytes: u64,
    /// Messages whose type the protocol does not define (skipped by length).
    pub unknown_messages: u64,
    /// Messages shorter than their type's layout (skipped by length).
    pub short_messages: u64,
    /// Intact segments whose block walk stopped on a framing error, or whose payload is shorter than the header
    /// announces without the datagram being flagged as cut by the capture.
    pub framing_errors: u64,
    /// Messages of duplicate or overlapping segments that were skipped (only with `deliver_duplicates` off).
    pub skipped_duplicates: u64,
    /// UDP payloads that are not IEX-TP v1 (shorter than 40 bytes or another version).
    pub rejected_datagrams: u64,
    /// IEX-TP segments of a message protocol other than TOPS, DEEP and DEEP+.
    pub unsupported_protocol: u64,
    /// Smallest and largest message timestamp delivered (ns since the Unix epoch), if any.
    pub timestamp_range: Option<(i64, i64)>,
    /// Segments seen per protocol: TOPS, DEEP, DEEP+.
    pub segments_by_protocol: [u64; 3],
    /// Sequence figures.
    pub sequence: SequenceStats,
}

impl Default for IexStats {
    fn default() -> Self {
        IexStats {
            counts: [0; 256],
            messages: 0,
            segments: 0,
            payload_bytes: 0,
            unknown_messages: 0,
            short_messages: 0,
            framing_errors: 0,
            skipped_duplicates: 0,
            rejected_datagrams: 0,
            unsupported_protocol: 0,
            timestamp_range: None,
            segments_by_protocol: [0; 3],
            sequence: SequenceStats::default(),
        }
    }
}

impl IexStats {
    /// `(type byte, count)` of every type seen, in byte order.
    pub fn type_counts(&self) -> impl Iterator<Item = (u8, u64)> + '_ {
        (0u8..=255)
            .zip(self.counts.iter().copied())
            .filter(|&(_, n)| n > 0)
    }
}

/// Decodes IEX-TP UDP payloads one at a time; see the module docs for the policy.
#[derive(Debug, Clone)]
pub struct IexHandler {
    tracker: SequenceTracker,
    stats: IexStats,
    deliver_duplicates: bool,
}

impl Default for IexHandler {
    fn default() -> Self {
        IexHandler::new()
    }
}

impl IexHandler {
    /// A handler that delivers duplicates (capture analysis).
    pub fn new() -> IexHandler {
        IexHandler {
            tracker: SequenceTracker::new(),
            stats: IexStats::default(),
            deliver_duplicates: true,
        }
    }

    /// Whether messages already accepted (duplicate / overlapping segments) are delivered. Default on.
    pub fn deliver_duplicates(mut self, on: bool) -> IexHandler {
        self.deliver_duplicates = on;
        self
    }

    /// The counters so far (sequence figures refreshed).
    pub fn stats(&self) -> IexStats {
        let mut s = self.stats.clone();
        s.sequence = *self.tracker.stats();
        s
    }

    /// The sequence tracker.
    pub fn tracker(&self) -> &SequenceTracker {
        &self.tracker
    }

    /// Processes one UDP payload. `udp_truncated` is the capture reader's flag that the datagram holds fewer bytes
    /// than its UDP header announced. Each decoded message goes to `on_message` in wire order.
    #[inline]
    pub fn on_datagram<'a>(
        &mut self,
        payload: &'a [u8],
        udp_truncated: bool,
        mut on_message: impl FnMut(MessageMeta, Message<'a>),
    ) -> Outcome {
        let Ok(packet) = Packet::parse(payload) else {
            self.stats.rejected_datagrams += 1;
            return Outcome::Rejected;
        };
        let header = packet.header();
        let Some(protocol) = header.protocol() else {
            self.stats.unsupported_protocol += 1;
            return Outcome::Rejected;
        };
        self.stats.segments += 1;
        self.stats.segments_by_protocol[protocol as usize] += 1;
        self.stats.payload_bytes += packet.payload().len() as u64;

        if udp_truncated {
            let integrity = packet.integrity();
            self.tracker.observe_truncated(header, integrity.complete);
            return Outcome::Truncated {
                protocol,
                complete: integrity.complete,
                announced: integrity.announced,
            };
        }

        let verdict = self.tracker.observe(header);
        let first_new = if self.deliver_duplicates {
            0
        } else {
            verdict.first_new_message()
        };
        let base_seq = header.first_message_sequence_number();
        let (session_id, send_time) = (header.session_id(), header.send_time());
        let mut delivered = 0u16;
        let mut framing_error = false;
        for block in packet.messages() {
            let block = match block {
                Ok(b) => b,
                // The datagram is intact (not cut by the capture), so a payload shorter than the header announces
                // is broken framing like any other: the messages before the break stay delivered.
                Err(_) => {
                    framing_error = true;
                    break;
                }
            };
            if block.index < first_new {
                self.stats.skipped_duplicates += 1;
                continue;
            }
            match decode(protocol, block.bytes) {
                Ok(message) => {
                    self.stats.counts[usize::from(message.message_type())] += 1;
                    self.stats.messages += 1;
                    let ts = message.timestamp();
                    self.stats.timestamp_range = Some(match self.stats.timestamp_range {
                        None => (ts, ts),
                        Some((lo, hi)) => (lo.min(ts), hi.max(ts)),
                    });
                    delivered += 1;
                    let meta = MessageMeta {
                        protocol,
                        session_id,
                        seq: base_seq.wrapping_add(u64::from(block.index)),
                        index: block.index,
                        len: block.bytes.len() as u16,
                        send_time,
                    };
                    on_message(meta, message);
                }
                Err(DecodeError::UnknownType { .. }) => self.stats.unknown_messages += 1,
                Err(DecodeError::TooShort { .. } | DecodeError::Empty) => {
                    self.stats.short_messages += 1
                }
            }
        }
        if framing_error || packet.is_truncated() {
            self.stats.framing_errors += 1;
        }
        Outcome::Segment {
            protocol,
            verdict,
            delivered,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iex::transport::example_packet;

    #[test]
    fn counts_and_delivers_and_handles_truncation() {
        let mut h = IexHandler::new();
        let p = example_packet();
        let mut seen = Vec::new();
        let out = h.on_datagram(&p, false, |meta, m| seen.push((meta.seq, m.message_type())));
        assert_eq!(
            out,
            Outcome::Segment {
                protocol: Protocol::Deep,
                verdict: Verdict::Start,
                delivered: 1
            }
        );
        assert_eq!(seen, vec![(1, b'8')]);
        // Same segment again: a duplicate, still delivered by default.
        h.on_datagram(&p, false, |_, _| {});
        // Cut short by the capture: nothing delivered.
        let out = h.on_datagram(&p[..60], true, |_, _| {
            panic!("no delivery from a truncated segment")
        });
        assert_eq!(
            out,
            Outcome::Truncated {
                protocol: Protocol::Deep,
                complete: 0,
                announced: 1
            }
        );
        assert_eq!(h.on_datagram(&p[..39], false, |_, _| {}), Outcome::Rejected);
        let s = h.stats();
        assert_eq!(s.counts[usize::from(b'8')], 2);
        assert_eq!(s.type_counts().collect::<Vec<_>>(), vec![(b'8', 2)]);
        assert_eq!(s.sequence.duplicate_packets, 1);
        assert_eq!(
            (
                s.sequence.truncated_packets,
                s.sequence.truncated_lost_messages
            ),
            (1, 1)
        );
        assert_eq!(s.rejected_datagrams, 1);
        // The same bytes not flagged as cut: broken framing of an intact datagram (nothing complete to deliver).
        assert!(matches!(
            h.on_datagram(&p[..60], false, |_, _| {}),
            Outcome::Segment { delivered: 0, .. }
        ));
        assert_eq!(h.stats().framing_errors, 1);

        let mut live = IexHandler::new().deliver_duplicates(false);
        live.on_datagram(&p, false, |_, _| {});
        live.on_datagram(&p, false, |_, _| panic!("duplicate delivered"));
        assert_eq!(live.stats().skipped_duplicates, 1);
    }
}
