//! IEX-TP v1 transport: the 40-byte segment header and the message blocks of a UDP payload.
//!
//! A segment (one UDP payload) is a [`TransportHeader`] followed by `payload_length` bytes holding
//! `message_count` message blocks, each a 2-byte little-endian length and that many message bytes. A segment
//! with `message_count == 0` is a heartbeat; its `first_message_sequence_number` is the sequence number of the
//! next message the session will send.
//!
//! Nothing here allocates or panics: [`Packet::parse`] checks the header, [`Packet::messages`] yields each complete
//! block and then, if the bytes end early or a length is impossible, one [`BlockError`] describing what is missing.

use zerocopy::little_endian::{I64, U16, U32, U64};
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use super::Protocol;

/// The IEX-TP version this module decodes (the header's first byte).
pub const IEX_TP_VERSION: u8 = 1;

/// The IEX-TP segment header (40 bytes, little endian), as a zerocopy view over the start of a UDP payload.
#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct TransportHeader {
    version: u8,
    reserved: u8,
    message_protocol_id: U16,
    channel_id: U32,
    session_id: U32,
    payload_length: U16,
    message_count: U16,
    stream_offset: U64,
    first_message_sequence_number: U64,
    send_time: I64,
}

impl TransportHeader {
    /// Size of the header in bytes.
    pub const LEN: usize = 40;

    /// Views the first [`Self::LEN`] bytes of `bytes` as a header, or `None` if there are fewer.
    #[inline]
    pub fn view(bytes: &[u8]) -> Option<&TransportHeader> {
        TransportHeader::ref_from_prefix(bytes).ok().map(|(h, _)| h)
    }

    /// Protocol version (1).
    #[inline]
    pub fn version(&self) -> u8 {
        self.version
    }
    /// Reserved byte (0 on the wire today).
    #[inline]
    pub fn reserved(&self) -> u8 {
        self.reserved
    }
    /// Message protocol id: `0x8003` TOPS, `0x8004` DEEP, `0x8005` DEEP+.
    #[inline]
    pub fn message_protocol_id(&self) -> u16 {
        self.message_protocol_id.get()
    }
    /// The protocol selected by [`Self::message_protocol_id`], if supported.
    #[inline]
    pub fn protocol(&self) -> Option<Protocol> {
        Protocol::from_id(self.message_protocol_id())
    }
    /// Channel id (1 for the IEX market-data feeds).
    #[inline]
    pub fn channel_id(&self) -> u32 {
        self.channel_id.get()
    }
    /// Session id; a new session restarts sequence numbers at 1.
    #[inline]
    pub fn session_id(&self) -> u32 {
        self.session_id.get()
    }
    /// Number of bytes of message blocks after the header.
    #[inline]
    pub fn payload_length(&self) -> u16 {
        self.payload_length.get()
    }
    /// Number of message blocks; 0 for a heartbeat.
    #[inline]
    pub fn message_count(&self) -> u16 {
        self.message_count.get()
    }
    /// Byte offset of this segment's payload in the session's message stream.
    #[inline]
    pub fn stream_offset(&self) -> u64 {
        self.stream_offset.get()
    }
    /// Sequence number of the first message of the segment (of the next message, for a heartbeat).
    #[inline]
    pub fn first_message_sequence_number(&self) -> u64 {
        self.first_message_sequence_number.get()
    }
    /// Time the segment was sent, ns since the Unix epoch.
    #[inline]
    pub fn send_time(&self) -> i64 {
        self.send_time.get()
    }
    /// True for a heartbeat (no messages).
    #[inline]
    pub fn is_heartbeat(&self) -> bool {
        self.message_count() == 0
    }
}

/// Why a UDP payload is not an IEX-TP segment we can walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Fewer than 40 bytes: no complete header.
    #[error("IEX-TP segment of {len} bytes is shorter than the 40-byte header")]
    ShortHeader {
        /// Bytes present.
        len: usize,
    },
    /// The version byte is not 1.
    #[error("IEX-TP version {version} is not supported (expected 1)")]
    BadVersion {
        /// The version byte found.
        version: u8,
    },
}

/// A validated IEX-TP segment borrowed from a UDP payload.
///
/// A packet may be **truncated** (fewer payload bytes present than the header announces — a capture cut short or a
/// snap length): it still parses, [`Packet::is_truncated`] says so, and [`Packet::messages`] yields the complete
/// blocks that are present followed by a [`BlockError::Truncated`].
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    header: &'a TransportHeader,
    /// The payload bytes present, at most `payload_length`.
    payload: &'a [u8],
    /// Bytes after the announced payload (ignored).
    extra: usize,
}

impl<'a> Packet<'a> {
    /// Parses the header of a UDP payload and bounds the payload by `payload_length`.
    ///
    /// Errors: fewer than 40 bytes or a version other than 1. Bytes beyond `payload_length` (a real segment never
    /// has them; Ethernet padding could add them if a capture reader ignored the UDP length) are excluded from the
    /// payload and reported by [`Packet::extra_bytes`]. The message protocol id is not checked here: use
    /// [`TransportHeader::protocol`].
    #[inline]
    pub fn parse(datagram: &'a [u8]) -> Result<Packet<'a>, FrameError> {
        let Ok((header, payload)) = TransportHeader::ref_from_prefix(datagram) else {
            return Err(FrameError::ShortHeader {
                len: datagram.len(),
            });
        };
        if header.version != IEX_TP_VERSION {
            return Err(FrameError::BadVersion {
                version: header.version,
            });
        }
        let announced = usize::from(header.payload_length());
        let (payload, extra) = match payload.split_at_checked(announced) {
            Some((p, rest)) => (p, rest.len()),
            None => (payload, 0),
        };
        Ok(Packet {
            header,
            payload,
            extra,
        })
    }

    /// Bytes present after the announced payload (not part of any message).
    #[inline]
    pub fn extra_bytes(&self) -> usize {
        self.extra
    }

    /// The transport header.
    #[inline]
    pub fn header(&self) -> &'a TransportHeader {
        self.header
    }

    /// The payload bytes present (message blocks).
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// True if fewer payload bytes are present than the header announces.
    #[inline]
    pub fn is_truncated(&self) -> bool {
        self.payload.len() < usize::from(self.header.payload_length())
    }

    /// Iterates over the message blocks, zero-copy.
    #[inline]
    pub fn messages(&self) -> Blocks<'a> {
        Blocks {
            rest: self.payload,
            index: 0,
            count: self.header.message_count(),
            truncated: self.is_truncated(),
            done: false,
        }
    }

    /// Walks every block once and summarises the packet's framing (cold path helper; `messages()` is the fast way).
    pub fn integrity(&self) -> Integrity {
        let mut complete = 0u16;
        let mut error = None;
        for block in self.messages() {
            match block {
                Ok(_) => complete += 1,
                Err(e) => error = Some(e),
            }
        }
        Integrity {
            announced: self.header.message_count(),
            complete,
            error,
        }
    }
}

/// Result of [`Packet::integrity`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Integrity {
    /// `message_count` from the header.
    pub announced: u16,
    /// Complete message blocks present.
    pub complete: u16,
    /// The framing problem that stopped the walk, if any.
    pub error: Option<BlockError>,
}

impl Integrity {
    /// Messages announced by the header that are not complete in the packet (partial or absent).
    #[inline]
    pub fn missing(&self) -> u16 {
        self.announced.saturating_sub(self.complete)
    }
}

/// One message block: its index in the packet and the message bytes (type byte first, length prefix removed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block<'a> {
    /// 0-based index of the message in the packet (its sequence number is the header's first sequence number
    /// plus this index).
    pub index: u16,
    /// The message bytes, `bytes.len()` equal to the block's length prefix (never 0).
    pub bytes: &'a [u8],
}

/// Why the walk over a packet's blocks stopped before `message_count` complete blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// The payload ends inside block `index` (in its length prefix or its body), and the packet is truncated
    /// (fewer bytes present than `payload_length`): a capture cut short.
    #[error("packet truncated in message {index}: {available} of {needed} bytes present")]
    Truncated {
        /// Index of the partial (first incomplete) block.
        index: u16,
        /// Bytes the block needs (prefix + body; 2 when even the prefix is cut).
        needed: usize,
        /// Bytes present for it.
        available: usize,
    },
    /// The announced payload is complete but a block does not fit in it: the header and blocks disagree.
    #[error("message {index} of {needed} bytes overruns the payload ({available} bytes left)")]
    Overrun {
        /// Index of the offending block.
        index: u16,
        /// Bytes the block needs.
        needed: usize,
        /// Bytes left in the payload.
        available: usize,
    },
    /// A block has length 0 (no message type).
    #[error("message {index} has length 0")]
    ZeroLength {
        /// Index of the offending block.
        index: u16,
    },
    /// Bytes remain after `message_count` blocks.
    #[error("{extra} bytes after the last of {count} messages")]
    TrailingBytes {
        /// `message_count` from the header.
        count: u16,
        /// Bytes left over.
        extra: usize,
    },
}

/// Iterator over the message blocks of a [`Packet`]: `Ok(Block)` for each complete block, then at most one
/// `Err(BlockError)` if the walk cannot finish cleanly, then `None`.
#[derive(Debug, Clone)]
pub struct Blocks<'a> {
    rest: &'a [u8],
    index: u16,
    count: u16,
    truncated: bool,
    done: bool,
}

impl<'a> Blocks<'a> {
    #[inline]
    fn fail(&mut self, e: BlockError) -> Option<Result<Block<'a>, BlockError>> {
        self.done = true;
        Some(Err(e))
    }
}

impl<'a> Iterator for Blocks<'a> {
    type Item = Result<Block<'a>, BlockError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.index == self.count {
            self.done = true;
            if self.rest.is_empty() {
                return None;
            }
            return Some(Err(BlockError::TrailingBytes {
                count: self.count,
                extra: self.rest.len(),
            }));
        }
        let index = self.index;
        let available = self.rest.len();
        let Some((prefix, body)) = self.rest.split_first_chunk::<2>() else {
            let e = if self.truncated {
                BlockError::Truncated {
                    index,
                    needed: 2,
                    available,
                }
            } else {
                BlockError::Overrun {
                    index,
                    needed: 2,
                    available,
                }
            };
            return self.fail(e);
        };
        let len = usize::from(u16::from_le_bytes(*prefix));
        if len == 0 {
            return self.fail(BlockError::ZeroLength { index });
        }
        if body.len() < len {
            let needed = len + 2;
            let e = if self.truncated {
                BlockError::Truncated {
                    index,
                    needed,
                    available,
                }
            } else {
                BlockError::Overrun {
                    index,
                    needed,
                    available,
                }
            };
            return self.fail(e);
        }
        let (bytes, rest) = body.split_at(len);
        self.rest = rest;
        self.index += 1;
        Some(Ok(Block { index, bytes }))
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            (0, Some(0))
        } else {
            (0, Some(usize::from(self.count - self.index) + 1))
        }
    }
}

/// How confidently a UDP payload looks like an IEX-TP segment (for capture autodetection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detection {
    /// Not IEX-TP.
    No,
    /// Version 1, a supported protocol id, and exactly `40 + payload_length` bytes.
    Exact(Protocol),
    /// Version 1 and a supported protocol id, but fewer bytes than announced (a truncated capture record).
    Truncated(Protocol),
}

/// Classifies a UDP payload: IEX-TP needs version 1, reserved 0, a TOPS/DEEP/DEEP+ protocol id and a payload
/// length consistent with the datagram. A MoldUDP64 header (10-byte ASCII or NUL session) never matches: its first
/// byte would have to be `0x01` followed by `0x00` and `0x03..=0x05, 0x80`.
#[inline]
pub fn detect(datagram: &[u8]) -> Detection {
    let Some(h) = TransportHeader::view(datagram) else {
        return Detection::No;
    };
    if h.version != IEX_TP_VERSION || h.reserved != 0 {
        return Detection::No;
    }
    let Some(protocol) = h.protocol() else {
        return Detection::No;
    };
    let present = datagram.len() - TransportHeader::LEN;
    let announced = usize::from(h.payload_length());
    if present == announced {
        // A heartbeat has no payload; a data segment has at least one 3-byte block per message.
        let min = usize::from(h.message_count()) * 3;
        if announced >= min {
            return Detection::Exact(protocol);
        }
        Detection::No
    } else if present < announced {
        Detection::Truncated(protocol)
    } else {
        Detection::No
    }
}

/// A small valid DEEP segment (one buy price-level update) for documentation examples and tests.
#[doc(hidden)]
pub fn example_packet() -> Vec<u8> {
    let mut msg = Vec::with_capacity(30);
    msg.push(b'8');
    msg.push(1); // event flags: end of batch
    msg.extend_from_slice(&1_700_000_000_000_000_000i64.to_le_bytes());
    msg.extend_from_slice(b"ZIEXT   ");
    msg.extend_from_slice(&100u32.to_le_bytes());
    msg.extend_from_slice(&99_0500i64.to_le_bytes());
    let mut p = Vec::with_capacity(72);
    p.push(1);
    p.push(0);
    p.extend_from_slice(&0x8004u16.to_le_bytes());
    p.extend_from_slice(&1u32.to_le_bytes());
    p.extend_from_slice(&42u32.to_le_bytes());
    p.extend_from_slice(&32u16.to_le_bytes());
    p.extend_from_slice(&1u16.to_le_bytes());
    p.extend_from_slice(&0u64.to_le_bytes());
    p.extend_from_slice(&1u64.to_le_bytes());
    p.extend_from_slice(&1_700_000_000_000_000_001i64.to_le_bytes());
    p.extend_from_slice(&30u16.to_le_bytes());
    p.extend_from_slice(&msg);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_blocks(blocks: &[&[u8]], payload_length: Option<u16>, count: Option<u16>) -> Vec<u8> {
        let mut payload = Vec::new();
        for b in blocks {
            payload.extend_from_slice(&(b.len() as u16).to_le_bytes());
            payload.extend_from_slice(b);
        }
        let mut p = example_packet()[..40].to_vec();
        p[12..14].copy_from_slice(&payload_length.unwrap_or(payload.len() as u16).to_le_bytes());
        p[14..16].copy_from_slice(&count.unwrap_or(blocks.len() as u16).to_le_bytes());
        p.extend_from_slice(&payload);
        p
    }

    #[test]
    fn walks_complete_packets() {
        let p = with_blocks(&[b"S1234567890", b"Oabc"], None, None);
        let pkt = Packet::parse(&p).unwrap();
        assert!(!pkt.is_truncated());
        let blocks: Vec<_> = pkt.messages().collect();
        assert_eq!(blocks.len(), 2);
        assert_eq!(
            blocks[1],
            Ok(Block {
                index: 1,
                bytes: b"Oabc"
            })
        );
        assert_eq!(
            pkt.integrity(),
            Integrity {
                announced: 2,
                complete: 2,
                error: None
            }
        );
        assert_eq!(detect(&p), Detection::Exact(Protocol::Deep));
    }

    #[test]
    fn truncated_packet_yields_complete_blocks_then_truncated() {
        let full = with_blocks(&[&[b'8'; 30], &[b'5'; 30], &[b'8'; 30]], None, None);
        let cut = &full[..40 + 32 + 20];
        let pkt = Packet::parse(cut).unwrap();
        assert!(pkt.is_truncated());
        let items: Vec<_> = pkt.messages().collect();
        assert_eq!(items.len(), 2);
        assert!(items[0].is_ok());
        assert_eq!(
            items[1],
            Err(BlockError::Truncated {
                index: 1,
                needed: 32,
                available: 20
            })
        );
        assert_eq!(pkt.integrity().missing(), 2);
        assert_eq!(detect(cut), Detection::Truncated(Protocol::Deep));
        // Cut inside a length prefix.
        let pkt = Packet::parse(&full[..40 + 32 + 1]).unwrap();
        assert_eq!(
            pkt.messages().nth(1),
            Some(Err(BlockError::Truncated {
                index: 1,
                needed: 2,
                available: 1
            }))
        );
    }

    #[test]
    fn framing_errors_are_values() {
        assert_eq!(
            Packet::parse(&[1; 39]).unwrap_err(),
            FrameError::ShortHeader { len: 39 }
        );
        let mut p = with_blocks(&[b"S1234567890"], None, None);
        p[0] = 2;
        assert_eq!(
            Packet::parse(&p).unwrap_err(),
            FrameError::BadVersion { version: 2 }
        );
        // Count larger than the blocks in a complete payload.
        let p = with_blocks(&[b"S1234567890"], None, Some(2));
        let items: Vec<_> = Packet::parse(&p).unwrap().messages().collect();
        assert_eq!(
            items[1],
            Err(BlockError::Overrun {
                index: 1,
                needed: 2,
                available: 0
            })
        );
        // Count smaller than the blocks.
        let p = with_blocks(&[b"S1234567890", b"Oabc"], None, Some(1));
        let items: Vec<_> = Packet::parse(&p).unwrap().messages().collect();
        assert_eq!(
            items[1],
            Err(BlockError::TrailingBytes { count: 1, extra: 6 })
        );
        // Zero-length block.
        let p = with_blocks(&[b""], None, None);
        let items: Vec<_> = Packet::parse(&p).unwrap().messages().collect();
        assert_eq!(items, vec![Err(BlockError::ZeroLength { index: 0 })]);
        // Bytes beyond payload_length are excluded and reported.
        let mut p = with_blocks(&[b"Oabc"], None, None);
        p.extend_from_slice(&[0, 0, 0]);
        let pkt = Packet::parse(&p).unwrap();
        assert_eq!((pkt.extra_bytes(), pkt.messages().count()), (3, 1));
        assert_eq!(detect(&p), Detection::No);
    }

    #[test]
    fn moldudp64_is_not_detected() {
        let mut mold = b"000010059B".to_vec();
        mold.extend_from_slice(&14_757_721u64.to_be_bytes());
        mold.extend_from_slice(&1u16.to_be_bytes());
        mold.extend_from_slice(&[0; 40]);
        assert_eq!(detect(&mold), Detection::No);
        assert_eq!(detect(&[0u8; 60]), Detection::No);
    }
}
