//! Tunnels carried in UDP, recognised by their registered port and decapsulated when what they
//! carry is an IP packet (or an Ethernet frame holding one): VXLAN (RFC 7348, port 4789),
//! VXLAN-GPE (4790),
//! Geneve (RFC 8926, 6081), GTP-U (3GPP TS 29.281, 2152), Teredo (RFC 4380, 3544, and between
//! a client and a relay on any port when the datagram is exactly an IPv6 packet to or from a
//! Teredo address) and AYIYA (5072). GRE in UDP (RFC 8086, 4754) is decoded by the GRE code.
//!
//! A datagram on one of these ports whose content does not parse as the tunnel, or whose inner
//! packet does not look like IP, stays an ordinary UDP datagram: nothing is lost by guessing.

use super::link;
use super::{TunnelKind, VlanTags};

const VXLAN: u16 = 4789;
const VXLAN_GPE: u16 = 4790;
const GENEVE: u16 = 6081;
const GTP_U: u16 = 2152;
const TEREDO: u16 = 3544;
const AYIYA: u16 = 5072;

/// The inner IP packet, the VLAN tags seen on the way and the virtual network's id (the VNI of
/// VXLAN, VXLAN-GPE and Geneve: the same in both directions, and what keeps two tenants' equal
/// addresses apart), when `payload` (a UDP payload between `sport` and `dport`) is a tunnel
/// this module knows.
pub(crate) fn decapsulate(
    sport: u16,
    dport: u16,
    payload: &[u8],
    vlan: VlanTags,
) -> Option<(&[u8], VlanTags, Option<u32>, TunnelKind)> {
    let vni = || {
        payload
            .get(4..7)
            .map(|b| u32::from_be_bytes([0, b[0], b[1], b[2]]))
    };
    let inner = if dport == VXLAN {
        vxlan(payload, vlan).map(|(ip, v)| (ip, v, vni(), TunnelKind::Vxlan))
    } else if dport == VXLAN_GPE {
        vxlan_gpe(payload, vlan).map(|(ip, v)| (ip, v, vni(), TunnelKind::VxlanGpe))
    } else if dport == GENEVE {
        geneve(payload, vlan).map(|(ip, v)| (ip, v, vni(), TunnelKind::Geneve))
    } else if dport == GTP_U || sport == GTP_U {
        gtp_u(payload).map(|ip| (ip, vlan, None, TunnelKind::GtpU))
    } else if dport == TEREDO || sport == TEREDO {
        teredo(payload).map(|ip| (ip, vlan, None, TunnelKind::Teredo))
    } else if let Some(ip) = teredo_relayed(payload) {
        Some((ip, vlan, None, TunnelKind::Teredo))
    } else if dport == AYIYA || sport == AYIYA {
        ayiya(payload).map(|ip| (ip, vlan, None, TunnelKind::Ayiya))
    } else {
        None
    };
    inner.filter(|(ip, _, _, _)| looks_like_ip(ip))
}

/// VXLAN: flags (I bit 0x08 = VNI valid), 3 reserved, VNI (3), reserved; then Ethernet.
fn vxlan(p: &[u8], vlan: VlanTags) -> Option<(&[u8], VlanTags)> {
    if p.len() < 8 + 14 || p[0] & 0x08 == 0 {
        return None;
    }
    link::ethernet(&p[8..], vlan).ok().map(|(v, ip)| (ip, v))
}

/// Geneve: version (2 bits, 0) and option length (6 bits, 4-byte words), flags, protocol
/// type, VNI (3), reserved, options; then Ethernet (0x6558) or IP.
fn geneve(p: &[u8], vlan: VlanTags) -> Option<(&[u8], VlanTags)> {
    if p.len() < 8 || p[0] >> 6 != 0 {
        return None;
    }
    let hl = 8 + usize::from(p[0] & 0x3F) * 4;
    let inner = p.get(hl..)?;
    match u16::from_be_bytes([p[2], p[3]]) {
        0x6558 => link::ethernet(inner, vlan).ok().map(|(v, ip)| (ip, v)),
        0x0800 | 0x86DD => Some((inner, vlan)),
        0x894F => link::nsh(inner, vlan).ok().map(|(v, ip)| (ip, v)),
        _ => None,
    }
}

/// VXLAN-GPE (draft-ietf-nvo3-vxlan-gpe, port 4790): flags (P bit 0x04: next protocol
/// present), 2 reserved, next protocol (1 IPv4, 2 IPv6, 3 Ethernet, 4 NSH), VNI (3), reserved.
fn vxlan_gpe(p: &[u8], vlan: VlanTags) -> Option<(&[u8], VlanTags)> {
    if p.len() < 8 || p[0] & 0x08 == 0 {
        return None;
    }
    let inner = &p[8..];
    match (p[0] & 0x04 != 0, p[3]) {
        (false, _) | (true, 3) => link::ethernet(inner, vlan).ok().map(|(v, ip)| (ip, v)),
        (true, 1 | 2) => Some((inner, vlan)),
        (true, 4) => link::nsh(inner, vlan).ok().map(|(v, ip)| (ip, v)),
        _ => None,
    }
}

/// GTP-U version 1, protocol type GTP, message G-PDU (0xFF); the optional sequence number,
/// N-PDU number and extension headers (each `length × 4` bytes, the last byte naming the next).
fn gtp_u(p: &[u8]) -> Option<&[u8]> {
    if p.len() < 8 || p[0] >> 5 != 1 || p[0] & 0x10 == 0 || p[1] != 0xFF {
        return None;
    }
    if p[0] & 0x07 == 0 {
        return p.get(8..);
    }
    // E, S or PN set: sequence (2), N-PDU (1) and next extension type (1) are present.
    let mut next = *p.get(11)?;
    let mut at = 12;
    if p[0] & 0x04 == 0 {
        next = 0;
    }
    let mut hops = 0;
    while next != 0 {
        let len = usize::from(*p.get(at)?) * 4;
        if len == 0 || hops > 16 {
            return None;
        }
        next = *p.get(at + len - 1)?;
        at += len;
        hops += 1;
    }
    p.get(at..)
}

/// Teredo: an IPv6 packet, after an optional authentication indicator (0x0001) and an
/// optional origin indication (0x0000, 8 bytes).
fn teredo(p: &[u8]) -> Option<&[u8]> {
    let mut p = p;
    if p.starts_with(&[0x00, 0x01]) {
        // id length, auth length, client id, auth value, nonce (8), confirmation (1).
        let (id, au) = (usize::from(*p.get(2)?), usize::from(*p.get(3)?));
        p = p.get(4 + id + au + 9..)?;
    }
    if p.starts_with(&[0x00, 0x00]) {
        p = p.get(8..)?;
    }
    (p.first()? >> 4 == 6).then_some(p)
}

/// Teredo between a client and a relay, on whatever ports they use (only the server speaks on
/// 3544): taken only when the datagram is exactly one IPv6 packet (its payload length + 40 is
/// the UDP payload) with a Teredo address (2001:0::/32, RFC 4380 §4) at one end.
fn teredo_relayed(p: &[u8]) -> Option<&[u8]> {
    let ip = teredo(p)?;
    let exact = ip.len() >= 40 && usize::from(u16::from_be_bytes([ip[4], ip[5]])) + 40 == ip.len();
    let teredo_addr = |a: &[u8]| a[..4] == [0x20, 0x01, 0x00, 0x00];
    (exact && (teredo_addr(&ip[8..24]) || teredo_addr(&ip[24..40]))).then_some(ip)
}

/// AYIYA ("anything in anything"): identity length (2^n bytes) and type, signature length (n ×
/// 4 bytes) and hash, authentication and opcode (1 = forward), next header (4 = IPv4, 41 =
/// IPv6), epoch (4); then the identity and the signature, then the packet.
fn ayiya(p: &[u8]) -> Option<&[u8]> {
    let [id, sig, op, next, _, _, _, _, rest @ ..] = p else {
        return None;
    };
    if op & 0x0F != 1 || !matches!(next, 4 | 41) || id >> 4 > 8 {
        return None;
    }
    let skip = (1usize << (id >> 4)) + usize::from(sig >> 4) * 4;
    rest.get(skip..)
}

/// A plausible IPv4 or IPv6 header at the start of `b` (checked before a tunnel is trusted).
fn looks_like_ip(b: &[u8]) -> bool {
    match b.first().map(|v| v >> 4) {
        Some(4) => {
            b.len() >= 20
                && b[0] & 0x0F >= 5
                && usize::from(u16::from_be_bytes([b[2], b[3]])) >= usize::from(b[0] & 0x0F) * 4
        }
        Some(6) => b.len() >= 40,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4() -> Vec<u8> {
        let mut v = vec![0x45, 0, 0, 20, 0, 1, 0, 0, 64, 17, 0, 0];
        v.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        v
    }

    fn ether(ip: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8; 12];
        v.extend_from_slice(&[0x08, 0x00]);
        v.extend_from_slice(ip);
        v
    }

    #[test]
    fn vxlan_carries_an_ethernet_frame() {
        let mut p = vec![0x08, 0, 0, 0, 0, 0, 42, 0];
        p.extend(ether(&ipv4()));
        let (ip, _, vni, kind) = decapsulate(50000, 4789, &p, VlanTags::default()).unwrap();
        assert_eq!(kind, TunnelKind::Vxlan);
        assert_eq!((ip, vni), (&ipv4()[..], Some(42)));
        p[0] = 0; // VNI flag clear: not VXLAN
        assert!(decapsulate(50000, 4789, &p, VlanTags::default()).is_none());
    }

    #[test]
    fn geneve_skips_its_options() {
        let mut p = vec![0x01, 0, 0x65, 0x58, 0, 0, 7, 0, 1, 2, 3, 4];
        p.extend(ether(&ipv4()));
        let (ip, _, vni, kind) = decapsulate(1, 6081, &p, VlanTags::default()).unwrap();
        assert_eq!(kind, TunnelKind::Geneve);
        assert_eq!((ip, vni), (&ipv4()[..], Some(7)));
        let mut p = vec![0x00, 0, 0x08, 0x00, 0, 0, 7, 0];
        p.extend(ipv4());
        assert_eq!(
            decapsulate(1, 6081, &p, VlanTags::default()).unwrap().0,
            ipv4()
        );
    }

    #[test]
    fn gtp_u_g_pdu_with_and_without_extension_headers() {
        let mut p = vec![0x30, 0xFF, 0, 20, 0, 0, 0, 1];
        p.extend(ipv4());
        assert_eq!(gtp_u(&p).unwrap(), ipv4());
        // E flag: sequence, N-PDU, next type 0x85 (PDU session container, 1 word), then IP.
        let mut p = vec![
            0x34, 0xFF, 0, 28, 0, 0, 0, 1, 0, 0, 0, 0x85, 1, 0x10, 0x05, 0x00,
        ];
        p.extend(ipv4());
        assert_eq!(gtp_u(&p).unwrap(), ipv4());
        // Echo request (type 1) is signalling, not a packet.
        let p = [0x32, 0x01, 0, 4, 0, 0, 0, 0, 0, 1, 0, 0];
        assert!(gtp_u(&p).is_none());
    }

    #[test]
    fn teredo_with_origin_indication() {
        let mut ip6 = vec![0x60, 0, 0, 0, 0, 0, 59, 64];
        ip6.extend_from_slice(&[0; 32]);
        let mut p = vec![0x00, 0x00, 0x12, 0x34, 1, 2, 3, 4];
        p.extend_from_slice(&ip6);
        assert_eq!(
            decapsulate(3544, 40000, &p, VlanTags::default()).unwrap().0,
            ip6
        );
        assert!(decapsulate(3544, 40000, b"not ipv6 at all", VlanTags::default()).is_none());
    }

    #[test]
    fn teredo_to_a_relay_on_any_port_needs_an_exact_ipv6_packet_with_a_teredo_address() {
        // 2001:0:4137:9e50:… → 2001:4860::68, no next header, 0 bytes of payload.
        let mut ip6 = vec![0x60, 0, 0, 0, 0, 0, 59, 64];
        ip6.extend_from_slice(&[0x20, 0x01, 0, 0, 0x41, 0x37, 0x9e, 0x50]);
        ip6.extend_from_slice(&[0; 8]);
        ip6.extend_from_slice(&[0x20, 0x01, 0x48, 0x60]);
        ip6.extend_from_slice(&[0; 12]);
        assert_eq!(
            decapsulate(3797, 32900, &ip6, VlanTags::default())
                .unwrap()
                .0,
            ip6
        );
        // One byte more than the IPv6 header declares: not taken.
        let mut long = ip6.clone();
        long.push(0);
        assert!(decapsulate(3797, 32900, &long, VlanTags::default()).is_none());
        // No Teredo address at either end: ordinary UDP.
        let mut other = ip6.clone();
        other[8..12].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        assert!(decapsulate(3797, 32900, &other, VlanTags::default()).is_none());
    }

    #[test]
    fn ayiya_forward_skips_identity_and_signature() {
        // Identity 2^4 = 16 bytes, signature 5 × 4 = 20 bytes, forward, IPv4.
        let mut p = vec![0x41, 0x52, 0x11, 4, 0, 0, 0, 0];
        p.extend_from_slice(&[0xAA; 36]);
        p.extend(ipv4());
        assert_eq!(
            decapsulate(40000, 5072, &p, VlanTags::default()).unwrap().0,
            ipv4()
        );
        p[2] = 0x10; // opcode 0: a heartbeat, not a packet
        assert!(decapsulate(40000, 5072, &p, VlanTags::default()).is_none());
    }

    #[test]
    fn ordinary_udp_on_a_tunnel_port_stays_udp() {
        assert!(decapsulate(50000, 4789, &[0x08; 30], VlanTags::default()).is_none());
        assert!(decapsulate(40000, 53, &ipv4(), VlanTags::default()).is_none());
    }
}
