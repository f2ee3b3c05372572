//! The interfaces between the runtime and the stages it runs: what a book stage and a detect stage must provide,
//! and the fixed-size values that travel between them.
//!
//! The runtime is generic over these traits so that the same threads, rings and measurements drive the real
//! feed/book/detect code ([`super::wiring`]) and the test doubles of the runtime's own tests and benches.

use feed::capture::{CorruptRecord, Frame};

use super::latency::{Counters, Recorder};

/// A packet as the book stage sees it: bytes borrowed from where they landed (the mapped capture, or a pool slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input<'a> {
    /// A captured link-layer frame (replay of a pcap / pcapng file). The book stage extracts the UDP payload, so
    /// that skipped frames (non-UDP, fragments, …) are counted exactly as `tickwatch stats` counts them.
    Frame(Frame<'a>),
    /// A run of whole messages of a raw ITCH (BinaryFILE) stream, length prefixes included; `first_seq` is the
    /// 1-based ordinal of its first message in the file. The last chunk of a file holds any cut-short tail.
    RawChunk {
        /// The bytes.
        bytes: &'a [u8],
        /// Ordinal of the first message.
        first_seq: u64,
    },
    /// A UDP payload received live.
    Datagram(&'a [u8]),
    /// End of one capture file: how its walk ended (for the statistics).
    EndOfCapture {
        /// A corrupt or cut-short record header ended the walk early.
        stopped: Option<CorruptRecord>,
        /// The gzip stream ended early.
        gzip_cut_short: bool,
    },
}

/// Per-packet metadata, stamped by the receive stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PacketMeta {
    /// Receive stamp (clock ticks, see [`super::clock`]).
    pub rx: u64,
    /// 0-based ordinal of the packet in this run (all sources together); orders events across shards.
    pub index: u64,
    /// Index of the capture file it came from (replay), 0 live.
    pub source: u16,
    /// Live: the datagram was longer than its pool slot (the tail is missing).
    pub truncated: bool,
}

/// A book stage: decodes packets in place, sequences them, applies them to its books and emits book events.
///
/// Runs on one thread (one instance per book shard). Must not allocate or block per message.
pub trait BookStage: Send {
    /// The fixed-size event handed downstream.
    type Event: Copy + Send + 'static;

    /// Handles one packet. For every message it applies it calls `out.emit(event, msg_index, applied_stamp)` in
    /// message order, where `msg_index` is the message's position in the packet. It records
    /// [`Metric::RxDecoded`](super::latency::Metric::RxDecoded) and
    /// [`Metric::DecodedBook`](super::latency::Metric::DecodedBook) into `rec` and keeps its counters in
    /// `rec.counters` up to date (at least `packets`, `bytes`, `messages`, `events`, sequencing figures).
    fn on_packet(
        &mut self,
        input: Input<'_>,
        meta: &PacketMeta,
        rec: &mut Recorder,
        out: &mut impl Emit<Self::Event>,
    );

    /// End of input: flush anything pending (called once, after the last packet).
    fn finish(&mut self, _rec: &mut Recorder, _out: &mut impl Emit<Self::Event>) {}

    /// Called once after the downstream stage has been released (its input ring closed; in fused layouts, after it
    /// finished): the place to serve late requests from it and close side outputs.
    fn after_downstream(&mut self) {}

    /// Called just before the recorder hands over an interval: copy slow-to-compute figures (sequencing) into `c`.
    fn report(&mut self, _c: &mut Counters) {}
}

/// Where a book stage sends its events (a ring to the detect thread, or the fused detect stage).
pub trait Emit<E> {
    /// Emits one event produced from message `msg_index` of the current packet, applied at stamp `applied`.
    fn emit(&mut self, ev: E, msg_index: u16, applied: u64);

    /// A hint, before the book applies a message: its event will concern book `book` and order `order_ref` (0 =
    /// none). A fused detect stage starts loading the state it will need, which then arrives while the book works;
    /// a ring does nothing (its detect thread looks at the ring instead).
    #[inline]
    fn upcoming(&mut self, _book: u16, _order_ref: u64) {}
}

/// A detect stage: consumes book events in feed order, emits alerts. One instance, one thread.
pub trait DetectStage: Send {
    /// The book event type it consumes.
    type Event: Copy + Send + 'static;
    /// The fixed-size alert it produces.
    type Alert: Copy + Send + 'static;

    /// Handles one event; calls `emit` for every alert it completes.
    fn on_event(&mut self, ev: &Self::Event, emit: &mut dyn FnMut(&Self::Alert));

    /// A hint that `ev` comes next (the detect thread calls it with the event waiting behind the one it is about to
    /// handle): start loading the state it will need. Changes nothing; does nothing by default.
    #[inline]
    fn prefetch(&self, _ev: &Self::Event) {}

    /// A hint that an event of book `book` concerning order `order_ref` (0 = none) comes next (a fused book stage
    /// calls it before applying the message). Changes nothing; does nothing by default.
    #[inline]
    fn prefetch_key(&self, _book: u16, _order_ref: u64) {}

    /// End of input (called once).
    fn finish(&mut self, _emit: &mut dyn FnMut(&Self::Alert)) {}
}

/// An alert on its way to the publish thread.
#[derive(Debug, Clone, Copy)]
pub struct AlertMsg<A> {
    /// The alert.
    pub alert: A,
    /// Receive stamp of the packet that completed it.
    pub rx: u64,
    /// Receive → alert emitted, ns. Included in the published record in live mode only (replay output must be
    /// byte-identical across runs).
    pub latency_ns: Option<u64>,
}

/// The hand-off to the publish thread.
pub trait AlertOut<A>: Send {
    /// Tries to hand over an alert; a full ring gives it back.
    fn try_send(&mut self, msg: AlertMsg<A>) -> Result<(), AlertMsg<A>>;
    /// Whether the publish side is gone (its thread ended).
    fn is_closed(&self) -> bool {
        false
    }
}

/// A book stage that does nothing but count packets: the runtime's own tests and the ring benches use it.
#[derive(Debug, Default, Clone)]
pub struct NullBook;

impl BookStage for NullBook {
    type Event = u64;
    fn on_packet(
        &mut self,
        input: Input<'_>,
        meta: &PacketMeta,
        rec: &mut Recorder,
        out: &mut impl Emit<u64>,
    ) {
        let len = match input {
            Input::Frame(f) => f.data.len(),
            Input::RawChunk { bytes, .. } | Input::Datagram(bytes) => bytes.len(),
            Input::EndOfCapture { .. } => return,
        };
        rec.counters.packets += 1;
        rec.counters.bytes += len as u64;
        rec.counters.messages += 1;
        rec.counters.events += 1;
        let now = rec.clock().now();
        rec.record_span(super::latency::Metric::RxDecoded, meta.rx, now);
        out.emit(meta.index, 0, now);
    }
}
