//! Shared helpers for the tickwatch benchmarks: thread CPU clocks for timing on a shared machine.

/// CPU time consumed by the calling thread so far, in ns (`CLOCK_THREAD_CPUTIME_ID`, exact to the ns; the
/// `/proc/thread-self/schedstat` figure used before moved in 4 ms scheduler steps on this VM, ±1.3 % of a
/// criterion sample of the detect bench). The figure stays meaningful when the 2-core machine is shared (wall time
/// then includes waiting for a core). `Option` for the callers' sake: always `Some` on Linux.
pub fn thread_cpu_ns() -> Option<u64> {
    Some(thread_cpu().as_nanos() as u64)
}

/// CPU time (user + system) of the calling thread, from `CLOCK_THREAD_CPUTIME_ID` (no file read: cheap enough to
/// take around short passes).
pub fn thread_cpu() -> std::time::Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID is supported on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
