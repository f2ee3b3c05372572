//! The capture analyzer: walks frames (or a raw ITCH stream), extracts UDP payloads, recognises the transport of
//! each datagram, sequences it, decodes every message and hands it to a callback, while filling [`FeedStats`].
//!
//! Used by `tickwatch stats` and `tickwatch dump`; the runtime reuses [`Analyzer::on_datagram`] for live sockets.
//!
//! # Contract
//! - One `Analyzer` per feed, owned by one thread. After [`Analyzer::new`] nothing allocates; each call does no I/O.
//! - Protocol detection is per datagram ([`detect_datagram`]): IEX-TP is recognised by its header (version 1,
//!   reserved 0, little-endian message protocol id `0x8003`/`0x8004`/`0x8005`); any other datagram of at least 20
//!   bytes whose session field is printable ASCII or all NUL is taken as MoldUDP64 (it has no magic number). Anything
//!   else counts as `unrecognized`.
//! - Policy for capture analysis ([`AnalyzerConfig::deliver_duplicates`], default on): every message present in the
//!   capture is decoded and delivered, as a dissector would show it; the sequence figures say what was a duplicate.
//!   A live consumer building books turns it off so already-seen messages are skipped.
//! - Damage is counted, never fatal, by the crate's truncation policy (see the crate docs): a datagram cut by the
//!   capture (the `truncated` argument / flag) delivers none of its messages and its new sequence numbers become a
//!   gap; an intact datagram with broken framing delivers the messages before the break and counts `malformed`;
//!   wrong-length messages count as `malformed`, unknown types as `unknown`, zero-length blocks as `empty`.
//!
//! ```no_run
//! use feed::analyze::{Analyzer, AnalyzerConfig, FeedMessage};
//! use feed::capture::Capture;
//! let cap = Capture::open("capture.pcap").unwrap();
//! let mut an = Analyzer::new(AnalyzerConfig::default());
//! let mut adds = 0u64;
//! an.run(&cap, &mut |_meta, msg| {
//!     if let FeedMessage::Itch(feed::itch::Message::AddOrder(_)) = msg {
//!         adds += 1;
//!     }
//! });
//! println!("{adds} add orders\n{}", an.stats());
//! ```

use crate::capture::{net, Capture, CorruptRecord, Frame, RawMessages, Skip, UdpFilter};
use crate::iex::{self, IexHandler};
use crate::itch::{self, DecodeError};
use crate::moldudp64::{self, Sequencer};
use crate::stats::FeedStats;

/// Transport of one UDP payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatagramKind {
    /// NASDAQ MoldUDP64.
    MoldUdp64,
    /// IEX-TP (TOPS / DEEP / DEEP+).
    IexTp,
    /// Neither.
    Unrecognized,
}

/// Recognises the transport of a UDP payload (see the module docs for the rules).
#[inline]
pub fn detect_datagram(p: &[u8]) -> DatagramKind {
    if p.len() >= 40
        && p[0] == 1
        && p[1] == 0
        && matches!(u16::from_le_bytes([p[2], p[3]]), 0x8003..=0x8005)
    {
        return DatagramKind::IexTp;
    }
    if p.len() >= moldudp64::HEADER_LEN {
        let s = &p[..10];
        if s.iter().all(|&b| b == 0) || s.iter().all(|&b| (0x20..0x7f).contains(&b)) {
            return DatagramKind::MoldUdp64;
        }
    }
    DatagramKind::Unrecognized
}

/// Session of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Session<'a> {
    /// No transport session (raw ITCH file).
    None,
    /// MoldUDP64 session (10 bytes; NUL in sanitised captures).
    Mold(&'a [u8; 10]),
    /// IEX-TP session id.
    Iex(u32),
}

/// Where a message came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageMeta<'a> {
    /// 1-based capture frame number; for raw ITCH files, the 1-based ordinal of the message in the file.
    pub frame: u64,
    /// Capture time of the frame, ns since the Unix epoch (0 for raw files).
    pub capture_ts_ns: u64,
    /// 0-based index of the message in its packet.
    pub msg_index: u16,
    /// Transport sequence number: packet sequence + `msg_index` (MoldUDP64 / IEX-TP); the 1-based ordinal for raw
    /// files. In unsequenced MoldUDP64 packets (sequence 0) this is just `msg_index`.
    pub seq: u64,
    /// Transport session.
    pub session: Session<'a>,
    /// Message length (type byte included, length prefix excluded).
    pub len: u16,
}

/// A decoded message of any supported protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FeedMessage<'a> {
    /// NASDAQ TotalView-ITCH 5.0.
    Itch(itch::Message<'a>),
    /// IEX TOPS / DEEP / DEEP+ (the protocol is in the segment header; see [`iex::Message`]).
    Iex(iex::Message<'a>),
}

/// Analyzer options.
#[derive(Clone, Copy, Debug)]
pub struct AnalyzerConfig {
    /// UDP selection (empty: everything).
    pub filter: UdpFilter,
    /// Deliver messages already seen (duplicates / overlaps). On for capture analysis, off for live book building.
    pub deliver_duplicates: bool,
}

impl Default for AnalyzerConfig {
    fn default() -> Self {
        AnalyzerConfig {
            filter: UdpFilter::default(),
            deliver_duplicates: true,
        }
    }
}

/// Walks captures / datagrams, sequencing and decoding; see the module docs.
#[derive(Clone, Debug)]
pub struct Analyzer {
    cfg: AnalyzerConfig,
    mold: Sequencer,
    iex: IexHandler,
    stats: FeedStats,
    stopped: Option<CorruptRecord>,
}

impl Analyzer {
    /// A fresh analyzer.
    pub fn new(cfg: AnalyzerConfig) -> Self {
        Analyzer {
            cfg,
            mold: Sequencer::new(),
            iex: IexHandler::new().deliver_duplicates(cfg.deliver_duplicates),
            stats: FeedStats::default(),
            stopped: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &AnalyzerConfig {
        &self.cfg
    }

    /// Statistics so far (sequencer figures folded in).
    pub fn stats(&self) -> FeedStats {
        let mut s = self.stats.clone();
        let c = self.mold.counters();
        s.heartbeats += c.heartbeats;
        s.end_of_session += c.end_of_session;
        s.gaps += c.gaps;
        s.gap_messages = s.gap_messages.saturating_add(c.gap_messages);
        s.duplicates += c.duplicates;
        s.duplicate_messages += c.duplicate_messages;
        s.unsequenced += c.unsequenced;
        s.session_changes += c.session_changes;
        // IEX-TP figures (its messages are counted in `counts` as they are delivered).
        let i = self.iex.stats();
        let q = i.sequence;
        s.packets += i.segments;
        s.heartbeats += q.heartbeats;
        s.gaps += q.gaps;
        s.gap_messages = s.gap_messages.saturating_add(q.gap_messages);
        s.duplicates += q.duplicate_packets;
        s.duplicate_messages += q.duplicate_messages;
        s.session_changes += q.session_changes;
        s.sequence_resets += q.restarts;
        s.truncated_complete_messages += q.truncated_complete_messages;
        s.truncated_lost_messages += q.truncated_lost_messages;
        s.unknown += i.unknown_messages;
        s.malformed += i.short_messages + i.framing_errors + i.rejected_datagrams;
        s.unrecognized += i.unsupported_protocol;
        s
    }

    /// The IEX-TP handler (sequence tracker and IEX-specific counters).
    pub fn iex_handler(&self) -> &IexHandler {
        &self.iex
    }

    /// The MoldUDP64 sequencer (per-session state and counters).
    pub fn mold_sequencer(&self) -> &Sequencer {
        &self.mold
    }

    /// Where the capture walk stopped early, if it did: a corrupt record header (counted in `malformed`) or the file
    /// ending inside a record header (counted in `truncated`).
    pub fn stopped(&self) -> Option<CorruptRecord> {
        self.stopped
    }

    /// Walks a whole capture.
    pub fn run<'a, F>(&mut self, cap: &'a Capture, f: &mut F)
    where
        F: FnMut(&MessageMeta<'a>, FeedMessage<'a>),
    {
        match cap.frames() {
            None => self.on_raw_itch(cap.bytes(), f),
            Some(mut frames) => {
                for frame in frames.by_ref() {
                    self.on_frame(&frame, f);
                }
                if let Some(stop) = frames.stopped() {
                    if stop.cut_short {
                        self.stats.truncated += 1;
                    } else {
                        self.stats.malformed += 1;
                    }
                    self.stopped = Some(stop);
                }
            }
        }
        if cap.gzip_cut_short() {
            self.stats.truncated += 1;
        }
    }

    /// Processes one capture frame.
    #[inline]
    pub fn on_frame<'a, F>(&mut self, frame: &Frame<'a>, f: &mut F)
    where
        F: FnMut(&MessageMeta<'a>, FeedMessage<'a>),
    {
        self.stats.on_frame(frame.ts_ns, frame.data.len());
        if frame.truncated {
            self.stats.truncated += 1;
        }
        match net::udp_payload(frame.link_type, frame.data) {
            Ok(udp) => {
                if udp.truncated && !frame.truncated {
                    // The record claims to be complete but holds fewer bytes than the IP header announces.
                    self.stats.truncated += 1;
                }
                if !self.cfg.filter.accepts(&udp) {
                    self.stats.filtered += 1;
                    return;
                }
                self.on_datagram(frame.number, frame.ts_ns, udp.payload, udp.truncated, f);
            }
            Err(skip) => self.count_skip(skip, frame.truncated),
        }
    }

    fn count_skip(&mut self, skip: Skip, frame_truncated: bool) {
        let s = &mut self.stats;
        match skip {
            Skip::Fragment => s.fragments += 1,
            Skip::NotIpv4 | Skip::NotUdp | Skip::UnsupportedLinkType(_) => s.non_udp += 1,
            Skip::Filtered => s.filtered += 1,
            // Headers cut by the snap length / end of file are already counted as truncated.
            Skip::TruncatedLink | Skip::BadIpv4 | Skip::BadUdp if frame_truncated => {}
            Skip::TruncatedLink | Skip::BadIpv4 | Skip::BadUdp => s.malformed += 1,
        }
    }

    /// Processes one UDP payload. `truncated`: the capture holds fewer bytes than the datagram had (the caller has
    /// already counted that); then no message is delivered and the packet's sequence range is a gap. `frame` and `capture_ts_ns` are passed through to [`MessageMeta`].
    #[inline]
    pub fn on_datagram<'a, F>(
        &mut self,
        frame: u64,
        capture_ts_ns: u64,
        payload: &'a [u8],
        truncated: bool,
        f: &mut F,
    ) where
        F: FnMut(&MessageMeta<'a>, FeedMessage<'a>),
    {
        match detect_datagram(payload) {
            DatagramKind::MoldUdp64 => self.on_mold(frame, capture_ts_ns, payload, truncated, f),
            DatagramKind::IexTp => self.on_iex(frame, capture_ts_ns, payload, truncated, f),
            DatagramKind::Unrecognized => self.stats.unrecognized += 1,
        }
    }

    /// Processes one MoldUDP64 packet carrying ITCH 5.0.
    #[inline]
    pub fn on_mold<'a, F>(
        &mut self,
        frame: u64,
        capture_ts_ns: u64,
        payload: &'a [u8],
        truncated: bool,
        f: &mut F,
    ) where
        F: FnMut(&MessageMeta<'a>, FeedMessage<'a>),
    {
        let Ok(pkt) = moldudp64::Packet::parse(payload) else {
            if !truncated {
                self.stats.malformed += 1;
            }
            return;
        };
        self.stats.packets += 1;
        if truncated {
            // Cut by the capture: withhold every message, the sequencer reports their numbers as a gap.
            self.mold
                .on_lost_packet(pkt.session(), pkt.sequence(), pkt.count());
            if let moldudp64::PacketKind::Messages(announced) = pkt.kind() {
                let complete = pkt.blocks().count() as u64;
                let s = &mut self.stats;
                s.truncated_complete_messages += complete;
                s.truncated_lost_messages += u64::from(announced).saturating_sub(complete);
            }
            return;
        }
        let ev = self.mold.on_packet(&pkt);
        let skip = if self.cfg.deliver_duplicates {
            0
        } else {
            ev.skip(pkt.count())
        };
        let base = pkt.sequence();
        let session = Session::Mold(pkt.session());
        let mut blocks = pkt.blocks();
        let mut index: u16 = 0;
        for block in blocks.by_ref() {
            let i = index;
            index = index.wrapping_add(1);
            if i < skip {
                continue;
            }
            let meta = MessageMeta {
                frame,
                capture_ts_ns,
                msg_index: i,
                seq: base.wrapping_add(i as u64),
                session,
                len: block.len() as u16,
            };
            self.itch_message(&meta, block, f);
        }
        if blocks.error().is_some() {
            self.stats.malformed += 1;
        }
    }

    /// Processes one IEX-TP segment (TOPS, DEEP or DEEP+). A truncated segment delivers no message: its complete
    /// messages are counted in `truncated_complete_messages`, the cut and absent ones in `truncated_lost_messages`,
    /// its new sequence numbers in `gaps` / `gap_messages` (see [`iex::handler`]).
    #[inline]
    pub fn on_iex<'a, F>(
        &mut self,
        frame: u64,
        capture_ts_ns: u64,
        payload: &'a [u8],
        truncated: bool,
        f: &mut F,
    ) where
        F: FnMut(&MessageMeta<'a>, FeedMessage<'a>),
    {
        let stats = &mut self.stats;
        self.iex.on_datagram(payload, truncated, |m, msg| {
            stats.on_message(msg.message_type(), msg.timestamp() as u64);
            let meta = MessageMeta {
                frame,
                capture_ts_ns,
                msg_index: m.index,
                seq: m.seq,
                session: Session::Iex(m.session_id),
                len: m.len,
            };
            f(&meta, FeedMessage::Iex(msg));
        });
    }

    #[inline(always)]
    fn itch_message<'a, F>(&mut self, meta: &MessageMeta<'a>, bytes: &'a [u8], f: &mut F)
    where
        F: FnMut(&MessageMeta<'a>, FeedMessage<'a>),
    {
        match itch::decode(bytes) {
            Ok(m) => {
                self.stats.on_message(bytes[0], m.timestamp());
                f(meta, FeedMessage::Itch(m));
            }
            Err(DecodeError::UnknownType(_)) => self.stats.unknown += 1,
            Err(DecodeError::Empty) => self.stats.empty += 1,
            Err(DecodeError::LengthMismatch { .. }) => self.stats.malformed += 1,
        }
    }

    /// Processes a raw ITCH stream (2-byte big-endian length prefix per message).
    pub fn on_raw_itch<'a, F>(&mut self, bytes: &'a [u8], f: &mut F)
    where
        F: FnMut(&MessageMeta<'a>, FeedMessage<'a>),
    {
        let mut it = RawMessages::new(bytes);
        for (n, (_, m)) in (1u64..).zip(it.by_ref()) {
            let meta = MessageMeta {
                frame: n,
                capture_ts_ns: 0,
                msg_index: 0,
                seq: n,
                session: Session::None,
                len: m.len() as u16,
            };
            self.itch_message(&meta, m, f);
        }
        self.stats.bytes += bytes.len() as u64;
        if let Some(cut) = it.cut_short() {
            self.stats.truncated += 1;
            self.stopped = Some(cut);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagram_detection() {
        let mut iex = vec![1u8, 0, 0x04, 0x80];
        iex.resize(40, 0);
        assert_eq!(detect_datagram(&iex), DatagramKind::IexTp);
        let mut mold = b"000010059B".to_vec();
        mold.resize(20, 0);
        assert_eq!(detect_datagram(&mold), DatagramKind::MoldUdp64);
        assert_eq!(detect_datagram(&[0u8; 20]), DatagramKind::MoldUdp64);
        assert_eq!(detect_datagram(&[0u8; 19]), DatagramKind::Unrecognized);
        let mut junk = vec![0xffu8; 30];
        junk[0] = b'A';
        assert_eq!(detect_datagram(&junk), DatagramKind::Unrecognized);
    }

    #[test]
    fn raw_stream_counts() {
        let mut b = Vec::new();
        let mut d = vec![b'D'];
        d.resize(19, 0);
        for m in [&d[..], &[b'z', 1, 2][..], &d[..10], &[][..]] {
            b.extend_from_slice(&(m.len() as u16).to_be_bytes());
            b.extend_from_slice(m);
        }
        b.extend_from_slice(&[0, 50, 1]);
        let mut an = Analyzer::new(AnalyzerConfig::default());
        let mut seqs = Vec::new();
        an.on_raw_itch(&b, &mut |meta, _| seqs.push(meta.seq));
        let s = an.stats();
        assert_eq!(seqs, vec![1]);
        assert_eq!(
            (s.messages, s.unknown, s.malformed, s.truncated),
            (1, 1, 1, 1)
        );
        assert_eq!(s.counts.get(b'D'), 1);
    }
}
