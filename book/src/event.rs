//! [`BookEvent`]: the fixed-size `Copy` record every downstream stage consumes.
//!
//! The book stage turns each applied feed message into exactly one `BookEvent` (messages that do not concern a book,
//! such as Reg SHO or NOII, yield none). An event is self-contained: it carries the symbol, the order's attributes
//! kept from its add (MPID, entry time, entry price) and the state of the touch *after* the message was applied, so
//! detectors, the CEP engine, rings and snapshot publishers never look anything up.
//!
//! Units, everywhere in this crate:
//! - **prices** are integer ticks of 1/10 000 of the quote currency ([`PRICE_SCALE`]): the ITCH 5.0 4-decimal price
//!   and the IEX 8-byte price are both stored unscaled (`$12.3400` → `123_400`). Never floating point.
//! - **quantities** are shares. Per-event quantities are `u32` (the wire width of ITCH and IEX sizes). Aggregates
//!   (level totals, BBO sizes) are kept as `u64` inside the book and *saturate* at `u32::MAX` in an event.
//! - **timestamps** are the feed's own: ITCH ns since midnight, IEX ns since the Unix epoch.
//!
//! The layout is `#[repr(C)]`, 8-byte aligned, and at most 128 bytes (two cache lines); a test pins the size.

use crate::symbol::Symbol;

/// Number of price ticks per currency unit: prices carry 4 implied decimals.
pub const PRICE_SCALE: i64 = 10_000;

/// A price in integer ticks of 1/10 000 ([`PRICE_SCALE`]).
pub type Price = i64;

/// Side of an order, a level or a trade.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Side {
    /// No side (status messages, crosses, quotes, unknown orders).
    #[default]
    None = 0,
    /// Buy side (bids). ITCH `B`, IEX `8`.
    Buy = 1,
    /// Sell side (offers). ITCH `S`, IEX `5`.
    Sell = 2,
}

impl Side {
    /// The other side (`None` stays `None`).
    #[inline]
    pub const fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
            Side::None => Side::None,
        }
    }

    /// ITCH side byte: `B` → Buy, `S` → Sell, anything else → None.
    #[inline]
    pub const fn from_itch(b: u8) -> Side {
        match b {
            b'B' => Side::Buy,
            b'S' => Side::Sell,
            _ => Side::None,
        }
    }

    /// One-letter code used in CSV output: `B`, `S`, or `-`.
    #[inline]
    pub const fn letter(self) -> char {
        match self {
            Side::Buy => 'B',
            Side::Sell => 'S',
            Side::None => '-',
        }
    }

    /// Lower-case name used in JSON output: `buy`, `sell`, `none`.
    #[inline]
    pub const fn name(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
            Side::None => "none",
        }
    }
}

/// What a [`BookEvent`] reports. `repr(u8)`; the discriminants are stable and may be stored.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum EventKind {
    /// Placeholder value of [`BookEvent::EMPTY`]; never produced by the book.
    #[default]
    None = 0,
    /// A new visible order rested on the book (ITCH `A`/`F`, DEEP+ `a`).
    /// `qty` = `remaining` = its size, `price` its limit price.
    Add = 1,
    /// A resting order was executed at its own price (ITCH `E`, DEEP+ `L`). `qty` = executed shares,
    /// `price` = the order's price, `match_number` set. `side` is the *resting* order's side; the aggressor is the
    /// opposite side.
    Execute = 2,
    /// A resting order was executed at a price other than its limit (ITCH `C`). `price` = execution price,
    /// `order_price` = the order's limit price; see [`flags::PRINTABLE`].
    ExecuteWithPrice = 3,
    /// Part of a resting order was cancelled (ITCH `X`). `qty` = cancelled shares, `remaining` > 0 normally
    /// (a cancel of the whole remainder removes the order and reports `remaining` = 0).
    Cancel = 4,
    /// A resting order was removed entirely (ITCH `D`, DEEP+ `R`). `qty` = the shares it still had.
    Delete = 5,
    /// An order was replaced (ITCH `U`: new reference, loses priority) or modified (DEEP+ `M`: same reference,
    /// `new_order_ref == order_ref`). `order_ref` = old reference, `new_order_ref` = new reference,
    /// `order_price`/`order_ts_ns` describe the old order, `price`/`qty`/`remaining` the new one, and the level
    /// figures are those of the new price level. `code` = [`REPLACE_KEPT_PRIORITY`] when a DEEP+ modify kept the
    /// order's time priority (same price, size not increased: the order stayed where it was with fewer shares, a
    /// partial cancel in effect); 0 otherwise.
    Replace = 6,
    /// A trade against a non-displayed order (ITCH `P`): no book change. `price`, `qty`, `match_number`, `side`
    /// (the non-displayed order's side as sent).
    HiddenTrade = 7,
    /// An opening/closing/halt/IPO cross (ITCH `Q`): `price` = cross price, `qty` = cross shares, `code` = cross type.
    CrossTrade = 8,
    /// A previously reported execution was broken (ITCH `B`, IEX `B`): `match_number` identifies it.
    BrokenTrade = 9,
    /// A price level was set to a new aggregate size (IEX DEEP `8`/`5`): `side`, `price`, `level_qty` = new size
    /// (0 = level removed), `level_orders` = 0 (unknown in L2), `code` = IEX event flags.
    LevelUpdate = 10,
    /// A top-of-book quote (IEX TOPS `Q`): `bid_*`/`ask_*` are the quote; `code` = quote flags.
    Quote = 11,
    /// A trade report on a feed without order references (IEX TOPS/DEEP/DEEP+ `T`): `price`, `qty`,
    /// `match_number` (trade id), `code` = sale condition flags.
    Trade = 12,
    /// Trading status change for one symbol (ITCH `H`, IEX `H`): `code` = state byte (ITCH `H` halted, `P` paused,
    /// `Q` quotation only, `T` trading; IEX `H`, `O`, `P`, `T`), `mpid` holds the 4-byte reason code.
    TradingStatus = 13,
    /// Operational halt (IEX `O`: `code` = `O` halted / `N` not halted; ITCH `h`: `code` = `H` halted /
    /// `T` resumed).
    OperationalHalt = 14,
    /// Feed-wide system event (ITCH `S`, IEX `S`): `code` = event code; `book` = 0, `symbol` empty.
    SystemEvent = 15,
    /// A symbol was registered from a directory message (ITCH `R`, IEX `D`): `book`, `symbol`, and `code` = ITCH
    /// market category (IEX: the security directory flags).
    Directory = 16,
    /// Every order of the book was removed (IEX DEEP+ `C` clear book): `qty` = orders removed (saturating).
    ClearBook = 17,
}

impl EventKind {
    /// Every kind, in discriminant order (`ALL[k as usize] == k`).
    pub const ALL: [EventKind; 18] = [
        EventKind::None,
        EventKind::Add,
        EventKind::Execute,
        EventKind::ExecuteWithPrice,
        EventKind::Cancel,
        EventKind::Delete,
        EventKind::Replace,
        EventKind::HiddenTrade,
        EventKind::CrossTrade,
        EventKind::BrokenTrade,
        EventKind::LevelUpdate,
        EventKind::Quote,
        EventKind::Trade,
        EventKind::TradingStatus,
        EventKind::OperationalHalt,
        EventKind::SystemEvent,
        EventKind::Directory,
        EventKind::ClearBook,
    ];

    /// Whether this kind changes the order book (adds, executions, cancels, deletes, replaces, level updates, quotes,
    /// clear book).
    #[inline]
    pub const fn is_book_change(self) -> bool {
        matches!(
            self,
            EventKind::Add
                | EventKind::Execute
                | EventKind::ExecuteWithPrice
                | EventKind::Cancel
                | EventKind::Delete
                | EventKind::Replace
                | EventKind::LevelUpdate
                | EventKind::Quote
                | EventKind::ClearBook
        )
    }

    /// Whether this kind reports a trade (shares changing hands): executions, hidden trades, crosses, trade reports.
    #[inline]
    pub const fn is_trade(self) -> bool {
        matches!(
            self,
            EventKind::Execute
                | EventKind::ExecuteWithPrice
                | EventKind::HiddenTrade
                | EventKind::CrossTrade
                | EventKind::Trade
        )
    }

    /// Short stable name (`add`, `execute`, …) for text output.
    pub const fn name(self) -> &'static str {
        match self {
            EventKind::None => "none",
            EventKind::Add => "add",
            EventKind::Execute => "execute",
            EventKind::ExecuteWithPrice => "execute_with_price",
            EventKind::Cancel => "cancel",
            EventKind::Delete => "delete",
            EventKind::Replace => "replace",
            EventKind::HiddenTrade => "hidden_trade",
            EventKind::CrossTrade => "cross_trade",
            EventKind::BrokenTrade => "broken_trade",
            EventKind::LevelUpdate => "level_update",
            EventKind::Quote => "quote",
            EventKind::Trade => "trade",
            EventKind::TradingStatus => "trading_status",
            EventKind::OperationalHalt => "operational_halt",
            EventKind::SystemEvent => "system_event",
            EventKind::Directory => "directory",
            EventKind::ClearBook => "clear_book",
        }
    }
}

/// [`BookEvent::code`] of a [`EventKind::Replace`] whose order kept its time priority (IEX DEEP+ `M` with the
/// priority flag, same price, size not increased): the order is the same one, resized.
pub const REPLACE_KEPT_PRIORITY: u8 = 1;

/// Bit flags of [`BookEvent::flags`].
pub mod flags {
    /// The best bid or best offer (price or size) differs from before this message.
    pub const BBO_CHANGED: u8 = 1 << 0;
    /// After this message the best bid is strictly above the best offer (both sides present).
    /// Reported, never repaired.
    pub const CROSSED: u8 = 1 << 1;
    /// After this message the best bid equals the best offer (both sides present).
    pub const LOCKED: u8 = 1 << 2;
    /// The execution is printable (ITCH `C` printable = `Y`; always set for `E`, `P`, `Q`, DEEP+ `L`).
    pub const PRINTABLE: u8 = 1 << 3;
    /// The message referenced an order the book does not know (or, for an add, reused a live reference):
    /// the event carries only what the message itself says; `order_price`, `order_ts_ns`, `mpid` are 0.
    /// Counted in [`crate::Integrity`].
    pub const UNKNOWN_ORDER: u8 = 1 << 4;
    /// The message was inconsistent with the book and was clamped (execution or cancel larger than the resting
    /// quantity; duplicate add). Counted in [`crate::Integrity`].
    pub const ANOMALY: u8 = 1 << 5;
    /// The L2 book is mid-batch: this update is not yet visible in the BBO/level fields (IEX DEEP updates
    /// without the event flag; the book is applied atomically when the batch-ending update arrives).
    pub const IN_BATCH: u8 = 1 << 6;
    /// The symbol is not in a trading state (halted, paused or quotation-only) when this event was applied.
    pub const HALTED: u8 = 1 << 7;
}

/// One applied feed message, as seen by every stage downstream of the book. Fixed size, `Copy`, no heap.
///
/// Which fields are meaningful depends on [`kind`](Self::kind) (see [`EventKind`]); fields that do not apply are 0.
/// Book-state fields (`level_*`, `bid_*`, `ask_*`, the `CROSSED`/`LOCKED`/`BBO_CHANGED` flags) always describe the
/// book of `book` *after* the message was applied.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BookEvent {
    /// Feed timestamp of the message (ITCH: ns since midnight; IEX: ns since the Unix epoch).
    pub ts_ns: u64,
    /// Transport sequence number of the message (MoldUDP64 sequence, IEX-TP message sequence; raw ITCH files: the
    /// 1-based message ordinal). 0 when the transport has none.
    pub seq: u64,
    /// Order reference this message concerns (ITCH order reference number, DEEP+ order id); 0 when none.
    /// For `Replace`, the *old* reference.
    pub order_ref: u64,
    /// For `Replace`: the new order reference (equal to `order_ref` for an IEX DEEP+ modify). Otherwise 0.
    pub new_order_ref: u64,
    /// Match number / trade id of an execution, trade or break; 0 otherwise.
    pub match_number: u64,
    /// Feed timestamp at which the order concerned was added (for executions, cancels, deletes and replaces of a
    /// known order: its original entry time; for `Add`: equal to `ts_ns`). Lets detectors measure an order's
    /// lifetime without keeping state. 0 when unknown.
    pub order_ts_ns: u64,
    /// Price of this change in ticks: the order's limit price (add, cancel, delete, execute), the execution price
    /// (`ExecuteWithPrice`, trades, crosses), the new price (`Replace`), the level price (`LevelUpdate`).
    pub price: Price,
    /// The order's limit price as it was resting before this message (executions, cancels, deletes; for `Replace`
    /// the old price; for `Add` equal to `price`). 0 when unknown.
    pub order_price: Price,
    /// Best bid price after the message, ticks; 0 when there is no bid (`bid_qty == 0`).
    pub bid_price: Price,
    /// Best offer price after the message, ticks; 0 when there is no offer (`ask_qty == 0`).
    pub ask_price: Price,
    /// Shares of this change: added, executed, cancelled, deleted (remaining at deletion), new size on replace,
    /// traded on trades, new aggregate size on `LevelUpdate`.
    pub qty: u32,
    /// The order's remaining visible shares after the message (0 when it left the book or for non-order events).
    pub remaining: u32,
    /// Total shares at this event's price level on `side` after the message (saturating at `u32::MAX`);
    /// 0 when the level is now empty or for non-book events.
    pub level_qty: u32,
    /// Number of orders at this event's price level after the message (0 in L2 books, where it is unknown).
    pub level_orders: u32,
    /// Shares at the best bid after the message (saturating); 0 = no bid.
    pub bid_qty: u32,
    /// Shares at the best offer after the message (saturating); 0 = no offer.
    pub ask_qty: u32,
    /// Market participant id of the order (ITCH `F` attribution, 4 ASCII bytes), kept from its add so executions,
    /// cancels and deletes of an attributed order report it too. All zero when anonymous.
    /// For `TradingStatus`: the 4-byte reason code instead.
    pub mpid: [u8; 4],
    /// The symbol of `book`, space/NUL padded ASCII (empty for `SystemEvent`).
    pub symbol: Symbol,
    /// Book index: ITCH stock locate, or the IEX symbol index assigned by the book manager (see
    /// [`crate::symbol::SymbolDirectory`]). 0 for feed-wide events.
    pub book: u16,
    /// What happened.
    pub kind: EventKind,
    /// Side of the order / level / trade ([`Side::None`] when not applicable).
    pub side: Side,
    /// Bit set of [`flags`].
    pub flags: u8,
    /// Kind-specific code byte: trading state, system event code, cross type, market category, IEX event/quote/sale
    /// flags (see [`EventKind`]). 0 otherwise.
    pub code: u8,
}

impl BookEvent {
    /// An all-zero event (`kind == EventKind::None`), handy for preallocating rings.
    pub const EMPTY: BookEvent = BookEvent {
        ts_ns: 0,
        seq: 0,
        order_ref: 0,
        new_order_ref: 0,
        match_number: 0,
        order_ts_ns: 0,
        price: 0,
        order_price: 0,
        bid_price: 0,
        ask_price: 0,
        qty: 0,
        remaining: 0,
        level_qty: 0,
        level_orders: 0,
        bid_qty: 0,
        ask_qty: 0,
        mpid: [0; 4],
        symbol: Symbol::EMPTY,
        book: 0,
        kind: EventKind::None,
        side: Side::None,
        flags: 0,
        code: 0,
    };

    /// Whether `flag` (one of [`flags`]) is set.
    #[inline]
    pub const fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// Whether this message changed the best bid or offer.
    #[inline]
    pub const fn bbo_changed(&self) -> bool {
        self.has(flags::BBO_CHANGED)
    }

    /// Whether the book is crossed (bid > ask) after this message.
    #[inline]
    pub const fn crossed(&self) -> bool {
        self.has(flags::CROSSED)
    }

    /// Whether the book is locked (bid == ask) after this message.
    #[inline]
    pub const fn locked(&self) -> bool {
        self.has(flags::LOCKED)
    }

    /// The order's MPID as text, if the order is attributed (`None` when anonymous or all spaces).
    pub fn mpid_str(&self) -> Option<&str> {
        let s = std::str::from_utf8(&self.mpid).ok()?;
        let s = s.trim_end_matches([' ', '\0']);
        (!s.is_empty()).then_some(s)
    }

    /// Age of the order at this event in feed nanoseconds (`ts_ns - order_ts_ns`), when its entry time is known.
    #[inline]
    pub const fn order_age_ns(&self) -> Option<u64> {
        if self.order_ts_ns == 0 || self.ts_ns < self.order_ts_ns {
            None
        } else {
            Some(self.ts_ns - self.order_ts_ns)
        }
    }

    /// Mid price in ticks (rounded down) when both sides are present.
    #[inline]
    pub const fn mid_price(&self) -> Option<Price> {
        if self.bid_qty == 0 || self.ask_qty == 0 {
            None
        } else {
            // In i128: garbage prices (IEX prices are any i64) must not overflow; the mean of two i64 fits.
            Some((self.bid_price as i128 + self.ask_price as i128).div_euclid(2) as Price)
        }
    }
}

/// Saturating conversion of a book aggregate (`u64`) to the `u32` width used in events.
#[inline]
pub const fn sat32(x: u64) -> u32 {
    if x > u32::MAX as u64 {
        u32::MAX
    } else {
        x as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mid_price_of_extreme_prices() {
        let e = |bid, ask| BookEvent {
            bid_price: bid,
            ask_price: ask,
            bid_qty: 1,
            ask_qty: 1,
            ..BookEvent::default()
        };
        assert_eq!(e(i64::MAX, i64::MAX).mid_price(), Some(i64::MAX));
        assert_eq!(e(i64::MIN, i64::MIN).mid_price(), Some(i64::MIN));
        assert_eq!(e(i64::MIN, i64::MAX).mid_price(), Some(-1));
        assert_eq!(e(100, 103).mid_price(), Some(101));
    }

    #[test]
    fn all_kinds_in_discriminant_order() {
        for (i, k) in EventKind::ALL.iter().enumerate() {
            assert_eq!(*k as usize, i);
        }
    }

    #[test]
    fn event_is_at_most_two_cache_lines() {
        assert!(std::mem::size_of::<BookEvent>() <= 128);
        assert_eq!(std::mem::size_of::<BookEvent>(), 128);
        assert_eq!(std::mem::align_of::<BookEvent>(), 8);
        assert_eq!(std::mem::size_of::<EventKind>(), 1);
        assert_eq!(std::mem::size_of::<Side>(), 1);
    }

    #[test]
    fn helpers() {
        let mut e = BookEvent::EMPTY;
        assert_eq!(e.mpid_str(), None);
        e.mpid = *b"GSCO";
        assert_eq!(e.mpid_str(), Some("GSCO"));
        e.ts_ns = 10;
        e.order_ts_ns = 4;
        assert_eq!(e.order_age_ns(), Some(6));
        e.bid_qty = 1;
        e.ask_qty = 1;
        e.bid_price = 100;
        e.ask_price = 103;
        assert_eq!(e.mid_price(), Some(101));
        e.flags = flags::CROSSED | flags::BBO_CHANGED;
        assert!(e.crossed() && e.bbo_changed() && !e.locked());
        assert_eq!(sat32(u64::MAX), u32::MAX);
        assert_eq!(Side::Buy.opposite(), Side::Sell);
        assert_eq!(Side::from_itch(b'S'), Side::Sell);
    }
}
