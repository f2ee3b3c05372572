//! The pipeline's event schema and the adapter from `book::BookEvent` to [`CepEvent`].
//!
//! # Kinds
//! One per `book::EventKind`, same names and ids: `add`, `execute`, `execute_with_price`, `cancel`, `delete`,
//! `replace`, `hidden_trade`, `cross_trade`, `broken_trade`, `level_update`, `quote`, `trade`, `trading_status`,
//! `operational_halt`, `system_event`, `directory`, `clear_book`.
//!
//! # Fields
//! Besides the built-ins every event has (`ts`, `seq`, `locate`, `symbol`, `mpid`, `order_ref`):
//!
//! | field | meaning |
//! |---|---|
//! | `side` | `buy` (+1) / `sell` (−1) / 0: the order's, level's or trade's side (for executions, the *resting* order's) |
//! | `aggressor` | executions: the aggressor's side (the opposite of the resting order's); hidden trades (`P`): from the touch, as the detectors' default `general.hidden_trade_side = "quote"` (at or above the offer +1, at or below the bid −1, inside the spread absent), since NASDAQ sends `B` in every `P` |
//! | `price` | price of the change in **dollars** (ticks / 10 000): limit price, execution price, new price |
//! | `qty` | shares of this change (added, executed, cancelled, remaining at deletion, traded) |
//! | `remaining` | the order's visible shares after the event |
//! | `level_qty`, `level_orders` | the event's price level after the event |
//! | `bid`, `ask`, `bid_qty`, `ask_qty` | best bid/offer after the event (prices `NaN` when the side is empty) |
//! | `mid`, `spread` | `(bid + ask) / 2`, `ask − bid` (`NaN` unless both sides are present) |
//! | `order_price` | the order's price before the event (`NaN` when unknown) |
//! | `order_age` | ns since the order was added (`NaN` when unknown) |
//! | `match_number`, `new_order_ref`, `code` | as in the book event (`NaN` when 0 / absent) |
//! | `bbo_changed`, `crossed`, `locked`, `halted`, `printable` | 1 or 0 |
//! | `tod` | time of day in ns since midnight, exchange time (ITCH timestamps as they are; epoch timestamps converted to US Eastern time) |

use book::{BookEvent, EventKind, Side, Symbol, PRICE_SCALE};

use super::engine::Match;
use super::event::{CepEvent, FieldId, KindId, Schema};
use crate::alert::{Alert, Detector, Evidence, EvidenceOrder, Value};

/// Kind ids of the pipeline schema (equal to the `book::EventKind` discriminants).
pub mod kind {
    use super::KindId;
    /// `add`
    pub const ADD: KindId = KindId(1);
    /// `execute`
    pub const EXECUTE: KindId = KindId(2);
    /// `execute_with_price`
    pub const EXECUTE_WITH_PRICE: KindId = KindId(3);
    /// `cancel`
    pub const CANCEL: KindId = KindId(4);
    /// `delete`
    pub const DELETE: KindId = KindId(5);
    /// `replace`
    pub const REPLACE: KindId = KindId(6);
    /// `hidden_trade`
    pub const HIDDEN_TRADE: KindId = KindId(7);
    /// `cross_trade`
    pub const CROSS_TRADE: KindId = KindId(8);
    /// `trade`
    pub const TRADE: KindId = KindId(12);
}

/// Field ids of the pipeline schema.
pub mod field {
    use super::FieldId;
    /// `side`
    pub const SIDE: FieldId = FieldId(0);
    /// `price` (dollars)
    pub const PRICE: FieldId = FieldId(1);
    /// `qty`
    pub const QTY: FieldId = FieldId(2);
    /// `remaining`
    pub const REMAINING: FieldId = FieldId(3);
    /// `level_qty`
    pub const LEVEL_QTY: FieldId = FieldId(4);
    /// `level_orders`
    pub const LEVEL_ORDERS: FieldId = FieldId(5);
    /// `bid`
    pub const BID: FieldId = FieldId(6);
    /// `ask`
    pub const ASK: FieldId = FieldId(7);
    /// `bid_qty`
    pub const BID_QTY: FieldId = FieldId(8);
    /// `ask_qty`
    pub const ASK_QTY: FieldId = FieldId(9);
    /// `mid`
    pub const MID: FieldId = FieldId(10);
    /// `spread`
    pub const SPREAD: FieldId = FieldId(11);
    /// `order_price`
    pub const ORDER_PRICE: FieldId = FieldId(12);
    /// `order_age`
    pub const ORDER_AGE: FieldId = FieldId(13);
    /// `match_number`
    pub const MATCH_NUMBER: FieldId = FieldId(14);
    /// `new_order_ref`
    pub const NEW_ORDER_REF: FieldId = FieldId(15);
    /// `code`
    pub const CODE: FieldId = FieldId(16);
    /// `bbo_changed`
    pub const BBO_CHANGED: FieldId = FieldId(17);
    /// `crossed`
    pub const CROSSED: FieldId = FieldId(18);
    /// `locked`
    pub const LOCKED: FieldId = FieldId(19);
    /// `halted`
    pub const HALTED: FieldId = FieldId(20);
    /// `printable`
    pub const PRINTABLE: FieldId = FieldId(21);
    /// `tod`
    pub const TOD: FieldId = FieldId(22);
    /// `aggressor`
    pub const AGGRESSOR: FieldId = FieldId(23);
}

/// The `book::EventKind` of a pipeline kind id.
pub fn book_kind(k: KindId) -> EventKind {
    EventKind::ALL
        .get(k.0 as usize)
        .copied()
        .unwrap_or(EventKind::None)
}

/// The schema of book events (see the module docs).
pub fn schema() -> Schema {
    const BBO: [&str; 7] = [
        "bid",
        "ask",
        "bid_qty",
        "ask_qty",
        "mid",
        "spread",
        "bbo_changed",
    ];
    let mut b = Schema::builder()
        .side_field("side")
        .field("price")
        .field("qty")
        .field("remaining")
        .field("level_qty")
        .field("level_orders")
        .field("bid")
        .field("ask")
        .field("bid_qty")
        .field("ask_qty")
        .field("mid")
        .field("spread")
        .field("order_price")
        .field("order_age")
        .field("match_number")
        .field("new_order_ref")
        .field("code")
        .field("bbo_changed")
        .field("crossed")
        .field("locked")
        .field("halted")
        .field("printable")
        .field("tod")
        .side_field("aggressor");
    for k in EventKind::ALL {
        let mut f: Vec<&str> = vec!["tod"];
        match k {
            EventKind::Add => f.extend([
                "side",
                "price",
                "qty",
                "remaining",
                "level_qty",
                "level_orders",
            ]),
            EventKind::Execute | EventKind::ExecuteWithPrice => f.extend([
                "side",
                "aggressor",
                "price",
                "qty",
                "remaining",
                "level_qty",
                "level_orders",
                "order_price",
                "order_age",
                "match_number",
                "printable",
            ]),
            EventKind::Cancel | EventKind::Delete => f.extend([
                "side",
                "price",
                "qty",
                "remaining",
                "level_qty",
                "level_orders",
                "order_price",
                "order_age",
            ]),
            EventKind::Replace => f.extend([
                "side",
                "price",
                "qty",
                "remaining",
                "level_qty",
                "level_orders",
                "order_price",
                "order_age",
                "new_order_ref",
            ]),
            EventKind::HiddenTrade => {
                f.extend(["side", "aggressor", "price", "qty", "match_number"])
            }
            EventKind::CrossTrade => f.extend(["price", "qty", "match_number", "code"]),
            EventKind::BrokenTrade => f.extend(["match_number"]),
            EventKind::LevelUpdate => f.extend(["side", "price", "level_qty", "code"]),
            EventKind::Quote => f.extend(["code"]),
            EventKind::Trade => f.extend(["price", "qty", "match_number", "code"]),
            EventKind::TradingStatus | EventKind::OperationalHalt | EventKind::SystemEvent => {
                f.extend(["code", "halted"])
            }
            EventKind::ClearBook => f.extend(["code"]),
            EventKind::Directory | EventKind::None => {}
        }
        if k.is_book_change() || k == EventKind::Quote {
            f.extend(BBO);
            f.extend(["crossed", "locked"]);
        }
        b = b.kind(k.name(), &f);
    }
    b.build()
}

const DAY_NS: u64 = 86_400_000_000_000;

/// Time of day (ns since local midnight) of a feed timestamp: ITCH timestamps (< 1 day) are returned as they are;
/// larger values are taken as ns since the Unix epoch (IEX) and converted to US Eastern time (EST/EDT, US daylight
/// saving rules since 2007).
pub fn time_of_day(ts_ns: u64) -> u64 {
    if ts_ns < DAY_NS {
        return ts_ns;
    }
    let secs = (ts_ns / 1_000_000_000) as i64;
    let local = ts_ns as i128 + eastern_offset_secs(secs) as i128 * 1_000_000_000;
    local.rem_euclid(DAY_NS as i128) as u64
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn year_of_days(z: i64) -> i64 {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    yoe + era * 400 + if m <= 2 { 1 } else { 0 }
}

/// The n-th Sunday (1-based) of month `m` of year `y`, as days since the epoch.
fn nth_sunday(y: i64, m: i64, n: i64) -> i64 {
    let first = days_from_civil(y, m, 1);
    // 1970-01-01 was a Thursday: weekday 0 = Sunday → (days + 4) mod 7.
    let wd = (first + 4).rem_euclid(7);
    first + (7 - wd) % 7 + 7 * (n - 1)
}

/// UTC offset of US Eastern time at `epoch_secs` (−4 h during daylight saving time, −5 h otherwise).
pub fn eastern_offset_secs(epoch_secs: i64) -> i64 {
    let y = year_of_days(epoch_secs.div_euclid(86_400));
    // DST starts the second Sunday of March at 02:00 EST (07:00 UTC), ends the first Sunday of November at
    // 02:00 EDT (06:00 UTC).
    let start = nth_sunday(y, 3, 2) * 86_400 + 7 * 3600;
    let end = nth_sunday(y, 11, 1) * 86_400 + 6 * 3600;
    if epoch_secs >= start && epoch_secs < end {
        -4 * 3600
    } else {
        -5 * 3600
    }
}

#[inline]
fn px(p: i64) -> f64 {
    p as f64 / PRICE_SCALE as f64
}

#[inline]
fn nz(x: u64) -> f64 {
    if x == 0 {
        f64::NAN
    } else {
        x as f64
    }
}

#[inline]
fn side_num(s: Side) -> f64 {
    match s {
        Side::Buy => 1.0,
        Side::Sell => -1.0,
        Side::None => 0.0,
    }
}

/// The [`CepEvent`] of a book event. Allocation-free, a few ns.
#[inline]
pub fn from_book(e: &BookEvent) -> CepEvent {
    use book::event::flags;
    let mut c = CepEvent::new(KindId(e.kind as u8), e.ts_ns);
    c.seq = e.seq;
    c.order_ref = e.order_ref;
    c.symbol = e.symbol.0;
    c.mpid = super::event::mpid_code(&e.mpid);
    c.locate = e.book;
    let v = &mut c.vals;
    let has_price = !matches!(
        e.kind,
        EventKind::BrokenTrade
            | EventKind::Quote
            | EventKind::TradingStatus
            | EventKind::OperationalHalt
            | EventKind::SystemEvent
            | EventKind::Directory
            | EventKind::None
    );
    v[field::SIDE.0 as usize] = side_num(e.side);
    if has_price {
        v[field::PRICE.0 as usize] = px(e.price);
        v[field::QTY.0 as usize] = e.qty as f64;
    }
    v[field::REMAINING.0 as usize] = e.remaining as f64;
    v[field::LEVEL_QTY.0 as usize] = e.level_qty as f64;
    v[field::LEVEL_ORDERS.0 as usize] = e.level_orders as f64;
    let bid = if e.bid_qty > 0 {
        px(e.bid_price)
    } else {
        f64::NAN
    };
    let ask = if e.ask_qty > 0 {
        px(e.ask_price)
    } else {
        f64::NAN
    };
    v[field::BID.0 as usize] = bid;
    v[field::ASK.0 as usize] = ask;
    v[field::BID_QTY.0 as usize] = e.bid_qty as f64;
    v[field::ASK_QTY.0 as usize] = e.ask_qty as f64;
    v[field::MID.0 as usize] = (bid + ask) / 2.0;
    v[field::SPREAD.0 as usize] = ask - bid;
    v[field::ORDER_PRICE.0 as usize] = if e.order_price != 0 {
        px(e.order_price)
    } else {
        f64::NAN
    };
    v[field::ORDER_AGE.0 as usize] = e.order_age_ns().map_or(f64::NAN, |a| a as f64);
    v[field::MATCH_NUMBER.0 as usize] = nz(e.match_number);
    v[field::NEW_ORDER_REF.0 as usize] = nz(e.new_order_ref);
    v[field::CODE.0 as usize] = e.code as f64;
    let flag = |f: u8| if e.flags & f != 0 { 1.0 } else { 0.0 };
    v[field::BBO_CHANGED.0 as usize] = flag(flags::BBO_CHANGED);
    v[field::CROSSED.0 as usize] = flag(flags::CROSSED);
    v[field::LOCKED.0 as usize] = flag(flags::LOCKED);
    v[field::HALTED.0 as usize] = flag(flags::HALTED);
    v[field::PRINTABLE.0 as usize] = flag(flags::PRINTABLE);
    v[field::TOD.0 as usize] = time_of_day(e.ts_ns) as f64;
    v[field::AGGRESSOR.0 as usize] = match e.kind {
        EventKind::Execute | EventKind::ExecuteWithPrice => -side_num(e.side),
        // A `P` leaves the book as it was: the touch after it is the touch it traded against.
        EventKind::HiddenTrade if e.ask_qty > 0 && e.price >= e.ask_price => 1.0,
        EventKind::HiddenTrade if e.bid_qty > 0 && e.price <= e.bid_price => -1.0,
        _ => f64::NAN,
    };
    c
}

fn side_of(v: f64) -> Side {
    if v > 0.0 {
        Side::Buy
    } else if v < 0.0 {
        Side::Sell
    } else {
        Side::None
    }
}

#[inline]
fn int(v: f64) -> u64 {
    if v.is_finite() && v > 0.0 {
        v as u64
    } else {
        0
    }
}

/// The alert record of a match of a rule over the pipeline schema: `detector` = rule name; symbol, locate and
/// sequence of the last bound event; `side` from the rule's `side` clause; the window of the match; `score` from the
/// rule's `score` clause; `evidence.orders` = the bound events (role = step name; the first [`crate::alert::MAX_ORDERS`]
/// are kept, `orders_total` counts all) and the figures `by_timer` and `events`. Never allocates.
pub fn to_alert(m: &Match<'_>) -> Alert {
    let rule = m.rule();
    let last = m.last_event();
    let mut ev = Evidence::EMPTY;
    ev.figure("by_timer", m.by_timer).figure("events", m.len());
    if m.key.mpid != 0 {
        ev.figure("mpid", Value::text(&m.key.mpid.to_be_bytes()));
    }
    for (step, e) in m.events() {
        ev.order(EvidenceOrder {
            role: rule.step_role(step),
            action: book_kind(e.kind),
            ts_ns: e.ts_ns,
            seq: e.seq,
            order_ref: e.order_ref,
            match_number: int(e.get(field::MATCH_NUMBER)),
            price: {
                let p = e.get(field::PRICE);
                if p.is_finite() {
                    (p * PRICE_SCALE as f64).round() as i64
                } else {
                    0
                }
            },
            shares: int(e.get(field::QTY)).min(u32::MAX as u64) as u32,
            book: e.locate,
            symbol: Symbol::from_bytes(e.symbol),
            side: side_of(e.get(field::SIDE)),
            mpid: if e.mpid == 0 {
                [0; 4]
            } else {
                e.mpid.to_be_bytes()
            },
        });
    }
    Alert {
        detector: Detector::Rule(rule.alert_name()),
        symbol: Symbol::from_bytes(last.symbol),
        stock_locate: last.locate,
        side: side_of(m.side as f64),
        event_ts_ns: m.event_ts_ns,
        window_start_ns: m.window_start_ns,
        window_end_ns: m.window_end_ns,
        score: m.score,
        seq: m.seq,
        evidence: ev,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use book::Symbol;

    #[test]
    fn schema_matches_book_kinds_and_field_ids() {
        let s = schema();
        for k in EventKind::ALL {
            assert_eq!(s.kind(k.name()), Some(KindId(k as u8)), "{}", k.name());
            assert_eq!(book_kind(KindId(k as u8)), k);
        }
        for (name, id) in [
            ("side", field::SIDE),
            ("price", field::PRICE),
            ("qty", field::QTY),
            ("tod", field::TOD),
            ("aggressor", field::AGGRESSOR),
            ("spread", field::SPREAD),
            ("halted", field::HALTED),
        ] {
            assert_eq!(s.field(name), Some(id), "{name}");
        }
        assert_eq!(s.kind("add"), Some(kind::ADD));
        assert_eq!(s.kind("trade"), Some(kind::TRADE));
    }

    #[test]
    fn adapts_an_execution() {
        let mut e = BookEvent::EMPTY;
        e.kind = EventKind::Execute;
        e.ts_ns = 34_200_000_000_000;
        e.seq = 9;
        e.order_ref = 77;
        e.price = 1_234_500;
        e.qty = 300;
        e.side = Side::Buy;
        e.book = 3;
        e.symbol = Symbol::new("AAPL");
        e.mpid = *b"GSCO";
        e.bid_price = 1_234_500;
        e.bid_qty = 100;
        e.ask_price = 1_234_600;
        e.ask_qty = 200;
        e.order_ts_ns = 34_199_000_000_000;
        let c = from_book(&e);
        assert_eq!(c.kind, kind::EXECUTE);
        assert_eq!(c.get(field::PRICE), 123.45);
        assert_eq!(c.get(field::SIDE), 1.0);
        assert_eq!(c.get(field::AGGRESSOR), -1.0);
        assert_eq!(c.get(field::ORDER_AGE), 1e9);
        assert!((c.get(field::SPREAD) - 0.01).abs() < 1e-9);
        assert_eq!(c.get(field::TOD), 34_200_000_000_000.0);
        assert_eq!(c.mpid_str().as_deref(), Some("GSCO"));
        assert_eq!(c.symbol_str(), "AAPL");
        assert_eq!(c.locate, 3);
        let mut q = e;
        q.bid_qty = 0;
        assert!(from_book(&q).get(field::MID).is_nan());
    }

    #[test]
    fn eastern_time_of_day() {
        // 2019-10-22 13:30:00 UTC = 09:30 EDT.
        let t = days_from_civil(2019, 10, 22) as u64 * 86_400 + 13 * 3600 + 30 * 60;
        assert_eq!(
            time_of_day(t * 1_000_000_000),
            (9 * 3600 + 30 * 60) * 1_000_000_000
        );
        // 2020-01-15 21:00:00 UTC = 16:00 EST.
        let t = days_from_civil(2020, 1, 15) as u64 * 86_400 + 21 * 3600;
        assert_eq!(time_of_day(t * 1_000_000_000), 16 * 3600 * 1_000_000_000);
        // DST boundaries 2024: starts 2024-03-10 07:00 UTC, ends 2024-11-03 06:00 UTC.
        let s = days_from_civil(2024, 3, 10) * 86_400 + 7 * 3600;
        assert_eq!(eastern_offset_secs(s - 1), -5 * 3600);
        assert_eq!(eastern_offset_secs(s), -4 * 3600);
        let e = days_from_civil(2024, 11, 3) * 86_400 + 6 * 3600;
        assert_eq!(eastern_offset_secs(e - 1), -4 * 3600);
        assert_eq!(eastern_offset_secs(e), -5 * 3600);
        assert_eq!(year_of_days(days_from_civil(2024, 2, 29)), 2024);
        assert_eq!(year_of_days(days_from_civil(2023, 12, 31)), 2023);
    }
}
