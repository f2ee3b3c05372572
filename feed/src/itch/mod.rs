//! NASDAQ TotalView-ITCH 5.0: zero-copy views of every message type and a decoder.
//!
//! # Contract
//! - [`decode`] takes the bytes of **one** message (type byte first, no length prefix) and returns a [`Message`]
//!   holding a reference into those bytes. It does not allocate, copy or panic; it costs one table lookup, one
//!   length comparison and one branch on the type. (Its only `unsafe` is the cast of the length-checked bytes to the
//!   view; see the SAFETY comment there.)
//! - A message is accepted only if its length equals the spec length of its type ([`SPEC_LEN`]); anything else is a
//!   [`DecodeError`] (a small `Copy` value) so the caller can skip the message by its framing length and count it.
//! - Every view is `#[repr(C)]` with only unaligned big-endian field types (`zerocopy::byteorder::big_endian`), so a
//!   view is valid at any address and for any byte content; its size equals the spec length (checked by a test).
//! - Prices stay integers: [`Price4`] (4 implied decimals) and [`Price8`] (8 implied decimals, MWCB levels only).
//!   Timestamps are 48-bit nanoseconds since midnight ([`Timestamp`]). Alpha fields are [`Alpha<N>`] byte arrays,
//!   trimmed of the right padding only when read through [`Alpha::trimmed`] / [`Alpha::as_str`].
//!
//! ```
//! use feed::itch::{decode, Message};
//! // An Order Delete (`D`): type, locate 7, tracking 0, timestamp 1 ns, order ref 42.
//! let bytes = [b'D', 0, 7, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 42];
//! match decode(&bytes).unwrap() {
//!     Message::OrderDelete(d) => {
//!         assert_eq!(d.header.stock_locate.get(), 7);
//!         assert_eq!(d.order_ref(), 42);
//!     }
//!     other => panic!("unexpected {other:?}"),
//! }
//! ```

mod spec;
pub(crate) use spec::for_each_itch_message;

use core::fmt;

pub use zerocopy::byteorder::big_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// The 11-byte header shared by every ITCH 5.0 message.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, PartialEq, Eq, Hash, Debug,
)]
#[repr(C)]
pub struct Header {
    /// Message type byte (`b'A'`, `b'S'`, ...).
    pub msg_type: u8,
    /// Stock locate code: a small integer identifying the security for the day (0 for market-wide messages).
    pub stock_locate: U16,
    /// Nasdaq internal tracking number.
    pub tracking_number: U16,
    /// Nanoseconds since midnight, 6 bytes big-endian.
    pub timestamp: Timestamp,
}

impl Header {
    /// Builds a header (timestamp truncated to 48 bits).
    pub fn new(msg_type: u8, stock_locate: u16, tracking_number: u16, timestamp_ns: u64) -> Self {
        Header {
            msg_type,
            stock_locate: U16::new(stock_locate),
            tracking_number: U16::new(tracking_number),
            timestamp: Timestamp::new(timestamp_ns),
        }
    }
}

/// A 48-bit big-endian timestamp: nanoseconds since midnight.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, PartialEq, Eq, Hash,
)]
#[repr(transparent)]
pub struct Timestamp(pub [u8; 6]);

impl Timestamp {
    /// Largest representable value (2^48 - 1 ns, about 78 hours).
    pub const MAX: u64 = (1 << 48) - 1;

    /// Nanoseconds since midnight.
    #[inline(always)]
    pub fn get(self) -> u64 {
        let b = self.0;
        u64::from_be_bytes([0, 0, b[0], b[1], b[2], b[3], b[4], b[5]])
    }

    /// From nanoseconds since midnight; bits above 48 are dropped.
    #[inline]
    pub fn new(ns: u64) -> Self {
        let b = ns.to_be_bytes();
        Timestamp([b[2], b[3], b[4], b[5], b[6], b[7]])
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({})", self.get())
    }
}

/// A price with 4 implied decimals (`$1.2345` is `12345`), 4 bytes big-endian.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, PartialEq, Eq, Hash, Debug,
)]
#[repr(transparent)]
pub struct Price4(pub U32);

impl Price4 {
    /// The integer on the wire (price × 10⁴).
    #[inline(always)]
    pub fn get(self) -> u32 {
        self.0.get()
    }
    /// From the wire integer.
    #[inline]
    pub fn new(raw: u32) -> Self {
        Price4(U32::new(raw))
    }
}

/// A price with 8 implied decimals (MWCB decline levels), 8 bytes big-endian.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, PartialEq, Eq, Hash, Debug,
)]
#[repr(transparent)]
pub struct Price8(pub U64);

impl Price8 {
    /// The integer on the wire (price × 10⁸).
    #[inline(always)]
    pub fn get(self) -> u64 {
        self.0.get()
    }
    /// From the wire integer.
    #[inline]
    pub fn new(raw: u64) -> Self {
        Price8(U64::new(raw))
    }
}

/// An N-byte alpha field: left-justified, padded on the right with spaces.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, PartialEq, Eq, Hash,
)]
#[repr(transparent)]
pub struct Alpha<const N: usize>(pub [u8; N]);

impl<const N: usize> Alpha<N> {
    /// Pads `value` on the right with spaces; `None` if it is longer than `N` bytes.
    pub fn new(value: &[u8]) -> Option<Self> {
        if value.len() > N {
            return None;
        }
        let mut out = [b' '; N];
        out[..value.len()].copy_from_slice(value);
        Some(Alpha(out))
    }

    /// The raw bytes, padding included.
    #[inline(always)]
    pub fn raw(&self) -> &[u8; N] {
        &self.0
    }

    /// The bytes without the trailing space padding. No allocation.
    ///
    /// Branch-free for the widths ITCH uses (2, 4, 8): the field is read as one big-endian integer, spaces are
    /// XOR-ed to zero and the trailing zero bytes counted, so symbols of varying length cost no mispredictions.
    #[inline(always)]
    pub fn trimmed(&self) -> &[u8] {
        let len = match N {
            8 | 4 | 2 => {
                let mut w = [0u8; 8];
                w[..N].copy_from_slice(&self.0);
                // Bytes past N are zero here; make them count as padding too.
                let v = u64::from_be_bytes(w) ^ (0x2020_2020_2020_2020u64 << ((8 - N) * 8));
                // The low 8 - N bytes are always zero, so `pad` cannot underflow.
                let pad = (v.trailing_zeros() as usize / 8).min(8) - (8 - N);
                N - pad
            }
            _ => trim_alpha(&self.0).len(),
        };
        &self.0[..len.min(N)]
    }

    /// The trimmed value as `&str`, or `None` if it is not UTF-8 (ITCH alpha fields are ASCII). No allocation.
    #[inline]
    pub fn as_str(&self) -> Option<&str> {
        core::str::from_utf8(self.trimmed()).ok()
    }
}

impl<const N: usize> fmt::Debug for Alpha<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Alpha({:?})", self.trimmed().escape_ascii().to_string())
    }
}

/// Removes the trailing space padding of an alpha field. No allocation.
#[inline]
pub fn trim_alpha(bytes: &[u8]) -> &[u8] {
    let mut end = bytes.len();
    while end > 0 && bytes[end - 1] == b' ' {
        end -= 1;
    }
    &bytes[..end]
}

/// One field value, as handed out by [`Message::for_each_field`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldValue<'a> {
    /// A one-byte alpha field (not trimmed: a single space is a value).
    Char(u8),
    /// An unsigned integer field (u16, u32 or u64 on the wire; also the timestamp).
    UInt(u64),
    /// A multi-byte alpha field, trailing spaces removed.
    Alpha(&'a [u8]),
    /// A price with 4 implied decimals (the wire integer).
    Price4(u32),
    /// A price with 8 implied decimals (the wire integer).
    Price8(u64),
}

/// Conversions between wire field types and native values (implemented for the field types of the views).
pub mod wire {
    use super::*;

    mod sealed {
        pub trait Sealed {}
    }

    /// A field type that may appear in an ITCH view. Sealed.
    pub trait Wire: sealed::Sealed + Copy {
        /// The native value: `u8`, `u16`, `u32`, `u64`, or `Alpha<N>` for alpha fields.
        type Native: Copy + fmt::Debug + PartialEq + Eq;
        /// Reads the native value.
        fn to_native(self) -> Self::Native;
        /// Builds the wire form from a native value.
        fn from_native(v: Self::Native) -> Self;
        /// The generic field value.
        fn field(&self) -> FieldValue<'_>;
    }

    macro_rules! int_wire {
        ($($w:ty => $n:ty),*) => {$(
            impl sealed::Sealed for $w {}
            impl Wire for $w {
                type Native = $n;
                #[inline(always)]
                fn to_native(self) -> $n { self.get() }
                #[inline(always)]
                fn from_native(v: $n) -> Self { <$w>::new(v) }
                #[inline(always)]
                fn field(&self) -> FieldValue<'_> { FieldValue::UInt(self.get() as u64) }
            }
        )*};
    }
    int_wire!(U16 => u16, U32 => u32, U64 => u64);

    impl sealed::Sealed for u8 {}
    impl Wire for u8 {
        type Native = u8;
        #[inline(always)]
        fn to_native(self) -> u8 {
            self
        }
        #[inline(always)]
        fn from_native(v: u8) -> Self {
            v
        }
        #[inline(always)]
        fn field(&self) -> FieldValue<'_> {
            FieldValue::Char(*self)
        }
    }

    impl sealed::Sealed for Price4 {}
    impl Wire for Price4 {
        type Native = u32;
        #[inline(always)]
        fn to_native(self) -> u32 {
            self.get()
        }
        #[inline(always)]
        fn from_native(v: u32) -> Self {
            Price4::new(v)
        }
        #[inline(always)]
        fn field(&self) -> FieldValue<'_> {
            FieldValue::Price4(self.get())
        }
    }

    impl sealed::Sealed for Price8 {}
    impl Wire for Price8 {
        type Native = u64;
        #[inline(always)]
        fn to_native(self) -> u64 {
            self.get()
        }
        #[inline(always)]
        fn from_native(v: u64) -> Self {
            Price8::new(v)
        }
        #[inline(always)]
        fn field(&self) -> FieldValue<'_> {
            FieldValue::Price8(self.get())
        }
    }

    impl<const N: usize> sealed::Sealed for Alpha<N> {}
    impl<const N: usize> Wire for Alpha<N> {
        type Native = Alpha<N>;
        #[inline(always)]
        fn to_native(self) -> Alpha<N> {
            self
        }
        #[inline(always)]
        fn from_native(v: Alpha<N>) -> Self {
            v
        }
        #[inline(always)]
        fn field(&self) -> FieldValue<'_> {
            FieldValue::Alpha(self.trimmed())
        }
    }
}

use wire::Wire;

/// Why [`decode`] rejected a message. Small and `Copy`: the hot path counts it and skips the message by its framing
/// length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DecodeError {
    /// The message is zero bytes long.
    Empty,
    /// The type byte is not an ITCH 5.0 message type.
    UnknownType(u8),
    /// The type is known but the message length differs from the spec length.
    LengthMismatch {
        /// Message type byte.
        ty: u8,
        /// Spec length of that type.
        expected: u16,
        /// Length received.
        got: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DecodeError::Empty => f.write_str("empty ITCH message"),
            DecodeError::UnknownType(t) => write!(f, "unknown ITCH message type 0x{t:02x}"),
            DecodeError::LengthMismatch { ty, expected, got } => write!(
                f,
                "ITCH message type {:?} has length {got}, spec length is {expected}",
                ty as char
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

macro_rules! define_views {
    ($(
        $(#[$meta:meta])*
        $name:ident = $ty:literal, $len:literal, $snake:ident {
            $( $(#[$fmeta:meta])* $field:ident : $wty:ty => $dname:literal ),* $(,)?
        }
    )*) => {
        $(
            $(#[$meta])*
            #[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, PartialEq, Eq, Hash, Debug)]
            #[repr(C)]
            pub struct $name {
                /// Common header (type, stock locate, tracking number, timestamp).
                pub header: Header,
                $( $(#[$fmeta])* pub $field: $wty, )*
            }

            const _: () = assert!(size_of::<$name>() == $len && align_of::<$name>() == 1);

            impl $name {
                /// Message type byte.
                pub const TYPE: u8 = $ty;
                /// Spec length in bytes (type byte included).
                pub const LEN: usize = $len;

                $(
                    #[doc = concat!("`", stringify!($field), "` as a native value.")]
                    #[inline(always)]
                    pub fn $field(&self) -> <$wty as Wire>::Native {
                        Wire::to_native(self.$field)
                    }
                )*

                /// Calls `f(name, value)` for each body field (after the header), in wire order. Names are the
                /// `tickwatch dump` keys (see the `spec` table).
                #[inline(always)]
                pub fn for_each_body_field<'a>(&'a self, f: &mut impl FnMut(&'static str, FieldValue<'a>)) {
                    $( f($dname, Wire::field(&self.$field)); )*
                    let _ = f;
                }
            }
        )*

        /// Spec length of each ITCH 5.0 message type, indexed by type byte; 0 for bytes that are not a type.
        pub const SPEC_LEN: [u8; 256] = {
            let mut t = [0u8; 256];
            $( t[$ty as usize] = $len; )*
            t
        };

        /// Every ITCH 5.0 message type byte, in spec order.
        pub const ALL_TYPES: &[u8] = &[$($ty),*];

        /// A decoded ITCH 5.0 message: a reference to a view over the input bytes. `Copy`, two words.
        ///
        /// The enum's discriminant is the wire type byte (`repr(u8)`, `AddOrder = b'A'`, ...): [`decode`] stores the
        /// byte it read as the tag instead of translating it through a table, and a `match` on a message jumps
        /// through a table indexed by that byte. That takes one dependent load off the path from the message bytes
        /// to the (usually mispredicted) type dispatch of every consumer.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(u8)]
        pub enum Message<'a> {
            $(
                #[doc = concat!("`", stringify!($name), "` (type `", stringify!($ty), "`).")]
                $name(&'a $name) = $ty,
            )*
        }

        impl<'a> Message<'a> {
            /// The common header.
            #[inline(always)]
            pub fn header(&self) -> &'a Header {
                match *self { $( Message::$name(v) => &v.header, )* }
            }

            /// The message bytes (exactly the spec length).
            #[inline]
            pub fn as_bytes(&self) -> &'a [u8] {
                match *self { $( Message::$name(v) => v.as_bytes(), )* }
            }

            /// Calls `f(name, value)` for every field after the type byte: `stock_locate`, `tracking_number`,
            /// `timestamp`, then the body fields in wire order under their `tickwatch dump` names. No allocation.
            #[inline(always)]
            pub fn for_each_field(&self, mut f: impl FnMut(&'static str, FieldValue<'a>)) {
                let h = self.header();
                f("stock_locate", FieldValue::UInt(h.stock_locate.get() as u64));
                f("tracking_number", FieldValue::UInt(h.tracking_number.get() as u64));
                f("timestamp", FieldValue::UInt(h.timestamp.get()));
                match *self { $( Message::$name(v) => v.for_each_body_field(&mut f), )* }
            }
        }

        /// Decodes one ITCH 5.0 message (no length prefix). Zero-copy: the result borrows `buf`.
        ///
        /// The length must equal the type's spec length exactly; otherwise [`DecodeError::LengthMismatch`].
        #[inline(always)]
        pub fn decode(buf: &[u8]) -> Result<Message<'_>, DecodeError> {
            let ty = match buf.first() {
                Some(&t) => t,
                None => return Err(DecodeError::Empty),
            };
            // Both checks are table lookups with well-predicted branches; the type switch below then only picks
            // the variant tag (LLVM turns it into a lookup, or drops it when the caller ignores the type).
            let expected = SPEC_LEN[ty as usize];
            if expected == 0 {
                return Err(DecodeError::UnknownType(ty));
            }
            if buf.len() != expected as usize {
                return Err(DecodeError::LengthMismatch { ty, expected: expected as u16, got: buf.len() });
            }
            let p = buf.as_ptr();
            match ty {
                $(
                    // SAFETY: `buf.len() == SPEC_LEN[$ty] == $len == size_of::<$name>()` (the table and the view
                    // come from the same spec entry; `size_of` is asserted at compile time below), so the pointer
                    // covers exactly one view. The view is `FromBytes` (any bytes are valid), `Unaligned`
                    // (alignment 1) and `Immutable` (no interior mutability), and the returned reference borrows
                    // `buf` for its lifetime.
                    $ty => Ok(Message::$name(unsafe { &*p.cast::<$name>() })),
                )*
                _ => Err(DecodeError::UnknownType(ty)),
            }
        }
    };
}

/// The generated views, table, [`Message`] and [`decode`]; re-exported at the top of this module.
mod generated {
    // zerocopy's `KnownLayout` derive emits hidden per-field marker types without `Debug`; every public type here
    // derives `Debug` itself.
    #![allow(missing_debug_implementations)]
    use super::*;
    for_each_itch_message!(define_views);
}
pub use generated::*;

/// Spec length of message type `ty`, or `None` if `ty` is not an ITCH 5.0 type.
#[inline(always)]
pub const fn spec_len(ty: u8) -> Option<usize> {
    match SPEC_LEN[ty as usize] {
        0 => None,
        n => Some(n as usize),
    }
}

impl<'a> Message<'a> {
    /// Message type byte.
    #[inline(always)]
    pub fn msg_type(&self) -> u8 {
        self.header().msg_type
    }
    /// Stock locate code.
    #[inline(always)]
    pub fn stock_locate(&self) -> u16 {
        self.header().stock_locate.get()
    }
    /// Tracking number.
    #[inline(always)]
    pub fn tracking_number(&self) -> u16 {
        self.header().tracking_number.get()
    }
    /// Timestamp, nanoseconds since midnight.
    #[inline(always)]
    pub fn timestamp(&self) -> u64 {
        self.header().timestamp.get()
    }
    /// The order reference the message concerns: the new order of an add (`A`/`F`), the order of an execution,
    /// cancel or delete (`E`/`C`/`X`/`D`), the original order of a replace (`U`), the non-displayed order of a
    /// trade (`P`, usually 0); 0 for every other type.
    #[inline]
    pub fn order_ref(&self) -> u64 {
        match self {
            Message::AddOrder(m) => m.order_ref(),
            Message::AddOrderMpid(m) => m.order_ref(),
            Message::OrderExecuted(m) => m.order_ref(),
            Message::OrderExecutedWithPrice(m) => m.order_ref(),
            Message::OrderCancel(m) => m.order_ref(),
            Message::OrderDelete(m) => m.order_ref(),
            Message::OrderReplace(m) => m.original_order_ref(),
            Message::Trade(m) => m.order_ref(),
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spec lengths from the TotalView-ITCH 5.0 specification (section 4), written out independently of the table.
    const SPEC: &[(u8, usize)] = &[
        (b'S', 12),
        (b'R', 39),
        (b'H', 25),
        (b'Y', 20),
        (b'L', 26),
        (b'V', 35),
        (b'W', 12),
        (b'K', 28),
        (b'J', 35),
        (b'h', 21),
        (b'A', 36),
        (b'F', 40),
        (b'E', 31),
        (b'C', 36),
        (b'X', 23),
        (b'D', 19),
        (b'U', 35),
        (b'P', 44),
        (b'Q', 40),
        (b'B', 19),
        (b'I', 50),
        (b'N', 20),
        (b'O', 48),
    ];

    #[test]
    fn view_sizes_equal_spec_lengths() {
        assert_eq!(size_of::<Header>(), 11);
        assert_eq!(size_of::<SystemEvent>(), 12);
        assert_eq!(size_of::<StockDirectory>(), 39);
        assert_eq!(size_of::<StockTradingAction>(), 25);
        assert_eq!(size_of::<RegShoRestriction>(), 20);
        assert_eq!(size_of::<MarketParticipantPosition>(), 26);
        assert_eq!(size_of::<MwcbDeclineLevel>(), 35);
        assert_eq!(size_of::<MwcbStatus>(), 12);
        assert_eq!(size_of::<IpoQuotingPeriodUpdate>(), 28);
        assert_eq!(size_of::<LuldAuctionCollar>(), 35);
        assert_eq!(size_of::<OperationalHalt>(), 21);
        assert_eq!(size_of::<AddOrder>(), 36);
        assert_eq!(size_of::<AddOrderMpid>(), 40);
        assert_eq!(size_of::<OrderExecuted>(), 31);
        assert_eq!(size_of::<OrderExecutedWithPrice>(), 36);
        assert_eq!(size_of::<OrderCancel>(), 23);
        assert_eq!(size_of::<OrderDelete>(), 19);
        assert_eq!(size_of::<OrderReplace>(), 35);
        assert_eq!(size_of::<Trade>(), 44);
        assert_eq!(size_of::<CrossTrade>(), 40);
        assert_eq!(size_of::<BrokenTrade>(), 19);
        assert_eq!(size_of::<Noii>(), 50);
        assert_eq!(size_of::<RetailInterest>(), 20);
        assert_eq!(size_of::<DirectListingCapitalRaise>(), 48);
        assert_eq!(align_of::<Noii>(), 1);
    }

    #[test]
    fn table_matches_spec() {
        assert_eq!(ALL_TYPES.len(), SPEC.len());
        for &(t, len) in SPEC {
            assert_eq!(spec_len(t), Some(len), "type {}", t as char);
            let mut buf = vec![0u8; len];
            buf[0] = t;
            let m = decode(&buf).unwrap();
            assert_eq!(m.msg_type(), t);
            assert_eq!(m.as_bytes().len(), len);
            assert_eq!(
                decode(&buf[..len - 1]),
                Err(DecodeError::LengthMismatch {
                    ty: t,
                    expected: len as u16,
                    got: len - 1
                })
            );
        }
        let known: usize = (0..=255u8).filter(|&t| spec_len(t).is_some()).count();
        assert_eq!(known, 23);
    }

    #[test]
    fn errors() {
        assert_eq!(decode(&[]), Err(DecodeError::Empty));
        assert_eq!(decode(&[b'Z', 1, 2]), Err(DecodeError::UnknownType(b'Z')));
        assert_eq!(decode(b"a"), Err(DecodeError::UnknownType(b'a')));
    }

    #[test]
    fn add_order_fields() {
        // Hand-assembled per spec: A, locate 0x1234, tracking 2, ts 0x0102_0304_0506, ref 0x1122334455667788,
        // side S, shares 300, stock "AAPL    ", price 1_234_500.
        let mut b = vec![b'A', 0x12, 0x34, 0, 2, 1, 2, 3, 4, 5, 6];
        b.extend_from_slice(&0x1122_3344_5566_7788u64.to_be_bytes());
        b.push(b'S');
        b.extend_from_slice(&300u32.to_be_bytes());
        b.extend_from_slice(b"AAPL    ");
        b.extend_from_slice(&1_234_500u32.to_be_bytes());
        let Message::AddOrder(a) = decode(&b).unwrap() else {
            panic!()
        };
        assert_eq!(a.header.stock_locate.get(), 0x1234);
        assert_eq!(a.header.tracking_number.get(), 2);
        assert_eq!(a.header.timestamp.get(), 0x0102_0304_0506);
        assert_eq!(a.order_ref(), 0x1122_3344_5566_7788);
        assert_eq!(a.side(), b'S');
        assert_eq!(a.shares(), 300);
        assert_eq!(a.stock.as_str(), Some("AAPL"));
        assert_eq!(a.price(), 1_234_500);
        let mut seen = Vec::new();
        decode(&b).unwrap().for_each_field(|n, v| seen.push((n, v)));
        assert_eq!(
            seen,
            vec![
                ("stock_locate", FieldValue::UInt(0x1234)),
                ("tracking_number", FieldValue::UInt(2)),
                ("timestamp", FieldValue::UInt(0x0102_0304_0506)),
                ("order_ref", FieldValue::UInt(0x1122_3344_5566_7788)),
                ("side", FieldValue::Char(b'S')),
                ("shares", FieldValue::UInt(300)),
                ("symbol", FieldValue::Alpha(b"AAPL")),
                ("price", FieldValue::Price4(1_234_500)),
            ]
        );
    }

    /// `order_ref` names the order each kind concerns (a replace: the original one), 0 for the others.
    #[test]
    fn order_ref_of_each_kind() {
        // A message of type `ty` at its spec length: header, then `refs` (big-endian u64s) from byte 11, zeros after.
        let msg = |ty: u8, refs: &[u64]| {
            let mut b = vec![0u8; spec_len(ty).unwrap()];
            b[0] = ty;
            for (i, r) in refs.iter().enumerate() {
                b[11 + 8 * i..19 + 8 * i].copy_from_slice(&r.to_be_bytes());
            }
            b
        };
        for ty in [b'A', b'F', b'E', b'C', b'X', b'D', b'P'] {
            let b = msg(ty, &[0x0102_0304_0506_0708]);
            assert_eq!(
                decode(&b).unwrap().order_ref(),
                0x0102_0304_0506_0708,
                "{}",
                ty as char
            );
        }
        let b = msg(b'U', &[11, 22]);
        assert_eq!(decode(&b).unwrap().order_ref(), 11);
        for ty in [b'S', b'R', b'H', b'Q', b'B', b'I'] {
            assert_eq!(
                decode(&msg(ty, &[])).unwrap().order_ref(),
                0,
                "{}",
                ty as char
            );
        }
    }

    #[test]
    fn alpha_and_timestamp_helpers() {
        assert_eq!(Alpha::<8>::new(b"MSFT").unwrap().0, *b"MSFT    ");
        assert!(Alpha::<4>::new(b"TOOLONG").is_none());
        assert_eq!(trim_alpha(b"    "), b"");
        assert_eq!(trim_alpha(b" A  "), b" A");
        for (raw, want) in [
            (&b"AAPL    "[..], &b"AAPL"[..]),
            (b"        ", b""),
            (b"ABCDEFGH", b"ABCDEFGH"),
            (b" A B    ", b" A B"),
        ] {
            assert_eq!(Alpha::<8>(raw.try_into().unwrap()).trimmed(), want);
        }
        assert_eq!(Alpha::<4>(*b"LUDP").trimmed(), b"LUDP");
        assert_eq!(Alpha::<4>(*b"    ").trimmed(), b"");
        assert_eq!(Alpha::<4>(*b"A   ").trimmed(), b"A");
        assert_eq!(Alpha::<2>(*b"Z ").trimmed(), b"Z");
        assert_eq!(Alpha::<2>(*b"  ").trimmed(), b"");
        assert_eq!(Alpha::<3>(*b"AB ").trimmed(), b"AB");
        assert_eq!(Timestamp::new(Timestamp::MAX).get(), Timestamp::MAX);
        assert_eq!(Timestamp::new(1 << 48).get(), 0);
    }
}
