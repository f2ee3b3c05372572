//! Quote stuffing.
//!
//! **Definition** (defaults in brackets, all in [`QuoteStuffingConfig`]): in a sliding window of `window_ms`
//! [50 ms], at least `min_messages` [500] add/cancel/delete/replace messages for one symbol, at least
//! `baseline_multiple` [20] × the symbol's trailing rate for that window length (measured over the
//! `baseline_window_ms` [60 s] just before the current second and scaled to the window length), with an
//! order-to-trade ratio (order messages / max(executions, 1)) of at least `min_order_to_trade` [50] in the window.
//!
//! The window is bucketed in 50 buckets (1 ms at the default), the baseline in 60 (1 s). One alert per burst: after
//! an alert the detector stays quiet for the symbol until the window count falls below half of `min_messages`.
//! When `order_to_trade` is enabled with `window_ms` equal to `baseline_window_ms` (the defaults), the baseline is
//! read from that detector's per-symbol window, which has the same geometry and counts the same order messages
//! (one window update per event instead of two; same figures).
//!
//! Public definitions encoded: MAR Annex I A indicator (e) as specified by EU Delegated Regulation 2016/522 Annex II
//! Section 1 — the practice "usually known as quote stuffing" (large numbers of orders, cancellations or updates
//! that create uncertainty for other participants or slow down their processes), with the order-to-trade ratio as
//! an additional indicator; CME Rule 575.C–D (messages entered to overload, delay or disrupt systems; disruptive
//! messaging).
//!
//! **Alert**: completed by the message that crossed the thresholds; `side` null; window = the 50 ms window;
//! evidence: `order_messages`, `executions`, `order_to_trade`, `baseline_per_window` (the trailing rate scaled to
//! the window), `baseline_multiple` (count / baseline; null when the baseline is 0), `window_ns`.
//! **Score**: geometric mean of count / min_messages, (count / baseline) / baseline_multiple and
//! ratio / min_order_to_trade, each capped at 10.

use std::ops::{AddAssign, SubAssign};

use book::Side;

use crate::alert::{Alert, DetectorKind};
use crate::config::{QuoteStuffingConfig, NS_PER_MS};
use crate::ctx::Ctx;
use crate::window::{CountWindow, SlidingWindow};

/// Order messages and executions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct OrdersTrades {
    pub orders: u32,
    pub trades: u32,
}

impl OrdersTrades {
    /// Both counters in one `u64` (orders low, executions high), as a [`CountWindow`] counts them.
    #[inline]
    pub(crate) fn pack(self) -> u64 {
        self.orders as u64 | (self.trades as u64) << 32
    }

    /// The counters of [`pack`](Self::pack)'s `u64`.
    #[inline]
    pub(crate) fn unpack(v: u64) -> Self {
        OrdersTrades {
            orders: v as u32,
            trades: (v >> 32) as u32,
        }
    }
}

impl AddAssign for OrdersTrades {
    #[inline]
    fn add_assign(&mut self, o: Self) {
        self.orders += o.orders;
        self.trades += o.trades;
    }
}

impl SubAssign for OrdersTrades {
    #[inline]
    fn sub_assign(&mut self, o: Self) {
        self.orders -= o.orders;
        self.trades -= o.trades;
    }
}

/// Per-symbol quote-stuffing state.
#[derive(Debug, Clone)]
pub(crate) struct StuffSym {
    win: CountWindow<50>,
    base: SlidingWindow<u32, 60>,
    first_in_burst: u64,
}

impl StuffSym {
    /// The stuffing window (for a prefetch of its lines).
    #[inline]
    pub(crate) fn window(&self) -> &CountWindow<50> {
        &self.win
    }

    pub(crate) fn new(cfg: &QuoteStuffingConfig) -> Self {
        StuffSym {
            win: CountWindow::new(cfg.window_ms * NS_PER_MS),
            base: SlidingWindow::new(cfg.baseline_window_ms * NS_PER_MS),
            first_in_burst: 0,
        }
    }
}

/// The quote-stuffing detector.
#[derive(Debug, Clone)]
pub(crate) struct QuoteStuffing {
    cfg: QuoteStuffingConfig,
}

impl QuoteStuffing {
    pub(crate) fn new(cfg: &QuoteStuffingConfig) -> Self {
        QuoteStuffing { cfg: cfg.clone() }
    }

    /// `v`: this event's order messages / executions (each 0 or 1).
    /// `latched`: the symbol's quiet flag (kept in the symbol's first cache line by the caller).
    /// `shared_base`: the symbol's order-to-trade window when it has the baseline's geometry (same length, 60
    /// buckets) and is updated with this event before this call; its order counts are then the baseline, and the
    /// symbol's own baseline window is not kept.
    #[inline(always)]
    pub(crate) fn on_event(
        &mut self,
        c: &Ctx<'_>,
        s: &mut StuffSym,
        latched: &mut bool,
        v: OrdersTrades,
        shared_base: Option<&CountWindow<60>>,
        out: &mut impl FnMut(&Alert),
    ) {
        let orders = v.orders > 0;
        if !orders && v.trades == 0 {
            return;
        }
        let ts = c.ts();
        s.win.add(ts, v.pack());
        if shared_base.is_none() {
            if orders {
                s.base.add(ts, 1);
            } else {
                s.base.advance(ts);
            }
        }
        if *latched {
            self.latched(s, latched);
            return;
        }
        // The window's O(1) bound rules out most events; the exact total is summed only above it.
        if !orders || OrdersTrades::unpack(s.win.bound()).orders < self.cfg.min_messages {
            return;
        }
        self.check(c, s, latched, shared_base, out);
    }

    /// After an alert: quiet until the window count falls below half of `min_messages`.
    #[cold]
    #[inline(never)]
    fn latched(&self, s: &StuffSym, latched: &mut bool) {
        if OrdersTrades::unpack(s.win.total()).orders * 2 < self.cfg.min_messages {
            *latched = false;
        }
    }

    /// The exact window total, the baseline and the order-to-trade ratio, and the alert (the bound reached
    /// `min_messages`).
    #[cold]
    #[inline(never)]
    fn check(
        &self,
        c: &Ctx<'_>,
        s: &mut StuffSym,
        latched: &mut bool,
        shared_base: Option<&CountWindow<60>>,
        out: &mut impl FnMut(&Alert),
    ) {
        let ts = c.ts();
        let w = OrdersTrades::unpack(s.win.total());
        if w.orders < self.cfg.min_messages {
            return;
        }
        let (base_span, base_before) = match shared_base {
            Some(b) => (
                b.geometry().window_ns() - b.geometry().bucket_width_ns(),
                OrdersTrades::unpack(b.total_before_newest()).orders,
            ),
            None => (
                s.base.window_ns() - s.base.bucket_width_ns(),
                s.base.total_before_newest(),
            ),
        };
        let baseline =
            base_before as f64 * s.win.geometry().window_ns() as f64 / base_span.max(1) as f64;
        let ratio = w.orders as f64 / w.trades.max(1) as f64;
        if (w.orders as f64) < self.cfg.baseline_multiple * baseline
            || ratio < self.cfg.min_order_to_trade
        {
            return;
        }
        *latched = true;
        s.first_in_burst = s.win.start_ns();
        let m_count = (w.orders as f64 / self.cfg.min_messages as f64).min(10.0);
        let m_base = if baseline > 0.0 && self.cfg.baseline_multiple > 0.0 {
            (w.orders as f64 / baseline / self.cfg.baseline_multiple).min(10.0)
        } else {
            10.0
        };
        let m_otr = if self.cfg.min_order_to_trade > 0.0 {
            (ratio / self.cfg.min_order_to_trade).min(10.0)
        } else {
            10.0
        };
        let mut a = Alert::at_event(DetectorKind::QuoteStuffing, c.ev, Side::None);
        a.window_start_ns = ts
            .saturating_sub(s.win.geometry().window_ns())
            .max(s.win.start_ns());
        a.score = (m_count * m_base * m_otr).cbrt();
        a.evidence
            .figure("order_messages", w.orders)
            .figure("executions", w.trades)
            .figure("order_to_trade", ratio)
            .figure("baseline_per_window", baseline)
            .figure(
                "baseline_multiple",
                if baseline > 0.0 {
                    w.orders as f64 / baseline
                } else {
                    f64::INFINITY
                },
            )
            .figure("window_ns", s.win.geometry().window_ns());
        out(&a);
    }
}
