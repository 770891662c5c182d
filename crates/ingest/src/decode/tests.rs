//! Decoder unit tests on hand-built frames (one per edge case).

use super::*;
use crate::frame::{FileId, Frame, FrameRef, LinkType};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn frame<'a>(link: LinkType, data: &'a [u8], orig_len: u32, n: u64) -> Frame<'a> {
    Frame {
        ts: Timestamp(n as i64 * 1_000_000),
        ts_known: true,
        frame: FrameRef {
            file: FileId(0),
            index: n,
            offset: 24 + n * 100,
        },
        interface: 0,
        link,
        orig_len,
        data,
    }
}

/// IPv4 header (no options, checksum left 0: the decoder does not verify it).
fn ipv4(
    proto: u8,
    payload: &[u8],
    id: u16,
    frag_units: u16,
    more: bool,
    total: Option<u16>,
) -> Vec<u8> {
    let total = total.unwrap_or(20 + payload.len() as u16);
    let flags_off = (if more { 0x2000 } else { 0 }) | frag_units;
    let mut v = vec![0x45, 0];
    v.extend_from_slice(&total.to_be_bytes());
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(&flags_off.to_be_bytes());
    v.extend_from_slice(&[64, proto, 0, 0, 10, 0, 0, 1, 203, 0, 113, 9]);
    v.extend_from_slice(payload);
    v
}

fn tcp(sport: u16, dport: u16, seq: u32, flags: u8, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&sport.to_be_bytes());
    v.extend_from_slice(&dport.to_be_bytes());
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&7u32.to_be_bytes());
    v.extend_from_slice(&[0x50, flags, 0x10, 0x00, 0, 0, 0, 0]);
    v.extend_from_slice(data);
    v
}

fn eth(l3: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8; 12];
    v.extend_from_slice(&[0x08, 0x00]);
    v.extend_from_slice(l3);
    v
}

fn packet<'a>(d: Decoded<'a>) -> Packet<'a> {
    match d {
        Decoded::Packet(p) => p,
        other => panic!("expected a packet, got {other:?}"),
    }
}

#[test]
fn ipv4_tcp_over_ethernet_with_padding_stripped() {
    let mut f = eth(&ipv4(
        6,
        &tcp(40000, 80, 1000, 0x18, b"GET /"),
        1,
        0,
        false,
        None,
    ));
    f.extend_from_slice(&[0xEE; 6]); // Ethernet padding after the IP packet
    let mut d = Decoder::default();
    let p = packet(d.decode(&frame(LinkType::ETHERNET, &f, f.len() as u32, 1)));
    assert_eq!(p.ip.src, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!(p.ip.total_len, 45);
    let Transport::Tcp(t) = p.transport else {
        panic!("not tcp")
    };
    assert_eq!((t.src_port, t.dst_port, t.seq, t.ack), (40000, 80, 1000, 7));
    assert!(t.flags.has(TcpFlags::PSH | TcpFlags::ACK) && t.complete);
    assert_eq!(p.payload, b"GET /");
    assert_eq!(p.payload_len, 5);
    assert!(!p.truncated);
    assert_eq!(p.wire.frames, 1);
    assert_eq!(p.wire.ip_bytes, 45);
}

#[test]
fn snaplen_cut_payload_keeps_declared_length() {
    let body = vec![b'x'; 1000];
    let full = eth(&ipv4(6, &tcp(1, 2, 3, 0x10, &body), 1, 0, false, None));
    let cut = &full[..14 + 20 + 20 + 100];
    let mut d = Decoder::default();
    let p = packet(d.decode(&frame(LinkType::ETHERNET, cut, full.len() as u32, 1)));
    assert_eq!(p.payload.len(), 100);
    assert_eq!(p.payload_len, 1000);
    assert!(p.truncated);
    assert_eq!(p.ip.total_len, 1040);
}

#[test]
fn tcp_header_cut_after_the_ports_is_an_incomplete_tcp_packet() {
    let full = eth(&ipv4(6, &tcp(1, 2, 3, 0x10, b"abc"), 1, 0, false, None));
    let cut = &full[..14 + 20 + 6];
    let mut d = Decoder::default();
    let p = packet(d.decode(&frame(LinkType::ETHERNET, cut, full.len() as u32, 1)));
    let Transport::Tcp(t) = p.transport else {
        panic!("not tcp")
    };
    assert!(!t.complete);
    assert_eq!((t.src_port, t.dst_port), (1, 2));
    assert_eq!(p.payload_len, 3);
    assert!(p.truncated);
    // Fewer than 4 bytes of TCP: skipped with a reason.
    let cut = &full[..14 + 20 + 3];
    assert!(matches!(
        d.decode(&frame(LinkType::ETHERNET, cut, full.len() as u32, 2)),
        Decoded::Skipped(SkipReason::TruncatedTransportHeader)
    ));
}

#[test]
fn tcp_data_offset_below_twenty_bytes_counts_no_payload() {
    let mut seg = tcp(1, 2, 3, 0x18, &[b'x'; 25]);
    seg[12] = 0x20; // data offset 2 words = 8 bytes: no TCP header is that short
    let f = eth(&ipv4(6, &seg, 1, 0, false, None));
    let mut d = Decoder::default();
    let p = packet(d.decode(&frame(LinkType::ETHERNET, &f, f.len() as u32, 1)));
    let Transport::Tcp(t) = p.transport else {
        panic!("not tcp")
    };
    assert!(!t.complete);
    assert_eq!((p.payload_len, p.payload.len()), (0, 0));
    assert_eq!(p.wire.ip_bytes, 20 + 45);
    assert!(!p.truncated, "malformed, not cut by the snapshot length");
}

#[test]
fn icmp_payload_starts_after_the_eight_byte_header() {
    // Echo request: type 8, code 0, checksum, identifier, sequence, then 32 bytes of data.
    let mut echo = vec![8, 0, 0, 0, 0x12, 0x34, 0, 1];
    echo.extend_from_slice(&[0xAB; 32]);
    let f = eth(&ipv4(1, &echo, 1, 0, false, None));
    let mut d = Decoder::default();
    let p = packet(d.decode(&frame(LinkType::ETHERNET, &f, f.len() as u32, 1)));
    assert!(matches!(p.transport, Transport::Icmp { icmp_type: 8, .. }));
    assert_eq!((p.payload_len, p.payload), (32, &[0xAB; 32][..]));
    // Destination unreachable quoting 28 bytes of the datagram.
    let mut err = vec![3, 3, 0, 0, 0, 0, 0, 0];
    err.extend_from_slice(&[0x45; 28]);
    let f = eth(&ipv4(1, &err, 2, 0, false, None));
    let p = packet(d.decode(&frame(LinkType::ETHERNET, &f, f.len() as u32, 2)));
    assert_eq!(p.payload_len, 28);
}

#[test]
fn truncated_and_unknown_ip_headers_are_named_skips() {
    let mut d = Decoder::default();
    let f = eth(&[0x45, 0, 0, 40, 0, 0]);
    assert!(matches!(
        d.decode(&frame(LinkType::ETHERNET, &f, 60, 1)),
        Decoded::Skipped(SkipReason::TruncatedIpHeader)
    ));
    let f = eth(&[
        0x75, 0, 0, 40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    assert!(matches!(
        d.decode(&frame(LinkType::ETHERNET, &f, 60, 2)),
        Decoded::Skipped(SkipReason::IpVersion(7))
    ));
    assert_eq!(d.stats().skipped.values().sum::<u64>(), 2);
}

#[test]
fn ipv6_with_hop_by_hop_and_udp() {
    let mut v = vec![0x60, 0, 0, 0];
    let udp = [
        0x13, 0x88, 0x00, 0x35, 0x00, 0x0c, 0, 0, b'a', b'b', b'c', b'd',
    ];
    let hbh = [17u8, 0, 1, 4, 0, 0, 0, 0]; // next = UDP, PadN
    v.extend_from_slice(&((hbh.len() + udp.len()) as u16).to_be_bytes());
    v.extend_from_slice(&[0, 64]); // next header hop-by-hop, hop limit
    v.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
    v.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
    v.extend_from_slice(&hbh);
    v.extend_from_slice(&udp);
    let mut d = Decoder::default();
    let p = packet(d.decode(&frame(LinkType::RAW, &v, v.len() as u32, 1)));
    assert_eq!(p.ip.version, IpVersion::V6);
    assert_eq!(p.ip.header_len, 48);
    assert_eq!(p.ip.protocol, 17);
    assert!(matches!(
        p.transport,
        Transport::Udp {
            src_port: 5000,
            dst_port: 53,
            length: 12
        }
    ));
    assert_eq!(p.payload, b"abcd");
}

#[test]
fn ipv4_fragments_become_one_packet_with_all_frames_counted() {
    let seg = tcp(5555, 80, 42, 0x18, &[b'z'; 1200]);
    // Split the TCP segment at 1000 bytes (125 units of 8).
    let f1 = eth(&ipv4(6, &seg[..1000], 77, 0, true, None));
    let f2 = eth(&ipv4(6, &seg[1000..], 77, 125, false, None));
    let mut d = Decoder::default();
    assert!(matches!(
        d.decode(&frame(LinkType::ETHERNET, &f2, f2.len() as u32, 1)),
        Decoded::FragmentHeld
    ));
    let p = packet(d.decode(&frame(LinkType::ETHERNET, &f1, f1.len() as u32, 2)));
    assert!(p.ip.reassembled);
    assert_eq!(p.ip.total_len, 20 + 1220);
    assert_eq!(p.payload.len(), 1200);
    assert_eq!(p.payload_len, 1200);
    assert_eq!(p.wire.frames, 2);
    assert_eq!(p.wire.orig_bytes, (f1.len() + f2.len()) as u64);
    assert_eq!(p.wire.first_frame.index, 1);
    assert_eq!(p.frame.index, 2);
    assert_eq!(d.defrag_stats().reassembled, 1);
}

#[test]
fn gre_carrying_ipv4_is_decapsulated() {
    let inner = ipv4(6, &tcp(22, 40264, 9, 0x10, b"ssh"), 5, 0, false, None);
    let mut gre = vec![0x00, 0x00, 0x08, 0x00];
    gre.extend_from_slice(&inner);
    let outer = eth(&ipv4(47, &gre, 6, 0, false, None));
    let mut d = Decoder::default();
    let p = packet(d.decode(&frame(LinkType::ETHERNET, &outer, outer.len() as u32, 1)));
    assert_eq!(p.ip.tunnel_depth, 1);
    assert_eq!(p.payload, b"ssh");
    // ip_bytes is the outer packet's length: what the wire carried.
    assert_eq!(p.wire.ip_bytes, (20 + gre.len()) as u64);
    assert_eq!(d.stats().tunnelled, 1);
}

/// `v` (an IPv4 header from [`ipv4`]) with other source and destination addresses.
fn readdress(mut v: Vec<u8>, src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
    v[12..16].copy_from_slice(&src);
    v[16..20].copy_from_slice(&dst);
    v
}

#[test]
fn tunnel_ends_are_the_outermost_and_innermost_tunnel_headers() {
    let ip = |a: [u8; 4]| IpAddr::V4(Ipv4Addr::from(a));
    let inner = ipv4(6, &tcp(40264, 443, 9, 0x10, b"tls"), 5, 0, false, None);
    let mut d = Decoder::default();
    // Not tunnelled: no ends.
    let plain = eth(&inner);
    let p = packet(d.decode(&frame(LinkType::ETHERNET, &plain, plain.len() as u32, 1)));
    assert!(p.tunnel.is_empty() && p.tunnel.addrs().next().is_none());
    assert_eq!(p.carrier, None);
    // GRE between 192.0.2.1 and 198.51.100.7 carrying the inner packet.
    let mut gre = vec![0x00, 0x00, 0x08, 0x00];
    gre.extend_from_slice(&inner);
    let one = readdress(
        ipv4(47, &gre, 6, 0, false, None),
        [192, 0, 2, 1],
        [198, 51, 100, 7],
    );
    let f = eth(&one);
    let p = packet(d.decode(&frame(LinkType::ETHERNET, &f, f.len() as u32, 2)));
    assert_eq!(
        p.src(),
        ip([10, 0, 0, 1]),
        "the flow's own addresses stay the inner ones"
    );
    assert_eq!(
        p.tunnel.outer,
        Some((ip([192, 0, 2, 1]), ip([198, 51, 100, 7])))
    );
    assert_eq!(p.tunnel.inner, None);
    assert_eq!(
        p.carrier,
        Some(Carrier {
            kind: TunnelKind::Gre,
            proto: 47,
            src_port: 0,
            dst_port: 0,
            payload: gre.len() as u32,
        })
    );
    // That GRE packet inside IP-in-IP inside IP-in-IP: the outermost and the innermost
    // tunnel are kept, the one between is not.
    let mid = readdress(
        ipv4(4, &one, 7, 0, false, None),
        [172, 16, 0, 1],
        [172, 16, 0, 2],
    );
    let out = readdress(
        ipv4(4, &mid, 8, 0, false, None),
        [100, 64, 0, 1],
        [100, 64, 0, 2],
    );
    let p = packet(d.decode(&frame(LinkType::RAW, &out, out.len() as u32, 3)));
    assert_eq!(p.ip.tunnel_depth, 3);
    assert_eq!(
        p.tunnel.outer,
        Some((ip([100, 64, 0, 1]), ip([100, 64, 0, 2])))
    );
    assert_eq!(
        p.tunnel.inner,
        Some((ip([192, 0, 2, 1]), ip([198, 51, 100, 7])))
    );
    assert_eq!(p.tunnel.addrs().count(), 4);
    // The carrier is the outermost tunnel's: IP-in-IP carrying the middle packet.
    let c = p.carrier.unwrap();
    assert_eq!(
        (c.kind, c.proto, c.payload),
        (TunnelKind::IpInIp, 4, mid.len() as u32)
    );
    // Either direction gives the same unordered ends.
    let back = readdress(
        ipv4(47, &gre, 6, 0, false, None),
        [198, 51, 100, 7],
        [192, 0, 2, 1],
    );
    let f = eth(&back);
    let q = packet(d.decode(&frame(LinkType::ETHERNET, &f, f.len() as u32, 4)));
    assert_eq!(
        q.tunnel.outer,
        Some((ip([198, 51, 100, 7]), ip([192, 0, 2, 1])))
    );
    assert_eq!(
        q.tunnel.unordered(),
        TunnelEnds {
            outer: Some((ip([192, 0, 2, 1]), ip([198, 51, 100, 7]))),
            inner: None
        }
    );
}

#[test]
fn nested_tunnels_beyond_the_limit_are_skipped() {
    let mut pkt = ipv4(6, &tcp(1, 2, 3, 0x10, b""), 1, 0, false, None);
    for _ in 0..6 {
        pkt = ipv4(4, &pkt, 1, 0, false, None);
    }
    let mut d = Decoder::default();
    assert!(matches!(
        d.decode(&frame(LinkType::RAW, &pkt, pkt.len() as u32, 1)),
        Decoded::Skipped(SkipReason::TunnelTooDeep)
    ));
}

/// A GRE packet with `flags`/`proto` and `header` between the GRE header and the mirrored
/// Ethernet frame carrying `inner`.
fn gre_frame(flags: [u8; 2], proto: u16, header: &[u8], inner: &[u8]) -> Vec<u8> {
    let mut gre = flags.to_vec();
    gre.extend_from_slice(&proto.to_be_bytes());
    if flags[0] & 0x10 != 0 {
        gre.extend_from_slice(&77u32.to_be_bytes()); // sequence number
    }
    gre.extend_from_slice(header);
    gre.extend_from_slice(&eth(inner));
    eth(&ipv4(47, &gre, 6, 0, false, None))
}

#[test]
fn erspan_types_one_two_and_three_carry_the_mirrored_frame() {
    let inner = ipv4(6, &tcp(443, 50000, 9, 0x10, b"tls"), 5, 0, false, None);
    let cases: [(&str, Vec<u8>); 4] = [
        ("type I", gre_frame([0, 0], 0x88BE, &[], &inner)),
        (
            "type II",
            gre_frame(
                [0x10, 0],
                0x88BE,
                &[0x10, 0x17, 0x08, 0x64, 0, 0, 0, 0],
                &inner,
            ),
        ),
        (
            "type III",
            gre_frame(
                [0x10, 0],
                0x22EB,
                &[0x20, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
                &inner,
            ),
        ),
        (
            "type III with its platform subheader",
            gre_frame(
                [0x10, 0],
                0x22EB,
                &[[0x20, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1], [9; 12]].concat()[..20],
                &inner,
            ),
        ),
    ];
    for (what, f) in cases {
        let mut d = Decoder::default();
        let p = packet(d.decode(&frame(LinkType::ETHERNET, &f, f.len() as u32, 1)));
        assert_eq!(p.payload, b"tls", "{what}");
        assert_eq!(p.ip.tunnel_depth, 1, "{what}");
        assert_eq!(
            p.carrier.map(|c| c.kind),
            Some(TunnelKind::Erspan),
            "{what}"
        );
        assert_eq!(
            p.wire.ip_bytes,
            (f.len() - 14) as u64,
            "{what}: the outer IP length"
        );
    }
}

#[test]
fn aruba_gre_carries_an_802_11_frame_and_nsh_in_gre_its_packet() {
    let inner = ipv4(17, &[0, 53, 0, 53, 0, 9, 0, 0, b'q'], 5, 0, false, None);
    // Aruba: an 802.11 data frame (FromDS), LLC/SNAP, then IPv4.
    let mut wlan = vec![0x08, 0x02, 0, 0];
    wlan.extend_from_slice(&[0u8; 20]);
    wlan.extend_from_slice(&[0xAA, 0xAA, 0x03, 0, 0, 0, 0x08, 0x00]);
    wlan.extend_from_slice(&inner);
    let mut gre = vec![0, 0, 0x82, 0x40];
    gre.extend_from_slice(&wlan);
    let f = eth(&ipv4(47, &gre, 6, 0, false, None));
    let mut d = Decoder::default();
    let p = packet(d.decode(&frame(LinkType::ETHERNET, &f, f.len() as u32, 1)));
    assert_eq!(p.payload, b"q");
    assert_eq!(p.carrier.map(|c| c.kind), Some(TunnelKind::ArubaWlan));
    // NSH (MD type 2, no context: 8 bytes) naming IPv4, in GRE.
    let mut gre = vec![0, 0, 0x89, 0x4F, 0x00, 0x02, 0x02, 0x01, 0, 0, 1, 255];
    gre.extend_from_slice(&inner);
    let f = eth(&ipv4(47, &gre, 6, 0, false, None));
    let mut d = Decoder::default();
    let p = packet(d.decode(&frame(LinkType::ETHERNET, &f, f.len() as u32, 1)));
    assert_eq!(p.payload, b"q");
}

#[test]
fn gre_in_udp_and_vxlan_vni_reach_the_packet() {
    let inner = ipv4(6, &tcp(80, 36518, 9, 0x10, b"http"), 5, 0, false, None);
    let mut udp = vec![0xC0, 0x00, 0x12, 0x92, 0, 0, 0, 0]; // 49152 → 4754
    udp.extend_from_slice(&[0, 0, 0x08, 0x00]);
    udp.extend_from_slice(&inner);
    let len = udp.len() as u16;
    udp[4..6].copy_from_slice(&len.to_be_bytes());
    let f = eth(&ipv4(17, &udp, 6, 0, false, None));
    let mut d = Decoder::default();
    let p = packet(d.decode(&frame(LinkType::ETHERNET, &f, f.len() as u32, 1)));
    assert_eq!(
        (p.payload, p.ip.tunnel_depth, p.vni),
        (&b"http"[..], 1, None)
    );
    // The carrier: the outer UDP ports and the UDP payload (GRE header + inner packet).
    assert_eq!(
        p.carrier,
        Some(Carrier {
            kind: TunnelKind::GreUdp,
            proto: 17,
            src_port: 49152,
            dst_port: 4754,
            payload: (4 + inner.len()) as u32,
        })
    );
    // VXLAN with VNI 5001: the packet carries it.
    let mut udp = vec![0xC0, 0x00, 0x12, 0xB5, 0, 0, 0, 0]; // → 4789
    udp.extend_from_slice(&[0x08, 0, 0, 0, 0x00, 0x13, 0x89, 0]);
    udp.extend_from_slice(&eth(&inner));
    let len = udp.len() as u16;
    udp[4..6].copy_from_slice(&len.to_be_bytes());
    let f = eth(&ipv4(17, &udp, 6, 0, false, None));
    let p = packet(d.decode(&frame(LinkType::ETHERNET, &f, f.len() as u32, 2)));
    assert_eq!((p.payload, p.vni), (&b"http"[..], Some(5001)));
    let c = p.carrier.unwrap();
    assert_eq!(
        (c.kind, c.src_port, c.dst_port, c.payload),
        (TunnelKind::Vxlan, 49152, 4789, u32::from(len) - 8)
    );
}
