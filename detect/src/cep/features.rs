//! The per-symbol feature vector that CEP rules (`feat.NAME`) and scoring models read in the pipeline.
//!
//! It is the detect stage's sliding-window features ([`FeatureSnapshot`], window `features.window_ms`, 1 s by
//! default) plus a 5-minute VWAP kept here. Names, in vector order ([`FEATURE_NAMES`]):
//!
//! | name | meaning |
//! |---|---|
//! | `message_rate` | messages per second over the window |
//! | `messages`, `adds`, `cancels`, `deletes`, `replaces`, `executions` | counts over the window |
//! | `volume`, `notional` | traded shares and notional (dollars) over the window |
//! | `order_to_trade`, `cancel_rate` | order messages / executions, withdrawals / adds over the window |
//! | `vwap` | VWAP over the window, dollars (`NaN` when nothing traded) |
//! | `median_order_size` | median displayed order size of the symbol's recent orders (`NaN` until known) |
//! | `move_bps` | realised move over the window, bps |
//! | `last_price` | last trade price, dollars (`NaN` before the first trade) |
//! | `bid`, `ask`, `bid_qty`, `ask_qty`, `mid`, `spread`, `spread_bps` | the touch after the event |
//! | `vwap_5m`, `volume_5m` | VWAP (dollars) and volume of the executions of the 5 minutes *before* the current event's timestamp (executions sharing the event's timestamp — one aggressive order's sweep — are excluded) |
//! | `price_before` | the last trade price (dollars) before the current event's timestamp |
//!
//! Allocation: [`FeatureTable::update`] allocates a symbol's row and window the first time the symbol is seen (as
//! the detectors do); [`FeatureTable::reserve`] does it ahead of time. After that nothing allocates.

use std::ops::{AddAssign, SubAssign};

use book::event::flags;
use book::{BookEvent, EventKind, PRICE_SCALE};

use super::FeatureSource;
use crate::features::FeatureSnapshot;
use crate::window::SlidingWindow;

/// Names of the feature vector, by index.
pub const FEATURE_NAMES: [&str; 25] = [
    "message_rate",
    "messages",
    "adds",
    "cancels",
    "deletes",
    "replaces",
    "executions",
    "volume",
    "notional",
    "order_to_trade",
    "cancel_rate",
    "vwap",
    "median_order_size",
    "move_bps",
    "last_price",
    "bid",
    "ask",
    "bid_qty",
    "ask_qty",
    "mid",
    "spread",
    "spread_bps",
    "vwap_5m",
    "volume_5m",
    "price_before",
];

const N: usize = FEATURE_NAMES.len();

/// The names as owned strings (for [`super::CompileContext::features`] and model binding).
pub fn feature_names() -> Vec<String> {
    FEATURE_NAMES.iter().map(|s| s.to_string()).collect()
}

const VWAP_WINDOW_NS: u64 = 300_000_000_000;
/// 60 buckets of 5 s: the old edge is exact to 1.7 % of the window.
const VWAP_BUCKETS: usize = 60;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct VolNotional {
    volume: u64,
    /// Ticks × shares.
    notional: u128,
}

impl AddAssign for VolNotional {
    fn add_assign(&mut self, o: Self) {
        self.volume += o.volume;
        self.notional += o.notional;
    }
}

impl SubAssign for VolNotional {
    fn sub_assign(&mut self, o: Self) {
        self.volume -= o.volume;
        self.notional -= o.notional;
    }
}

#[derive(Debug, Clone)]
struct Sym {
    row: [f64; N],
    vwap: SlidingWindow<VolNotional, VWAP_BUCKETS>,
    pending_ts: u64,
    pending: VolNotional,
    /// Last printed trade price (dollars), and its value before the current timestamp.
    last_trade: f64,
    price_before: f64,
}

impl Sym {
    fn new() -> Box<Sym> {
        Box::new(Sym {
            row: [f64::NAN; N],
            vwap: SlidingWindow::new(VWAP_WINDOW_NS),
            pending_ts: u64::MAX,
            pending: VolNotional::default(),
            last_trade: f64::NAN,
            price_before: f64::NAN,
        })
    }
}

/// Feature vectors of every symbol, indexed by stock locate. Implements [`FeatureSource`].
#[derive(Debug, Clone)]
pub struct FeatureTable {
    syms: Vec<Option<Box<Sym>>>,
}

impl Default for FeatureTable {
    fn default() -> Self {
        FeatureTable::new()
    }
}

#[inline]
fn dollars(ticks: i64) -> f64 {
    ticks as f64 / PRICE_SCALE as f64
}

#[inline]
fn dollars_or_nan(ticks: i64) -> f64 {
    if ticks == 0 {
        f64::NAN
    } else {
        dollars(ticks)
    }
}

impl FeatureTable {
    /// An empty table (64 Ki locate slots, 512 KB).
    pub fn new() -> FeatureTable {
        FeatureTable {
            syms: vec![None; 1 << 16],
        }
    }

    /// Allocates the state of `locate` now (e.g. at its directory message) so its first event does not.
    pub fn reserve(&mut self, locate: u16) {
        let s = &mut self.syms[locate as usize];
        if s.is_none() {
            *s = Some(Sym::new());
        }
    }

    /// Updates the symbol of `ev` with the event and, when given, the detect stage's snapshot of its features
    /// taken after the event.
    pub fn update(&mut self, ev: &BookEvent, snap: Option<&FeatureSnapshot>) {
        if ev.book == 0 {
            return;
        }
        let sym = self.syms[ev.book as usize].get_or_insert_with(Sym::new);
        // 5-minute VWAP of executions before the current timestamp.
        if ev.ts_ns != sym.pending_ts {
            if sym.pending.volume > 0 {
                sym.vwap.add(sym.pending_ts, sym.pending);
            }
            sym.pending = VolNotional::default();
            sym.pending_ts = ev.ts_ns;
            sym.price_before = sym.last_trade;
        }
        let printable = match ev.kind {
            EventKind::Execute | EventKind::HiddenTrade | EventKind::Trade => true,
            EventKind::ExecuteWithPrice => ev.flags & flags::PRINTABLE != 0,
            _ => false,
        };
        if printable && ev.qty > 0 && ev.price > 0 {
            sym.pending += VolNotional {
                volume: ev.qty as u64,
                notional: ev.price as u128 * ev.qty as u128,
            };
        }
        if printable && ev.price > 0 {
            sym.last_trade = dollars(ev.price);
        }
        sym.vwap.advance(ev.ts_ns);
        let t = sym.vwap.total();
        let r = &mut sym.row;
        r[22] = if t.volume > 0 {
            (t.notional / t.volume as u128) as f64 / PRICE_SCALE as f64
        } else {
            f64::NAN
        };
        r[23] = t.volume as f64;
        r[24] = sym.price_before;
        if let Some(s) = snap {
            let c = &s.counts;
            r[0] = s.message_rate_per_s;
            r[1] = c.messages as f64;
            r[2] = c.adds as f64;
            r[3] = c.cancels as f64;
            r[4] = c.deletes as f64;
            r[5] = c.replaces as f64;
            r[6] = c.executions as f64;
            r[7] = c.volume as f64;
            r[8] = c.notional as f64 / PRICE_SCALE as f64;
            r[9] = s.order_to_trade;
            r[10] = s.cancel_rate;
            r[11] = dollars_or_nan(s.vwap);
            r[12] = if s.median_order_size == 0 {
                f64::NAN
            } else {
                s.median_order_size as f64
            };
            r[13] = s.move_bps;
            r[14] = dollars_or_nan(s.last_price);
        }
        let bid = if ev.bid_qty > 0 {
            dollars(ev.bid_price)
        } else {
            f64::NAN
        };
        let ask = if ev.ask_qty > 0 {
            dollars(ev.ask_price)
        } else {
            f64::NAN
        };
        if ev.kind.is_book_change() || ev.kind == EventKind::Quote {
            r[15] = bid;
            r[16] = ask;
            r[17] = ev.bid_qty as f64;
            r[18] = ev.ask_qty as f64;
            r[19] = (bid + ask) / 2.0;
            r[20] = ask - bid;
            r[21] = (ask - bid) / ((bid + ask) / 2.0) * 1e4;
        }
    }
}

impl FeatureSource for FeatureTable {
    #[inline]
    fn features(&self, locate: u16) -> Option<&[f64]> {
        self.syms[locate as usize].as_deref().map(|s| &s.row[..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec(ts: u64, price: i64, qty: u32) -> BookEvent {
        let mut e = BookEvent::EMPTY;
        e.kind = EventKind::Execute;
        e.book = 1;
        e.ts_ns = ts;
        e.price = price;
        e.qty = qty;
        e
    }

    #[test]
    fn vwap_5m_excludes_the_current_timestamp() {
        let mut t = FeatureTable::new();
        let s = 1_000_000_000u64;
        t.update(&exec(10 * s, 1_000_000, 100), None);
        let f = |t: &FeatureTable| t.features(1).unwrap()[22];
        assert!(f(&t).is_nan(), "nothing before the first timestamp");
        t.update(&exec(10 * s, 1_010_000, 100), None);
        assert!(f(&t).is_nan(), "same timestamp still excluded");
        t.update(&exec(11 * s, 2_000_000, 100), None);
        assert_eq!(f(&t), 100.5);
        assert_eq!(
            t.features(1).unwrap()[24],
            101.0,
            "price before the 11 s timestamp"
        );
        assert_eq!(t.features(1).unwrap()[23], 200.0);
        // Six minutes later everything has left the window.
        t.update(&exec(11 * s + 360 * s, 1_000_000, 1), None);
        assert!(f(&t).is_nan());
        assert_eq!(FEATURE_NAMES[22], "vwap_5m");
        assert!(t.features(2).is_none());
    }
}
