//! Link, IPv4 and UDP headers: from a captured frame to a UDP payload, zero-copy.
//!
//! Supported link types: Ethernet (with any stack of 802.1Q / 802.1ad / QinQ tags), Linux cooked capture v1 (SLL)
//! and v2 (SLL2), raw IP (`LINKTYPE_RAW` 101, `LINKTYPE_IPV4` 228, and the historic DLT values 12/14), and BSD
//! loopback (`NULL` 0 / `LOOP` 108). Anything else is a [`Skip`] reason, never an error.
//!
//! IP fragments are not reassembled (market-data feeds keep datagrams under the MTU): a fragment is a
//! [`Skip::Fragment`]. When the capture holds fewer bytes than the UDP header announces (snap length, or the file is
//! cut short), the bytes present are returned with [`Udp::truncated`] set, so complete messages at the start of the
//! datagram are not lost; the protocol decoder then counts the cut message.

use core::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

use super::LinkType;

/// A UDP datagram found in a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Udp<'a> {
    /// Source address and port.
    pub src: SocketAddrV4,
    /// Destination address and port.
    pub dst: SocketAddrV4,
    /// UDP payload (possibly shorter than announced, see `truncated`).
    pub payload: &'a [u8],
    /// The capture holds fewer payload bytes than the UDP length field announces.
    pub truncated: bool,
}

/// Why a frame yielded no UDP payload. Small and `Copy`; each is a counter in the stats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Skip {
    /// The link type is not supported.
    UnsupportedLinkType(LinkType),
    /// The frame is too short for the link-layer header (or VLAN tags).
    TruncatedLink,
    /// The frame does not carry IPv4 (IPv6, ARP, LLDP, ...).
    NotIpv4,
    /// IPv4 header is cut short or its IHL / total length are inconsistent.
    BadIpv4,
    /// IPv4 fragment (first or later); not reassembled.
    Fragment,
    /// IPv4 but not UDP (TCP, IGMP, ...).
    NotUdp,
    /// UDP header is cut short or its length field is inconsistent with the IP length.
    BadUdp,
    /// Excluded by a [`UdpFilter`].
    Filtered,
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skip::UnsupportedLinkType(l) => write!(f, "unsupported link type {}", l.0),
            Skip::TruncatedLink => f.write_str("frame shorter than its link-layer header"),
            Skip::NotIpv4 => f.write_str("not IPv4"),
            Skip::BadIpv4 => f.write_str("malformed IPv4 header"),
            Skip::Fragment => f.write_str("IPv4 fragment"),
            Skip::NotUdp => f.write_str("not UDP"),
            Skip::BadUdp => f.write_str("malformed UDP header"),
            Skip::Filtered => f.write_str("filtered out"),
        }
    }
}

/// Optional UDP selection: destination port and/or destination (multicast group) address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UdpFilter {
    /// Keep only datagrams to this UDP port.
    pub dst_port: Option<u16>,
    /// Keep only datagrams to this IPv4 address (e.g. a multicast group).
    pub dst_addr: Option<Ipv4Addr>,
}

impl UdpFilter {
    /// True if `udp` passes.
    #[inline]
    pub fn accepts(&self, udp: &Udp<'_>) -> bool {
        self.dst_port.is_none_or(|p| p == udp.dst.port())
            && self.dst_addr.is_none_or(|a| a == *udp.dst.ip())
    }

    /// True if no criterion is set.
    pub fn is_empty(&self) -> bool {
        self.dst_port.is_none() && self.dst_addr.is_none()
    }
}

const ETH_IPV4: u16 = 0x0800;
const ETH_VLAN: u16 = 0x8100;
const ETH_QINQ: u16 = 0x88A8;
const ETH_QINQ_OLD: u16 = 0x9100;
const MAX_VLAN_TAGS: usize = 8;

#[inline]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Skips VLAN tags starting with `ethertype` at `b[at..]` (the bytes after the type field); returns the final
/// ethertype and the offset of the payload.
#[inline]
fn skip_vlans(b: &[u8], mut ethertype: u16, mut at: usize) -> Result<(u16, usize), Skip> {
    let mut tags = 0;
    while matches!(ethertype, ETH_VLAN | ETH_QINQ | ETH_QINQ_OLD) {
        if tags == MAX_VLAN_TAGS || b.len() < at + 4 {
            return Err(Skip::TruncatedLink);
        }
        ethertype = be16(b, at + 2);
        at += 4;
        tags += 1;
    }
    Ok((ethertype, at))
}

/// Finds the IPv4 packet in a frame of link type `link`.
#[inline]
pub fn ipv4_packet(link: LinkType, frame: &[u8]) -> Result<&[u8], Skip> {
    let (ethertype, at) = match link {
        LinkType::ETHERNET => {
            if frame.len() < 14 {
                return Err(Skip::TruncatedLink);
            }
            skip_vlans(frame, be16(frame, 12), 14)?
        }
        LinkType::LINUX_SLL => {
            if frame.len() < 16 {
                return Err(Skip::TruncatedLink);
            }
            skip_vlans(frame, be16(frame, 14), 16)?
        }
        LinkType::LINUX_SLL2 => {
            if frame.len() < 20 {
                return Err(Skip::TruncatedLink);
            }
            skip_vlans(frame, be16(frame, 0), 20)?
        }
        LinkType::RAW | LinkType::IPV4 | LinkType(12) | LinkType(14) => {
            return match frame.first() {
                Some(v) if v >> 4 == 4 => Ok(frame),
                Some(_) => Err(Skip::NotIpv4),
                None => Err(Skip::TruncatedLink),
            };
        }
        LinkType::NULL | LinkType::LOOP => {
            if frame.len() < 4 {
                return Err(Skip::TruncatedLink);
            }
            // Address family 2 (AF_INET) in host order (NULL) or network order (LOOP); either way one byte is 2.
            let fam = &frame[..4];
            let is_v4 = fam == [2, 0, 0, 0] || fam == [0, 0, 0, 2];
            return if is_v4 {
                Ok(&frame[4..])
            } else {
                Err(Skip::NotIpv4)
            };
        }
        other => return Err(Skip::UnsupportedLinkType(other)),
    };
    if ethertype != ETH_IPV4 {
        return Err(Skip::NotIpv4);
    }
    Ok(&frame[at..])
}

/// Extracts the UDP datagram from an IPv4 packet (which may be followed by link padding or cut short).
#[inline]
pub fn udp_in_ipv4(ip: &[u8]) -> Result<Udp<'_>, Skip> {
    if ip.len() < 20 {
        return Err(Skip::BadIpv4);
    }
    let vihl = ip[0];
    if vihl >> 4 != 4 {
        return Err(Skip::NotIpv4);
    }
    let ihl = ((vihl & 0x0F) as usize) * 4;
    let total = be16(ip, 2) as usize;
    if ihl < 20 || total < ihl || ip.len() < ihl {
        return Err(Skip::BadIpv4);
    }
    let frag = be16(ip, 6);
    if frag & 0x2000 != 0 || frag & 0x1FFF != 0 {
        return Err(Skip::Fragment);
    }
    if ip[9] != 17 {
        return Err(Skip::NotUdp);
    }
    let src_ip = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst_ip = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    // Bytes of the IP payload present in the capture (trailing link padding removed).
    let ip_payload = &ip[ihl..total.min(ip.len())];
    let claimed = total - ihl;
    if ip_payload.len() < 8 {
        return Err(Skip::BadUdp);
    }
    let udp_len = be16(ip_payload, 4) as usize;
    if udp_len < 8 || udp_len > claimed {
        return Err(Skip::BadUdp);
    }
    let end = udp_len.min(ip_payload.len());
    Ok(Udp {
        src: SocketAddrV4::new(src_ip, be16(ip_payload, 0)),
        dst: SocketAddrV4::new(dst_ip, be16(ip_payload, 2)),
        payload: &ip_payload[8..end],
        truncated: end < udp_len,
    })
}

/// Link layer → IPv4 → UDP in one step.
#[inline]
pub fn udp_payload(link: LinkType, frame: &[u8]) -> Result<Udp<'_>, Skip> {
    udp_in_ipv4(ipv4_packet(link, frame)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4_udp(payload: &[u8], frag: u16, proto: u8) -> Vec<u8> {
        let total = 20 + 8 + payload.len();
        let mut v = vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 0];
        v.extend_from_slice(&frag.to_be_bytes());
        v.extend_from_slice(&[64, proto, 0, 0, 10, 0, 0, 1, 233, 54, 12, 111]);
        let ul = 8 + payload.len();
        v.extend_from_slice(&[0x12, 0x34, 0x67, 0x6d, (ul >> 8) as u8, ul as u8, 0, 0]);
        v.extend_from_slice(payload);
        v
    }

    fn eth(ethertypes: &[u16], ip: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8; 12];
        for (i, t) in ethertypes.iter().enumerate() {
            v.extend_from_slice(&t.to_be_bytes());
            if i + 1 < ethertypes.len() {
                v.extend_from_slice(&[0, 42]);
            }
        }
        v.extend_from_slice(ip);
        v
    }

    #[test]
    fn ethernet_vlan_qinq() {
        let ip = ipv4_udp(b"hello", 0, 17);
        for types in [
            &[ETH_IPV4][..],
            &[ETH_VLAN, ETH_IPV4],
            &[ETH_QINQ, ETH_VLAN, ETH_IPV4],
        ] {
            let mut f = eth(types, &ip);
            f.extend_from_slice(&[0; 6]); // Ethernet padding must be ignored.
            let u = udp_payload(LinkType::ETHERNET, &f).unwrap();
            assert_eq!(u.payload, b"hello");
            assert_eq!(u.dst, "233.54.12.111:26477".parse().unwrap());
            assert_eq!(u.src, "10.0.0.1:4660".parse().unwrap());
            assert!(!u.truncated);
        }
    }

    #[test]
    fn sll_sll2_raw_null() {
        let ip = ipv4_udp(b"x", 0, 17);
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&ETH_IPV4.to_be_bytes());
        sll.extend_from_slice(&ip);
        assert_eq!(
            udp_payload(LinkType::LINUX_SLL, &sll).unwrap().payload,
            b"x"
        );
        let mut sll2 = ETH_IPV4.to_be_bytes().to_vec();
        sll2.extend_from_slice(&[0; 18]);
        sll2.extend_from_slice(&ip);
        assert_eq!(
            udp_payload(LinkType::LINUX_SLL2, &sll2).unwrap().payload,
            b"x"
        );
        assert_eq!(udp_payload(LinkType::RAW, &ip).unwrap().payload, b"x");
        let mut null = vec![2, 0, 0, 0];
        null.extend_from_slice(&ip);
        assert_eq!(udp_payload(LinkType::NULL, &null).unwrap().payload, b"x");
    }

    #[test]
    fn skip_reasons() {
        let ip = ipv4_udp(b"abc", 0, 17);
        assert_eq!(
            udp_payload(LinkType::ETHERNET, &eth(&[0x86DD], &ip)),
            Err(Skip::NotIpv4)
        );
        assert_eq!(
            udp_payload(LinkType::ETHERNET, &[0; 10]),
            Err(Skip::TruncatedLink)
        );
        assert_eq!(
            udp_payload(LinkType::ETHERNET, &eth(&[ETH_VLAN], &[])),
            Err(Skip::TruncatedLink)
        );
        assert_eq!(
            udp_payload(LinkType::RAW, &ipv4_udp(b"abc", 0x2000, 17)),
            Err(Skip::Fragment)
        );
        assert_eq!(
            udp_payload(LinkType::RAW, &ipv4_udp(b"abc", 0x0010, 17)),
            Err(Skip::Fragment)
        );
        assert_eq!(
            udp_payload(LinkType::RAW, &ipv4_udp(b"abc", 0, 6)),
            Err(Skip::NotUdp)
        );
        assert_eq!(udp_payload(LinkType::RAW, &ip[..15]), Err(Skip::BadIpv4));
        assert_eq!(
            udp_payload(LinkType(9999), &ip),
            Err(Skip::UnsupportedLinkType(LinkType(9999)))
        );
        let mut bad = ip.clone();
        bad[24] = 0; // UDP length high byte
        bad[25] = 4; // < 8
        assert_eq!(udp_payload(LinkType::RAW, &bad), Err(Skip::BadUdp));
        // Cut short: bytes present are returned, flagged.
        let cut = udp_payload(LinkType::RAW, &ip[..29]).unwrap();
        assert_eq!(cut.payload, b"a");
        assert!(cut.truncated);
    }

    #[test]
    fn filter() {
        let ip = ipv4_udp(b"abc", 0, 17);
        let u = udp_payload(LinkType::RAW, &ip).unwrap();
        assert!(UdpFilter::default().accepts(&u));
        assert!(UdpFilter {
            dst_port: Some(26477),
            dst_addr: None
        }
        .accepts(&u));
        assert!(!UdpFilter {
            dst_port: Some(1),
            dst_addr: None
        }
        .accepts(&u));
        assert!(!UdpFilter {
            dst_port: None,
            dst_addr: Some(Ipv4Addr::LOCALHOST)
        }
        .accepts(&u));
    }
}
