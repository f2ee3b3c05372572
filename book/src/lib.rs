//! tickwatch book stage: order-by-order (L3) and price-level (L2) books for every symbol.
//!
//! # What this crate provides
//! - [`event::BookEvent`]: the fixed-size (128-byte) `Copy` record every applied feed message turns into; it carries
//!   the change, the order's remembered attributes (MPID, entry time and price) and the touch after the change.
//! - [`symbol::SymbolDirectory`]: book index (ITCH stock locate / interned IEX symbol) ↔ [`symbol::Symbol`].
//! - [`integrity::Integrity`]: counters of feed/book disagreements (unknown orders, duplicate adds,
//!   over-executions, crossed books). Bad input is counted, never a panic; crossed books are reported, never repaired.
//!
//! # Units
//! Prices are integer ticks of 1/10 000 ([`event::PRICE_SCALE`]); quantities are shares; timestamps are the feed's
//! nanoseconds. No floating point anywhere in the book.
//!
//! # Threading and allocation contract
//! Everything here is single-threaded by design: one book thread (or one per shard of locates) owns its books and
//! emits `BookEvent`s into a ring. Nothing blocks, locks or performs I/O.
#![deny(missing_docs)]

pub mod books;
pub mod event;
pub mod iex;
pub mod integrity;
pub mod itch;
pub mod level;
pub mod orders;
pub mod replay;
pub mod snapshot;
pub mod symbol;

pub use books::{Books, MemoryReport, Stamp};
pub use event::{BookEvent, EventKind, Price, Side, PRICE_SCALE};
pub use integrity::Integrity;
pub use orders::StoreConfig;
pub use snapshot::{BookSnapshot, FmtPrice, LevelInfo, OrderInfo, TouchInfo};
pub use symbol::{Symbol, SymbolDirectory};
