//! The real stages behind the runtime's interfaces: the feed decoder + sequencer + book manager as the book stage
//! ([`FeedBook`]), the detectors and the CEP engine as the detect stage ([`Detect`]), the hand-off to the publish
//! crate ([`PubItem`], [`AlertOut`] for its [`RecordSender`]), and the capture reader of `replay`
//! ([`CaptureSource`]).

use std::time::{Duration, Instant};

use book::{BookEvent, BookSnapshot, Books, LevelInfo, StoreConfig, Symbol};
use detect::cep::CepStage;
use detect::{Alert, Detector, DetectorSet, FeatureSnapshot};
use feed::analyze::{Analyzer, AnalyzerConfig, FeedMessage, MessageMeta};
use feed::capture::{Capture, Format, RawMessages};
use feed::stats::FeedStats;
use publish::record::write_json;
use publish::{
    EncodeError, FeatureRecord, Level, Publishable, RecordKind, RecordSender, SnapshotReason,
    SnapshotRecord, WindowKind,
};

use super::gaps::GapLog;
use super::latency::{Counters, Metric, Recorder};
use super::pipeline::{Deliver, Delivery, ReplayPacket, Shared, Source};
use super::ring::{Rx, Tx};
use super::stage::{AlertMsg, AlertOut, BookStage, DetectStage, Emit, Input, PacketMeta};
use super::topology::FeedKind;

/// The book stage: decodes packets in place (feed::analyze: UDP extraction, MoldUDP64 / IEX-TP detection and
/// sequencing, ITCH / IEX decoding), applies every message to the books once (duplicates and overlaps are skipped,
/// truncated IEX segments not applied) and emits one [`BookEvent`] per applied message.
///
/// With `--stats-out` a second analyzer in capture-analysis mode (every message counted, as `tickwatch stats` does)
/// produces the [`FeedStats`] of what was received; it runs only on the primary shard.
///
/// Sharding: ITCH messages go to shard `stock_locate % shards` (locate 0 — system events — to shard 0). IEX symbol
/// ids are assigned by each book manager in arrival order, so IEX books are not split: shard 0 applies every IEX
/// message.
#[derive(Debug)]
pub struct FeedBook {
    books: Books,
    an: Analyzer,
    stats: Option<StatsWalk>,
    feed: FeedKind,
    shard: u16,
    shards: u16,
    rejected_feed: u64,
    raw_seq_base: u64,
    gaps: Option<GapLog>,
    scratch: BookEvent,
    snaps: Option<SnapshotOut>,
}

/// Per-file capture-analysis statistics (one analyzer per file, as `tickwatch stats` runs one per file).
#[derive(Debug)]
struct StatsWalk {
    cfg: AnalyzerConfig,
    current: Analyzer,
    source: Option<u16>,
    done: FeedStats,
    files: u32,
    elapsed: Duration,
    /// Live: (Unix-epoch ns, clock stamp) taken at the first datagram, to turn receive stamps into wall-clock times.
    wall_anchor: Option<(u64, u64)>,
    /// Live: frames / bytes / receive times of the datagrams.
    live_frames: FeedStats,
}

impl StatsWalk {
    fn analyzer(&mut self, source: u16) -> &mut Analyzer {
        if self.source != Some(source) {
            if self.source.is_some() {
                self.fold();
            }
            self.source = Some(source);
            self.files += 1;
        }
        &mut self.current
    }

    fn fold(&mut self) {
        let an = std::mem::replace(&mut self.current, Analyzer::new(self.cfg));
        self.done.merge(&an.stats());
    }
}

impl FeedBook {
    /// A book stage for shard `shard` of `shards`; `stats` enables the capture-analysis statistics (primary shard
    /// only); `filter` is applied by both analyzers.
    pub fn new(
        shard: u16,
        shards: u16,
        feed: FeedKind,
        stats: bool,
        cfg: AnalyzerConfig,
    ) -> FeedBook {
        let book_cfg = AnalyzerConfig {
            deliver_duplicates: false,
            ..cfg
        };
        let stats_cfg = AnalyzerConfig {
            deliver_duplicates: true,
            ..cfg
        };
        FeedBook {
            books: Books::new(StoreConfig::default()),
            an: Analyzer::new(book_cfg),
            stats: (stats && shard == 0).then(|| StatsWalk {
                cfg: stats_cfg,
                current: Analyzer::new(stats_cfg),
                source: None,
                done: FeedStats::default(),
                files: 0,
                elapsed: Duration::ZERO,
                wall_anchor: None,
                live_frames: FeedStats::default(),
            }),
            feed,
            shard,
            shards: shards.max(1),
            rejected_feed: 0,
            raw_seq_base: 0,
            gaps: (shard == 0).then(GapLog::default),
            scratch: BookEvent::EMPTY,
            snaps: None,
        }
    }

    /// Publishes depth snapshots from this shard: periodic ones and those requested after alerts.
    pub fn with_snapshots(mut self, out: SnapshotOut) -> Self {
        self.snaps = Some(out);
        self
    }

    /// Stops publishing (drops this shard's publish input). Idempotent.
    pub fn close_publish(&mut self) {
        if let Some(sn) = self.snaps.as_mut() {
            sn.sender = None;
            sn.requests = None;
        }
    }

    /// Snapshots published, and snapshots not published because the publish ring was full (live mode only).
    pub fn snapshot_counts(&self) -> (u64, u64) {
        self.snaps.as_ref().map_or((0, 0), |s| (s.sent, s.dropped))
    }

    /// The books.
    pub fn books(&self) -> &Books {
        &self.books
    }

    /// The book-building analyzer's statistics (duplicates skipped).
    pub fn book_stats(&self) -> FeedStats {
        self.an.stats()
    }

    /// Capture-analysis statistics of everything received (as `tickwatch stats --json` counts), if enabled, and the
    /// time spent producing them.
    pub fn feed_stats(&mut self) -> Option<(FeedStats, Duration)> {
        let w = self.stats.as_mut()?;
        if w.source.is_some() {
            w.fold();
            w.source = None;
        }
        let frames = std::mem::take(&mut w.live_frames);
        w.done.merge(&frames);
        Some((w.done.clone(), w.elapsed))
    }

    /// The sequence-gap log (primary shard).
    pub fn gap_log(&self) -> Option<&GapLog> {
        self.gaps.as_ref()
    }

    /// Datagrams ignored because they were not of the forced `--feed`.
    pub fn rejected_feed(&self) -> u64 {
        self.rejected_feed
    }
}

impl BookStage for FeedBook {
    type Event = BookEvent;

    #[inline]
    fn on_packet(
        &mut self,
        input: Input<'_>,
        meta: &PacketMeta,
        rec: &mut Recorder,
        out: &mut impl Emit<BookEvent>,
    ) {
        let clock = *rec.clock();
        let rx = meta.rx;
        let len = match input {
            Input::Frame(f) => f.data.len(),
            Input::RawChunk { bytes, .. } | Input::Datagram(bytes) => bytes.len(),
            Input::EndOfCapture { .. } => 0,
        };
        if !matches!(input, Input::EndOfCapture { .. }) {
            rec.counters.packets += 1;
            rec.counters.bytes += len as u64;
        }
        let shards = self.shards;
        let shard = self.shard;
        let FeedBook {
            books,
            an,
            stats,
            feed,
            rejected_feed,
            raw_seq_base,
            gaps,
            scratch,
            snaps,
            ..
        } = self;
        if let Some(sn) = snaps.as_mut() {
            sn.serve_requests(books);
        }
        let mut messages = 0u64;
        let mut events = 0u64;
        let mut cb = |m: &MessageMeta<'_>, msg: FeedMessage<'_>| {
            let t_dec = clock.now();
            messages += 1;
            let applied = match msg {
                FeedMessage::Itch(im) => {
                    let loc = im.stock_locate();
                    if shards > 1 && !((loc % shards) == shard || (loc == 0 && shard == 0)) {
                        return;
                    }
                    out.upcoming(loc, im.order_ref());
                    books.apply_itch_into(&im, m.seq, scratch)
                }
                FeedMessage::Iex(xm) => {
                    if shard != 0 {
                        return;
                    }
                    books.apply_iex_into(&xm, m.seq, scratch)
                }
                _ => false,
            };
            let t_app = clock.now();
            rec.record_span(Metric::RxDecoded, rx, t_dec);
            rec.record_span(Metric::DecodedBook, t_dec, t_app);
            if applied {
                events += 1;
                out.emit(*scratch, m.msg_index, t_app);
                if let Some(sn) = snaps.as_mut() {
                    sn.on_event(books, scratch);
                }
            }
        };
        match input {
            Input::Frame(f) => {
                an.on_frame(&f, &mut cb);
                if let Some(g) = gaps {
                    if let Ok(udp) = feed::capture::net::udp_payload(f.link_type, f.data) {
                        g.on_datagram(udp.payload);
                    }
                }
                if let Some(w) = stats {
                    let t = Instant::now();
                    w.analyzer(meta.source).on_frame(&f, &mut |_, _| {});
                    w.elapsed += t.elapsed();
                }
            }
            Input::RawChunk { bytes, first_seq } => {
                *raw_seq_base = first_seq - 1;
                let base = *raw_seq_base;
                an.on_raw_itch(bytes, &mut |m, msg| {
                    // The analyzer numbers the chunk's messages from 1: make them file ordinals, and give each its
                    // position in the chunk (the shard merge orders events by it).
                    let mut m = *m;
                    m.msg_index = (m.seq - 1).min(0xFFFE) as u16;
                    m.seq += base;
                    m.frame += base;
                    cb(&m, msg)
                });
                if let Some(w) = stats {
                    let t = Instant::now();
                    w.analyzer(meta.source).on_raw_itch(bytes, &mut |_, _| {});
                    w.elapsed += t.elapsed();
                }
            }
            Input::Datagram(d) => {
                let kind = feed::analyze::detect_datagram(d);
                let accept = match feed {
                    FeedKind::Auto => true,
                    FeedKind::Itch => kind != feed::analyze::DatagramKind::IexTp,
                    FeedKind::Iex => kind != feed::analyze::DatagramKind::MoldUdp64,
                };
                if !accept {
                    *rejected_feed += 1;
                } else {
                    an.on_datagram(meta.index + 1, 0, d, meta.truncated, &mut cb);
                    if let Some(g) = gaps {
                        g.on_datagram(d);
                    }
                }
                if let Some(w) = stats {
                    let t = Instant::now();
                    // Live: each datagram counts as a frame of its payload's size, "captured" when received.
                    let (wall0, tick0) = *w.wall_anchor.get_or_insert_with(|| {
                        let wall = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(0, |d| d.as_nanos() as u64);
                        (wall, clock.now())
                    });
                    let rx_wall = if meta.rx >= tick0 {
                        wall0 + clock.delta_ns(tick0, meta.rx)
                    } else {
                        wall0.saturating_sub(clock.delta_ns(meta.rx, tick0))
                    };
                    w.live_frames.on_frame(rx_wall, d.len());
                    let a = w.analyzer(0);
                    a.on_datagram(meta.index + 1, rx_wall, d, meta.truncated, &mut |_, _| {});
                    w.elapsed += t.elapsed();
                }
            }
            Input::EndOfCapture {
                stopped,
                gzip_cut_short,
            } => {
                if let Some(w) = stats {
                    // What `Analyzer::run` adds at the end of a walk.
                    let a = w.analyzer(meta.source);
                    let mut extra = FeedStats::default();
                    if let Some(stop) = stopped {
                        if stop.cut_short {
                            extra.truncated += 1;
                        } else {
                            extra.malformed += 1;
                        }
                    }
                    if gzip_cut_short {
                        extra.truncated += 1;
                    }
                    let _ = a;
                    w.done.merge(&extra);
                }
            }
        }
        rec.counters.messages += messages;
        rec.counters.events += events;
    }

    fn finish(&mut self, _rec: &mut Recorder, _out: &mut impl Emit<BookEvent>) {
        if let Some(sn) = self.snaps.as_mut() {
            sn.serve_requests(&self.books);
        }
    }

    fn after_downstream(&mut self) {
        if let Some(sn) = self.snaps.as_mut() {
            sn.drain_and_close(&self.books);
        }
    }

    fn report(&mut self, c: &mut Counters) {
        let s = self.an.stats();
        c.gaps = s.gaps;
        c.gap_messages = s.gap_messages;
        c.duplicates = s.duplicates;
    }
}

/// The detect stage: the built-in detectors and, with rules, the CEP engine (which reads the detectors' window
/// features), fed in feed order. Optionally asks the book shards for a depth snapshot of each alerted symbol, and
/// publishes the detectors' tumbling-window feature records.
#[derive(Debug)]
pub struct Detect {
    /// The built-in detectors.
    pub set: DetectorSet,
    /// The CEP stage, if rules were given.
    pub cep: Option<CepStage>,
    /// Events seen.
    pub events: u64,
    snap_requests: Vec<Tx<SnapRequest>>,
    features: Option<RecordSender<PubItem>>,
    live: bool,
    /// Snapshot requests not queued (a shard's request ring was full).
    pub requests_dropped: u64,
    /// Feature records published.
    pub features_sent: u64,
    /// Feature records dropped (live, publish ring full).
    pub features_dropped: u64,
}

impl Detect {
    /// A detect stage from a detector set and an optional CEP stage (the set keeps its sliding feature windows
    /// when the CEP rules read features).
    pub fn new(mut set: DetectorSet, cep: Option<CepStage>) -> Self {
        if cep.as_ref().is_some_and(|c| c.needs_features()) {
            set.keep_sliding_features();
        }
        Detect {
            set,
            cep,
            events: 0,
            snap_requests: Vec::new(),
            features: None,
            live: false,
            requests_dropped: 0,
            features_sent: 0,
            features_dropped: 0,
        }
    }

    /// After each alert, asks every book shard (through these rings) for a snapshot of the alerted symbol.
    pub fn with_snapshot_requests(mut self, rings: Vec<Tx<SnapRequest>>) -> Self {
        self.snap_requests = rings;
        self
    }

    /// Closes the snapshot request rings and the feature publish input. Idempotent.
    pub fn close_publish(&mut self) {
        self.snap_requests.clear();
        self.features = None;
    }

    /// Publishes the detectors' tumbling feature records (the detector config's `features.tumbling_ms`).
    pub fn with_features(mut self, sender: RecordSender<PubItem>, live: bool) -> Self {
        self.features = Some(sender);
        self.live = live;
        self
    }
}

/// Asks every book shard's snapshot ring for a snapshot of the alerted symbol (one per alert); a full ring counts
/// the request as dropped instead of blocking the detect thread.
fn request_snapshots(rings: &mut [Tx<SnapRequest>], dropped: &mut u64, a: &Alert) {
    for r in rings.iter_mut() {
        let req = SnapRequest {
            book: a.stock_locate,
            trigger: a.detector,
        };
        if r.try_push(req).is_err() {
            *dropped += 1;
        }
    }
}

impl DetectStage for Detect {
    type Event = BookEvent;
    type Alert = Alert;

    #[inline]
    fn prefetch(&self, ev: &BookEvent) {
        self.set.prefetch_event(ev);
    }

    #[inline]
    fn prefetch_key(&self, book: u16, order_ref: u64) {
        self.set.prefetch(book, order_ref);
    }

    #[inline]
    fn on_event(&mut self, ev: &BookEvent, emit: &mut dyn FnMut(&Alert)) {
        self.events += 1;
        let Detect {
            set,
            cep,
            snap_requests,
            features,
            live,
            requests_dropped,
            features_sent,
            features_dropped,
            ..
        } = self;
        let mut alert = |a: &Alert| {
            emit(a);
            request_snapshots(snap_requests, requests_dropped, a);
        };
        match features.as_mut() {
            // Every detector off and no feature window: nothing to do (the book-only configuration).
            _ if set.is_idle() => {}
            Some(sender) => {
                set.on_event_with_features(ev, &mut alert, &mut |f: &FeatureSnapshot| {
                    if send_item(sender, PubItem::Feature(*f), *live) {
                        *features_sent += 1;
                    } else {
                        *features_dropped += 1;
                    }
                })
            }
            None => set.on_event(ev, &mut alert),
        }
        if let Some(cep) = cep.as_mut() {
            let snap = if cep.needs_features() {
                set.features(ev.book)
            } else {
                None
            };
            cep.on_event(ev, snap.as_ref(), &mut alert);
        }
    }

    fn finish(&mut self, emit: &mut dyn FnMut(&Alert)) {
        let Detect {
            set,
            cep,
            snap_requests,
            requests_dropped,
            ..
        } = self;
        let mut alert = |a: &Alert| {
            emit(a);
            request_snapshots(snap_requests, requests_dropped, a);
        };
        set.finish(&mut alert);
        if let Some(cep) = cep.as_mut() {
            cep.finish(&mut alert);
        }
        // Closing the request rings tells the book shards no more requests will come.
        self.close_publish();
    }
}

/// Most levels per side a snapshot carries.
pub const SNAPSHOT_DEPTH_MAX: usize = 10;

/// A fixed-size depth snapshot of one book (no heap: travels through the publish ring as is; the publish thread
/// turns it into a [`SnapshotRecord`]).
#[derive(Debug, Clone, Copy)]
pub struct SnapItem {
    book: u16,
    symbol: Symbol,
    ts_ns: u64,
    seq: u64,
    reason: SnapshotReason,
    trigger: Option<Detector>,
    depth: u16,
    n_bids: u8,
    n_asks: u8,
    bids: [LevelInfo; SNAPSHOT_DEPTH_MAX],
    asks: [LevelInfo; SNAPSHOT_DEPTH_MAX],
}

impl SnapItem {
    fn from_snapshot(
        s: &BookSnapshot,
        depth: u16,
        reason: SnapshotReason,
        trigger: Option<Detector>,
    ) -> Self {
        let mut it = SnapItem {
            book: s.book,
            symbol: s.symbol,
            ts_ns: s.ts_ns,
            seq: s.seq,
            reason,
            trigger,
            depth,
            n_bids: 0,
            n_asks: 0,
            bids: [LevelInfo::default(); SNAPSHOT_DEPTH_MAX],
            asks: [LevelInfo::default(); SNAPSHOT_DEPTH_MAX],
        };
        for (d, l) in it.bids.iter_mut().zip(&s.bids) {
            *d = *l;
            it.n_bids += 1;
        }
        for (d, l) in it.asks.iter_mut().zip(&s.asks) {
            *d = *l;
            it.n_asks += 1;
        }
        it
    }

    /// The published record.
    pub fn record(&self) -> SnapshotRecord {
        let lv = |l: &LevelInfo| Level {
            price: l.price,
            size: l.qty,
            orders: l.orders,
        };
        SnapshotRecord {
            symbol: self.symbol.as_str().to_string(),
            stock_locate: self.book,
            event_ts_ns: self.ts_ns,
            seq: self.seq,
            reason: self.reason,
            trigger: self.trigger.map(|d| d.name().to_string()),
            depth: self.depth,
            bids: self.bids[..usize::from(self.n_bids)]
                .iter()
                .map(lv)
                .collect(),
            asks: self.asks[..usize::from(self.n_asks)]
                .iter()
                .map(lv)
                .collect(),
        }
    }
}

/// A request from the detect thread: snapshot `book` because `trigger` fired on it.
#[derive(Debug, Clone, Copy)]
pub struct SnapRequest {
    /// Book index (stock locate).
    pub book: u16,
    /// The detector that fired.
    pub trigger: Detector,
}

/// The snapshot output of one book shard: periodic per-symbol snapshots (every `interval` of feed time, on the
/// symbol's next event — deterministic), and snapshots requested by the detect thread after each alert (taken when
/// the shard serves the request, i.e. after the events already queued ahead of it; the record's `event_ts_ns` and
/// `seq` say which book state it shows). Replay waits for room in the publish ring; live mode counts and drops.
#[derive(Debug)]
pub struct SnapshotOut {
    sender: Option<RecordSender<PubItem>>,
    requests: Option<Rx<SnapRequest>>,
    interval_ns: u64,
    depth: u16,
    next_due: Vec<u64>,
    scratch: BookSnapshot,
    live: bool,
    /// Snapshots published.
    pub sent: u64,
    /// Snapshots dropped (live, publish ring full).
    pub dropped: u64,
}

impl SnapshotOut {
    /// Periodic snapshots every `interval_ns` of feed time (0 = none), alert snapshots from `requests`, `depth`
    /// levels per side (at most [`SNAPSHOT_DEPTH_MAX`]).
    pub fn new(
        sender: RecordSender<PubItem>,
        requests: Option<Rx<SnapRequest>>,
        interval_ns: u64,
        depth: u16,
        live: bool,
    ) -> Self {
        let depth = depth.clamp(1, SNAPSHOT_DEPTH_MAX as u16);
        let mut scratch = BookSnapshot::default();
        scratch.bids.reserve(usize::from(depth));
        scratch.asks.reserve(usize::from(depth));
        SnapshotOut {
            sender: Some(sender),
            requests,
            interval_ns,
            depth,
            next_due: if interval_ns > 0 {
                vec![0; 1 << 16]
            } else {
                Vec::new()
            },
            scratch,
            live,
            sent: 0,
            dropped: 0,
        }
    }

    #[inline]
    fn on_event(&mut self, books: &Books, ev: &BookEvent) {
        if self.interval_ns == 0 || ev.book == 0 {
            return;
        }
        let due = &mut self.next_due[usize::from(ev.book)];
        if *due == 0 {
            *due = ev.ts_ns.saturating_add(self.interval_ns);
        } else if ev.ts_ns >= *due {
            *due = ev.ts_ns.saturating_add(self.interval_ns);
            self.publish(books, ev.book, SnapshotReason::Periodic, None);
        }
    }

    fn serve_requests(&mut self, books: &Books) {
        let Some(mut rx) = self.requests.take() else {
            return;
        };
        while let Some(r) = rx.try_pop() {
            if usize::from(r.book) < books.book_count() && !books.symbol(r.book).as_str().is_empty()
            {
                self.publish(books, r.book, SnapshotReason::Alert, Some(r.trigger));
            }
        }
        self.requests = Some(rx);
    }

    /// Serves the requests still coming until the detect stage has finished (its request rings are closed), then
    /// closes the publish input.
    fn drain_and_close(&mut self, books: &Books) {
        // The detect stage closes the request rings when it finishes; the deadline only guards against a detect
        // thread that died without closing them.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while self.requests.as_ref().is_some_and(|rx| !rx.is_finished())
            && std::time::Instant::now() < deadline
        {
            self.serve_requests(books);
            std::thread::sleep(Duration::from_micros(200));
        }
        self.serve_requests(books);
        self.sender = None;
    }

    fn publish(
        &mut self,
        books: &Books,
        book: u16,
        reason: SnapshotReason,
        trigger: Option<Detector>,
    ) {
        let Some(sender) = self.sender.as_mut() else {
            return;
        };
        books.snapshot_into(book, usize::from(self.depth), &mut self.scratch);
        let item = PubItem::Snapshot(SnapItem::from_snapshot(
            &self.scratch,
            self.depth,
            reason,
            trigger,
        ));
        if send_item(sender, item, self.live) {
            self.sent += 1;
        } else {
            self.dropped += 1;
        }
    }
}

/// Hands an item to the publish thread: replay waits for room (lossless); live mode gives up when the ring is full
/// (returns false: the caller counts it).
fn send_item(sender: &mut RecordSender<PubItem>, item: PubItem, live: bool) -> bool {
    let mut item = item;
    let mut waits = 0u32;
    loop {
        match sender.try_send(item) {
            Ok(()) => return true,
            Err(back) => {
                if live || sender.is_abandoned() {
                    return false;
                }
                item = back.into_inner();
                waits += 1;
                if waits < 100 {
                    std::thread::yield_now();
                } else {
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
        }
    }
}

/// What the runtime hands to the publish thread.
// Items travel by value through preallocated rings; boxing the large variant would allocate per item.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy)]
pub enum PubItem {
    /// An alert (with its end-to-end latency in live mode).
    Alert(AlertMsg<Alert>),
    /// A depth snapshot.
    Snapshot(SnapItem),
    /// Window features of one symbol.
    Feature(FeatureSnapshot),
}

/// The published feature record of a detect-stage feature snapshot.
pub fn feature_record(f: &FeatureSnapshot) -> FeatureRecord {
    let c = f.counts;
    let some = |cond: bool, v: f64| cond.then_some(v);
    FeatureRecord {
        symbol: f.symbol.as_str().to_string(),
        stock_locate: f.stock_locate,
        event_ts_ns: f.window_end_ns,
        window: if f.kind == "tumbling" {
            WindowKind::Tumbling
        } else {
            WindowKind::Sliding
        },
        window_start_ns: f.window_start_ns,
        window_end_ns: f.window_end_ns,
        messages: u64::from(c.messages),
        msg_rate: f.message_rate_per_s,
        adds: u64::from(c.adds),
        cancels: u64::from(c.cancels) + u64::from(c.deletes),
        executions: u64::from(c.executions),
        volume: c.volume,
        notional: c.notional as f64 / book::PRICE_SCALE as f64,
        vwap: some(c.volume > 0, f.vwap as f64 / book::PRICE_SCALE as f64),
        order_to_trade: some(c.executions > 0, f.order_to_trade),
        cancel_rate: some(c.adds > 0, f.cancel_rate),
        median_order_size: some(f.median_order_size > 0, f64::from(f.median_order_size)),
        move_bps: some(c.executions >= 2, f.move_bps),
    }
}

impl Publishable for PubItem {
    fn kind(&self) -> RecordKind {
        match self {
            PubItem::Alert(_) => RecordKind::Alert,
            PubItem::Snapshot(_) => RecordKind::Snapshot,
            PubItem::Feature(_) => RecordKind::Feature,
        }
    }

    fn feed_ts_ns(&self) -> u64 {
        match self {
            PubItem::Alert(a) => a.alert.event_ts_ns,
            PubItem::Snapshot(s) => s.ts_ns,
            PubItem::Feature(f) => f.window_end_ns,
        }
    }

    fn write_key(&self, key: &mut Vec<u8>) {
        let sym = match self {
            PubItem::Alert(a) => a.alert.symbol,
            PubItem::Snapshot(s) => s.symbol,
            PubItem::Feature(f) => f.symbol,
        };
        key.extend_from_slice(sym.as_str().as_bytes());
    }

    fn write_payload(&self, payload: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            PubItem::Alert(a) => {
                a.alert.write_json(payload, a.latency_ns);
                Ok(())
            }
            PubItem::Snapshot(s) => write_json(&s.record(), payload),
            PubItem::Feature(f) => write_json(&feature_record(f), payload),
        }
    }
}

impl AlertOut<Alert> for RecordSender<PubItem> {
    #[inline]
    fn try_send(&mut self, msg: AlertMsg<Alert>) -> Result<(), AlertMsg<Alert>> {
        RecordSender::try_send(self, PubItem::Alert(msg)).map_err(|b| match b.into_inner() {
            PubItem::Alert(m) => m,
            // Only alerts are sent through this impl.
            _ => unreachable!("an alert was sent"),
        })
    }

    fn is_closed(&self) -> bool {
        self.is_abandoned()
    }
}

/// The `replay` source: walks capture files (pcap, pcapng: frame by frame; raw ITCH: in chunks of whole messages)
/// and hands slices of the mapped (or inflated) bytes to the pipeline, waiting when a ring is full (lossless),
/// optionally paced by the capture timestamps × `speed`.
#[derive(Debug)]
pub struct CaptureSource<'a> {
    caps: &'a [Capture],
    speed: Option<f64>,
    raw_chunk: usize,
}

impl<'a> CaptureSource<'a> {
    /// A source over `caps`, in order. `speed`: `None` = as fast as possible; `Some(x)` = capture time / x.
    pub fn new(caps: &'a [Capture], speed: Option<f64>) -> Self {
        CaptureSource {
            caps,
            speed,
            raw_chunk: 64,
        }
    }
}

/// Paces a replay by capture timestamps.
struct Pacer {
    speed: f64,
    origin: Option<(u64, Instant)>,
}

impl Pacer {
    /// Waits until `ts_ns` is due; returns false (at once) when `shared` is stopping, so a SIGTERM during a long
    /// gap of the capture (hours of feed time at `--speed 1`) is served within one sleep slice.
    fn wait(&mut self, ts_ns: u64, shared: &Shared) -> bool {
        if ts_ns == 0 {
            return true;
        }
        let (ts0, t0) = *self.origin.get_or_insert((ts_ns, Instant::now()));
        let due = t0 + Duration::from_secs_f64(ts_ns.saturating_sub(ts0) as f64 / 1e9 / self.speed);
        loop {
            let now = Instant::now();
            if now >= due {
                return true;
            }
            if shared.stopping() {
                return false;
            }
            let left = due - now;
            if left > Duration::from_micros(200) {
                std::thread::sleep(
                    (left - Duration::from_micros(100)).min(Duration::from_millis(20)),
                );
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

impl<'a> Source for CaptureSource<'a> {
    type Packet = ReplayPacket<'a>;

    fn run<D: Deliver<ReplayPacket<'a>>>(
        &mut self,
        out: &mut D,
        shared: &Shared,
        rec: &mut Recorder,
    ) -> anyhow::Result<()> {
        let clock = *rec.clock();
        let mut index = 0u64;
        let mut pacer = self.speed.map(|s| Pacer {
            speed: s,
            origin: None,
        });
        let mut bytes_done = 0u64;
        let mut send = |out: &mut D,
                        rec: &mut Recorder,
                        input: Input<'a>,
                        source: u16,
                        len: usize|
         -> anyhow::Result<()> {
            let rx = clock.now();
            let p = ReplayPacket {
                input,
                meta: PacketMeta {
                    rx,
                    index,
                    source,
                    truncated: false,
                },
            };
            index += 1;
            match out.deliver(p, None) {
                Delivery::Consumed | Delivery::Queued(_) => {}
                Delivery::Dropped => unreachable!("replay waits, it never drops"),
                Delivery::Closed => anyhow::bail!("the book stage ended early"),
            }
            rec.counters.packets += 1;
            rec.counters.bytes += len as u64;
            if index % 256 == 0 {
                shared
                    .packets
                    .store(rec.counters.packets, std::sync::atomic::Ordering::Relaxed);
                shared
                    .bytes
                    .store(rec.counters.bytes, std::sync::atomic::Ordering::Relaxed);
            }
            rec.tick(rx);
            Ok(())
        };
        for (fi, cap) in self.caps.iter().enumerate() {
            let source = fi as u16;
            match cap.frames() {
                Some(mut frames) => {
                    for frame in frames.by_ref() {
                        if shared.stopping() {
                            break;
                        }
                        if let Some(p) = pacer.as_mut() {
                            if !p.wait(frame.ts_ns, shared) {
                                break;
                            }
                        }
                        send(out, rec, Input::Frame(frame), source, frame.data.len())?;
                    }
                    send(
                        out,
                        rec,
                        Input::EndOfCapture {
                            stopped: frames.stopped(),
                            gzip_cut_short: cap.gzip_cut_short(),
                        },
                        source,
                        0,
                    )?;
                }
                None => {
                    if cap.format() != Format::RawItch {
                        anyhow::bail!("{}: no frames to read", cap.path().display());
                    }
                    let all = cap.bytes();
                    let mut start = 0usize;
                    let mut n_in_chunk = 0usize;
                    let mut first_seq = 1u64;
                    for (seq, (at, _)) in (1u64..).zip(RawMessages::new(all)) {
                        if n_in_chunk == self.raw_chunk {
                            let chunk = &all[start..at as usize];
                            send(
                                out,
                                rec,
                                Input::RawChunk {
                                    bytes: chunk,
                                    first_seq,
                                },
                                source,
                                chunk.len(),
                            )?;
                            start = at as usize;
                            first_seq = seq;
                            n_in_chunk = 0;
                            if shared.stopping() {
                                break;
                            }
                        }
                        n_in_chunk += 1;
                    }
                    if !shared.stopping() {
                        let chunk = &all[start..];
                        send(
                            out,
                            rec,
                            Input::RawChunk {
                                bytes: chunk,
                                first_seq,
                            },
                            source,
                            chunk.len(),
                        )?;
                    }
                    send(
                        out,
                        rec,
                        Input::EndOfCapture {
                            stopped: None,
                            gzip_cut_short: cap.gzip_cut_short(),
                        },
                        source,
                        0,
                    )?;
                }
            }
            bytes_done += cap.bytes().len() as u64;
            shared
                .bytes
                .store(bytes_done, std::sync::atomic::Ordering::Relaxed);
            if shared.stopping() {
                break;
            }
        }
        out.flush();
        shared
            .packets
            .store(rec.counters.packets, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}
