//! [`DetectorSet`]: all enabled detectors and the per-symbol state they share, driven one [`BookEvent`] at a time.

use book::event::flags;
use book::{BookEvent, EventKind, Price, Side, Symbol};

use crate::alert::{Alert, DetectorKind, EvidenceOrder};
use crate::config::{ConfigError, DetectConfig, HiddenTradeSide, NS_PER_MS};
use crate::ctx::{classify, hidden_resting_side, Ctx, Exec, NewOrder, Take, Withdrawal};
use crate::detectors::close::{CloseSym, MarkingTheClose, Sweep};
use crate::detectors::coordinated::{CoordSym, CoordinatedBuying};
use crate::detectors::layering::{LayerSym, Layering};
use crate::detectors::momentum::{MomentumIgnition, MomentumSym};
use crate::detectors::otr::{OrderToTrade, OtrSym};
use crate::detectors::spoofing::{SpoofSym, Spoofing};
use crate::detectors::stuffing::{OrdersTrades, QuoteStuffing, StuffSym};
use crate::features::{FeatureCounts, FeatureSnapshot, SymbolFeatures, TumblingAcc};
use crate::prefetch;
use crate::window::StreamingMedian;

/// Number of book indices (ITCH stock locates are `u16`).
const BOOKS: usize = 1 << 16;

/// Everything the detectors keep about one symbol.
///
/// Layout: events of one symbol are usually far apart (on a full feed, thousands of other symbols' events in
/// between), so this state is cold in cache at every event and its cost is the number of distinct cache lines an
/// event touches. The first line holds what every event reads or writes (touch, last trade, last time, the
/// spoofing candidates count that decides whether spoofing looks at its table, the quiet flags of quote stuffing
/// and order-to-trade); the windows and the median follow; detector states that only some events need (spoofing's table, momentum, marking the close,
/// coordinated buying) are reached only when the event concerns them (decided from the event, the first line and
/// the detectors' global state).
#[derive(Debug)]
#[repr(C, align(64))]
struct SymbolState {
    last_ts: u64,
    bid: Price,
    ask: Price,
    last_price: Price,
    bid_qty: u32,
    ask_qty: u32,
    /// Live spoofing candidates in `spoof`.
    spoof_active: u32,
    symbol: Symbol,
    /// Quote stuffing's and order-to-trade's quiet flags (after an alert, until the window falls back).
    stuff_latched: bool,
    otr_latched: bool,
    features: SymbolFeatures,
    median: StreamingMedian,
    /// Quote stuffing and order-to-trade windows (present, unused, when the detector is disabled).
    stuff: StuffSym,
    otr: OtrSym,
    layer: Option<LayerSym>,
    spoof: SpoofSym,
    momentum: Option<MomentumSym>,
    close: Option<CloseSym>,
    coord: Option<CoordSym>,
}

/// Counters of the detect stage (read them with [`DetectorSet::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DetectStats {
    /// Events seen.
    pub events: u64,
    /// Symbols with state.
    pub symbols: u64,
    /// Alerts emitted per detector, indexed by [`DetectorKind`] discriminant.
    pub alerts: [u64; 7],
    /// Tracked orders dropped because a fixed per-symbol table was full (spoofing, layering, marking the close).
    pub evicted_orders: u64,
    /// Keys ignored because a fixed cross-symbol table was full (coordinated MPIDs / hot symbols, OTR MPID keys).
    pub dropped_keys: u64,
    /// Bytes of detector state allocated (per-symbol and global tables).
    pub state_bytes: u64,
}

impl DetectStats {
    /// Alerts of one detector.
    pub fn alerts_of(&self, k: DetectorKind) -> u64 {
        self.alerts[k as usize]
    }

    /// All alerts.
    pub fn total_alerts(&self) -> u64 {
        self.alerts.iter().sum()
    }
}

/// A sweep being accumulated (executions of one symbol, one timestamp, one aggressor side).
#[derive(Debug, Clone, Copy)]
struct PendingSweep {
    book: u16,
    sweep: Sweep,
}

/// All enabled detectors over all symbols.
///
/// # Contract
/// - Call [`on_event`](Self::on_event) once per [`BookEvent`], in feed order, from one thread (the detect thread);
///   alerts are handed to the callback synchronously, by reference, in event order. Call
///   [`finish`](Self::finish) at the end of the input (an aggressive order's executions are evaluated when the next
///   event shows it is complete).
/// - Time is the feed's: windows use `BookEvent::ts_ns`, so replays are deterministic (the same events give the
///   same alerts, byte for byte).
/// - Allocation: state for a symbol is allocated when the symbol is first seen (its directory event or its first
///   event; [`reserve_symbol`](Self::reserve_symbol) does it up front), about 50 KB with the default configuration
///   including its share of layering's table of tracked orders (which grows then); nothing else allocates, and
///   emitting an alert does not allocate either (the [`Alert`] is `Copy`; serialise it with [`Alert::write_json`]
///   on another thread).
/// - Cost per event: O(1) amortised window updates plus, for the few events that touch tracked orders, a lookup
///   in layering's table or a scan of small fixed tables (≤ 16 entries for spoofing/close); an execution looks for
///   a layer only among the live large orders of one side placed in the last
///   `placement_window + execution_within`, and only when there are `min_orders` of them.
/// - Prefetch: a pipeline that knows an event's book and order reference before the event exists (the
///   decoded message before the book applies it, the next event in the detect thread's ring) calls
///   [`prefetch`](Self::prefetch) / [`prefetch_message`](Self::prefetch_message) /
///   [`prefetch_event`](Self::prefetch_event), so that the state the event will touch loads meanwhile. Optional:
///   it changes no result.
#[derive(Debug)]
pub struct DetectorSet {
    cfg: DetectConfig,
    syms: Vec<Option<Box<SymbolState>>>,
    d: Detectors,
    stats: DetectStats,
    /// Whether the sliding feature windows are kept (see [`DetectorSet::keep_sliding_features`]).
    sliding: bool,
    /// Whether an event updates feature windows (sliding kept or tumbling records configured).
    features_on: bool,
    /// See [`DetectorSet::is_idle`].
    idle: bool,
    sym_bytes: u64,
}

/// The enabled detectors and what the per-event paths share (apart from the per-symbol states, so that a path
/// can hold a symbol's state and the detectors at once).
#[derive(Debug)]
struct Detectors {
    spoofing: Option<Spoofing>,
    layering: Option<Layering>,
    stuffing: Option<QuoteStuffing>,
    momentum: Option<MomentumIgnition>,
    close: Option<MarkingTheClose>,
    coordinated: Option<CoordinatedBuying>,
    otr: Option<OrderToTrade>,
    sweep: Option<PendingSweep>,
    /// Quote stuffing reads its baseline from order-to-trade's per-symbol window (same counts, same geometry).
    stuff_base_from_otr: bool,
    fixed_tick: Price,
    median_min: usize,
    hidden_as_exec: bool,
    hidden_side: HiddenTradeSide,
}

impl Default for DetectorSet {
    fn default() -> Self {
        DetectorSet::new(&DetectConfig::default())
    }
}

impl DetectorSet {
    /// All detectors enabled in `cfg` (call [`DetectConfig::validate`] first for a friendly error; out-of-range
    /// values are clamped here).
    pub fn new(cfg: &DetectConfig) -> DetectorSet {
        let mut syms = Vec::with_capacity(BOOKS);
        syms.resize_with(BOOKS, || None);
        let d = Detectors {
            spoofing: cfg.spoofing.enabled.then(|| Spoofing::new(&cfg.spoofing)),
            layering: cfg.layering.enabled.then(|| Layering::new(&cfg.layering)),
            stuffing: cfg
                .quote_stuffing
                .enabled
                .then(|| QuoteStuffing::new(&cfg.quote_stuffing)),
            momentum: cfg
                .momentum_ignition
                .enabled
                .then(|| MomentumIgnition::new(&cfg.momentum_ignition)),
            close: cfg
                .marking_the_close
                .enabled
                .then(|| MarkingTheClose::new(&cfg.marking_the_close)),
            coordinated: cfg
                .coordinated_buying
                .enabled
                .then(|| CoordinatedBuying::new(&cfg.coordinated_buying)),
            otr: cfg
                .order_to_trade
                .enabled
                .then(|| OrderToTrade::new(&cfg.order_to_trade)),
            sweep: None,
            stuff_base_from_otr: cfg.quote_stuffing.enabled
                && cfg.order_to_trade.enabled
                && cfg.quote_stuffing.baseline_window_ms == cfg.order_to_trade.window_ms,
            fixed_tick: cfg.general.tick_size,
            median_min: cfg.general.median_min_orders,
            hidden_as_exec: cfg.general.hidden_trades_as_executions,
            hidden_side: cfg.general.hidden_trade_side,
        };
        let mut set = DetectorSet {
            cfg: cfg.clone(),
            syms,
            d,
            stats: DetectStats::default(),
            sliding: false,
            features_on: cfg.features.tumbling_ms > 0,
            idle: false,
            sym_bytes: 0,
        };
        set.idle = set.compute_idle();
        set.sym_bytes = set.estimate_symbol_bytes();
        set.stats.state_bytes =
            (BOOKS * std::mem::size_of::<Option<Box<SymbolState>>>()) as u64 + set.global_bytes();
        set
    }

    /// Parses a TOML configuration (see [`DetectConfig`]) and builds the set.
    pub fn from_config(toml_text: &str) -> Result<DetectorSet, ConfigError> {
        Ok(DetectorSet::new(&DetectConfig::from_toml_str(toml_text)?))
    }

    /// The configuration in use.
    pub fn config(&self) -> &DetectConfig {
        &self.cfg
    }

    /// Counters (events, alerts per detector, drops, state size).
    pub fn stats(&self) -> DetectStats {
        let d = &self.d;
        let mut s = self.stats;
        s.evicted_orders = d.spoofing.as_ref().map_or(0, |d| d.evicted)
            + d.layering.as_ref().map_or(0, |d| d.evicted)
            + d.close.as_ref().map_or(0, |d| d.dropped);
        s.dropped_keys = d
            .coordinated
            .as_ref()
            .map_or(0, |d| d.dropped_mpid + d.dropped_hot)
            + d.otr.as_ref().map_or(0, |d| d.dropped);
        s
    }

    fn global_bytes(&self) -> u64 {
        let c = &self.cfg;
        let mut b = 0u64;
        if c.coordinated_buying.enabled && c.coordinated_buying.by_mpid {
            b += c.coordinated_buying.max_mpids.next_power_of_two() as u64
                * (std::mem::size_of::<EvidenceOrder>() as u64 * 16 + 32);
        }
        if c.order_to_trade.enabled && c.order_to_trade.per_mpid {
            b += c.order_to_trade.max_mpid_keys.next_power_of_two() as u64 * (60 * 8 + 64);
        }
        b
    }

    fn estimate_symbol_bytes(&self) -> u64 {
        let c = &self.cfg;
        let mut b = std::mem::size_of::<SymbolState>() as u64;
        b += c.general.median_window_orders as u64 * 2 + 1728 * 2; // median ring + histogram
        b += 20 * 64; // feature window
        if c.spoofing.enabled {
            b += c.spoofing.max_tracked_per_symbol as u64 * 560;
        }
        if c.layering.enabled {
            b += LayerSym::heap_bytes(&c.layering);
        }
        if c.quote_stuffing.enabled {
            b += 50 * 8 + 60 * 4;
        }
        if c.momentum_ignition.enabled {
            b += 2
                * c.momentum_ignition.max_tracked_executions as u64
                * crate::detectors::momentum::EXEC_RECORD_BYTES
                + 2 * 220;
        }
        if c.marking_the_close.enabled {
            b += c.marking_the_close.max_tracked_per_symbol as u64
                * crate::detectors::close::WATCH_SLOT_BYTES
                + 60 * 32;
        }
        if c.coordinated_buying.enabled {
            b += 30 * 4 + 60 * 4;
        }
        if c.order_to_trade.enabled {
            b += 60 * 8;
        }
        b
    }

    fn new_symbol(&self, book: u16, symbol: Symbol) -> Box<SymbolState> {
        let c = &self.cfg;
        Box::new(SymbolState {
            symbol,
            bid: 0,
            bid_qty: 0,
            ask: 0,
            ask_qty: 0,
            last_price: 0,
            last_ts: 0,
            spoof_active: 0,
            stuff_latched: false,
            otr_latched: false,
            median: StreamingMedian::new(
                c.general.median_window_orders,
                c.general.median_refresh_orders,
            ),
            features: SymbolFeatures::new(
                c.features.window_ms * NS_PER_MS,
                c.features.tumbling_ms * NS_PER_MS,
            ),
            spoof: if c.spoofing.enabled {
                SpoofSym::new(&c.spoofing)
            } else {
                SpoofSym::empty()
            },
            layer: c.layering.enabled.then(|| LayerSym::new(&c.layering, book)),
            stuff: StuffSym::new(&c.quote_stuffing),
            momentum: c
                .momentum_ignition
                .enabled
                .then(|| MomentumSym::new(&c.momentum_ignition)),
            close: c
                .marking_the_close
                .enabled
                .then(|| CloseSym::new(&c.marking_the_close)),
            coord: c
                .coordinated_buying
                .enabled
                .then(|| CoordSym::new(&c.coordinated_buying)),
            otr: OtrSym::new(&c.order_to_trade),
        })
    }

    /// Pre-allocates the state of `book` (e.g. from a symbol directory at start-up) so that its first event does
    /// not allocate.
    pub fn reserve_symbol(&mut self, book: u16, symbol: Symbol) {
        if book != 0 && self.syms[book as usize].is_none() {
            self.add_symbol(book, symbol);
        }
    }

    /// Creates the state of `book` (not yet present): the symbol's own and its share of the detectors' tables.
    #[cold]
    fn add_symbol(&mut self, book: u16, symbol: Symbol) {
        let st = self.new_symbol(book, symbol);
        self.syms[book as usize] = Some(st);
        self.stats.symbols += 1;
        self.stats.state_bytes += self.sym_bytes;
        if let Some(d) = self.d.layering.as_mut() {
            d.reserve_symbols(self.stats.symbols as usize);
        }
    }

    /// Keeps the per-symbol sliding feature windows (`[features] window_ms`) from now on, so that
    /// [`features`](Self::features) can be read. Call it before the first event when something will read the
    /// sliding features (the runtime does when CEP rules use them). Without a reader they are not kept: no
    /// detector needs them, and keeping them costs every event a window update. Tumbling feature records
    /// (`tumbling_ms`) do not depend on this.
    pub fn keep_sliding_features(&mut self) {
        self.sliding = true;
        self.features_on = true;
        self.idle = false;
    }

    /// Whether the sliding feature windows are kept ([`keep_sliding_features`](Self::keep_sliding_features)).
    pub fn keeps_sliding_features(&self) -> bool {
        self.sliding
    }

    /// Whether events have nothing to do here: every detector is disabled and no feature window is kept (neither
    /// sliding nor tumbling). A pipeline may then skip [`on_event`](Self::on_event) altogether (the runtime does:
    /// that is its book-only configuration); calling it anyway changes nothing but [`stats`](Self::stats)'
    /// counters.
    #[inline]
    pub fn is_idle(&self) -> bool {
        self.idle
    }

    fn compute_idle(&self) -> bool {
        let d = &self.d;
        !self.features_on
            && d.spoofing.is_none()
            && d.layering.is_none()
            && d.stuffing.is_none()
            && d.momentum.is_none()
            && d.close.is_none()
            && d.coordinated.is_none()
            && d.otr.is_none()
    }

    /// The sliding-window features of `book` as of its last event, if it has been seen and the set keeps sliding
    /// features ([`keep_sliding_features`](Self::keep_sliding_features); `None` otherwise).
    pub fn features(&mut self, book: u16) -> Option<FeatureSnapshot> {
        if !self.sliding {
            return None;
        }
        let st = self.syms.get_mut(book as usize)?.as_mut()?;
        let median = median_of(&mut st.median, self.cfg.general.median_min_orders);
        Some(st.features.snapshot(
            st.last_ts,
            book,
            st.symbol,
            median,
            st.last_price,
            (st.bid, st.bid_qty, st.ask, st.ask_qty),
        ))
    }

    /// Prefetches the state that an event of book `book` concerning order `order_ref` (0 = none) will touch: the
    /// symbol's first lines, the headers of its windows, the tracked-order entry of that reference. Call it as
    /// early as the pipeline knows those (before the book applies the message, or when the event is next in the
    /// detect thread's ring): the lines then load while other work runs. A hint only: it changes no state and
    /// costs a few instructions; an unknown book does nothing.
    #[inline]
    pub fn prefetch(&self, book: u16, order_ref: u64) {
        if let Some(d) = self.d.layering.as_ref() {
            if order_ref != 0 {
                prefetch::line(d.table_addr(order_ref));
            }
        }
        let Some(Some(st)) = self.syms.get(book as usize) else {
            return;
        };
        let st: &SymbolState = st;
        prefetch::line(st);
        prefetch::line(&st.median);
        if self.d.otr.is_some() {
            prefetch::line(st.otr.window());
        }
        if self.d.stuffing.is_some() {
            prefetch::line(st.stuff.window());
        }
        if self.d.layering.is_some() {
            // The address of the state, not its `Option` tag: reading the tag would wait for the line.
            prefetch::line(&st.layer);
        }
    }

    /// [`prefetch`](Self::prefetch) for the event a decoded message will give (ITCH: its stock locate and order
    /// reference; IEX messages name no book before the book maps their symbol: nothing).
    #[inline]
    pub fn prefetch_message(&self, msg: &feed::analyze::FeedMessage<'_>) {
        if let feed::analyze::FeedMessage::Itch(m) = msg {
            self.prefetch(m.stock_locate(), m.order_ref());
        }
    }

    /// [`prefetch`](Self::prefetch) for an event (the next one in the detect thread's input ring, say).
    #[inline]
    pub fn prefetch_event(&self, ev: &BookEvent) {
        self.prefetch(ev.book, ev.order_ref);
    }

    /// Processes one event; alerts go to `out`.
    #[inline]
    pub fn on_event(&mut self, ev: &BookEvent, out: &mut (impl FnMut(&Alert) + ?Sized)) {
        self.on_event_with_features(ev, out, &mut |_| {});
    }

    /// Ends the input: evaluates the pending aggressive order, if any.
    pub fn finish(&mut self, out: &mut (impl FnMut(&Alert) + ?Sized)) {
        self.d
            .finish_sweep(&mut self.syms, &mut counted(&mut self.stats, out));
    }

    /// [`on_event`](Self::on_event), also handing out tumbling feature records (when
    /// `features.tumbling_ms > 0`) to `features_out` as each symbol's interval closes.
    ///
    /// The frequent kinds (adds, deletes, cancels, executions of displayed orders) take paths of their own, which
    /// call only the detector steps that concern them; every other kind takes the general path. Both run the
    /// steps in the same order (the general path's steps are each kind path's, composed), so a kind gives the same
    /// alerts on either.
    pub fn on_event_with_features(
        &mut self,
        ev: &BookEvent,
        out: &mut (impl FnMut(&Alert) + ?Sized),
        features_out: &mut (impl FnMut(&FeatureSnapshot) + ?Sized),
    ) {
        self.stats.events += 1;
        // An execution of a displayed order (`E`/`C` with a side), the frequent kind of execution.
        let displayed_exec = matches!(ev.kind, EventKind::Execute | EventKind::ExecuteWithPrice)
            && ev.side != Side::None;

        // An aggressive order is complete when anything but its next execution arrives.
        if let Some(p) = &self.d.sweep {
            // The resting side this event executed, if it is an execution.
            let resting = if displayed_exec {
                ev.side
            } else if ev.kind == EventKind::HiddenTrade {
                match self.syms.get(ev.book as usize) {
                    Some(Some(st)) => self.d.hidden_resting(st, ev),
                    _ => Side::None,
                }
            } else {
                Side::None
            };
            let cont = resting != Side::None
                && p.book == ev.book
                && p.sweep.ts == ev.ts_ns
                && p.sweep.aggressor == resting.opposite();
            if !cont {
                self.d
                    .finish_sweep(&mut self.syms, &mut counted(&mut self.stats, out));
            }
        }
        if ev.book == 0 {
            return;
        }
        let idx = ev.book as usize;
        if self.syms[idx].is_none() {
            self.add_symbol(ev.book, ev.symbol);
        }
        let Some(st) = self.syms[idx].as_deref_mut() else {
            return;
        };
        if ev.kind == EventKind::Directory {
            st.symbol = ev.symbol;
            return;
        }
        if ev.ts_ns > st.last_ts {
            st.last_ts = ev.ts_ns;
        }
        if self.features_on {
            self.d.features(
                st,
                ev,
                self.sliding,
                self.cfg.general.median_min_orders,
                features_out,
            );
        }
        let emit = &mut counted(&mut self.stats, out);
        match ev.kind {
            EventKind::Add => self.d.on_add(st, ev, emit),
            EventKind::Delete => self.d.on_withdrawal(
                st,
                ev,
                Withdrawal {
                    order_ref: ev.order_ref,
                    take: Take::Shares(ev.qty),
                    gone: true,
                },
                emit,
            ),
            EventKind::Cancel => self.d.on_withdrawal(
                st,
                ev,
                Withdrawal {
                    order_ref: ev.order_ref,
                    take: Take::Shares(ev.qty),
                    gone: ev.remaining == 0,
                },
                emit,
            ),
            EventKind::Execute | EventKind::ExecuteWithPrice if displayed_exec => {
                self.d.on_exec(st, ev, emit)
            }
            _ => self.d.on_general(st, ev, emit),
        }
    }
}

/// Counts an alert of a built-in detector, then hands it to `out`.
#[inline]
fn counted<'a>(
    stats: &'a mut DetectStats,
    out: &'a mut (impl FnMut(&Alert) + ?Sized),
) -> impl FnMut(&Alert) + 'a {
    move |a: &Alert| {
        if let crate::alert::Detector::Builtin(k) = a.detector {
            stats.alerts[k as usize] += 1;
        }
        out(a)
    }
}

/// Whether an event of `kind` prints (its price is a last-sale price).
#[inline]
fn printed(ev: &BookEvent) -> bool {
    matches!(
        ev.kind,
        EventKind::Execute | EventKind::HiddenTrade | EventKind::Trade
    ) || (ev.kind == EventKind::ExecuteWithPrice && ev.has(flags::PRINTABLE))
}

impl SymbolState {
    /// The context of `ev` from the symbol's state before it.
    #[inline]
    fn ctx<'a>(
        &self,
        ev: &'a BookEvent,
        fixed_tick: Price,
        median: Option<u32>,
        (exec, new_order, withdrawal): (Option<Exec>, Option<NewOrder>, Option<Withdrawal>),
    ) -> Ctx<'a> {
        Ctx {
            ev,
            prev_bid: if self.bid_qty > 0 { self.bid } else { 0 },
            prev_ask: if self.ask_qty > 0 { self.ask } else { 0 },
            median,
            last_price_before: self.last_price,
            exec,
            new_order,
            withdrawal,
            fixed_tick,
        }
    }

    /// State after `ev`: the last sale price and the touch.
    #[inline]
    fn after(&mut self, ev: &BookEvent, printed: bool) {
        if printed && ev.price > 0 {
            self.last_price = ev.price;
        }
        if (ev.kind.is_book_change() || ev.kind == EventKind::Quote) && !ev.has(flags::IN_BATCH) {
            self.bid = ev.bid_price;
            self.bid_qty = ev.bid_qty;
            self.ask = ev.ask_price;
            self.ask_qty = ev.ask_qty;
        }
    }
}

impl Detectors {
    /// The resting side the `P` `ev` of the symbol of `st` executed ([`Side::None`]: not an execution for
    /// side-dependent rules), from the touch before it or the side sent.
    #[inline]
    fn hidden_resting(&self, st: &SymbolState, ev: &BookEvent) -> Side {
        hidden_resting_side(
            ev,
            self.hidden_as_exec,
            self.hidden_side,
            if st.bid_qty > 0 { st.bid } else { 0 },
            if st.ask_qty > 0 { st.ask } else { 0 },
        )
    }

    /// Order-to-trade's window update and quote stuffing's step, for an event with order messages / executions
    /// `orders` / `trades` (every path, in the same place among the steps).
    #[inline(always)]
    fn counts(
        &mut self,
        st: &mut SymbolState,
        c: &Ctx<'_>,
        (orders, trades): (bool, bool),
        emit: &mut impl FnMut(&Alert),
    ) {
        if self.otr.is_some() {
            st.otr.record(c.ts(), orders, trades);
        }
        if let Some(d) = self.stuffing.as_mut() {
            let shared = self.stuff_base_from_otr.then(|| st.otr.window());
            d.on_event(
                c,
                &mut st.stuff,
                &mut st.stuff_latched,
                OrdersTrades {
                    orders: orders as u32,
                    trades: trades as u32,
                },
                shared,
                emit,
            );
        }
    }

    /// Feature windows (before the event's order joins the median: a tumbling record reads the median before it).
    /// Out of line: off unless configured, and its code would crowd the frequent paths' in the instruction cache.
    #[cold]
    #[inline(never)]
    fn features(
        &mut self,
        st: &mut SymbolState,
        ev: &BookEvent,
        sliding: bool,
        median_min: usize,
        features_out: &mut (impl FnMut(&FeatureSnapshot) + ?Sized),
    ) {
        let ts = ev.ts_ns;
        let printed = printed(ev);
        if sliding {
            st.features
                .sliding
                .add(ts, FeatureCounts::of_event(ev), printed.then_some(ev.price));
        }
        if let Some(tw) = st.features.tumbling.as_mut() {
            let counts = FeatureCounts::of_event(ev);
            if let Some((start, end, acc)) = tw.roll(ts) {
                let TumblingAcc {
                    counts: tc,
                    first_price,
                    last_price,
                } = acc;
                let median = median_of(&mut st.median, median_min);
                let snap = FeatureSnapshot::build(
                    ev.book,
                    st.symbol,
                    "tumbling",
                    start,
                    end,
                    end - start,
                    tc,
                    first_price,
                    last_price,
                    median,
                    st.last_price,
                    (st.bid, st.bid_qty, st.ask, st.ask_qty),
                );
                features_out(&snap);
            }
            tw.add(TumblingAcc {
                counts,
                first_price: if printed { ev.price } else { 0 },
                last_price: if printed { ev.price } else { 0 },
            });
        }
    }

    /// A new displayed order (`A`/`F`).
    #[inline(never)]
    fn on_add(&mut self, st: &mut SymbolState, ev: &BookEvent, emit: &mut impl FnMut(&Alert)) {
        let ts = ev.ts_ns;
        let n = NewOrder {
            order_ref: ev.order_ref,
            side: ev.side,
            price: ev.price,
            qty: ev.qty,
        };
        // The median of the orders before this one, then this order joins it.
        let m = median_of(&mut st.median, self.median_min);
        st.median.insert(n.qty);
        let c = st.ctx(ev, self.fixed_tick, Some(m), (None, Some(n), None));
        if let Some(d) = self.spoofing.as_mut() {
            d.on_new_order(&c, n, m, &mut st.spoof_active, &mut st.spoof);
        }
        if let (Some(d), Some(s)) = (self.layering.as_mut(), st.layer.as_mut()) {
            d.on_new_order(&c, s, n, m);
            Layering::expire(s, ts);
        }
        self.counts(st, &c, (true, false), emit);
        if let Some(d) = self.close.as_mut() {
            if d.in_window(ts) {
                if let Some(s) = st.close.as_mut() {
                    d.on_new_order(&c, s, n, m);
                }
            }
        }
        if let Some(d) = self.coordinated.as_mut() {
            if n.side == Side::Buy
                && d.small(n.qty as u64)
                && (c.prev_bid == 0
                    || n.price > c.prev_bid
                    || (c.prev_ask > 0 && n.price >= c.prev_ask))
            {
                if let Some(s) = st.coord.as_mut() {
                    d.on_buy(&EvidenceOrder::from_event("buy_order", ev), s, emit);
                }
            }
        }
        if let Some(d) = self.otr.as_mut() {
            d.on_event(&c, &mut st.otr, &mut st.otr_latched, true, false, emit);
        }
        st.after(ev, false);
    }

    /// A delete (`D`) or cancel (`X`) of a displayed order.
    #[inline]
    fn on_withdrawal(
        &mut self,
        st: &mut SymbolState,
        ev: &BookEvent,
        w: Withdrawal,
        emit: &mut impl FnMut(&Alert),
    ) {
        let ts = ev.ts_ns;
        let c = st.ctx(ev, self.fixed_tick, None, (None, None, Some(w)));
        if let Some(d) = self.spoofing.as_mut() {
            if st.spoof_active > 0 {
                d.on_withdrawal(&c, w, &mut st.spoof_active, &mut st.spoof, emit);
            }
        }
        if let (Some(d), Some(s)) = (self.layering.as_mut(), st.layer.as_mut()) {
            d.on_withdrawal(&c, s, w, emit);
            Layering::expire(s, ts);
        }
        self.counts(st, &c, (true, false), emit);
        if let Some(d) = self.close.as_mut() {
            if d.watching() {
                if let Some(s) = st.close.as_mut() {
                    d.on_withdrawal(&c, s, w, emit);
                }
            }
        }
        if let Some(d) = self.otr.as_mut() {
            d.on_event(&c, &mut st.otr, &mut st.otr_latched, true, false, emit);
        }
        st.after(ev, false);
    }

    /// An execution of a displayed order (`E`/`C` with a side).
    #[inline(never)]
    fn on_exec(&mut self, st: &mut SymbolState, ev: &BookEvent, emit: &mut impl FnMut(&Alert)) {
        let ts = ev.ts_ns;
        let x = Exec {
            resting: ev.side,
            aggressor: ev.side.opposite(),
            price: ev.price,
            qty: ev.qty,
            order_ref: ev.order_ref,
        };
        let printed = ev.kind == EventKind::Execute || ev.has(flags::PRINTABLE);
        let c = st.ctx(ev, self.fixed_tick, None, (Some(x), None, None));
        let m = median_of(&mut st.median, self.median_min);
        self.track_sweep(st, ev, x, m);
        if let Some(d) = self.spoofing.as_mut() {
            if st.spoof_active > 0 {
                d.on_exec(&c, x, &mut st.spoof_active, &mut st.spoof);
            }
        }
        if let (Some(d), Some(s)) = (self.layering.as_mut(), st.layer.as_mut()) {
            d.on_exec(&c, s, x);
            Layering::expire(s, ts);
        }
        self.counts(st, &c, (false, true), emit);
        if let (Some(d), Some(s)) = (self.momentum.as_mut(), st.momentum.as_mut()) {
            d.on_event(&c, s, emit);
        }
        if let Some(d) = self.close.as_mut() {
            if d.wants_vwap(ts) && printed {
                if let Some(s) = st.close.as_mut() {
                    d.add_trade(s, ts, ev.price, ev.qty);
                }
            }
            if d.watching() && ev.remaining == 0 {
                if let Some(s) = st.close.as_mut() {
                    d.on_filled(s, ev.order_ref);
                }
            }
        }
        if let Some(d) = self.coordinated.as_mut() {
            d.note_trade(ts);
        }
        if let Some(d) = self.otr.as_mut() {
            d.on_event(&c, &mut st.otr, &mut st.otr_latched, false, true, emit);
        }
        st.after(ev, printed);
    }

    /// Every other kind (replaces, hidden trades, crosses, IEX trades and quotes, status, …): every detector step
    /// that the event's classification calls for, in the order the frequent kinds' paths follow.
    #[cold]
    #[inline(never)]
    fn on_general(&mut self, st: &mut SymbolState, ev: &BookEvent, emit: &mut impl FnMut(&Alert)) {
        let ts = ev.ts_ns;
        let hidden = if ev.kind == EventKind::HiddenTrade {
            self.hidden_resting(st, ev)
        } else {
            Side::None
        };
        let (exec, new_order, withdrawal) = classify(ev, hidden);
        let is_orders = FeatureCounts::is_order_message(ev.kind);
        let is_trade = FeatureCounts::is_execution(ev.kind);
        let printed = printed(ev);
        // The median of the orders before this one, then this order joins it.
        let median = match new_order {
            Some(n) => {
                let m = median_of(&mut st.median, self.median_min);
                st.median.insert(n.qty);
                Some(m)
            }
            None => None,
        };
        let c = st.ctx(ev, self.fixed_tick, median, (exec, new_order, withdrawal));
        // Start or extend the aggressive order (sweep) this execution belongs to.
        if let Some(x) = exec {
            let m = median_of(&mut st.median, self.median_min);
            self.track_sweep(st, ev, x, m);
        }
        if let Some(d) = self.spoofing.as_mut() {
            // With no live candidate, only a new order (which may become one) concerns spoofing.
            if st.spoof_active > 0 || median.is_some() {
                d.on_event(&c, &mut st.spoof_active, &mut st.spoof, emit);
            }
        }
        if let (Some(d), Some(s)) = (self.layering.as_mut(), st.layer.as_mut()) {
            d.on_event(&c, s, emit);
        }
        self.counts(st, &c, (is_orders, is_trade), emit);
        if exec.is_some() {
            if let (Some(d), Some(s)) = (self.momentum.as_mut(), st.momentum.as_mut()) {
                d.on_event(&c, s, emit);
            }
        }
        if let Some(d) = self.close.as_mut() {
            if d.wants(&c) {
                if let Some(s) = st.close.as_mut() {
                    d.on_event(&c, s, emit);
                }
            }
            if d.wants_vwap(ts) && printed && ev.kind != EventKind::Trade {
                if let Some(s) = st.close.as_mut() {
                    d.add_trade(s, ts, ev.price, ev.qty);
                }
            }
            // A displayed order filled (an execution of a displayed order that left none).
            if d.watching()
                && matches!(ev.kind, EventKind::Execute | EventKind::ExecuteWithPrice)
                && ev.remaining == 0
            {
                if let Some(s) = st.close.as_mut() {
                    d.on_filled(s, ev.order_ref);
                }
            }
        }
        // Coordinated buying looks at new orders of adds only (`on_add`; an add never takes this path).
        if let Some(d) = self.coordinated.as_mut() {
            if c.exec.is_some() {
                d.note_trade(ts);
            }
        }
        if let Some(d) = self.otr.as_mut() {
            d.on_event(
                &c,
                &mut st.otr,
                &mut st.otr_latched,
                is_orders,
                is_trade,
                emit,
            );
        }
        st.after(ev, printed);
    }

    /// Evaluates the pending aggressive order, if any.
    #[cold]
    #[inline(never)]
    fn finish_sweep(
        &mut self,
        syms: &mut [Option<Box<SymbolState>>],
        emit: &mut impl FnMut(&Alert),
    ) {
        let Some(p) = self.sweep.take() else { return };
        let Some(st) = syms[p.book as usize].as_mut() else {
            return;
        };
        if p.sweep.in_close_window {
            if let (Some(d), Some(cs)) = (self.close.as_mut(), st.close.as_mut()) {
                d.on_sweep(&p.sweep, cs, emit);
            }
        }
        if p.sweep.aggressor == Side::Buy {
            if let Some(d) = self.coordinated.as_mut().filter(|d| d.small(p.sweep.qty)) {
                if let Some(cs) = st.coord.as_mut() {
                    let mut o = p.sweep.last;
                    o.role = "marketable_buy";
                    o.order_ref = 0;
                    o.match_number = 0;
                    o.side = Side::Buy;
                    o.mpid = [0; 4];
                    o.shares = p.sweep.qty.min(u32::MAX as u64) as u32;
                    d.on_buy(&o, cs, emit);
                }
            }
        }
    }

    /// Starts or extends the aggressive order (sweep) the execution `x` of `ev` belongs to (`median`: the symbol's
    /// median displayed size).
    fn track_sweep(&mut self, st: &mut SymbolState, ev: &BookEvent, x: Exec, median: u32) {
        if let Some(p) = self.sweep.as_mut() {
            // Continuation (checked by the caller: same book, ts and aggressor).
            let sw = &mut p.sweep;
            sw.qty += x.qty as u64;
            sw.fills += 1;
            sw.last_price = x.price;
            sw.last = EvidenceOrder::from_event("sweep_execution", ev);
            return;
        }
        let (in_close_window, vwap_before) = match self.close.as_ref() {
            Some(d) if d.in_window(ev.ts_ns) => match st.close.as_mut() {
                Some(cs) => (true, cs.vwap_totals(ev.ts_ns)),
                None => (false, Default::default()),
            },
            _ => (false, Default::default()),
        };
        let e = EvidenceOrder::from_event("sweep_execution", ev);
        self.sweep = Some(PendingSweep {
            book: ev.book,
            sweep: Sweep {
                aggressor: x.aggressor,
                ts: ev.ts_ns,
                qty: x.qty as u64,
                fills: 1,
                price_before: st.last_price,
                last_price: x.price,
                vwap_before,
                in_close_window,
                median,
                first: e,
                last: e,
            },
        });
    }
}

#[inline]
fn median_of(m: &mut StreamingMedian, min: usize) -> u32 {
    if m.len() >= min.max(1) {
        m.median()
    } else {
        0
    }
}
