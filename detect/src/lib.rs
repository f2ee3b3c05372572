//! tickwatch detect stage: windowed features and market-manipulation detectors over book events.
//!
//! # What this crate provides
//! - [`DetectorSet`]: the seven built-in detectors (`spoofing`, `layering`, `quote_stuffing`, `momentum_ignition`,
//!   `marking_the_close`, `coordinated_buying`, `order_to_trade`), configured by [`DetectConfig`] (TOML; every
//!   parameter has the issue's default), fed one [`book::BookEvent`] at a time.
//! - [`Alert`]: the fixed-size `Copy` alert record with its evidence in fixed arrays, and its JSON-lines
//!   serialisation [`Alert::write_json`] (schema: `detect/schema/alert.schema.json`).
//! - [`features`]: per-symbol sliding and tumbling windows (message rate, adds/cancels/executions, volume, notional,
//!   VWAP, order-to-trade, cancel rate, median order size, realised move), readable as [`FeatureSnapshot`]s.
//! - [`window`]: the event-time window primitives (bucketed sliding windows with O(1) amortised update, tumbling
//!   windows, a streaming median).
//!
//! # Definitions and sources
//! Each detector module documents its exact definition, its parameters and defaults, the public definition it
//! encodes — EU Delegated Regulation (EU) 2016/522, Annex II (indicators of manipulative behaviour under MAR
//! Art. 12); FINRA Rule 5210, Supplementary Material .03 (non-bona-fide quotations: spoofing, layering, marking the
//! close); CME Rule 575 (disruptive practices: orders entered with intent to cancel, to overload systems, to
//! create false impressions) — and what its alert's `evidence` and `score` contain. `detect/README.md` summarises
//! them in one table.
//!
//! ITCH semantics the detectors rely on: time is ns since midnight (the close, 16:00:00, is 57 600 × 10⁹ ns);
//! `E`/`C` execute a resting order, so the aggressor is the opposite side; `P` (a trade against a non-displayed
//! order) takes its side from the touch before it by default (NASDAQ sends `B` in every `P`: see
//! [`config::HiddenTradeSide`]); `Q` is a cross and has no aggressor; `U` replaces an order (the old one is withdrawn, a new
//! one with a new reference is entered).
//!
//! # Threading and allocation contract
//! A [`DetectorSet`] is owned by one thread (the detect thread of the runtime) and is fed in feed order. It does not
//! block, lock, or perform I/O. It allocates its global tables at construction and each symbol's state when that
//! symbol is first seen (or at [`DetectorSet::reserve_symbol`]); after that, processing an event allocates nothing,
//! including when an alert is emitted (the alert is handed by reference to a callback; copy it into a ring).
//!
//! # Example
//! ```
//! use book::{BookEvent, EventKind, Side, Symbol};
//! use detect::{Alert, DetectorSet};
//!
//! let mut set = DetectorSet::from_config("[spoofing]\nsize_multiple = 4.0\n").unwrap();
//! let mut ev = BookEvent::EMPTY;
//! ev.kind = EventKind::Add;
//! ev.book = 1;
//! ev.symbol = Symbol::new("ACME");
//! ev.side = Side::Buy;
//! ev.price = 100_000;
//! ev.qty = 100;
//! ev.order_ref = 1;
//! let mut alerts: Vec<Alert> = Vec::new();
//! set.on_event(&ev, &mut |a: &Alert| alerts.push(*a));
//! set.finish(&mut |a: &Alert| alerts.push(*a));
//! assert!(alerts.is_empty());
//! let mut line = Vec::new();
//! for a in &alerts {
//!     a.write_json_line(&mut line, None);
//! }
//! ```
#![deny(missing_docs)]
// One audited exception: the cache hint in `prefetch` (a `std::arch` intrinsic).
#![deny(unsafe_code)]

pub mod alert;
pub mod cep;
pub mod config;
mod ctx;
mod detectors;
pub mod enrich;
pub mod features;
mod json;
mod prefetch;
mod refindex;
pub mod score;
mod set;
pub mod window;

pub use alert::{Alert, Detector, DetectorKind, Evidence, EvidenceOrder, Figure, Value};
pub use config::{ConfigError, DetectConfig};
pub use features::{FeatureCounts, FeatureSnapshot};
pub use set::{DetectStats, DetectorSet};
