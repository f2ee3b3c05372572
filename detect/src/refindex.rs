//! Finding the few orders a detector tracks by their reference, without scanning and without allocating per
//! operation: a per-symbol counting filter ([`RefFilter`], which proves most references untracked from one header
//! line) and one table of the tracked orders of every symbol ([`RefTable`], open addressing keyed by order
//! reference and book, linear probing, backward-shift deletion, no tombstones).
//!
//! The table is shared by all symbols and placed by the reference's low bits: feeds number their orders in
//! sequence (ITCH references count up across all symbols), so orders entered close together sit in neighbouring
//! entries, and an order withdrawn soon after its entry (most are) finds its entry in a line that later entries
//! kept warm. A table per symbol spreads its few entries over lines that the symbol's next event finds cold.

/// Counting filter over the references a symbol's detector tracks: 4-bit counters, two per byte, in one header
/// line beside the fields every event of the symbol reads.
///
/// A zero count proves a reference untracked without touching the table. A count that reaches 15 sticks there
/// (it only ever answers "maybe") until the symbol tracks nothing again, when all counters restart at zero; so
/// the filter has false positives, never false negatives.
#[derive(Debug, Clone)]
#[repr(C)]
pub(crate) struct RefFilter {
    /// References counted (added and not removed).
    len: u32,
    filter: [u8; FILTER / 2],
}

/// Buckets of the counting filter (two 4-bit counters per byte).
const FILTER: usize = 88;
/// Sticky maximum of a filter counter.
const FILTER_MAX: u8 = 15;

const _: () = assert!(std::mem::size_of::<RefFilter>() == 48);

impl Default for RefFilter {
    fn default() -> Self {
        RefFilter {
            len: 0,
            filter: [0; FILTER / 2],
        }
    }
}

impl RefFilter {
    /// Filter bucket of `k` (high bits of a multiplicative hash).
    #[inline]
    fn slot(k: u64) -> usize {
        (((k.wrapping_mul(0xff51_afd7_ed55_8ccd) >> 32) * FILTER as u64) >> 32) as usize
    }

    /// Counter of bucket `b`.
    #[inline]
    fn count(&self, b: usize) -> u8 {
        (self.filter[b / 2] >> ((b & 1) * 4)) & 0xf
    }

    /// Whether `k` may be counted (false: certainly not; `k == 0` never is).
    #[inline(always)]
    pub(crate) fn may_hold(&self, k: u64) -> bool {
        k != 0 && self.len != 0 && self.count(Self::slot(k)) != 0
    }

    /// Counts `k` (once per [`remove`](Self::remove) to come).
    #[inline]
    pub(crate) fn add(&mut self, k: u64) {
        let b = Self::slot(k);
        if self.count(b) != FILTER_MAX {
            self.filter[b / 2] += 1 << ((b & 1) * 4);
        }
        self.len += 1;
    }

    /// Uncounts `k` (counted by [`add`](Self::add)).
    #[inline]
    pub(crate) fn remove(&mut self, k: u64) {
        self.len -= 1;
        if self.len == 0 {
            // Nothing counted: every counter is exact again (this also clears sticky ones).
            self.filter = [0; FILTER / 2];
        } else {
            let b = Self::slot(k);
            if self.count(b) != FILTER_MAX {
                self.filter[b / 2] -= 1 << ((b & 1) * 4);
            }
        }
    }

    /// References counted.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }
}

/// A tracked order as the table holds it: its slot in the tracker's ring, its side and its resting shares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tracked {
    /// Slot in the symbol's ring (< 2¹⁴).
    pub slot: u16,
    pub side: book::Side,
    /// Resting shares.
    pub remaining: u32,
}

/// One entry of a [`RefTable`] (16 bytes): order reference (0 = empty), resting shares, ring slot with the side
/// in its top two bits, book.
#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    order_ref: u64,
    remaining: u32,
    slot_side: u16,
    book: u16,
}

const _: () = assert!(std::mem::size_of::<Entry>() == 16);

impl Entry {
    #[inline]
    fn tracked(&self) -> Tracked {
        Tracked {
            slot: self.slot_side & 0x3fff,
            side: match self.slot_side >> 14 {
                1 => book::Side::Buy,
                2 => book::Side::Sell,
                _ => book::Side::None,
            },
            remaining: self.remaining,
        }
    }
}

/// (order reference, book) → [`Tracked`], for the tracked orders of every symbol. Capacity is a power of two ≥ 2 ×
/// the entries it must hold ([`reserve`](Self::reserve)); it grows only there (when a symbol is added), never per
/// operation.
#[derive(Debug, Clone)]
pub(crate) struct RefTable {
    table: Box<[Entry]>,
    len: usize,
}

impl RefTable {
    /// A table able to hold `max_live` entries at a load factor ≤ 1/2.
    pub(crate) fn new(max_live: usize) -> Self {
        RefTable {
            table: vec![Entry::default(); Self::capacity_for(max_live)].into_boxed_slice(),
            len: 0,
        }
    }

    /// Entries (capacity) of a table for `max_live` entries.
    pub(crate) fn capacity_for(max_live: usize) -> usize {
        (max_live.max(1) * 2).next_power_of_two()
    }

    /// Bytes of one entry.
    pub(crate) const ENTRY_BYTES: usize = std::mem::size_of::<Entry>();

    /// Grows the table (re-placing every entry) so that it holds `max_live` entries at a load factor ≤ 1/2.
    pub(crate) fn reserve(&mut self, max_live: usize) {
        let cap = Self::capacity_for(max_live);
        if cap <= self.table.len() {
            return;
        }
        let old = std::mem::replace(
            &mut self.table,
            vec![Entry::default(); cap].into_boxed_slice(),
        );
        self.len = 0;
        for e in old.iter().filter(|e| e.order_ref != 0) {
            self.insert(e.order_ref, e.book, e.tracked());
        }
    }

    #[inline]
    fn mask(&self) -> usize {
        self.table.len() - 1
    }

    /// Home slot of `k`: its low bits (folded with higher ones, for references that are not a sequence), so that
    /// references entered in sequence get neighbouring entries.
    #[inline]
    fn home(&self, k: u64) -> usize {
        (k ^ (k >> 24)) as usize & self.mask()
    }

    /// Address of the entry where a lookup of `k` starts (for [`crate::prefetch`]; nothing is read).
    #[inline]
    pub(crate) fn home_addr(&self, k: u64) -> *const u8 {
        self.table.as_ptr().wrapping_add(self.home(k)) as *const u8
    }

    /// Index of the entry of (`k`, `book`), if present (linear probe from `k`'s home to the first empty entry).
    /// `k == 0` is never present.
    #[inline]
    fn find(&self, k: u64, book: u16) -> Option<usize> {
        if k == 0 {
            return None;
        }
        let mut i = self.home(k);
        loop {
            let e = &self.table[i];
            if e.order_ref == k && e.book == book {
                return Some(i);
            }
            if e.order_ref == 0 {
                return None;
            }
            i = (i + 1) & self.mask();
        }
    }

    /// The order (`k`, `book`), if present. `k == 0` is never present.
    #[inline]
    pub(crate) fn get(&self, k: u64, book: u16) -> Option<Tracked> {
        self.find(k, book).map(|i| self.table[i].tracked())
    }

    /// The resting shares of the order (`k`, `book`) to update in place, with the order, if present.
    #[inline]
    pub(crate) fn remaining_mut(&mut self, k: u64, book: u16) -> Option<(&mut u32, Tracked)> {
        let i = self.find(k, book)?;
        let e = &mut self.table[i];
        let t = e.tracked();
        Some((&mut e.remaining, t))
    }

    /// Inserts or updates (`k`, `book`) → `v` (`v.slot` < 2¹⁴). Returns false (and does nothing) if `k == 0` or the
    /// table is full to its designed load (callers [`reserve`](Self::reserve) so that this does not happen).
    #[inline]
    pub(crate) fn insert(&mut self, k: u64, book: u16, v: Tracked) -> bool {
        if k == 0 {
            return false;
        }
        debug_assert!(v.slot < 1 << 14);
        let entry = Entry {
            order_ref: k,
            remaining: v.remaining,
            slot_side: v.slot | (v.side as u16) << 14,
            book,
        };
        let cap = self.table.len();
        let mut i = self.home(k);
        loop {
            let e = &mut self.table[i];
            if e.order_ref == k && e.book == book {
                *e = entry;
                return true;
            }
            if e.order_ref == 0 {
                if (self.len + 1) * 2 > cap {
                    return false;
                }
                *e = entry;
                self.len += 1;
                return true;
            }
            i = (i + 1) & self.mask();
        }
    }

    /// Removes (`k`, `book`), returning the order.
    #[inline]
    pub(crate) fn remove(&mut self, k: u64, book: u16) -> Option<Tracked> {
        let i = self.find(k, book)?;
        let v = self.table[i].tracked();
        // Backward-shift deletion.
        let mut hole = i;
        let mut j = (i + 1) & self.mask();
        loop {
            let kj = self.table[j].order_ref;
            if kj == 0 {
                break;
            }
            let h = self.home(kj);
            // Move the entry into the hole if its home is not cyclically in (hole, j].
            let in_range = if hole <= j {
                h > hole && h <= j
            } else {
                h > hole || h <= j
            };
            if !in_range {
                self.table[hole] = self.table[j];
                hole = j;
            }
            j = (j + 1) & self.mask();
        }
        self.table[hole] = Entry::default();
        self.len -= 1;
        Some(v)
    }

    /// Number of entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn table_matches_hashmap() {
        let side = |v: u16| [book::Side::None, book::Side::Buy, book::Side::Sell][v as usize % 3];
        let tr = |v: u16| Tracked {
            slot: v,
            side: side(v),
            remaining: v as u32 * 7,
        };
        let mut t = RefTable::new(64);
        let mut reference: HashMap<(u64, u16), Tracked> = HashMap::new();
        let mut x = 99u64;
        for step in 0..200_000u32 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Small key space so inserts, updates and removes collide a lot; references in sequence and spread,
            // the same reference in two books.
            let k = if x & 1 == 0 {
                1 + (x >> 40) % 200
            } else {
                (1 + (x >> 40) % 50) << 40
            };
            let book = ((x >> 30) % 2) as u16 + 1;
            let op = (x >> 20) % 3;
            if step == 100_000 {
                t.reserve(500);
            }
            if op < 2 && reference.len() < 64 {
                let v = tr((step % 1000) as u16);
                assert!(t.insert(k, book, v));
                reference.insert((k, book), v);
            } else {
                assert_eq!(t.remove(k, book), reference.remove(&(k, book)));
            }
            assert_eq!(t.len(), reference.len());
            let pk = 1 + (x >> 8) % 200;
            let pb = ((x >> 12) % 2) as u16 + 1;
            assert_eq!(t.get(pk, pb), reference.get(&(pk, pb)).copied());
            if let Some((r, e)) = t.remaining_mut(pk, pb) {
                assert_eq!(Some(&e), reference.get(&(pk, pb)));
                *r ^= 1;
                reference.get_mut(&(pk, pb)).unwrap().remaining ^= 1;
            }
        }
        assert_eq!(t.get(0, 1), None);
        assert!(!t.insert(0, 1, tr(1)));
    }

    #[test]
    fn table_refuses_beyond_its_load() {
        let v = Tracked {
            slot: 3,
            side: book::Side::Sell,
            remaining: 9,
        };
        let mut t = RefTable::new(4); // 8 entries, holds 4
        for k in 1..=4 {
            assert!(t.insert(k, 1, v));
        }
        assert!(!t.insert(5, 1, v));
        t.reserve(5);
        assert!(t.insert(5, 1, v));
        for k in 1..=5 {
            assert_eq!(t.get(k, 1), Some(v));
        }
    }

    #[test]
    fn filter_saturates_without_false_negatives() {
        // More live keys in one filter bucket than a counter counts: the bucket sticks at "maybe".
        let mut f = RefFilter::default();
        let target = RefFilter::slot(1);
        let keys: Vec<u64> = (1u64..)
            .filter(|&k| RefFilter::slot(k) == target)
            .take(300)
            .collect();
        for &k in &keys {
            f.add(k);
        }
        for &k in &keys[..290] {
            f.remove(k);
        }
        for &k in &keys[290..] {
            assert!(f.may_hold(k));
        }
        for &k in &keys[290..] {
            f.remove(k);
        }
        assert_eq!(f.len(), 0);
        // Empty again: the sticky counter restarted, so the filter proves absence once more.
        assert!(!f.may_hold(keys[0]));
        f.add(keys[0]);
        assert!(f.may_hold(keys[0]));
        assert!(!f.may_hold(0));
    }
}
