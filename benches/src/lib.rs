//! Shared helpers for the tickwatch benchmarks: thread CPU clocks for timing on a shared machine.

/// CPU time consumed by the calling thread so far, in ns (`/proc/thread-self/schedstat`, first field), if readable.
/// The figure stays meaningful when the 2-core machine is shared (wall time then includes waiting for a core).
pub fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
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
