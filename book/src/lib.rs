//! tickwatch book stage: order-by-order (L3) and price-level (L2) books for every symbol.
//!
//! # What this crate provides
//! - [`Books`]: every book of one feed. Input API in plain integers ([`Books::add`], [`Books::execute`],
//!   [`Books::execute_with_price`], [`Books::cancel`], [`Books::delete`], [`Books::replace`], [`Books::modify`],
//!   [`Books::level_update`], [`Books::quote`], trades, status, directory) and feed adapters
//!   ([`Books::apply_itch`] for NASDAQ ITCH 5.0, [`Books::apply_iex`] for IEX TOPS/DEEP/DEEP+,
//!   [`Books::apply_feed`] for either). Each applied message yields one [`BookEvent`]; the `*_into` variants write
//!   it into a caller's slot instead of returning it.
//! - Queries: [`Books::bbo`], [`Books::depth`] (levels best first, with order counts), [`Books::queue`] (the FIFO
//!   queue of one level), [`Books::order`], [`Books::snapshot`] / [`Books::snapshot_into`] / [`Books::snapshots`]
//!   ([`BookSnapshot`]: depth N of one book or all, plain data for `publish`), [`Books::integrity`],
//!   [`Books::memory`].
//! - [`event::BookEvent`]: the fixed-size (128-byte) `Copy` record every applied feed message turns into; it carries
//!   the change, the order's remembered attributes (MPID, entry time and price) and the touch after the change.
//! - [`symbol::SymbolDirectory`]: book index (ITCH stock locate / interned IEX symbol) ↔ [`symbol::Symbol`].
//! - [`integrity::Integrity`]: counters of feed/book disagreements (unknown orders, duplicate adds,
//!   over-executions, crossed books). Bad input is counted, never a panic; crossed books are reported, never repaired.
//! - [`replay::replay`]: a whole capture into a `Books` (the `tickwatch book` loop).
//!
//! # Units
//! Prices are integer ticks of 1/10 000 ([`event::PRICE_SCALE`]); quantities are shares; timestamps are the feed's
//! nanoseconds. No floating point anywhere in the book.
//!
//! # Threading, blocking, allocation
//! - Single-threaded by design: one book thread (or one per shard of book indices) owns a `Books` and emits events
//!   into a ring. `Books` is `Send`, not shared. Nothing blocks, locks, or performs I/O (except [`replay::replay`],
//!   which only reads the already-opened capture's bytes).
//! - [`Books::new`] reserves, as zeroed virtual memory committed only when touched: the order-reference directory
//!   (64 MiB for references below 2^32), a slab of up to 2^20 reference pages of 1 KiB, and a pool of 4 Mi order
//!   nodes of 48 bytes (see [`StoreConfig`]). After that, applying a message allocates nothing unless a high-water
//!   mark is passed: more live orders than the pool holds (it doubles), a side deeper than its reserved levels (the
//!   vector doubles), a new book index (the book table grows), a new IEX symbol (interned once), or references that
//!   spill into the overflow map. `tests/alloc.rs` proves zero allocations over 580k messages in steady state.
//! - Memory for a full NASDAQ day is bounded: the touched part of the directory (4 bytes per 256 references up to
//!   the highest reference seen), at most `max_pages` KiB of reference pages (pages are recycled when their last
//!   order leaves), 48 bytes per simultaneously live order, 32 + 8 bytes per price level; [`Books::memory`]
//!   reports it (`tickwatch book --stats`).
//!
//! ```
//! use book::{Books, Side, Stamp, StoreConfig, Symbol};
//! let mut books = Books::new(StoreConfig::small());
//! books.directory(Stamp::new(0, 1), 7, Symbol::new("AAPL"), b'Q');
//! let ev = books.add(Stamp::new(10, 2), 7, 1001, Side::Buy, 1_500_000, 100, [0; 4]);
//! assert!(ev.bbo_changed() && ev.bid_price == 1_500_000 && ev.bid_qty == 100);
//! let ev = books.execute(Stamp::new(20, 3), 7, 1001, 40, 555);
//! assert_eq!((ev.remaining, ev.order_ts_ns, ev.symbol.as_str()), (60, 10, "AAPL"));
//! assert_eq!(books.bbo(7).bid.unwrap().qty, 60);
//! ```
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
