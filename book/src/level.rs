//! One side of a book: price levels in a sorted `Vec`, best level at the end.
//!
//! Bids are kept in ascending price order and offers in descending order, so on both sides the best level is the
//! last element: reading the touch is one load, and the levels that change most (near the touch) are the cheapest to
//! insert and remove (few elements to shift). Lookups search a dense array of *keys* (the price for bids, the
//! negated price for offers, so one ascending search serves both sides) kept beside the level records: a side of 20
//! levels is 160 bytes of keys, three cache lines, instead of ten lines of records.

use crate::event::{Price, Side};
use crate::orders::NIL;

/// One price level: aggregate size and, in L3 books, the FIFO queue of its orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level {
    /// Price, ticks.
    pub price: Price,
    /// Total shares resting at this price.
    pub qty: u64,
    /// Number of orders (0 in L2 books, where it is unknown).
    pub orders: u32,
    /// First order of the FIFO queue (oldest; next to trade), or [`NIL`]. Unused in L2 books.
    pub head: u32,
    /// Last order of the FIFO queue (newest), or [`NIL`]. Unused in L2 books.
    pub tail: u32,
}

impl Level {
    /// A new empty level at `price`.
    #[inline]
    pub const fn new(price: Price) -> Level {
        Level {
            price,
            qty: 0,
            orders: 0,
            head: NIL,
            tail: NIL,
        }
    }
}

impl Level {
    /// An L2 level (no order queue) at `price` holding `qty` shares.
    #[inline]
    pub const fn new_l2(price: Price, qty: u64) -> Level {
        Level {
            price,
            qty,
            orders: 0,
            head: NIL,
            tail: NIL,
        }
    }
}

/// The levels of one side, best at the end. One cache line (the two vector headers and the side flag).
#[repr(C, align(64))]
#[derive(Debug, Clone, Default)]
pub struct Levels {
    /// Search keys, parallel to `levels`, strictly ascending.
    keys: Vec<Price>,
    levels: Vec<Level>,
    /// `true` for offers (descending prices).
    ask: bool,
}

impl Levels {
    /// An empty side with room for `cap` levels.
    pub fn new(side: Side, cap: usize) -> Levels {
        Levels {
            keys: Vec::with_capacity(cap),
            levels: Vec::with_capacity(cap),
            ask: side == Side::Sell,
        }
    }

    #[inline(always)]
    fn key(&self, price: Price) -> Price {
        if self.ask {
            price.wrapping_neg()
        } else {
            price
        }
    }

    /// Position of `price`: `Ok(i)` if a level exists at index `i`, `Err(i)` where it would be inserted.
    ///
    /// Scans from the best end first (most traffic is at the touch), then binary-searches the rest.
    #[inline]
    pub fn find(&self, price: Price) -> Result<usize, usize> {
        let k = self.key(price);
        let keys = &self.keys[..];
        let n = keys.len();
        // Fast path: the touch and the next few levels (one or two cache lines of keys).
        let scan = n.min(8);
        for j in 1..=scan {
            let i = n - j;
            let lk = keys[i];
            if lk == k {
                return Ok(i);
            }
            if lk < k {
                return Err(i + 1);
            }
        }
        keys[..n - scan].binary_search(&k)
    }

    /// Index of the level at `price`, creating an empty one if absent.
    #[inline]
    pub fn get_or_insert(&mut self, price: Price) -> usize {
        match self.find(price) {
            Ok(i) => i,
            Err(i) => {
                self.insert_at(i, Level::new(price));
                i
            }
        }
    }

    /// Inserts `level` at index `i` (which must keep the side sorted: use the `Err` of [`Levels::find`]).
    #[inline]
    pub fn insert_at(&mut self, i: usize, level: Level) {
        self.keys.insert(i, self.key(level.price));
        self.levels.insert(i, level);
    }

    /// Removes the level at index `i`.
    #[inline]
    pub fn remove(&mut self, i: usize) {
        self.keys.remove(i);
        self.levels.remove(i);
    }

    /// The level at index `i`.
    #[inline(always)]
    pub fn at(&self, i: usize) -> &Level {
        &self.levels[i]
    }

    /// The level at index `i`, mutably (its price must not be changed).
    #[inline(always)]
    pub fn at_mut(&mut self, i: usize) -> &mut Level {
        &mut self.levels[i]
    }

    /// The best level, if any.
    #[inline(always)]
    pub fn best(&self) -> Option<&Level> {
        self.levels.last()
    }

    /// Number of levels.
    #[inline]
    pub fn len(&self) -> usize {
        self.levels.len()
    }

    /// Whether the side is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    /// Levels from best to worst.
    pub fn iter_best_first(
        &self,
    ) -> impl ExactSizeIterator<Item = &Level> + DoubleEndedIterator + '_ {
        self.levels.iter().rev()
    }

    /// Levels in storage order (worst to best).
    pub fn as_slice(&self) -> &[Level] {
        &self.levels
    }

    /// Removes every level (keeps the capacity).
    pub fn clear(&mut self) {
        self.keys.clear();
        self.levels.clear();
    }

    /// Bytes reserved.
    pub fn bytes(&self) -> usize {
        self.levels.capacity() * std::mem::size_of::<Level>()
            + self.keys.capacity() * std::mem::size_of::<Price>()
    }

    /// Whether the side is strictly ordered (best at the end) — an invariant check for tests.
    pub fn is_sorted_strict(&self) -> bool {
        self.levels
            .windows(2)
            .all(|w| self.key(w[0].price) < self.key(w[1].price))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bids_and_asks_keep_best_at_end() {
        for side in [Side::Buy, Side::Sell] {
            let mut l = Levels::new(side, 4);
            for p in [5, 1, 9, 3, 7, 2, 8, 6, 4, 10, 0] {
                let i = l.get_or_insert(p);
                assert_eq!(l.at(i).price, p);
                assert!(l.is_sorted_strict());
            }
            let best = l.best().unwrap().price;
            assert_eq!(best, if side == Side::Buy { 10 } else { 0 });
            for p in 0..=10 {
                assert_eq!(l.at(l.find(p).unwrap()).price, p);
            }
            assert!(l.find(11).is_err());
            let i = l.find(4).unwrap();
            l.remove(i);
            assert!(l.find(4).is_err());
            assert!(l.is_sorted_strict());
        }
    }
}
