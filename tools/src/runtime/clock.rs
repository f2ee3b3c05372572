//! The latency clock: cheap per-packet and per-stage timestamps.
//!
//! Two sources, chosen by config (`clock = "auto" | "tsc" | "monotonic"`):
//! - **TSC** (x86-64 only): `rdtsc` (~10-25 cycles, no syscall, no serialisation), converted to nanoseconds with a
//!   multiplier calibrated against `CLOCK_MONOTONIC` at start-up (two samples ~20 ms apart). Used by `auto` when the
//!   CPU advertises an invariant TSC (`constant_tsc` and `nonstop_tsc` in `/proc/cpuinfo`), which is also what makes
//!   stamps taken on one core comparable with stamps read on another.
//! - **monotonic**: `CLOCK_MONOTONIC` through the vDSO (`std::time::Instant`), ~20-40 ns; the portable fallback.
//!
//! Stamps are opaque `u64` ticks; only differences taken with [`Clock::delta_ns`] are meaningful. [`Clock`] is `Copy`
//! and every thread holds its own copy: reading it touches no shared memory.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// CPU time consumed so far by every thread of this process, in ns (`CLOCK_PROCESS_CPUTIME_ID`); `None` if the
/// clock cannot be read. Cold path: used for the `cpu_ns` figures of the statistics document.
pub fn process_cpu_ns() -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; clock_gettime only writes it.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    (r == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// Which clock to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClockChoice {
    /// TSC when invariant, else monotonic.
    #[default]
    Auto,
    /// The time-stamp counter (falls back to monotonic, with a warning, where there is none).
    Tsc,
    /// `CLOCK_MONOTONIC`.
    Monotonic,
}

#[derive(Debug, Clone, Copy)]
enum Source {
    Tsc {
        /// Nanoseconds per tick × 2^32.
        mult: u64,
    },
    Monotonic,
}

/// A calibrated timestamp source. See the module docs.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    source: Source,
    anchor: Instant,
}

impl Clock {
    /// Builds (and for the TSC, calibrates: ~20 ms) the clock chosen by `choice`. Returns the clock and, when the
    /// choice could not be honoured, a warning to print.
    pub fn new(choice: ClockChoice) -> (Clock, Option<String>) {
        let anchor = Instant::now();
        let mono = Clock {
            source: Source::Monotonic,
            anchor,
        };
        match choice {
            ClockChoice::Monotonic => (mono, None),
            ClockChoice::Auto => {
                if tsc_invariant() {
                    match calibrate_tsc() {
                        Some(mult) => (
                            Clock {
                                source: Source::Tsc { mult },
                                anchor,
                            },
                            None,
                        ),
                        None => (mono, None),
                    }
                } else {
                    (mono, None)
                }
            }
            ClockChoice::Tsc => match calibrate_tsc() {
                Some(mult) => {
                    let warn = (!tsc_invariant()).then(|| {
                        "clock: TSC requested but the CPU does not advertise an invariant TSC; cross-core \
                         latencies may be off"
                            .to_string()
                    });
                    (
                        Clock {
                            source: Source::Tsc { mult },
                            anchor,
                        },
                        warn,
                    )
                }
                None => (
                    mono,
                    Some("clock: no usable TSC on this machine; using CLOCK_MONOTONIC".to_string()),
                ),
            },
        }
    }

    /// The monotonic clock (no calibration).
    pub fn monotonic() -> Clock {
        Clock {
            source: Source::Monotonic,
            anchor: Instant::now(),
        }
    }

    /// Name of the source in use: `tsc` or `monotonic`.
    pub fn name(&self) -> &'static str {
        match self.source {
            Source::Tsc { .. } => "tsc",
            Source::Monotonic => "monotonic",
        }
    }

    /// TSC frequency in MHz when the TSC is in use.
    pub fn tsc_mhz(&self) -> Option<f64> {
        match self.source {
            Source::Tsc { mult } => Some(1000.0 * (1u64 << 32) as f64 / mult as f64),
            Source::Monotonic => None,
        }
    }

    /// A timestamp now, in ticks.
    #[inline(always)]
    pub fn now(&self) -> u64 {
        match self.source {
            Source::Tsc { .. } => rdtsc(),
            Source::Monotonic => self.anchor.elapsed().as_nanos() as u64,
        }
    }

    /// Nanoseconds from `from` to `to` (0 if `to` is earlier).
    #[inline(always)]
    pub fn delta_ns(&self, from: u64, to: u64) -> u64 {
        let d = to.saturating_sub(from);
        match self.source {
            Source::Tsc { mult } => ((u128::from(d) * u128::from(mult)) >> 32) as u64,
            Source::Monotonic => d,
        }
    }

    /// Nanoseconds since `since` (a stamp of this clock).
    #[inline(always)]
    pub fn elapsed_ns(&self, since: u64) -> u64 {
        self.delta_ns(since, self.now())
    }

    /// Ticks in `d` (for deadlines: `now() + ticks(d)`).
    pub fn ticks(&self, d: Duration) -> u64 {
        let ns = d.as_nanos().min(u128::from(u64::MAX)) as u64;
        match self.source {
            Source::Tsc { mult } => ((u128::from(ns) << 32) / u128::from(mult.max(1))) as u64,
            Source::Monotonic => ns,
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn rdtsc() -> u64 {
    // SAFETY: `rdtsc` has no memory effects and exists on every x86-64 CPU; calibrate_tsc only selects this path on
    // x86-64.
    unsafe { core::arch::x86_64::_rdtsc() }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn rdtsc() -> u64 {
    0
}

/// Whether /proc/cpuinfo advertises an invariant TSC.
fn tsc_invariant() -> bool {
    if !cfg!(target_arch = "x86_64") {
        return false;
    }
    let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") else {
        return false;
    };
    let flags = info.lines().find(|l| l.starts_with("flags")).unwrap_or("");
    let has = |f: &str| flags.split_whitespace().any(|w| w == f);
    has("constant_tsc") && has("nonstop_tsc")
}

/// Returns ns-per-tick × 2^32, or None when the TSC is unusable.
fn calibrate_tsc() -> Option<u64> {
    if !cfg!(target_arch = "x86_64") {
        return None;
    }
    // Take the (tsc, monotonic) pair whose monotonic read bracket is tightest, twice, ~20 ms apart.
    fn sample(base: Instant) -> (u64, u64) {
        let mut best = (u64::MAX, 0u64, 0u64);
        for _ in 0..16 {
            let a = base.elapsed().as_nanos() as u64;
            let t = rdtsc();
            let b = base.elapsed().as_nanos() as u64;
            if b - a < best.0 {
                best = (b - a, t, a + (b - a) / 2);
            }
        }
        (best.1, best.2)
    }
    let base = Instant::now();
    let (t0, m0) = sample(base);
    std::thread::sleep(Duration::from_millis(20));
    let (t1, m1) = sample(base);
    let dt = t1.checked_sub(t0)?;
    let dm = m1.checked_sub(m0)?;
    if dt == 0 || dm == 0 {
        return None;
    }
    let mhz = dt as f64 / dm as f64 * 1000.0;
    if !(100.0..=10_000.0).contains(&mhz) {
        return None;
    }
    Some(((u128::from(dm) << 32) / u128::from(dt)) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_agree_with_sleep() {
        for choice in [ClockChoice::Auto, ClockChoice::Monotonic] {
            let (c, _) = Clock::new(choice);
            let t0 = c.now();
            std::thread::sleep(Duration::from_millis(30));
            let ns = c.elapsed_ns(t0);
            // Sleep never returns early; the upper bound is generous for a loaded 2-core CI machine.
            assert!(
                (30_000_000..2_000_000_000).contains(&ns),
                "{} measured {ns} ns",
                c.name()
            );
            assert_eq!(c.delta_ns(t0 + 10, t0), 0);
            let ticks = c.ticks(Duration::from_millis(5));
            let back = c.delta_ns(0, ticks);
            assert!((4_990_000..=5_010_000).contains(&back), "{back}");
        }
    }
}
