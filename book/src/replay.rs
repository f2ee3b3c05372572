//! Replaying a whole capture into a [`Books`]: the loop shared by `tickwatch book`, the differential tests and the
//! benches.
//!
//! Formats: raw ITCH files (sequence number = 1-based message ordinal), pcap/pcapng carrying MoldUDP64/ITCH
//! (sequenced per session by [`feed::moldudp64::Sequencer`]; duplicate and overlapping packets are skipped so a
//! message is applied once) or IEX-TP (TOPS, DEEP, DEEP+; through [`feed::iex::IexHandler`], duplicates skipped,
//! truncated segments not applied). The transport of each datagram is recognised from its bytes: a valid IEX-TP
//! header with a known protocol id, else MoldUDP64.
//!
//! Cold-path entry point (it owns the per-capture transport state), but the loop itself does not allocate: frames,
//! datagrams and messages are borrowed from the capture bytes and events are handed to the callback by reference.

use feed::capture::{net, Capture, Format};
use feed::iex::transport::TransportHeader;
use feed::iex::IexHandler;
use feed::moldudp64::{Packet as MoldPacket, SeqCounters, Sequencer};
use serde::Serialize;

use crate::books::Books;
use crate::event::BookEvent;

/// Which feed a replay found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedKind {
    /// Nothing decodable seen.
    #[default]
    Unknown,
    /// NASDAQ ITCH 5.0 (raw file or MoldUDP64).
    Itch,
    /// IEX-TP (TOPS / DEEP / DEEP+).
    Iex,
}

/// Transport and decode figures of one replay.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ReplayStats {
    /// Feed found.
    pub feed: FeedKind,
    /// Capture frames read (pcap records; raw files: 0).
    pub frames: u64,
    /// Frames without a usable UDP payload (non-IPv4/UDP, fragments, truncated headers).
    pub frames_skipped: u64,
    /// Datagrams (pcap) or framed messages (raw) examined.
    pub datagrams: u64,
    /// Messages decoded and handed to the books.
    pub messages: u64,
    /// Events produced (messages that concern a book or the market).
    pub events: u64,
    /// Framed messages that could not be decoded (unknown type, wrong length) — skipped by length.
    pub undecodable: u64,
    /// Messages skipped as already applied (MoldUDP64 / IEX-TP duplicates and overlaps).
    pub duplicates_skipped: u64,
    /// Sequence gaps (MoldUDP64 and IEX-TP).
    pub gaps: u64,
    /// Messages missing in those gaps.
    pub gap_messages: u64,
    /// MoldUDP64 / IEX-TP framing errors (a packet's blocks overrun it).
    pub framing_errors: u64,
    /// IEX-TP segments that were cut short (not applied).
    pub truncated_segments: u64,
    /// The capture ended inside a record / message.
    pub cut_short: bool,
}

/// Replays `capture` into `books`, calling `on_event` for every event, and returns the transport figures.
pub fn replay(
    capture: &Capture,
    books: &mut Books,
    mut on_event: impl FnMut(&BookEvent),
) -> ReplayStats {
    let mut stats = ReplayStats::default();
    match capture.format() {
        Format::RawItch => {
            stats.feed = FeedKind::Itch;
            let mut msgs = capture.raw_messages();
            let mut seq = 0u64;
            for (_, bytes) in msgs.by_ref() {
                seq += 1;
                stats.datagrams += 1;
                match feed::itch::decode(bytes) {
                    Ok(m) => {
                        stats.messages += 1;
                        if let Some(ev) = books.apply_itch(&m, seq) {
                            stats.events += 1;
                            on_event(&ev);
                        }
                    }
                    Err(_) => stats.undecodable += 1,
                }
            }
            stats.cut_short = msgs.cut_short().is_some();
        }
        Format::Pcap | Format::PcapNg => {
            let Some(mut frames) = capture.frames() else {
                return stats;
            };
            let mut mold = Sequencer::new();
            let mut iex = IexHandler::new().deliver_duplicates(false);
            let mut saw_itch = false;
            let mut saw_iex = false;
            for frame in frames.by_ref() {
                stats.frames += 1;
                stats.cut_short |= frame.cut_short;
                let udp = match net::udp_payload(frame.link_type, frame.data) {
                    Ok(u) => u,
                    Err(_) => {
                        stats.frames_skipped += 1;
                        continue;
                    }
                };
                stats.datagrams += 1;
                let payload = udp.payload;
                if TransportHeader::view(payload).is_some_and(|h| h.protocol().is_some()) {
                    saw_iex = true;
                    iex.on_datagram(payload, udp.truncated, |meta, msg| {
                        stats.messages += 1;
                        if let Some(ev) = books.apply_iex(&msg, meta.seq) {
                            stats.events += 1;
                            on_event(&ev);
                        }
                    });
                    continue;
                }
                let Ok(pkt) = MoldPacket::parse(payload) else {
                    stats.undecodable += 1;
                    continue;
                };
                saw_itch = true;
                let verdict = mold.on_packet(&pkt);
                let skip = verdict.skip(pkt.count());
                let base = pkt.sequence();
                let mut blocks = pkt.blocks();
                for (i, bytes) in blocks.by_ref().enumerate() {
                    if (i as u64) < u64::from(skip) {
                        continue;
                    }
                    let seq = if base == 0 { 0 } else { base + i as u64 };
                    match feed::itch::decode(bytes) {
                        Ok(m) => {
                            stats.messages += 1;
                            if let Some(ev) = books.apply_itch(&m, seq) {
                                stats.events += 1;
                                on_event(&ev);
                            }
                        }
                        Err(_) => stats.undecodable += 1,
                    }
                }
                if blocks.error().is_some() {
                    stats.framing_errors += 1;
                }
            }
            stats.cut_short |= frames.stopped().is_some();
            let c: &SeqCounters = mold.counters();
            let is = iex.stats();
            stats.duplicates_skipped = c.duplicate_messages + is.skipped_duplicates;
            stats.gaps = c.gaps + is.sequence.gaps;
            stats.gap_messages = c.gap_messages + is.sequence.gap_messages;
            stats.framing_errors += is.framing_errors;
            stats.undecodable += is.unknown_messages + is.short_messages;
            stats.truncated_segments = is.sequence.truncated_packets;
            stats.feed = match (saw_itch, saw_iex) {
                (_, true) => FeedKind::Iex,
                (true, false) => FeedKind::Itch,
                _ => FeedKind::Unknown,
            };
        }
    }
    stats
}
