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
//!
//! # Truncation policy (ITCH/MoldUDP64 and IEX-TP alike)
//! - A datagram **cut by the capture** — the pcap/pcapng record holds fewer bytes than the packet had (snap length,
//!   `caplen < len`) or the file ends inside the record, i.e. the UDP payload is shorter than its UDP/IP headers
//!   announce — is counted once in `truncated` and **none of its messages is delivered**, not even the complete ones
//!   before the cut: they are counted in `truncated_complete_messages`, the cut and absent ones in
//!   `truncated_lost_messages`. Its sequence numbers that had not been received before are reported as a **gap**
//!   by the sequencer ([`moldudp64::Sequencer::on_lost_packet`], [`iex::SequenceTracker::observe_truncated`]), so
//!   a live consumer requests them again like any other loss. Why withhold rather than keep the complete prefix:
//!   a cut record is evidence the capture lost data, the sequencer can express "these numbers are missing" only
//!   for whole packets, a book builder must not apply half a packet's batch (IEX marks batch ends on the last
//!   message), and it is what tshark and the oracle do (they drop the cut record; DEEP10's per-type counts equal
//!   the oracle's only this way).
//! - A record cut only after the datagram's last byte (e.g. a pcapng block missing its trailing length) still counts
//!   in `truncated`, but its datagram is intact and delivered.
//! - An **intact** datagram whose internal framing is broken (a block running past the end of the datagram, fewer
//!   blocks than the header's count, an IEX-TP payload shorter than its header's payload length, bytes after the
//!   last block) delivers the complete messages before the break and counts the packet as `malformed`. There the
//!   bytes are what the sender sent; nothing was lost in capture.
//! - Messages of a wrong length for their type are skipped and counted `malformed`; unknown types `unknown`.
//!
//! # Fuzzing
//! `feed/fuzz` (cargo-fuzz, own workspace, nightly) has four targets: `itch_decode` (every ITCH 5.0 view and
//! field accessor), `moldudp64` (header, block walk, sequencer), `capture` (pcap / pcapng / raw readers, link
//! layers, UDP extraction and the whole analyzer) and `iex_tp` (IEX-TP framing, TOPS / DEEP / DEEP+ decoding,
//! field rendering, sequence tracking). Runs and findings are recorded in `feed/fuzz/README.md`.
#![deny(missing_docs)]

pub mod analyze;
pub mod capture;
pub mod encode;
pub mod iex;
pub mod itch;
pub mod moldudp64;
pub mod stats;
pub mod testdata;
