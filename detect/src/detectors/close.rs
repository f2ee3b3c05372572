//! Marking the close.
//!
//! **Definition** (defaults in brackets, all in [`MarkingTheCloseConfig`]): orders of size ≥ `size_multiple` [5] ×
//! the symbol's median displayed order size, entered from `entry_from` [15:55:00] (and before the close
//! `close_time` [16:00:00], feed clock), that either
//! - (a) **cancelled**: leave the book by cancellation (delete, cancel of the whole remainder, or replace) within
//!   the last `cancel_window_ms` [10 s] before the close; or
//! - (b) **pushed**: execute aggressively and leave the last trade price ≥ `min_deviation_bps` [30 bps] away from
//!   the `vwap_window_ms` [5 min] VWAP, in the order's direction. In ITCH an aggressive order is not itself
//!   published: it is seen as the executions (`E`/`C`/`P`) it causes, which share one timestamp and one aggressor
//!   side, so such a burst of executions is taken as one aggressive order of their total size (a *sweep*). The VWAP
//!   is that of the symbol's executions in the 5 minutes before the sweep (excluding it; crosses excluded); the
//!   deviation is measured at the sweep's last execution, i.e. as soon as the price has been pushed. When nothing
//!   traded in the VWAP window the VWAP is undefined and the last trade price before the sweep is the reference.
//!   At most one push alert per symbol and side per session.
//!
//! Public definitions encoded: MAR Annex I A indicator (f) — orders or transactions around the time reference or
//! closing prices are calculated that change those prices — as specified by EU Delegated Regulation 2016/522
//! Annex II Section 1 (the practice "usually known as marking the close", and orders entered and withdrawn before
//! the reference time); FINRA Rule 5210 (publication of transactions and quotations; .03 disruptive quoting) and
//! CME Rule 575.B (messages intended to mislead).
//!
//! **Alert**: (a) completed by the cancel, (b) by the last execution of the sweep; `side` = the order's side;
//! window = entry → completing event; evidence: `variant` (`"cancel"` / `"push"`),
//! `order_size`, `median_order_size`, `size_multiple`, and `seconds_before_close` (a) or `vwap`, `vwap_volume`,
//! `reference` (`"vwap"` / `"last_price"`), `reference_price`, `price_before`, `last_price`, `deviation_bps`,
//! `sweep_executions` (b), with the order events.
//! **Score**: (a) geometric mean of size / threshold and window / time-left (capped 10); (b) geometric mean of size
//! / threshold and deviation / min_deviation_bps (capped 10).

use std::ops::{AddAssign, SubAssign};

use book::{EventKind, Price, Side};

use crate::alert::{Alert, DetectorKind, EvidenceOrder, Value};
use crate::config::{MarkingTheCloseConfig, NS_PER_MS};
use crate::ctx::{dir, price_diff, Ctx, NewOrder, Withdrawal};
use crate::window::SlidingWindow;

/// Volume and notional (ticks × shares) of executions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct VolNotional {
    pub volume: u64,
    pub notional: u128,
}

impl AddAssign for VolNotional {
    #[inline]
    fn add_assign(&mut self, o: Self) {
        self.volume += o.volume;
        self.notional += o.notional;
    }
}

impl SubAssign for VolNotional {
    #[inline]
    fn sub_assign(&mut self, o: Self) {
        self.volume -= o.volume;
        self.notional -= o.notional;
    }
}

impl VolNotional {
    /// VWAP in ticks (0 when nothing traded).
    #[inline]
    pub fn vwap(&self) -> Price {
        if self.volume == 0 {
            0
        } else {
            (self.notional / self.volume as u128) as Price
        }
    }
}

/// An aggressive order reconstructed from consecutive executions of one symbol with one timestamp and one aggressor
/// side (see the module docs).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sweep {
    pub aggressor: Side,
    pub ts: u64,
    pub qty: u64,
    pub fills: u32,
    pub price_before: Price,
    pub last_price: Price,
    /// VWAP window totals just before the sweep (valid only when `in_close_window`).
    pub vwap_before: VolNotional,
    pub in_close_window: bool,
    /// Median displayed order size at the sweep's start (0 = unknown).
    pub median: u32,
    pub first: EvidenceOrder,
    pub last: EvidenceOrder,
}

#[derive(Debug, Clone, Copy)]
struct Watched {
    order_ref: u64,
    side: Side,
    size: u32,
    median: u32,
    add: EvidenceOrder,
}

/// Heap bytes per watched-order slot (the reference and the order).
pub(crate) const WATCH_SLOT_BYTES: u64 = (std::mem::size_of::<Watched>() + 8) as u64;

impl Watched {
    const EMPTY: Watched = Watched {
        order_ref: 0,
        side: Side::None,
        size: 0,
        median: 0,
        add: EvidenceOrder::EMPTY,
    };
}

/// Per-symbol marking-the-close state.
#[derive(Debug, Clone)]
pub(crate) struct CloseSym {
    /// Reference of the order watched in each slot (0 = free): what a withdrawal or a fill scans, 8 per line.
    refs: Box<[u64]>,
    /// The watched orders, by slot.
    watched: Box<[Watched]>,
    active: u32,
    vwap: SlidingWindow<VolNotional, 60>,
    pushed: [bool; 2],
}

impl CloseSym {
    pub(crate) fn new(cfg: &MarkingTheCloseConfig) -> Self {
        CloseSym {
            refs: vec![0; cfg.max_tracked_per_symbol].into_boxed_slice(),
            watched: vec![Watched::EMPTY; cfg.max_tracked_per_symbol].into_boxed_slice(),
            active: 0,
            vwap: SlidingWindow::new(cfg.vwap_window_ms * NS_PER_MS),
            pushed: [false; 2],
        }
    }

    /// Stops watching `order_ref`; returns the order if it was watched.
    #[inline]
    fn unwatch(&mut self, order_ref: u64) -> Option<Watched> {
        if order_ref == 0 || self.active == 0 {
            return None;
        }
        let i = self.refs.iter().position(|&r| r == order_ref)?;
        self.refs[i] = 0;
        self.active -= 1;
        Some(self.watched[i])
    }

    /// VWAP window totals as of `ts` (advances the window).
    #[inline]
    pub(crate) fn vwap_totals(&mut self, ts: u64) -> VolNotional {
        self.vwap.advance(ts);
        self.vwap.total()
    }
}

/// The marking-the-close detector.
#[derive(Debug, Clone)]
pub(crate) struct MarkingTheClose {
    cfg: MarkingTheCloseConfig,
    close: u64,
    entry_from: u64,
    cancel_from: u64,
    vwap_from: u64,
    /// Large orders not watched because the per-symbol table was full.
    pub(crate) dropped: u64,
    /// Orders watched over all symbols (while 0, withdrawals need not look at any symbol's table).
    watching: u64,
}

impl MarkingTheClose {
    pub(crate) fn new(cfg: &MarkingTheCloseConfig) -> Self {
        let close = cfg.close_time.0;
        MarkingTheClose {
            cfg: cfg.clone(),
            close,
            entry_from: cfg.entry_from.0,
            cancel_from: close.saturating_sub(cfg.cancel_window_ms * NS_PER_MS),
            vwap_from: cfg
                .entry_from
                .0
                .saturating_sub(cfg.vwap_window_ms * NS_PER_MS),
            dropped: 0,
            watching: 0,
        }
    }

    /// Whether `on_event` can do anything for this event (decided without touching the symbol's state): a
    /// withdrawal while some order is watched, or a new order in the entry window.
    #[inline]
    pub(crate) fn wants(&self, c: &Ctx<'_>) -> bool {
        // The time test first: it is false all day but the last minutes, so the branch is predictable, whereas
        // the event's kind changes at every event.
        (self.watching > 0 && c.withdrawal.is_some())
            || (self.in_window(c.ts()) && c.new_order.is_some())
    }

    /// Whether executions at `ts` must feed the VWAP window.
    #[inline]
    pub(crate) fn wants_vwap(&self, ts: u64) -> bool {
        ts >= self.vwap_from && ts < self.close
    }

    /// Whether `ts` is in the watched period [entry_from, close).
    #[inline]
    pub(crate) fn in_window(&self, ts: u64) -> bool {
        ts >= self.entry_from && ts < self.close
    }

    /// Adds an execution to the VWAP window (call for executions, not crosses).
    #[inline]
    pub(crate) fn add_trade(&self, s: &mut CloseSym, ts: u64, price: Price, qty: u32) {
        s.vwap.add(
            ts,
            VolNotional {
                volume: qty as u64,
                notional: price.max(0) as u128 * qty as u128,
            },
        );
    }

    #[inline]
    pub(crate) fn on_event(&mut self, c: &Ctx<'_>, s: &mut CloseSym, out: &mut impl FnMut(&Alert)) {
        if let Some(w) = c.withdrawal {
            self.on_withdrawal(c, s, w, out);
        }
        if let (Some(n), Some(median)) = (c.new_order, c.median) {
            self.on_new_order(c, s, n, median);
        }
    }

    /// A withdrawal: a watched order that leaves the book in the last seconds before the close is an alert.
    #[inline]
    pub(crate) fn on_withdrawal(
        &mut self,
        c: &Ctx<'_>,
        s: &mut CloseSym,
        w: Withdrawal,
        out: &mut impl FnMut(&Alert),
    ) {
        let ts = c.ts();
        if w.gone {
            if let Some(wch) = s.unwatch(w.order_ref) {
                self.watching -= 1;
                if ts >= self.cancel_from && ts < self.close {
                    self.emit_cancel(c, &wch, out);
                }
            }
        }
    }

    /// An execution that filled the resting order `order_ref` (none left): it can no longer be cancelled, so it is
    /// no longer watched (its slot serves the next large order).
    #[inline]
    pub(crate) fn on_filled(&mut self, s: &mut CloseSym, order_ref: u64) {
        if s.unwatch(order_ref).is_some() {
            self.watching -= 1;
        }
    }

    /// A new order (`median`: the symbol's median displayed size before it): a large one entered in the watched
    /// period is watched.
    #[inline]
    pub(crate) fn on_new_order(&mut self, c: &Ctx<'_>, s: &mut CloseSym, n: NewOrder, median: u32) {
        let ts = c.ts();
        if self.in_window(ts)
            && median > 0
            && n.side != Side::None
            && n.order_ref != 0
            && n.qty as f64 >= self.cfg.size_multiple * median as f64
        {
            let mut add = EvidenceOrder::from_event("large_order", c.ev);
            add.order_ref = n.order_ref;
            add.action = EventKind::Add;
            let w = Watched {
                order_ref: n.order_ref,
                side: n.side,
                size: n.qty,
                median,
                add,
            };
            if let Some(i) = s.refs.iter().position(|&r| r == 0) {
                s.refs[i] = n.order_ref;
                s.watched[i] = w;
                s.active += 1;
                self.watching += 1;
            } else {
                self.dropped += 1;
            }
        }
    }

    /// Whether a withdrawal can concern a watched order (some order is watched, on any symbol).
    #[inline]
    pub(crate) fn watching(&self) -> bool {
        self.watching > 0
    }

    fn emit_cancel(&self, c: &Ctx<'_>, w: &Watched, out: &mut impl FnMut(&Alert)) {
        let ts = c.ts();
        let left = self.close - ts;
        let window = self.close - self.cancel_from;
        let m_size = (w.size as f64 / (self.cfg.size_multiple * w.median as f64)).min(10.0);
        let m_time = (window as f64 / left.max(1) as f64).min(10.0);
        let mut a = Alert::at_event(DetectorKind::MarkingTheClose, c.ev, w.side);
        a.window_start_ns = w.add.ts_ns;
        a.score = (m_size * m_time).sqrt();
        a.evidence
            .figure("variant", Value::text(b"cancel"))
            .figure("order_ref", w.order_ref)
            .figure("order_size", w.size)
            .figure("median_order_size", w.median)
            .figure("size_multiple", w.size as f64 / w.median.max(1) as f64)
            .figure("seconds_before_close", left as f64 / 1e9);
        a.evidence.order(w.add);
        a.evidence.order(EvidenceOrder::from_event("cancel", c.ev));
        out(&a);
    }

    /// Evaluates a finished sweep of the symbol of `s` (variant b).
    pub(crate) fn on_sweep(&mut self, sw: &Sweep, s: &mut CloseSym, out: &mut impl FnMut(&Alert)) {
        if !sw.in_close_window || sw.median == 0 || sw.aggressor == Side::None {
            return;
        }
        let pi = (sw.aggressor == Side::Sell) as usize;
        if s.pushed[pi] || (sw.qty as f64) < self.cfg.size_multiple * sw.median as f64 {
            return;
        }
        // The 5-minute VWAP; when nothing traded in those 5 minutes it is undefined and the last trade price before
        // the aggressive order is the reference instead.
        let vwap = sw.vwap_before.vwap();
        let (reference, ref_kind): (Price, &[u8]) = if vwap > 0 {
            (vwap, b"vwap")
        } else if sw.price_before > 0 {
            (sw.price_before, b"last_price")
        } else {
            return;
        };
        let dev = price_diff(sw.last_price, reference) * 1e4 / reference as f64 * dir(sw.aggressor);
        if dev < self.cfg.min_deviation_bps {
            return;
        }
        s.pushed[pi] = true;
        let m_size = (sw.qty as f64 / (self.cfg.size_multiple * sw.median as f64)).min(10.0);
        let m_dev = (dev / self.cfg.min_deviation_bps).min(10.0);
        let l = &sw.last;
        let mut a = Alert {
            detector: DetectorKind::MarkingTheClose.into(),
            symbol: l.symbol,
            stock_locate: l.book,
            side: sw.aggressor,
            event_ts_ns: l.ts_ns,
            window_start_ns: sw.first.ts_ns,
            window_end_ns: l.ts_ns,
            score: (m_size * m_dev).sqrt(),
            seq: l.seq,
            evidence: Default::default(),
        };
        a.evidence
            .figure("variant", Value::text(b"push"))
            .figure("order_size", sw.qty)
            .figure("median_order_size", sw.median)
            .figure("size_multiple", sw.qty as f64 / sw.median as f64)
            .price("vwap", vwap)
            .figure("vwap_volume", sw.vwap_before.volume)
            .figure("reference", Value::text(ref_kind))
            .price("reference_price", reference)
            .price("price_before", sw.price_before)
            .price("last_price", sw.last_price)
            .figure("deviation_bps", dev)
            .figure("sweep_executions", sw.fills);
        let mut first = sw.first;
        first.role = "sweep_execution";
        a.evidence.order(first);
        if sw.fills > 1 {
            let mut last = sw.last;
            last.role = "sweep_execution";
            a.evidence.order(last);
        }
        a.evidence.orders_total = sw.fills;
        out(&a);
    }
}
