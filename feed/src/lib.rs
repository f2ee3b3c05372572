//! tickwatch feed stage: capture sources and zero-copy decoders.
//!
//! # Layers
//! - [`capture`]: pcap / pcapng / raw ITCH files (mmap, or gzip inflated once), frames as `&[u8]` into the file,
//!   Ethernet (802.1Q/QinQ), Linux SLL/SLL2, raw IPv4 and loopback link layers, IPv4/UDP extraction with counted
//!   skip reasons and optional port / group filters.
//! - [`moldudp64`]: MoldUDP64 header view, block iterator, per-session [`moldudp64::Sequencer`] (gaps, duplicates,
//!   partial overlaps, session changes, end of session; sequence 0 = unsequenced).
//! - [`itch`]: NASDAQ TotalView-ITCH 5.0 zerocopy views of all 23 message types and [`itch::decode`].
//! - [`iex`]: IEX-TP transport and IEX TOPS / DEEP / DEEP+ decoding.
//! - [`analyze`]: per-datagram protocol detection, sequencing and decoding into a callback, filling
//!   [`stats::FeedStats`] (the JSON form scripts read from `tickwatch stats --json`).
//! - [`encode`]: the inverse: ITCH encoder, MoldUDP64 packetiser, raw / pcap / pcapng writers (synthetic feeds, tests).
//!
//! # Contract
//! - Decoders do no I/O and never allocate: they take `&[u8]` and return views borrowing it, or small `Copy` errors.
//!   The only allocations are at open time (a gzip file's inflated bytes) and in the writers' scratch buffers.
//! - Bad input never panics: damage inside a readable capture is counted ([`stats::FeedStats`]); only files that
//!   cannot be read or identified are errors ([`capture::CaptureError`], naming the file and byte offset). Fuzz
//!   targets in `feed/fuzz` check this for the ITCH decoder, MoldUDP64 framing and the capture readers.
//! - Everything is single-threaded state owned by its caller (`Send`, not shared); there are no locks.
//! - `unsafe`: the read-only `mmap` in [`capture::Capture::open`], and in [`itch::decode`] the cast of a
//!   length-checked `&[u8]` to a view (`FromBytes + Unaligned + Immutable`, size asserted at compile time), which
//!   lets the type switch compile to a table lookup instead of a mispredicted jump per message.
#![deny(missing_docs)]

pub mod analyze;
pub mod capture;
pub mod encode;
pub mod iex;
pub mod itch;
pub mod moldudp64;
pub mod stats;
pub mod testdata;
