//! Owned ITCH 5.0 messages with native field types, and their encoder.
//!
//! One plain struct per message type (same names as the views in [`crate::itch`]), generated from the same spec
//! table, so a struct's fields are exactly the wire fields: header fields `stock_locate`, `tracking_number`,
//! `timestamp` (ns since midnight, 48 bits kept) then the body fields in wire order. Prices are the wire integers
//! (4 implied decimals; 8 for MWCB levels); alpha fields are [`Alpha<N>`](crate::itch::Alpha) (build with
//! `Alpha::new(b"AAPL")`, padded with spaces).
//!
//! Encoding writes into a caller buffer and never allocates:
//! ```
//! use feed::encode::itch::{AddOrder, Message};
//! use feed::itch::{self as wire, Alpha};
//! let msg = Message::AddOrder(AddOrder {
//!     stock_locate: 7,
//!     timestamp: 34_200_000_000_000,
//!     order_ref: 1,
//!     side: b'B',
//!     shares: 100,
//!     stock: Alpha::new(b"AAPL").unwrap(),
//!     price: 1_500_000,
//!     ..Default::default()
//! });
//! let mut buf = [0u8; 64];
//! let n = msg.encode(&mut buf).unwrap();
//! assert_eq!(n, 36);
//! let decoded = wire::decode(&buf[..n]).unwrap();
//! assert_eq!(Message::from(decoded), msg);
//! ```

use zerocopy::IntoBytes;

use crate::itch::wire::Wire;
use crate::itch::{for_each_itch_message, Alpha, Header, Price4, Price8, U32, U64};

use super::BufferTooSmall;

impl<const N: usize> Default for Alpha<N> {
    /// All spaces (an empty field).
    fn default() -> Self {
        Alpha([b' '; N])
    }
}

macro_rules! define_owned {
    ($(
        $(#[$meta:meta])*
        $name:ident = $ty:literal, $len:literal, $snake:ident {
            $( $(#[$fmeta:meta])* $field:ident : $wty:ty => $dname:literal ),* $(,)?
        }
    )*) => {
        $(
            $(#[$meta])*
            #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
            pub struct $name {
                /// Stock locate code.
                pub stock_locate: u16,
                /// Tracking number.
                pub tracking_number: u16,
                /// Nanoseconds since midnight (bits above 48 are dropped on the wire).
                pub timestamp: u64,
                $( $(#[$fmeta])* pub $field: <$wty as Wire>::Native, )*
            }

            impl $name {
                /// Message type byte.
                pub const TYPE: u8 = $ty;
                /// Encoded length in bytes.
                pub const LEN: usize = $len;

                /// The wire view with these values.
                #[inline]
                pub fn to_wire(&self) -> crate::itch::$name {
                    crate::itch::$name {
                        header: Header::new($ty, self.stock_locate, self.tracking_number, self.timestamp),
                        $( $field: <$wty as Wire>::from_native(self.$field), )*
                    }
                }

                /// Writes the message (no length prefix) to the start of `buf`; returns the length written.
                #[inline]
                pub fn encode(&self, buf: &mut [u8]) -> Result<usize, BufferTooSmall> {
                    let available = buf.len();
                    let dst = buf.get_mut(..$len).ok_or(BufferTooSmall { needed: $len, available })?;
                    dst.copy_from_slice(self.to_wire().as_bytes());
                    Ok($len)
                }
            }

            impl From<&crate::itch::$name> for $name {
                fn from(v: &crate::itch::$name) -> Self {
                    $name {
                        stock_locate: v.header.stock_locate.get(),
                        tracking_number: v.header.tracking_number.get(),
                        timestamp: v.header.timestamp.get(),
                        $( $field: v.$field(), )*
                    }
                }
            }

            impl From<$name> for Message {
                fn from(v: $name) -> Message {
                    Message::$name(v)
                }
            }
        )*

        /// An owned ITCH 5.0 message of any type.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Message {
            $(
                #[doc = concat!("`", stringify!($name), "`.")]
                $name($name),
            )*
        }

        impl Message {
            /// Message type byte.
            pub fn msg_type(&self) -> u8 {
                match self { $( Message::$name(_) => $ty, )* }
            }

            /// Encoded length (the spec length of the type).
            pub fn len(&self) -> usize {
                match self { $( Message::$name(_) => $len, )* }
            }

            /// Always false: every ITCH message has a type byte and header.
            pub fn is_empty(&self) -> bool {
                false
            }

            /// Writes the message (no length prefix) to the start of `buf`; returns the length written.
            pub fn encode(&self, buf: &mut [u8]) -> Result<usize, BufferTooSmall> {
                match self { $( Message::$name(m) => m.encode(buf), )* }
            }

            /// Header timestamp (ns since midnight).
            pub fn timestamp(&self) -> u64 {
                match self { $( Message::$name(m) => m.timestamp, )* }
            }

            /// Header stock locate.
            pub fn stock_locate(&self) -> u16 {
                match self { $( Message::$name(m) => m.stock_locate, )* }
            }
        }

        impl From<crate::itch::Message<'_>> for Message {
            fn from(m: crate::itch::Message<'_>) -> Message {
                match m { $( crate::itch::Message::$name(v) => Message::$name(v.into()), )* }
            }
        }
    };
}

for_each_itch_message!(define_owned);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::itch;

    #[test]
    fn encode_reports_small_buffer() {
        let m = Message::OrderDelete(OrderDelete {
            order_ref: 9,
            ..Default::default()
        });
        let mut small = [0u8; 18];
        assert_eq!(
            m.encode(&mut small),
            Err(BufferTooSmall {
                needed: 19,
                available: 18
            })
        );
        let mut buf = [0u8; 19];
        assert_eq!(m.encode(&mut buf), Ok(19));
        assert_eq!(buf[0], b'D');
        assert_eq!(&buf[11..], &9u64.to_be_bytes());
    }

    #[test]
    fn every_type_round_trips_with_defaults() {
        for &t in itch::ALL_TYPES {
            let mut buf = vec![0u8; itch::spec_len(t).unwrap()];
            buf[0] = t;
            let owned = Message::from(itch::decode(&buf).unwrap());
            assert_eq!(owned.msg_type(), t);
            assert_eq!(owned.len(), buf.len());
            let mut out = vec![0u8; 64];
            let n = owned.encode(&mut out).unwrap();
            assert_eq!(&out[..n], &buf[..]);
        }
    }
}
