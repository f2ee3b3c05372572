//! Layering.
//!
//! **Definition** (defaults in brackets, all in [`LayeringConfig`]): at least `min_orders` [3] orders on one side at
//! at least `min_levels` [3] distinct price levels, all placed within `placement_window_ms` [1 s], each of size ≥
//! `size_multiple` [2] × the symbol's median displayed order size and still resting unexecuted; then an execution
//! against a resting order on the *opposite* side within `execution_within_ms` [5 s] of the last of those
//! placements; then at least `cancel_fraction` [80 %] of the layered quantity (the layer orders' resting shares at
//! that execution) cancelled within `cancel_within_ms` [1 s] of that execution. With `group_by_mpid` [true],
//! attributed orders (ITCH `F`) are grouped by MPID and anonymous orders form one group per symbol and side.
//!
//! The layer is chosen at the execution: among the group's qualifying orders, the placement window (anchored at each
//! order) holding the most distinct price levels (then the most orders, then the latest) — *all* qualifying orders
//! of the group in that window belong to the layer, so the cancelled fraction is measured against the whole layer,
//! never against a convenient subset. While none of an armed layer's orders has been cancelled yet, a later
//! opposite execution re-arms it (the cancellation window then runs from that execution). Replacing a layer order
//! (ITCH `U`, or a DEEP+ modify losing priority) withdraws it and counts as cancelling its resting shares; a DEEP+
//! modify keeping priority counts the shares it removes. One alert per episode: after an alert, the
//! same side and group arm no new layer for `cancel_within_ms`.
//!
//! Public definitions encoded: MAR Annex I A indicator (e) as specified by EU Delegated Regulation 2016/522 Annex II
//! Section 1 — "layering and spoofing": multiple orders, often away from the touch, on one side of the book with the
//! intention of executing a trade on the other side, removed once that trade has taken place; FINRA Rule 5210
//! Supplementary Material .03(a) (a frequent pattern of multiple limit orders at various price levels on one side,
//! an execution of orders on the opposite side, then the cancellation of the first orders); CME Rule 575.A–B.
//!
//! **Alert**: completed by the cancel that reaches the fraction; `side` = the layered side; window = first placement
//! → that cancel; evidence: the layer orders, the opposite execution, the completing cancel; figures
//! `layer_orders`, `layer_levels`, `layered_shares`, `cancelled_shares`, `cancelled_fraction`,
//! `median_order_size`, `execution_ts_ns`, `mpid` (when grouped by MPID).
//! **Score**: geometric mean of levels / min_levels, cancelled fraction / threshold and
//! (mean size / median) / size_multiple, each capped at 10.

use book::{EventKind, Price, Side};

use crate::alert::{Alert, DetectorKind, EvidenceOrder, Value, MAX_ORDERS};
use crate::config::{LayeringConfig, NS_PER_MS};
use crate::ctx::{Ctx, Exec, NewOrder, Withdrawal};
use crate::refindex::{RefFilter, RefTable, Tracked};

/// Upper bound of tracked orders per symbol (the config value is clamped to this).
pub(crate) const MAX_TRACKED: usize = 1024;
/// Layer members remembered per arm.
const MAX_MEMBERS: usize = 16;
/// Armed layers per symbol.
const ARMS: usize = 4;

/// A tracked large order: the part read when scanning the ring ([`Meta`]) and the rest ([`Info`]); its resting
/// shares are in its entry of the detector's table ([`Tracked`]).
#[derive(Debug, Clone, Copy, Default)]
struct Meta {
    ts: u64,
    side: Side,
    mpid: [u8; 4],
}

#[derive(Debug, Clone, Copy, Default)]
struct Info {
    order_ref: u64,
    price: Price,
    seq: u64,
    size: u32,
    median: u32,
}

/// Slots per ring block.
const BLOCK: usize = 4;

/// [`BLOCK`] consecutive ring slots: their `Meta`s share one cache line (a scan reads 4 slots per line) and each
/// `Info` sits within one line.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(64))]
struct Block {
    meta: [Meta; BLOCK],
    info: [Info; BLOCK],
}

const _: () = assert!(std::mem::size_of::<Meta>() * BLOCK == 64);
const _: () = assert!(std::mem::size_of::<Info>() == 32);

#[derive(Debug, Clone, Copy, Default)]
struct Member {
    order_ref: u64,
    price: Price,
    resting: u32,
    cancelled: u32,
    ts: u64,
    seq: u64,
}

#[derive(Debug, Clone, Copy)]
struct Arm {
    active: bool,
    side: Side,
    mpid: [u8; 4],
    exec: EvidenceOrder,
    deadline: u64,
    members: [Member; MAX_MEMBERS],
    n: usize,
    total_orders: usize,
    levels: usize,
    layered: u64,
    cancelled: u64,
    first_ts: u64,
    median: u32,
    size_sum: u64,
    /// The symbol's withdrawal hazard of qualifying orders at the execution (before the layer's own cancels).
    hazard: f64,
}

const NO_EXEC: EvidenceOrder = EvidenceOrder {
    role: "",
    action: EventKind::None,
    ts_ns: 0,
    seq: 0,
    order_ref: 0,
    match_number: 0,
    price: 0,
    shares: 0,
    book: 0,
    symbol: book::Symbol::EMPTY,
    side: Side::None,
    mpid: [0; 4],
};

impl Arm {
    const IDLE: Arm = Arm {
        active: false,
        side: Side::None,
        mpid: [0; 4],
        exec: NO_EXEC,
        deadline: 0,
        members: [Member {
            order_ref: 0,
            price: 0,
            resting: 0,
            cancelled: 0,
            ts: 0,
            seq: 0,
        }; MAX_MEMBERS],
        n: 0,
        total_orders: 0,
        levels: 0,
        layered: 0,
        cancelled: 0,
        first_ts: 0,
        median: 0,
        size_sum: 0,
        hazard: 0.0,
    };
}

/// Per-symbol layering state: a ring of recent large orders (in placement order), a filter of the references of
/// the live ones (the orders themselves are in the detector's [`RefTable`], shared by all symbols), and the armed
/// layers.
///
/// Layout: events of one symbol are sparse, so this state is cold on every event and its cost is the number of
/// cache lines it touches. The reference filter with what every event of the symbol reads (arm count, ring
/// cursor, live counts) is line 0; the hazard, the ring and cold pointers and the recent segment's cursor are line
/// 1; the segment's age bound and the first words of the live bits per side (all of them for the default ring of
/// 128 slots) are line 2; the armed layers, read only while one is armed or when an execution may arm one, are out of
/// line in [`LayerCold`].
///
/// Live slots are kept as bits per side: an eviction, a retirement or a search for a layer reads and clears them
/// without touching the ring.
///
/// The recent segment: ring slots `tail .. tail + recent_len` (modulo the ring length, ending at `next`) hold the
/// placements not yet found older than `recent_from`, and `recent_live` counts the live ones per side. An
/// execution looks for a layer only among live placements of one side no older than the placement and execution
/// windows, newest first, stopping at the first older one; once the segment's tail has moved up to that age,
/// those placements lie in the segment, so a side with fewer than `min_orders` live placements in it cannot
/// hold a layer and the walk is skipped (most executions: large orders are mostly cancelled within seconds); when
/// it does, the side's live bits in the segment give the candidates (placements in time order; otherwise the ring
/// is walked).
#[derive(Debug, Clone)]
#[repr(C, align(64))]
pub(crate) struct LayerSym {
    /// References of the symbol's tracked orders (the orders themselves are in the detector's [`RefTable`]).
    filter: RefFilter,
    /// The symbol's book (the table's key beside the reference).
    book: u16,
    armed: u8,
    /// Whether the symbol has traded (the hazard's exposure counts from its first execution).
    traded: bool,
    /// Ring slot of the next placement.
    next: u16,
    /// Ring length in slots (≤ [`MAX_TRACKED`]).
    ring_len: u16,
    live_side: [u16; 3],
    /// Withdrawal hazard of the tracked (qualifying) orders, exponentially weighted: time of the last update,
    /// exposure (order-seconds) and withdrawals (orders that left the book by delete, full cancel or replace).
    hz_ts: u64,
    hz_exposure_s: f64,
    hz_withdrawn: f64,
    /// The ring: slot `i` is `ring[i / BLOCK]`, entry `i % BLOCK`.
    ring: Box<[Block]>,
    cold: Box<LayerCold>,
    /// First slot of the recent segment.
    tail: u16,
    /// Slots in the recent segment.
    recent_len: u16,
    /// Live placements in the recent segment, per side.
    recent_live: [u16; 3],
    /// The age bound the tail was last moved up to (placements before the tail are older).
    recent_from: u64,
    /// Time of the last placement, and whether placements ever went back in time (then the walks for a layer
    /// cannot rely on the recent segment's order: see [`Layering::try_arm`]).
    last_place_ts: u64,
    unordered: bool,
    /// Live (tracked) slots of the ring per side (buy, sell), one bit per slot: read and cleared without touching
    /// the ring.
    /// (`live[w][side − 1]`: the words of both sides for the same slots are together).
    live: [[u64; 2]; MAX_TRACKED / 64],
}

const _: () = assert!(std::mem::size_of::<LayerSym>() == 448);
const _: () = assert!(MAX_TRACKED <= u16::MAX as usize + 1);

/// The armed layers of a symbol and its quiet periods (out of line: see [`LayerSym`]).
#[derive(Debug, Clone)]
struct LayerCold {
    arms: [Arm; ARMS],
    /// (side, group, until): after an alert, that side and group arm no new layer before `until`.
    quiet: [(Side, [u8; 4], u64); ARMS],
}

impl LayerSym {
    pub(crate) fn new(cfg: &LayeringConfig, book: u16) -> Self {
        let n = cfg.max_tracked_per_symbol.clamp(1, MAX_TRACKED);
        LayerSym {
            filter: RefFilter::default(),
            book,
            armed: 0,
            traded: false,
            next: 0,
            ring_len: n as u16,
            live_side: [0; 3],
            hz_ts: 0,
            hz_exposure_s: 0.0,
            hz_withdrawn: 0.0,
            ring: vec![Block::default(); n.div_ceil(BLOCK)].into_boxed_slice(),
            cold: Box::new(LayerCold {
                arms: [Arm::IDLE; ARMS],
                quiet: [(Side::None, [0; 4], 0); ARMS],
            }),
            tail: 0,
            recent_len: 0,
            recent_live: [0; 3],
            recent_from: 0,
            last_place_ts: 0,
            unordered: false,
            live: [[0; 2]; MAX_TRACKED / 64],
        }
    }

    /// Whether ring slot `slot` holds a live tracked order.
    #[inline(always)]
    fn is_live(&self, slot: usize) -> bool {
        let [b, s] = self.live[slot / 64];
        (b | s) >> (slot % 64) & 1 != 0
    }

    /// Marks `slot` live (`true`) or not for `side` (buy or sell).
    #[inline(always)]
    fn set_live(&mut self, slot: usize, side: Side, live: bool) {
        let w = &mut self.live[slot / 64][side as usize - 1];
        if live {
            *w |= 1 << (slot % 64);
        } else {
            *w &= !(1 << (slot % 64));
        }
    }

    /// Calls `f` with every live slot of `side` in the recent segment, newest first (bit scans over the side's
    /// live words: the ring is read only for the slots found).
    #[inline]
    fn recent_live_slots(&self, side: Side, mut f: impl FnMut(usize)) {
        let si = side as usize - 1;
        let (tail, len) = (self.tail as usize, self.ring_len as usize);
        let end = tail + self.recent_len as usize;
        // Slots lo..hi, highest first.
        let mut scan = |lo: usize, hi: usize| {
            if lo >= hi {
                return;
            }
            for w in (lo / 64..=(hi - 1) / 64).rev() {
                let mut m = self.live[w][si];
                if w == lo / 64 {
                    m &= u64::MAX << (lo % 64);
                }
                if w == (hi - 1) / 64 && hi % 64 != 0 {
                    m &= (1u64 << (hi % 64)) - 1;
                }
                while m != 0 {
                    let b = 63 - m.leading_zeros() as usize;
                    m &= !(1u64 << b);
                    f(w * 64 + b);
                }
            }
        };
        if end <= len {
            scan(tail, end);
        } else {
            scan(0, end - len);
            scan(tail, len);
        }
    }

    /// Whether ring slot `slot` lies in the recent segment.
    #[inline]
    fn in_recent(&self, slot: usize) -> bool {
        let (tail, len) = (self.tail as usize, self.ring_len as usize);
        let off = if slot >= tail {
            slot - tail
        } else {
            slot + len - tail
        };
        off < self.recent_len as usize
    }

    /// Moves the recent segment's tail past the placements older than `oldest` (≥ `recent_from`).
    #[inline(never)]
    fn advance_recent(&mut self, oldest: u64) {
        let len = self.ring_len as usize;
        while self.recent_len > 0 {
            let t = *self.meta(self.tail as usize);
            if t.ts >= oldest {
                break;
            }
            if self.is_live(self.tail as usize) {
                self.recent_live[t.side as usize] -= 1;
            }
            self.tail = if self.tail as usize + 1 == len {
                0
            } else {
                self.tail + 1
            };
            self.recent_len -= 1;
        }
        self.recent_from = oldest;
    }

    /// Heap bytes of one symbol's state beside [`LayerSym`] itself (ring, index table, armed layers).
    pub(crate) fn heap_bytes(cfg: &LayeringConfig) -> u64 {
        let n = cfg.max_tracked_per_symbol.clamp(1, MAX_TRACKED);
        (n.div_ceil(BLOCK) * std::mem::size_of::<Block>()
            + RefTable::capacity_for(n) * RefTable::ENTRY_BYTES
            + std::mem::size_of::<LayerCold>()) as u64
    }

    #[inline]
    fn meta(&self, slot: usize) -> &Meta {
        &self.ring[slot / BLOCK].meta[slot % BLOCK]
    }

    #[inline]
    fn info(&self, slot: usize) -> &Info {
        &self.ring[slot / BLOCK].info[slot % BLOCK]
    }

    /// Brings the hazard's exposure integral up to `ts` (called before the number of live tracked orders changes).
    #[inline]
    fn hz_advance(&mut self, ts: u64, tau_s: f64) {
        if !self.traded {
            self.hz_ts = ts;
            return;
        }
        if ts > self.hz_ts {
            let live = (self.live_side[1] + self.live_side[2] + self.live_side[0]) as f64;
            let dt = (ts - self.hz_ts) as f64 * 1e-9;
            let d = (-dt / tau_s).exp();
            self.hz_exposure_s = self.hz_exposure_s * d + live * tau_s * (1.0 - d);
            self.hz_withdrawn *= d;
            self.hz_ts = ts;
        }
    }

    /// Withdrawals per order-second of the symbol's qualifying orders (0 before any exposure).
    fn hazard_per_s(&self) -> f64 {
        if self.hz_exposure_s > 0.0 {
            self.hz_withdrawn / self.hz_exposure_s
        } else {
            0.0
        }
    }

    /// Stops tracking `slot` if it is live (at time `ts`; `withdrawn` = it left the book by its owner's withdrawal).
    #[inline]
    fn retire(&mut self, table: &mut RefTable, slot: usize, ts: u64, tau_s: f64, withdrawn: bool) {
        if self.is_live(slot) {
            let (side, order_ref) = (self.meta(slot).side, self.info(slot).order_ref);
            self.retire_live(table, slot, side, order_ref, ts, tau_s, withdrawn);
        }
    }

    /// Stops tracking the live order `order_ref` (on `side`, in `slot`).
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn retire_live(
        &mut self,
        table: &mut RefTable,
        slot: usize,
        side: Side,
        order_ref: u64,
        ts: u64,
        tau_s: f64,
        withdrawn: bool,
    ) {
        self.hz_advance(ts, tau_s);
        self.set_live(slot, side, false);
        self.live_side[side as usize] -= 1;
        if self.in_recent(slot) {
            self.recent_live[side as usize] -= 1;
        }
        table.remove(order_ref, self.book);
        self.filter.remove(order_ref);
        if withdrawn && self.traded {
            self.hz_withdrawn += 1.0;
        }
    }

    /// The tracked order `order_ref` of this symbol, if any.
    #[inline]
    fn tracked(&self, table: &RefTable, order_ref: u64) -> Option<Tracked> {
        if self.filter.may_hold(order_ref) {
            table.get(order_ref, self.book)
        } else {
            None
        }
    }
}

/// P(X ≥ k) for X ~ Binomial(n, p).
fn binomial_tail(n: usize, k: usize, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n {
        return 0.0;
    }
    let p = p.clamp(0.0, 1.0);
    let mut total = 0.0;
    let mut coef = 1.0f64; // C(n, j), built up from C(n, 0)
    for j in 0..=n {
        if j > 0 {
            coef = coef * (n + 1 - j) as f64 / j as f64;
        }
        if j >= k {
            total += coef * p.powi(j as i32) * (1.0 - p).powi((n - j) as i32);
        }
    }
    total.min(1.0)
}

/// Scratch buffers of [`Layering::try_arm`]: candidate slots, one group's slots, their prices.
#[derive(Debug, Clone, Default)]
struct Scratch {
    idx: Box<[u16]>,
    group: Box<[u16]>,
    price: Box<[Price]>,
}

/// The layering detector.
#[derive(Debug, Clone)]
pub(crate) struct Layering {
    cfg: LayeringConfig,
    place_ns: u64,
    exec_ns: u64,
    cancel_ns: u64,
    /// Tracked orders overwritten while still live and young enough to matter.
    pub(crate) evicted: u64,
    /// Anonymous layers completed but dropped as chance (see `anon_max_chance`).
    pub(crate) chance_rejected: u64,
    hz_tau_s: f64,
    /// Scratch buffers for [`Layering::try_arm`] (allocated once, so arming never touches the heap).
    scratch: Scratch,
    /// The tracked orders of every symbol (sized by [`reserve_symbols`](Self::reserve_symbols)).
    table: RefTable,
    /// Ring length per symbol (tracked orders a symbol holds at most).
    per_symbol: usize,
}

impl Layering {
    pub(crate) fn new(cfg: &LayeringConfig) -> Self {
        Layering {
            cfg: cfg.clone(),
            place_ns: cfg.placement_window_ms * NS_PER_MS,
            exec_ns: cfg.execution_within_ms * NS_PER_MS,
            cancel_ns: cfg.cancel_within_ms * NS_PER_MS,
            evicted: 0,
            chance_rejected: 0,
            hz_tau_s: cfg.anon_hazard_window_ms as f64 * 1e-3,
            table: RefTable::new(cfg.max_tracked_per_symbol.clamp(1, MAX_TRACKED)),
            per_symbol: cfg.max_tracked_per_symbol.clamp(1, MAX_TRACKED),
            scratch: Scratch {
                idx: vec![0u16; MAX_TRACKED].into_boxed_slice(),
                group: vec![0u16; MAX_TRACKED].into_boxed_slice(),
                price: vec![0; MAX_TRACKED].into_boxed_slice(),
            },
        }
    }

    /// Address where the table's lookup of `order_ref` starts (for a prefetch; nothing is read).
    #[inline]
    pub(crate) fn table_addr(&self, order_ref: u64) -> *const u8 {
        self.table.home_addr(order_ref)
    }

    /// Sizes the table for `symbols` symbols (call when a symbol's state is created: it may reallocate).
    pub(crate) fn reserve_symbols(&mut self, symbols: usize) {
        self.table.reserve(symbols.max(1) * self.per_symbol);
    }

    #[inline]
    fn group(&self, mpid: [u8; 4]) -> [u8; 4] {
        if self.cfg.group_by_mpid && mpid.iter().any(|&b| b != 0 && b != b' ') {
            mpid
        } else {
            [0; 4]
        }
    }

    #[inline]
    pub(crate) fn on_event(&mut self, c: &Ctx<'_>, s: &mut LayerSym, out: &mut impl FnMut(&Alert)) {
        // 1. Withdrawals: feed armed layers, retire tracked orders.
        if let Some(w) = c.withdrawal {
            self.on_withdrawal(c, s, w, out);
        }
        // 2. Executions: against a tracked order (disqualifies it), or on the opposite side (may arm a layer).
        if let Some(x) = c.exec {
            self.on_exec(c, s, x);
        }
        // 3. New large order.
        if let (Some(n), Some(median)) = (c.new_order, c.median) {
            self.on_new_order(c, s, n, median);
        }
        // 4. Expire arms whose cancel window has passed.
        Self::expire(s, c.ts());
    }

    /// A withdrawal: feeds armed layers, retires a tracked order. Call [`expire`](Self::expire) after the event.
    #[inline(always)]
    pub(crate) fn on_withdrawal(
        &mut self,
        c: &Ctx<'_>,
        s: &mut LayerSym,
        w: Withdrawal,
        out: &mut impl FnMut(&Alert),
    ) {
        if s.armed > 0 {
            self.on_withdrawal_armed(c, s, w, out);
        }
        // Most withdrawals concern untracked orders: the index's filter (in its header line) says so.
        if s.filter.may_hold(w.order_ref) {
            self.withdraw_tracked(c.ts(), s, w);
        }
    }

    /// A withdrawal of an order the index may hold.
    #[inline(never)]
    fn withdraw_tracked(&mut self, ts: u64, s: &mut LayerSym, w: Withdrawal) {
        if let Some((remaining, e)) = self.table.remaining_mut(w.order_ref, s.book) {
            *remaining -= w.taken_from(*remaining);
            if w.gone || *remaining == 0 {
                s.retire_live(
                    &mut self.table,
                    e.slot as usize,
                    e.side,
                    w.order_ref,
                    ts,
                    self.hz_tau_s,
                    true,
                );
            }
        }
    }

    /// An execution: against a tracked order (disqualifies it), or on the opposite side (may arm a layer). Call
    /// [`expire`](Self::expire) after the event.
    #[inline(never)]
    pub(crate) fn on_exec(&mut self, c: &Ctx<'_>, s: &mut LayerSym, x: Exec) {
        let ts = c.ts();
        if !s.traded {
            s.hz_advance(ts, self.hz_tau_s);
            s.traded = true;
        }
        if let Some(e) = s.tracked(&self.table, x.order_ref) {
            s.retire_live(
                &mut self.table,
                e.slot as usize,
                e.side,
                x.order_ref,
                ts,
                self.hz_tau_s,
                false,
            );
        }
        if s.armed > 0 && x.order_ref != 0 {
            for arm in s.cold.arms.iter_mut().filter(|a| a.active) {
                if let Some(m) = arm.members[..arm.n]
                    .iter_mut()
                    .find(|m| m.order_ref == x.order_ref)
                {
                    m.resting = m.resting.saturating_sub(x.qty);
                }
            }
        }
        let layer_side = x.resting.opposite();
        if layer_side != Side::None
            && s.live_side[layer_side as usize] as usize >= self.cfg.min_orders
        {
            // The walk's placements are in the recent segment once its tail has moved up to their age (unless
            // time went backwards since the tail last moved: then walk anyway).
            let oldest_ok = ts.saturating_sub(self.place_ns + self.exec_ns);
            let exact = oldest_ok >= s.recent_from;
            if exact {
                s.advance_recent(oldest_ok);
            }
            if !exact || s.recent_live[layer_side as usize] as usize >= self.cfg.min_orders {
                self.try_arm(c, s, layer_side, ts);
            }
        }
    }

    /// A new order (`median`: the symbol's median displayed size before it): a large one is tracked. Call
    /// [`expire`](Self::expire) after the event.
    #[inline(always)]
    pub(crate) fn on_new_order(&mut self, c: &Ctx<'_>, s: &mut LayerSym, n: NewOrder, median: u32) {
        if median > 0
            && n.side != Side::None
            && n.order_ref != 0
            && n.qty as f64 >= self.cfg.size_multiple * median as f64
        {
            self.track(c, s, n, median);
        }
    }

    /// Tracks the large order `n`.
    #[inline(never)]
    fn track(&mut self, c: &Ctx<'_>, s: &mut LayerSym, n: NewOrder, median: u32) {
        let ts = c.ts();
        let slot = s.next as usize;
        if s.is_live(slot) {
            let old = *s.meta(slot);
            if ts.saturating_sub(old.ts) <= self.place_ns + self.exec_ns {
                self.evicted += 1;
            }
            s.retire(&mut self.table, slot, ts, self.hz_tau_s, false);
        }
        // A reused reference (bad input) must not leave a stale index entry behind.
        if let Some(old) = s.tracked(&self.table, n.order_ref) {
            s.retire_live(
                &mut self.table,
                old.slot as usize,
                old.side,
                n.order_ref,
                ts,
                self.hz_tau_s,
                false,
            );
        }
        s.hz_advance(ts, self.hz_tau_s);
        s.set_live(slot, n.side, true);
        if ts < s.last_place_ts {
            s.unordered = true;
        }
        s.last_place_ts = ts;
        let b = &mut s.ring[slot / BLOCK];
        b.meta[slot % BLOCK] = Meta {
            ts,
            side: n.side,
            mpid: self.group(c.ev.mpid),
        };
        b.info[slot % BLOCK] = Info {
            order_ref: n.order_ref,
            price: n.price,
            seq: c.ev.seq,
            size: n.qty,
            median,
        };
        if self.table.insert(
            n.order_ref,
            s.book,
            Tracked {
                slot: slot as u16,
                side: n.side,
                remaining: n.qty,
            },
        ) {
            s.filter.add(n.order_ref);
        }
        s.live_side[n.side as usize] += 1;
        // The slot joins the recent segment (when the segment is the whole ring, it was its oldest slot).
        if s.recent_len == s.ring_len {
            s.tail = ((slot + 1) % s.ring_len as usize) as u16;
            s.recent_len -= 1;
        }
        s.recent_len += 1;
        s.recent_live[n.side as usize] += 1;
        s.next = ((slot + 1) % s.ring_len as usize) as u16;
    }

    /// Expires the armed layers whose cancel window has passed (at the end of every event of the symbol).
    #[inline(always)]
    pub(crate) fn expire(s: &mut LayerSym, ts: u64) {
        if s.armed > 0 {
            Self::expire_armed(s, ts);
        }
    }

    #[cold]
    #[inline(never)]
    fn expire_armed(s: &mut LayerSym, ts: u64) {
        for arm in s.cold.arms.iter_mut().filter(|a| a.active) {
            if ts > arm.deadline {
                arm.active = false;
                s.armed -= 1;
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn on_withdrawal_armed(
        &mut self,
        c: &Ctx<'_>,
        s: &mut LayerSym,
        w: Withdrawal,
        out: &mut impl FnMut(&Alert),
    ) {
        let order_ref = w.order_ref;
        let ts = c.ts();
        for arm in s.cold.arms.iter_mut().filter(|a| a.active) {
            if ts > arm.deadline {
                arm.active = false;
                s.armed -= 1;
                continue;
            }
            let Some(m) = arm.members[..arm.n]
                .iter_mut()
                .find(|m| m.order_ref == order_ref)
            else {
                continue;
            };
            let q = w.taken_from(m.resting);
            m.resting -= q;
            m.cancelled += q;
            arm.cancelled += q as u64;
            if arm.layered > 0
                && arm.cancelled as f64 >= self.cfg.cancel_fraction * arm.layered as f64
            {
                arm.active = false;
                s.armed -= 1;
                // Anonymous group: could independent traders' ordinary cancels have produced this?
                let mut chance = None;
                if arm.mpid == [0; 4] {
                    let h = arm.hazard;
                    let p = 1.0 - (-h * self.cancel_ns as f64 * 1e-9).exp();
                    let k = arm.members[..arm.n]
                        .iter()
                        .filter(|m| m.cancelled > 0)
                        .count();
                    let pr = binomial_tail(arm.n, k, p);
                    if pr > self.cfg.anon_max_chance {
                        self.chance_rejected += 1;
                        continue;
                    }
                    chance = Some((pr, h));
                }
                Self::emit(&self.cfg, c, arm, chance, out);
                let until = ts.saturating_add(self.cancel_ns);
                if let Some(q) = s.cold.quiet.iter_mut().min_by_key(|q| q.2) {
                    *q = (arm.side, arm.mpid, until);
                }
            }
        }
    }

    fn emit(
        cfg: &LayeringConfig,
        c: &Ctx<'_>,
        arm: &Arm,
        chance: Option<(f64, f64)>,
        out: &mut impl FnMut(&Alert),
    ) {
        let frac = arm.cancelled as f64 / arm.layered as f64;
        let mean = arm.size_sum as f64 / arm.total_orders.max(1) as f64;
        let m_levels = (arm.levels as f64 / cfg.min_levels.max(1) as f64).min(10.0);
        let m_frac = (frac / cfg.cancel_fraction).min(10.0);
        let m_size = (mean / arm.median.max(1) as f64 / cfg.size_multiple).clamp(0.0, 10.0);
        let mut a = Alert::at_event(DetectorKind::Layering, c.ev, arm.side);
        a.window_start_ns = arm.first_ts;
        a.score = (m_levels * m_frac * m_size).cbrt();
        a.evidence
            .figure("layer_orders", arm.total_orders)
            .figure("layer_levels", arm.levels)
            .figure("layered_shares", arm.layered)
            .figure("cancelled_shares", arm.cancelled)
            .figure("cancelled_fraction", frac)
            .figure("median_order_size", arm.median)
            .figure("execution_ts_ns", arm.exec.ts_ns);
        if arm.mpid != [0; 4] {
            a.evidence.figure("mpid", Value::text(&arm.mpid));
        }
        if let Some((pr, h)) = chance {
            a.evidence
                .figure("chance", pr)
                .figure("withdrawal_hazard_per_s", h);
        }
        for m in &arm.members[..arm.n] {
            let o = EvidenceOrder {
                role: "layer_order",
                action: EventKind::Add,
                ts_ns: m.ts,
                seq: m.seq,
                order_ref: m.order_ref,
                match_number: 0,
                price: m.price,
                shares: m.resting + m.cancelled,
                book: c.ev.book,
                symbol: c.ev.symbol,
                side: arm.side,
                mpid: arm.mpid,
            };
            if a.evidence.orders().len() + 2 < MAX_ORDERS {
                a.evidence.order(o);
            } else {
                a.evidence.orders_total += 1;
            }
        }
        a.evidence.orders_total += (arm.total_orders - arm.n) as u32;
        a.evidence.order(arm.exec);
        a.evidence.order(EvidenceOrder::from_event("cancel", c.ev));
        out(&a);
    }

    /// At an execution against a resting order on the side opposite `side`: find the best layer of each group on
    /// `side` and arm it (unless that group is already armed).
    fn try_arm(&mut self, c: &Ctx<'_>, s: &mut LayerSym, side: Side, ts: u64) {
        let mut scratch = std::mem::take(&mut self.scratch);
        self.try_arm_with(c, s, side, ts, &mut scratch);
        self.scratch = scratch;
    }

    fn try_arm_with(
        &mut self,
        c: &Ctx<'_>,
        s: &mut LayerSym,
        side: Side,
        ts: u64,
        scratch: &mut Scratch,
    ) {
        let Scratch {
            idx,
            group: gi,
            price: prices,
        } = scratch;
        let min_orders = self.cfg.min_orders.max(1);
        let len = s.ring_len as usize;
        let oldest_ok = ts.saturating_sub(self.place_ns + self.exec_ns);
        // Candidates newest first: the live placements of `side` no older than `oldest_ok` and not after `ts`, as a
        // walk of the ring backwards from the newest entry to the first older one finds them. When the recent
        // segment's tail has moved up to `oldest_ok` and placements kept time order, that walk covers exactly the
        // segment, and the side's live bits in it give the candidates without reading the other slots.
        let mut k = 0;
        if oldest_ok >= s.recent_from && !s.unordered {
            s.recent_live_slots(side, |i| {
                if s.meta(i).ts <= ts {
                    idx[k] = i as u16;
                    k += 1;
                }
            });
        } else {
            for off in 1..=len {
                let i = (s.next as usize + len - off) % len;
                let t = s.meta(i);
                let live = s.is_live(i);
                if t.ts < oldest_ok || (t.ts == 0 && !live) {
                    break;
                }
                if live && t.side == side && t.ts <= ts {
                    idx[k] = i as u16;
                    k += 1;
                }
            }
        }
        // The recent segment holds every candidate (see `LayerSym`), unless time went back since it last moved.
        debug_assert!(oldest_ok < s.recent_from || k <= s.recent_live[side as usize] as usize);
        if k < min_orders {
            return;
        }
        idx[..k].reverse(); // placement order
                            // Distinct groups among candidates (few: anonymous + a handful of MPIDs).
        let mut groups = [[0u8; 4]; 8];
        let mut ng = 0;
        for &i in &idx[..k] {
            let g = s.meta(i as usize).mpid;
            if !groups[..ng].contains(&g) && ng < groups.len() {
                groups[ng] = g;
                ng += 1;
            }
        }
        for &g in &groups[..ng] {
            // A layer already armed for this group keeps its execution once its cancels have started; before that,
            // a later opposite execution re-arms it ("that execution" is then the latest one).
            let existing = s
                .cold
                .arms
                .iter()
                .position(|a| a.active && a.side == side && a.mpid == g && ts <= a.deadline);
            if existing.is_some_and(|i| s.cold.arms[i].cancelled > 0)
                || s.cold
                    .quiet
                    .iter()
                    .any(|q| q.0 == side && q.1 == g && ts < q.2)
            {
                continue;
            }
            let mut gn = 0;
            for &i in &idx[..k] {
                if s.meta(i as usize).mpid == g {
                    gi[gn] = i;
                    gn += 1;
                }
            }
            if gn < min_orders {
                continue;
            }
            let gi = &gi[..gn];
            for (p, &i) in prices.iter_mut().zip(gi) {
                *p = s.info(i as usize).price;
            }
            // Best window: most distinct levels, then most orders, then latest.
            let mut best: Option<(usize, usize, usize, usize)> = None; // (levels, orders, start, end)
            let mut end = 0;
            for start in 0..gn {
                let t0 = s.meta(gi[start] as usize).ts;
                end = end.max(start);
                while end < gn && s.meta(gi[end] as usize).ts <= t0.saturating_add(self.place_ns) {
                    end += 1;
                }
                let last_ts = s.meta(gi[end - 1] as usize).ts;
                let orders = end - start;
                if ts.saturating_sub(last_ts) > self.exec_ns || orders < min_orders {
                    continue;
                }
                // A window of fewer orders than the best one's levels cannot beat it (levels ≤ orders).
                if best.is_some_and(|(bl, _, _, _)| orders < bl) {
                    continue;
                }
                let w = &prices[start..end];
                let levels = (0..w.len()).filter(|&j| !w[..j].contains(&w[j])).count();
                if best.is_none_or(|(bl, bo, _, _)| (levels, orders) >= (bl, bo)) {
                    best = Some((levels, orders, start, end));
                }
            }
            let Some((levels, orders, start, end)) = best else {
                continue;
            };
            if levels < self.cfg.min_levels {
                continue;
            }
            let free = || {
                s.cold
                    .arms
                    .iter()
                    .position(|a| !a.active || ts > a.deadline)
            };
            let Some(slot) = existing.or_else(free) else {
                continue;
            };
            if s.cold.arms[slot].active {
                s.armed -= 1;
            }
            let mut arm = Arm::IDLE;
            arm.active = true;
            arm.side = side;
            arm.mpid = g;
            arm.exec = EvidenceOrder::from_event("opposite_execution", c.ev);
            arm.deadline = ts.saturating_add(self.cancel_ns);
            s.hz_advance(ts, self.hz_tau_s);
            arm.hazard = s.hazard_per_s();
            arm.levels = levels;
            arm.total_orders = orders;
            arm.first_ts = s.meta(gi[start] as usize).ts;
            for &i in &gi[start..end] {
                let t = s.info(i as usize);
                let remaining = self
                    .table
                    .get(t.order_ref, s.book)
                    .map_or(0, |e| e.remaining);
                arm.layered += remaining as u64;
                arm.size_sum += t.size as u64;
                arm.median = arm.median.max(t.median);
                if arm.n < MAX_MEMBERS {
                    arm.members[arm.n] = Member {
                        order_ref: t.order_ref,
                        price: t.price,
                        resting: remaining,
                        cancelled: 0,
                        ts: s.meta(i as usize).ts,
                        seq: t.seq,
                    };
                    arm.n += 1;
                }
            }
            if arm.n < orders {
                // Members beyond MAX_MEMBERS cannot be followed: measure the fraction on the followed ones only.
                arm.layered = arm.members[..arm.n].iter().map(|m| m.resting as u64).sum();
            }
            s.cold.arms[slot] = arm;
            s.armed += 1;
        }
    }
}

#[cfg(test)]
mod layout {
    use super::*;

    /// The lines the layout comments name: line 0 ends with the live counts, line 2 starts with the age bound and
    /// holds the live words of a 128-slot ring.
    #[test]
    fn hot_fields_in_the_named_lines() {
        assert!(std::mem::offset_of!(LayerSym, live_side) + 6 <= 64);
        assert!(std::mem::offset_of!(LayerSym, recent_live) + 6 <= 128);
        let from = std::mem::offset_of!(LayerSym, recent_from);
        assert!((128..192).contains(&from));
        assert!(
            std::mem::offset_of!(LayerSym, live) + 32 <= 192,
            "{}",
            std::mem::offset_of!(LayerSym, live)
        );
    }
}
