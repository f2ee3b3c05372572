//! Injected episodes of `tickwatch gen`: for every detector, *labelled* episodes whose parameters are drawn above the
//! detector's default thresholds, and *decoys* that miss exactly one condition (just below a threshold, or just
//! outside a time limit). Each episode is a small state machine stepped by the generator at its own times; it acts
//! on the market through [`Market`]'s order-entry primitives and records what it actually did in its [`Label`].
//!
//! Thresholds assumed here are the detect defaults (`detect::DetectConfig::default()`); the background's median
//! displayed order size is 100 shares by construction (see [`super::market::background_size`]).

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Map, Value};

use super::market::{Market, Quiet, Side, CENT};

/// Nanoseconds per millisecond / second.
pub const MS: u64 = 1_000_000;
/// Nanoseconds per second.
pub const S: u64 = 1_000_000_000;
/// Median displayed order size of the background.
pub const MEDIAN: u32 = 100;

/// A ground-truth record: one labelled episode or one decoy.
#[derive(Debug, Clone)]
pub struct Label {
    /// Detector name (as in the alert record).
    pub detector: &'static str,
    /// Symbol (for cross-symbol episodes: the symbol of the order that completes the pattern).
    pub symbol: String,
    /// Stock locate of `symbol`.
    pub stock_locate: u16,
    /// First event of the episode (feed time, ns since midnight).
    pub start_ns: u64,
    /// Event that completes the pattern (or, for decoys, the last event of the episode).
    pub end_ns: u64,
    /// `None` for a labelled episode; the near-miss variant for a decoy.
    pub decoy: Option<&'static str>,
    /// What the episode actually did (sizes, times, figures), including `symbols` for cross-symbol episodes.
    pub parameters: Map<String, Value>,
}

impl Label {
    /// The JSON line of this record.
    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("detector".into(), json!(self.detector));
        o.insert("symbol".into(), json!(self.symbol));
        o.insert("stock_locate".into(), json!(self.stock_locate));
        o.insert("start_ns".into(), json!(self.start_ns));
        o.insert("end_ns".into(), json!(self.end_ns));
        if let Some(v) = self.decoy {
            o.insert("decoy".into(), json!(v));
        }
        o.insert("parameters".into(), Value::Object(self.parameters.clone()));
        Value::Object(o)
    }
}

/// An injected episode.
pub trait Episode {
    /// Time of the next step (`u64::MAX` when finished).
    fn next_ts(&self) -> u64;
    /// Performs the step due at `m.now`.
    fn step(&mut self, m: &mut Market<'_>, rng: &mut ChaCha8Rng);
    /// The record, once finished.
    fn label(&self) -> Option<Label>;
}

fn sym_name(m: &Market<'_>, loc: u16) -> String {
    String::from_utf8_lossy(&m.sym(loc).symbol)
        .trim_end()
        .to_string()
}

fn base_label(
    m: &Market<'_>,
    detector: &'static str,
    loc: u16,
    start: u64,
    decoy: Option<&'static str>,
) -> Label {
    Label {
        detector,
        symbol: sym_name(m, loc),
        stock_locate: loc,
        start_ns: start,
        end_ns: start,
        decoy,
        parameters: Map::new(),
    }
}

/// Makes sure an execution against a resting order on `resting` side happens now (aggressor = the other side):
/// takes `qty` from the best non-protected order, adding one first if the side has none. Returns shares executed.
fn force_exec(m: &mut Market<'_>, loc: u16, resting: Side, qty: u32) -> u32 {
    let aggressor = resting.opp();
    if let Some(best) = m.sym(loc).best(resting) {
        let (q, n, _) = m.aggress(loc, aggressor, Some(qty), best, false);
        if n > 0 {
            return q;
        }
    }
    let sb = m.sym(loc);
    let p = match resting {
        Side::Buy => sb.best_ask().map(|a| a - CENT).unwrap_or(sb.mid()),
        Side::Sell => sb.best_bid().map(|b| b + CENT).unwrap_or(sb.mid()),
    };
    let r = m.add(loc, resting, p, qty, None, false);
    m.execute(r, qty, false)
}

/// A trade that does not move the price: someone joins the best `resting` price and is executed at once.
fn trade_at_touch(m: &mut Market<'_>, loc: u16, resting: Side, qty: u32) {
    let sb = m.sym(loc);
    let p = sb.best(resting).unwrap_or_else(|| sb.mid());
    let r = m.add(loc, resting, p, qty, None, false);
    m.execute(r, qty, false);
}

/// Price `k` ticks behind the best on `side` (k = −1 improves it when the spread allows, else joins).
fn behind(m: &Market<'_>, loc: u16, side: Side, k: i64) -> (i64, i64) {
    let sb = m.sym(loc);
    let Some(best) = sb.best(side) else {
        let p = sb.mid() - side.dir() * (k.max(0) + 1) * CENT;
        return (p, k.max(0));
    };
    let spread = match (sb.best_bid(), sb.best_ask()) {
        (Some(b), Some(a)) => (a - b) / CENT,
        _ => 99,
    };
    let k = if k < 0 && spread < 2 { 0 } else { k };
    (best - side.dir() * k * CENT, k)
}

fn rand_side(rng: &mut ChaCha8Rng) -> Side {
    if rng.gen() {
        Side::Buy
    } else {
        Side::Sell
    }
}

// -----------------------------------------------------------------------------------------------------------------
// Spoofing
// -----------------------------------------------------------------------------------------------------------------

/// Spoofing episode: a large order near the touch, opposite-side executions, then a full cancel.
#[derive(Debug)]
pub struct Spoof {
    loc: u16,
    side: Side,
    size: u32,
    k: i64,
    times: Vec<u64>,
    step_i: usize,
    executed_self: bool,
    big: u64,
    label: Label,
    done: bool,
}

impl Spoof {
    /// Variants: `None` (labelled) or one of `size_below`, `cancel_after_limit`, `too_far`, `executed`,
    /// `no_opposite_execution`.
    pub fn plan(
        m: &mut Market<'_>,
        rng: &mut ChaCha8Rng,
        loc: u16,
        t0: u64,
        decoy: Option<&'static str>,
    ) -> Self {
        let side = rand_side(rng);
        let size = match decoy {
            Some("size_below") => rng.gen_range(6..=9) * 50,
            _ => rng.gen_range(6..=15) * MEDIAN,
        };
        let k = match decoy {
            Some("too_far") => rng.gen_range(3..=5),
            _ => rng.gen_range(-1..=2),
        };
        let life = match decoy {
            Some("cancel_after_limit") => rng.gen_range(2_300..=3_500) * MS,
            _ => rng.gen_range(400..=1_900) * MS,
        };
        let n_exec = if decoy == Some("no_opposite_execution") {
            0
        } else {
            rng.gen_range(1..=3)
        };
        let mut times = vec![t0];
        let mut ex: Vec<u64> = (0..n_exec)
            .map(|_| t0 + rng.gen_range(50..life / MS - 20) * MS)
            .collect();
        ex.sort_unstable();
        times.extend(ex);
        if decoy == Some("executed") {
            times.push(t0 + life - 10 * MS);
        }
        times.push(t0 + life);
        if decoy == Some("no_opposite_execution") {
            m.sym_mut(loc).quiet.push(Quiet {
                from: t0.saturating_sub(100 * MS),
                to: t0 + life + 100 * MS,
                no_exec: true,
                no_large_adds: None,
                no_orders: false,
            });
        }
        let label = base_label(m, "spoofing", loc, t0, decoy);
        Spoof {
            loc,
            side,
            size,
            k,
            times,
            step_i: 0,
            executed_self: decoy == Some("executed"),
            big: 0,
            label,
            done: false,
        }
    }
}

impl Episode for Spoof {
    fn next_ts(&self) -> u64 {
        if self.done {
            u64::MAX
        } else {
            self.times[self.step_i]
        }
    }
    fn step(&mut self, m: &mut Market<'_>, _rng: &mut ChaCha8Rng) {
        let i = self.step_i;
        let last = self.times.len() - 1;
        if i == 0 {
            let (p, k) = behind(m, self.loc, self.side, self.k);
            self.big = m.add(self.loc, self.side, p, self.size, None, true);
            let pm = &mut self.label.parameters;
            pm.insert(
                "side".into(),
                json!(if self.side == Side::Buy {
                    "buy"
                } else {
                    "sell"
                }),
            );
            pm.insert("order_ref".into(), json!(self.big));
            pm.insert("size".into(), json!(self.size));
            pm.insert(
                "size_multiple".into(),
                json!(self.size as f64 / MEDIAN as f64),
            );
            pm.insert("ticks_from_best".into(), json!(k));
            pm.insert("price".into(), json!(p as f64 / 1e4));
        } else if i == last {
            m.delete(self.big);
            self.label.end_ns = m.now;
            let pm = &mut self.label.parameters;
            pm.insert(
                "lifetime_ms".into(),
                json!((m.now - self.label.start_ns) / MS),
            );
            self.done = true;
        } else if self.executed_self && i == last - 1 {
            m.execute(self.big, 100, false);
            self.label
                .parameters
                .insert("executed_shares".into(), json!(100));
        } else {
            force_exec(m, self.loc, self.side.opp(), 100);
            let n = self
                .label
                .parameters
                .get("opposite_executions")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            self.label
                .parameters
                .insert("opposite_executions".into(), json!(n + 1));
        }
        self.step_i += 1;
    }
    fn label(&self) -> Option<Label> {
        self.done.then(|| self.label.clone())
    }
}

// -----------------------------------------------------------------------------------------------------------------
// Layering
// -----------------------------------------------------------------------------------------------------------------

/// Layering episode: orders at several levels on one side, an execution on the other side, then cancels.
#[derive(Debug)]
pub struct Layer {
    loc: u16,
    side: Side,
    sizes: Vec<u32>,
    offsets: Vec<i64>,
    place_t: Vec<u64>,
    exec_t: u64,
    cancel_t: Vec<u64>,
    cancel_set: Vec<usize>,
    late_t: u64,
    mpid: Option<[u8; 4]>,
    refs: Vec<u64>,
    phase: usize,
    label: Label,
    done: bool,
}

impl Layer {
    /// Variants: `None` or `two_levels`, `small_orders`, `late_execution`, `low_cancel_fraction`, `late_cancels`.
    pub fn plan(
        m: &mut Market<'_>,
        rng: &mut ChaCha8Rng,
        loc: u16,
        t0: u64,
        decoy: Option<&'static str>,
        mpid: Option<[u8; 4]>,
    ) -> Self {
        let side = rand_side(rng);
        let n = rng.gen_range(3..=5usize);
        let sizes: Vec<u32> = (0..n)
            .map(|_| match decoy {
                Some("small_orders") => rng.gen_range(12..=18) * 10,
                _ => rng.gen_range(5..=10) * MEDIAN,
            })
            .collect();
        // Levels 3.. ticks behind the touch (never within the 2 ticks of the spoofing rule).
        let mut offsets: Vec<i64> = (0..n as i64).map(|i| 3 + i).collect();
        if decoy == Some("two_levels") {
            for o in offsets.iter_mut().skip(1) {
                *o = 3 + rng.gen_range(0..=1);
            }
            offsets[1] = 3;
            offsets[2] = 4;
        }
        offsets.shuffle(rng);
        let mut place_t = Vec::with_capacity(n);
        let mut t = t0;
        for _ in 0..n {
            place_t.push(t);
            t += rng.gen_range(40..=220) * MS;
        }
        let last = *place_t.last().unwrap();
        let exec_t = last
            + match decoy {
                Some("late_execution") => rng.gen_range(5_500..=7_000) * MS,
                _ => rng.gen_range(300..=3_500) * MS,
            };
        let first_cancel = exec_t
            + match decoy {
                Some("late_cancels") => rng.gen_range(1_150..=1_800) * MS,
                _ => rng.gen_range(50..=200) * MS,
            };
        // Which orders get cancelled within the second: all, or (low fraction) a subset below 70 % of the shares.
        let mut cancel_set: Vec<usize> = (0..n).collect();
        if decoy == Some("low_cancel_fraction") {
            let total: u32 = sizes.iter().sum();
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by_key(|&i| sizes[i]);
            cancel_set.clear();
            let mut acc = 0;
            for i in order {
                if (acc + sizes[i]) as f64 <= 0.65 * total as f64 {
                    acc += sizes[i];
                    cancel_set.push(i);
                }
            }
        }
        let mut cancel_t = Vec::new();
        let mut ct = first_cancel;
        for _ in 0..cancel_set.len() {
            cancel_t.push(ct);
            ct += rng.gen_range(20..=130) * MS;
        }
        let late_t = ct + 3 * S;
        let end = late_t;
        let q = &mut m.sym_mut(loc).quiet;
        q.push(Quiet {
            from: t0.saturating_sub(1_500 * MS),
            to: exec_t + 1_500 * MS,
            no_exec: false,
            no_large_adds: Some(side),
            no_orders: false,
        });
        if decoy.is_some() {
            // Decoys: the scripted execution is the only one on the opposite side.
            q.push(Quiet {
                from: t0,
                to: end,
                no_exec: true,
                no_large_adds: None,
                no_orders: false,
            });
        }
        let label = base_label(m, "layering", loc, t0, decoy);
        Layer {
            loc,
            side,
            sizes,
            offsets,
            place_t,
            exec_t,
            cancel_t,
            cancel_set,
            late_t,
            mpid,
            refs: Vec::new(),
            phase: 0,
            label,
            done: false,
        }
    }
}

impl Episode for Layer {
    fn next_ts(&self) -> u64 {
        if self.done {
            return u64::MAX;
        }
        let n = self.place_t.len();
        let nc = self.cancel_t.len();
        match self.phase {
            p if p < n => self.place_t[p],
            p if p == n => self.exec_t,
            p if p < n + 1 + nc => self.cancel_t[p - n - 1],
            _ => self.late_t,
        }
    }
    fn step(&mut self, m: &mut Market<'_>, _rng: &mut ChaCha8Rng) {
        let n = self.place_t.len();
        let nc = self.cancel_t.len();
        let p = self.phase;
        if p < n {
            let (price, _) = behind(m, self.loc, self.side, self.offsets[p]);
            let r = m.add(self.loc, self.side, price, self.sizes[p], self.mpid, true);
            self.refs.push(r);
        } else if p == n {
            force_exec(m, self.loc, self.side.opp(), 100);
        } else if p < n + 1 + nc {
            let i = self.cancel_set[p - n - 1];
            m.delete(self.refs[i]);
            if p == n + nc {
                self.label.end_ns = m.now;
            }
        } else {
            // Whatever is left is withdrawn long after the window.
            for (i, r) in self.refs.iter().enumerate() {
                if !self.cancel_set.contains(&i) {
                    m.delete(*r);
                }
            }
            let total: u32 = self.sizes.iter().sum();
            let cancelled: u32 = self.cancel_set.iter().map(|&i| self.sizes[i]).sum();
            let mut levels = self.offsets.clone();
            levels.sort_unstable();
            levels.dedup();
            let pm = &mut self.label.parameters;
            pm.insert(
                "side".into(),
                json!(if self.side == Side::Buy {
                    "buy"
                } else {
                    "sell"
                }),
            );
            pm.insert("orders".into(), json!(n));
            pm.insert("levels".into(), json!(levels.len()));
            pm.insert("sizes".into(), json!(self.sizes));
            pm.insert("order_refs".into(), json!(self.refs));
            pm.insert("execution_ns".into(), json!(self.exec_t));
            pm.insert(
                "execution_delay_ms".into(),
                json!((self.exec_t - self.place_t[n - 1]) / MS),
            );
            pm.insert(
                "cancelled_fraction".into(),
                json!(cancelled as f64 / total as f64),
            );
            pm.insert(
                "cancel_span_ms".into(),
                json!(self
                    .cancel_t
                    .last()
                    .map(|t| (t - self.exec_t) / MS)
                    .unwrap_or(0)),
            );
            if let Some(mp) = self.mpid {
                pm.insert("mpid".into(), json!(String::from_utf8_lossy(&mp)));
            }
            if self.label.end_ns == self.label.start_ns {
                self.label.end_ns = m.now;
            }
            self.done = true;
        }
        self.phase += 1;
    }
    fn label(&self) -> Option<Label> {
        self.done.then(|| self.label.clone())
    }
}

// -----------------------------------------------------------------------------------------------------------------
// Quote stuffing
// -----------------------------------------------------------------------------------------------------------------

/// Quote stuffing: a burst of adds and deletes in one symbol with (almost) no trades.
#[derive(Debug)]
pub struct Stuff {
    loc: u16,
    n: u32,
    t0: u64,
    dt: u64,
    trade_every: u32,
    i: u32,
    live: std::collections::VecDeque<u64>,
    trades: u32,
    label: Label,
    done: bool,
}

impl Stuff {
    /// Variants: `None` or `too_few_messages`, `spread_out`, `low_order_to_trade`.
    pub fn plan(
        m: &mut Market<'_>,
        rng: &mut ChaCha8Rng,
        loc: u16,
        t0: u64,
        decoy: Option<&'static str>,
    ) -> Self {
        let (n, dur) = match decoy {
            Some("too_few_messages") => (rng.gen_range(300..=450), rng.gen_range(30..=45) * MS),
            Some("spread_out") => {
                let n = rng.gen_range(900..=1_500u32);
                (n, 50 * MS * n as u64 / 380)
            }
            Some("low_order_to_trade") => (rng.gen_range(600..=900), rng.gen_range(30..=45) * MS),
            _ => (rng.gen_range(600..=1_500), rng.gen_range(20..=45) * MS),
        };
        let trade_every = if decoy == Some("low_order_to_trade") {
            30
        } else {
            0
        };
        m.sym_mut(loc).quiet.push(Quiet {
            from: t0.saturating_sub(S),
            to: t0 + dur + S,
            no_exec: true,
            no_large_adds: None,
            no_orders: false,
        });
        let mut label = base_label(m, "quote_stuffing", loc, t0, decoy);
        label.parameters.insert("messages".into(), json!(n));
        label
            .parameters
            .insert("duration_ms".into(), json!(dur as f64 / MS as f64));
        label.parameters.insert(
            "symbol_background_rate_per_s".into(),
            json!(m.sym(loc).rate),
        );
        Stuff {
            loc,
            n,
            t0,
            dt: (dur / n as u64).max(1),
            trade_every,
            i: 0,
            live: Default::default(),
            trades: 0,
            label,
            done: false,
        }
    }
}

impl Episode for Stuff {
    fn next_ts(&self) -> u64 {
        if self.done {
            u64::MAX
        } else {
            self.t0 + self.i as u64 * self.dt
        }
    }
    fn step(&mut self, m: &mut Market<'_>, rng: &mut ChaCha8Rng) {
        if self.trade_every > 0 && self.i > 0 && self.i % self.trade_every == 0 {
            let side = rand_side(rng);
            trade_at_touch(m, self.loc, side, 300);
            self.trades += 1;
        }
        // Keep a handful of live orders: add while few, else delete the oldest.
        if self.live.len() < 4 || (self.i % 2 == 0 && self.live.len() < 8) {
            let side = rand_side(rng);
            let (p, _) = behind(m, self.loc, side, rng.gen_range(5..=20));
            let r = m.add(self.loc, side, p, 100, None, true);
            self.live.push_back(r);
        } else if let Some(r) = self.live.pop_front() {
            m.delete(r);
        }
        self.i += 1;
        if self.i == self.n {
            for r in self.live.drain(..) {
                m.delete(r);
            }
            self.label.end_ns = m.now;
            self.label
                .parameters
                .insert("executions".into(), json!(self.trades));
            self.done = true;
        }
    }
    fn label(&self) -> Option<Label> {
        self.done.then(|| self.label.clone())
    }
}

// -----------------------------------------------------------------------------------------------------------------
// Momentum ignition
// -----------------------------------------------------------------------------------------------------------------

/// Momentum ignition: aggressive orders walking the price, then opposite aggressive orders retracing.
#[derive(Debug)]
pub struct Momo {
    loc: u16,
    side: Side,
    push_t: Vec<u64>,
    push_frac: Vec<f64>,
    move_bps: f64,
    retrace_t: Vec<u64>,
    retrace_frac: f64,
    i: usize,
    p0: i64,
    peak: i64,
    execs: u32,
    label: Label,
    done: bool,
}

impl Momo {
    /// Variants: `None` or `slow_move`, `small_move`, `shallow_retrace`, `late_retrace`.
    pub fn plan(
        m: &mut Market<'_>,
        rng: &mut ChaCha8Rng,
        loc: u16,
        t0: u64,
        decoy: Option<&'static str>,
    ) -> Self {
        let side = rand_side(rng);
        let (k, dur) = match decoy {
            Some("slow_move") => (
                rng.gen_range(14..=20usize),
                rng.gen_range(5_500..=7_000) * MS,
            ),
            _ => (rng.gen_range(11..=16usize), rng.gen_range(800..=1_700) * MS),
        };
        let move_bps = match decoy {
            Some("small_move") => rng.gen_range(12.0..=22.0),
            Some("slow_move") => rng.gen_range(40.0..=55.0),
            _ => rng.gen_range(45.0..=90.0),
        };
        let retrace_frac = match decoy {
            Some("shallow_retrace") => rng.gen_range(0.15..=0.35),
            _ => rng.gen_range(0.6..=1.0),
        };
        let delay = match decoy {
            Some("late_retrace") => rng.gen_range(11_000..=14_000) * MS,
            _ => rng.gen_range(1_000..=6_000) * MS,
        };
        let push_t: Vec<u64> = (0..k)
            .map(|i| t0 + dur * i as u64 / (k as u64 - 1))
            .collect();
        let push_frac: Vec<f64> = (1..=k).map(|i| i as f64 / k as f64).collect();
        let peak_t = *push_t.last().unwrap();
        let r = rng.gen_range(3..=5usize);
        let retrace_t: Vec<u64> = (0..r)
            .map(|i| peak_t + delay + i as u64 * rng.gen_range(100..=300) * MS)
            .collect();
        let end = *retrace_t.last().unwrap();
        m.sym_mut(loc).quiet.push(Quiet {
            from: t0.saturating_sub(2_500 * MS),
            to: end.max(peak_t + 10 * S) + S,
            no_exec: true,
            no_large_adds: None,
            no_orders: false,
        });
        let label = base_label(m, "momentum_ignition", loc, t0, decoy);
        Momo {
            loc,
            side,
            push_t,
            push_frac,
            move_bps,
            retrace_t,
            retrace_frac,
            i: 0,
            p0: 0,
            peak: 0,
            execs: 0,
            label,
            done: false,
        }
    }

    /// Aggressive order(s) of `side` moving the last price to `target`: sweeps everything up to it, then (if the
    /// book had nothing at the target) a resting order at the target is entered by someone and lifted.
    fn push_to(&mut self, m: &mut Market<'_>, side: Side, target: i64) -> u32 {
        // (Helper orders of 300 shares: the aggressive orders here are never "small" buys or sells.)
        let (_, mut n, last) = m.aggress(self.loc, side, None, target, false);
        if n == 0 || last != target {
            let r = m.add(self.loc, side.opp(), target, 300, None, false);
            m.execute(r, 300, false);
            n += 1;
        }
        m.sym_mut(self.loc).fv = target as f64;
        n
    }
}

impl Episode for Momo {
    fn next_ts(&self) -> u64 {
        if self.done {
            return u64::MAX;
        }
        let k = self.push_t.len();
        if self.i < k {
            self.push_t[self.i]
        } else {
            self.retrace_t[self.i - k]
        }
    }
    fn step(&mut self, m: &mut Market<'_>, _rng: &mut ChaCha8Rng) {
        let k = self.push_t.len();
        let dir = self.side.dir();
        if self.i == 0 {
            let sb = m.sym(self.loc);
            self.p0 = if sb.last_trade > 0 {
                sb.last_trade
            } else {
                sb.mid()
            };
        }
        if self.i < k {
            let total_ticks = ((self.p0 as f64 * self.move_bps / 1e4) / CENT as f64).ceil() as i64;
            let step_ticks = ((total_ticks as f64 * self.push_frac[self.i]).round() as i64).max(1);
            let target = self.p0 + dir * step_ticks * CENT;
            self.execs += self.push_to(m, self.side, target);
            self.peak = target;
            if self.i == k - 1 {
                let pm = &mut self.label.parameters;
                pm.insert(
                    "side".into(),
                    json!(if self.side == Side::Buy {
                        "buy"
                    } else {
                        "sell"
                    }),
                );
                pm.insert("start_price".into(), json!(self.p0 as f64 / 1e4));
                pm.insert("peak_price".into(), json!(self.peak as f64 / 1e4));
                pm.insert(
                    "move_bps".into(),
                    json!((self.peak - self.p0).abs() as f64 * 1e4 / self.p0 as f64),
                );
                pm.insert("ignition_orders".into(), json!(k));
                pm.insert("ignition_executions".into(), json!(self.execs));
                pm.insert(
                    "ignition_ms".into(),
                    json!((self.push_t[k - 1] - self.push_t[0]) / MS),
                );
            }
        } else {
            let j = self.i - k;
            let r = self.retrace_t.len();
            let span = (self.peak - self.p0).abs() / CENT;
            let back = ((span as f64 * self.retrace_frac * (j + 1) as f64 / r as f64).round()
                as i64)
                .max(1);
            let target = self.peak - dir * back * CENT;
            self.push_to(m, self.side.opp(), target);
            if j == r - 1 {
                self.label.end_ns = m.now;
                let pm = &mut self.label.parameters;
                pm.insert("retrace_price".into(), json!(target as f64 / 1e4));
                pm.insert(
                    "retrace_fraction".into(),
                    json!(back as f64 / span.max(1) as f64),
                );
                pm.insert(
                    "retrace_delay_ms".into(),
                    json!((self.retrace_t[0] - self.push_t[k - 1]) / MS),
                );
                self.done = true;
            }
        }
        self.i += 1;
    }
    fn label(&self) -> Option<Label> {
        self.done.then(|| self.label.clone())
    }
}

// -----------------------------------------------------------------------------------------------------------------
// Marking the close
// -----------------------------------------------------------------------------------------------------------------

/// The close (16:00:00) in ns since midnight.
pub const CLOSE: u64 = 57_600 * S;

/// Marking the close: a large order cancelled in the last seconds, or a large aggressive order pushing the price
/// away from the 5-minute VWAP.
#[derive(Debug)]
pub struct Close {
    loc: u16,
    push: bool,
    side: Side,
    size: u32,
    t_a: u64,
    t_b: u64,
    t_c: u64,
    dev_bps: f64,
    phase: u8,
    order: u64,
    target: i64,
    label: Label,
    done: bool,
}

impl Close {
    /// Variants (cancel): `None` or `entered_before_window`, `cancelled_too_early`, `size_below`;
    /// (push): `None` or `deviation_below`, `push_size_below`, `push_before_window`.
    pub fn plan(
        m: &mut Market<'_>,
        rng: &mut ChaCha8Rng,
        loc: u16,
        push: bool,
        decoy: Option<&'static str>,
    ) -> Self {
        let side = rand_side(rng);
        let hms = |h: u64, mi: u64, s: u64| ((h * 60 + mi) * 60 + s) * S;
        let mut size = match decoy {
            Some("size_below") | Some("push_size_below") => rng.gen_range(6..=9) * 50,
            _ => rng.gen_range(6..=15) * MEDIAN,
        };
        let (t_a, t_b, t_c, dev) = if push {
            let t_push = match decoy {
                Some("push_before_window") => hms(15, 53, 0) + rng.gen_range(0..110_000) * MS,
                _ => hms(15, 57, 0) + rng.gen_range(0..170_000) * MS,
            };
            let dev = match decoy {
                Some("deviation_below") => rng.gen_range(10.0..=22.0),
                _ => rng.gen_range(45.0..=80.0),
            };
            (t_push - 1_000 * MS, t_push - 300 * MS, t_push, dev)
        } else {
            let t_add = match decoy {
                Some("entered_before_window") => hms(15, 54, 20) + rng.gen_range(0..38_000) * MS,
                _ => hms(15, 55, 0) + rng.gen_range(0..270_000) * MS,
            };
            let t_cancel = match decoy {
                Some("cancelled_too_early") => hms(15, 59, 20) + rng.gen_range(0..28_000) * MS,
                _ => hms(15, 59, 50) + rng.gen_range(200..=9_800) * MS,
            };
            (t_add, t_cancel, t_cancel, 0.0)
        };
        if push {
            size = size.max(1);
            // Nobody else touches the book while it is thinned and swept.
            m.sym_mut(loc).quiet.push(Quiet {
                from: t_a.saturating_sub(10 * MS),
                to: t_c + 10 * MS,
                no_exec: true,
                no_large_adds: None,
                no_orders: true,
            });
        }
        let label = base_label(m, "marking_the_close", loc, t_a, decoy);
        Close {
            loc,
            push,
            side,
            size,
            t_a,
            t_b,
            t_c,
            dev_bps: dev,
            phase: 0,
            order: 0,
            target: 0,
            label,
            done: false,
        }
    }
}

impl Episode for Close {
    fn next_ts(&self) -> u64 {
        if self.done {
            return u64::MAX;
        }
        match self.phase {
            0 => self.t_a,
            1 => self.t_b,
            _ => self.t_c,
        }
    }
    fn step(&mut self, m: &mut Market<'_>, _rng: &mut ChaCha8Rng) {
        let pm_side = if self.side == Side::Buy {
            "buy"
        } else {
            "sell"
        };
        if !self.push {
            if self.phase == 0 {
                let (p, _) = behind(m, self.loc, self.side, 2);
                self.order = m.add(self.loc, self.side, p, self.size, None, true);
                let pm = &mut self.label.parameters;
                pm.insert("variant".into(), json!("cancel"));
                pm.insert("side".into(), json!(pm_side));
                pm.insert("order_ref".into(), json!(self.order));
                pm.insert("size".into(), json!(self.size));
                pm.insert("entry_ns".into(), json!(m.now));
                self.phase = 1;
            } else {
                m.delete(self.order);
                self.label.end_ns = m.now;
                self.label
                    .parameters
                    .insert("cancel_ns".into(), json!(m.now));
                self.done = true;
            }
            return;
        }
        let dir = self.side.dir();
        match self.phase {
            0 => {
                // Thin the book up to the target (others withdraw their orders).
                let now = m.now;
                // The detector's reference: the 5-minute VWAP, or the last execution price when nothing traded.
                let sb = m.sym(self.loc);
                let vwap = sb.vwap(now.saturating_sub(300 * S), now);
                let base = if vwap > 0 {
                    vwap
                } else if sb.last_exec > 0 {
                    sb.last_exec
                } else {
                    sb.mid()
                };
                let raw = base as f64 * (1.0 + dir as f64 * self.dev_bps / 1e4);
                let t = match self.side {
                    Side::Buy => (raw / CENT as f64).ceil() as i64 * CENT,
                    Side::Sell => (raw / CENT as f64).floor() as i64 * CENT,
                };
                self.target = t;
                let (lo, hi) = if dir > 0 { (0, t) } else { (t, i64::MAX) };
                for (r, protected) in m.orders_between(self.loc, self.side.opp(), lo, hi) {
                    if !protected {
                        m.delete(r);
                    }
                }
                let pm = &mut self.label.parameters;
                pm.insert("variant".into(), json!("push"));
                pm.insert("side".into(), json!(pm_side));
                pm.insert("reference_price_at_plan".into(), json!(base as f64 / 1e4));
                pm.insert("target_price".into(), json!(t as f64 / 1e4));
                pm.insert(
                    "deviation_bps_at_plan".into(),
                    json!((t - base).abs() as f64 * 1e4 / base as f64),
                );
                self.phase = 1;
            }
            1 => {
                // The resting order the aggressive order will take last.
                self.order = m.add(
                    self.loc,
                    self.side.opp(),
                    self.target,
                    self.size,
                    None,
                    true,
                );
                self.phase = 2;
            }
            _ => {
                let (q, n, last) = m.aggress(self.loc, self.side, None, self.target, true);
                m.sym_mut(self.loc).fv = last as f64;
                self.label.start_ns = m.now;
                self.label.end_ns = m.now;
                let now = m.now;
                let vwap = m.sym(self.loc).vwap(now.saturating_sub(300 * S), now);
                let pm = &mut self.label.parameters;
                pm.insert("size".into(), json!(q));
                pm.insert("executions".into(), json!(n));
                pm.insert("last_price".into(), json!(last as f64 / 1e4));
                pm.insert("push_ns".into(), json!(now));
                let _ = vwap;
                self.done = true;
            }
        }
    }
    fn label(&self) -> Option<Label> {
        self.done.then(|| self.label.clone())
    }
}

// -----------------------------------------------------------------------------------------------------------------
// Coordinated buying
// -----------------------------------------------------------------------------------------------------------------

/// Coordinated cross-symbol buying: small buys improving the bid (or marketable) in several symbols within seconds.
#[derive(Debug)]
pub struct Coord {
    locs: Vec<u16>,
    mpid: Option<[u8; 4]>,
    /// (time, index into `locs`, shares)
    plan: Vec<(u64, usize, u32)>,
    join: bool,
    i: usize,
    symbols_done: Vec<u16>,
    label: Label,
    done: bool,
}

impl Coord {
    /// MPID variants: `None` or `two_symbols`, `orders_too_large`, `too_slow`, `joins_bid`.
    /// Anonymous (`mpid == None`) variants: `None` or `two_symbols`, `too_few_per_symbol`.
    pub fn plan(
        m: &mut Market<'_>,
        rng: &mut ChaCha8Rng,
        locs: Vec<u16>,
        t0: u64,
        decoy: Option<&'static str>,
        mpid: Option<[u8; 4]>,
    ) -> Self {
        let mut locs = locs;
        if decoy == Some("two_symbols") {
            locs.truncate(2);
        }
        let size = |rng: &mut ChaCha8Rng| match decoy {
            Some("orders_too_large") => rng.gen_range(25..=60) * 10,
            _ => rng.gen_range(1..=20) * 10,
        };
        let mut plan = Vec::new();
        if mpid.is_some() {
            if decoy == Some("too_slow") {
                // Three symbols only, so that no three orders fall within the window.
                locs.truncate(3);
            }
            let span = match decoy {
                Some("too_slow") => rng.gen_range(3_600..=5_000) * MS,
                _ => rng.gen_range(600..=2_600) * MS,
            };
            let n = locs.len();
            for (i, _) in locs.iter().enumerate() {
                let t = if i == 0 {
                    t0
                } else if i == n - 1 {
                    t0 + span
                } else {
                    t0 + rng.gen_range(1..span / MS) * MS
                };
                plan.push((t, i, size(rng)));
            }
        } else {
            let per = match decoy {
                Some("too_few_per_symbol") => 3,
                _ => rng.gen_range(4..=6),
            };
            let mut t = t0;
            for i in 0..locs.len() {
                for _ in 0..per {
                    plan.push((t, i, size(rng)));
                    t += rng.gen_range(60..=130) * MS;
                }
                t += rng.gen_range(100..=250) * MS;
            }
        }
        plan.sort_by_key(|p| (p.0, p.1));
        let detector = "coordinated_buying";
        let mut label = base_label(m, detector, locs[0], t0, decoy);
        label.parameters.insert(
            "variant".into(),
            json!(if mpid.is_some() { "mpid" } else { "anonymous" }),
        );
        if let Some(mp) = mpid {
            label
                .parameters
                .insert("mpid".into(), json!(String::from_utf8_lossy(&mp)));
        }
        Coord {
            locs,
            mpid,
            plan,
            join: decoy == Some("joins_bid"),
            i: 0,
            symbols_done: Vec::new(),
            label,
            done: false,
        }
    }
}

impl Episode for Coord {
    fn next_ts(&self) -> u64 {
        if self.done {
            u64::MAX
        } else {
            self.plan[self.i].0
        }
    }
    fn step(&mut self, m: &mut Market<'_>, _rng: &mut ChaCha8Rng) {
        let (_, li, q) = self.plan[self.i];
        let loc = self.locs[li];
        let sb = m.sym(loc);
        let (bid, ask) = (sb.best_bid(), sb.best_ask());
        if self.join {
            let p = bid.unwrap_or(sb.mid() - CENT);
            m.add(loc, Side::Buy, p, q, self.mpid, false);
        } else {
            match (bid, ask) {
                (Some(b), Some(a)) if a - b >= 2 * CENT => {
                    m.add(loc, Side::Buy, b + CENT, q, self.mpid, false);
                }
                (_, Some(a)) if self.mpid.is_none() => {
                    // Anonymous: a small marketable buy.
                    let (_, n, _) = m.aggress(loc, Side::Buy, Some(q), a, false);
                    if n == 0 {
                        let r = m.add(loc, Side::Sell, a, q, None, false);
                        m.execute(r, q, false);
                    }
                }
                (_, Some(a)) => {
                    // Attributed: the best offer's owners step away; the order then improves the bid at that price.
                    for (r, protected) in m.orders_between(loc, Side::Sell, a, a) {
                        if !protected {
                            m.delete(r);
                        }
                    }
                    let price = if m.sym(loc).best_ask() == Some(a) {
                        bid.unwrap_or(a - 2 * CENT) + CENT
                    } else {
                        a
                    };
                    m.add(loc, Side::Buy, price, q, self.mpid, false);
                }
                (_, None) => {
                    let p = bid.map(|b| b + CENT).unwrap_or(m.sym(loc).mid());
                    m.add(loc, Side::Buy, p, q, self.mpid, false);
                }
            }
        }
        if !self.symbols_done.contains(&loc) {
            self.symbols_done.push(loc);
        }
        let syms_json = json!(self
            .locs
            .iter()
            .map(|&l| sym_name(m, l))
            .collect::<Vec<_>>());
        let orders = self
            .label
            .parameters
            .get("orders")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        self.label
            .parameters
            .insert("orders".into(), json!(orders + 1));
        let max_q = self
            .label
            .parameters
            .get("max_shares")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        self.label
            .parameters
            .insert("max_shares".into(), json!(max_q.max(q as u64)));
        // The pattern completes at the order that brings in the third distinct symbol (by MPID), or when the third
        // symbol's burst has reached four orders (anonymous: the detector's per-symbol floor).
        let complete = if self.mpid.is_some() {
            self.symbols_done.len() == 3.min(self.locs.len())
                && self.label.end_ns == self.label.start_ns
        } else {
            let third = self.locs.get(2).copied();
            let in_third = self.plan[..=self.i]
                .iter()
                .filter(|p| Some(self.locs[p.1]) == third)
                .count();
            Some(loc) == third && in_third == 4
        };
        if complete && self.label.parameters.get("completing_symbol").is_none() {
            self.label.symbol = sym_name(m, loc);
            self.label.stock_locate = loc;
            self.label.end_ns = m.now;
            self.label
                .parameters
                .insert("completing_symbol".into(), json!(sym_name(m, loc)));
        }
        self.i += 1;
        if self.i == self.plan.len() {
            if self.label.parameters.get("completing_symbol").is_none() {
                self.label.end_ns = m.now;
            }
            self.label.parameters.insert("symbols".into(), syms_json);
            self.label
                .parameters
                .insert("span_ms".into(), json!((m.now - self.label.start_ns) / MS));
            self.done = true;
        }
    }
    fn label(&self) -> Option<Label> {
        self.done.then(|| self.label.clone())
    }
}

// -----------------------------------------------------------------------------------------------------------------
// Order-to-trade ratio
// -----------------------------------------------------------------------------------------------------------------

/// Excessive order-to-trade ratio: a long stream of adds and deletes with (almost) no executions.
#[derive(Debug)]
pub struct Otr {
    loc: u16,
    mpid: Option<[u8; 4]>,
    n: u32,
    t0: u64,
    dt: u64,
    exec_every: u32,
    i: u32,
    live: std::collections::VecDeque<u64>,
    execs: u32,
    label: Label,
    done: bool,
}

impl Otr {
    /// Symbol variants (`mpid == None`): `None` or `ratio_below`, `too_few_messages`.
    /// MPID variants: `None` or `ratio_below`.
    pub fn plan(
        m: &mut Market<'_>,
        rng: &mut ChaCha8Rng,
        loc: u16,
        t0: u64,
        decoy: Option<&'static str>,
        mpid: Option<[u8; 4]>,
    ) -> Self {
        let (n, dur) = match (mpid.is_some(), decoy) {
            (false, Some("too_few_messages")) => {
                (rng.gen_range(1_000..=1_500), rng.gen_range(25..=35) * S)
            }
            (false, _) => (rng.gen_range(2_600..=4_000), rng.gen_range(20..=40) * S),
            (true, _) => (rng.gen_range(1_300..=2_400), rng.gen_range(20..=45) * S),
        };
        let exec_every = if decoy == Some("ratio_below") {
            rng.gen_range(60..=150)
        } else {
            0
        };
        if mpid.is_none() && decoy != Some("ratio_below") {
            m.sym_mut(loc).quiet.push(Quiet {
                from: t0.saturating_sub(61 * S),
                to: t0 + dur + S,
                no_exec: true,
                no_large_adds: None,
                no_orders: false,
            });
        }
        let mut label = base_label(m, "order_to_trade", loc, t0, decoy);
        label.parameters.insert(
            "variant".into(),
            json!(if mpid.is_some() { "mpid" } else { "symbol" }),
        );
        if let Some(mp) = mpid {
            label
                .parameters
                .insert("mpid".into(), json!(String::from_utf8_lossy(&mp)));
        }
        label.parameters.insert("order_messages".into(), json!(n));
        label
            .parameters
            .insert("duration_ms".into(), json!(dur / MS));
        Otr {
            loc,
            mpid,
            n,
            t0,
            dt: dur / n as u64,
            exec_every,
            i: 0,
            live: Default::default(),
            execs: 0,
            label,
            done: false,
        }
    }
}

impl Episode for Otr {
    fn next_ts(&self) -> u64 {
        if self.done {
            u64::MAX
        } else {
            self.t0 + self.i as u64 * self.dt
        }
    }
    fn step(&mut self, m: &mut Market<'_>, rng: &mut ChaCha8Rng) {
        if self.exec_every > 0 && self.i > 0 && self.i % self.exec_every == 0 {
            if self.mpid.is_some() {
                // One of this participant's own orders is executed.
                let side = rand_side(rng);
                let (p, _) = behind(m, self.loc, side, 0);
                let r = m.add(self.loc, side, p, 100, self.mpid, true);
                m.execute(r, 100, false);
                self.i += 1;
            } else {
                trade_at_touch(m, self.loc, rand_side(rng), 300);
            }
            self.execs += 1;
        }
        if self.i < self.n {
            if self.live.len() < 3 {
                let side = rand_side(rng);
                let (p, _) = behind(m, self.loc, side, rng.gen_range(4..=12));
                let r = m.add(self.loc, side, p, 100, self.mpid, true);
                self.live.push_back(r);
            } else if let Some(r) = self.live.pop_front() {
                m.delete(r);
            }
            self.i += 1;
        }
        if self.i >= self.n {
            for r in self.live.drain(..) {
                m.delete(r);
            }
            self.label.end_ns = m.now;
            self.label
                .parameters
                .insert("executions".into(), json!(self.execs));
            self.done = true;
        }
    }
    fn label(&self) -> Option<Label> {
        self.done.then(|| self.label.clone())
    }
}
