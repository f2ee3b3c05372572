//! Detector configuration: every parameter of every detector, with the defaults of the detect issue, loadable from
//! TOML (`tickwatch replay --detectors FILE`). Unknown keys are errors (typos must not silently fall back to
//! defaults). `detect/detectors.toml` in the repository is the default file, written out in full with comments.
//!
//! Times are given in milliseconds (`*_ms`) or as `"HH:MM:SS[.fff]"` clock times since midnight (feed time, ITCH
//! convention: US/Eastern). Sizes are shares, prices bps or ticks as named.

use serde::{Deserialize, Serialize};

/// Nanoseconds per millisecond.
pub const NS_PER_MS: u64 = 1_000_000;
/// Nanoseconds per second.
pub const NS_PER_S: u64 = 1_000_000_000;

/// Errors from loading a configuration (cold path).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The TOML text did not parse or did not match the schema.
    #[error("detector config{}: {source}", path.as_ref().map(|p| format!(" {p}")).unwrap_or_default())]
    Parse {
        /// File name, when loaded from a file.
        path: Option<String>,
        /// Parser error (with line and column).
        #[source]
        source: toml::de::Error,
    },
    /// A value is out of its allowed range.
    #[error("detector config: {key} = {value}: {problem}")]
    Invalid {
        /// Dotted key (`spoofing.size_multiple`).
        key: &'static str,
        /// The offending value, as text.
        value: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// The file could not be read.
    #[error("detector config {path}: {source}")]
    Io {
        /// File name.
        path: String,
        /// I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// A clock time since midnight in feed nanoseconds, written in TOML as `"HH:MM:SS"` / `"HH:MM:SS.fff"` or as an
/// integer number of nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClockTime(pub u64);

impl ClockTime {
    /// `h:m:s` since midnight.
    pub const fn hms(h: u64, m: u64, s: u64) -> ClockTime {
        ClockTime(((h * 60 + m) * 60 + s) * NS_PER_S)
    }

    /// Parses `HH:MM:SS[.fraction]`.
    pub fn parse(s: &str) -> Option<ClockTime> {
        let (hms, frac) = match s.split_once('.') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let mut it = hms.split(':');
        let h: u64 = it.next()?.parse().ok()?;
        let m: u64 = it.next()?.parse().ok()?;
        let sec: u64 = it.next()?.parse().ok()?;
        if it.next().is_some() || m >= 60 || sec >= 60 || h > 47 {
            return None;
        }
        let mut ns = ((h * 60 + m) * 60 + sec) * NS_PER_S;
        if let Some(f) = frac {
            if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let v: u64 = f.parse().ok()?;
            ns += v * 10u64.pow(9 - f.len() as u32);
        }
        Some(ClockTime(ns))
    }
}

impl std::fmt::Display for ClockTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.0 / NS_PER_S;
        let ns = self.0 % NS_PER_S;
        write!(f, "{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)?;
        if ns != 0 {
            let mut frac = format!("{ns:09}");
            while frac.ends_with('0') {
                frac.pop();
            }
            write!(f, ".{frac}")?;
        }
        Ok(())
    }
}

impl Serialize for ClockTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for ClockTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Ns(u64),
        }
        match Raw::deserialize(d)? {
            Raw::Ns(n) => Ok(ClockTime(n)),
            Raw::Text(t) => ClockTime::parse(&t).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "invalid clock time {t:?}, expected \"HH:MM:SS[.fff]\""
                ))
            }),
        }
    }
}

/// Settings shared by all detectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GeneralConfig {
    /// Tick size in price units of 1/10 000 used for "ticks from the best price"; 0 = Reg NMS Rule 612
    /// (0.01 at prices ≥ 1.00, 0.0001 below).
    pub tick_size: i64,
    /// The "median displayed order size" of a symbol is the median of the sizes of its last this many displayed
    /// orders (adds and replacement orders).
    pub median_window_orders: usize,
    /// Below this many observed orders the median is unknown and size-relative rules do not fire.
    pub median_min_orders: usize,
    /// The median is recomputed at most once per this many orders (cost/precision trade-off; deterministic).
    pub median_refresh_orders: u32,
    /// Count ITCH `P` (trades against non-displayed orders) as executions for the rules that need an aggressor
    /// side, with the side given by `hidden_trade_side`. (False: `P` never does. `P` always counts in traded
    /// volume and as a trade for order-to-trade ratios.)
    pub hidden_trades_as_executions: bool,
    /// How the side of a `P` is known (see [`HiddenTradeSide`]).
    pub hidden_trade_side: HiddenTradeSide,
}

/// How the resting side of an ITCH `P` (a trade against a non-displayed order) is known.
///
/// NASDAQ has sent `B` in the `P` message's buy/sell field for every `P` since 2014-07-14 (TotalView-ITCH 5.0
/// specification), so on real feeds that field tells nothing about the trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HiddenTradeSide {
    /// From the touch before the trade (the quote rule of Lee and Ready, 1991): at or above the best offer, a buyer
    /// lifted a hidden sell (aggressor buy); at or below the best bid, a seller hit a hidden buy (aggressor sell);
    /// strictly inside the spread, or with that side of the book empty, the aggressor is unknown and the trade is
    /// not an execution for side-dependent rules.
    #[default]
    Quote,
    /// The side sent in the message, taken as the resting hidden order's (aggressor opposite) — for feeds or
    /// generators that fill that field.
    Sent,
}

impl Default for GeneralConfig {
    fn default() -> Self {
        GeneralConfig {
            tick_size: 0,
            median_window_orders: 1000,
            median_min_orders: 5,
            median_refresh_orders: 16,
            hidden_trades_as_executions: true,
            hidden_trade_side: HiddenTradeSide::Quote,
        }
    }
}

/// Spoofing: a large order near the touch, fully cancelled quickly and never executed, while the opposite side trades.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpoofingConfig {
    /// Run this detector.
    pub enabled: bool,
    /// Order size ≥ this × the symbol's median displayed order size.
    pub size_multiple: f64,
    /// Placed at most this many ticks behind the best price on its side (at or through the best counts as 0).
    pub max_distance_ticks: u32,
    /// Fully cancelled within this long after placement.
    pub max_lifetime_ms: u64,
    /// At least this many executions against resting orders on the opposite side while it was live.
    pub min_opposite_executions: u32,
    /// Large orders tracked at once per symbol (the oldest is dropped when full; counted).
    pub max_tracked_per_symbol: usize,
}

impl Default for SpoofingConfig {
    fn default() -> Self {
        SpoofingConfig {
            enabled: true,
            size_multiple: 5.0,
            max_distance_ticks: 2,
            max_lifetime_ms: 2_000,
            min_opposite_executions: 1,
            max_tracked_per_symbol: 16,
        }
    }
}

/// Layering: several large orders at distinct levels on one side, an execution on the other side, then most of the
/// layered quantity cancelled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LayeringConfig {
    /// Run this detector.
    pub enabled: bool,
    /// At least this many orders in the layer.
    pub min_orders: usize,
    /// At at least this many distinct price levels.
    pub min_levels: usize,
    /// All placed within this span.
    pub placement_window_ms: u64,
    /// Each order ≥ this × the symbol's median displayed order size.
    pub size_multiple: f64,
    /// An execution against a resting order on the opposite side within this long after the last placement.
    pub execution_within_ms: u64,
    /// Then at least this fraction of the layered quantity cancelled ...
    pub cancel_fraction: f64,
    /// ... within this long after that execution.
    pub cancel_within_ms: u64,
    /// Group attributed orders (ITCH `F`) by MPID; anonymous orders form one group per symbol and side.
    pub group_by_mpid: bool,
    /// Large orders tracked at once per symbol (oldest dropped when full; counted).
    pub max_tracked_per_symbol: usize,
    /// Anonymous groups only (one per symbol and side, i.e. possibly many traders): the layer's cancels must be
    /// unlikely as chance. With `h` the symbol's trailing withdrawal hazard of qualifying orders (withdrawals per
    /// order-second over `anon_hazard_window_ms`) and `p = 1 − exp(−h · cancel_within)`, the binomial probability
    /// that at least as many of the layer's orders as were cancelled get withdrawn within the cancel window anyway
    /// must be ≤ this. 1.0 switches the test off.
    pub anon_max_chance: f64,
    /// Anonymous groups: time constant of the exponentially weighted withdrawal hazard (exposure counts from the
    /// symbol's first execution, so resting pre-open books do not dilute it).
    pub anon_hazard_window_ms: u64,
}

impl Default for LayeringConfig {
    fn default() -> Self {
        LayeringConfig {
            enabled: true,
            min_orders: 3,
            min_levels: 3,
            placement_window_ms: 1_000,
            size_multiple: 2.0,
            execution_within_ms: 5_000,
            cancel_fraction: 0.8,
            cancel_within_ms: 1_000,
            group_by_mpid: true,
            max_tracked_per_symbol: 128,
            anon_max_chance: 1e-4,
            anon_hazard_window_ms: 300_000,
        }
    }
}

/// Quote stuffing: a burst of order messages far above the symbol's own rate, with almost no trades.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuoteStuffingConfig {
    /// Run this detector.
    pub enabled: bool,
    /// Window length.
    pub window_ms: u64,
    /// At least this many add/cancel/delete/replace messages in the window.
    pub min_messages: u32,
    /// Trailing period the baseline rate is measured over (the period just before the current second).
    pub baseline_window_ms: u64,
    /// Window count ≥ this × the baseline rate scaled to the window length.
    pub baseline_multiple: f64,
    /// Order messages / max(trades, 1) in the window ≥ this.
    pub min_order_to_trade: f64,
}

impl Default for QuoteStuffingConfig {
    fn default() -> Self {
        QuoteStuffingConfig {
            enabled: true,
            window_ms: 50,
            min_messages: 500,
            baseline_window_ms: 60_000,
            baseline_multiple: 20.0,
            min_order_to_trade: 50.0,
        }
    }
}

/// Momentum ignition: a run of same-side aggressive executions moving the price, then a retracement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MomentumIgnitionConfig {
    /// Run this detector.
    pub enabled: bool,
    /// Ignition window.
    pub window_ms: u64,
    /// At least this many executions with the same aggressor side in the window.
    pub min_executions: usize,
    /// Moving the last price at least this many bps in the aggressor's direction.
    pub min_move_bps: f64,
    /// Then, within this long after the last ignition execution ...
    pub retrace_within_ms: u64,
    /// ... opposite-aggressor executions bring the price back at least this fraction of the move.
    pub retrace_fraction: f64,
    /// Execution records kept per symbol and side; past this many in a window the newest records are merged (the
    /// count and the start of a run stay exact, see the detector's docs).
    pub max_tracked_executions: usize,
}

impl Default for MomentumIgnitionConfig {
    fn default() -> Self {
        MomentumIgnitionConfig {
            enabled: true,
            window_ms: 2_000,
            min_executions: 10,
            min_move_bps: 30.0,
            retrace_within_ms: 10_000,
            retrace_fraction: 0.5,
            max_tracked_executions: 64,
        }
    }
}

/// Marking the close: large orders entered in the last minutes that are cancelled just before the close, or that
/// push the last price away from the recent VWAP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MarkingTheCloseConfig {
    /// Run this detector.
    pub enabled: bool,
    /// The close (feed clock time).
    pub close_time: ClockTime,
    /// Orders entered from this time on are watched.
    pub entry_from: ClockTime,
    /// Order size ≥ this × the symbol's median displayed order size.
    pub size_multiple: f64,
    /// Cancelled within this long before the close.
    pub cancel_window_ms: u64,
    /// VWAP window (trailing, ending at the aggressive order).
    pub vwap_window_ms: u64,
    /// Last price after the aggressive order ≥ this many bps from that VWAP, in the order's direction.
    pub min_deviation_bps: f64,
    /// Large orders watched at once per symbol (an order leaves when it is withdrawn or filled; a large order
    /// entered while all are taken is not watched, and counted in the stats' evicted orders).
    pub max_tracked_per_symbol: usize,
}

impl Default for MarkingTheCloseConfig {
    fn default() -> Self {
        MarkingTheCloseConfig {
            enabled: true,
            close_time: ClockTime::hms(16, 0, 0),
            entry_from: ClockTime::hms(15, 55, 0),
            size_multiple: 5.0,
            cancel_window_ms: 10_000,
            vwap_window_ms: 300_000,
            min_deviation_bps: 30.0,
            max_tracked_per_symbol: 32,
        }
    }
}

/// Coordinated cross-symbol buying: small buy orders that are marketable or improve the bid, in several symbols
/// within seconds, from one MPID (or, anonymously, where each symbol's rate of such orders is far above normal).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CoordinatedBuyingConfig {
    /// Run this detector.
    pub enabled: bool,
    /// A qualifying buy order has at most this many shares.
    pub max_shares: u32,
    /// In at least this many distinct symbols ...
    pub min_symbols: usize,
    /// ... within this window.
    pub window_ms: u64,
    /// Attributed orders from one MPID across symbols.
    pub by_mpid: bool,
    /// Anonymous variant: each symbol's qualifying buy rate in the window ≥ `anon_rate_multiple` × its baseline.
    pub anonymous: bool,
    /// Anonymous variant: rate multiple over the trailing baseline.
    pub anon_rate_multiple: f64,
    /// Anonymous variant: trailing baseline period (before the window).
    pub anon_baseline_window_ms: u64,
    /// Anonymous variant: a symbol counts only with at least this many qualifying buys in the window. A floor that
    /// keeps chance from looking unusual: with a baseline of 0.2 qualifying buys per window, 3 in one window happen
    /// by chance about once per 600 windows per symbol, so among ~50 such symbols three coincide within 3 s a few
    /// times a day; at 4 it is about once in 10 000 windows and coincidences of three vanish.
    pub anon_min_orders_per_symbol: u32,
    /// Anonymous variant: a symbol's baseline is the rate over the part of the baseline period since the first
    /// execution on the feed (continuous trading), and symbols are judged only once that history is at least this
    /// long (before it, e.g. in the first minute after the open, there is no baseline to be unusual against).
    pub anon_min_history_ms: u64,
    /// Anonymous variant: a symbol's count must also exceed the highest count of qualifying buys its sliding window
    /// reached during the baseline period (a burst of a size the symbol already produced in the last 5 minutes is
    /// not unusual, however low its mean rate).
    pub anon_exceed_trailing_peak: bool,
    /// Anonymous variant: a symbol's count must also be improbable under its own baseline: P(N ≥ count) for N
    /// Poisson with mean = baseline per window must be ≤ this (1.0 switches the test off). Qualifying buys come in
    /// bursts (spreads reopening after trades), so "10 × a small mean" alone is not unusual.
    pub anon_max_chance: f64,
    /// MPIDs tracked at once (fixed table; further MPIDs are counted and ignored until slots free up).
    pub max_mpids: usize,
}

impl Default for CoordinatedBuyingConfig {
    fn default() -> Self {
        CoordinatedBuyingConfig {
            enabled: true,
            max_shares: 200,
            min_symbols: 3,
            window_ms: 3_000,
            by_mpid: true,
            anonymous: true,
            anon_rate_multiple: 10.0,
            anon_baseline_window_ms: 300_000,
            anon_min_orders_per_symbol: 4,
            anon_min_history_ms: 60_000,
            anon_exceed_trailing_peak: true,
            anon_max_chance: 1e-5,
            max_mpids: 1024,
        }
    }
}

/// Excessive order-to-trade ratio over a sliding window, per symbol and per MPID within a symbol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrderToTradeConfig {
    /// Run this detector.
    pub enabled: bool,
    /// Sliding window.
    pub window_ms: u64,
    /// Order messages (adds, cancels, deletes, replaces) / max(trades, 1) ≥ this.
    pub max_ratio: f64,
    /// And at least this many order messages in the window (per symbol).
    pub min_order_messages: u32,
    /// Also per MPID within a symbol (attributed orders; trades = executions of that MPID's orders).
    pub per_mpid: bool,
    /// Per-MPID minimum order messages in the window.
    pub mpid_min_order_messages: u32,
    /// (symbol, MPID) pairs tracked at once (fixed table; idle pairs are recycled).
    pub max_mpid_keys: usize,
}

impl Default for OrderToTradeConfig {
    fn default() -> Self {
        OrderToTradeConfig {
            enabled: true,
            window_ms: 60_000,
            max_ratio: 200.0,
            min_order_messages: 2_000,
            per_mpid: true,
            mpid_min_order_messages: 1_000,
            max_mpid_keys: 4096,
        }
    }
}

/// Windowed features (see [`crate::features`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeaturesConfig {
    /// Length of the per-symbol sliding feature window.
    pub window_ms: u64,
    /// Tumbling feature records every this long (0 = none).
    pub tumbling_ms: u64,
}

impl Default for FeaturesConfig {
    fn default() -> Self {
        FeaturesConfig {
            window_ms: 1_000,
            tumbling_ms: 0,
        }
    }
}

/// The whole detector configuration (one TOML file; every section and key optional).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct DetectConfig {
    /// Shared settings.
    pub general: GeneralConfig,
    /// Windowed features.
    pub features: FeaturesConfig,
    /// Spoofing.
    pub spoofing: SpoofingConfig,
    /// Layering.
    pub layering: LayeringConfig,
    /// Quote stuffing.
    pub quote_stuffing: QuoteStuffingConfig,
    /// Momentum ignition.
    pub momentum_ignition: MomentumIgnitionConfig,
    /// Marking the close.
    pub marking_the_close: MarkingTheCloseConfig,
    /// Coordinated cross-symbol buying.
    pub coordinated_buying: CoordinatedBuyingConfig,
    /// Order-to-trade ratio.
    pub order_to_trade: OrderToTradeConfig,
}

fn check(
    ok: bool,
    key: &'static str,
    value: impl ToString,
    problem: &'static str,
) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            key,
            value: value.to_string(),
            problem,
        })
    }
}

const MAX_WINDOW_MS: u64 = 24 * 3600 * 1000;

impl DetectConfig {
    /// Parses TOML text and validates it.
    pub fn from_toml_str(text: &str) -> Result<DetectConfig, ConfigError> {
        let cfg: DetectConfig =
            toml::from_str(text).map_err(|source| ConfigError::Parse { path: None, source })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads, parses and validates a TOML file.
    pub fn from_file(path: &std::path::Path) -> Result<DetectConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let cfg: DetectConfig = toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: Some(path.display().to_string()),
            source,
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The configuration as TOML text (all keys, current values).
    pub fn to_toml_string(&self) -> String {
        toml::to_string(self).expect("config serialises")
    }

    /// Checks every value's range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let g = &self.general;
        check(
            g.tick_size >= 0,
            "general.tick_size",
            g.tick_size,
            "must be ≥ 0 (0 = Reg NMS)",
        )?;
        check(
            (1..=65_535).contains(&g.median_window_orders),
            "general.median_window_orders",
            g.median_window_orders,
            "must be 1 ..= 65535",
        )?;
        check(
            g.median_min_orders <= g.median_window_orders,
            "general.median_min_orders",
            g.median_min_orders,
            "must be ≤ median_window_orders",
        )?;
        check(
            g.median_refresh_orders >= 1,
            "general.median_refresh_orders",
            g.median_refresh_orders,
            "must be ≥ 1",
        )?;
        let win = |ms: u64, key: &'static str| {
            check(
                (1..=MAX_WINDOW_MS).contains(&ms),
                key,
                ms,
                "must be 1 ms ..= 24 h",
            )
        };
        let pos = |x: f64, key: &'static str| {
            check(
                x.is_finite() && x > 0.0,
                key,
                x,
                "must be a positive number",
            )
        };
        let frac =
            |x: f64, key: &'static str| check(x > 0.0 && x <= 1.0, key, x, "must be in (0, 1]");
        let cap = |n: usize, key: &'static str| {
            check((1..=4096).contains(&n), key, n, "must be 1 ..= 4096")
        };
        let f = &self.features;
        win(f.window_ms, "features.window_ms")?;
        check(
            f.tumbling_ms <= MAX_WINDOW_MS,
            "features.tumbling_ms",
            f.tumbling_ms,
            "must be ≤ 24 h",
        )?;
        let s = &self.spoofing;
        pos(s.size_multiple, "spoofing.size_multiple")?;
        win(s.max_lifetime_ms, "spoofing.max_lifetime_ms")?;
        cap(s.max_tracked_per_symbol, "spoofing.max_tracked_per_symbol")?;
        let l = &self.layering;
        check(
            l.min_orders >= 1,
            "layering.min_orders",
            l.min_orders,
            "must be ≥ 1",
        )?;
        check(
            l.min_levels >= 1,
            "layering.min_levels",
            l.min_levels,
            "must be ≥ 1",
        )?;
        check(
            l.min_orders <= crate::alert::MAX_ORDERS.max(l.max_tracked_per_symbol),
            "layering.min_orders",
            l.min_orders,
            "must be ≤ max_tracked_per_symbol",
        )?;
        win(l.placement_window_ms, "layering.placement_window_ms")?;
        win(l.execution_within_ms, "layering.execution_within_ms")?;
        win(l.cancel_within_ms, "layering.cancel_within_ms")?;
        pos(l.size_multiple, "layering.size_multiple")?;
        frac(l.cancel_fraction, "layering.cancel_fraction")?;
        frac(l.anon_max_chance, "layering.anon_max_chance")?;
        win(l.anon_hazard_window_ms, "layering.anon_hazard_window_ms")?;
        check(
            (1..=1024).contains(&l.max_tracked_per_symbol),
            "layering.max_tracked_per_symbol",
            l.max_tracked_per_symbol,
            "must be 1 ..= 1024",
        )?;
        let q = &self.quote_stuffing;
        win(q.window_ms, "quote_stuffing.window_ms")?;
        win(q.baseline_window_ms, "quote_stuffing.baseline_window_ms")?;
        check(
            q.min_messages >= 1,
            "quote_stuffing.min_messages",
            q.min_messages,
            "must be ≥ 1",
        )?;
        check(
            q.baseline_multiple >= 0.0,
            "quote_stuffing.baseline_multiple",
            q.baseline_multiple,
            "must be ≥ 0",
        )?;
        check(
            q.min_order_to_trade >= 0.0,
            "quote_stuffing.min_order_to_trade",
            q.min_order_to_trade,
            "must be ≥ 0",
        )?;
        let m = &self.momentum_ignition;
        win(m.window_ms, "momentum_ignition.window_ms")?;
        win(m.retrace_within_ms, "momentum_ignition.retrace_within_ms")?;
        check(
            m.min_executions >= 1,
            "momentum_ignition.min_executions",
            m.min_executions,
            "must be ≥ 1",
        )?;
        pos(m.min_move_bps, "momentum_ignition.min_move_bps")?;
        frac(m.retrace_fraction, "momentum_ignition.retrace_fraction")?;
        check(
            m.max_tracked_executions >= m.min_executions && m.max_tracked_executions <= 4096,
            "momentum_ignition.max_tracked_executions",
            m.max_tracked_executions,
            "must be ≥ min_executions and ≤ 4096",
        )?;
        let c = &self.marking_the_close;
        check(
            c.entry_from < c.close_time,
            "marking_the_close.entry_from",
            c.entry_from,
            "must be before close_time",
        )?;
        pos(c.size_multiple, "marking_the_close.size_multiple")?;
        win(c.cancel_window_ms, "marking_the_close.cancel_window_ms")?;
        win(c.vwap_window_ms, "marking_the_close.vwap_window_ms")?;
        pos(c.min_deviation_bps, "marking_the_close.min_deviation_bps")?;
        cap(
            c.max_tracked_per_symbol,
            "marking_the_close.max_tracked_per_symbol",
        )?;
        let b = &self.coordinated_buying;
        check(
            b.min_symbols >= 2,
            "coordinated_buying.min_symbols",
            b.min_symbols,
            "must be ≥ 2",
        )?;
        check(
            b.min_symbols <= 16,
            "coordinated_buying.min_symbols",
            b.min_symbols,
            "must be ≤ 16",
        )?;
        win(b.window_ms, "coordinated_buying.window_ms")?;
        win(
            b.anon_baseline_window_ms,
            "coordinated_buying.anon_baseline_window_ms",
        )?;
        check(
            b.anon_rate_multiple >= 0.0,
            "coordinated_buying.anon_rate_multiple",
            b.anon_rate_multiple,
            "must be ≥ 0",
        )?;
        frac(b.anon_max_chance, "coordinated_buying.anon_max_chance")?;
        check(
            b.anon_min_history_ms <= MAX_WINDOW_MS,
            "coordinated_buying.anon_min_history_ms",
            b.anon_min_history_ms,
            "must be ≤ 24 h",
        )?;
        check(
            (1..=65_536).contains(&b.max_mpids),
            "coordinated_buying.max_mpids",
            b.max_mpids,
            "must be 1 ..= 65536",
        )?;
        let o = &self.order_to_trade;
        win(o.window_ms, "order_to_trade.window_ms")?;
        pos(o.max_ratio, "order_to_trade.max_ratio")?;
        check(
            (1..=1 << 20).contains(&o.max_mpid_keys),
            "order_to_trade.max_mpid_keys",
            o.max_mpid_keys,
            "must be 1 ..= 1048576",
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_issue_defaults() {
        let c = DetectConfig::default();
        assert_eq!(c.spoofing.size_multiple, 5.0);
        assert_eq!(c.spoofing.max_distance_ticks, 2);
        assert_eq!(c.spoofing.max_lifetime_ms, 2000);
        assert_eq!(c.layering.min_levels, 3);
        assert_eq!(c.layering.cancel_fraction, 0.8);
        assert_eq!(c.quote_stuffing.window_ms, 50);
        assert_eq!(c.quote_stuffing.min_messages, 500);
        assert_eq!(c.momentum_ignition.min_executions, 10);
        assert_eq!(c.marking_the_close.close_time.0, 57_600 * NS_PER_S);
        assert_eq!(c.marking_the_close.entry_from.0, 57_300 * NS_PER_S);
        assert_eq!(c.coordinated_buying.max_shares, 200);
        c.validate().unwrap();
    }

    #[test]
    fn toml_round_trip_and_partial_override() {
        let c = DetectConfig::default();
        let text = c.to_toml_string();
        assert_eq!(DetectConfig::from_toml_str(&text).unwrap(), c);
        let c2 = DetectConfig::from_toml_str(
            "[spoofing]\nsize_multiple = 8.0\n[marking_the_close]\nclose_time = \"13:00:00\"\nentry_from = \"12:55:00\"\n",
        )
        .unwrap();
        assert_eq!(c2.spoofing.size_multiple, 8.0);
        assert_eq!(c2.spoofing.max_lifetime_ms, 2000);
        assert_eq!(c2.marking_the_close.close_time, ClockTime::hms(13, 0, 0));
    }

    #[test]
    fn errors_name_the_problem() {
        let e = DetectConfig::from_toml_str("[spoofing]\nsize_multipel = 3\n").unwrap_err();
        assert!(e.to_string().contains("size_multipel"), "{e}");
        let e = DetectConfig::from_toml_str("[layering]\ncancel_fraction = 1.5\n").unwrap_err();
        assert!(e.to_string().contains("layering.cancel_fraction"), "{e}");
        let e = DetectConfig::from_toml_str("[marking_the_close]\nclose_time = \"25:61:00\"\n")
            .unwrap_err();
        assert!(e.to_string().contains("invalid clock time"), "{e}");
    }

    #[test]
    fn clock_time() {
        assert_eq!(
            ClockTime::parse("16:00:00"),
            Some(ClockTime(57_600 * NS_PER_S))
        );
        assert_eq!(
            ClockTime::parse("09:30:00.5"),
            Some(ClockTime(34_200 * NS_PER_S + 500_000_000))
        );
        assert_eq!(ClockTime::parse("9:30"), None);
        assert_eq!(ClockTime::parse("09:30:00.").map(|c| c.0), None);
        assert_eq!(
            ClockTime(34_200 * NS_PER_S + 500_000_000).to_string(),
            "09:30:00.5"
        );
    }
}
