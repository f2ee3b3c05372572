//! Coordinated cross-symbol buying ("small, unusual buy orders across three different stocks within 3 s").
//!
//! **Qualifying buy order**: a buy of at most `max_shares` [200] shares that is marketable or improves the best bid:
//! an add (`A`/`F`) on the buy side priced above the best bid before it (or at/through the best offer, or into an
//! empty bid side); or an aggressive buy seen as a sweep of executions (see the marking-the-close module: same
//! symbol, same timestamp, buy aggressor) of at most `max_shares` in total.
//!
//! **Definition** (defaults in brackets, all in [`CoordinatedBuyingConfig`]):
//! - *by MPID* (`by_mpid` [true]): qualifying attributed adds (ITCH `F`) from one MPID in at least `min_symbols` [3]
//!   distinct symbols within `window_ms` [3 s]. (Executions do not carry the aggressor's MPID, so sweeps never
//!   count here.)
//! - *anonymous* (`anonymous` [true]): unattributed qualifying buys (adds without MPID and sweeps) in at least
//!   `min_symbols` distinct symbols, each of which is *unusual*: its count of qualifying buys in the trailing
//!   `window_ms` is ≥ `anon_rate_multiple` [10] × its baseline (qualifying buys over the trailing
//!   `anon_baseline_window_ms` [5 min] before the current 5-s bucket, scaled to the window length) and ≥
//!   `anon_min_orders_per_symbol` [4]. The symbols must become unusual within `window_ms` of each other.
//!
//! One episode, one alert per symbol (see **Alerts**): after an episode, that MPID (or, for the anonymous variant, any
//! set of symbols) stays quiet for `window_ms`, and the symbols that contributed cannot contribute again within that
//! time.
//!
//! Public definitions encoded: MAR Annex I A indicator (a) as specified by EU Delegated Regulation 2016/522 Annex II
//! Section 1 paragraph 1(a)(i) — "unusual concentration of transactions and/or orders to trade, whether generally,
//! or by only one person using one or different accounts, or by a limited number of persons" — and (ii), orders
//! with no other apparent justification than to increase the price; MAR Article 12(1)(a) (orders giving false or
//! misleading signals as to demand), here across related instruments.
//!
//! **Alerts**: one per symbol of the episode, all completed by the order that brings the count of symbols to the
//! minimum (same `event_ts_ns`, `seq`, window, score and evidence), with `symbol` / `stock_locate` set to each symbol
//! in turn — the completing order's symbol first, then the others in the order of the evidence's orders —
//! so that a consumer keyed by symbol (a Kafka partition, a case queue, a label per symbol) sees the episode in every
//! symbol it involves. `side` buy; window = earliest contributing order → completing order; evidence: `variant`
//! (`"mpid"`/`"anonymous"`), `mpid`, `symbols`, `completing_symbol`, and the contributing orders (anonymous: for
//! each symbol its latest qualifying order, with `count_in_window` and `baseline_per_window` figures for the
//! completing symbol).
//! **Score**: symbols / min_symbols (capped 10) — for the anonymous variant multiplied by the geometric mean of the
//! completing symbol's rate multiple / anon_rate_multiple (capped 10), square-rooted.

use book::{Side, Symbol};

use crate::alert::{Alert, DetectorKind, EvidenceOrder, Value, MAX_ORDERS};
use crate::config::{CoordinatedBuyingConfig, NS_PER_MS};
use crate::window::SlidingWindow;

/// Orders remembered per MPID.
const MPID_RING: usize = MAX_ORDERS;
/// Symbols that can be "unusual" at once.
const HOT: usize = 64;
/// Probe length of the MPID table.
const PROBE: usize = 16;

#[derive(Debug, Clone)]
struct MpidSlot {
    key: u32,
    last_ts: u64,
    /// No new alert for this MPID before this time (one alert per episode).
    quiet_until: u64,
    ring: [EvidenceOrder; MPID_RING],
    head: usize,
    len: usize,
}

#[derive(Debug, Clone, Copy)]
struct Hot {
    book: u16,
    /// When the symbol last qualified as unusual (it counts for the windows that hold that time).
    hot_ts: u64,
    count: u32,
    baseline: f64,
    last: EvidenceOrder,
}

/// Per-symbol state of the anonymous variant.
#[derive(Debug, Clone)]
pub(crate) struct CoordSym {
    win: SlidingWindow<u32, 30>,
    base: SlidingWindow<u32, 60>,
    /// Highest sliding-window count reached in each `PEAK_BUCKET_NS` bucket of the baseline period (ring).
    peaks: [u16; PEAK_BUCKETS],
    /// Absolute bucket number of the newest entry of `peaks` (`u64::MAX` = none).
    peak_head: u64,
}

/// P(N ≥ k) for N Poisson with mean `lambda` (summed from k upwards: accurate in the far tail).
fn poisson_tail(lambda: f64, k: u32) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if lambda <= 0.0 {
        return 0.0;
    }
    // term_k = e^-λ λ^k / k!
    let mut term = (-lambda).exp();
    for j in 1..=k {
        term *= lambda / j as f64;
    }
    let mut total = 0.0;
    let mut j = k;
    while term > total * 1e-12 && j < k + 200 {
        total += term;
        j += 1;
        term *= lambda / j as f64;
    }
    total.min(1.0)
}

/// Buckets of the trailing-peak ring (covering up to `PEAK_BUCKETS × PEAK_BUCKET_NS` = 10 min).
const PEAK_BUCKETS: usize = 120;
/// Width of a trailing-peak bucket.
const PEAK_BUCKET_NS: u64 = 5_000_000_000;

impl CoordSym {
    /// Records the sliding-window count `count` at `ts` in the trailing-peak ring.
    fn note_peak(&mut self, ts: u64, count: u32) {
        let b = ts / PEAK_BUCKET_NS;
        if self.peak_head == u64::MAX || b > self.peak_head {
            let from = if self.peak_head == u64::MAX {
                b
            } else {
                (self.peak_head + 1).max(b.saturating_sub(PEAK_BUCKETS as u64 - 1))
            };
            for x in from..=b {
                self.peaks[(x % PEAK_BUCKETS as u64) as usize] = 0;
            }
            self.peak_head = b;
        }
        if b + (PEAK_BUCKETS as u64) > self.peak_head {
            let e = &mut self.peaks[(b % PEAK_BUCKETS as u64) as usize];
            *e = (*e).max(count.min(u16::MAX as u32) as u16);
        }
    }

    /// Highest count recorded in buckets ending at or before `until` and starting after `since`.
    fn peak_between(&self, since: u64, until: u64) -> u32 {
        if self.peak_head == u64::MAX {
            return 0;
        }
        let first = (self.peak_head + 1).saturating_sub(PEAK_BUCKETS as u64);
        let mut m = 0u32;
        for x in first..=self.peak_head {
            let start = x * PEAK_BUCKET_NS;
            if start >= since && start.saturating_add(PEAK_BUCKET_NS) <= until {
                m = m.max(u32::from(self.peaks[(x % PEAK_BUCKETS as u64) as usize]));
            }
        }
        m
    }
}

impl CoordSym {
    pub(crate) fn new(cfg: &CoordinatedBuyingConfig) -> Self {
        CoordSym {
            win: SlidingWindow::new(cfg.window_ms * NS_PER_MS),
            base: SlidingWindow::new(cfg.anon_baseline_window_ms * NS_PER_MS),
            peaks: [0; PEAK_BUCKETS],
            peak_head: u64::MAX,
        }
    }
}

/// The coordinated-buying detector (holds the cross-symbol state).
#[derive(Debug, Clone)]
pub(crate) struct CoordinatedBuying {
    cfg: CoordinatedBuyingConfig,
    window_ns: u64,
    mpids: Box<[MpidSlot]>,
    mask: usize,
    hot: [Option<Hot>; HOT],
    /// Symbols that contributed to an anonymous alert, and until when they may not contribute again.
    used: [(u16, u64); HOT],
    /// The latest `until` in `used` (no scan needed after it).
    used_until_max: u64,
    /// No new anonymous alert before this time (one alert per episode).
    anon_quiet_until: u64,
    /// Feed time of the first execution seen in any symbol (0 = none yet): continuous trading has started, and
    /// baselines are rates over the time since then.
    first_trade_ts: u64,
    /// Qualifying attributed orders ignored because the MPID table was full.
    pub(crate) dropped_mpid: u64,
    /// Unusual symbols ignored because the hot list was full.
    pub(crate) dropped_hot: u64,
}

const EMPTY_EO: EvidenceOrder = EvidenceOrder {
    role: "",
    action: book::EventKind::None,
    ts_ns: 0,
    seq: 0,
    order_ref: 0,
    match_number: 0,
    price: 0,
    shares: 0,
    book: 0,
    symbol: Symbol::EMPTY,
    side: Side::None,
    mpid: [0; 4],
};

impl CoordinatedBuying {
    pub(crate) fn new(cfg: &CoordinatedBuyingConfig) -> Self {
        let cap = cfg.max_mpids.next_power_of_two().max(PROBE);
        let empty = MpidSlot {
            key: 0,
            last_ts: 0,
            quiet_until: 0,
            ring: [EMPTY_EO; MPID_RING],
            head: 0,
            len: 0,
        };
        CoordinatedBuying {
            cfg: cfg.clone(),
            window_ns: cfg.window_ms * NS_PER_MS,
            mpids: vec![empty; if cfg.by_mpid { cap } else { 1 }].into_boxed_slice(),
            mask: if cfg.by_mpid { cap - 1 } else { 0 },
            hot: [None; HOT],
            used: [(0, 0); HOT],
            used_until_max: 0,
            anon_quiet_until: 0,
            first_trade_ts: 0,
            dropped_mpid: 0,
            dropped_hot: 0,
        }
    }

    /// Notes an execution (the first one starts the baseline history of every symbol).
    #[inline]
    pub(crate) fn note_trade(&mut self, ts: u64) {
        if self.first_trade_ts == 0 {
            self.first_trade_ts = ts.max(1);
        }
    }

    /// Whether an order of `qty` shares can qualify at all.
    #[inline]
    pub(crate) fn small(&self, qty: u64) -> bool {
        qty > 0 && qty <= self.cfg.max_shares as u64
    }

    /// A qualifying buy (see the module docs). `o` describes the order (its `mpid` decides the variant).
    #[inline]
    pub(crate) fn on_buy(
        &mut self,
        o: &EvidenceOrder,
        s: &mut CoordSym,
        out: &mut impl FnMut(&Alert),
    ) {
        let attributed = o.mpid.iter().any(|&b| b != 0 && b != b' ');
        if attributed {
            if self.cfg.by_mpid {
                self.on_mpid_buy(o, out);
            }
        } else if self.cfg.anonymous {
            self.on_anonymous_buy(o, s, out);
        }
    }

    fn on_mpid_buy(&mut self, o: &EvidenceOrder, out: &mut impl FnMut(&Alert)) {
        let key = u32::from_be_bytes(o.mpid);
        let ts = o.ts_ns;
        let oldest = ts.saturating_sub(self.window_ns);
        let home = (key.wrapping_mul(0x9e37_79b9) >> 7) as usize & self.mask;
        let mut found = None;
        let mut free = None;
        for k in 0..PROBE.min(self.mpids.len()) {
            let i = (home + k) & self.mask;
            let slot = &self.mpids[i];
            if slot.key == key {
                found = Some(i);
                break;
            }
            if free.is_none() && (slot.key == 0 || slot.last_ts < oldest) {
                free = Some(i);
            }
        }
        let i = match (found, free) {
            (Some(i), _) => i,
            (None, Some(i)) => {
                let slot = &mut self.mpids[i];
                slot.key = key;
                slot.len = 0;
                slot.head = 0;
                slot.quiet_until = 0;
                i
            }
            (None, None) => {
                self.dropped_mpid += 1;
                return;
            }
        };
        let slot = &mut self.mpids[i];
        slot.last_ts = ts;
        // Drop orders that left the window.
        while slot.len > 0 && slot.ring[slot.head].ts_ns < oldest {
            slot.head = (slot.head + 1) % MPID_RING;
            slot.len -= 1;
        }
        let pos = (slot.head + slot.len) % MPID_RING;
        slot.ring[pos] = *o;
        if slot.len == MPID_RING {
            slot.head = (slot.head + 1) % MPID_RING;
        } else {
            slot.len += 1;
        }
        // Distinct symbols.
        let mut books = [0u16; MPID_RING];
        let mut nb = 0;
        for k in 0..slot.len {
            let b = slot.ring[(slot.head + k) % MPID_RING].book;
            if !books[..nb].contains(&b) {
                books[nb] = b;
                nb += 1;
            }
        }
        if nb < self.cfg.min_symbols || ts < slot.quiet_until {
            return;
        }
        let first = slot.ring[slot.head];
        let mut a = Alert {
            detector: DetectorKind::CoordinatedBuying.into(),
            symbol: o.symbol,
            stock_locate: o.book,
            side: Side::Buy,
            event_ts_ns: ts,
            window_start_ns: first.ts_ns,
            window_end_ns: ts,
            score: (nb as f64 / self.cfg.min_symbols as f64).min(10.0),
            seq: o.seq,
            evidence: Default::default(),
        };
        a.evidence
            .figure("variant", Value::text(b"mpid"))
            .figure("mpid", Value::text(&o.mpid))
            .figure("symbols", nb)
            .figure("orders", slot.len)
            .figure("span_ns", ts.saturating_sub(first.ts_ns));
        a.evidence.figure(
            "completing_symbol",
            Value::text(o.symbol.as_str().as_bytes()),
        );
        let mut syms = [(0u16, Symbol::EMPTY); MPID_RING];
        let mut ns = 0;
        for k in 0..slot.len {
            let mut e = slot.ring[(slot.head + k) % MPID_RING];
            e.role = "buy_order";
            a.evidence.order(e);
            if !syms[..ns].iter().any(|&(b, _)| b == e.book) {
                syms[ns] = (e.book, e.symbol);
                ns += 1;
            }
        }
        slot.len = 0;
        slot.quiet_until = ts.saturating_add(self.window_ns);
        emit_per_symbol(&mut a, &syms[..ns], out);
    }

    fn on_anonymous_buy(
        &mut self,
        o: &EvidenceOrder,
        s: &mut CoordSym,
        out: &mut impl FnMut(&Alert),
    ) {
        let ts = o.ts_ns;
        s.win.add(ts, 1);
        s.base.add(ts, 1);
        let count = s.win.total();
        if self.cfg.anon_exceed_trailing_peak {
            s.note_peak(ts, count);
        }
        if count < self.cfg.anon_min_orders_per_symbol || self.first_trade_ts == 0 {
            return;
        }
        // Baseline: qualifying buys over the baseline period before the newest bucket, as a rate over the part of
        // that period since the symbol's first execution.
        let newest_start = ts - ts % s.base.bucket_width_ns();
        let base_span = (s.base.window_ns() - s.base.bucket_width_ns())
            .min(newest_start.saturating_sub(self.first_trade_ts));
        if base_span < self.cfg.anon_min_history_ms * NS_PER_MS {
            return;
        }
        let baseline = s.base.total_before_newest() as f64 * s.win.window_ns() as f64
            / base_span.max(1) as f64;
        if (count as f64) < self.cfg.anon_rate_multiple * baseline {
            return;
        }
        let chance = poisson_tail(baseline, count);
        if chance > self.cfg.anon_max_chance {
            return;
        }
        let mut peak = 0;
        if self.cfg.anon_exceed_trailing_peak {
            // Peaks of buckets that ended before the current window began, within the baseline history.
            let since = newest_start.saturating_sub(base_span);
            peak = s.peak_between(since, ts.saturating_sub(self.window_ns));
            if count <= peak {
                return;
            }
        }
        if ts < self.used_until_max
            && self
                .used
                .iter()
                .any(|&(b, until)| until > ts && b == o.book)
        {
            return;
        }
        let oldest = ts.saturating_sub(self.window_ns);
        for h in self.hot.iter_mut() {
            if h.is_some_and(|h| h.hot_ts < oldest) {
                *h = None;
            }
        }
        let mut e = *o;
        e.role = "buy_order";
        if let Some(h) = self.hot.iter_mut().flatten().find(|h| h.book == o.book) {
            // Unusual again: the symbol counts for the 3 s windows that hold this buy.
            h.hot_ts = ts;
            h.count = count;
            h.baseline = baseline;
            h.last = e;
        } else if let Some(slot) = self.hot.iter_mut().find(|h| h.is_none()) {
            *slot = Some(Hot {
                book: o.book,
                hot_ts: ts,
                count,
                baseline,
                last: e,
            });
        } else {
            self.dropped_hot += 1;
            return;
        }
        let n = self.hot.iter().flatten().count();
        if n < self.cfg.min_symbols || ts < self.anon_quiet_until {
            return;
        }
        let start = self
            .hot
            .iter()
            .flatten()
            .map(|h| h.hot_ts)
            .min()
            .unwrap_or(ts);
        let m_sym = (n as f64 / self.cfg.min_symbols as f64).min(10.0);
        let m_rate = if baseline > 0.0 && self.cfg.anon_rate_multiple > 0.0 {
            (count as f64 / baseline / self.cfg.anon_rate_multiple).min(10.0)
        } else {
            10.0
        };
        let mut a = Alert {
            detector: DetectorKind::CoordinatedBuying.into(),
            symbol: o.symbol,
            stock_locate: o.book,
            side: Side::Buy,
            event_ts_ns: ts,
            window_start_ns: start,
            window_end_ns: ts,
            score: (m_sym * m_rate).sqrt(),
            seq: o.seq,
            evidence: Default::default(),
        };
        a.evidence
            .figure("variant", Value::text(b"anonymous"))
            .figure("symbols", n)
            .figure("count_in_window", count)
            .figure("baseline_per_window", baseline)
            .figure("trailing_peak", peak)
            .figure("chance", chance)
            .figure("span_ns", ts.saturating_sub(start));
        a.evidence.figure(
            "completing_symbol",
            Value::text(o.symbol.as_str().as_bytes()),
        );
        let until = ts.saturating_add(self.window_ns);
        self.anon_quiet_until = until;
        self.used_until_max = until;
        let mut syms = [(0u16, Symbol::EMPTY); HOT];
        let mut ns = 0;
        for h in self.hot.iter_mut() {
            if let Some(hh) = h.take() {
                a.evidence.order(hh.last);
                syms[ns] = (hh.book, hh.last.symbol);
                ns += 1;
                if let Some(u) = self.used.iter_mut().find(|(_, t)| *t <= ts) {
                    *u = (hh.book, until);
                }
            }
        }
        emit_per_symbol(&mut a, &syms[..ns], out);
    }
}

/// Hands out the alert `a` (built for the completing order's symbol) once for that symbol, then once for each other
/// symbol of `syms` (book, symbol) in their order: the same record and evidence, `symbol` and `stock_locate` set to
/// that symbol's.
fn emit_per_symbol(a: &mut Alert, syms: &[(u16, Symbol)], out: &mut impl FnMut(&Alert)) {
    let completing = a.stock_locate;
    out(a);
    for &(book, symbol) in syms.iter().filter(|&&(b, _)| b != completing) {
        a.stock_locate = book;
        a.symbol = symbol;
        out(a);
    }
}
