//! The preallocated packet buffer pool of the live receive path.
//!
//! One page-aligned allocation of `slots × slot_size` bytes, made at start-up. The receive backend writes a datagram
//! into a free slot (mio: `recvmmsg` into the slot; io_uring: the kernel picks the slot from the provided-buffer ring),
//! then hands a [`PacketRef`](super::packet::PacketRef) — slot index, length, stamps — to every book shard through
//! their SPSC rings. The shards decode the bytes **in place** and hand the slot index back on their release rings;
//! when every shard has released it, the [`SlotLedger`] makes it free again.
//!
//! Ownership protocol (what makes the `unsafe` accessors sound):
//! 1. A slot is *free* (only the receive thread may write it, or the kernel if the backend lent it),
//! 2. then *filled*: the receive thread stops writing and publishes the slot through a ring push (Release), after
//!    which readers obtain it by a pop (Acquire) and only read it,
//! 3. each reader stops reading before pushing the index on its release ring; the receive thread pops it (Acquire)
//!    and, once the outstanding count reaches zero, the slot is free again.
//!
//! Slots never overlap, so a writer of one slot and readers of others never touch the same bytes.

use std::alloc::Layout;
use std::ptr::NonNull;

/// Largest pool: io_uring buffer ids are 16-bit and a provided-buffer ring holds at most 32 768 entries.
pub const MAX_SLOTS: u32 = 32_768;

/// Errors creating a pool.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// Slot count or size out of range.
    #[error("packet pool: {slots} slots of {slot_size} bytes is out of range (1..={max} slots, 64..=65536 bytes)", max = MAX_SLOTS)]
    Size {
        /// Requested slots.
        slots: u32,
        /// Requested slot size.
        slot_size: usize,
    },
    /// The allocation failed.
    #[error("packet pool: cannot allocate {bytes} bytes")]
    Alloc {
        /// Requested bytes.
        bytes: usize,
    },
}

/// A fixed set of equally sized packet buffers in one allocation. See the module docs for the ownership protocol.
#[derive(Debug)]
pub struct PacketPool {
    base: NonNull<u8>,
    layout: Layout,
    slot_size: usize,
    slots: u32,
}

// SAFETY: the pool is a plain byte allocation; concurrent access is partitioned by slot under the protocol in the
// module docs (one writer per free slot, readers only of filled slots, hand-offs through Release/Acquire rings).
unsafe impl Send for PacketPool {}
// SAFETY: see `Send`: shared references only expose raw pointers and `unsafe` accessors whose contracts encode the
// protocol.
unsafe impl Sync for PacketPool {}

impl PacketPool {
    /// Allocates `slots` zeroed buffers of `slot_size` bytes (rounded up to 64) in one page-aligned block.
    pub fn new(slots: u32, slot_size: usize) -> Result<Self, PoolError> {
        if slots == 0 || slots > MAX_SLOTS || !(64..=65_536).contains(&slot_size) {
            return Err(PoolError::Size { slots, slot_size });
        }
        let slot_size = slot_size.next_multiple_of(64);
        let bytes = slot_size * slots as usize;
        let layout =
            Layout::from_size_align(bytes, 4096).map_err(|_| PoolError::Alloc { bytes })?;
        // SAFETY: `layout` has a non-zero size (slots ≥ 1, slot_size ≥ 64).
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        let base = NonNull::new(ptr).ok_or(PoolError::Alloc { bytes })?;
        Ok(PacketPool {
            base,
            layout,
            slot_size,
            slots,
        })
    }

    /// Number of slots.
    #[inline]
    pub fn slots(&self) -> u32 {
        self.slots
    }

    /// Bytes per slot (the largest datagram a slot holds).
    #[inline]
    pub fn slot_size(&self) -> usize {
        self.slot_size
    }

    /// Base address of the whole block (for registering it with the kernel).
    #[inline]
    pub fn base_ptr(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    /// Start address of `slot`. Creating the pointer is safe; writing or reading through it follows the protocol.
    ///
    /// # Panics
    /// If `slot` is out of range.
    #[inline]
    pub fn slot_ptr(&self, slot: u32) -> *mut u8 {
        assert!(slot < self.slots, "slot {slot} out of range");
        // SAFETY: `slot < slots`, so the offset stays inside the allocation.
        unsafe { self.base.as_ptr().add(slot as usize * self.slot_size) }
    }

    /// The whole buffer of a free slot, for writing a datagram into it.
    ///
    /// # Safety
    /// The caller must own `slot` in the *free* state: no reader holds it and no other `&mut` to it exists.
    #[inline]
    #[allow(clippy::mut_from_ref)] // interior mutability by protocol: the caller owns the free slot exclusively
    pub unsafe fn slot_mut(&self, slot: u32) -> &mut [u8] {
        let p = self.slot_ptr(slot);
        // SAFETY: in-bounds and exclusive by the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(p, self.slot_size) }
    }

    /// The first `len` bytes of a filled slot.
    ///
    /// # Safety
    /// `slot` must be *filled* and published to the caller through a ring pop (or owned by the caller), and not be
    /// released until the returned slice is dropped.
    #[inline]
    pub unsafe fn packet(&self, slot: u32, len: usize) -> &[u8] {
        let p = self.slot_ptr(slot);
        let len = len.min(self.slot_size);
        // SAFETY: in-bounds; no writer while filled, by the caller's contract.
        unsafe { std::slice::from_raw_parts(p, len) }
    }
}

impl Drop for PacketPool {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with exactly this layout; dropped once.
        unsafe { std::alloc::dealloc(self.base.as_ptr(), self.layout) }
    }
}

/// The receive thread's book-keeping of slot ownership: outstanding reader counts and the free list.
/// Owned by one thread; allocated once.
#[derive(Debug)]
pub struct SlotLedger {
    outstanding: Box<[u8]>,
    free: Vec<u32>,
}

impl SlotLedger {
    /// A ledger for `slots` slots; if `all_free`, every slot starts on the free list (mio backend), otherwise none
    /// (io_uring: the kernel holds them).
    pub fn new(slots: u32, all_free: bool) -> Self {
        let mut free = Vec::with_capacity(slots as usize);
        if all_free {
            // Pop order 0, 1, 2, …: nicer for debugging, irrelevant for correctness.
            free.extend((0..slots).rev());
        }
        SlotLedger {
            outstanding: vec![0u8; slots as usize].into_boxed_slice(),
            free,
        }
    }

    /// Takes a free slot.
    #[inline]
    pub fn take(&mut self) -> Option<u32> {
        self.free.pop()
    }

    /// Puts a slot that was never lent back on the free list.
    #[inline]
    pub fn put(&mut self, slot: u32) {
        debug_assert_eq!(self.outstanding[slot as usize], 0);
        debug_assert!(self.free.len() < self.free.capacity());
        self.free.push(slot);
    }

    /// Number of slots on the free list.
    #[inline]
    pub fn free_len(&self) -> usize {
        self.free.len()
    }

    /// Records that `slot` was handed to `readers` readers.
    #[inline]
    pub fn lend(&mut self, slot: u32, readers: u8) {
        self.outstanding[slot as usize] = readers;
    }

    /// Records one reader's release; returns true when that was the last one (the slot is free again, and the
    /// caller decides where it goes: [`put`](Self::put) or back to the kernel).
    #[inline]
    pub fn release(&mut self, slot: u32) -> bool {
        let c = &mut self.outstanding[slot as usize];
        debug_assert!(*c > 0, "slot {slot} released more often than lent");
        *c = c.saturating_sub(1);
        *c == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_disjoint_and_aligned() {
        let pool = PacketPool::new(4, 1500).unwrap();
        assert_eq!(pool.slot_size(), 1536);
        assert_eq!(pool.base_ptr() as usize % 4096, 0);
        for s in 0..4 {
            // SAFETY: single-threaded test owns every slot.
            unsafe { pool.slot_mut(s).fill(s as u8 + 1) };
        }
        for s in 0..4 {
            // SAFETY: as above.
            let b = unsafe { pool.packet(s, 1536) };
            assert!(b.iter().all(|&x| x == s as u8 + 1));
        }
        assert!(PacketPool::new(0, 2048).is_err());
        assert!(PacketPool::new(MAX_SLOTS + 1, 2048).is_err());
    }

    #[test]
    fn ledger_counts_readers() {
        let mut l = SlotLedger::new(2, true);
        let a = l.take().unwrap();
        let b = l.take().unwrap();
        assert_eq!(l.take(), None);
        l.lend(a, 2);
        l.lend(b, 1);
        assert!(!l.release(a));
        assert!(l.release(b));
        l.put(b);
        assert!(l.release(a));
        l.put(a);
        assert_eq!(l.free_len(), 2);
    }
}
