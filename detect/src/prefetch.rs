//! Software prefetch: starts bringing a cache line towards the core without waiting for it.
//!
//! The detect stage's state for an event (the symbol's first lines, its window slots, the tracked-order entry) is
//! scattered over memory that the book and other symbols' events evict between two events of one symbol. A
//! pipeline that knows which symbol, time and order reference an event will carry before the event exists (the
//! decoded message, before the book applies it; the next event waiting in the detect thread's ring) calls
//! [`DetectorSet::prefetch`](crate::DetectorSet::prefetch) with them, so that those lines load while other work
//! runs.

/// Hints the CPU to load the cache line holding `p` into the first-level cache. A hint only: it never faults, never
/// waits, and reads nothing the program can observe; on other architectures it does nothing.
#[inline(always)]
#[allow(unsafe_code)]
pub(crate) fn line<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` is a cache hint: it performs no architectural memory access, so it cannot fault or
    // read out of bounds whatever the address, and its only requirement (SSE) is part of the x86_64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
