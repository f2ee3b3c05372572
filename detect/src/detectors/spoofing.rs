//! Spoofing.
//!
//! **Definition** (defaults in brackets, all in [`SpoofingConfig`]): an order of size ≥ `size_multiple` [5] × the
//! symbol's median displayed order size, placed within `max_distance_ticks` [2] ticks of the best price on its side
//! (measured against the touch just before it arrived; at or through the touch counts as 0, an empty side as 0),
//! fully cancelled (delete, cancel of the whole remainder, or replace; a DEEP+ modify keeping priority only resizes
//! it) within `max_lifetime_ms` [2 000 ms] of its
//! placement with no execution against it, while at least `min_opposite_executions` [1] executions occurred against
//! resting orders on the opposite side between its placement and its cancellation.
//!
//! Public definitions encoded: Regulation (EU) 596/2014 (MAR) Annex I A indicator (e) — orders that change the
//! representation of the best bid or offer and are removed before execution — as specified by EU Delegated
//! Regulation 2016/522 Annex II Section 1 (the practice "usually known as layering and spoofing"); FINRA Rule 5210
//! Supplementary Material .03 (disruptive quoting: non-bona-fide orders entered to induce executions on the other
//! side and cancelled afterwards); CME Rule 575.A ("no person shall enter or cause to be entered an order with the
//! intent, at the time of order entry, to cancel the bid or offer before execution").
//!
//! **Alert**: completed by the cancelling message; `side` = the large order's side; window = placement → cancel;
//! evidence: the order's add and its cancellation, the first opposite-side executions, `median_order_size`,
//! `size_multiple`, `ticks_from_best`, `lifetime_ns`, `opposite_executions`, `opposite_shares`.
//! **Score**: geometric mean of the three margins (size / threshold, lifetime limit / lifetime,
//! opposite executions / minimum), each capped at 10.

use book::{EventKind, Price, Side};

use crate::alert::{Alert, DetectorKind, EvidenceOrder};
use crate::config::{SpoofingConfig, NS_PER_MS};
use crate::ctx::{ticks_behind, Ctx, Exec, NewOrder, Withdrawal};

/// Opposite-side executions kept as evidence per candidate.
const KEEP_EXECS: usize = 2;

#[derive(Debug, Clone, Copy)]
struct Candidate {
    live: bool,
    executed: bool,
    side: Side,
    order_ref: u64,
    price: Price,
    size: u32,
    median: u32,
    ticks_from_best: i64,
    best_at_entry: Price,
    add: EvidenceOrder,
    opposite_execs: u32,
    opposite_shares: u64,
    execs: [EvidenceOrder; KEEP_EXECS],
}

/// Per-symbol spoofing state: a small fixed set of tracked large orders.
#[derive(Debug, Clone)]
pub(crate) struct SpoofSym {
    slots: Box<[Option<Candidate>]>,
}

impl SpoofSym {
    pub(crate) fn new(cfg: &SpoofingConfig) -> Self {
        SpoofSym {
            slots: vec![None; cfg.max_tracked_per_symbol].into_boxed_slice(),
        }
    }

    /// The state of a symbol when the detector is disabled (no slots, no allocation).
    pub(crate) fn empty() -> Self {
        SpoofSym {
            slots: Box::new([]),
        }
    }
}

/// The spoofing detector (configuration and counters; per-symbol state lives in [`SpoofSym`]).
#[derive(Debug, Clone)]
pub(crate) struct Spoofing {
    cfg: SpoofingConfig,
    max_life_ns: u64,
    /// Large orders dropped because the per-symbol table was full.
    pub(crate) evicted: u64,
}

impl Spoofing {
    pub(crate) fn new(cfg: &SpoofingConfig) -> Self {
        Spoofing {
            cfg: cfg.clone(),
            max_life_ns: cfg.max_lifetime_ms * NS_PER_MS,
            evicted: 0,
        }
    }

    #[inline]
    pub(crate) fn on_event(
        &mut self,
        c: &Ctx<'_>,
        active: &mut u32,
        s: &mut SpoofSym,
        out: &mut impl FnMut(&Alert),
    ) {
        if *active > 0 {
            if let Some(x) = c.exec {
                self.on_exec(c, x, active, s);
            }
            if let Some(w) = c.withdrawal {
                self.on_withdrawal(c, w, active, s, out);
            }
        }
        if let (Some(n), Some(median)) = (c.new_order, c.median) {
            self.on_new_order(c, n, median, active, s);
        }
    }

    /// An execution while candidates are live (`*active > 0`): against a candidate (disqualifies it) or on the
    /// opposite side (evidence).
    #[cold]
    #[inline(never)]
    pub(crate) fn on_exec(&mut self, c: &Ctx<'_>, x: Exec, active: &mut u32, s: &mut SpoofSym) {
        let ts = c.ts();
        for slot in s.slots.iter_mut() {
            let Some(cand) = slot else { continue };
            if ts.saturating_sub(cand.add.ts_ns) > self.max_life_ns {
                *slot = None;
                *active -= 1;
                continue;
            }
            if x.order_ref != 0 && x.order_ref == cand.order_ref {
                cand.executed = true;
            } else if x.resting == cand.side.opposite() {
                if (cand.opposite_execs as usize) < KEEP_EXECS {
                    cand.execs[cand.opposite_execs as usize] =
                        EvidenceOrder::from_event("opposite_execution", c.ev);
                }
                cand.opposite_execs += 1;
                cand.opposite_shares += x.qty as u64;
            }
        }
    }

    /// A withdrawal while candidates are live (`*active > 0`): a candidate that leaves the book is evaluated.
    #[cold]
    #[inline(never)]
    pub(crate) fn on_withdrawal(
        &mut self,
        c: &Ctx<'_>,
        w: Withdrawal,
        active: &mut u32,
        s: &mut SpoofSym,
        out: &mut impl FnMut(&Alert),
    ) {
        for slot in s.slots.iter_mut() {
            let Some(cand) = slot else { continue };
            if cand.order_ref != w.order_ref {
                continue;
            }
            if w.gone {
                let cand = *cand;
                *slot = None;
                *active -= 1;
                self.evaluate(c, &cand, out);
            }
            break;
        }
    }

    /// A new order (`median`: the symbol's median displayed size before it): a large one near the touch becomes a
    /// candidate.
    #[inline(always)]
    pub(crate) fn on_new_order(
        &mut self,
        c: &Ctx<'_>,
        n: NewOrder,
        median: u32,
        active: &mut u32,
        s: &mut SpoofSym,
    ) {
        if median > 0
            && n.side != Side::None
            && n.qty as f64 >= self.cfg.size_multiple * median as f64
        {
            self.large_order(c, n, median, active, s);
        }
    }

    /// A large new order: a candidate if it is near the touch.
    #[cold]
    #[inline(never)]
    fn large_order(
        &mut self,
        c: &Ctx<'_>,
        n: NewOrder,
        median: u32,
        active: &mut u32,
        s: &mut SpoofSym,
    ) {
        let ts = c.ts();
        let best = match n.side {
            Side::Buy => c.prev_bid,
            _ => c.prev_ask,
        };
        let behind = if best > 0 {
            ticks_behind(n.side, n.price, best, c.tick(best))
        } else {
            0
        };
        if behind <= self.cfg.max_distance_ticks as i64 {
            let mut add = EvidenceOrder::from_event("spoof_order", c.ev);
            add.order_ref = n.order_ref;
            add.action = EventKind::Add;
            let cand = Candidate {
                live: true,
                executed: false,
                side: n.side,
                order_ref: n.order_ref,
                price: n.price,
                size: n.qty,
                median,
                ticks_from_best: behind,
                best_at_entry: best,
                add,
                opposite_execs: 0,
                opposite_shares: 0,
                execs: [add; KEEP_EXECS],
            };
            self.insert(s, active, cand, ts);
        }
    }

    fn insert(&mut self, s: &mut SpoofSym, active: &mut u32, cand: Candidate, ts: u64) {
        let mut free = None;
        let mut oldest: Option<(usize, u64)> = None;
        for (i, slot) in s.slots.iter_mut().enumerate() {
            match slot {
                None => {
                    if free.is_none() {
                        free = Some(i);
                    }
                }
                Some(c) if ts.saturating_sub(c.add.ts_ns) > self.max_life_ns => {
                    *slot = None;
                    *active -= 1;
                    if free.is_none() {
                        free = Some(i);
                    }
                }
                Some(c) => {
                    if oldest.is_none_or(|(_, t)| c.add.ts_ns < t) {
                        oldest = Some((i, c.add.ts_ns));
                    }
                }
            }
        }
        let i = match (free, oldest) {
            (Some(i), _) => i,
            (None, Some((i, _))) => {
                self.evicted += 1;
                *active -= 1;
                i
            }
            (None, None) => return,
        };
        s.slots[i] = Some(cand);
        *active += 1;
    }

    fn evaluate(&self, c: &Ctx<'_>, cand: &Candidate, out: &mut impl FnMut(&Alert)) {
        let ts = c.ts();
        let life = ts.saturating_sub(cand.add.ts_ns);
        if !cand.live
            || cand.executed
            || life > self.max_life_ns
            || cand.opposite_execs < self.cfg.min_opposite_executions
        {
            return;
        }
        let threshold = self.cfg.size_multiple * cand.median as f64;
        let m_size = (cand.size as f64 / threshold).min(10.0);
        let m_life = (self.max_life_ns as f64 / life.max(1) as f64).min(10.0);
        let m_exec =
            (cand.opposite_execs as f64 / self.cfg.min_opposite_executions.max(1) as f64).min(10.0);
        let mut a = Alert::at_event(DetectorKind::Spoofing, c.ev, cand.side);
        a.window_start_ns = cand.add.ts_ns;
        a.score = (m_size * m_life * m_exec).cbrt();
        a.evidence
            .figure("order_ref", cand.order_ref)
            .figure("order_size", cand.size)
            .price("order_price", cand.price)
            .figure("median_order_size", cand.median)
            .figure(
                "size_multiple",
                cand.size as f64 / cand.median.max(1) as f64,
            )
            .figure("ticks_from_best", cand.ticks_from_best)
            .price("best_at_entry", cand.best_at_entry)
            .figure("lifetime_ns", life)
            .figure("opposite_executions", cand.opposite_execs)
            .figure("opposite_shares", cand.opposite_shares);
        a.evidence.order(cand.add);
        let kept = (cand.opposite_execs as usize).min(KEEP_EXECS);
        for e in &cand.execs[..kept] {
            a.evidence.order(*e);
        }
        a.evidence.orders_total += cand.opposite_execs - kept as u32;
        a.evidence.order(EvidenceOrder::from_event("cancel", c.ev));
        out(&a);
    }
}
