//! A fixed-capacity open-addressing map from order reference (`u64`, non-zero) to a small value (a slot index and
//! what the caller wants to read without following it), with
//! linear probing and backward-shift deletion (no tombstones). Allocated once; never grows; no allocation per
//! operation. Used by detectors to find the few orders they track without scanning.

/// Order reference → `V` (small and `Copy`: a slot index, possibly with a few fields of the slot). Capacity is a power of two ≥ 2 × the number of live entries it must hold.
///
/// The header (table pointer and length, entry count) and the filter share one 64-byte cache line; a key and its
/// value share one table entry, so a probe that finds its key touches one table line.
#[derive(Debug, Clone)]
#[repr(C, align(64))]
pub(crate) struct RefIndex<V> {
    /// `(key, value)`; key 0 = empty. The capacity mask is `table.len() - 1`.
    table: Box<[(u64, V)]>,
    len: u32,
    /// Counting filter over `filter_slot(k)` of the live keys: [`FILTER`] 4-bit counters, two per byte. A zero count
    /// proves `k` absent without touching the table (the table is usually cold; the filter sits beside the header
    /// read anyway). A count that reaches 15 sticks there (it only ever answers "maybe") until the index is empty
    /// again, when all counters restart at zero; so the filter has false positives, never false negatives.
    filter: [u8; FILTER / 2],
}

/// Buckets of the counting filter (the rest of the header's cache line, two 4-bit counters per byte).
const FILTER: usize = 88;
/// Sticky maximum of a filter counter.
const FILTER_MAX: u8 = 15;

const _: () = assert!(std::mem::size_of::<RefIndex<u16>>() == 64);

impl<V: Copy + Default> RefIndex<V> {
    /// An index able to hold `max_live` entries at a load factor ≤ 1/2.
    pub(crate) fn new(max_live: usize) -> Self {
        let cap = (max_live.max(1) * 2).next_power_of_two();
        RefIndex {
            table: vec![(0u64, V::default()); cap].into_boxed_slice(),
            len: 0,
            filter: [0; FILTER / 2],
        }
    }

    /// Table entries (capacity) of an index built by [`new`](Self::new)`(max_live)`.
    pub(crate) fn capacity_for(max_live: usize) -> usize {
        (max_live.max(1) * 2).next_power_of_two()
    }

    /// Bytes of one table entry.
    pub(crate) const ENTRY_BYTES: usize = std::mem::size_of::<(u64, V)>();

    /// Filter bucket of `k` (high bits of a different multiplicative hash than [`home`](Self::home)).
    #[inline]
    fn filter_slot(k: u64) -> usize {
        (((k.wrapping_mul(0xff51_afd7_ed55_8ccd) >> 32) * FILTER as u64) >> 32) as usize
    }

    /// Counter of bucket `b`.
    #[inline]
    fn count(&self, b: usize) -> u8 {
        (self.filter[b / 2] >> ((b & 1) * 4)) & 0xf
    }

    #[inline]
    fn filter_inc(&mut self, k: u64) {
        let b = Self::filter_slot(k);
        if self.count(b) != FILTER_MAX {
            self.filter[b / 2] += 1 << ((b & 1) * 4);
        }
    }

    #[inline]
    fn filter_dec(&mut self, k: u64) {
        let b = Self::filter_slot(k);
        if self.count(b) != FILTER_MAX {
            self.filter[b / 2] -= 1 << ((b & 1) * 4);
        }
    }

    /// Whether `k` may be present (false: certainly absent; reads only the header line).
    #[inline(always)]
    pub(crate) fn may_hold(&self, k: u64) -> bool {
        k != 0 && self.len != 0 && self.maybe(k)
    }

    /// Whether `k` may be present (false: certainly absent).
    #[inline]
    fn maybe(&self, k: u64) -> bool {
        self.count(Self::filter_slot(k)) != 0
    }

    #[inline]
    fn mask(&self) -> usize {
        self.table.len() - 1
    }

    #[inline]
    fn home(&self, k: u64) -> usize {
        (k.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize & self.mask()
    }

    /// Number of entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }

    /// The value of `k`, if present. `k == 0` is never present.
    #[inline]
    pub(crate) fn get(&self, k: u64) -> Option<V> {
        if k == 0 || self.len == 0 || !self.maybe(k) {
            return None;
        }
        let mut i = self.home(k);
        loop {
            let (kk, v) = self.table[i];
            if kk == k {
                return Some(v);
            }
            if kk == 0 {
                return None;
            }
            i = (i + 1) & self.mask();
        }
    }

    /// The value of `k` to update in place, if present. `k == 0` is never present.
    #[inline]
    pub(crate) fn get_mut(&mut self, k: u64) -> Option<&mut V> {
        if k == 0 || self.len == 0 || !self.maybe(k) {
            return None;
        }
        let mut i = self.home(k);
        loop {
            let kk = self.table[i].0;
            if kk == k {
                return Some(&mut self.table[i].1);
            }
            if kk == 0 {
                return None;
            }
            i = (i + 1) & self.mask();
        }
    }

    /// Inserts or updates `k → v`. Returns false (and does nothing) if `k == 0` or the table is full to its
    /// designed load (callers size it so this does not happen).
    #[inline]
    pub(crate) fn insert(&mut self, k: u64, v: V) -> bool {
        if k == 0 {
            return false;
        }
        let mut i = self.home(k);
        loop {
            let kk = self.table[i].0;
            if kk == k {
                self.table[i].1 = v;
                return true;
            }
            if kk == 0 {
                if (self.len as usize + 1) * 2 > self.table.len() {
                    return false;
                }
                self.table[i] = (k, v);
                self.len += 1;
                self.filter_inc(k);
                return true;
            }
            i = (i + 1) & self.mask();
        }
    }

    /// Removes `k`, returning its value.
    #[inline]
    pub(crate) fn remove(&mut self, k: u64) -> Option<V> {
        if k == 0 || self.len == 0 || !self.maybe(k) {
            return None;
        }
        let mut i = self.home(k);
        loop {
            let kk = self.table[i].0;
            if kk == 0 {
                return None;
            }
            if kk == k {
                break;
            }
            i = (i + 1) & self.mask();
        }
        let v = self.table[i].1;
        // Backward-shift deletion.
        let mut hole = i;
        let mut j = (i + 1) & self.mask();
        loop {
            let kj = self.table[j].0;
            if kj == 0 {
                break;
            }
            let h = self.home(kj);
            // Move kj into the hole if its home is not cyclically in (hole, j].
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
        self.table[hole] = (0, V::default());
        self.len -= 1;
        if self.len == 0 {
            // Nothing live: every counter is exact again (this also clears sticky ones).
            self.filter = [0; FILTER / 2];
        } else {
            self.filter_dec(k);
        }
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn matches_hashmap() {
        let mut idx = RefIndex::<u16>::new(64);
        let mut reference: HashMap<u64, u16> = HashMap::new();
        let mut x = 99u64;
        for step in 0..200_000u32 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Small key space so inserts, updates and removes collide a lot.
            let k = 1 + (x >> 40) % 200;
            let op = (x >> 20) % 3;
            if op < 2 && reference.len() < 64 {
                let v = (step % 1000) as u16;
                assert!(idx.insert(k, v));
                reference.insert(k, v);
            } else {
                assert_eq!(idx.remove(k), reference.remove(&k));
            }
            assert_eq!(idx.len(), reference.len());
            let probe = 1 + (x >> 8) % 200;
            assert_eq!(idx.get(probe), reference.get(&probe).copied());
            if let Some(v) = idx.get_mut(probe) {
                *v ^= 1;
                *reference.get_mut(&probe).unwrap() ^= 1;
            }
        }
        assert_eq!(idx.get(0), None);
        assert!(!idx.insert(0, 1));
    }

    #[test]
    fn filter_saturates_without_false_negatives() {
        // More live keys in one filter bucket than a counter counts: the bucket sticks at "maybe".
        let mut idx = RefIndex::<u16>::new(1024);
        let target = RefIndex::<u16>::filter_slot(1);
        let keys: Vec<u64> = (1u64..)
            .filter(|&k| RefIndex::<u16>::filter_slot(k) == target)
            .take(300)
            .collect();
        for (i, &k) in keys.iter().enumerate() {
            assert!(idx.insert(k, i as u16));
        }
        for &k in &keys[..290] {
            assert!(idx.remove(k).is_some());
        }
        for (i, &k) in keys.iter().enumerate().skip(290) {
            assert_eq!(idx.get(k), Some(i as u16));
        }
        for &k in &keys[290..] {
            assert!(idx.remove(k).is_some());
        }
        assert_eq!(idx.len(), 0);
        // Empty again: the sticky counter restarted, so the filter proves absence once more.
        assert!(!idx.maybe(keys[0]));
        assert!(idx.insert(keys[0], 7));
        assert_eq!(idx.get(keys[0]), Some(7));
    }
}
