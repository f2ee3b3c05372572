//! [`FeedStats`]: what a feed (capture file or live socket) contained, for ITCH/MoldUDP64 and IEX-TP alike.
//!
//! Filled by the [`crate::analyze::Analyzer`] with plain integer increments (no allocation, no locks); read on the
//! cold path. Its JSON form (serde) is an interface that scripts use (`tickwatch stats --json`, `--stats-out`):
//! the names below are stable, new fields may be added, none will be renamed or change meaning.
//!
//! # JSON fields
//! | key | meaning |
//! |---|---|
//! | `counts` | object: decoded messages by wire type byte, key = that byte as a one-character string (`{"A": 36, "F": 2}`), in byte order; bytes that are not printable ASCII appear as `"0xNN"`. Only decoded (known, well-formed) messages. |
//! | `messages` | decoded messages (sum of `counts`) |
//! | `frames` | capture records read (pcap/pcapng frames; 0 for raw ITCH files) |
//! | `packets` | transport packets recognised (MoldUDP64 packets or IEX-TP segments, heartbeats included) |
//! | `bytes` | capture bytes walked: captured frame bytes (pcap/pcapng) or stream bytes (raw ITCH) |
//! | `heartbeats` | heartbeat packets (MoldUDP64 count 0, IEX-TP segment without messages) |
//! | `end_of_session` | MoldUDP64 end-of-session packets (count 0xFFFF) |
//! | `gaps` | sequence gaps (runs of missing messages), per session; the new messages of a datagram cut by the capture are missing too (withheld, see `truncated`) |
//! | `gap_messages` | messages missing in those gaps |
//! | `duplicates` | packets whose messages had all been seen already |
//! | `duplicate_messages` | messages seen before (whole duplicate packets plus overlapped parts); still decoded and counted in `counts` by capture analysis, skipped by live consumers |
//! | `unsequenced` | MoldUDP64 packets with sequence number 0 (sanitised captures); their messages are decoded |
//! | `session_changes` | first packets of a new session after another session was active |
//! | `sequence_resets` | sequence numbers restarting (at 1) within a stream (IEX-TP) |
//! | `unknown` | messages of a type the protocol does not define (skipped by their length) |
//! | `empty` | zero-length message blocks or records, skipped (NASDAQ raw files may end with one as an end marker) |
//! | `malformed` | damaged data that was skipped: messages with a wrong length for their type, intact packets with framing errors (block past the end, payload shorter than announced, trailing bytes; the messages before the error are kept), datagrams too short for their transport header, bad IPv4/UDP/link headers, a corrupt record header that ended the capture walk |
//! | `truncated` | records or datagrams holding fewer bytes than announced (cut by the snap length or the end of the file). A cut datagram delivers none of its messages (MoldUDP64 and IEX-TP alike; a dissector drops the cut record); its new sequence numbers count in `gaps` / `gap_messages` |
//! | `truncated_complete_messages` | complete messages inside datagrams cut by the capture; withheld: not delivered and not in `counts` |
//! | `truncated_lost_messages` | messages announced by datagrams cut by the capture that are cut or absent |
//! | `non_udp` | frames that are not IPv4/UDP (other ethertypes, other IP protocols, unsupported link types) |
//! | `fragments` | IPv4 fragments (not reassembled) |
//! | `filtered` | UDP datagrams excluded by the port / group filter |
//! | `unrecognized` | UDP datagrams that are neither MoldUDP64 nor IEX-TP |
//! | `first_timestamp`, `last_timestamp` | message timestamp of the first / last decoded message (ITCH: ns since midnight; IEX: ns since the Unix epoch); `null` if none |
//! | `min_timestamp`, `max_timestamp` | smallest / largest message timestamp |
//! | `first_capture_ns`, `last_capture_ns` | capture time of the first / last frame, ns since the Unix epoch; `null` without frames |

use core::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Message counts indexed by wire type byte. Serialised as an object keyed by the type byte as a character.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TypeCounts(pub [u64; 256]);

impl Default for TypeCounts {
    fn default() -> Self {
        TypeCounts([0; 256])
    }
}

impl fmt::Debug for TypeCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(t, n)| (type_key(t), n)))
            .finish()
    }
}

impl TypeCounts {
    /// `(type byte, count)` for every non-zero count, in byte order.
    pub fn iter(&self) -> impl Iterator<Item = (u8, u64)> + '_ {
        (0u8..=255)
            .zip(self.0.iter().copied())
            .filter(|&(_, n)| n > 0)
    }

    /// Count of type `t`.
    #[inline(always)]
    pub fn get(&self, t: u8) -> u64 {
        self.0[t as usize]
    }

    /// Sum of all counts.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

/// The JSON key of type byte `t`: the character for printable ASCII, `0xNN` otherwise.
pub fn type_key(t: u8) -> String {
    if t.is_ascii_graphic() {
        (t as char).to_string()
    } else {
        format!("0x{t:02x}")
    }
}

fn parse_type_key(k: &str) -> Option<u8> {
    let b = k.as_bytes();
    if b.len() == 1 {
        return Some(b[0]);
    }
    k.strip_prefix("0x")
        .and_then(|h| u8::from_str_radix(h, 16).ok())
}

impl Serialize for TypeCounts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let n = self.iter().count();
        let mut m = s.serialize_map(Some(n))?;
        for (t, c) in self.iter() {
            m.serialize_entry(&type_key(t), &c)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for TypeCounts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TypeCounts;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of message type -> count")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<TypeCounts, A::Error> {
                let mut out = TypeCounts::default();
                while let Some((k, v)) = a.next_entry::<String, u64>()? {
                    let t = parse_type_key(&k).ok_or_else(|| {
                        serde::de::Error::custom(format!("bad message type key {k:?}"))
                    })?;
                    out.0[t as usize] = v;
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

/// What a feed contained. See the module docs for the meaning of every field (and its JSON name: the same).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FeedStats {
    /// Decoded messages by wire type byte.
    pub counts: TypeCounts,
    /// Decoded messages.
    pub messages: u64,
    /// Capture records read.
    pub frames: u64,
    /// Transport packets recognised (MoldUDP64 / IEX-TP), heartbeats included.
    pub packets: u64,
    /// Capture bytes walked.
    pub bytes: u64,
    /// Heartbeat packets.
    pub heartbeats: u64,
    /// End-of-session packets.
    pub end_of_session: u64,
    /// Sequence gaps.
    pub gaps: u64,
    /// Messages missing in gaps.
    pub gap_messages: u64,
    /// Packets entirely seen before.
    pub duplicates: u64,
    /// Messages seen before.
    pub duplicate_messages: u64,
    /// Packets with sequence number 0.
    pub unsequenced: u64,
    /// Session changes.
    pub session_changes: u64,
    /// Sequence restarts within a stream.
    pub sequence_resets: u64,
    /// Messages of unknown type.
    pub unknown: u64,
    /// Zero-length message blocks / records.
    pub empty: u64,
    /// Damaged items skipped.
    pub malformed: u64,
    /// Records or datagrams cut short.
    pub truncated: u64,
    /// Complete messages in datagrams cut by the capture (withheld: not delivered, not counted).
    pub truncated_complete_messages: u64,
    /// Messages announced by datagrams cut by the capture that are cut or absent.
    pub truncated_lost_messages: u64,
    /// Frames that are not IPv4/UDP.
    pub non_udp: u64,
    /// IPv4 fragments.
    pub fragments: u64,
    /// Datagrams excluded by the filter.
    pub filtered: u64,
    /// UDP datagrams of no known feed protocol.
    pub unrecognized: u64,
    /// Timestamp of the first decoded message.
    pub first_timestamp: Option<u64>,
    /// Timestamp of the last decoded message.
    pub last_timestamp: Option<u64>,
    /// Smallest message timestamp.
    pub min_timestamp: Option<u64>,
    /// Largest message timestamp.
    pub max_timestamp: Option<u64>,
    /// Capture time of the first frame (ns since the Unix epoch).
    pub first_capture_ns: Option<u64>,
    /// Capture time of the last frame (ns since the Unix epoch).
    pub last_capture_ns: Option<u64>,
}

impl FeedStats {
    /// Records one decoded message of type `t` with timestamp `ts`.
    #[inline(always)]
    pub fn on_message(&mut self, t: u8, ts: u64) {
        self.counts.0[t as usize] += 1;
        self.messages += 1;
        if self.first_timestamp.is_none() {
            self.first_timestamp = Some(ts);
            self.min_timestamp = Some(ts);
            self.max_timestamp = Some(ts);
        }
        self.last_timestamp = Some(ts);
        // Branch-light min/max: both are Some after the first message.
        if let (Some(lo), Some(hi)) = (self.min_timestamp.as_mut(), self.max_timestamp.as_mut()) {
            *lo = (*lo).min(ts);
            *hi = (*hi).max(ts);
        }
    }

    /// Records one capture frame taken at `ts_ns` with `len` captured bytes.
    #[inline(always)]
    pub fn on_frame(&mut self, ts_ns: u64, len: usize) {
        self.frames += 1;
        self.bytes += len as u64;
        if self.first_capture_ns.is_none() {
            self.first_capture_ns = Some(ts_ns);
        }
        self.last_capture_ns = Some(ts_ns);
    }

    /// Adds every counter of `other` into `self` (counts summed, time ranges widened, first/last kept from the
    /// earlier/later side respectively). For combining per-thread or per-file stats.
    pub fn merge(&mut self, other: &FeedStats) {
        for (a, b) in self.counts.0.iter_mut().zip(other.counts.0.iter()) {
            *a += b;
        }
        macro_rules! add {
            ($($f:ident),*) => { $( self.$f += other.$f; )* };
        }
        add!(
            messages,
            frames,
            packets,
            bytes,
            heartbeats,
            end_of_session,
            gaps,
            gap_messages,
            duplicates,
            duplicate_messages,
            unsequenced,
            session_changes,
            sequence_resets,
            unknown,
            empty,
            malformed,
            truncated,
            truncated_complete_messages,
            truncated_lost_messages,
            non_udp,
            fragments,
            filtered,
            unrecognized
        );
        self.first_timestamp = self.first_timestamp.or(other.first_timestamp);
        self.last_timestamp = other.last_timestamp.or(self.last_timestamp);
        self.min_timestamp = opt_min(self.min_timestamp, other.min_timestamp);
        self.max_timestamp = opt_max(self.max_timestamp, other.max_timestamp);
        self.first_capture_ns = self.first_capture_ns.or(other.first_capture_ns);
        self.last_capture_ns = other.last_capture_ns.or(self.last_capture_ns);
    }
}

fn opt_min(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

fn opt_max(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}

fn fmt_opt(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// Formats ns since midnight as `HH:MM:SS.nnnnnnnnn` when below one day, else as plain ns.
pub fn fmt_time_of_day(ns: u64) -> String {
    if ns >= 86_400_000_000_000 {
        return format!("{ns} ns");
    }
    let s = ns / 1_000_000_000;
    format!(
        "{:02}:{:02}:{:02}.{:09}",
        s / 3600,
        s / 60 % 60,
        s % 60,
        ns % 1_000_000_000
    )
}

impl fmt::Display for FeedStats {
    /// A human-readable multi-line report.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "messages        {}", self.messages)?;
        if self.messages > 0 {
            write!(f, "by type        ")?;
            for (t, n) in self.counts.iter() {
                write!(f, " {}:{}", type_key(t), n)?;
            }
            writeln!(f)?;
        }
        writeln!(
            f,
            "frames          {}    packets {}    bytes {}",
            self.frames, self.packets, self.bytes
        )?;
        writeln!(
            f,
            "heartbeats      {}    end of session {}    unsequenced packets {}",
            self.heartbeats, self.end_of_session, self.unsequenced
        )?;
        writeln!(
            f,
            "gaps            {} ({} messages missing)    duplicates {} packets ({} messages)",
            self.gaps, self.gap_messages, self.duplicates, self.duplicate_messages
        )?;
        writeln!(
            f,
            "sessions        {} changes    {} sequence resets",
            self.session_changes, self.sequence_resets
        )?;
        writeln!(
            f,
            "skipped         unknown {}    empty {}    malformed {}    truncated {}    non-UDP {}    fragments {}    filtered {}    unrecognized {}",
            self.unknown,
            self.empty,
            self.malformed,
            self.truncated,
            self.non_udp,
            self.fragments,
            self.filtered,
            self.unrecognized
        )?;
        if self.truncated_complete_messages + self.truncated_lost_messages > 0 {
            writeln!(
                f,
                "truncated msgs  {} complete (withheld, not counted)    {} cut or absent",
                self.truncated_complete_messages, self.truncated_lost_messages
            )?;
        }
        if let (Some(lo), Some(hi)) = (self.min_timestamp, self.max_timestamp) {
            writeln!(
                f,
                "message time    {} .. {}  (ns: {} .. {})",
                fmt_time_of_day(lo),
                fmt_time_of_day(hi),
                lo,
                hi
            )?;
        }
        writeln!(
            f,
            "capture time    {} .. {} ns since epoch",
            fmt_opt(self.first_capture_ns),
            fmt_opt(self.last_capture_ns)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_round_trips() {
        let mut s = FeedStats::default();
        s.on_message(b'A', 10);
        s.on_message(b'A', 5);
        s.on_message(b'F', 7);
        s.on_message(0x01, 7);
        let j = serde_json::to_value(&s).unwrap();
        assert_eq!(j["counts"], serde_json::json!({"0x01": 1, "A": 2, "F": 1}));
        assert_eq!(j["messages"], 4);
        assert_eq!(j["first_timestamp"], 10);
        assert_eq!(j["last_timestamp"], 7);
        assert_eq!(j["min_timestamp"], 5);
        assert_eq!(j["max_timestamp"], 10);
        assert!(j["first_capture_ns"].is_null());
        let back: FeedStats = serde_json::from_value(j).unwrap();
        assert_eq!(back, s);
        // Unknown keys are tolerated, missing ones default.
        let partial: FeedStats = serde_json::from_str(r#"{"counts":{"S":1},"future":3}"#).unwrap();
        assert_eq!(partial.counts.get(b'S'), 1);
    }

    #[test]
    fn merge_adds() {
        let mut a = FeedStats::default();
        a.on_message(b'A', 3);
        a.on_frame(100, 60);
        let mut b = FeedStats::default();
        b.on_message(b'A', 1);
        b.on_frame(200, 40);
        b.gaps = 2;
        a.merge(&b);
        assert_eq!(a.counts.get(b'A'), 2);
        assert_eq!(a.bytes, 100);
        assert_eq!(a.gaps, 2);
        assert_eq!((a.min_timestamp, a.max_timestamp), (Some(1), Some(3)));
        assert_eq!(
            (a.first_capture_ns, a.last_capture_ns),
            (Some(100), Some(200))
        );
        assert_eq!(fmt_time_of_day(34_200_000_000_001), "09:30:00.000000001");
    }
}
