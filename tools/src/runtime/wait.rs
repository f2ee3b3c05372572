//! Wait strategies: what a thread does when its input ring is empty (or, for a producer, when its output ring is
//! full).
//!
//! | strategy | idle cost | wake-up latency | when to use |
//! |---|---|---|---|
//! | [`WaitStrategy::BusySpin`] | one core at 100 % | tens of ns | a dedicated, isolated core per hot thread |
//! | [`WaitStrategy::SpinThenYield`] | 100 % but yields to other runnable threads | ~1 µs once yielding | shared cores (the 2-core default) |
//! | [`WaitStrategy::Park`] | ~0 | a few µs (futex wake), bounded by `park_us` | cold or mostly idle threads (publish, reporter, a quiet live feed) |
//!
//! A [`Backoff`] is the per-wait state machine: call [`Backoff::snooze`] each time the ring was found empty and
//! [`Backoff::reset`] after useful work. Parking is woken by the producer through the ring's
//! [`Notifier`](super::ring::Notifier), and in any case after `park_us` so a missed wake-up costs bounded time.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a consumer does when it finds nothing to do. See the module docs for the trade-offs.
///
/// In TOML either the short form (`wait = "park"`, default parameters) or a table
/// (`wait = { kind = "park", spins = 100, yields = 10, park_us = 500 }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", try_from = "WaitRepr")]
pub enum WaitStrategy {
    /// Spin on the ring (with a `pause` hint) forever. Lowest latency; burns its core.
    BusySpin,
    /// Spin `spins` times, then `sched_yield` between polls.
    SpinThenYield {
        /// Polls with a spin hint before the first yield.
        #[serde(default = "default_spins")]
        spins: u32,
    },
    /// Spin `spins` times, yield `yields` times, then park the thread until the producer wakes it (or `park_us`
    /// elapses).
    Park {
        /// Polls with a spin hint before yielding.
        #[serde(default = "default_spins")]
        spins: u32,
        /// Yields before parking.
        #[serde(default = "default_yields")]
        yields: u32,
        /// Longest park, in microseconds (bounds the cost of a missed wake-up and the shutdown latency).
        #[serde(default = "default_park_us")]
        park_us: u32,
    },
}

/// Accepted TOML forms of a [`WaitStrategy`].
#[derive(Deserialize)]
#[serde(untagged)]
enum WaitRepr {
    Short(String),
    Full(WaitFull),
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", deny_unknown_fields)]
enum WaitFull {
    BusySpin,
    SpinThenYield {
        #[serde(default = "default_spins")]
        spins: u32,
    },
    Park {
        #[serde(default = "default_spins")]
        spins: u32,
        #[serde(default = "default_yields")]
        yields: u32,
        #[serde(default = "default_park_us")]
        park_us: u32,
    },
}

impl TryFrom<WaitRepr> for WaitStrategy {
    type Error = String;
    fn try_from(r: WaitRepr) -> Result<Self, String> {
        match r {
            WaitRepr::Short(s) => WaitStrategy::parse_short(&s).ok_or_else(|| {
                format!("unknown wait strategy {s:?} (expected busy-spin, spin-then-yield or park)")
            }),
            WaitRepr::Full(WaitFull::BusySpin) => Ok(WaitStrategy::BusySpin),
            WaitRepr::Full(WaitFull::SpinThenYield { spins }) => {
                Ok(WaitStrategy::SpinThenYield { spins })
            }
            WaitRepr::Full(WaitFull::Park {
                spins,
                yields,
                park_us,
            }) => Ok(WaitStrategy::Park {
                spins,
                yields,
                park_us,
            }),
        }
    }
}

fn default_spins() -> u32 {
    200
}
fn default_yields() -> u32 {
    20
}
fn default_park_us() -> u32 {
    1000
}

impl WaitStrategy {
    /// `spin-then-yield` with default parameters.
    pub const fn spin_then_yield() -> Self {
        WaitStrategy::SpinThenYield { spins: 200 }
    }

    /// `park` with default parameters.
    pub const fn park() -> Self {
        WaitStrategy::Park {
            spins: 200,
            yields: 20,
            park_us: 1000,
        }
    }

    /// Whether a consumer using this strategy may park, i.e. whether producers must notify it.
    pub const fn may_park(self) -> bool {
        matches!(self, WaitStrategy::Park { .. })
    }

    /// Short name, as written in the config file.
    pub const fn name(self) -> &'static str {
        match self {
            WaitStrategy::BusySpin => "busy-spin",
            WaitStrategy::SpinThenYield { .. } => "spin-then-yield",
            WaitStrategy::Park { .. } => "park",
        }
    }

    /// Parses the short form used on the command line: `busy-spin`, `spin-then-yield` or `park` (default
    /// parameters).
    pub fn parse_short(s: &str) -> Option<Self> {
        match s {
            "busy-spin" | "spin" => Some(WaitStrategy::BusySpin),
            "spin-then-yield" | "yield" => Some(Self::spin_then_yield()),
            "park" => Some(Self::park()),
            _ => None,
        }
    }
}

/// What [`Backoff::snooze`] decided; [`Backoff::snooze`] already did the spinning or yielding, `Park` asks the
/// caller to park (after announcing it to the producer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Snooze {
    /// Spun or yielded; poll again.
    Again,
    /// Time to park for at most this long.
    Park(Duration),
}

/// Per-wait backoff state. No allocation, no syscalls except `sched_yield` (and the caller's park).
#[derive(Debug, Clone)]
pub struct Backoff {
    strategy: WaitStrategy,
    step: u32,
}

impl Backoff {
    /// A fresh backoff for `strategy`.
    pub const fn new(strategy: WaitStrategy) -> Self {
        Backoff { strategy, step: 0 }
    }

    /// Call after useful work: the next idle period starts spinning again.
    #[inline]
    pub fn reset(&mut self) {
        self.step = 0;
    }

    /// Call when the poll found nothing. Spins or yields (and returns [`Snooze::Again`]) or tells the caller to
    /// park.
    #[inline]
    pub fn snooze(&mut self) -> Snooze {
        self.step = self.step.saturating_add(1);
        match self.strategy {
            WaitStrategy::BusySpin => {
                std::hint::spin_loop();
                Snooze::Again
            }
            WaitStrategy::SpinThenYield { spins } => {
                if self.step <= spins {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
                Snooze::Again
            }
            WaitStrategy::Park {
                spins,
                yields,
                park_us,
            } => {
                if self.step <= spins {
                    std::hint::spin_loop();
                    Snooze::Again
                } else if self.step <= spins.saturating_add(yields) {
                    std::thread::yield_now();
                    Snooze::Again
                } else {
                    Snooze::Park(Duration::from_micros(u64::from(park_us.max(1))))
                }
            }
        }
    }

    /// Producer-side wait (output ring full): the consumer is the bottleneck, so waiting costs no latency that
    /// matters. Busy-spin keeps spinning; the other strategies spin, yield a few times, then sleep 20 µs per step
    /// instead of burning a core in `sched_yield` (consumers do not notify producers).
    #[inline]
    pub fn snooze_producer(&mut self) {
        self.step = self.step.saturating_add(1);
        let (spins, yields) = match self.strategy {
            WaitStrategy::BusySpin => {
                std::hint::spin_loop();
                return;
            }
            WaitStrategy::SpinThenYield { spins } => (spins, 50),
            WaitStrategy::Park { spins, yields, .. } => (spins, yields),
        };
        if self.step <= spins {
            std::hint::spin_loop();
        } else if self.step <= spins.saturating_add(yields) {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(20));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn park_strategy_escalates() {
        let mut b = Backoff::new(WaitStrategy::Park {
            spins: 2,
            yields: 1,
            park_us: 50,
        });
        assert_eq!(b.snooze(), Snooze::Again);
        assert_eq!(b.snooze(), Snooze::Again);
        assert_eq!(b.snooze(), Snooze::Again);
        assert_eq!(b.snooze(), Snooze::Park(Duration::from_micros(50)));
        b.reset();
        assert_eq!(b.snooze(), Snooze::Again);
    }

    #[test]
    fn spinning_strategies_never_park() {
        for s in [WaitStrategy::BusySpin, WaitStrategy::spin_then_yield()] {
            let mut b = Backoff::new(s);
            for _ in 0..1000 {
                assert_eq!(b.snooze(), Snooze::Again);
            }
        }
    }

    #[test]
    fn toml_forms() {
        #[derive(Deserialize)]
        struct W {
            wait: WaitStrategy,
        }
        let w: W = toml::from_str("wait = { kind = \"park\", park_us = 10 }").unwrap();
        assert_eq!(
            w.wait,
            WaitStrategy::Park {
                spins: 200,
                yields: 20,
                park_us: 10
            }
        );
        let w: W = toml::from_str("wait = { kind = \"busy-spin\" }").unwrap();
        assert_eq!(w.wait, WaitStrategy::BusySpin);
        let w: W = toml::from_str("wait = \"busy-spin\"").unwrap();
        assert_eq!(w.wait, WaitStrategy::BusySpin);
        assert_eq!(
            WaitStrategy::parse_short("spin-then-yield"),
            Some(WaitStrategy::spin_then_yield())
        );
        assert!(toml::from_str::<W>("wait = \"nap\"").is_err());
    }
}
