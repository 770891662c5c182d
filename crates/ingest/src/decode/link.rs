//! Link layers: Ethernet with 802.1Q/802.1ad/QinQ, 802.3 LLC/SNAP, PPPoE sessions, MPLS, PBB,
//! the data-centre tags (Cisco VN-Tag, IEEE 802.1BR E-Tag, Cisco FabricPath/DCE), NSH,
//! Linux SLL and SLL2, Cisco HDLC, Linux NFLOG, IEEE 802.11 (with or without radiotap),
//! BSD null/loopback, raw IP, PPP. Each yields the VLAN tags and the IP bytes.

use super::{SkipReason, VlanTags};
use crate::frame::LinkType;

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86DD;
const ETH_VLAN: u16 = 0x8100;
const ETH_QINQ: u16 = 0x88A8;
const ETH_QINQ_OLD: u16 = 0x9100;
const ETH_PPPOE_DISC: u16 = 0x8863;
const ETH_PPPOE_SESS: u16 = 0x8864;
const ETH_MPLS: u16 = 0x8847;
const ETH_MPLS_MC: u16 = 0x8848;
const ETH_PBB: u16 = 0x88E7;
const ETH_VNTAG: u16 = 0x8926;
const ETH_ETAG: u16 = 0x893F;
const ETH_FABRICPATH: u16 = 0x8903;
const ETH_NSH: u16 = 0x894F;
/// MPLS labels followed before giving up on a frame.
const MAX_MPLS_LABELS: usize = 16;
/// VLAN tags followed before giving up on a frame.
const MAX_VLAN_TAGS: usize = 8;
/// Ethernet frames nested inside one another at the link layer (an MPLS pseudowire or NSH
/// carrying Ethernet carrying …) followed before a frame is skipped as too deep: without a
/// bound, a crafted frame would recurse once per 22 bytes.
const MAX_NESTED_FRAMES: u8 = 4;

/// Human name of a common non-IP EtherType.
pub(crate) fn ethertype_name(t: u16) -> Option<&'static str> {
    Some(match t {
        0x0806 => "ARP",
        0x8035 => "RARP",
        0x809B => "AppleTalk",
        0x8137 => "IPX",
        0x8847 | 0x8848 => "MPLS",
        0x8863 => "PPPoE discovery",
        0x888E => "EAPOL",
        0x88CC => "LLDP",
        0x88E5 => "MACsec",
        0x88F7 => "PTP",
        0x8906 => "FCoE",
        0x9000 => "loopback",
        _ => return None,
    })
}

/// Human name of a common PPP protocol number.
pub(crate) fn ppp_name(p: u16) -> Option<&'static str> {
    Some(match p {
        0x8021 => "IPCP",
        0x8057 => "IPv6CP",
        0x80FD => "CCP",
        0xC021 => "LCP",
        0xC023 => "PAP",
        0xC223 => "CHAP",
        0x00FD => "compressed datagram",
        _ => return None,
    })
}

/// Returns the VLAN tags and the bytes of the IP packet inside a frame.
pub(crate) fn strip(link: LinkType, data: &[u8]) -> Result<(VlanTags, &[u8]), SkipReason> {
    match link {
        LinkType::ETHERNET => ethernet(data, VlanTags::default()),
        LinkType::RAW | LinkType::RAW_12 | LinkType::RAW_14 | LinkType::IPV4 | LinkType::IPV6 => {
            Ok((VlanTags::default(), data))
        }
        LinkType::LINUX_SLL => {
            if data.len() < 16 {
                return Err(SkipReason::TruncatedLinkHeader(link));
            }
            let proto = u16::from_be_bytes([data[14], data[15]]);
            let hatype = u16::from_be_bytes([data[2], data[3]]);
            sll_payload(link, hatype, proto, &data[16..])
        }
        LinkType::LINUX_SLL2 => {
            if data.len() < 20 {
                return Err(SkipReason::TruncatedLinkHeader(link));
            }
            let proto = u16::from_be_bytes([data[0], data[1]]);
            let hatype = u16::from_be_bytes([data[8], data[9]]);
            sll_payload(link, hatype, proto, &data[20..])
        }
        LinkType::NULL | LinkType::LOOP => {
            if data.len() < 4 {
                return Err(SkipReason::TruncatedLinkHeader(link));
            }
            let raw = [data[0], data[1], data[2], data[3]];
            // DLT_NULL stores the family in the writer's byte order; DLT_LOOP in network order.
            let af = if link == LinkType::LOOP {
                u32::from_be_bytes(raw)
            } else {
                let le = u32::from_le_bytes(raw);
                if le <= 0xFFFF {
                    le
                } else {
                    u32::from_be_bytes(raw)
                }
            };
            match af {
                // AF_INET everywhere; AF_INET6 on NetBSD/OpenBSD (24), FreeBSD (28),
                // Darwin (30), Linux (10).
                2 | 24 | 28 | 30 | 10 => Ok((VlanTags::default(), &data[4..])),
                other => {
                    // Some writers put an EtherType in the low 16 bits (network order)
                    // instead of an address family; Wireshark decodes those as such.
                    let ether = u16::from_be_bytes([data[2], data[3]]);
                    if matches!(ether, 0x0800 | 0x86DD) {
                        Ok((VlanTags::default(), &data[4..]))
                    } else {
                        Err(SkipReason::LoopbackFamily(other))
                    }
                }
            }
        }
        LinkType::PPP | LinkType::PPP_HDLC => ppp(link, data).map(|d| (VlanTags::default(), d)),
        LinkType::C_HDLC => {
            // Cisco HDLC: address (0x0F unicast, 0x8F broadcast), control, EtherType.
            if data.len() < 4 {
                return Err(SkipReason::TruncatedLinkHeader(link));
            }
            let t = u16::from_be_bytes([data[2], data[3]]);
            ethertype(t, &data[4..], VlanTags::default())
        }
        LinkType::NFLOG => nflog(data).map(|d| (VlanTags::default(), d)),
        LinkType::IEEE802_11 => super::wlan::frame(data, false),
        LinkType::IEEE802_11_RADIOTAP => super::wlan::radiotap(data),
        other => Err(SkipReason::UnsupportedLinkType(other)),
    }
}

fn sll_payload(
    link: LinkType,
    hatype: u16,
    proto: u16,
    rest: &[u8],
) -> Result<(VlanTags, &[u8]), SkipReason> {
    // ARPHRD_IPGRE (778) and others put an EtherType in the protocol field; the few
    // hatypes that put something else there (802.2 LLC = 4, CAN, netlink) are skipped.
    match (hatype, proto) {
        (_, 0x0004) | (_, 0x0001) => Err(SkipReason::Llc),
        (824, _) => Err(SkipReason::UnsupportedLinkType(link)), // netlink
        _ => ethertype(proto, rest, VlanTags::default()),
    }
}

/// Ethernet II (or 802.3) frame.
pub(crate) fn ethernet(data: &[u8], vlan: VlanTags) -> Result<(VlanTags, &[u8]), SkipReason> {
    nested_ethernet(data, vlan, 0)
}

/// An Ethernet frame `depth` frames deep inside the outermost one.
fn nested_ethernet(
    data: &[u8],
    vlan: VlanTags,
    depth: u8,
) -> Result<(VlanTags, &[u8]), SkipReason> {
    if depth > MAX_NESTED_FRAMES {
        return Err(SkipReason::TunnelTooDeep);
    }
    if data.len() < 14 {
        return Err(SkipReason::TruncatedLinkHeader(LinkType::ETHERNET));
    }
    let t = u16::from_be_bytes([data[12], data[13]]);
    nested_ethertype(t, &data[14..], vlan, depth)
}

/// What follows an EtherType, up to the IP packet.
pub(crate) fn ethertype(
    t: u16,
    rest: &[u8],
    vlan: VlanTags,
) -> Result<(VlanTags, &[u8]), SkipReason> {
    nested_ethertype(t, rest, vlan, 0)
}

fn nested_ethertype(
    mut t: u16,
    mut rest: &[u8],
    mut vlan: VlanTags,
    depth: u8,
) -> Result<(VlanTags, &[u8]), SkipReason> {
    let mut tags = 0;
    loop {
        match t {
            ETH_IPV4 | ETH_IPV6 => return Ok((vlan, rest)),
            ETH_VLAN | ETH_QINQ | ETH_QINQ_OLD => {
                if rest.len() < 4 || tags >= MAX_VLAN_TAGS {
                    return Err(SkipReason::TruncatedLinkHeader(LinkType::ETHERNET));
                }
                vlan.push(u16::from_be_bytes([rest[0], rest[1]]) & 0x0FFF);
                t = u16::from_be_bytes([rest[2], rest[3]]);
                rest = &rest[4..];
                tags += 1;
            }
            ETH_PPPOE_SESS => {
                // ver/type, code, session id, length; then the PPP protocol.
                if rest.len() < 8 {
                    return Err(SkipReason::TruncatedLinkHeader(LinkType::ETHERNET));
                }
                // The PPPoE length bounds the PPP frame; what follows is Ethernet padding (an
                // IP header claiming more is cut to what PPPoE carried: decision 0004). The
                // PPP protocol may be compressed to one byte (RFC 1661 §6.5).
                let plen = usize::from(u16::from_be_bytes([rest[4], rest[5]]));
                let end = (6 + plen).clamp(7, rest.len());
                let (proto, ip) = ppp_protocol(&rest[6..end])
                    .ok_or(SkipReason::TruncatedLinkHeader(LinkType::ETHERNET))?;
                return match proto {
                    0x0021 | 0x0057 => Ok((vlan, ip)),
                    p => Err(SkipReason::PppProtocol(p)),
                };
            }
            ETH_PPPOE_DISC => return Err(SkipReason::PppoeDiscovery),
            ETH_VNTAG | ETH_ETAG => {
                // Cisco VN-Tag: 4 bytes of tag; IEEE 802.1BR E-Tag: 6 bytes. Then the EtherType.
                let n = if t == ETH_VNTAG { 4 } else { 6 };
                if rest.len() < n + 2 || tags >= MAX_VLAN_TAGS {
                    return Err(SkipReason::TruncatedLinkHeader(LinkType::ETHERNET));
                }
                t = u16::from_be_bytes([rest[n], rest[n + 1]]);
                rest = &rest[n + 2..];
                tags += 1;
            }
            ETH_FABRICPATH => {
                // Cisco FabricPath (Suricata's "DCE"): FTag and TTL (2 bytes), then the
                // original Ethernet frame with its own MACs and EtherType.
                if rest.len() < 2 + 14 || tags >= MAX_VLAN_TAGS {
                    return Err(SkipReason::TruncatedLinkHeader(LinkType::ETHERNET));
                }
                t = u16::from_be_bytes([rest[14], rest[15]]);
                rest = &rest[16..];
                tags += 1;
            }
            ETH_NSH => return nested_nsh(rest, vlan, depth),
            ETH_MPLS | ETH_MPLS_MC => return mpls(rest, vlan, t, depth),
            ETH_PBB => {
                // 802.1ah: the I-TAG (4 bytes), then the customer's destination and source
                // MACs and EtherType.
                if rest.len() < 18 {
                    return Err(SkipReason::TruncatedLinkHeader(LinkType::ETHERNET));
                }
                t = u16::from_be_bytes([rest[16], rest[17]]);
                rest = &rest[18..];
                tags += 1;
                if tags > MAX_VLAN_TAGS {
                    return Err(SkipReason::TruncatedLinkHeader(LinkType::ETHERNET));
                }
            }
            len if len < 0x0600 => {
                // IEEE 802.3 length field: an 802.2 LLC header follows. LLC/SNAP (DSAP = SSAP =
                // 0xAA, UI) with an EtherType OUI (00-00-00 or 00-00-F8) carries an EtherType;
                // other LLC frames (STP, CDP, NetBIOS) are skipped.
                let body = &rest[..usize::from(len).min(rest.len())];
                match body {
                    [0xAA, 0xAA, 0x03, 0x00, 0x00, 0x00 | 0xF8, t1, t2, ..] => {
                        t = u16::from_be_bytes([*t1, *t2]);
                        // As after an EtherType, the IP packet's own length bounds it.
                        rest = rest.get(8..).unwrap_or(&[]);
                    }
                    _ => return Err(SkipReason::Llc),
                }
            }
            other => return Err(SkipReason::EtherType(other)),
        }
    }
}

/// An MPLS label stack (RFC 3032) up to its bottom-of-stack label, then IPv4/IPv6 by the
/// version nibble, or an Ethernet pseudowire behind a zero control word (RFC 4448).
fn mpls(
    mut rest: &[u8],
    vlan: VlanTags,
    t: u16,
    depth: u8,
) -> Result<(VlanTags, &[u8]), SkipReason> {
    for _ in 0..MAX_MPLS_LABELS {
        let [_, _, s, _, inner @ ..] = rest else {
            return Err(SkipReason::TruncatedLinkHeader(LinkType::ETHERNET));
        };
        rest = inner;
        if s & 0x01 == 0 {
            continue;
        }
        return match rest.first().map(|b| b >> 4) {
            Some(4) | Some(6) => Ok((vlan, rest)),
            Some(0) if rest.len() >= 4 + 14 => nested_ethernet(&rest[4..], vlan, depth + 1),
            _ => Err(SkipReason::EtherType(t)),
        };
    }
    Err(SkipReason::EtherType(t))
}

/// Network Service Header (RFC 8300): base header (version, O bit, TTL, length in 4-byte words,
/// MD type, next protocol), service path header and context headers; then IPv4 (1), IPv6 (2),
/// Ethernet (3), another NSH (4) or MPLS (5).
pub(crate) fn nsh(data: &[u8], vlan: VlanTags) -> Result<(VlanTags, &[u8]), SkipReason> {
    nested_nsh(data, vlan, 0)
}

fn nested_nsh(data: &[u8], vlan: VlanTags, depth: u8) -> Result<(VlanTags, &[u8]), SkipReason> {
    let mut d = data;
    for _ in 0..MAX_VLAN_TAGS {
        let [b0, b1, _, next, ..] = d else {
            return Err(SkipReason::TruncatedLinkHeader(LinkType::ETHERNET));
        };
        let len = usize::from(b1 & 0x3F) * 4;
        if b0 >> 6 != 0 || len < 8 {
            return Err(SkipReason::Tunnel(format!(
                "NSH version {} length {len}",
                b0 >> 6
            )));
        }
        let next = *next;
        let inner = d
            .get(len..)
            .ok_or(SkipReason::TruncatedLinkHeader(LinkType::ETHERNET))?;
        return match next {
            1 | 2 => Ok((vlan, inner)),
            3 => nested_ethernet(inner, vlan, depth + 1),
            4 => {
                d = inner;
                continue;
            }
            5 => mpls(inner, vlan, ETH_NSH, depth),
            p => Err(SkipReason::Tunnel(format!("NSH next protocol {p}"))),
        };
    }
    Err(SkipReason::TunnelTooDeep)
}

/// Linux NFLOG (`LINKTYPE_NFLOG`): family, version, resource id, then type-length-value
/// attributes in host byte order (little-endian on the captures seen), each padded to 4 bytes;
/// the packet is attribute 9 (`NFULA_PAYLOAD`), starting at its IP header.
fn nflog(data: &[u8]) -> Result<&[u8], SkipReason> {
    let link = LinkType::NFLOG;
    if data.len() < 4 {
        return Err(SkipReason::TruncatedLinkHeader(link));
    }
    let mut at = 4usize;
    while let Some(h) = data.get(at..at + 4) {
        let len = usize::from(u16::from_le_bytes([h[0], h[1]]));
        let kind = u16::from_le_bytes([h[2], h[3]]) & 0x7FFF;
        if len < 4 {
            return Err(SkipReason::TruncatedLinkHeader(link));
        }
        if kind == 9 {
            let end = (at + len).min(data.len());
            return Ok(&data[at + 4..end.max(at + 4)]);
        }
        at += (len + 3) & !3;
    }
    Err(SkipReason::Tunnel("NFLOG record without a packet".into()))
}

/// PPP with optional HDLC address/control bytes and a 1- or 2-byte protocol field.
pub(crate) fn ppp(link: LinkType, data: &[u8]) -> Result<&[u8], SkipReason> {
    let mut d = data;
    if d.len() >= 2 && d[0] == 0xFF && d[1] == 0x03 {
        d = &d[2..];
    }
    if d.is_empty() {
        return Err(SkipReason::TruncatedLinkHeader(link));
    }
    let (proto, rest) = ppp_protocol(d).ok_or(SkipReason::TruncatedLinkHeader(link))?;
    match proto {
        0x0021 | 0x0057 => Ok(rest),
        p => Err(SkipReason::PppProtocol(p)),
    }
}

/// The PPP protocol field and what follows it. Protocol-field compression (RFC 1661 §6.5):
/// an odd first byte is a 1-byte protocol.
fn ppp_protocol(d: &[u8]) -> Option<(u16, &[u8])> {
    match d {
        [b, rest @ ..] if b & 1 == 1 => Some((u16::from(*b), rest)),
        [a, b, rest @ ..] => Some((u16::from_be_bytes([*a, *b]), rest)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth(ethertype: u16, rest: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8; 12];
        v.extend_from_slice(&ethertype.to_be_bytes());
        v.extend_from_slice(rest);
        v
    }

    const IP: &[u8] = &[0x45, 0, 0, 20];

    #[test]
    fn plain_ethernet() {
        let f = eth(0x0800, IP);
        let (vlan, l3) = strip(LinkType::ETHERNET, &f).unwrap();
        assert_eq!(vlan.ids(), &[] as &[u16]);
        assert_eq!(l3, IP);
    }

    #[test]
    fn dot1q_and_qinq_tags_are_collected_outer_first() {
        let mut inner = vec![0x20, 0x0A, 0x81, 0x00, 0x00, 0x14, 0x08, 0x00];
        inner.extend_from_slice(IP);
        let f = eth(0x88A8, &inner);
        let (vlan, l3) = strip(LinkType::ETHERNET, &f).unwrap();
        assert_eq!(vlan.ids(), &[10, 20]);
        assert_eq!(l3, IP);
        // Priority bits do not leak into the id.
        let f = eth(0x8100, &[0xE0, 0x05, 0x86, 0xDD, 0x60]);
        let (vlan, l3) = strip(LinkType::ETHERNET, &f).unwrap();
        assert_eq!(vlan.ids(), &[5]);
        assert_eq!(l3, &[0x60]);
    }

    #[test]
    fn truncated_vlan_tag_is_a_truncated_link_header() {
        let f = eth(0x8100, &[0x00]);
        assert_eq!(
            strip(LinkType::ETHERNET, &f).unwrap_err(),
            SkipReason::TruncatedLinkHeader(LinkType::ETHERNET)
        );
    }

    #[test]
    fn non_ip_ethertypes_and_llc_are_named_skips() {
        assert_eq!(
            strip(LinkType::ETHERNET, &eth(0x0806, &[0; 28])).unwrap_err(),
            SkipReason::EtherType(0x0806)
        );
        assert_eq!(
            SkipReason::EtherType(0x0806).to_string(),
            "ethertype 0x0806 (ARP)"
        );
        assert_eq!(
            strip(LinkType::ETHERNET, &eth(0x0026, &[0; 38])).unwrap_err(),
            SkipReason::Llc
        );
    }

    #[test]
    fn pppoe_session_carries_ip_and_lcp_is_skipped() {
        let mut s = vec![0x11, 0x00, 0x12, 0x34, 0x00, 0x18, 0x00, 0x21];
        s.extend_from_slice(IP);
        let f = eth(0x8864, &s);
        assert_eq!(strip(LinkType::ETHERNET, &f).unwrap().1, IP);
        let lcp = eth(0x8864, &[0x11, 0x00, 0x12, 0x34, 0x00, 0x04, 0xC0, 0x21]);
        assert_eq!(
            strip(LinkType::ETHERNET, &lcp).unwrap_err(),
            SkipReason::PppProtocol(0xC021)
        );
        assert_eq!(
            strip(LinkType::ETHERNET, &eth(0x8863, &[0; 10])).unwrap_err(),
            SkipReason::PppoeDiscovery
        );
    }

    #[test]
    fn pppoe_with_a_one_byte_ppp_protocol_carries_ip() {
        let mut s = vec![0x11, 0x00, 0x12, 0x34, 0x00, 0x05, 0x21];
        s.extend_from_slice(IP);
        let f = eth(0x8864, &s);
        assert_eq!(strip(LinkType::ETHERNET, &f).unwrap().1, IP);
        let s = vec![0x11, 0x00, 0x12, 0x34, 0x00, 0x05, 0x57, 0x60, 0, 0, 0];
        let f = eth(0x8864, &s);
        assert_eq!(strip(LinkType::ETHERNET, &f).unwrap().1, &[0x60, 0, 0, 0]);
    }

    #[test]
    fn the_pppoe_length_bounds_the_packet_and_the_rest_is_padding() {
        // PPPoE says 4 bytes of PPP (2 protocol + 2 of IP); what follows is not IP.
        let mut s = vec![0x11, 0x00, 0x12, 0x34, 0x00, 0x04, 0x00, 0x21];
        s.extend_from_slice(IP);
        let f = eth(0x8864, &s);
        assert_eq!(strip(LinkType::ETHERNET, &f).unwrap().1, &IP[..2]);
    }

    #[test]
    fn ieee_802_3_llc_snap_carries_an_ethertype() {
        let mut s = vec![0xAA, 0xAA, 0x03, 0x00, 0x00, 0x00, 0x08, 0x00];
        s.extend_from_slice(IP);
        let len = s.len() as u16;
        let f = eth(len, &s);
        let (_, l3) = strip(LinkType::ETHERNET, &f).unwrap();
        assert_eq!(l3, IP);
        // SNAP with a VLAN tag behind it.
        let mut s = vec![
            0xAA, 0xAA, 0x03, 0x00, 0x00, 0xF8, 0x81, 0x00, 0x00, 0x07, 0x86, 0xDD,
        ];
        s.push(0x60);
        let f = eth(s.len() as u16, &s);
        let (vlan, l3) = strip(LinkType::ETHERNET, &f).unwrap();
        assert_eq!((vlan.ids(), l3), (&[7u16][..], &[0x60u8][..]));
        // SNAP with a vendor OUI, and plain LLC (STP): skipped.
        let s = [0xAA, 0xAA, 0x03, 0x00, 0x00, 0x0C, 0x20, 0x00, 1, 2];
        assert_eq!(
            strip(LinkType::ETHERNET, &eth(10, &s)).unwrap_err(),
            SkipReason::Llc
        );
        let s = [0x42, 0x42, 0x03, 0, 0, 0];
        assert_eq!(
            strip(LinkType::ETHERNET, &eth(6, &s)).unwrap_err(),
            SkipReason::Llc
        );
    }

    #[test]
    fn mpls_label_stacks_carry_ip_or_an_ethernet_pseudowire() {
        // Two labels, the second with the bottom-of-stack bit, then IPv4.
        let mut s = vec![0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40];
        s.extend_from_slice(IP);
        let f = eth(0x8847, &s);
        assert_eq!(strip(LinkType::ETHERNET, &f).unwrap().1, IP);
        // Pseudowire: label, zero control word, Ethernet with a VLAN tag, then IPv6.
        let mut s = vec![0x00, 0x03, 0x01, 0x40, 0, 0, 0, 0];
        s.extend_from_slice(&[0u8; 12]);
        s.extend_from_slice(&[0x81, 0x00, 0x00, 0x09, 0x86, 0xDD, 0x60]);
        let f = eth(0x8847, &s);
        let (vlan, l3) = strip(LinkType::ETHERNET, &f).unwrap();
        assert_eq!((vlan.ids(), l3), (&[9u16][..], &[0x60u8][..]));
        // A stack that never ends: a truncated header, not a panic.
        let f = eth(0x8847, &[0x00, 0x01, 0x00, 0x40, 0x00]);
        assert!(strip(LinkType::ETHERNET, &f).is_err());
    }

    #[test]
    fn pbb_backbone_frame_carries_the_customer_frame() {
        // B-TAG (802.1ad), then the I-TAG and the customer's MACs and EtherType.
        let mut s = vec![0x00, 0x64, 0x88, 0xE7, 0x00, 0x01, 0x02, 0x03];
        s.extend_from_slice(&[0u8; 12]);
        s.extend_from_slice(&[0x08, 0x00]);
        s.extend_from_slice(IP);
        let f = eth(0x88A8, &s);
        let (vlan, l3) = strip(LinkType::ETHERNET, &f).unwrap();
        assert_eq!((vlan.ids(), l3), (&[100u16][..], IP));
    }

    #[test]
    fn vn_tag_e_tag_and_fabricpath_are_followed_to_the_packet() {
        // VN-Tag (4 bytes), then an 802.1Q tag, then IPv4 (Zeek's vntag.pcap).
        let mut s = vec![0, 0, 0, 0, 0x81, 0x00, 0x00, 0x0B, 0x08, 0x00];
        s.extend_from_slice(IP);
        let f = eth(0x8926, &s);
        let (vlan, l3) = strip(LinkType::ETHERNET, &f).unwrap();
        assert_eq!((vlan.ids(), l3), (&[11u16][..], IP));
        // E-Tag (6 bytes), then IPv4.
        let mut s = vec![0x10, 0x00, 0x00, 0xD3, 0x00, 0x00, 0x08, 0x00];
        s.extend_from_slice(IP);
        assert_eq!(strip(LinkType::ETHERNET, &eth(0x893F, &s)).unwrap().1, IP);
        // FabricPath: FTag/TTL, then the original frame's MACs and EtherType.
        let mut s = vec![0x00, 0x20];
        s.extend_from_slice(&[0u8; 12]);
        s.extend_from_slice(&[0x86, 0xDD, 0x60]);
        assert_eq!(
            strip(LinkType::ETHERNET, &eth(0x8903, &s)).unwrap().1,
            &[0x60]
        );
        // Cut inside the tag: a truncated header, not a panic.
        assert_eq!(
            strip(LinkType::ETHERNET, &eth(0x8903, &[0, 0, 1])).unwrap_err(),
            SkipReason::TruncatedLinkHeader(LinkType::ETHERNET)
        );
    }

    #[test]
    fn nsh_carries_ip_ethernet_or_another_nsh() {
        // MD type 1: length 6 words (base, service path, 4 context words), next IPv4.
        let mut s = vec![0x00, 0x06, 0x01, 0x01, 0, 0, 1, 2];
        s.extend_from_slice(&[0u8; 16]);
        s.extend_from_slice(IP);
        assert_eq!(strip(LinkType::ETHERNET, &eth(0x894F, &s)).unwrap().1, IP);
        // MD type 2 with no context (2 words), next Ethernet with IPv6.
        let mut s = vec![0x00, 0x02, 0x02, 0x03, 0, 0, 1, 2];
        s.extend_from_slice(&[0u8; 12]);
        s.extend_from_slice(&[0x86, 0xDD, 0x60]);
        assert_eq!(
            strip(LinkType::ETHERNET, &eth(0x894F, &s)).unwrap().1,
            &[0x60]
        );
        // An unknown next protocol is a named skip; a length below the base headers too.
        let s = [0x00, 0x02, 0x02, 0x09, 0, 0, 1, 2, 0];
        assert!(matches!(
            strip(LinkType::ETHERNET, &eth(0x894F, &s)).unwrap_err(),
            SkipReason::Tunnel(_)
        ));
        let s = [0x00, 0x01, 0x02, 0x01, 0, 0, 1, 2, 0];
        assert!(strip(LinkType::ETHERNET, &eth(0x894F, &s)).is_err());
    }

    #[test]
    fn link_layer_nesting_is_bounded_not_recursed_without_end() {
        // One level: a header, inner MACs, the ethertype of the next level's header.
        let level = |head: &[u8], next: [u8; 2]| [head, &[0u8; 12][..], &next[..]].concat();
        let too_deep = |level: &[u8], ethertype: u16| {
            let mut s = level.repeat(20_000);
            s.extend_from_slice(IP);
            assert_eq!(
                strip(LinkType::ETHERNET, &eth(ethertype, &s)).unwrap_err(),
                SkipReason::TunnelTooDeep
            );
        };
        // 20,000 levels of NSH carrying Ethernet carrying NSH …: a named skip, no stack overflow.
        too_deep(
            &level(&[0x00, 0x02, 0x02, 0x03, 0, 0, 1, 2], [0x89, 0x4F]),
            0x894F,
        );
        // The same through MPLS pseudowires; and a few levels are still followed.
        let level = level(&[0x00, 0x03, 0x01, 0x40, 0, 0, 0, 0], [0x88, 0x47]);
        too_deep(&level, 0x8847);
        let mut s = level.repeat(3);
        let n = s.len();
        s[n - 2..].copy_from_slice(&[0x08, 0x00]);
        s.extend_from_slice(IP);
        assert_eq!(strip(LinkType::ETHERNET, &eth(0x8847, &s)).unwrap().1, IP);
    }

    #[test]
    fn cisco_hdlc_and_nflog_carry_ip() {
        let mut h = vec![0x0F, 0x00, 0x08, 0x00];
        h.extend_from_slice(IP);
        assert_eq!(strip(LinkType::C_HDLC, &h).unwrap().1, IP);
        // NFLOG: header, a prefix attribute (type 10, 7 bytes padded to 8), then the payload.
        let mut n = vec![0x02, 0x00, 0x00, 0x2A];
        n.extend_from_slice(&[7, 0, 10, 0, b'a', b'b', b'c', 0]);
        n.extend_from_slice(&[(4 + IP.len()) as u8, 0, 9, 0]);
        n.extend_from_slice(IP);
        assert_eq!(strip(LinkType::NFLOG, &n).unwrap().1, IP);
        assert!(strip(LinkType::NFLOG, &n[..12]).is_err());
        assert!(strip(LinkType::C_HDLC, &h[..3]).is_err());
    }

    #[test]
    fn linux_sll_v1_and_v2() {
        let mut v1 = vec![0u8; 16];
        v1[2..4].copy_from_slice(&1u16.to_be_bytes());
        v1[14..16].copy_from_slice(&0x0800u16.to_be_bytes());
        v1.extend_from_slice(IP);
        assert_eq!(strip(LinkType::LINUX_SLL, &v1).unwrap().1, IP);
        let mut v2 = vec![0u8; 20];
        v2[0..2].copy_from_slice(&0x86DDu16.to_be_bytes());
        v2.push(0x60);
        assert_eq!(strip(LinkType::LINUX_SLL2, &v2).unwrap().1, &[0x60]);
        assert_eq!(
            strip(LinkType::LINUX_SLL2, &v2[..19]).unwrap_err(),
            SkipReason::TruncatedLinkHeader(LinkType::LINUX_SLL2)
        );
    }

    #[test]
    fn null_loopback_in_both_byte_orders_and_loop() {
        let mut le = 2u32.to_le_bytes().to_vec();
        le.extend_from_slice(IP);
        assert_eq!(strip(LinkType::NULL, &le).unwrap().1, IP);
        let mut be = 30u32.to_be_bytes().to_vec();
        be.push(0x60);
        assert_eq!(strip(LinkType::NULL, &be).unwrap().1, &[0x60]);
        let mut lo = 24u32.to_be_bytes().to_vec();
        lo.push(0x60);
        assert_eq!(strip(LinkType::LOOP, &lo).unwrap().1, &[0x60]);
        assert_eq!(
            strip(LinkType::NULL, &7u32.to_le_bytes()).unwrap_err(),
            SkipReason::LoopbackFamily(7)
        );
        // An EtherType in the low 16 bits (seen in ppp_null_loopback.pcap, frame 3).
        let mut et = vec![0x0f, 0x00, 0x08, 0x00];
        et.extend_from_slice(IP);
        assert_eq!(strip(LinkType::NULL, &et).unwrap().1, IP);
    }

    #[test]
    fn raw_ip_link_types() {
        for lt in [12u16, 14, 101, 228, 229] {
            assert_eq!(strip(LinkType(lt), IP).unwrap().1, IP);
        }
    }

    #[test]
    fn ppp_with_and_without_address_control_and_compressed_protocol() {
        let mut a = vec![0xFF, 0x03, 0x00, 0x21];
        a.extend_from_slice(IP);
        assert_eq!(strip(LinkType::PPP, &a).unwrap().1, IP);
        let mut b = vec![0x21];
        b.extend_from_slice(IP);
        assert_eq!(strip(LinkType::PPP, &b).unwrap().1, IP);
    }

    #[test]
    fn unknown_link_type_is_kept_as_a_reason() {
        assert_eq!(
            strip(LinkType(147), IP).unwrap_err(),
            SkipReason::UnsupportedLinkType(LinkType(147))
        );
    }
}
