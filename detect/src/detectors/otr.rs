//! Excessive order-to-trade ratio.
//!
//! **Definition** (defaults in brackets, all in [`OrderToTradeConfig`]): over a sliding `window_ms` [60 s] window,
//! per symbol: order messages (adds, cancels, deletes, replaces) ≥ `min_order_messages` [2 000] and order messages
//! / max(executions, 1) ≥ `max_ratio` [200], where executions are `E`, `C` and `P` of the symbol. Per MPID within a
//! symbol (`per_mpid` [true]; attributed orders, whose every event carries the MPID): the MPID's order messages ≥
//! `mpid_min_order_messages` [1 000] and its order messages / max(executions of its orders, 1) ≥ `max_ratio`.
//!
//! The window is bucketed in 60 buckets (1 s). One alert per episode and key: after an alert the key stays quiet
//! until its count falls below half the minimum or its ratio below half the threshold.
//!
//! Public definitions encoded: MAR Annex I A indicator (e) as specified by EU Delegated Regulation 2016/522 Annex II
//! Section 1 (the ratio of orders to trade to transactions among the additional indicators); MiFID II Article 48(6)
//! and Commission Delegated Regulation (EU) 2017/566 (RTS 9: the ratio of unexecuted orders to transactions that
//! trading venues must limit); CME Rule 575.D (messages with reckless disregard for orderly trading).
//!
//! **Alert**: completed by the message that crossed the thresholds; `side` null; window = the 60 s window;
//! evidence: `order_messages`, `executions`, `order_to_trade`, `mpid` (per-MPID variant) and `variant`
//! (`"symbol"`/`"mpid"`).
//! **Score**: geometric mean of ratio / max_ratio and count / minimum, each capped at 10.

use book::Side;

use crate::alert::{Alert, DetectorKind, Value};
use crate::config::{OrderToTradeConfig, NS_PER_MS};
use crate::ctx::Ctx;
use crate::detectors::stuffing::OrdersTrades;
use crate::window::{CountWindow, SlidingWindow};

/// Probe length of the (symbol, MPID) table.
const PROBE: usize = 8;

/// Per-symbol order-to-trade state.
#[derive(Debug, Clone)]
pub(crate) struct OtrSym {
    win: CountWindow<60>,
}

impl OtrSym {
    pub(crate) fn new(cfg: &OrderToTradeConfig) -> Self {
        OtrSym {
            win: CountWindow::new(cfg.window_ms * NS_PER_MS),
        }
    }

    /// Counts an event with order messages and/or executions in the symbol's window (call before
    /// [`OrderToTrade::on_event`]; quote stuffing may read the window in between).
    #[inline]
    pub(crate) fn record(&mut self, ts: u64, orders: bool, trades: bool) {
        if orders || trades {
            self.win.add(
                ts,
                OrdersTrades {
                    orders: orders as u32,
                    trades: trades as u32,
                }
                .pack(),
            );
        }
    }

    /// The symbol's window (orders and executions over `window_ms`, 60 buckets).
    #[inline]
    pub(crate) fn window(&self) -> &CountWindow<60> {
        &self.win
    }
}

#[derive(Debug, Clone)]
struct MpidKey {
    /// (locate << 32) | mpid; 0 = empty.
    key: u64,
    last_ts: u64,
    win: SlidingWindow<OrdersTrades, 60>,
    latched: bool,
}

/// The order-to-trade detector (holds the per-(symbol, MPID) table).
#[derive(Debug, Clone)]
pub(crate) struct OrderToTrade {
    cfg: OrderToTradeConfig,
    window_ns: u64,
    keys: Box<[MpidKey]>,
    mask: usize,
    /// Attributed events ignored because the (symbol, MPID) table was full.
    pub(crate) dropped: u64,
}

impl OrderToTrade {
    pub(crate) fn new(cfg: &OrderToTradeConfig) -> Self {
        let window_ns = cfg.window_ms * NS_PER_MS;
        let cap = if cfg.per_mpid {
            cfg.max_mpid_keys.next_power_of_two().max(PROBE)
        } else {
            1
        };
        let proto = MpidKey {
            key: 0,
            last_ts: 0,
            win: SlidingWindow::new(window_ns),
            latched: false,
        };
        OrderToTrade {
            cfg: cfg.clone(),
            window_ns,
            keys: vec![proto; cap].into_boxed_slice(),
            mask: cap - 1,
            dropped: 0,
        }
    }

    #[inline]
    fn check(&self, w: OrdersTrades, min: u32, latched: &mut bool) -> Option<f64> {
        if !*latched && w.orders < min {
            return None; // most events: no division
        }
        let ratio = w.orders as f64 / w.trades.max(1) as f64;
        if *latched {
            if w.orders * 2 < min || ratio * 2.0 < self.cfg.max_ratio {
                *latched = false;
            }
            return None;
        }
        if w.orders >= min && ratio >= self.cfg.max_ratio {
            *latched = true;
            Some(ratio)
        } else {
            None
        }
    }

    fn alert(
        &self,
        c: &Ctx<'_>,
        w: OrdersTrades,
        ratio: f64,
        min: u32,
        start: u64,
        mpid: Option<[u8; 4]>,
    ) -> Alert {
        let ts = c.ts();
        let m_ratio = (ratio / self.cfg.max_ratio).min(10.0);
        let m_count = (w.orders as f64 / min.max(1) as f64).min(10.0);
        let mut a = Alert::at_event(DetectorKind::OrderToTrade, c.ev, Side::None);
        a.window_start_ns = start.max(ts.saturating_sub(self.window_ns));
        a.score = (m_ratio * m_count).sqrt();
        a.evidence
            .figure(
                "variant",
                Value::text(if mpid.is_some() { b"mpid" } else { b"symbol" }),
            )
            .figure("order_messages", w.orders)
            .figure("executions", w.trades)
            .figure("order_to_trade", ratio)
            .figure("window_ns", self.window_ns);
        if let Some(m) = mpid {
            a.evidence.figure("mpid", Value::text(&m));
        }
        a
    }

    /// `orders`/`trades`: whether the event is an order message / an execution of the symbol; `latched`: the
    /// symbol's quiet flag (kept in the symbol's first cache line by the caller).
    #[inline(always)]
    pub(crate) fn on_event(
        &mut self,
        c: &Ctx<'_>,
        s: &mut OtrSym,
        latched: &mut bool,
        orders: bool,
        trades: bool,
        out: &mut impl FnMut(&Alert),
    ) {
        if !orders && !trades {
            return;
        }
        // The window was updated by `OtrSym::record`. Below the minimum count nothing can fire: the window's O(1)
        // bound decides that for most events, the exact total is summed only above it or after an alert.
        if *latched || OrdersTrades::unpack(s.win.bound()).orders >= self.cfg.min_order_messages {
            self.check_symbol(c, s, latched, out);
        }
        // Per MPID: only events of attributed orders (an execution's MPID is the resting order's). An MPID is
        // attributed when a byte is neither NUL nor a space (clearing bit 5 of each byte zeroes exactly those).
        if self.cfg.per_mpid
            && u32::from_ne_bytes(c.ev.mpid) & 0xDFDF_DFDF != 0
            && c.ev.kind != book::EventKind::HiddenTrade
        {
            let v = OrdersTrades {
                orders: orders as u32,
                trades: trades as u32,
            };
            self.on_mpid(c, v, out);
        }
    }

    /// The symbol's exact window total, the check and the alert.
    #[cold]
    #[inline(never)]
    fn check_symbol(
        &mut self,
        c: &Ctx<'_>,
        s: &mut OtrSym,
        latched: &mut bool,
        out: &mut impl FnMut(&Alert),
    ) {
        let min = self.cfg.min_order_messages;
        let w = OrdersTrades::unpack(s.win.total());
        if let Some(ratio) = self.check(w, min, latched) {
            let a = self.alert(c, w, ratio, min, s.win.start_ns(), None);
            out(&a);
        }
    }

    #[inline(never)]
    fn on_mpid(&mut self, c: &Ctx<'_>, v: OrdersTrades, out: &mut impl FnMut(&Alert)) {
        let ts = c.ts();
        let key = ((c.ev.book as u64) << 32) | u32::from_be_bytes(c.ev.mpid) as u64;
        let home = (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40) as usize & self.mask;
        let stale = ts.saturating_sub(self.window_ns);
        let mut found = None;
        let mut free: Option<(usize, u64)> = None;
        for k in 0..PROBE.min(self.keys.len()) {
            let i = (home + k) & self.mask;
            let e = &self.keys[i];
            if e.key == key {
                found = Some(i);
                break;
            }
            // Prefer an empty slot, then the stalest idle one.
            let age_key = if e.key == 0 {
                0
            } else {
                e.last_ts.saturating_add(1)
            };
            if (e.key == 0 || e.last_ts < stale) && free.is_none_or(|(_, a)| age_key < a) {
                free = Some((i, age_key));
            }
        }
        let i = match (found, free) {
            (Some(i), _) => i,
            (None, Some((i, _))) => {
                let e = &mut self.keys[i];
                e.key = key;
                e.win.reset();
                e.latched = false;
                i
            }
            (None, None) => {
                self.dropped += 1;
                return;
            }
        };
        let min = self.cfg.mpid_min_order_messages;
        let e = &mut self.keys[i];
        e.last_ts = ts;
        e.win.add(ts, v);
        let w = e.win.total();
        let start = e.win.start_ns();
        let mut latched = e.latched;
        let fired = self.check(w, min, &mut latched);
        self.keys[i].latched = latched;
        if let Some(ratio) = fired {
            let a = self.alert(c, w, ratio, min, start, Some(c.ev.mpid));
            out(&a);
        }
    }
}
