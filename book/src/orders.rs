//! Resting orders: a pooled node store plus a direct-indexed, paged map from order reference to node.
//!
//! # Layout
//! - [`OrderPool`]: one `Vec<Order>` of 48-byte nodes, recycled through a free list. A node is an order resting on
//!   some book; its `prev`/`next` fields thread it into its price level's FIFO queue. Handle 0 is the null handle.
//! - [`RefIndex`]: order reference → node handle. ITCH references are day-unique and nearly dense (they count up
//!   through the day), so the map is a *page directory*: `dir[ref >> PAGE_BITS]` names a 1 KiB page of
//!   [`PAGE_SIZE`] `u32` handles, and the handle sits at `page[ref & PAGE_MASK]`. A lookup is two dependent loads,
//!   no hashing. A page is returned to a free list when its last live order leaves, so memory follows the pages that
//!   still hold live orders, not every reference of the day.
//! - References at or above [`StoreConfig::dense_limit`] (or any reference once [`StoreConfig::max_pages`] pages
//!   are in use — the sparse case, where each page would hold one order) go to an overflow hash map instead. Both
//!   structures answer every lookup, so correctness never depends on how references are distributed; only speed
//!   and memory do.
//!
//! # Allocation
//! At construction the directory (4 bytes per 256 references below `dense_limit`) and the page slab
//! (`max_pages` KiB) are allocated *zeroed*, which the OS provides as untouched virtual memory: only the parts that
//! references actually reach are ever committed (see [`RefIndex::committed_bytes`]). The order pool reserves
//! `initial_orders` nodes. After that, nothing allocates unless a high-water mark is exceeded (more than
//! `initial_orders` live orders: the pool doubles) or references spill into the overflow map.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::event::{Price, Side};

/// Null node handle.
pub const NIL: u32 = 0;

/// log2 of the number of references per page.
pub const PAGE_BITS: u32 = 8;
/// References per page (256: a page of `u32` handles is 1 KiB).
pub const PAGE_SIZE: usize = 1 << PAGE_BITS;
const PAGE_MASK: u64 = PAGE_SIZE as u64 - 1;

/// One resting order (48 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Order {
    /// Order reference number.
    pub reference: u64,
    /// Feed timestamp at which the order was added (or last replaced/modified with a priority reset).
    pub ts_ns: u64,
    /// Limit price, ticks.
    pub price: Price,
    /// Remaining visible shares (always > 0 while the order rests).
    pub qty: u32,
    /// Previous order in the level's FIFO queue (towards the head), or [`NIL`].
    pub prev: u32,
    /// Next order in the level's FIFO queue (towards the tail), or [`NIL`]. Free-list link when the node is free.
    pub next: u32,
    /// Book index (stock locate) the order rests on.
    pub book: u16,
    /// Side.
    pub side: Side,
    /// Padding (kept zero).
    pub _pad: u8,
    /// MPID attribution (ITCH `F`), zero when anonymous.
    pub mpid: [u8; 4],
}

/// Sizing knobs of the books. The defaults suit a full NASDAQ day on the 24 GB development machine; every figure
/// is *virtual* memory reserved up front and committed only as it is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreConfig {
    /// References below this go to the paged directory; references at or above it to the overflow map. Default
    /// 2^32 (a 64 MiB directory, of which 4 bytes per 256 references actually reached are committed).
    pub dense_limit: u64,
    /// At most this many pages (1 KiB each) are in use at once; beyond that new references go to the overflow map.
    /// Default 2^20 (1 GiB virtual), which bounds the damage of sparse reference numbering.
    pub max_pages: u32,
    /// Order nodes preallocated in the pool (it grows by doubling if exceeded). Default 4 Mi (192 MiB virtual).
    pub initial_orders: u32,
    /// Price levels reserved per side when a book is created (a side deeper than this grows its vector once per
    /// doubling). Default 32 (1 KiB per side).
    pub level_capacity: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            dense_limit: 1 << 32,
            max_pages: 1 << 20,
            initial_orders: 1 << 22,
            level_capacity: 32,
        }
    }
}

impl StoreConfig {
    /// A small configuration for tests and tools that handle little data (dense limit 2^20, 256 pages,
    /// 4 096 orders preallocated, 8 levels per side).
    pub fn small() -> Self {
        StoreConfig {
            dense_limit: 1 << 20,
            max_pages: 256,
            initial_orders: 4096,
            level_capacity: 8,
        }
    }
}

/// Pool of order nodes with a free list. Handle 0 is reserved as [`NIL`].
#[derive(Debug, Clone)]
pub struct OrderPool {
    nodes: Vec<Order>,
    free_head: u32,
    live: u32,
    peak: u32,
}

impl OrderPool {
    /// A pool with room for `capacity` orders before it has to grow.
    pub fn with_capacity(capacity: u32) -> Self {
        let mut nodes = Vec::with_capacity(capacity as usize + 1);
        nodes.push(Order::default()); // NIL
        OrderPool {
            nodes,
            free_head: NIL,
            live: 0,
            peak: 0,
        }
    }

    /// Stores `order`, returning its handle, or `None` when 2^32 - 1 orders are live.
    #[inline]
    pub fn alloc(&mut self, order: Order) -> Option<u32> {
        let h = if self.free_head != NIL {
            let h = self.free_head;
            self.free_head = self.nodes[h as usize].next;
            self.nodes[h as usize] = order;
            h
        } else {
            let h = u32::try_from(self.nodes.len())
                .ok()
                .filter(|&h| h != u32::MAX)?;
            self.nodes.push(order);
            h
        };
        self.live += 1;
        if self.live > self.peak {
            self.peak = self.live;
        }
        Some(h)
    }

    /// Returns node `h` to the free list. `h` must be live.
    #[inline]
    pub fn free(&mut self, h: u32) {
        debug_assert!(h != NIL);
        let n = &mut self.nodes[h as usize];
        n.next = self.free_head;
        n.qty = 0;
        self.free_head = h;
        self.live -= 1;
    }

    /// The node behind handle `h`.
    #[inline(always)]
    pub fn get(&self, h: u32) -> &Order {
        &self.nodes[h as usize]
    }

    /// The node behind handle `h`, mutably.
    #[inline(always)]
    pub fn get_mut(&mut self, h: u32) -> &mut Order {
        &mut self.nodes[h as usize]
    }

    /// Number of live orders.
    pub fn live(&self) -> u32 {
        self.live
    }

    /// Highest number of simultaneously live orders seen.
    pub fn peak(&self) -> u32 {
        self.peak
    }

    /// Bytes of nodes ever used (the pool's high-water mark; what is committed).
    pub fn committed_bytes(&self) -> usize {
        self.nodes.len() * std::mem::size_of::<Order>()
    }

    /// Bytes reserved (mostly uncommitted until used).
    pub fn reserved_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Order>()
    }
}

/// Multiplicative hasher for the overflow map (`u64` keys only).
#[derive(Default, Clone, Copy, Debug)]
struct RefHasher(u64);

impl Hasher for RefHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    #[inline]
    fn write_u64(&mut self, x: u64) {
        let x = (x ^ (x >> 31)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = x ^ (x >> 29);
    }
}

/// Order reference → node handle (see the module docs).
#[derive(Debug, Clone)]
pub struct RefIndex {
    /// Page number per page of references; 0 = no page.
    dir: Vec<u32>,
    /// Page slab: page `p` (1-based) is `slab[(p - 1) * PAGE_SIZE..p * PAGE_SIZE]`.
    slab: Vec<u32>,
    /// Live handles per page (index `p`; `page_live[0]` unused).
    page_live: Vec<u32>,
    /// Pages handed out so far (the slab's high-water mark).
    pages_created: u32,
    free_pages: Vec<u32>,
    overflow: HashMap<u64, u32, BuildHasherDefault<RefHasher>>,
    dense_pages: u64,
    max_pages: u32,
    pages_in_use: u32,
    peak_pages: u32,
    /// Highest directory index written.
    high_dir: u32,
}

impl RefIndex {
    /// An empty index sized by `cfg`.
    pub fn new(cfg: &StoreConfig) -> Self {
        let dense_pages = cfg
            .dense_limit
            .div_ceil(PAGE_SIZE as u64)
            .min(u64::from(u32::MAX));
        let max_pages = cfg.max_pages.min(u32::MAX - 1);
        // Zeroed allocations come from the OS as untouched pages: only what is used gets committed.
        RefIndex {
            dir: vec![0; dense_pages as usize],
            slab: vec![NIL; max_pages as usize * PAGE_SIZE],
            page_live: vec![0; max_pages as usize + 1],
            pages_created: 0,
            free_pages: Vec::with_capacity(max_pages as usize),
            overflow: HashMap::default(),
            dense_pages,
            max_pages,
            pages_in_use: 0,
            peak_pages: 0,
            high_dir: 0,
        }
    }

    #[inline(always)]
    fn slot(p: u32, reference: u64) -> usize {
        (p as usize - 1) * PAGE_SIZE + (reference & PAGE_MASK) as usize
    }

    /// The handle stored for `reference`, or [`NIL`].
    #[inline(always)]
    pub fn get(&self, reference: u64) -> u32 {
        let pi = reference >> PAGE_BITS;
        if let Some(&p) = self.dir.get(pi as usize) {
            if p != 0 {
                let h = self.slab[Self::slot(p, reference)];
                if h != NIL {
                    return h;
                }
            }
        }
        if self.overflow.is_empty() {
            NIL
        } else {
            self.overflow.get(&reference).copied().unwrap_or(NIL)
        }
    }

    /// Stores `h` (non-nil) for `reference`, which must not be present.
    #[inline]
    pub fn insert(&mut self, reference: u64, h: u32) {
        debug_assert!(h != NIL);
        let pi = reference >> PAGE_BITS;
        if pi < self.dense_pages {
            let pi = pi as usize;
            let mut p = self.dir[pi];
            if p == 0 {
                match self.new_page() {
                    Some(np) => {
                        p = np;
                        self.dir[pi] = p;
                        self.high_dir = self.high_dir.max(pi as u32);
                    }
                    None => {
                        self.overflow.insert(reference, h);
                        return;
                    }
                }
            }
            self.slab[Self::slot(p, reference)] = h;
            self.page_live[p as usize] += 1;
        } else {
            self.overflow.insert(reference, h);
        }
    }

    /// Removes `reference` (which must be present with a non-nil handle).
    #[inline]
    pub fn remove(&mut self, reference: u64) {
        let pi = (reference >> PAGE_BITS) as usize;
        if let Some(&p) = self.dir.get(pi) {
            if p != 0 {
                let slot = &mut self.slab[Self::slot(p, reference)];
                if *slot != NIL {
                    *slot = NIL;
                    let live = &mut self.page_live[p as usize];
                    *live -= 1;
                    if *live == 0 {
                        self.dir[pi] = 0;
                        self.free_pages.push(p);
                        self.pages_in_use -= 1;
                    }
                    return;
                }
            }
        }
        self.overflow.remove(&reference);
    }

    fn new_page(&mut self) -> Option<u32> {
        if self.pages_in_use >= self.max_pages {
            return None;
        }
        let p = match self.free_pages.pop() {
            Some(p) => p, // already all NIL: a page is freed only when its last handle was cleared
            None => {
                self.pages_created += 1;
                self.pages_created
            }
        };
        self.pages_in_use += 1;
        self.peak_pages = self.peak_pages.max(self.pages_in_use);
        Some(p)
    }

    /// Number of references held in the overflow map.
    pub fn overflow_len(&self) -> usize {
        self.overflow.len()
    }

    /// Pages currently holding at least one reference.
    pub fn pages_in_use(&self) -> u32 {
        self.pages_in_use
    }

    /// Highest number of pages in use at once.
    pub fn peak_pages(&self) -> u32 {
        self.peak_pages
    }

    /// Bytes actually touched: the directory up to the highest page reached, the pages ever handed out (with their
    /// live counters and free-list slots), and the overflow map (estimated).
    pub fn committed_bytes(&self) -> usize {
        let dir = ((self.high_dir as usize + 1) * 4).next_multiple_of(4096);
        dir + self.pages_created as usize * (PAGE_SIZE * 4 + 4 + 4)
            + self.overflow.capacity() * (8 + 4 + 1)
    }

    /// Bytes of address space reserved (directory, slab, counters, free list, overflow map), mostly uncommitted.
    pub fn reserved_bytes(&self) -> usize {
        self.dir.capacity() * 4
            + self.slab.capacity() * 4
            + self.page_live.capacity() * 4
            + self.free_pages.capacity() * 4
            + self.overflow.capacity() * (8 + 4 + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_node_is_48_bytes() {
        assert_eq!(std::mem::size_of::<Order>(), 48);
    }

    #[test]
    fn pool_recycles() {
        let mut p = OrderPool::with_capacity(2);
        let a = p.alloc(Order::default()).unwrap();
        let b = p.alloc(Order::default()).unwrap();
        assert_ne!(a, NIL);
        assert_ne!(a, b);
        p.free(a);
        let c = p.alloc(Order::default()).unwrap();
        assert_eq!(c, a);
        assert_eq!(p.live(), 2);
        assert_eq!(p.peak(), 2);
    }

    #[test]
    fn index_dense_sparse_and_pages_recycled() {
        let cfg = StoreConfig {
            dense_limit: 1 << 20,
            max_pages: 3,
            initial_orders: 16,
            level_capacity: 1,
        };
        let mut ix = RefIndex::new(&cfg);
        ix.insert(5, 1);
        ix.insert(255, 2);
        ix.insert(256, 3);
        assert_eq!(ix.pages_in_use(), 2);
        ix.insert(u64::MAX, 4); // above the dense limit
        ix.insert(1 << 19, 5); // third page
        ix.insert(3 << 18, 6); // page budget exhausted: overflow
        assert_eq!(ix.overflow_len(), 2);
        for (r, h) in [
            (5, 1),
            (255, 2),
            (256, 3),
            (u64::MAX, 4),
            (1 << 19, 5),
            (3 << 18, 6),
        ] {
            assert_eq!(ix.get(r), h, "ref {r}");
        }
        assert_eq!(ix.get(6), NIL);
        assert_eq!(ix.get(1 << 40), NIL);
        ix.remove(256);
        assert_eq!(ix.pages_in_use(), 2);
        assert_eq!(ix.get(256), NIL);
        ix.remove(3 << 18);
        ix.remove(u64::MAX);
        assert_eq!(ix.overflow_len(), 0);
        ix.insert(512, 7); // reuses the freed page
        assert_eq!(ix.get(512), 7);
        assert_eq!(ix.peak_pages(), 3);
        assert_eq!(ix.pages_created, 3);
    }
}
