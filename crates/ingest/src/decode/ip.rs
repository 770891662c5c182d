//! IPv4/IPv6 (via etherparse, lax so snaplen-truncated packets still decode), tunnels
//! (GRE with ERSPAN I/II/III and NSH, IP-in-IP), fragments (handed to the reassembler), and transport headers.

use super::{
    link, udptun, Carrier, Decoded, Packet, SkipReason, TunnelEnds, TunnelKind, VlanTags, Wire,
};
use crate::defrag::{Defragmenter, FragKey, FragPiece, Push};
use crate::frame::Frame;
use etherparse::{LaxIpSlice, TcpHeaderSlice};
use std::net::IpAddr;

/// Tunnel layers followed (GRE / IP-in-IP) before a frame is skipped.
const MAX_TUNNEL_DEPTH: u8 = 4;
const PROTO_ICMP: u8 = 1;
const PROTO_IPIP: u8 = 4;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_IPV6: u8 = 41;
const PROTO_GRE: u8 = 47;
/// GRE-in-UDP port (RFC 8086).
const GRE_IN_UDP: u16 = 4754;
const PROTO_ICMPV6: u8 = 58;

/// IP version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IpVersion {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

/// The IP header facts later stages need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpView {
    /// Version.
    pub version: IpVersion,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Transport protocol number (after IPv6 extension headers).
    pub protocol: u8,
    /// TTL / hop limit.
    pub ttl: u8,
    /// IPv4 identification or IPv6 fragment id (0 when absent).
    pub ident: u32,
    /// IP total length according to the header (bytes, header included).
    pub total_len: u32,
    /// Bytes from the start of the IP header to the transport header (options and
    /// extension headers included).
    pub header_len: u32,
    /// Reassembled from fragments.
    pub reassembled: bool,
    /// Tunnel layers removed to reach this header (0 = not tunnelled).
    pub tunnel_depth: u8,
    /// An IPv6 extension header could not be parsed; the transport may be unknown.
    pub ext_header_error: bool,
    /// The header's total length exceeded the frame; it was clamped to the frame.
    pub length_clamped: bool,
}

/// TCP flags (the low 8 bits of the flags field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
    /// ECE.
    pub const ECE: u8 = 0x40;
    /// CWR.
    pub const CWR: u8 = 0x80;

    /// True if every bit of `mask` is set.
    pub fn has(self, mask: u8) -> bool {
        self.0 & mask == mask
    }
}

/// A TCP header view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpView<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number (raw; wrapping arithmetic is the flow stage's).
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Flags.
    pub flags: TcpFlags,
    /// Receive window (unscaled).
    pub window: u16,
    /// Header length in bytes (data offset × 4).
    pub header_len: u16,
    /// Raw options bytes.
    pub options: &'a [u8],
    /// False when the capture holds only the ports: seq/ack/flags are then zero and
    /// must not be used.
    pub complete: bool,
}

/// Transport header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport<'a> {
    /// TCP.
    Tcp(TcpView<'a>),
    /// UDP.
    Udp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
        /// UDP length field (0 when not captured).
        length: u16,
    },
    /// ICMP or ICMPv6.
    Icmp {
        /// ICMPv6 rather than ICMP.
        v6: bool,
        /// Type.
        icmp_type: u8,
        /// Code.
        code: u8,
    },
    /// Another IP protocol (see `IpView::protocol`); the payload is the IP payload.
    Other,
}

struct IpParsed<'a> {
    view: IpView,
    payload: &'a [u8],
    /// Transport bytes according to the header.
    declared: u32,
    fragment: Option<(u32, u32, bool)>,
}

fn parse_ip(bytes: &[u8], depth: u8) -> Result<IpParsed<'_>, SkipReason> {
    let (ip, ext_err) = match LaxIpSlice::from_slice(bytes) {
        Ok(x) => x,
        Err(etherparse::err::ip::LaxHeaderSliceError::Len(_)) => {
            return Err(match bytes.first().map(|b| b >> 4) {
                Some(4) | Some(6) => SkipReason::TruncatedIpHeader,
                Some(v) => SkipReason::IpVersion(v),
                None => SkipReason::TruncatedIpHeader,
            })
        }
        Err(etherparse::err::ip::LaxHeaderSliceError::Content(e)) => {
            return Err(match e {
                etherparse::err::ip::HeaderError::UnsupportedIpVersion { version_number } => {
                    SkipReason::IpVersion(version_number)
                }
                _ => SkipReason::MalformedIpHeader,
            })
        }
    };
    let pl = ip.payload();
    let payload = pl.payload;
    // Offset of the transport header from the IP header start (pointer distance within
    // the same slice).
    let header_len = (payload.as_ptr() as usize).saturating_sub(bytes.as_ptr() as usize) as u32;
    let (version, total_len, ttl, ident, fragment) = match &ip {
        LaxIpSlice::Ipv4(v4) => {
            let h = v4.header();
            let frag = (h.more_fragments() || h.fragments_offset().value() != 0).then(|| {
                (
                    u32::from(h.identification()),
                    u32::from(h.fragments_offset().byte_offset()),
                    h.more_fragments(),
                )
            });
            let total = u32::from(h.total_len());
            // A total length below the header is impossible; trust the captured bytes then.
            let total = if total < header_len {
                header_len + payload.len() as u32
            } else {
                total
            };
            (
                IpVersion::V4,
                total,
                h.ttl(),
                u32::from(h.identification()),
                frag,
            )
        }
        LaxIpSlice::Ipv6(v6) => {
            let h = v6.header();
            // The fragment header is found by our own bounds-checked walk: etherparse's
            // extension iterator reads out of bounds on some lax-parsed chains (found by
            // fuzzing; see tests/fuzz-regressions).
            let (ident, frag) = match ipv6_fragment_header(bytes) {
                Some((id, offset, more)) if offset != 0 || more => (id, Some((id, offset, more))),
                Some((id, _, _)) => (id, None),
                None => (0, None),
            };
            let plen = u32::from(h.payload_length());
            // Payload length 0 means a jumbogram or an unset field: use what was captured.
            let total = if plen == 0 {
                header_len + payload.len() as u32
            } else {
                40 + plen
            };
            (IpVersion::V6, total, h.hop_limit(), ident, frag)
        }
    };
    let declared = total_len.saturating_sub(header_len);
    Ok(IpParsed {
        view: IpView {
            version,
            src: ip.source_addr(),
            dst: ip.destination_addr(),
            protocol: pl.ip_number.0,
            ttl,
            ident,
            total_len,
            header_len,
            reassembled: false,
            tunnel_depth: depth,
            ext_header_error: ext_err.is_some(),
            length_clamped: false,
        },
        payload,
        declared,
        fragment,
    })
}

/// Walks the IPv6 extension-header chain (bounds-checked, at most 16 headers) and returns
/// the fragment header's (identification, byte offset, more-fragments flag), if any.
fn ipv6_fragment_header(b: &[u8]) -> Option<(u32, u32, bool)> {
    let mut next = *b.get(6)?;
    let mut at = 40usize;
    for _ in 0..16 {
        match next {
            // Hop-by-hop, routing, destination options: length in 8-octet units, minus one.
            0 | 43 | 60 => {
                let len = (usize::from(*b.get(at + 1)?) + 1) * 8;
                next = *b.get(at)?;
                at += len;
            }
            // Authentication header: length in 4-octet units, minus two.
            51 => {
                let len = (usize::from(*b.get(at + 1)?) + 2) * 4;
                next = *b.get(at)?;
                at += len;
            }
            44 => {
                let h = b.get(at..at + 8)?;
                let off_flags = u16::from_be_bytes([h[2], h[3]]);
                let id = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
                return Some((id, u32::from(off_flags & 0xFFF8), off_flags & 1 == 1));
            }
            _ => return None,
        }
    }
    None
}

/// What a transport payload turned into.
enum Inner<'a> {
    Done(Transport<'a>, &'a [u8], u32),
    /// An encapsulated IP packet (with VLAN tags found inside, e.g. GRE-carried Ethernet), and
    /// the virtual network id when the tunnel has one (VXLAN/Geneve VNI).
    Tunnel(&'a [u8], VlanTags, Option<u32>, TunnelKind),
}

fn transport<'a>(
    proto: u8,
    p: &'a [u8],
    declared: u32,
    vlan: VlanTags,
) -> Result<Inner<'a>, SkipReason> {
    let rest = |n: usize| -> &'a [u8] { p.get(n..).unwrap_or(&[]) };
    match proto {
        PROTO_TCP => {
            if p.len() < 4 {
                return Err(SkipReason::TruncatedTransportHeader);
            }
            let src_port = u16::from_be_bytes([p[0], p[1]]);
            let dst_port = u16::from_be_bytes([p[2], p[3]]);
            let hl = p.get(12).map(|b| usize::from(b >> 4) * 4);
            match (hl, TcpHeaderSlice::from_slice(p)) {
                (Some(hl), Ok(h)) if hl >= 20 => {
                    let view = TcpView {
                        src_port,
                        dst_port,
                        seq: h.sequence_number(),
                        ack: h.acknowledgment_number(),
                        flags: TcpFlags(p[13]),
                        window: h.window_size(),
                        header_len: hl as u16,
                        options: &p[20..hl],
                        complete: true,
                    };
                    Ok(Inner::Done(
                        Transport::Tcp(view),
                        rest(hl),
                        declared.saturating_sub(hl as u32),
                    ))
                }
                (hl, _) => {
                    // A data offset below 20 bytes is no TCP header at all: where the payload
                    // starts is unknowable, so none of it is counted as payload (the frame still
                    // counts in frames and ip_bytes, and as an incomplete header).
                    let (hl, declared) = match hl {
                        Some(h) if h < 20 => (0, 0),
                        // Cut before the data offset (None): assume the minimal header.
                        h => {
                            let h = h.unwrap_or(20);
                            (h, declared.saturating_sub(h as u32))
                        }
                    };
                    let view = TcpView {
                        src_port,
                        dst_port,
                        seq: 0,
                        ack: 0,
                        flags: TcpFlags(0),
                        window: 0,
                        header_len: hl as u16,
                        options: &[],
                        complete: false,
                    };
                    Ok(Inner::Done(Transport::Tcp(view), &[], declared))
                }
            }
        }
        PROTO_UDP => {
            if p.len() < 4 {
                return Err(SkipReason::TruncatedTransportHeader);
            }
            let length = if p.len() >= 6 {
                u16::from_be_bytes([p[4], p[5]])
            } else {
                0
            };
            let (sport, dport) = (
                u16::from_be_bytes([p[0], p[1]]),
                u16::from_be_bytes([p[2], p[3]]),
            );
            let body = p.get(8..p.len().min(declared as usize)).unwrap_or(&[]);
            if let Some((inner, vlan, vni, kind)) = udptun::decapsulate(sport, dport, body, vlan) {
                return Ok(Inner::Tunnel(inner, vlan, vni, kind));
            }
            if dport == GRE_IN_UDP || sport == GRE_IN_UDP {
                // GRE in UDP (RFC 8086): a GRE header, then what GRE carries; a datagram that
                // is not such stays ordinary UDP.
                if let Ok(Inner::Tunnel(inner, vlan, vni, _)) = gre(body, vlan) {
                    return Ok(Inner::Tunnel(inner, vlan, vni, TunnelKind::GreUdp));
                }
            }
            Ok(Inner::Done(
                Transport::Udp {
                    src_port: u16::from_be_bytes([p[0], p[1]]),
                    dst_port: u16::from_be_bytes([p[2], p[3]]),
                    length,
                },
                rest(8),
                declared.saturating_sub(8),
            ))
        }
        PROTO_ICMP | PROTO_ICMPV6 => {
            if p.len() < 2 {
                return Err(SkipReason::TruncatedTransportHeader);
            }
            Ok(Inner::Done(
                Transport::Icmp {
                    v6: proto == PROTO_ICMPV6,
                    icmp_type: p[0],
                    code: p[1],
                },
                // Every ICMP and ICMPv6 message has an 8-byte header: type, code, checksum
                // and the 4-byte rest of header (identifier/sequence, pointer, MTU, unused);
                // what follows (echo data, the quoted datagram of an error) is the payload.
                rest(8),
                declared.saturating_sub(8),
            ))
        }
        PROTO_IPIP | PROTO_IPV6 => Ok(Inner::Tunnel(p, vlan, None, TunnelKind::IpInIp)),
        PROTO_GRE => gre(p, vlan),
        _ => Ok(Inner::Done(Transport::Other, p, declared)),
    }
}

/// GRE (RFC 2784/2890) and PPTP's enhanced GRE (RFC 2637).
fn gre(p: &[u8], vlan: VlanTags) -> Result<Inner<'_>, SkipReason> {
    if p.len() < 4 {
        return Err(SkipReason::TruncatedTransportHeader);
    }
    let (flags, ver) = (p[0], p[1] & 0x07);
    let proto = u16::from_be_bytes([p[2], p[3]]);
    let mut hl = 4;
    if flags & 0x80 != 0 {
        hl += 4; // checksum + reserved
    }
    if flags & 0x20 != 0 {
        hl += 4; // key (PPTP: payload length + call id)
    }
    if flags & 0x10 != 0 {
        hl += 4; // sequence number
    }
    if ver == 1 && p[1] & 0x80 != 0 {
        hl += 4; // acknowledgment number
    }
    let Some(inner) = p.get(hl..) else {
        return Err(SkipReason::TruncatedTransportHeader);
    };
    match (ver, proto) {
        (0, 0x0800) | (0, 0x86DD) => Ok(Inner::Tunnel(inner, vlan, None, TunnelKind::Gre)),
        (0, 0x6558) => {
            let (vlan, ip) = link::ethernet(inner, vlan)?;
            Ok(Inner::Tunnel(ip, vlan, None, TunnelKind::Gre))
        }
        (0, 0x88BE) | (0, 0x22EB) => {
            // ERSPAN: type I has no header of its own (and no GRE sequence number); type II an
            // 8-byte header; type III (0x22EB) 12 bytes, plus an 8-byte platform-specific
            // subheader when its O bit (the last bit of the 12) is set. Then the mirrored frame.
            let skip = match proto {
                0x22EB => match inner.get(11) {
                    Some(b) if b & 0x01 != 0 => 20,
                    _ => 12,
                },
                _ if flags & 0x10 != 0 => 8,
                _ => 0,
            };
            let frame = inner
                .get(skip..)
                .ok_or(SkipReason::TruncatedTransportHeader)?;
            let (vlan, ip) = link::ethernet(frame, vlan)?;
            Ok(Inner::Tunnel(ip, vlan, None, TunnelKind::Erspan))
        }
        (0, 0x8200..=0x8350) => {
            // Aruba WLAN: an 802.11 frame from an access point to its controller.
            let (vlan, ip) = super::wlan::frame(inner, false)?;
            Ok(Inner::Tunnel(ip, vlan, None, TunnelKind::ArubaWlan))
        }
        (0, 0x894F) => {
            let (vlan, ip) = link::nsh(inner, vlan)?;
            Ok(Inner::Tunnel(ip, vlan, None, TunnelKind::Gre))
        }
        (1, 0x880B) => {
            if inner.is_empty() {
                return Err(SkipReason::Tunnel(
                    "PPTP GRE acknowledgment without payload".into(),
                ));
            }
            let ip = link::ppp(crate::frame::LinkType::PPP, inner)?;
            Ok(Inner::Tunnel(ip, vlan, None, TunnelKind::Pptp))
        }
        (v, pr) => Err(SkipReason::Tunnel(format!(
            "GRE version {v} protocol 0x{pr:04x}"
        ))),
    }
}

/// Decodes the IP layer and everything above it.
pub(crate) fn decode_ip<'a>(
    defrag: &'a mut Defragmenter,
    frame: &Frame<'a>,
    mut vlan: VlanTags,
    l3: &'a [u8],
) -> Decoded<'a> {
    let mut defrag = Some(defrag);
    let mut bytes = l3;
    let mut depth = 0u8;
    let mut outer_ip_total: Option<u32> = None;
    let mut wire: Option<Wire> = None;
    let mut vni: Option<u32> = None;
    let mut tunnel = TunnelEnds::default();
    let mut carrier: Option<Carrier> = None;
    loop {
        let parsed = match parse_ip(bytes, depth) {
            Ok(p) => p,
            Err(r) => return Decoded::Skipped(r),
        };
        let mut parsed = parsed;
        if depth == 0 {
            // An IP total length beyond what the frame carried on the wire is a lie of the
            // header (or padding counted in): the payload ends where the frame ends.
            let on_wire =
                bytes.len() as u64 + u64::from(frame.orig_len.saturating_sub(frame.cap_len()));
            if u64::from(parsed.view.total_len) > on_wire {
                let total = on_wire as u32;
                parsed.declared = total.saturating_sub(parsed.view.header_len);
                parsed.view.total_len = total;
                parsed.view.length_clamped = true;
            }
        }
        let outer_total = *outer_ip_total.get_or_insert(parsed.view.total_len);
        let mut view = parsed.view;
        let (payload, declared) = if let Some((id, offset, more)) = parsed.fragment {
            let Some(d) = defrag.take() else {
                // A fragment inside an already reassembled datagram: not followed.
                return Decoded::Skipped(SkipReason::Tunnel(
                    "fragmented packet inside a reassembled tunnel datagram".into(),
                ));
            };
            let key = FragKey {
                version: view.version,
                src: view.src,
                dst: view.dst,
                proto: view.protocol,
                id,
                vlan: vlan.outer().unwrap_or(0),
            };
            let piece = FragPiece {
                offset,
                more,
                data: parsed.payload,
                declared: parsed.declared,
                ts: frame.ts,
                frame: frame.frame,
                orig_len: frame.orig_len,
                ip_total_len: outer_total,
                header: view,
            };
            match d.push(key, piece) {
                Push::Held => return Decoded::FragmentHeld,
                Push::Rejected => return Decoded::Skipped(SkipReason::FragmentRejected),
                Push::Complete(r) => {
                    view = r.header;
                    view.reassembled = true;
                    view.ident = id;
                    view.total_len = view.header_len + r.payload.len() as u32;
                    wire = Some(r.wire);
                    (r.payload, r.payload.len() as u32)
                }
            }
        } else {
            (parsed.payload, parsed.declared)
        };
        match transport(view.protocol, payload, declared, vlan) {
            Err(r) => return Decoded::Skipped(r),
            Ok(Inner::Tunnel(inner, v, id, kind)) => {
                vni = id.or(vni);
                if tunnel.is_empty() {
                    carrier = Some(Carrier::new(kind, view.protocol, payload, declared));
                }
                tunnel.push(view.src, view.dst);
                if depth + 1 > MAX_TUNNEL_DEPTH {
                    return Decoded::Skipped(SkipReason::TunnelTooDeep);
                }
                depth += 1;
                vlan = v;
                bytes = inner;
            }
            Ok(Inner::Done(transport, payload, payload_len)) => {
                let wire = wire.unwrap_or(Wire {
                    frames: 1,
                    orig_bytes: u64::from(frame.orig_len),
                    ip_bytes: u64::from(outer_total),
                    first_frame: frame.frame,
                });
                // Cut by the snapshot length (a bogus data offset, header_len 0, is malformed, not cut).
                let tcp_incomplete =
                    matches!(transport, Transport::Tcp(t) if !t.complete && t.header_len >= 20);
                let truncated = frame.is_truncated()
                    || (payload.len() as u64) < u64::from(payload_len)
                    || tcp_incomplete;
                // Never hand out more payload than the headers declare (Ethernet padding).
                let payload = &payload[..payload.len().min(payload_len as usize)];
                let l3_offset =
                    (l3.as_ptr() as usize).saturating_sub(frame.data.as_ptr() as usize) as u32;
                return Decoded::Packet(Packet {
                    l3_offset,
                    ts: frame.ts,
                    frame: frame.frame,
                    link: frame.link,
                    vlan,
                    vni,
                    tunnel,
                    carrier,
                    orig_len: frame.orig_len,
                    cap_len: frame.cap_len(),
                    wire,
                    ip: view,
                    transport,
                    payload,
                    payload_len,
                    truncated,
                });
            }
        }
    }
}
