//! A fixed-capacity open-addressing hash index (linear probing, backward-shift deletion) from a 64-bit hash to a
//! `u32` slot of a caller-owned table. Allocates once at construction; `get`, `insert` and `remove` never allocate.

use super::engine::NIL;

#[derive(Debug, Clone)]
pub(crate) struct SlotMap {
    /// `(hash, slot)`; `slot == NIL` means empty.
    table: Vec<(u64, u32)>,
    mask: usize,
    len: usize,
}

impl SlotMap {
    /// An index able to hold `capacity` entries at a load factor ≤ 1/2.
    pub fn with_capacity(capacity: usize) -> SlotMap {
        let n = (capacity.max(4) * 2).next_power_of_two();
        SlotMap {
            table: vec![(0, NIL); n],
            mask: n - 1,
            len: 0,
        }
    }

    /// Number of entries.
    #[allow(dead_code)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Bytes reserved.
    pub fn bytes(&self) -> usize {
        self.table.len() * std::mem::size_of::<(u64, u32)>()
    }

    /// The slot stored under `hash` for which `eq(slot)` holds.
    #[inline]
    pub fn get(&self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        let mut i = hash as usize & self.mask;
        loop {
            let (h, s) = self.table[i];
            if s == NIL {
                return None;
            }
            if h == hash && eq(s) {
                return Some(s);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Inserts `slot` under `hash`. The caller keeps `len` at or below the construction capacity (the table then
    /// always has free cells). Returns false, inserting nothing, when the table is more than half full.
    #[inline]
    pub fn insert(&mut self, hash: u64, slot: u32) -> bool {
        if (self.len + 1) * 2 > self.table.len() {
            return false;
        }
        let mut i = hash as usize & self.mask;
        while self.table[i].1 != NIL {
            i = (i + 1) & self.mask;
        }
        self.table[i] = (hash, slot);
        self.len += 1;
        true
    }

    /// Removes the entry `(hash, slot)`, if present.
    pub fn remove(&mut self, hash: u64, slot: u32) {
        let mut i = hash as usize & self.mask;
        loop {
            let (h, s) = self.table[i];
            if s == NIL {
                return;
            }
            if h == hash && s == slot {
                break;
            }
            i = (i + 1) & self.mask;
        }
        // Backward-shift deletion.
        let mut hole = i;
        let mut j = (i + 1) & self.mask;
        loop {
            let (h, s) = self.table[j];
            if s == NIL {
                break;
            }
            let home = h as usize & self.mask;
            // Move entry j into the hole if its home is not in (hole, j] (cyclically).
            let in_range = if hole <= j {
                home > hole && home <= j
            } else {
                home > hole || home <= j
            };
            if !in_range {
                self.table[hole] = self.table[j];
                hole = j;
            }
            j = (j + 1) & self.mask;
        }
        self.table[hole] = (0, NIL);
        self.len -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn matches_a_hashmap_under_churn() {
        let mut m = SlotMap::with_capacity(64);
        let mut model: HashMap<u64, u32> = HashMap::new();
        let mut x = 12345u64;
        for step in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Small key space with colliding hashes (low bits) to exercise probing and shifting.
            let key = x % 97;
            let hash = key.wrapping_mul(0x9E37_79B9_7F4A_7C15) & 0xFFFF_0000_0000_003F;
            let present = m.get(hash, |s| s == key as u32).is_some();
            assert_eq!(present, model.contains_key(&key), "step {step}");
            if present {
                m.remove(hash, key as u32);
                model.remove(&key);
            } else if model.len() < 64 {
                assert!(m.insert(hash, key as u32));
                model.insert(key, key as u32);
            }
            assert_eq!(m.len(), model.len());
        }
    }
}
