//! The market simulator of `tickwatch gen`: one L3 book per symbol, background order flow around a random-walk fair
//! value, and the order-entry primitives the injected episodes use. Every primitive emits the ITCH 5.0 messages it
//! implies (through [`Sink`]), stamped with the current simulation time, so the feed is in time order by
//! construction.

use std::collections::{BTreeMap, HashMap};

use feed::encode::itch::{
    AddOrder, AddOrderMpid, CrossTrade, Message, OrderCancel, OrderDelete, OrderExecuted,
    OrderExecutedWithPrice, OrderReplace, Trade as TradeMsg,
};
use feed::itch::Alpha;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Price ticks of 1/10 000 per cent.
pub const CENT: i64 = 100;

/// Where generated messages go.
pub trait Sink {
    /// One message (non-decreasing timestamps).
    fn push(&mut self, m: &Message);
}

/// Side of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Bid.
    Buy,
    /// Offer.
    Sell,
}

impl Side {
    /// The other side.
    pub fn opp(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
    /// ITCH byte.
    pub fn byte(self) -> u8 {
        match self {
            Side::Buy => b'B',
            Side::Sell => b'S',
        }
    }
    /// +1 buy, −1 sell.
    pub fn dir(self) -> i64 {
        match self {
            Side::Buy => 1,
            Side::Sell => -1,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Order {
    loc: u16,
    side: Side,
    price: i64,
    qty: u32,
    /// Index in the symbol's `live` list; `u32::MAX` for protected (episode) orders.
    live_idx: u32,
}

/// One executed trade kept for VWAPs.
#[derive(Debug, Clone, Copy)]
pub struct Trade {
    /// Feed time.
    pub ts: u64,
    /// Price, ticks.
    pub price: i64,
    /// Shares.
    pub qty: u32,
}

/// A time window during which the background is restricted in one symbol.
#[derive(Debug, Clone, Copy)]
pub struct Quiet {
    /// Start (inclusive).
    pub from: u64,
    /// End (inclusive).
    pub to: u64,
    /// No background executions or hidden trades.
    pub no_exec: bool,
    /// No background adds of ≥ 200 shares on this side.
    pub no_large_adds: Option<Side>,
    /// No background orders at all (adds, cancels, replaces).
    pub no_orders: bool,
}

/// One symbol's book and background parameters.
#[derive(Debug)]
pub struct SymBook {
    /// Stock locate.
    pub loc: u16,
    /// Ticker, space padded.
    pub symbol: [u8; 8],
    /// Fair value (ticks, float).
    pub fv: f64,
    fv_ts: u64,
    /// Daily volatility of the fair value (fraction).
    pub vol: f64,
    bids: BTreeMap<i64, Vec<u64>>,
    asks: BTreeMap<i64, Vec<u64>>,
    live: Vec<u64>,
    /// Background events per second.
    pub rate: f64,
    /// Background target of resting orders.
    pub target_live: usize,
    /// Preferred spread in ticks.
    pub spread_ticks: i64,
    /// Last trade price, crosses included (0 = none).
    pub last_trade: i64,
    /// Last execution price, crosses excluded (0 = none).
    pub last_exec: i64,
    /// Trades of the last few minutes (for VWAPs).
    pub trades: std::collections::VecDeque<Trade>,
    /// Restrictions of the background (episodes).
    pub quiet: Vec<Quiet>,
    /// MPIDs the background may attribute orders to in this symbol.
    pub mpids: Vec<[u8; 4]>,
}

impl SymBook {
    /// Best bid price.
    pub fn best_bid(&self) -> Option<i64> {
        self.bids.keys().next_back().copied()
    }
    /// Best offer price.
    pub fn best_ask(&self) -> Option<i64> {
        self.asks.keys().next().copied()
    }
    /// Best price on `side`.
    pub fn best(&self, side: Side) -> Option<i64> {
        match side {
            Side::Buy => self.best_bid(),
            Side::Sell => self.best_ask(),
        }
    }
    /// Mid (or the fair value when a side is empty), ticks.
    pub fn mid(&self) -> i64 {
        match (self.best_bid(), self.best_ask()) {
            (Some(b), Some(a)) => (a + b) / 2,
            _ => self.fv.round() as i64,
        }
    }
    fn side_map(&mut self, side: Side) -> &mut BTreeMap<i64, Vec<u64>> {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }
    fn quiet_at(&self, t: u64) -> (bool, Option<Side>, bool) {
        let mut r = (false, None, false);
        for q in &self.quiet {
            if t >= q.from && t <= q.to {
                r.0 |= q.no_exec;
                r.1 = r.1.or(q.no_large_adds);
                r.2 |= q.no_orders;
            }
        }
        r
    }
    /// VWAP of trades in `[from, to)` (0 when none), ticks.
    pub fn vwap(&self, from: u64, to: u64) -> i64 {
        let (mut v, mut n) = (0u128, 0u128);
        for tr in &self.trades {
            if tr.ts >= from && tr.ts < to {
                v += tr.price as u128 * tr.qty as u128;
                n += tr.qty as u128;
            }
        }
        v.checked_div(n).map_or(0, |x| x as i64)
    }
    /// Number of resting orders.
    pub fn resting(&self) -> usize {
        self.bids.values().map(Vec::len).sum::<usize>()
            + self.asks.values().map(Vec::len).sum::<usize>()
    }
}

/// All books, the order table and the output.
pub struct Market<'a> {
    /// Books, index = locate − 1.
    pub syms: Vec<SymBook>,
    orders: HashMap<u64, Order>,
    next_ref: u64,
    next_match: u64,
    sink: &'a mut dyn Sink,
    /// Simulation time (ns since midnight) of the messages being emitted.
    pub now: u64,
    /// Messages emitted.
    pub messages: u64,
    /// Whether continuous trading is on (background executions allowed).
    pub trading: bool,
}

/// Round-lot-heavy size distribution of background orders; median 100, never above 400 (= 4 × the median, so that
/// background orders never reach the size thresholds of spoofing or marking the close).
pub fn background_size(rng: &mut ChaCha8Rng) -> u32 {
    let u: f64 = rng.gen();
    if u < 0.20 {
        rng.gen_range(1..=99)
    } else if u < 0.65 {
        100
    } else if u < 0.73 {
        rng.gen_range(101..=199)
    } else if u < 0.88 {
        200
    } else if u < 0.96 {
        300
    } else {
        400
    }
}

#[inline]
fn sb_spread(t: i64) -> i64 {
    t.max(1)
}

/// A standard normal variate (Box–Muller).
pub fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.gen_range(f64::MIN_POSITIVE..1.0);
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

impl std::fmt::Debug for Market<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Market")
            .field("symbols", &self.syms.len())
            .field("orders", &self.orders.len())
            .field("now", &self.now)
            .field("messages", &self.messages)
            .finish()
    }
}

impl<'a> Market<'a> {
    /// An empty market writing to `sink`.
    pub fn new(syms: Vec<SymBook>, sink: &'a mut dyn Sink) -> Self {
        Market {
            syms,
            orders: HashMap::with_capacity(1 << 16),
            next_ref: 1_000,
            next_match: 1,
            sink,
            now: 0,
            messages: 0,
            trading: false,
        }
    }

    /// A new symbol book.
    pub fn sym_book(
        loc: u16,
        symbol: [u8; 8],
        price: f64,
        rate: f64,
        vol: f64,
        spread_ticks: i64,
    ) -> SymBook {
        SymBook {
            loc,
            symbol,
            fv: price,
            fv_ts: 0,
            vol,
            bids: BTreeMap::new(),
            asks: BTreeMap::new(),
            live: Vec::new(),
            rate,
            target_live: (40.0 + rate).round() as usize,
            spread_ticks,
            last_trade: 0,
            last_exec: 0,
            trades: Default::default(),
            quiet: Vec::new(),
            mpids: Vec::new(),
        }
    }

    fn emit(&mut self, m: Message) {
        self.messages += 1;
        self.sink.push(&m);
    }

    /// Emits any message (system events, directory, …) at the current time.
    pub fn emit_raw(&mut self, m: Message) {
        self.emit(m);
    }

    /// Book of `loc`.
    pub fn sym(&self, loc: u16) -> &SymBook {
        &self.syms[loc as usize - 1]
    }

    /// Mutable book of `loc`.
    pub fn sym_mut(&mut self, loc: u16) -> &mut SymBook {
        &mut self.syms[loc as usize - 1]
    }

    /// Adds an order. `protected` orders are never touched by the background (episode orders). Returns its ref.
    pub fn add(
        &mut self,
        loc: u16,
        side: Side,
        price: i64,
        qty: u32,
        mpid: Option<[u8; 4]>,
        protected: bool,
    ) -> u64 {
        let r = self.next_ref;
        self.next_ref += 1;
        let ts = self.now;
        let sb = &mut self.syms[loc as usize - 1];
        let stock = Alpha(sb.symbol);
        sb.side_map(side).entry(price).or_default().push(r);
        let live_idx = if protected {
            u32::MAX
        } else {
            sb.live.push(r);
            (sb.live.len() - 1) as u32
        };
        self.orders.insert(
            r,
            Order {
                loc,
                side,
                price,
                qty,
                live_idx,
            },
        );
        let m = match mpid {
            Some(mp) => Message::AddOrderMpid(AddOrderMpid {
                stock_locate: loc,
                timestamp: ts,
                order_ref: r,
                side: side.byte(),
                shares: qty,
                stock,
                price: price as u32,
                attribution: Alpha(mp),
                ..Default::default()
            }),
            None => Message::AddOrder(AddOrder {
                stock_locate: loc,
                timestamp: ts,
                order_ref: r,
                side: side.byte(),
                shares: qty,
                stock,
                price: price as u32,
                ..Default::default()
            }),
        };
        self.emit(m);
        r
    }

    fn unlink(&mut self, r: u64) -> Option<Order> {
        let o = self.orders.remove(&r)?;
        let sb = &mut self.syms[o.loc as usize - 1];
        let map = sb.side_map(o.side);
        if let Some(q) = map.get_mut(&o.price) {
            if let Some(p) = q.iter().position(|&x| x == r) {
                q.remove(p);
            }
            if q.is_empty() {
                map.remove(&o.price);
            }
        }
        if o.live_idx != u32::MAX {
            let i = o.live_idx as usize;
            sb.live.swap_remove(i);
            if i < sb.live.len() {
                let moved = sb.live[i];
                if let Some(m) = self.orders.get_mut(&moved) {
                    m.live_idx = i as u32;
                }
            }
        }
        Some(o)
    }

    /// Deletes an order (ITCH `D`).
    pub fn delete(&mut self, r: u64) -> bool {
        let Some(o) = self.unlink(r) else {
            return false;
        };
        self.emit(Message::OrderDelete(OrderDelete {
            stock_locate: o.loc,
            timestamp: self.now,
            order_ref: r,
            ..Default::default()
        }));
        true
    }

    /// Cancels `qty` shares of an order (ITCH `X`); deletes it (`D`) when nothing would remain.
    pub fn cancel(&mut self, r: u64, qty: u32) -> bool {
        let Some(o) = self.orders.get_mut(&r) else {
            return false;
        };
        if qty >= o.qty {
            return self.delete(r);
        }
        o.qty -= qty;
        let loc = o.loc;
        self.emit(Message::OrderCancel(OrderCancel {
            stock_locate: loc,
            timestamp: self.now,
            order_ref: r,
            cancelled_shares: qty,
            ..Default::default()
        }));
        true
    }

    /// Replaces an order (ITCH `U`): new reference, size and price. Returns the new reference.
    pub fn replace(&mut self, r: u64, qty: u32, price: i64, protected: bool) -> Option<u64> {
        let o = self.unlink(r)?;
        let nr = self.next_ref;
        self.next_ref += 1;
        let sb = &mut self.syms[o.loc as usize - 1];
        sb.side_map(o.side).entry(price).or_default().push(nr);
        let live_idx = if protected {
            u32::MAX
        } else {
            sb.live.push(nr);
            (sb.live.len() - 1) as u32
        };
        self.orders.insert(
            nr,
            Order {
                loc: o.loc,
                side: o.side,
                price,
                qty,
                live_idx,
            },
        );
        self.emit(Message::OrderReplace(OrderReplace {
            stock_locate: o.loc,
            timestamp: self.now,
            original_order_ref: r,
            new_order_ref: nr,
            shares: qty,
            price: price as u32,
            ..Default::default()
        }));
        Some(nr)
    }

    fn record_trade(&mut self, loc: u16, price: i64, qty: u32) {
        let ts = self.now;
        let sb = &mut self.syms[loc as usize - 1];
        sb.last_trade = price;
        sb.last_exec = price;
        sb.trades.push_back(Trade { ts, price, qty });
        while sb
            .trades
            .front()
            .is_some_and(|t| t.ts + 600_000_000_000 < ts)
        {
            sb.trades.pop_front();
        }
    }

    /// Executes `qty` shares of resting order `r` (ITCH `E`, or `C` at the order's price when `with_price`).
    /// Returns the shares executed.
    pub fn execute(&mut self, r: u64, qty: u32, with_price: bool) -> u32 {
        let Some(o) = self.orders.get(&r).copied() else {
            return 0;
        };
        let q = qty.min(o.qty);
        if q == 0 {
            return 0;
        }
        let m = self.next_match;
        self.next_match += 1;
        if with_price {
            self.emit(Message::OrderExecutedWithPrice(OrderExecutedWithPrice {
                stock_locate: o.loc,
                timestamp: self.now,
                order_ref: r,
                executed_shares: q,
                match_number: m,
                printable: b'Y',
                execution_price: o.price as u32,
                ..Default::default()
            }));
        } else {
            self.emit(Message::OrderExecuted(OrderExecuted {
                stock_locate: o.loc,
                timestamp: self.now,
                order_ref: r,
                executed_shares: q,
                match_number: m,
                ..Default::default()
            }));
        }
        if q == o.qty {
            self.unlink(r);
        } else if let Some(oo) = self.orders.get_mut(&r) {
            oo.qty -= q;
        }
        self.record_trade(o.loc, o.price, q);
        q
    }

    /// A trade against a non-displayed order (ITCH `P`; `side` = the resting hidden order's side).
    pub fn hidden_trade(&mut self, loc: u16, side: Side, price: i64, qty: u32) {
        let m = self.next_match;
        self.next_match += 1;
        let stock = Alpha(self.syms[loc as usize - 1].symbol);
        self.emit(Message::Trade(TradeMsg {
            stock_locate: loc,
            timestamp: self.now,
            order_ref: 0,
            side: side.byte(),
            shares: qty,
            stock,
            price: price as u32,
            match_number: m,
            ..Default::default()
        }));
        self.record_trade(loc, price, qty);
    }

    /// A cross (ITCH `Q`) at `price` for `qty` shares (`cross_type` `O` opening, `C` closing).
    pub fn cross(&mut self, loc: u16, price: i64, qty: u64, cross_type: u8) {
        let m = self.next_match;
        self.next_match += 1;
        let stock = Alpha(self.syms[loc as usize - 1].symbol);
        self.emit(Message::CrossTrade(CrossTrade {
            stock_locate: loc,
            timestamp: self.now,
            shares: qty,
            stock,
            cross_price: price as u32,
            match_number: m,
            cross_type,
            ..Default::default()
        }));
        self.syms[loc as usize - 1].last_trade = price;
    }

    /// An aggressive order of `side`: executes resting orders of the other side in price-time priority while their
    /// price is within `limit`, up to `qty` shares (`None` = no size limit). Stops at a protected order unless
    /// `take_protected`. Returns (shares, executions, last price).
    pub fn aggress(
        &mut self,
        loc: u16,
        side: Side,
        qty: Option<u32>,
        limit: i64,
        take_protected: bool,
    ) -> (u32, u32, i64) {
        let mut left = qty.unwrap_or(u32::MAX);
        let (mut filled, mut n, mut last) = (0u32, 0u32, 0i64);
        while left > 0 {
            let sb = &self.syms[loc as usize - 1];
            let best = match side {
                Side::Buy => sb.asks.iter().next().filter(|(p, _)| **p <= limit),
                Side::Sell => sb.bids.iter().next_back().filter(|(p, _)| **p >= limit),
            };
            let Some((&price, q)) = best else { break };
            let r = q[0];
            let o = self.orders[&r];
            if o.live_idx == u32::MAX && !take_protected {
                break;
            }
            let x = self.execute(r, left.min(o.qty), false);
            filled += x;
            left -= x;
            n += 1;
            last = price;
        }
        (filled, n, last)
    }

    /// Remaining shares of order `r`.
    pub fn qty_of(&self, r: u64) -> Option<u32> {
        self.orders.get(&r).map(|o| o.qty)
    }

    /// References resting on `side` of `loc` with price in `[lo, hi]`, best first, FIFO within a level.
    pub fn orders_between(&self, loc: u16, side: Side, lo: i64, hi: i64) -> Vec<(u64, bool)> {
        let sb = &self.syms[loc as usize - 1];
        let mut v = Vec::new();
        let mut push = |q: &Vec<u64>| {
            for &r in q {
                v.push((r, self.orders[&r].live_idx == u32::MAX));
            }
        };
        match side {
            Side::Buy => sb.bids.range(lo..=hi).rev().for_each(|(_, q)| push(q)),
            Side::Sell => sb.asks.range(lo..=hi).for_each(|(_, q)| push(q)),
        }
        v
    }

    /// Advances the fair value of `loc` to time `t` (geometric random walk).
    fn walk(&mut self, loc: u16, t: u64, rng: &mut ChaCha8Rng) {
        let sb = &mut self.syms[loc as usize - 1];
        if sb.fv_ts == 0 {
            sb.fv_ts = t;
            return;
        }
        let dt = (t.saturating_sub(sb.fv_ts)) as f64 / 1e9;
        sb.fv_ts = t;
        if dt > 0.0 {
            let sigma = sb.vol / (23_400f64).sqrt();
            sb.fv *= (sigma * dt.sqrt() * normal(rng)).exp();
        }
    }

    /// Seeds a two-sided book of `n` orders a side around the fair value.
    pub fn seed_book(&mut self, loc: u16, n: usize, rng: &mut ChaCha8Rng) {
        let (fv, spread) = {
            let sb = self.sym(loc);
            (sb.fv.round() as i64 / CENT * CENT, sb.spread_ticks)
        };
        for k in 0..n {
            for side in [Side::Buy, Side::Sell] {
                let off = (k as i64 / 2) + rng.gen_range(0..3);
                let p = match side {
                    Side::Buy => fv - off * CENT,
                    Side::Sell => fv + spread * CENT + off * CENT,
                };
                let q = background_size(rng);
                self.add(loc, side, p, q, None, false);
            }
        }
    }

    /// One background event in `loc` at the current time.
    pub fn background(&mut self, loc: u16, rng: &mut ChaCha8Rng) {
        let t = self.now;
        self.walk(loc, t, rng);
        let (no_exec, no_large, no_orders) = self.sym(loc).quiet_at(t);
        let sb = self.sym(loc);
        let live = sb.live.len();
        let fill = live as f64 / sb.target_live.max(1) as f64;
        // Event mix; cancels balance adds around the target number of resting orders.
        let w_add = 0.47;
        let w_cancel = 0.38 * fill.clamp(0.3, 3.0);
        let w_partial = 0.02;
        let w_replace = 0.03;
        let (w_exec, w_hidden) = if self.trading && !no_exec {
            (0.06, 0.01)
        } else {
            (0.0, 0.0)
        };
        let total = w_add + w_cancel + w_partial + w_replace + w_exec + w_hidden;
        let mut u = rng.gen::<f64>() * total;
        if no_orders {
            return;
        }
        if u < w_add || live == 0 {
            self.bg_add(loc, no_large, rng);
            return;
        }
        u -= w_add;
        if u < w_cancel {
            let r = self.sym(loc).live[rng.gen_range(0..live)];
            self.delete(r);
            return;
        }
        u -= w_cancel;
        if u < w_partial {
            let r = self.sym(loc).live[rng.gen_range(0..live)];
            let q = self.orders[&r].qty;
            if q >= 2 {
                self.cancel(r, q / 2);
            } else {
                self.delete(r);
            }
            return;
        }
        u -= w_partial;
        if u < w_replace {
            let r = self.sym(loc).live[rng.gen_range(0..live)];
            let o = self.orders[&r];
            let sb = self.sym(loc);
            let shift = rng.gen_range(-1..=1) * CENT;
            let mut p = o.price + shift;
            // Never cross the other side.
            match o.side {
                Side::Buy => {
                    if let Some(a) = sb.best_ask() {
                        p = p.min(a - CENT);
                    }
                }
                Side::Sell => {
                    if let Some(b) = sb.best_bid() {
                        p = p.max(b + CENT);
                    }
                }
            }
            let mut q = background_size(rng);
            if no_large == Some(o.side) {
                q = q.min(199);
            }
            self.replace(r, q, p, false);
            return;
        }
        u -= w_replace;
        if u < w_exec {
            let sb = self.sym(loc);
            let mid = sb.mid() as f64;
            let p_buy = (0.5 + 0.25 * (sb.fv - mid) / CENT as f64).clamp(0.1, 0.9);
            let side = if rng.gen::<f64>() < p_buy {
                Side::Buy
            } else {
                Side::Sell
            };
            let q = match rng.gen_range(0..10) {
                0..=5 => 100,
                6 => rng.gen_range(1..100),
                7 => 200,
                8 => 300,
                _ => rng.gen_range(100..=400),
            };
            let Some(best) = self.sym(loc).best(side.opp()) else {
                return;
            };
            // Nobody lifts a stale quote far from the fair value.
            let fv = self.sym(loc).fv;
            if (best as f64 - fv).abs() > 8.0 * CENT as f64 {
                return;
            }
            let limit = best + side.dir() * CENT;
            self.aggress(loc, side, Some(q), limit, false);
            return;
        }
        // Hidden trade inside the spread.
        let sb = self.sym(loc);
        if let (Some(b), Some(a)) = (sb.best_bid(), sb.best_ask()) {
            let p = if a - b >= 2 * CENT { b + CENT } else { b };
            let side = if rng.gen::<bool>() {
                Side::Buy
            } else {
                Side::Sell
            };
            let q = 100 * rng.gen_range(1..=3);
            self.hidden_trade(loc, side, p, q);
        }
    }

    fn bg_add(&mut self, loc: u16, no_large: Option<Side>, rng: &mut ChaCha8Rng) {
        let sb = self.sym(loc);
        let fv = sb.fv;
        let bid = sb.best_bid();
        let ask = sb.best_ask();
        // Side: lean towards the side that brings the mid to the fair value.
        let mid = sb.mid() as f64;
        let p_buy = (0.5 + 0.1 * (fv - mid) / CENT as f64).clamp(0.25, 0.75);
        let side = if rng.gen::<f64>() < p_buy {
            Side::Buy
        } else {
            Side::Sell
        };
        let spread = match (bid, ask) {
            (Some(b), Some(a)) => (a - b) / CENT,
            _ => 99,
        };
        let spread_pref = sb.spread_ticks;
        // Offset behind the touch in ticks: -1 improves (if the spread allows), 0 joins, then a geometric tail.
        let improve = spread > sb.spread_ticks || (spread > 1 && rng.gen::<f64>() < 0.15);
        let off: i64 = if improve && rng.gen::<f64>() < 0.6 {
            -1
        } else if rng.gen::<f64>() < 0.3 {
            0
        } else {
            let mut k = 1;
            while k < 15 && rng.gen::<f64>() < 0.62 {
                k += 1;
            }
            k
        };
        let fv_tick = (fv / CENT as f64).round() as i64 * CENT;
        // Quote around the touch, unless the touch has drifted away from the fair value (a side emptied down to
        // stale orders): then around the fair value.
        let near = |p: i64| (p - fv_tick).abs() <= 8 * CENT;
        let bid_ref = bid.filter(|&b| near(b));
        let ask_ref = ask.filter(|&a| near(a));
        let price = match side {
            Side::Buy => {
                let base = bid_ref.unwrap_or(
                    ask_ref.map_or(fv_tick - CENT, |a| a - sb_spread(spread_pref) * CENT),
                );
                let mut p = base - off * CENT;
                if let Some(a) = ask {
                    p = p.min(a - CENT);
                }
                p
            }
            Side::Sell => {
                let base = ask_ref.unwrap_or(
                    bid_ref.map_or(fv_tick + CENT, |b| b + sb_spread(spread_pref) * CENT),
                );
                let mut p = base + off * CENT;
                if let Some(b) = bid {
                    p = p.max(b + CENT);
                }
                p
            }
        };
        if price <= 0 {
            return;
        }
        let mut q = background_size(rng);
        if no_large == Some(side) {
            q = q.min(199);
        }
        let mpid = {
            let sb = self.sym(loc);
            if !sb.mpids.is_empty() && rng.gen::<f64>() < 0.04 {
                Some(sb.mpids[rng.gen_range(0..sb.mpids.len())])
            } else {
                None
            }
        };
        self.add(loc, side, price, q, mpid, false);
    }
}
