//! IEX-TP transport and the IEX TOPS 1.6, DEEP 1.0 and DEEP+ 1.0 market-data protocols.
//!
//! # Layers
//!
//! * [`transport`]: the 40-byte IEX-TP header ([`TransportHeader`]) and the message blocks that follow it
//!   (2-byte little-endian length + message). [`Packet::parse`] validates a UDP payload, [`Packet::messages`]
//!   walks its blocks zero-copy and reports truncation and framing errors as values.
//! * [`message`]: one zerocopy view per message type of every supported protocol (`repr(C)`, little-endian field
//!   types, `Unaligned`, so a view is a plain reference into the packet) and the [`Message`] enum returned by
//!   [`decode`]. Prices are `i64` with 4 implied decimals; timestamps are `i64` nanoseconds since the Unix epoch.
//! * [`sequence`]: per-stream sequence tracking ([`SequenceTracker`]): gaps, duplicates, session changes,
//!   sequence restarts, heartbeats and truncated packets, as counters and as a per-packet verdict.
//! * [`handler`]: [`IexHandler`], the per-datagram pipeline step shared by capture replay and the live receiver:
//!   parse, sequence, decode, count by type, hand each message to a callback; truncation and duplicate policy.
//! * [`fields`]: the field-by-field rendering used by `tickwatch dump` and the golden tests (Open-Markets-Initiative
//!   dissector field names, the oracle's value formats). Cold path; it does not allocate either.
//!
//! # Contract
//!
//! * **No allocation, no I/O, no locks, no panics** in `transport`, `message` and `sequence`: every function takes
//!   a byte slice (and, for the tracker, `&mut self` with state preallocated at construction) and returns borrowed
//!   views, small `Copy` verdicts or `Copy` error enums. Any input, including random bytes, yields either a value
//!   or an error; fuzzing (`feed/fuzz`, target `iex_tp`) checks that.
//! * **Thread safety**: views are `Sync` references into the caller's buffer; a [`SequenceTracker`] is owned by one
//!   thread (it is `Send`, not shared).
//! * **Forward compatibility**: IEX may grow a message at its end. A message longer than its spec length decodes
//!   (the view covers the spec bytes, the rest is ignored and visible through [`Message::bytes`]); a shorter one is
//!   [`DecodeError::TooShort`]. Unknown message types are [`DecodeError::UnknownType`] and are skipped by length.
//! * **Protocol selection**: the message protocol id of the transport header selects the protocol
//!   ([`Protocol::from_id`]): `0x8003` TOPS, `0x8004` DEEP, `0x8005` DEEP+. TOPS 1.5 and 1.6 share the wire format;
//!   1.6 defines sale-condition bit `0x08` (single-price cross) that 1.5 left unused, so TOPS 1.5 data decodes
//!   correctly as 1.6.
//!
//! ```
//! use feed::iex::{decode, Message, Packet, Protocol};
//!
//! # let datagram = feed::iex::transport::example_packet();
//! let packet = Packet::parse(&datagram).expect("an IEX-TP packet");
//! let protocol = packet.header().protocol().expect("TOPS, DEEP or DEEP+");
//! for block in packet.messages() {
//!     let Ok(block) = block else { break }; // framing error or truncation: reported, never a panic
//!     match decode(protocol, block.bytes) {
//!         Ok(Message::PriceLevelUpdate(update)) => {
//!             let _ = (update.side(), update.price(), update.size(), update.ends_batch());
//!         }
//!         Ok(other) => { let _ = other.timestamp(); }
//!         Err(_unknown_or_short) => {} // counted by the caller
//!     }
//! }
//! # assert_eq!(protocol, Protocol::Deep);
//! ```

pub mod fields;
pub mod handler;
pub mod message;
pub mod sequence;
pub mod transport;

pub use handler::{IexHandler, IexStats, MessageMeta, Outcome};
pub use message::{decode, DecodeError, Message, SaleConditions, Side};
pub use sequence::{SequenceStats, SequenceTracker, Verdict};
pub use transport::{Block, BlockError, FrameError, Packet, TransportHeader};

/// An IEX market-data protocol carried in IEX-TP, identified by the header's message protocol id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// TOPS 1.6 (top of book and last sale), message protocol id `0x8003`. TOPS 1.5 uses the same id and layouts.
    Tops,
    /// DEEP 1.0 (aggregated price levels), message protocol id `0x8004`.
    Deep,
    /// DEEP+ 1.0 (order by order), message protocol id `0x8005`.
    DeepPlus,
}

impl Protocol {
    /// Every supported protocol.
    pub const ALL: [Protocol; 3] = [Protocol::Tops, Protocol::Deep, Protocol::DeepPlus];

    /// The IEX-TP message protocol id of this protocol.
    #[inline]
    pub const fn id(self) -> u16 {
        match self {
            Protocol::Tops => 0x8003,
            Protocol::Deep => 0x8004,
            Protocol::DeepPlus => 0x8005,
        }
    }

    /// The protocol with this IEX-TP message protocol id, if it is one we decode.
    #[inline]
    pub const fn from_id(id: u16) -> Option<Protocol> {
        match id {
            0x8003 => Some(Protocol::Tops),
            0x8004 => Some(Protocol::Deep),
            0x8005 => Some(Protocol::DeepPlus),
            _ => None,
        }
    }

    /// Short human-readable name: `TOPS`, `DEEP` or `DEEP+`.
    pub const fn name(self) -> &'static str {
        match self {
            Protocol::Tops => "TOPS",
            Protocol::Deep => "DEEP",
            Protocol::DeepPlus => "DEEP+",
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Removes trailing spaces and NUL bytes from a fixed-width, left-justified alpha field (symbols, reasons).
#[inline]
pub fn trim_alpha(field: &[u8]) -> &[u8] {
    let mut end = field.len();
    while end > 0 && matches!(field[end - 1], b' ' | 0) {
        end -= 1;
    }
    &field[..end]
}
