//! Momentum ignition.
//!
//! **Definition** (defaults in brackets, all in [`MomentumIgnitionConfig`]): at least `min_executions` [10]
//! executions with the same aggressor side within `window_ms` [2 s] moving the last price at least `min_move_bps`
//! [30 bps] in the aggressor's direction (from the last price before the first of those executions to the price of
//! the latest); then, within `retrace_within_ms` [10 s] of the last ignition execution (the last that extended the
//! move), an execution with the opposite aggressor side at a price that retraces at least `retrace_fraction` [50 %]
//! of the move.
//!
//! ITCH semantics: `E`/`C` execute a resting order, so the aggressor is the side opposite the order's side; a `P`
//! counts with the side of the touch it traded at, or not at all inside the spread (configurable, see
//! [`HiddenTradeSide`](crate::config::HiddenTradeSide)); crosses (`Q`) have no aggressor and are not counted. While an ignition is armed, further same-side executions that extend the move update the peak
//! and restart the retracement clock. One alert per episode: after an alert, no new ignition on that side of the
//! symbol is armed for `window_ms`.
//!
//! Public definitions encoded: MAR Annex I A indicator (d) — orders or transactions concentrated in a short time
//! span leading to a price change that is subsequently reversed — and EU Delegated Regulation 2016/522 Annex II
//! Section 1, the practice "usually known as momentum ignition" (orders or transactions likely to start or
//! exacerbate a trend and encourage others to extend it, to open or close a position at a favourable price);
//! CME Rule 575.D.
//!
//! **Alert**: completed by the retracing execution; `side` = the ignition's aggressor side; window = first ignition
//! execution → retracement; evidence: the execution that completed the ignition, the peak execution (when later)
//! and the retracing execution,
//! `start_price`, `peak_price`, `move_bps`, `ignition_executions`, `retrace_price`, `retrace_fraction`,
//! `retrace_delay_ns`.
//! **Score**: geometric mean of executions / minimum, move / min_move_bps, retrace / retrace_fraction, each capped
//! at 10.

use book::{Price, Side};

use crate::alert::{Alert, DetectorKind, EvidenceOrder};
use crate::config::{MomentumIgnitionConfig, NS_PER_MS};
use crate::ctx::{dir, price_diff, Ctx};

#[derive(Debug, Clone, Copy, Default)]
struct ExecRec {
    ts: u64,
    /// Last price before this execution (0 = none).
    before: Price,
    /// Executions this record stands for (more than 1 once the ring has been full: see [`ExecRing::push`]).
    n: u32,
}

/// Heap bytes per execution record.
pub(crate) const EXEC_RECORD_BYTES: u64 = std::mem::size_of::<ExecRec>() as u64;

/// Ring of recent executions for one aggressor side, with the number of executions it holds.
///
/// When it is full, the two newest records are merged (the older one's time and price stand for both) before the
/// new one is appended: the oldest records — the start of a run, whose price measures the move — stay exact
/// however many executions a run has, and so does the count; only pruning by age then drops a merged record's
/// younger executions with its older one (early, never late).
#[derive(Debug, Clone)]
struct ExecRing {
    buf: Box<[ExecRec]>,
    head: usize,
    len: usize,
    /// Executions in the ring (the sum of the records' `n`).
    count: usize,
}

impl ExecRing {
    fn new(cap: usize) -> Self {
        ExecRing {
            buf: vec![ExecRec::default(); cap.max(1)].into_boxed_slice(),
            head: 0,
            len: 0,
            count: 0,
        }
    }
    #[inline]
    fn push(&mut self, r: ExecRec) {
        let cap = self.buf.len();
        self.count += r.n as usize;
        if self.len == cap {
            let newest = (self.head + cap - 1) % cap;
            if cap == 1 {
                self.buf[newest].n += r.n;
                return;
            }
            let prev = (self.head + cap - 2) % cap;
            self.buf[prev].n += self.buf[newest].n;
            self.buf[newest] = r;
            return;
        }
        let i = (self.head + self.len) % cap;
        self.buf[i] = r;
        self.len += 1;
    }
    #[inline]
    fn prune(&mut self, oldest: u64) {
        while self.len > 0 && self.buf[self.head].ts < oldest {
            self.count -= self.buf[self.head].n as usize;
            self.head = (self.head + 1) % self.buf.len();
            self.len -= 1;
        }
    }
    #[inline]
    fn first(&self) -> Option<ExecRec> {
        (self.len > 0).then(|| self.buf[self.head])
    }
    fn clear(&mut self) {
        self.len = 0;
        self.count = 0;
    }
}

#[derive(Debug, Clone, Copy)]
struct Ignition {
    active: bool,
    start_price: Price,
    peak_price: Price,
    start_ts: u64,
    peak_ts: u64,
    deadline: u64,
    executions: usize,
    first: EvidenceOrder,
    peak: EvidenceOrder,
}

/// Per-symbol momentum state: recent executions per aggressor side and the armed ignitions.
#[derive(Debug, Clone)]
pub(crate) struct MomentumSym {
    /// Index 0 = buy aggressor, 1 = sell aggressor.
    rings: [ExecRing; 2],
    armed: [Option<Ignition>; 2],
    /// After an alert, no new ignition of that side is armed before this time (one alert per episode).
    quiet_until: [u64; 2],
}

impl MomentumSym {
    pub(crate) fn new(cfg: &MomentumIgnitionConfig) -> Self {
        MomentumSym {
            rings: [
                ExecRing::new(cfg.max_tracked_executions),
                ExecRing::new(cfg.max_tracked_executions),
            ],
            armed: [None, None],
            quiet_until: [0, 0],
        }
    }
}

#[inline]
fn si(side: Side) -> usize {
    (side == Side::Sell) as usize
}

/// Move from `from` to `to` in bps, signed in the direction of `side`.
#[inline]
fn move_bps(side: Side, from: Price, to: Price) -> f64 {
    if from <= 0 {
        return 0.0;
    }
    price_diff(to, from) * 1e4 / from as f64 * dir(side)
}

/// The momentum-ignition detector.
#[derive(Debug, Clone)]
pub(crate) struct MomentumIgnition {
    cfg: MomentumIgnitionConfig,
    window_ns: u64,
    retrace_ns: u64,
}

impl MomentumIgnition {
    pub(crate) fn new(cfg: &MomentumIgnitionConfig) -> Self {
        MomentumIgnition {
            cfg: cfg.clone(),
            window_ns: cfg.window_ms * NS_PER_MS,
            retrace_ns: cfg.retrace_within_ms * NS_PER_MS,
        }
    }

    #[inline]
    pub(crate) fn on_event(
        &mut self,
        c: &Ctx<'_>,
        s: &mut MomentumSym,
        out: &mut impl FnMut(&Alert),
    ) {
        let Some(x) = c.exec else { return };
        let ts = c.ts();
        let a = x.aggressor;
        let ai = si(a);
        let oi = 1 - ai;
        let before = if c.last_price_before > 0 {
            c.last_price_before
        } else {
            x.price
        };

        // Retracement of an ignition in the other direction.
        if let Some(ig) = s.armed[oi] {
            if ts > ig.deadline {
                s.armed[oi] = None;
            } else {
                let side = a.opposite();
                let d = dir(side);
                let total = price_diff(ig.peak_price, ig.start_price) * d;
                let back = price_diff(ig.peak_price, x.price) * d;
                if total > 0.0 && back >= self.cfg.retrace_fraction * total {
                    let total_bps = move_bps(side, ig.start_price, ig.peak_price);
                    self.emit(c, side, &ig, total_bps, back / total, out);
                    s.armed[oi] = None;
                    s.rings[oi].clear();
                    s.quiet_until[oi] = ts.saturating_add(self.window_ns);
                }
            }
        }

        // Ignition in this direction.
        let ring = &mut s.rings[ai];
        ring.push(ExecRec { ts, before, n: 1 });
        ring.prune(ts.saturating_sub(self.window_ns));
        match &mut s.armed[ai] {
            Some(ig) if ts <= ig.deadline => {
                if move_bps(a, ig.peak_price, x.price) > 0.0 {
                    ig.peak_price = x.price;
                    ig.peak_ts = ts;
                    ig.deadline = ts.saturating_add(self.retrace_ns);
                    ig.peak = EvidenceOrder::from_event("ignition_execution", c.ev);
                }
                ig.executions += 1;
            }
            slot => {
                *slot = None;
                if ring.count >= self.cfg.min_executions && ts >= s.quiet_until[ai] {
                    let first = ring.first().expect("non-empty");
                    let start = first.before;
                    let mv = move_bps(a, start, x.price);
                    if mv >= self.cfg.min_move_bps {
                        let ev = EvidenceOrder::from_event("ignition_execution", c.ev);
                        *slot = Some(Ignition {
                            active: true,
                            start_price: start,
                            peak_price: x.price,
                            start_ts: first.ts,
                            peak_ts: ts,
                            deadline: ts.saturating_add(self.retrace_ns),
                            executions: ring.count,
                            first: ev,
                            peak: ev,
                        });
                    }
                }
            }
        }
    }

    fn emit(
        &self,
        c: &Ctx<'_>,
        side: Side,
        ig: &Ignition,
        total_bps: f64,
        frac: f64,
        out: &mut impl FnMut(&Alert),
    ) {
        debug_assert!(ig.active);
        let ts = c.ts();
        let m_n = (ig.executions as f64 / self.cfg.min_executions.max(1) as f64).min(10.0);
        let m_move = (total_bps / self.cfg.min_move_bps).min(10.0);
        let m_back = (frac / self.cfg.retrace_fraction).min(10.0);
        let mut a = Alert::at_event(DetectorKind::MomentumIgnition, c.ev, side);
        a.window_start_ns = ig.start_ts;
        a.score = (m_n * m_move * m_back).cbrt();
        a.evidence
            .price("start_price", ig.start_price)
            .price("peak_price", ig.peak_price)
            .figure("move_bps", total_bps)
            .figure("ignition_executions", ig.executions)
            .figure("ignition_start_ns", ig.start_ts)
            .figure("peak_ts_ns", ig.peak_ts)
            .price("retrace_price", c.ev.price)
            .figure("retrace_fraction", frac)
            .figure("retrace_delay_ns", ts.saturating_sub(ig.peak_ts));
        let mut first = ig.first;
        first.role = "ignition_execution";
        a.evidence.order(first);
        if ig.peak.seq != ig.first.seq || ig.peak.ts_ns != ig.first.ts_ns {
            let mut peak = ig.peak;
            peak.role = "peak_execution";
            a.evidence.order(peak);
        }
        a.evidence
            .order(EvidenceOrder::from_event("retrace_execution", c.ev));
        a.evidence.orders_total = a.evidence.orders_total.max(ig.executions as u32 + 1);
        out(&a);
    }
}
