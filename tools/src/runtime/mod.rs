//! The runtime: pinned threads joined by SPSC rings, running the stages `receive → book → detect → publish`.
//!
//! # Threading contract
//! - All rings, the packet pool and the histograms are allocated at start-up. After that the hot threads
//!   (receive, book, detect) do not allocate, take no locks and make no syscalls other than receiving packets (and,
//!   with the `park` wait strategy, futex waits when idle). The publish thread allocates to serialise alerts.
//! - Packets travel as handles: slices of the memory-mapped capture in replay, slot indices of the
//!   [`pool::PacketPool`] live; the book stage decodes the bytes where they landed. Book events and alerts travel as
//!   fixed-size `Copy` values.
//! - Each ring has exactly one producer thread and one consumer thread ([`ring`]). A full ring never loses data
//!   silently: replay and internal hops wait (lossless); the live receive stage waits `drop_after_us`, then drops the
//!   datagram, counts it and records its sequence range (see [`receive`]).
//! - Each thread records its own latency histograms and counters ([`latency`]); a reporter thread merges them,
//!   writes the interval log, serves the Prometheus endpoint ([`metrics`]) and drives the progress bar.
//! - Shutdown (`SIGINT`/`SIGTERM` or end of input) stops the source; every downstream thread drains its input ring
//!   before it exits, so everything received is processed and flushed.
//!
//! The layout (threads, cores, wait strategies, ring sizes, shards) comes from a TOML file ([`topology`]).

pub mod affinity;
pub mod books_csv;
pub mod clock;
pub mod gaps;
pub mod latency;
pub mod metrics;
pub mod net;
pub mod pipeline;
pub mod pool;
pub mod receive;
pub mod reporter;
pub mod ring;
pub mod session;
pub mod stage;
pub mod topology;
pub mod wait;
pub mod wiring;
