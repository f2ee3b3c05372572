//! Per-symbol windowed features over event time: message rate, adds / cancels / deletes / replaces / executions,
//! traded volume and notional, VWAP, order-to-trade ratio, cancel rate, median displayed order size, realised move
//! in bps, and the touch. A sliding window (O(1) amortised update, see [`crate::window`]) is kept when something
//! reads it ([`crate::DetectorSet::keep_sliding_features`]; the runtime asks for it when CEP rules use features);
//! tumbling records are produced when [`FeaturesConfig::tumbling_ms`](crate::config::FeaturesConfig) is set.
//!
//! Features are read by other stages (CEP rules) through [`crate::DetectorSet::features`] (a `Copy`
//! [`FeatureSnapshot`]), and can be emitted as JSON records ([`FeatureSnapshot::write_json`]).
//!
//! Counting conventions (ITCH): *order messages* are adds (`A`, `F`), cancels (`X`), deletes (`D`) and replaces
//! (`U`); *executions* are `E`, `C` and `P`; traded volume and notional count printable executions (`E`, printable
//! `C`, `P`) and crosses (`Q`). IEX trade reports count as executions and volume; IEX price-level updates count only
//! as messages.

use std::ops::{AddAssign, SubAssign};

use book::event::flags;
use book::{BookEvent, EventKind, Price, Symbol};

use crate::json;
use crate::window::TumblingWindow;

/// Counters of one bucket (or one tumbling interval).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeatureCounts {
    /// Every event of the symbol.
    pub messages: u32,
    /// Adds.
    pub adds: u32,
    /// Partial cancels.
    pub cancels: u32,
    /// Deletes.
    pub deletes: u32,
    /// Replaces.
    pub replaces: u32,
    /// Executions (E, C, P; IEX trades).
    pub executions: u32,
    /// Traded shares (printable executions and crosses).
    pub volume: u64,
    /// Traded notional in price ticks × shares (divide by 10 000 for currency).
    pub notional: u128,
}

impl AddAssign for FeatureCounts {
    #[inline]
    fn add_assign(&mut self, o: Self) {
        self.messages += o.messages;
        self.adds += o.adds;
        self.cancels += o.cancels;
        self.deletes += o.deletes;
        self.replaces += o.replaces;
        self.executions += o.executions;
        self.volume += o.volume;
        self.notional += o.notional;
    }
}

impl SubAssign for FeatureCounts {
    #[inline]
    fn sub_assign(&mut self, o: Self) {
        self.messages -= o.messages;
        self.adds -= o.adds;
        self.cancels -= o.cancels;
        self.deletes -= o.deletes;
        self.replaces -= o.replaces;
        self.executions -= o.executions;
        self.volume -= o.volume;
        self.notional -= o.notional;
    }
}

impl FeatureCounts {
    /// Order messages: adds + cancels + deletes + replaces.
    #[inline]
    pub fn order_messages(&self) -> u32 {
        self.adds + self.cancels + self.deletes + self.replaces
    }

    /// Whether an event of `kind` counts as an order message (add, partial cancel, delete, replace): the same
    /// classification as [`of_event`](Self::of_event), without building the counters.
    #[inline]
    pub(crate) fn is_order_message(kind: EventKind) -> bool {
        matches!(
            kind,
            EventKind::Add | EventKind::Cancel | EventKind::Delete | EventKind::Replace
        )
    }

    /// Whether an event of `kind` counts as an execution (see [`is_order_message`](Self::is_order_message)).
    #[inline]
    pub(crate) fn is_execution(kind: EventKind) -> bool {
        matches!(
            kind,
            EventKind::Execute
                | EventKind::ExecuteWithPrice
                | EventKind::HiddenTrade
                | EventKind::Trade
        )
    }

    /// The counters contributed by one event.
    #[inline]
    pub fn of_event(ev: &BookEvent) -> FeatureCounts {
        let mut c = FeatureCounts {
            messages: 1,
            ..FeatureCounts::default()
        };
        match ev.kind {
            EventKind::Add => c.adds = 1,
            EventKind::Cancel => c.cancels = 1,
            EventKind::Delete => c.deletes = 1,
            EventKind::Replace => c.replaces = 1,
            EventKind::Execute
            | EventKind::ExecuteWithPrice
            | EventKind::HiddenTrade
            | EventKind::Trade => {
                c.executions = 1;
                if ev.kind != EventKind::ExecuteWithPrice || ev.has(flags::PRINTABLE) {
                    c.volume = ev.qty as u64;
                    c.notional = (ev.price.max(0) as u128) * ev.qty as u128;
                }
            }
            EventKind::CrossTrade => {
                c.volume = ev.qty as u64;
                c.notional = (ev.price.max(0) as u128) * ev.qty as u128;
            }
            _ => {}
        }
        c
    }
}

/// One bucket of the sliding feature window: counters plus the first and last trade price in it (64 bytes:
/// one cache line, aligned on one, so writing a bucket touches one line).
#[derive(Debug, Clone, Copy, Default)]
#[repr(align(64))]
struct FeatureBucket {
    counts: FeatureCounts,
    first_price: Price,
    last_price: Price,
}

/// Buckets of the sliding feature window (its granularity is window / 20, i.e. 5 %).
pub(crate) const FEATURE_BUCKETS: usize = 20;

/// Sliding window of [`FeatureCounts`] with first/last trade prices per bucket (for the realised move). Buckets are
/// inline and the newest bucket's end and slot are kept, as in [`crate::window::SlidingWindow`].
/// Layout: `repr(C)`, aligned on a cache line; the fields an update reads come first and fit in that line (the
/// total, used once the features are read, follows).
#[derive(Debug, Clone)]
#[repr(C, align(64))]
pub(crate) struct FeatureWindow {
    width: crate::window::Divisor,
    head: u64,
    /// End (exclusive) of the newest bucket.
    head_end: u64,
    /// `head % FEATURE_BUCKETS`.
    slot: usize,
    /// Slots that hold a value (a clear bit reads as an empty bucket; see `SlidingWindow`).
    occupied: u64,
    /// Whether `total` is maintained. The total is only needed when the features are read, which most
    /// pipelines never do: until the first read the window only keeps its buckets (an update then writes one
    /// bucket and never reads the buckets that fall out); the first read sums the buckets and from then on the
    /// total is kept incrementally (a reader usually reads at every event). Sums are integers, so both give
    /// the same figures.
    eager: bool,
    /// Total of the occupied buckets (valid when `eager`).
    total: FeatureCounts,
    buckets: [FeatureBucket; FEATURE_BUCKETS],
}

impl FeatureWindow {
    pub(crate) fn new(window_ns: u64) -> Self {
        const { assert!(FEATURE_BUCKETS <= 64) };
        FeatureWindow {
            width: crate::window::Divisor::new(window_ns / FEATURE_BUCKETS as u64),
            head: u64::MAX,
            head_end: 0,
            slot: 0,
            occupied: 0,
            eager: false,
            total: FeatureCounts::default(),
            buckets: [FeatureBucket::default(); FEATURE_BUCKETS],
        }
    }

    #[inline]
    fn advance(&mut self, ts: u64) {
        if ts >= self.head_end {
            self.advance_to(ts);
        }
    }

    #[inline(never)]
    fn advance_to(&mut self, ts: u64) {
        const N: usize = FEATURE_BUCKETS;
        let idx = self.width.div(ts);
        let end = idx.saturating_add(1).saturating_mul(self.width.get());
        if self.head == u64::MAX {
            self.head = idx;
            self.head_end = end;
            self.slot = (idx % N as u64) as usize;
            return;
        }
        let gap = idx - self.head; // ≥ 1
        let steps = gap.min(N as u64);
        let first = if self.slot + 1 == N { 0 } else { self.slot + 1 };
        let leaving = crate::window::ring_range_mask(first as u32, steps as u32, N as u32);
        let mut m = self.occupied & leaving;
        if !self.eager {
            // No total to maintain: the buckets that fall out are just marked empty.
        } else if m == self.occupied {
            // Every occupied bucket falls out: the window is empty (stale slots are overwritten when reused).
            self.total = FeatureCounts::default();
        } else {
            while m != 0 {
                let slot = m.trailing_zeros() as usize;
                m &= m - 1;
                let old = self.buckets[slot].counts;
                self.total -= old;
            }
        }
        self.occupied &= !leaving;
        self.slot = if gap < N as u64 {
            let s = self.slot + gap as usize;
            if s >= N {
                s - N
            } else {
                s
            }
        } else {
            (idx % N as u64) as usize
        };
        self.head = idx;
        self.head_end = end;
    }

    #[inline]
    pub(crate) fn add(&mut self, ts: u64, c: FeatureCounts, trade_price: Option<Price>) {
        self.advance(ts);
        let slot = self.slot;
        if self.occupied & (1 << slot) == 0 {
            // An unoccupied slot reads as empty whatever it stores: overwrite it (one store, no load).
            let p = trade_price.unwrap_or(0);
            self.buckets[slot] = FeatureBucket {
                counts: c,
                first_price: p,
                last_price: p,
            };
        } else {
            let b = &mut self.buckets[slot];
            b.counts += c;
            if let Some(p) = trade_price {
                if b.first_price == 0 {
                    b.first_price = p;
                }
                b.last_price = p;
            }
        }
        self.occupied |= 1 << slot;
        if self.eager {
            self.total += c;
        }
    }

    /// (window start, totals, first trade price, last trade price) as of `now` (advances the window).
    fn read(&mut self, now: u64) -> (u64, FeatureCounts, Price, Price) {
        self.advance(now);
        if !self.eager {
            let mut total = FeatureCounts::default();
            let mut m = self.occupied;
            while m != 0 {
                let slot = m.trailing_zeros() as usize;
                m &= m - 1;
                total += self.buckets[slot].counts;
            }
            self.total = total;
            self.eager = true;
        }
        let n = FEATURE_BUCKETS as u64;
        let first_abs = (self.head + 1).saturating_sub(n);
        let mut first = 0;
        let mut last = 0;
        for abs in first_abs..=self.head {
            let slot = (abs % n) as usize;
            if self.occupied & (1 << slot) == 0 {
                continue; // stale slot: empty
            }
            let b = &self.buckets[slot];
            if b.first_price != 0 {
                if first == 0 {
                    first = b.first_price;
                }
                last = b.last_price;
            }
        }
        (first_abs * self.width.get(), self.total, first, last)
    }
}

/// A point-in-time view of one symbol's features. `Copy`, no heap.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeatureSnapshot {
    /// Stock locate.
    pub stock_locate: u16,
    /// Symbol.
    pub symbol: Symbol,
    /// `"sliding"` or `"tumbling"`.
    pub kind: &'static str,
    /// Start of the window (feed time, ns).
    pub window_start_ns: u64,
    /// End of the window (feed time, ns; the last event for sliding snapshots).
    pub window_end_ns: u64,
    /// Counters over the window.
    pub counts: FeatureCounts,
    /// Messages per second over the window length.
    pub message_rate_per_s: f64,
    /// Order messages / max(executions, 1).
    pub order_to_trade: f64,
    /// (cancels + deletes + replaces) / max(adds, 1).
    pub cancel_rate: f64,
    /// Volume-weighted average price in ticks (0 when nothing traded).
    pub vwap: Price,
    /// Median displayed order size (last N orders; 0 when unknown).
    pub median_order_size: u32,
    /// Realised move over the window: (last − first trade price) / first, in bps (0 with < 1 trade).
    pub move_bps: f64,
    /// Last trade price (ticks; 0 when none yet today).
    pub last_price: Price,
    /// Best bid after the last event (0 = none).
    pub bid_price: Price,
    /// Shares at the best bid.
    pub bid_qty: u32,
    /// Best offer after the last event (0 = none).
    pub ask_price: Price,
    /// Shares at the best offer.
    pub ask_qty: u32,
}

impl FeatureSnapshot {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn build(
        stock_locate: u16,
        symbol: Symbol,
        kind: &'static str,
        start: u64,
        end: u64,
        length_ns: u64,
        counts: FeatureCounts,
        first_price: Price,
        last_window_price: Price,
        median: u32,
        last_price: Price,
        bbo: (Price, u32, Price, u32),
    ) -> FeatureSnapshot {
        let secs = length_ns.max(1) as f64 / 1e9;
        let vwap = if counts.volume > 0 {
            (counts.notional / counts.volume as u128) as Price
        } else {
            0
        };
        let move_bps = if first_price > 0 && last_window_price > 0 {
            crate::ctx::price_diff(last_window_price, first_price) / first_price as f64 * 1e4
        } else {
            0.0
        };
        FeatureSnapshot {
            stock_locate,
            symbol,
            kind,
            window_start_ns: start,
            window_end_ns: end,
            counts,
            message_rate_per_s: counts.messages as f64 / secs,
            order_to_trade: counts.order_messages() as f64 / counts.executions.max(1) as f64,
            cancel_rate: (counts.cancels + counts.deletes + counts.replaces) as f64
                / counts.adds.max(1) as f64,
            vwap,
            median_order_size: median,
            move_bps,
            last_price,
            bid_price: bbo.0,
            bid_qty: bbo.1,
            ask_price: bbo.2,
            ask_qty: bbo.3,
        }
    }

    /// Appends the snapshot as one JSON object (no newline): `{"record":"features","kind",...}`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        json::write_key(out, "record");
        json::write_str(out, "features");
        out.push(b',');
        json::write_key(out, "kind");
        json::write_str(out, self.kind);
        out.push(b',');
        json::write_key(out, "symbol");
        json::write_str(out, self.symbol.as_str());
        let c = &self.counts;
        let ints: [(&str, u64); 11] = [
            ("stock_locate", self.stock_locate as u64),
            ("window_start_ns", self.window_start_ns),
            ("window_end_ns", self.window_end_ns),
            ("messages", c.messages as u64),
            ("adds", c.adds as u64),
            ("cancels", c.cancels as u64),
            ("deletes", c.deletes as u64),
            ("replaces", c.replaces as u64),
            ("executions", c.executions as u64),
            ("volume", c.volume),
            ("median_order_size", self.median_order_size as u64),
        ];
        for (k, v) in ints {
            out.push(b',');
            json::write_key(out, k);
            json::write_u64(out, v);
        }
        let floats: [(&str, f64); 4] = [
            ("notional", c.notional as f64 / 1e4),
            ("message_rate_per_s", self.message_rate_per_s),
            ("order_to_trade", self.order_to_trade),
            ("cancel_rate", self.cancel_rate),
        ];
        for (k, v) in floats {
            out.push(b',');
            json::write_key(out, k);
            json::write_f64(out, v);
        }
        out.push(b',');
        json::write_key(out, "move_bps");
        json::write_f64(out, self.move_bps);
        let prices: [(&str, Price); 4] = [
            ("vwap", self.vwap),
            ("last_price", self.last_price),
            ("bid_price", self.bid_price),
            ("ask_price", self.ask_price),
        ];
        for (k, p) in prices {
            out.push(b',');
            json::write_key(out, k);
            if p == 0 {
                out.extend_from_slice(b"null");
            } else {
                json::write_price(out, p);
            }
        }
        out.push(b',');
        json::write_key(out, "bid_qty");
        json::write_u64(out, self.bid_qty as u64);
        out.push(b',');
        json::write_key(out, "ask_qty");
        json::write_u64(out, self.ask_qty as u64);
        out.push(b'}');
    }
}

/// Tumbling accumulator: counters plus first/last trade price of the open interval.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TumblingAcc {
    pub(crate) counts: FeatureCounts,
    pub(crate) first_price: Price,
    pub(crate) last_price: Price,
}

impl AddAssign for TumblingAcc {
    fn add_assign(&mut self, o: Self) {
        self.counts += o.counts;
        if self.first_price == 0 {
            self.first_price = o.first_price;
        }
        if o.last_price != 0 {
            self.last_price = o.last_price;
        }
    }
}

impl SubAssign for TumblingAcc {
    fn sub_assign(&mut self, o: Self) {
        self.counts -= o.counts;
    }
}

/// The feature state of one symbol.
#[derive(Debug, Clone)]
pub(crate) struct SymbolFeatures {
    pub(crate) sliding: FeatureWindow,
    pub(crate) tumbling: Option<TumblingWindow<TumblingAcc>>,
    pub(crate) window_ns: u64,
}

impl SymbolFeatures {
    pub(crate) fn new(window_ns: u64, tumbling_ns: u64) -> Self {
        SymbolFeatures {
            sliding: FeatureWindow::new(window_ns),
            tumbling: (tumbling_ns > 0).then(|| TumblingWindow::new(tumbling_ns)),
            window_ns,
        }
    }

    /// Sliding snapshot as of `now`.
    pub(crate) fn snapshot(
        &mut self,
        now: u64,
        stock_locate: u16,
        symbol: Symbol,
        median: u32,
        last_price: Price,
        bbo: (Price, u32, Price, u32),
    ) -> FeatureSnapshot {
        let (start, counts, first, last) = self.sliding.read(now);
        FeatureSnapshot::build(
            stock_locate,
            symbol,
            "sliding",
            start,
            now,
            self.window_ns,
            counts,
            first,
            last,
            median,
            last_price,
            bbo,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_classification_matches_the_counters() {
        for k in 0..=17u8 {
            let mut ev = BookEvent::EMPTY;
            let Some(kind) = kind_of(k) else { continue };
            ev.kind = kind;
            ev.qty = 100;
            ev.price = 10_000;
            let c = FeatureCounts::of_event(&ev);
            assert_eq!(
                c.order_messages() > 0,
                FeatureCounts::is_order_message(kind),
                "{kind:?}"
            );
            assert_eq!(
                c.executions > 0,
                FeatureCounts::is_execution(kind),
                "{kind:?}"
            );
        }
    }

    fn kind_of(k: u8) -> Option<EventKind> {
        use EventKind::*;
        [
            None,
            Add,
            Execute,
            ExecuteWithPrice,
            Cancel,
            Delete,
            Replace,
            HiddenTrade,
            CrossTrade,
            BrokenTrade,
            LevelUpdate,
            Quote,
            Trade,
            TradingStatus,
            OperationalHalt,
            SystemEvent,
            Directory,
            ClearBook,
        ]
        .get(k as usize)
        .copied()
    }

    /// A window read at every update (total kept from the start) and one read rarely (total summed at its first
    /// read) give the same figures, equal to a naive sum over the bucket-aligned window.
    #[test]
    fn lazy_and_eager_totals_agree() {
        const W: u64 = 60_000;
        let width = W / FEATURE_BUCKETS as u64;
        let mut every = FeatureWindow::new(W);
        let mut rare = FeatureWindow::new(W);
        let mut evs: Vec<(u64, FeatureCounts)> = Vec::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut t = 1_000u64;
        for i in 0..6_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            t += (x >> 33) % 2_500;
            if i % 211 == 0 {
                t += W + (x >> 40) % W;
            }
            let c = FeatureCounts {
                messages: 1,
                adds: ((x >> 5) & 1) as u32,
                executions: ((x >> 6) & 1) as u32,
                volume: (x >> 7) % 300,
                notional: ((x >> 9) % 100_000) as u128,
                ..FeatureCounts::default()
            };
            let p = ((x >> 11) % 3 == 0).then_some(((x >> 13) % 500 + 1) as Price);
            every.add(t, c, p);
            rare.add(t, c, p);
            evs.push((t, c));
            let r = every.read(t);
            let head = t / width;
            let first = (head + 1).saturating_sub(FEATURE_BUCKETS as u64);
            let mut naive = FeatureCounts::default();
            for (et, ec) in &evs {
                if (first..=head).contains(&(et / width)) {
                    naive += *ec;
                }
            }
            assert_eq!(r.1, naive, "at {i}");
            if i >= 3_000 && i % 37 == 0 {
                // `rare` kept no total for its first 3 000 updates.
                assert_eq!(rare.read(t), r, "at {i}");
            }
        }
    }

    fn trade(ts: u64, price: Price, qty: u32) -> BookEvent {
        let mut e = BookEvent::EMPTY;
        e.kind = EventKind::Execute;
        e.ts_ns = ts;
        e.price = price;
        e.qty = qty;
        e.flags = flags::PRINTABLE;
        e
    }

    #[test]
    fn sliding_features() {
        let mut f = SymbolFeatures::new(1_000_000_000, 0);
        let mut add = BookEvent::EMPTY;
        add.kind = EventKind::Add;
        for i in 0..10u64 {
            add.ts_ns = i * 10_000_000;
            f.sliding
                .add(add.ts_ns, FeatureCounts::of_event(&add), None);
        }
        let t1 = trade(200_000_000, 100_000, 100);
        f.sliding
            .add(t1.ts_ns, FeatureCounts::of_event(&t1), Some(t1.price));
        let t2 = trade(300_000_000, 101_000, 300);
        f.sliding
            .add(t2.ts_ns, FeatureCounts::of_event(&t2), Some(t2.price));
        let s = f.snapshot(300_000_000, 1, Symbol::new("X"), 100, 101_000, (0, 0, 0, 0));
        assert_eq!(s.counts.adds, 10);
        assert_eq!(s.counts.executions, 2);
        assert_eq!(s.counts.volume, 400);
        assert_eq!(s.vwap, 100_750);
        assert!((s.move_bps - 100.0).abs() < 1e-9);
        assert_eq!(s.order_to_trade, 5.0);
        assert_eq!(s.message_rate_per_s, 12.0);
        // 1.25 s later the adds have left the window, the trades not all.
        let s = f.snapshot(
            1_250_000_000,
            1,
            Symbol::new("X"),
            100,
            101_000,
            (0, 0, 0, 0),
        );
        assert_eq!(s.counts.adds, 0);
        assert_eq!(s.counts.executions, 1);
        let mut out = Vec::new();
        s.write_json(&mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["executions"], 1);
        assert_eq!(v["vwap"].as_f64(), Some(10.1));
    }

    #[test]
    fn non_printable_c_has_no_volume() {
        let mut e = trade(1, 100, 50);
        e.kind = EventKind::ExecuteWithPrice;
        e.flags = 0;
        let c = FeatureCounts::of_event(&e);
        assert_eq!(c.executions, 1);
        assert_eq!(c.volume, 0);
    }
}
