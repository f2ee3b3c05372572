//! Replaying a whole capture into a [`Books`]: the loop shared by `tickwatch book`, the differential tests and the
//! benches.
//!
//! Transport handling is [`feed::analyze::Analyzer`]'s (raw ITCH files, pcap/pcapng with MoldUDP64 or IEX-TP,
//! datagram transport recognised per packet), configured for *book building*: messages already seen (duplicate or
//! overlapping packets) are skipped so each is applied once. Every decoded message goes through
//! [`Books::apply_feed`]; every resulting event is handed to the caller's callback.
//!
//! Cold-path entry point (it owns the per-capture transport state), but the loop itself does not allocate: frames,
//! datagrams and messages are borrowed from the capture bytes and events are passed by reference.

use feed::analyze::{Analyzer, AnalyzerConfig, FeedMessage, MessageMeta};
use feed::capture::{Capture, UdpFilter};
use feed::stats::FeedStats;
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
    /// Both (a merged capture).
    Mixed,
}

/// What a replay did.
#[derive(Debug, Clone, Default)]
pub struct ReplaySummary {
    /// Feed found.
    pub feed: FeedKind,
    /// Messages decoded and handed to the books.
    pub messages: u64,
    /// Events produced (messages that concern a book or the market).
    pub events: u64,
    /// Transport and decode figures (the same document as `tickwatch stats`).
    pub stats: FeedStats,
}

impl Books {
    /// Applies one decoded message of either feed with transport sequence number `seq`.
    #[inline]
    pub fn apply_feed(&mut self, msg: &FeedMessage<'_>, seq: u64) -> Option<BookEvent> {
        let mut ev = BookEvent::EMPTY;
        self.apply_feed_into(msg, seq, &mut ev).then_some(ev)
    }

    /// Like [`Books::apply_feed`], writing the event into `ev`; returns whether there is one.
    #[inline]
    pub fn apply_feed_into(&mut self, msg: &FeedMessage<'_>, seq: u64, ev: &mut BookEvent) -> bool {
        match msg {
            FeedMessage::Itch(m) => self.apply_itch_into(m, seq, ev),
            FeedMessage::Iex(m) => self.apply_iex_into(m, seq, ev),
            #[allow(unreachable_patterns)] // FeedMessage is non_exhaustive
            _ => false,
        }
    }
}

/// Where [`replay_to`] hands the decoded messages and the events.
pub trait ReplaySink {
    /// A decoded message, before the books apply it: a stage that will consume its event can start loading the
    /// state it needs (e.g. `DetectorSet::prefetch`), which then arrives while the book works. Does nothing by
    /// default.
    #[inline(always)]
    fn message(&mut self, _msg: &FeedMessage<'_>) {}

    /// The event of the last message (messages that concern no book and no market event yield none).
    fn event(&mut self, ev: &BookEvent);
}

/// A [`ReplaySink`] that only takes events.
struct Events<F>(F);

impl<F: FnMut(&BookEvent)> ReplaySink for Events<F> {
    #[inline(always)]
    fn event(&mut self, ev: &BookEvent) {
        (self.0)(ev)
    }
}

/// Replays `capture` (UDP datagrams selected by `filter`) into `books`, calling `on_event` for every event.
pub fn replay(
    capture: &Capture,
    filter: UdpFilter,
    books: &mut Books,
    on_event: impl FnMut(&BookEvent),
) -> ReplaySummary {
    replay_to(capture, filter, books, &mut Events(on_event))
}

/// [`replay`], handing `sink` every decoded message before the books apply it, then its event.
pub fn replay_to(
    capture: &Capture,
    filter: UdpFilter,
    books: &mut Books,
    sink: &mut impl ReplaySink,
) -> ReplaySummary {
    let mut an = Analyzer::new(AnalyzerConfig {
        filter,
        deliver_duplicates: false,
    });
    let (mut messages, mut events, mut itch, mut iex) = (0u64, 0u64, false, false);
    let mut ev = BookEvent::EMPTY;
    an.run(
        capture,
        &mut |meta: &MessageMeta<'_>, msg: FeedMessage<'_>| {
            messages += 1;
            match msg {
                FeedMessage::Itch(_) => itch = true,
                _ => iex = true,
            }
            sink.message(&msg);
            if books.apply_feed_into(&msg, meta.seq, &mut ev) {
                events += 1;
                sink.event(&ev);
            }
        },
    );
    ReplaySummary {
        feed: match (itch, iex) {
            (true, true) => FeedKind::Mixed,
            (true, false) => FeedKind::Itch,
            (false, true) => FeedKind::Iex,
            (false, false) => FeedKind::Unknown,
        },
        messages,
        events,
        stats: an.stats(),
    }
}
