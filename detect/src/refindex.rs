//! A fixed-capacity open-addressing map from order reference (`u64`, non-zero) to a small slot index, with
//! linear probing and backward-shift deletion (no tombstones). Allocated once; never grows; no allocation per
//! operation. Used by detectors to find the few orders they track without scanning.

/// Order reference → slot index. Capacity is a power of two ≥ 2 × the number of live entries it must hold.
///
/// The header (table pointers, mask, length) and the filter share one 64-byte cache line.
#[derive(Debug, Clone)]
#[repr(C, align(64))]
pub(crate) struct RefIndex {
    keys: Box<[u64]>,
    vals: Box<[u16]>,
    mask: u32,
    len: u32,
    /// Counting filter over `filter_slot(k)` of the live keys: a zero count proves `k` absent without touching the
    /// key table (the table is usually cold; the filter sits beside the header read anyway). A count that reaches
    /// `u8::MAX` sticks there (it only ever answers "maybe"), so the filter has false positives, never false
    /// negatives.
    filter: [u8; FILTER],
}

/// Buckets of the counting filter (the rest of the header's cache line).
const FILTER: usize = 24;

const _: () = assert!(std::mem::size_of::<RefIndex>() == 64);

impl RefIndex {
    /// An index able to hold `max_live` entries at a load factor ≤ 1/2.
    pub(crate) fn new(max_live: usize) -> Self {
        let cap = (max_live.max(1) * 2).next_power_of_two();
        RefIndex {
            keys: vec![0u64; cap].into_boxed_slice(),
            vals: vec![0u16; cap].into_boxed_slice(),
            mask: (cap - 1) as u32,
            len: 0,
            filter: [0; FILTER],
        }
    }

    /// Filter bucket of `k` (high bits of a different multiplicative hash than [`home`](Self::home)).
    #[inline]
    fn filter_slot(k: u64) -> usize {
        (((k.wrapping_mul(0xff51_afd7_ed55_8ccd) >> 32) * FILTER as u64) >> 32) as usize
    }

    #[inline]
    fn filter_inc(&mut self, k: u64) {
        let c = &mut self.filter[Self::filter_slot(k)];
        *c = c.saturating_add(1);
    }

    #[inline]
    fn filter_dec(&mut self, k: u64) {
        let c = &mut self.filter[Self::filter_slot(k)];
        if *c != u8::MAX {
            *c -= 1;
        }
    }

    /// Whether `k` may be present (false: certainly absent).
    #[inline]
    fn maybe(&self, k: u64) -> bool {
        self.filter[Self::filter_slot(k)] != 0
    }

    #[inline]
    fn home(&self, k: u64) -> usize {
        (k.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize & self.mask as usize
    }

    /// Number of entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }

    /// The slot of `k`, if present. `k == 0` is never present.
    #[inline]
    pub(crate) fn get(&self, k: u64) -> Option<u16> {
        if k == 0 || self.len == 0 || !self.maybe(k) {
            return None;
        }
        let mut i = self.home(k);
        loop {
            let kk = self.keys[i];
            if kk == k {
                return Some(self.vals[i]);
            }
            if kk == 0 {
                return None;
            }
            i = (i + 1) & self.mask as usize;
        }
    }

    /// Inserts or updates `k → v`. Returns false (and does nothing) if `k == 0` or the table is full to its
    /// designed load (callers size it so this does not happen).
    #[inline]
    pub(crate) fn insert(&mut self, k: u64, v: u16) -> bool {
        if k == 0 {
            return false;
        }
        let mut i = self.home(k);
        loop {
            let kk = self.keys[i];
            if kk == k {
                self.vals[i] = v;
                return true;
            }
            if kk == 0 {
                if (self.len as usize + 1) * 2 > self.keys.len() {
                    return false;
                }
                self.keys[i] = k;
                self.vals[i] = v;
                self.len += 1;
                self.filter_inc(k);
                return true;
            }
            i = (i + 1) & self.mask as usize;
        }
    }

    /// Removes `k`, returning its slot.
    #[inline]
    pub(crate) fn remove(&mut self, k: u64) -> Option<u16> {
        if k == 0 || self.len == 0 || !self.maybe(k) {
            return None;
        }
        let mut i = self.home(k);
        loop {
            let kk = self.keys[i];
            if kk == 0 {
                return None;
            }
            if kk == k {
                break;
            }
            i = (i + 1) & self.mask as usize;
        }
        let v = self.vals[i];
        // Backward-shift deletion.
        let mut hole = i;
        let mut j = (i + 1) & self.mask as usize;
        loop {
            let kj = self.keys[j];
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
                self.keys[hole] = kj;
                self.vals[hole] = self.vals[j];
                hole = j;
            }
            j = (j + 1) & self.mask as usize;
        }
        self.keys[hole] = 0;
        self.len -= 1;
        self.filter_dec(k);
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn matches_hashmap() {
        let mut idx = RefIndex::new(64);
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
        }
        assert_eq!(idx.get(0), None);
        assert!(!idx.insert(0, 1));
    }

    #[test]
    fn filter_saturates_without_false_negatives() {
        // More live keys in one filter bucket than a u8 counts: the bucket sticks at "maybe".
        let mut idx = RefIndex::new(1024);
        let target = RefIndex::filter_slot(1);
        let keys: Vec<u64> = (1u64..)
            .filter(|&k| RefIndex::filter_slot(k) == target)
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
    }
}
