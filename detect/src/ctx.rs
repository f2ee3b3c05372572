//! What every detector needs to know about one event, computed once per event by [`crate::DetectorSet`].

use book::{BookEvent, EventKind, Price, Side};

use crate::config::HiddenTradeSide;

/// An execution with its aggressor side.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Exec {
    /// Side of the resting order that was executed (ITCH `E`/`C`: the order's side; `P`: see
    /// [`hidden_resting_side`]).
    pub resting: Side,
    /// Aggressor side: the opposite of `resting`.
    pub aggressor: Side,
    /// Execution price (ticks).
    pub price: Price,
    /// Executed shares.
    pub qty: u32,
    /// The resting order executed (0 for `P`).
    pub order_ref: u64,
}

/// A displayed order that appeared: an add, or the new order of a replace.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewOrder {
    pub order_ref: u64,
    pub side: Side,
    pub price: Price,
    pub qty: u32,
}

/// Shares withdrawn from an order by its owner: a partial cancel (`X`), a delete (`D`), the original order of a
/// replace (`U`, which cancels it and enters a new one), or a resize in place (an IEX DEEP+ modify that kept the
/// order's priority: the same order with fewer or as many shares).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Withdrawal {
    pub order_ref: u64,
    /// The shares this message takes.
    pub take: Take,
    /// Whether the order has left the book.
    pub gone: bool,
}

/// What a [`Withdrawal`] takes from the order; the trackers know its resting shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Take {
    /// These shares (`X`: the cancelled ones; `D`: the remainder).
    Shares(u32),
    /// Everything still resting (a replace).
    All,
    /// Down to this many shares (a resize in place).
    DownTo(u32),
}

impl Withdrawal {
    /// Shares this withdrawal takes from an order that had `resting` shares (at most `resting`).
    #[inline]
    pub fn taken_from(&self, resting: u32) -> u32 {
        match self.take {
            Take::Shares(q) => q.min(resting),
            Take::All => resting,
            Take::DownTo(keep) => resting.saturating_sub(keep),
        }
    }
}

/// Per-event context shared by the detectors.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub ev: &'a BookEvent,
    /// Best bid before this event (0 = none).
    pub prev_bid: Price,
    /// Best offer before this event (0 = none).
    pub prev_ask: Price,
    /// Median displayed order size before this event, when known (only computed for events that add an order).
    pub median: Option<u32>,
    /// Last execution price of the symbol before this event (0 = none yet).
    pub last_price_before: Price,
    pub exec: Option<Exec>,
    pub new_order: Option<NewOrder>,
    pub withdrawal: Option<Withdrawal>,
    /// Tick size at a price (Reg NMS or fixed), as configured.
    pub fixed_tick: Price,
}

impl Ctx<'_> {
    /// Tick size at `price`: the configured one, or Reg NMS Rule 612 ($0.01 at ≥ $1.00, $0.0001 below).
    #[inline]
    pub fn tick(&self, price: Price) -> Price {
        tick_at(self.fixed_tick, price)
    }

    /// Feed time.
    #[inline]
    pub fn ts(&self) -> u64 {
        self.ev.ts_ns
    }
}

/// Tick size at `price` (see [`Ctx::tick`]).
#[inline]
pub(crate) fn tick_at(fixed: Price, price: Price) -> Price {
    if fixed > 0 {
        fixed
    } else if price >= 10_000 {
        100
    } else {
        1
    }
}

/// `to − from` as `f64`, computed without overflow (garbage prices — an IEX price is any `i64` — must not wrap).
#[inline]
pub(crate) fn price_diff(to: Price, from: Price) -> f64 {
    (to as i128 - from as i128) as f64
}

/// How many ticks `price` lies behind `best` on `side` (≤ 0 = at or through the best), rounded up.
#[inline]
pub(crate) fn ticks_behind(side: Side, price: Price, best: Price, tick: Price) -> i64 {
    // Saturating: garbage prices (an IEX price is any i64) must not overflow.
    let behind = match side {
        Side::Buy => best.saturating_sub(price),
        Side::Sell => price.saturating_sub(best),
        Side::None => 0,
    };
    if behind <= 0 {
        behind / tick
    } else {
        behind.saturating_add(tick - 1) / tick
    }
}

/// Signed direction of a side: +1 buy (prices up), −1 sell.
#[inline]
pub(crate) fn dir(side: Side) -> f64 {
    match side {
        Side::Buy => 1.0,
        Side::Sell => -1.0,
        Side::None => 0.0,
    }
}

/// The resting side an ITCH `P` (`ev`) is taken to have executed, from the touch before it (`bid`/`ask`, 0 = that
/// side empty) or the side sent (see [`HiddenTradeSide`]); [`Side::None`]: no aggressor known, or `P` is not
/// counted as an execution.
#[inline]
pub(crate) fn hidden_resting_side(
    ev: &BookEvent,
    as_exec: bool,
    mode: HiddenTradeSide,
    bid: Price,
    ask: Price,
) -> Side {
    if !as_exec {
        return Side::None;
    }
    match mode {
        HiddenTradeSide::Sent => ev.side,
        HiddenTradeSide::Quote if ask > 0 && ev.price >= ask => Side::Sell,
        HiddenTradeSide::Quote if bid > 0 && ev.price <= bid => Side::Buy,
        HiddenTradeSide::Quote => Side::None,
    }
}

/// Classifies `ev` into the context fields that depend only on the event (`hidden_resting`: for a `P`, the resting
/// side from [`hidden_resting_side`]).
#[inline]
pub(crate) fn classify(
    ev: &BookEvent,
    hidden_resting: Side,
) -> (Option<Exec>, Option<NewOrder>, Option<Withdrawal>) {
    match ev.kind {
        EventKind::Add => (
            None,
            Some(NewOrder {
                order_ref: ev.order_ref,
                side: ev.side,
                price: ev.price,
                qty: ev.qty,
            }),
            None,
        ),
        EventKind::Execute | EventKind::ExecuteWithPrice if ev.side != Side::None => (
            Some(Exec {
                resting: ev.side,
                aggressor: ev.side.opposite(),
                price: ev.price,
                qty: ev.qty,
                order_ref: ev.order_ref,
            }),
            None,
            None,
        ),
        EventKind::HiddenTrade if hidden_resting != Side::None => (
            Some(Exec {
                resting: hidden_resting,
                aggressor: hidden_resting.opposite(),
                price: ev.price,
                qty: ev.qty,
                order_ref: 0,
            }),
            None,
            None,
        ),
        EventKind::Cancel => (
            None,
            None,
            Some(Withdrawal {
                order_ref: ev.order_ref,
                take: Take::Shares(ev.qty),
                gone: ev.remaining == 0,
            }),
        ),
        EventKind::Delete => (
            None,
            None,
            Some(Withdrawal {
                order_ref: ev.order_ref,
                take: Take::Shares(ev.qty),
                gone: true,
            }),
        ),
        // A DEEP+ modify that kept priority: the same order, resized in place (a partial cancel, no new order).
        EventKind::Replace
            if ev.code == book::event::REPLACE_KEPT_PRIORITY
                && ev.new_order_ref == ev.order_ref =>
        {
            (
                None,
                None,
                Some(Withdrawal {
                    order_ref: ev.order_ref,
                    take: Take::DownTo(ev.qty),
                    gone: false,
                }),
            )
        }
        EventKind::Replace => (
            None,
            Some(NewOrder {
                order_ref: ev.new_order_ref,
                side: ev.side,
                price: ev.price,
                qty: ev.qty,
            }),
            Some(Withdrawal {
                order_ref: ev.order_ref,
                take: Take::All,
                gone: true,
            }),
        ),
        _ => (None, None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks() {
        assert_eq!(tick_at(0, 1_000_000), 100);
        assert_eq!(tick_at(0, 9_999), 1);
        assert_eq!(tick_at(50, 9_999), 50);
        assert_eq!(ticks_behind(Side::Buy, 99_800, 100_000, 100), 2);
        assert_eq!(ticks_behind(Side::Buy, 99_750, 100_000, 100), 3);
        assert_eq!(ticks_behind(Side::Buy, 100_100, 100_000, 100), -1);
        assert_eq!(ticks_behind(Side::Sell, 100_200, 100_000, 100), 2);
        assert_eq!(ticks_behind(Side::Sell, 99_900, 100_000, 100), -1);
    }
}
