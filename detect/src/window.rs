//! Sliding and tumbling windows over **event time** (feed timestamps), with O(1) amortised update.
//!
//! All windows here are *bucketed*: a window of length `W` is split into `N` buckets of width `W / N` (`N` is a
//! const parameter: the buckets live inline in the window); an update adds to the newest bucket, and moving time
//! forward clears the buckets that fell out (each bucket is cleared at most once per rotation, so an update costs
//! O(1) amortised, and a jump of more than `N` buckets costs at most `N`). The running total over the whole ring is maintained incrementally, so reading it is O(1). A bucketed
//! window covers `(t - W, t]` to within one bucket width at its old edge; the bucket count of every window in this
//! crate is chosen so that this granularity is ≤ 5 % of the window.
//!
//! Time never goes backwards inside a window: an event stamped before the newest bucket is counted in the newest
//! bucket (real feeds are time-ordered; out-of-order captures degrade gracefully instead of corrupting the sums).
//!
//! Memory is allocated once, when the window is created; no method allocates afterwards.

use std::ops::{AddAssign, SubAssign};

/// A value that can be accumulated in a bucket: a `Copy` aggregate with `+=`, `-=` and a zero (`Default`).
pub trait Accum: Copy + Default + AddAssign + SubAssign {}
impl<T: Copy + Default + AddAssign + SubAssign> Accum for T {}

/// Division by a bucket width fixed at construction, by multiplication: `q = ⌊n·m / 2⁶⁴⌋` with `m = ⌊2⁶⁴ / d⌋`
/// (`2⁶⁴ − 1` for `d = 1`) is `⌊n / d⌋` or one less (`n·m / 2⁶⁴ > n/d − n/2⁶⁴ > n/d − 1` for any `n < 2⁶⁴`), so
/// one comparison of the remainder corrects it, without a branch. A multiply is a few cycles where a 64-bit `div`
/// is tens, and windows divide on most updates of a sparse symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Divisor {
    d: u64,
    /// `⌊2⁶⁴ / d⌋` (`2⁶⁴ − 1` when `d == 1`).
    m: u64,
}

impl Divisor {
    /// Division by `d` (≥ 1; 0 is taken as 1).
    pub(crate) fn new(d: u64) -> Self {
        let d = d.max(1);
        let m = if d == 1 {
            u64::MAX
        } else {
            ((1u128 << 64) / d as u128) as u64
        };
        Divisor { d, m }
    }

    /// The divisor.
    #[inline]
    pub(crate) fn get(self) -> u64 {
        self.d
    }

    /// `n / d`.
    #[inline]
    pub(crate) fn div(self, n: u64) -> u64 {
        let q = ((n as u128 * self.m as u128) >> 64) as u64;
        // `n − q·d` lies in [0, 2d) and fits: q·d ≤ n.
        let r = n - q.wrapping_mul(self.d);
        q + (r >= self.d) as u64
    }
}

/// The bucket geometry of a window: `N` buckets of a fixed width (ns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry<const N: usize> {
    width: Divisor,
}

impl<const N: usize> Geometry<N> {
    /// `N` buckets over `window_ns` (the width is at least 1 ns).
    fn new(window_ns: u64) -> Self {
        Geometry {
            width: Divisor::new(window_ns / N as u64),
        }
    }

    /// Absolute index of the bucket holding `ts_ns`.
    #[inline]
    fn index(self, ts_ns: u64) -> u64 {
        self.width.div(ts_ns)
    }

    /// Width of one bucket in ns.
    #[inline]
    pub fn bucket_width_ns(self) -> u64 {
        self.width.get()
    }

    /// Length of the whole window in ns (`buckets × width`).
    #[inline]
    pub fn window_ns(self) -> u64 {
        self.width.get() * N as u64
    }

    /// Start (inclusive, ns) of the oldest bucket of a window whose newest bucket is `head`.
    #[inline]
    fn start_ns(self, head: u64) -> u64 {
        (head + 1).saturating_sub(N as u64) * self.width.get()
    }
}

/// A sliding window of `N` time buckets holding an [`Accum`] each, with the running total of all buckets.
///
/// The buckets are stored inline (no heap block, so the owner's other per-event fields and the buckets are one
/// allocation and no pointer has to be loaded before the bucket's address is known), and the window keeps the end
/// of its newest bucket and that bucket's slot, so an update that falls in the newest bucket costs no division.
/// The newest bucket's value lives in the header (`newest`) and is written to its slot only when a later bucket
/// becomes the newest while it is still inside the window: an update of a sparse symbol, whose previous bucket has
/// left the window, touches no bucket at all.
///
/// Layout: `repr(C)`, aligned on a cache line, with the fields read at every update first, so that an update reads
/// one line for the header (one line in all: for 8-byte values the header is exactly 64 bytes).
#[derive(Debug, Clone)]
#[repr(C, align(64))]
pub struct SlidingWindow<T: Accum, const N: usize> {
    geo: Geometry<N>,
    /// Absolute index (`ts / width`) of the newest bucket; `u64::MAX` before the first update.
    head: u64,
    /// End (exclusive, ns) of the newest bucket: an update before it needs no advance.
    head_end: u64,
    /// `head % N`.
    slot: usize,
    /// Slots that hold a value (bit `slot`), when there are at most 64 buckets: advancing then only visits the
    /// occupied slots that fall out, so a sparse symbol's update costs O(1) instead of O(buckets passed). With at
    /// most 64 buckets, a slot whose bit is clear reads as `T::default()` whatever it stores (it is overwritten,
    /// not added to, when next used), so falling out of the window does not touch the bucket unless the total
    /// needs it subtracted; with more than 64 buckets every slot is cleared eagerly.
    occupied: u64,
    total: T,
    /// Value of the newest bucket (its slot in `buckets` is stale until the head moves on).
    newest: T,
    buckets: [T; N],
}

impl<T: Accum, const N: usize> SlidingWindow<T, N> {
    /// A window of length `window_ns` split into `N` buckets (the width is at least 1 ns).
    pub fn new(window_ns: u64) -> Self {
        const { assert!(N >= 1, "a window has at least one bucket") };
        SlidingWindow {
            geo: Geometry::new(window_ns),
            head: u64::MAX,
            head_end: 0,
            slot: 0,
            occupied: 0,
            total: T::default(),
            newest: T::default(),
            buckets: [T::default(); N],
        }
    }

    /// Empties the window (no allocation).
    pub fn reset(&mut self) {
        for b in self.buckets.iter_mut() {
            *b = T::default();
        }
        self.total = T::default();
        self.newest = T::default();
        self.head = u64::MAX;
        self.head_end = 0;
        self.slot = 0;
        self.occupied = 0;
    }

    /// The window's bucket geometry.
    #[inline]
    pub fn geometry(&self) -> Geometry<N> {
        self.geo
    }

    /// Width of one bucket in ns.
    #[inline]
    pub fn bucket_width_ns(&self) -> u64 {
        self.geo.bucket_width_ns()
    }

    /// Length of the whole window in ns (`buckets × width`).
    #[inline]
    pub fn window_ns(&self) -> u64 {
        self.geo.window_ns()
    }

    /// Moves the window so that its newest bucket contains `ts_ns`, clearing the buckets that fell out.
    #[inline]
    pub fn advance(&mut self, ts_ns: u64) {
        if ts_ns < self.head_end {
            return; // in the newest bucket (or earlier: counted there)
        }
        self.advance_to(ts_ns);
    }

    #[inline(never)]
    fn advance_to(&mut self, ts_ns: u64) {
        let idx = self.geo.index(ts_ns);
        let end = idx
            .saturating_add(1)
            .saturating_mul(self.geo.bucket_width_ns());
        let gap = idx.wrapping_sub(self.head); // ≥ 1 once started: ts_ns ≥ head_end
        if self.head == u64::MAX || gap >= N as u64 {
            // First update, or every bucket falls out: the window is empty (with at most 64 buckets the stale
            // slots are not read again; above that they are cleared).
            if N > 64 && self.head != u64::MAX {
                for b in self.buckets.iter_mut() {
                    *b = T::default();
                }
            }
            self.total = T::default();
            self.occupied = 0;
            self.slot = (idx % N as u64) as usize;
        } else {
            // The old newest bucket stays inside the window: store its value in its slot.
            if N > 64 || self.occupied & (1 << self.slot) != 0 {
                self.buckets[self.slot] = self.newest;
            }
            let steps = gap as usize;
            let first = if self.slot + 1 == N { 0 } else { self.slot + 1 };
            if N <= 64 {
                // Only occupied slots among the `steps` after the head need clearing.
                let leaving = ring_range_mask(first as u32, steps as u32, N as u32);
                let mut m = self.occupied & leaving;
                if m == self.occupied {
                    // Every occupied bucket falls out: the window is empty.
                    self.total = T::default();
                } else {
                    while m != 0 {
                        let slot = m.trailing_zeros() as usize;
                        m &= m - 1;
                        let old = self.buckets[slot];
                        self.total -= old;
                    }
                }
                self.occupied &= !leaving;
            } else {
                let mut slot = first;
                for _ in 0..steps {
                    let old = self.buckets[slot];
                    self.total -= old;
                    self.buckets[slot] = T::default();
                    slot = if slot + 1 == N { 0 } else { slot + 1 };
                }
            }
            let s = self.slot + steps;
            self.slot = if s >= N { s - N } else { s };
        }
        self.newest = T::default();
        self.head = idx;
        self.head_end = end;
    }

    /// Adds `v` at time `ts_ns` (advancing the window first).
    #[inline]
    pub fn add(&mut self, ts_ns: u64, v: T) {
        self.advance(ts_ns);
        let slot = self.slot;
        self.newest += v;
        self.total += v;
        if slot < 64 {
            self.occupied |= 1 << slot;
        }
    }

    /// The value of `slot` (the newest bucket's is in the header; a slot without its occupied bit reads as zero
    /// when there are at most 64 buckets).
    #[inline]
    fn slot_value(&self, slot: usize) -> T {
        if slot == self.slot && self.head != u64::MAX {
            self.newest
        } else if N <= 64 && self.occupied & (1 << slot) == 0 {
            T::default()
        } else {
            self.buckets[slot]
        }
    }

    /// Total over the window as of the last [`advance`](Self::advance)/[`add`](Self::add). Call `advance(now)`
    /// first to read the window ending now.
    #[inline]
    pub fn total(&self) -> T {
        self.total
    }

    /// The newest bucket's value.
    #[inline]
    pub fn newest(&self) -> T {
        self.newest
    }

    /// Total over the window excluding the newest bucket (the "trailing" part before the current bucket).
    #[inline]
    pub fn total_before_newest(&self) -> T {
        let mut t = self.total;
        t -= self.newest();
        t
    }

    /// Start (inclusive, ns) of the oldest bucket of the window as of the last update.
    #[inline]
    pub fn start_ns(&self) -> u64 {
        if self.head == u64::MAX {
            return 0;
        }
        self.geo.start_ns(self.head)
    }

    /// Calls `f` with each bucket's value from oldest to newest (only buckets inside the window).
    pub fn for_each_oldest_first(&self, mut f: impl FnMut(&T)) {
        if self.head == u64::MAX {
            return;
        }
        let n = N as u64;
        let first = (self.head + 1).saturating_sub(n);
        for abs in first..=self.head {
            f(&self.slot_value((abs % n) as usize));
        }
    }
}

/// Slots of a [`CountWindow`]'s ring (a power of two ≥ its bucket count).
const COUNT_SLOTS: usize = 64;

/// A sliding window of `N ≤ 64` time buckets of a `u64` count, like [`SlidingWindow<u64, N>`] (same buckets, same
/// totals, same handling of time going backwards), for counts that are compared with a threshold at every event but
/// rarely reach it (quote stuffing's and order-to-trade's message counts; two 32-bit counters can share the `u64`
/// as its low and high halves, each total and bound then holds for both halves).
///
/// An update does no bookkeeping of buckets leaving the window. The newest bucket's count lives in the header
/// (`newest`); when a later bucket becomes the newest, the old one is appended to a ring of 64 slots stamped with
/// their bucket index, overwriting the oldest, if it is still inside the window. The ring is filled in order of
/// appending, not at `index % 64`: three appends in four write the line the symbol's previous append wrote, where
/// a slot chosen by bucket index is a line last written a whole ring of buckets ago. The window's older buckets
/// (at most `N − 1 ≤ 63`, each appended once, in bucket order) are among the last 63 appended, so the slot of the
/// next append (the 64th) is free: every update writes the header's bucket there and moves on only when that
/// bucket left the newest place inside the window — a store without a branch (whether a symbol's next event
/// falls in the same bucket, the window or later is what a branch predictor cannot guess), and the ring's stamp
/// of the newest bucket, never read (the ring's totals skip age 0), is overwritten by its final count.
///
/// A running count since the start and two checkpoints of it, at the starts of the current and the previous
/// 64-bucket epoch, give an upper [`bound`](Self::bound) of the window's total in O(1): every bucket of the window
/// lies in those two epochs. The exact [`total`](Self::total) adds the ring's slots whose stamp lies in the window
/// (64 slots) to the newest bucket; the detectors read it only when the bound reaches their threshold or after an
/// alert. The epoch checkpoints are updated with selects, not branches (whether an update opens a new epoch changes
/// from event to event on a sparse symbol).
#[derive(Debug, Clone)]
#[repr(C, align(64))]
pub struct CountWindow<const N: usize> {
    geo: Geometry<N>,
    /// Bucket index (`ts / width`) of the newest bucket (0 before the first update, holding 0: every total and
    /// the start are then 0, as before any update).
    head: u64,
    /// Count of the newest bucket (not in the ring).
    newest: u64,
    /// Running total of every update.
    cum: u64,
    /// `cum` before the first update of the current / the previous epoch (`head / 64`).
    cur_start: u64,
    prev_start: u64,
    /// Ring slot of the next append.
    wpos: u8,
    /// Buckets before the newest, in order of appending, stamped with their index.
    ring: [(u64, u64); COUNT_SLOTS],
}

impl<const N: usize> CountWindow<N> {
    /// A window of length `window_ns` split into `N` buckets (the width is at least 1 ns).
    pub fn new(window_ns: u64) -> Self {
        const { assert!(N >= 1 && N <= COUNT_SLOTS, "1 ..= 64 buckets") };
        CountWindow {
            geo: Geometry::new(window_ns),
            head: 0,
            newest: 0,
            cum: 0,
            cur_start: 0,
            prev_start: 0,
            wpos: 0,
            ring: [(0, 0); COUNT_SLOTS],
        }
    }

    /// Adds `v` at time `ts_ns` (an event stamped before the newest bucket counts in the newest bucket).
    #[inline]
    pub fn add(&mut self, ts_ns: u64, v: u64) {
        let head = self.head;
        let idx = self.geo.index(ts_ns).max(head);
        let (epoch, old_epoch) = (idx / COUNT_SLOTS as u64, head / COUNT_SLOTS as u64);
        // In a later epoch (the head never moves back), the previous epoch starts where the current one did, or
        // where the new one does if it had no update.
        let moved = epoch != old_epoch;
        let next = epoch == old_epoch + 1;
        let cum = self.cum;
        self.prev_start = select(moved, select(next, self.cur_start, cum), self.prev_start);
        self.cur_start = select(moved, cum, self.cur_start);
        self.cum += v;
        // The old newest bucket is appended while it stays inside the window; otherwise (same bucket, or left
        // the window) it goes to the free slot and the next append overwrites it (before the first update it is
        // bucket 0 holding 0: writing it changes no total).
        let gap = idx - head;
        let keep = gap.wrapping_sub(1) < N as u64 - 1;
        self.ring[self.wpos as usize % COUNT_SLOTS] = (head, self.newest);
        self.wpos = self.wpos.wrapping_add(keep as u8);
        self.newest = select(gap == 0, self.newest, 0) + v;
        self.head = idx;
    }

    /// An upper bound of [`total`](Self::total) (of each half when two counters share the `u64`): the updates of the
    /// current and the previous 64-bucket epoch.
    #[inline]
    pub fn bound(&self) -> u64 {
        self.cum - self.prev_start
    }

    /// Total of the buckets `(head − N, head]`, as [`SlidingWindow::total`] after the same updates.
    pub fn total(&self) -> u64 {
        self.sum_from(0)
    }

    /// Total excluding the newest bucket, as [`SlidingWindow::total_before_newest`].
    pub fn total_before_newest(&self) -> u64 {
        self.sum_from(1)
    }

    /// Sum of the buckets `head − N < idx ≤ head − skip`.
    fn sum_from(&self, skip: u64) -> u64 {
        let mut t = 0u64;
        if skip == 0 {
            t += self.newest;
        }
        // The ring's slot stamped with the newest bucket (age 0), if any, is the free slot: skip it.
        let skip = skip.max(1);
        for &(idx, v) in &self.ring {
            let age = self.head.wrapping_sub(idx);
            if age >= skip && age < N as u64 {
                t += v;
            }
        }
        t
    }

    /// Start (inclusive, ns) of the oldest bucket of the window as of the last update (0 before any).
    #[inline]
    pub fn start_ns(&self) -> u64 {
        self.geo.start_ns(self.head)
    }

    /// The window's bucket geometry (bucket width, window length).
    #[inline]
    pub fn geometry(&self) -> Geometry<N> {
        self.geo
    }
}

/// `if c { a } else { b }` with a mask, so that it costs no branch.
#[inline(always)]
fn select(c: bool, a: u64, b: u64) -> u64 {
    let m = (c as u64).wrapping_neg();
    (a & m) | (b & !m)
}

/// Bits `start, start+1, …` (`len` of them, wrapping modulo `n ≤ 64`) set.
#[inline]
pub(crate) fn ring_range_mask(start: u32, len: u32, n: u32) -> u64 {
    let full = |k: u32| if k >= 64 { u64::MAX } else { (1u64 << k) - 1 };
    if len >= n {
        return full(n);
    }
    let first = (n - start).min(len);
    (full(first) << start) | full(len - first)
}

/// A tumbling (non-overlapping, aligned) window: accumulates until an event falls in a later interval, then hands
/// back the finished interval.
#[derive(Debug, Clone, Copy)]
pub struct TumblingWindow<T: Accum> {
    width_ns: u64,
    /// Absolute index of the current interval; `u64::MAX` before the first update.
    index: u64,
    acc: T,
}

impl<T: Accum> TumblingWindow<T> {
    /// Intervals of `width_ns` aligned on multiples of it (midnight-aligned for ITCH timestamps).
    pub fn new(width_ns: u64) -> Self {
        TumblingWindow {
            width_ns: width_ns.max(1),
            index: u64::MAX,
            acc: T::default(),
        }
    }

    /// Moves to the interval containing `ts_ns`. If that closes the current interval, returns
    /// `(interval_start_ns, interval_end_ns, total)` of the closed one (empty intervals in between are skipped).
    #[inline]
    pub fn roll(&mut self, ts_ns: u64) -> Option<(u64, u64, T)> {
        let idx = ts_ns / self.width_ns;
        if self.index == u64::MAX {
            self.index = idx;
            return None;
        }
        if idx <= self.index {
            return None;
        }
        let closed = (
            self.index * self.width_ns,
            (self.index + 1) * self.width_ns,
            self.acc,
        );
        self.index = idx;
        self.acc = T::default();
        Some(closed)
    }

    /// Adds `v` to the current interval (call [`roll`](Self::roll) first).
    #[inline]
    pub fn add(&mut self, v: T) {
        self.acc += v;
    }

    /// The current (open) interval's total.
    #[inline]
    pub fn current(&self) -> T {
        self.acc
    }
}

/// Streaming median of the last `capacity` values (order sizes) with O(1) amortised update and no allocation after
/// construction.
///
/// Values are kept in a histogram that is exact below 1 024 (where almost every displayed order size lies) and
/// log-linear above (32 sub-buckets per power of two, relative resolution ≤ 3.2 %), plus a ring of the last
/// `capacity` bucket indices so the oldest value can be removed. The median is the lower bound of the bucket holding
/// the ⌈n/2⌉-th smallest value (exact for medians below 1 024). It is read lazily, at most once every `refresh`
/// insertions, which keeps the result deterministic and the per-message cost O(1).
///
/// The median's bucket is followed incrementally: `cur` is the bucket that held the median at the last refresh and
/// `below` counts the values in buckets under it, kept exact by every insertion and eviction (one comparison each).
/// A refresh moves `cur` bucket by bucket until it holds the ⌈n/2⌉-th value again: the median moves little between
/// refreshes, so this reads the histogram's counters next to the median (lines the insertions keep warm), and an
/// insertion touches only the header, its ring slot and two counters.
///
/// Layout: `repr(C)`, aligned on a cache line, header (read at every insertion and median) in one line.
#[derive(Debug, Clone)]
#[repr(C, align(64))]
pub struct StreamingMedian {
    ring: Box<[u16]>,
    hist: Box<[u16; MEDIAN_BUCKETS]>,
    len: usize,
    next: usize,
    cached: u32,
    since_refresh: u32,
    refresh: u32,
    /// The bucket that held the median at the last refresh (see the type docs).
    cur: u32,
    /// Values in buckets below `cur`.
    below: u32,
}

const _: () = assert!(std::mem::size_of::<StreamingMedian>() == 64);

const MEDIAN_EXACT: usize = 1024;
const MEDIAN_SUB: usize = 32;
/// Octaves 2^10 .. 2^31.
const MEDIAN_OCTAVES: usize = 22;
const MEDIAN_BUCKETS: usize = MEDIAN_EXACT + MEDIAN_OCTAVES * MEDIAN_SUB;

impl StreamingMedian {
    /// A median over the last `capacity` values (1 ..= 65 535), refreshed every `refresh` insertions (≥ 1).
    pub fn new(capacity: usize, refresh: u32) -> Self {
        let capacity = capacity.clamp(1, u16::MAX as usize);
        StreamingMedian {
            ring: vec![0u16; capacity].into_boxed_slice(),
            len: 0,
            next: 0,
            hist: Box::new([0u16; MEDIAN_BUCKETS]),
            cached: 0,
            since_refresh: u32::MAX,
            refresh: refresh.max(1),
            cur: 0,
            below: 0,
        }
    }

    #[inline]
    fn bucket(v: u32) -> usize {
        if (v as usize) < MEDIAN_EXACT {
            v as usize
        } else {
            let e = 31 - v.leading_zeros() as usize; // ≥ 10
            let sub = ((v >> (e - 5)) as usize) & (MEDIAN_SUB - 1);
            MEDIAN_EXACT + (e - 10) * MEDIAN_SUB + sub
        }
    }

    /// Lower bound of the values that fall in `bucket`.
    #[inline]
    fn lower_bound(bucket: usize) -> u32 {
        if bucket < MEDIAN_EXACT {
            bucket as u32
        } else {
            let e = (bucket - MEDIAN_EXACT) / MEDIAN_SUB + 10;
            let sub = (bucket - MEDIAN_EXACT) % MEDIAN_SUB;
            ((MEDIAN_SUB + sub) as u32) << (e - 5)
        }
    }

    /// Number of values currently in the window.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no value has been inserted.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Inserts a value, evicting the oldest when full.
    #[inline(always)]
    pub fn insert(&mut self, v: u32) {
        let b = Self::bucket(v);
        if self.len == self.ring.len() {
            let old = self.ring[self.next] as usize;
            self.hist[old] -= 1;
            self.below -= ((old as u32) < self.cur) as u32;
        } else {
            self.len += 1;
        }
        self.ring[self.next] = b as u16;
        self.next += 1;
        if self.next == self.ring.len() {
            self.next = 0;
        }
        self.hist[b] += 1;
        self.below += ((b as u32) < self.cur) as u32;
        self.since_refresh = self.since_refresh.saturating_add(1);
    }

    /// The median (see the type docs), or 0 when empty.
    #[inline(always)]
    pub fn median(&mut self) -> u32 {
        if self.since_refresh >= self.refresh {
            self.cached = self.compute();
            self.since_refresh = 0;
        }
        self.cached
    }

    /// Moves `cur` to the bucket holding the ⌈n/2⌉-th smallest value and returns its lower bound.
    #[inline(never)]
    fn compute(&mut self) -> u32 {
        if self.len == 0 {
            return 0;
        }
        let target = self.len.div_ceil(2) as u32; // rank of the median, 1-based
        let (mut cur, mut below) = (self.cur as usize, self.below);
        // Down while the median lies under `cur`, then up while it lies above: `below` stays the count under `cur`.
        while below >= target {
            cur -= 1;
            below -= self.hist[cur] as u32;
        }
        while below + (self.hist[cur] as u32) < target {
            below += self.hist[cur] as u32;
            cur += 1;
        }
        self.cur = cur as u32;
        self.below = below;
        Self::lower_bound(cur)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn divisor_is_exact() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for d in [
            1u64,
            2,
            3,
            7,
            10,
            1_000,
            1_000_000,
            3_000_000_000,
            5_000_000_001,
            u64::MAX / 3,
            u64::MAX,
        ] {
            let q = Divisor::new(d);
            for n in [
                0u64,
                1,
                d - 1,
                d,
                d.wrapping_add(1),
                u64::MAX,
                u64::MAX - 1,
                86_400_000_000_000,
            ] {
                assert_eq!(q.div(n), n / d, "{n} / {d}");
            }
            for _ in 0..20_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let n = x >> (x % 40);
                assert_eq!(q.div(n), n / d, "{n} / {d}");
                let k = (n / d).saturating_mul(d);
                assert_eq!(q.div(k), k / d, "{k} / {d}");
            }
        }
        assert_eq!(Divisor::new(0).div(17), 17);
    }

    #[test]
    fn ring_range_masks() {
        assert_eq!(ring_range_mask(0, 3, 10), 0b111);
        assert_eq!(ring_range_mask(8, 3, 10), 0b11_0000_0001);
        assert_eq!(ring_range_mask(5, 10, 10), 0b11_1111_1111);
        assert_eq!(ring_range_mask(63, 2, 64), (1 << 63) | 1);
        assert_eq!(ring_range_mask(0, 64, 64), u64::MAX);
        assert_eq!(ring_range_mask(3, 0, 64), 0);
    }

    /// The occupancy fast path (≤ 64 buckets) and the plain path (> 64) agree with each other on sparse and dense
    /// streams.
    #[test]
    fn occupancy_path_equals_plain_path() {
        let mut a: SlidingWindow<u64, 64> = SlidingWindow::new(64 * 10);
        let mut b: SlidingWindow<u64, 65> = SlidingWindow::new(65 * 10);
        let mut x = 88_172_645_463_325_252u64;
        let mut t = 0u64;
        for i in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            t += if i % 1000 < 500 { x % 7 } else { x % 900 };
            a.add(t, i % 5);
            b.add(t, i % 5);
            // b's extra (oldest) bucket: compare the totals over the common 64 buckets.
            let mut tb = 0;
            let mut k = 0;
            b.for_each_oldest_first(|v| {
                if k > 0 {
                    tb += *v;
                }
                k += 1;
            });
            if k == 65 {
                assert_eq!(a.total(), tb, "at {t}");
            }
            let mut ta = 0;
            a.for_each_oldest_first(|v| ta += *v);
            assert_eq!(a.total(), ta, "at {t}");
        }
    }

    /// Naive reference: keep every (ts, v) and sum those in the bucket-aligned window.
    fn naive(events: &[(u64, u64)], now: u64, width: u64, n: u64) -> u64 {
        let head = now / width;
        let first = (head + 1).saturating_sub(n);
        events
            .iter()
            .filter(|(t, _)| {
                let b = *t / width;
                b >= first && b <= head
            })
            .map(|(_, v)| v)
            .sum()
    }

    /// Feeds a pseudo-random stream (steps of up to `step` ns, and every `jump_every` updates a jump past the
    /// whole window) to a window of `N` buckets of 100 ns and checks its total against the naive reference.
    fn against_naive<const N: usize>(seed: u64, step: u64, jump_every: u64) {
        let mut w: SlidingWindow<u64, N> = SlidingWindow::new(100 * N as u64);
        let mut evs = Vec::new();
        let mut t = seed % 1_000;
        let mut x = seed;
        for i in 0..5_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            t += (x >> 33) % step;
            if i % jump_every == 0 {
                t += 100 * N as u64 + (x >> 40) % 700;
            }
            let v = (x >> 20) % 7;
            w.add(t, v);
            evs.push((t, v));
            assert_eq!(w.total(), naive(&evs, t, 100, N as u64), "N={N} at {i}");
            assert_eq!(w.newest(), naive(&evs, t, 100, 1), "N={N} at {i}");
            let mut seen = 0;
            w.for_each_oldest_first(|v| seen += *v);
            assert_eq!(seen, w.total(), "N={N} at {i}");
        }
    }

    #[test]
    fn sliding_matches_naive() {
        against_naive::<10>(12345, 250, 97);
    }

    /// The eager-clearing path (> 64 buckets).
    #[test]
    fn sliding_over_64_buckets_matches_naive() {
        against_naive::<70>(987_654_321, 300, 89);
    }

    #[test]
    fn sliding_time_never_goes_back() {
        let mut w: SlidingWindow<u32, 10> = SlidingWindow::new(100);
        w.add(1_000, 1);
        w.add(500, 1); // earlier: counted in the newest bucket
        assert_eq!(w.total(), 2);
        assert_eq!(w.newest(), 2);
        w.advance(1_095);
        assert_eq!(w.total(), 2);
        w.advance(1_100);
        assert_eq!(w.total(), 0);
        assert_eq!(w.start_ns(), 1_010);
    }

    #[test]
    fn total_before_newest() {
        let mut w: SlidingWindow<u32, 6> = SlidingWindow::new(60);
        w.add(5, 3);
        w.add(15, 4);
        assert_eq!(w.total_before_newest(), 3);
        let mut seen = Vec::new();
        w.for_each_oldest_first(|v| seen.push(*v));
        assert_eq!(seen, vec![3, 4]);
    }

    /// `CountWindow` gives `SlidingWindow`'s totals after every update (sparse, dense, backwards and far jumps),
    /// and its bound is never below the total, for each of two counters packed in the `u64`.
    #[test]
    fn count_window_matches_sliding() {
        fn run<const N: usize>(width: u64, seed: u64) {
            let mut a: SlidingWindow<u64, N> = SlidingWindow::new(width * N as u64);
            let mut b: CountWindow<N> = CountWindow::new(width * N as u64);
            assert_eq!(b.start_ns(), a.start_ns());
            let mut x = seed;
            let mut ts = 1_000_000u64;
            for i in 0..20_000 {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let r = x >> 33;
                ts = match r % 10 {
                    0 => ts + width * (r % 200), // jumps, some beyond the window and the epoch
                    1 => ts.saturating_sub(r % (width * 3)), // time going backwards
                    2..=5 => ts + r % width,     // same or next bucket
                    _ => ts + r % (width * 8),
                };
                let v = (r % 3 != 0) as u64 | (((r % 3 == 0) as u64 + (r % 7 == 0) as u64) << 32);
                a.add(ts, v);
                b.add(ts, v);
                let (ta, tb, bound) = (a.total(), b.total(), b.bound());
                assert_eq!(tb, ta, "N {N} width {width} step {i}");
                assert!(
                    bound as u32 >= tb as u32 && bound >> 32 >= tb >> 32,
                    "bound {bound:x} < {tb:x}"
                );
                assert_eq!(b.total_before_newest(), a.total_before_newest());
                assert_eq!(b.start_ns(), a.start_ns());
            }
        }
        run::<60>(1_000, 1);
        run::<50>(7, 2);
        run::<64>(3, 3);
        run::<1>(10, 4);
        run::<13>(1, 5);
    }

    #[test]
    fn tumbling() {
        let mut w: TumblingWindow<u32> = TumblingWindow::new(10);
        assert_eq!(w.roll(3), None);
        w.add(1);
        assert_eq!(w.roll(9), None);
        w.add(2);
        assert_eq!(w.roll(35), Some((0, 10, 3)));
        w.add(5);
        assert_eq!(w.current(), 5);
        assert_eq!(w.roll(40), Some((30, 40, 5)));
    }

    fn exact_median(vals: &[u32]) -> u32 {
        let mut v = vals.to_vec();
        v.sort_unstable();
        v[(v.len().div_ceil(2)) - 1]
    }

    #[test]
    fn median_round_lots_exact() {
        let mut m = StreamingMedian::new(1000, 1);
        let sizes = [100, 200, 100, 300, 100, 500, 100, 1000, 200, 100, 50, 100];
        for s in sizes {
            m.insert(s);
        }
        assert_eq!(m.median(), exact_median(&sizes));
        assert_eq!(m.median(), 100);
        let mut m = StreamingMedian::new(1000, 1);
        for s in [300, 700, 300, 900, 5] {
            m.insert(s);
        }
        assert_eq!(m.median(), 300);
    }

    #[test]
    fn median_resolution_and_eviction() {
        let mut m = StreamingMedian::new(101, 1);
        let mut x = 7u64;
        let mut all = Vec::new();
        for _ in 0..10_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let v = 1 + ((x >> 33) % 50_000) as u32;
            m.insert(v);
            all.push(v);
            let window = &all[all.len().saturating_sub(101)..];
            let exact = exact_median(window);
            let got = m.median();
            assert!(got <= exact, "{got} > {exact}");
            assert!(
                (exact - got) as f64 <= exact as f64 * 0.032 + 1.0,
                "{got} vs {exact}"
            );
        }
    }

    #[test]
    fn median_bucket_bounds() {
        for v in [
            0u32,
            1,
            63,
            64,
            65,
            100,
            127,
            128,
            500,
            1000,
            65_535,
            u32::MAX,
        ] {
            let b = StreamingMedian::bucket(v);
            assert!(b < MEDIAN_BUCKETS);
            let lo = StreamingMedian::lower_bound(b);
            assert!(lo <= v);
            assert!(v - lo <= v / 32 + 1);
        }
        assert_eq!(
            StreamingMedian::lower_bound(StreamingMedian::bucket(100)),
            100
        );
        assert_eq!(
            StreamingMedian::lower_bound(StreamingMedian::bucket(1000)),
            1000
        );
        assert_eq!(
            StreamingMedian::lower_bound(StreamingMedian::bucket(5000)),
            4992
        );
    }

    /// The incremental median equals the bucket rule recomputed from the window at every refresh, whatever the
    /// values do (drifts, jumps, wide and narrow spreads), while the window fills and after, for several refresh
    /// periods.
    #[test]
    fn median_follows_the_window_exactly() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for (cap, refresh) in [
            (1usize, 1u32),
            (2, 1),
            (7, 3),
            (101, 1),
            (1000, 16),
            (333, 5),
        ] {
            let mut m = StreamingMedian::new(cap, refresh);
            let mut all: Vec<u32> = Vec::new();
            let mut expect = 0;
            for i in 0..20_000u32 {
                let phase = i / 2_500;
                let v = match phase % 4 {
                    0 => 100 * (1 + (rnd() % 5) as u32),
                    1 => 1 + (rnd() % 3_000) as u32,
                    2 => 50_000 + (rnd() % 1_000_000) as u32,
                    _ => (rnd() >> (rnd() % 64)) as u32,
                };
                // What `median` returns before this insertion: refreshed when `refresh` insertions have passed.
                let got = m.median();
                if i % refresh == 0 {
                    expect = if all.is_empty() {
                        0
                    } else {
                        let window = &all[all.len().saturating_sub(cap)..];
                        StreamingMedian::lower_bound(StreamingMedian::bucket(exact_median(window)))
                    };
                }
                assert_eq!(got, expect, "cap {cap} refresh {refresh} step {i}");
                m.insert(v);
                all.push(v);
            }
        }
    }

    #[test]
    fn median_lazy_refresh() {
        let mut m = StreamingMedian::new(100, 8);
        m.insert(100);
        assert_eq!(m.median(), 100);
        for _ in 0..7 {
            m.insert(5000);
        }
        assert_eq!(m.median(), 100, "cached until 8 inserts");
        m.insert(5000);
        assert_eq!(
            m.median(),
            StreamingMedian::lower_bound(StreamingMedian::bucket(5000))
        );
    }
}
