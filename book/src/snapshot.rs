//! Plain query results and book snapshots (what `publish` serialises), plus price formatting.

use std::fmt;

use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::event::{Price, Side, PRICE_SCALE};
use crate::symbol::Symbol;

/// One price level as seen by queries: price, total shares, order count (0 in L2 books).
///
/// Serialises as `{"price": "12.3400", "price_raw": 123400, "shares": 500, "orders": 3}` (the decimal text and the
/// integer ticks, like `tickwatch dump`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LevelInfo {
    /// Price, ticks of 1/10 000.
    pub price: Price,
    /// Total shares at the level.
    pub qty: u64,
    /// Orders at the level (0 when unknown: L2 books).
    pub orders: u32,
}

/// Best bid and best offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct TouchInfo {
    /// Best bid level, if any.
    pub bid: Option<LevelInfo>,
    /// Best offer level, if any.
    pub ask: Option<LevelInfo>,
}

impl TouchInfo {
    /// Whether the best bid is above the best offer.
    pub fn crossed(&self) -> bool {
        matches!((self.bid, self.ask), (Some(b), Some(a)) if b.price > a.price)
    }

    /// Whether the best bid equals the best offer.
    pub fn locked(&self) -> bool {
        matches!((self.bid, self.ask), (Some(b), Some(a)) if b.price == a.price)
    }
}

/// One resting order as seen by queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OrderInfo {
    /// Order reference.
    pub reference: u64,
    /// Side.
    pub side: Side,
    /// Limit price, ticks.
    pub price: Price,
    /// Remaining shares.
    pub qty: u32,
    /// Feed time the order entered its current queue position.
    pub ts_ns: u64,
    /// Book index.
    pub book: u16,
    /// MPID (zero when anonymous).
    pub mpid: [u8; 4],
}

/// A snapshot of one book: the top `depth` levels per side and the book's state. Plain data; serialises with serde
/// (levels as [`LevelInfo`], `symbol` as text, `trading_state` as a one-character string or null).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BookSnapshot {
    /// Book index (stock locate / IEX symbol index).
    pub book: u16,
    /// Symbol.
    pub symbol: Symbol,
    /// Feed timestamp of the last message applied to this book.
    pub ts_ns: u64,
    /// Transport sequence of the last message applied to this book.
    pub seq: u64,
    /// Bid levels, best first.
    pub bids: Vec<LevelInfo>,
    /// Offer levels, best first.
    pub asks: Vec<LevelInfo>,
    /// Total number of bid levels in the book (may exceed `bids.len()`).
    pub bid_levels: usize,
    /// Total number of offer levels in the book.
    pub ask_levels: usize,
    /// Best bid above best offer.
    pub crossed: bool,
    /// Best bid equal to best offer.
    pub locked: bool,
    /// Trading state byte (`T` trading, `H` halted, `P` paused, `Q` quotation only; 0 unknown).
    pub trading_state: u8,
    /// Not in a trading state (or under an IEX operational halt).
    pub halted: bool,
    /// Whether level `orders` counts are known (L3 book).
    pub l3: bool,
}

impl BookSnapshot {
    /// Empties the snapshot, keeping the level buffers' capacity.
    pub fn clear(&mut self) {
        let (mut b, mut a) = (
            std::mem::take(&mut self.bids),
            std::mem::take(&mut self.asks),
        );
        b.clear();
        a.clear();
        *self = BookSnapshot {
            bids: b,
            asks: a,
            ..BookSnapshot::default()
        };
    }

    /// Best bid and offer of the snapshot.
    pub fn touch(&self) -> TouchInfo {
        TouchInfo {
            bid: self.bids.first().copied(),
            ask: self.asks.first().copied(),
        }
    }

    pub(crate) fn update_flags(&mut self) {
        let t = self.touch();
        self.crossed = t.crossed();
        self.locked = t.locked();
    }
}

impl Serialize for LevelInfo {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("LevelInfo", 4)?;
        st.serialize_field("price", &FmtPrice(self.price).to_string())?;
        st.serialize_field("price_raw", &self.price)?;
        st.serialize_field("shares", &self.qty)?;
        st.serialize_field("orders", &self.orders)?;
        st.end()
    }
}

impl Serialize for Symbol {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl Serialize for BookSnapshot {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("BookSnapshot", 13)?;
        st.serialize_field("book", &self.book)?;
        st.serialize_field("symbol", &self.symbol)?;
        st.serialize_field("ts_ns", &self.ts_ns)?;
        st.serialize_field("seq", &self.seq)?;
        st.serialize_field("bids", &self.bids)?;
        st.serialize_field("asks", &self.asks)?;
        st.serialize_field("bid_levels", &self.bid_levels)?;
        st.serialize_field("ask_levels", &self.ask_levels)?;
        st.serialize_field("crossed", &self.crossed)?;
        st.serialize_field("locked", &self.locked)?;
        let state = (self.trading_state != 0).then(|| char::from(self.trading_state).to_string());
        st.serialize_field("trading_state", &state)?;
        st.serialize_field("halted", &self.halted)?;
        st.serialize_field("l3", &self.l3)?;
        st.end()
    }
}

/// Displays a price in ticks with its 4 decimals (`123400` → `12.3400`, `-5` → `-0.0005`). No allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FmtPrice(pub Price);

impl fmt::Display for FmtPrice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.0;
        let sign = if p < 0 { "-" } else { "" };
        let a = p.unsigned_abs();
        let s = PRICE_SCALE as u64;
        write!(f, "{sign}{}.{:04}", a / s, a % s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_format() {
        assert_eq!(FmtPrice(1_892_500).to_string(), "189.2500");
        assert_eq!(FmtPrice(1).to_string(), "0.0001");
        assert_eq!(FmtPrice(0).to_string(), "0.0000");
        assert_eq!(FmtPrice(-5).to_string(), "-0.0005");
        assert_eq!(FmtPrice(i64::MIN).to_string(), "-922337203685477.5808");
    }

    #[test]
    fn snapshot_serialises() {
        let s = BookSnapshot {
            book: 3,
            symbol: Symbol::new("AAPL"),
            bids: vec![LevelInfo {
                price: 100,
                qty: 5,
                orders: 1,
            }],
            trading_state: b'T',
            l3: true,
            ..Default::default()
        };
        let j = serde_json::to_string(&s).unwrap();
        assert!(j.contains(r#""symbol":"AAPL""#), "{j}");
        assert!(j.contains(r#""trading_state":"T""#), "{j}");
        assert!(
            j.contains(r#""bids":[{"price":"0.0100","price_raw":100,"shares":5,"orders":1}]"#),
            "{j}"
        );
    }
}
