//! Decoding frames into packets: link layers ([`link`]), IP and transport ([`ip`]),
//! with IP fragment reassembly in between.
//!
//! Every frame ends as exactly one of: a [`Packet`], a counted [`SkipReason`], or a
//! fragment held for reassembly (which later yields one packet for the whole datagram
//! or is counted as expired/dropped by the [`crate::DefragStats`]).

mod ip;
mod link;
mod udptun;
mod wlan;

use crate::defrag::{DefragConfig, DefragStats, Defragmenter};
use crate::frame::{Frame, FrameRef, LinkType};
use crate::Timestamp;
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

pub use ip::{IpVersion, IpView, TcpFlags, TcpView, Transport};

/// Up to two VLAN ids (outer first). Deeper stacks keep the outer two and set `more`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct VlanTags {
    ids: [u16; 2],
    count: u8,
    /// More than two tags were present.
    pub more: bool,
}

impl VlanTags {
    pub(crate) fn push(&mut self, id: u16) {
        if (self.count as usize) < self.ids.len() {
            self.ids[self.count as usize] = id;
            self.count += 1;
        } else {
            self.more = true;
        }
    }

    /// The VLAN ids, outer first.
    pub fn ids(&self) -> &[u16] {
        &self.ids[..self.count as usize]
    }

    /// The outer VLAN id, if tagged.
    pub fn outer(&self) -> Option<u16> {
        self.ids().first().copied()
    }
}

/// What the frames behind one packet amounted to on the wire. For an ordinary packet
/// this is its own frame; for a reassembled datagram, all of its fragments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wire {
    /// Frames (fragments) that made up the packet.
    pub frames: u32,
    /// Sum of their original lengths (bytes).
    pub orig_bytes: u64,
    /// Sum of their IP total lengths (bytes).
    pub ip_bytes: u64,
    /// The first of those frames.
    pub first_frame: FrameRef,
}

/// A decoded IP packet: a view into the capture buffer (or into the reassembly buffer
/// for a reassembled datagram). No allocation per packet.
#[derive(Debug, Clone)]
pub struct Packet<'a> {
    /// Capture time (of the frame that completed the packet).
    pub ts: Timestamp,
    /// The frame that completed the packet.
    pub frame: FrameRef,
    /// Link type of the frame.
    pub link: LinkType,
    /// VLAN tags (802.1Q / 802.1ad / QinQ), outer first.
    pub vlan: VlanTags,
    /// The virtual network id of the innermost VXLAN / VXLAN-GPE / Geneve tunnel carrying the
    /// packet (`None` outside such tunnels).
    pub vni: Option<u32>,
    /// The IP endpoints of the tunnels that carried the packet (GRE, IP-in-IP, VXLAN, Geneve,
    /// GTP-U, Teredo, AYIYA, ERSPAN …): empty outside tunnels.
    pub tunnel: TunnelEnds,
    /// The outermost tunnel as the link carried it (its kind, outer transport and ports, and
    /// what the outer header carried): `None` outside tunnels. Its addresses are
    /// `tunnel.outer`.
    pub carrier: Option<Carrier>,
    /// Original length of the completing frame on the wire (bytes).
    pub orig_len: u32,
    /// Captured length of the completing frame (bytes).
    pub cap_len: u32,
    /// Offset of the outermost IP header in the frame (the link-layer header length).
    pub l3_offset: u32,
    /// Frames and bytes behind the packet (several for a reassembled datagram).
    pub wire: Wire,
    /// The (innermost, when tunnelled) IP header.
    pub ip: IpView,
    /// Transport header.
    pub transport: Transport<'a>,
    /// Captured transport payload (may be shorter than `payload_len` when truncated).
    pub payload: &'a [u8],
    /// Transport payload length according to the headers (bytes).
    pub payload_len: u32,
    /// The snapshot length cut headers or payload short.
    pub truncated: bool,
}

/// The addresses of the outer IP headers a tunnelled packet travelled in: the outermost
/// tunnel's and, when tunnels are nested, the innermost one's (the layers between are not
/// kept). A flow inside a tunnel is keyed by its inner addresses; these are what the sensor's
/// link saw it travel between (an indicator may name a tunnel's end).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TunnelEnds {
    /// The outermost tunnel's (source, destination).
    pub outer: Option<(IpAddr, IpAddr)>,
    /// The innermost tunnel's (source, destination), when it is not the outermost.
    pub inner: Option<(IpAddr, IpAddr)>,
}

impl TunnelEnds {
    /// Each tunnel end, outermost first (at most four addresses).
    pub fn addrs(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.outer
            .iter()
            .chain(self.inner.iter())
            .flat_map(|&(a, b)| [a, b])
    }

    /// Not tunnelled.
    pub fn is_empty(&self) -> bool {
        self.outer.is_none()
    }

    /// The same tunnels whichever way the packet went (each pair in address order), so the
    /// two directions of a flow compare equal.
    pub fn unordered(&self) -> TunnelEnds {
        let o = |p: Option<(IpAddr, IpAddr)>| p.map(|(a, b)| if a <= b { (a, b) } else { (b, a) });
        TunnelEnds {
            outer: o(self.outer),
            inner: o(self.inner),
        }
    }

    fn push(&mut self, src: IpAddr, dst: IpAddr) {
        if self.outer.is_none() {
            self.outer = Some((src, dst));
        } else {
            self.inner = Some((src, dst));
        }
    }
}

/// The kind of an IP tunnel (what the outer packet carried the inner one in).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum TunnelKind {
    /// IPv4 or IPv6 directly in IPv4/IPv6 (IP protocol 4 or 41: 6in4, 4in6, IP-in-IP).
    IpInIp,
    /// GRE (RFC 2784/2890) carrying IP, Ethernet or NSH.
    Gre,
    /// GRE in UDP (RFC 8086, port 4754).
    GreUdp,
    /// ERSPAN I/II/III (mirrored frames in GRE).
    Erspan,
    /// Aruba's 802.11 frames in GRE, access point to controller.
    ArubaWlan,
    /// PPTP's enhanced GRE carrying PPP (RFC 2637).
    Pptp,
    /// VXLAN (RFC 7348, UDP 4789).
    Vxlan,
    /// VXLAN-GPE (UDP 4790).
    VxlanGpe,
    /// Geneve (RFC 8926, UDP 6081).
    Geneve,
    /// GTP-U (3GPP TS 29.281, UDP 2152).
    GtpU,
    /// Teredo (RFC 4380, UDP 3544, or relayed on any port).
    Teredo,
    /// AYIYA (UDP 5072).
    Ayiya,
}

impl TunnelKind {
    /// Every kind, in order.
    pub const ALL: [TunnelKind; 12] = [
        TunnelKind::IpInIp,
        TunnelKind::Gre,
        TunnelKind::GreUdp,
        TunnelKind::Erspan,
        TunnelKind::ArubaWlan,
        TunnelKind::Pptp,
        TunnelKind::Vxlan,
        TunnelKind::VxlanGpe,
        TunnelKind::Geneve,
        TunnelKind::GtpU,
        TunnelKind::Teredo,
        TunnelKind::Ayiya,
    ];

    /// Its name in the tables (`kind` of tunnels.csv).
    pub fn name(self) -> &'static str {
        match self {
            TunnelKind::IpInIp => "ip-in-ip",
            TunnelKind::Gre => "gre",
            TunnelKind::GreUdp => "gre-udp",
            TunnelKind::Erspan => "erspan",
            TunnelKind::ArubaWlan => "aruba-wlan",
            TunnelKind::Pptp => "pptp",
            TunnelKind::Vxlan => "vxlan",
            TunnelKind::VxlanGpe => "vxlan-gpe",
            TunnelKind::Geneve => "geneve",
            TunnelKind::GtpU => "gtp-u",
            TunnelKind::Teredo => "teredo",
            TunnelKind::Ayiya => "ayiya",
        }
    }

    /// The kind named `name` (see [`TunnelKind::name`]).
    pub fn from_name(name: &str) -> Option<TunnelKind> {
        TunnelKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The UDP port registered for the tunnel (the server's end), for tunnels in UDP.
    pub fn udp_port(self) -> Option<u16> {
        match self {
            TunnelKind::GreUdp => Some(4754),
            TunnelKind::Vxlan => Some(4789),
            TunnelKind::VxlanGpe => Some(4790),
            TunnelKind::Geneve => Some(6081),
            TunnelKind::GtpU => Some(2152),
            TunnelKind::Teredo => Some(3544),
            TunnelKind::Ayiya => Some(5072),
            _ => None,
        }
    }
}

/// The outermost tunnel of a packet as the link carried it. Its addresses are
/// [`TunnelEnds::outer`]; its bytes are the packet's [`Wire`] bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Carrier {
    /// What kind of tunnel.
    pub kind: TunnelKind,
    /// The outer IP header's protocol (17 for tunnels in UDP, 47 for GRE, 4 or 41).
    pub proto: u8,
    /// The outer UDP source port (0 outside UDP).
    pub src_port: u16,
    /// The outer UDP destination port (0 outside UDP).
    pub dst_port: u16,
    /// The outer transport's payload per the headers (bytes): for UDP the IP payload less the
    /// 8-byte UDP header, as for any UDP flow; otherwise the whole IP payload (GRE header and
    /// what it carries).
    pub payload: u32,
}

impl Carrier {
    /// The carrier of a tunnel of `kind` in an outer IP payload `ip_payload` of `declared`
    /// bytes per the headers, under IP protocol `proto`.
    pub(crate) fn new(kind: TunnelKind, proto: u8, ip_payload: &[u8], declared: u32) -> Carrier {
        let port = |at: usize| {
            ip_payload
                .get(at..at + 2)
                .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]))
        };
        let udp = proto == 17;
        Carrier {
            kind,
            proto,
            src_port: if udp { port(0) } else { 0 },
            dst_port: if udp { port(2) } else { 0 },
            payload: if udp {
                declared.saturating_sub(8)
            } else {
                declared
            },
        }
    }
}

impl Packet<'_> {
    /// Source address.
    pub fn src(&self) -> IpAddr {
        self.ip.src
    }
    /// Destination address.
    pub fn dst(&self) -> IpAddr {
        self.ip.dst
    }
}

/// Why a frame did not become a packet. Counted per reason, never silently dropped.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[non_exhaustive]
pub enum SkipReason {
    /// A link type this decoder does not handle.
    UnsupportedLinkType(LinkType),
    /// The captured bytes end inside the link-layer header.
    TruncatedLinkHeader(LinkType),
    /// A non-IP EtherType (ARP, LLDP, …).
    EtherType(u16),
    /// An 802.3 length-field frame (LLC/SNAP, STP, CDP, …).
    Llc,
    /// PPPoE discovery stage.
    PppoeDiscovery,
    /// A PPP protocol other than IPv4/IPv6 (LCP, IPCP, …).
    PppProtocol(u16),
    /// An address family other than IPv4/IPv6 on a loopback link.
    LoopbackFamily(u32),
    /// The IP version nibble is neither 4 nor 6.
    IpVersion(u8),
    /// The captured bytes end inside the IP header.
    TruncatedIpHeader,
    /// An impossible IP header (e.g. IHL below 5).
    MalformedIpHeader,
    /// The captured bytes end before the transport ports.
    TruncatedTransportHeader,
    /// A tunnel header that could not be decoded (GRE version or protocol unknown).
    Tunnel(String),
    /// Tunnels nested deeper than the decoder follows.
    TunnelTooDeep,
    /// A fragment rejected by the reassembler (see its counters for why).
    FragmentRejected,
    /// An IEEE 802.11 frame without a readable IP packet (management, null data, encrypted).
    Wlan(WlanReason),
}

/// Why an IEEE 802.11 frame gave no packet (in the order of their names).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum WlanReason {
    /// An A-MSDU of several subframes (one frame becomes one packet here).
    Amsdu,
    /// A data frame without a body (null data).
    NoBody,
    /// A management or control frame.
    Management,
    /// A protected (encrypted) frame.
    Protected,
}

impl fmt::Display for WlanReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WlanReason::Amsdu => "A-MSDU of several subframes",
            WlanReason::NoBody => "data frame without a body",
            WlanReason::Management => "management or control frame",
            WlanReason::Protected => "protected (encrypted) frame",
        })
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::UnsupportedLinkType(l) => write!(f, "unsupported link type {l}"),
            SkipReason::TruncatedLinkHeader(l) => write!(f, "truncated {} header", l.name()),
            SkipReason::EtherType(t) => match link::ethertype_name(*t) {
                Some(n) => write!(f, "ethertype 0x{t:04x} ({n})"),
                None => write!(f, "ethertype 0x{t:04x}"),
            },
            SkipReason::Llc => f.write_str("802.3 LLC frame (STP, CDP, …)"),
            SkipReason::PppoeDiscovery => f.write_str("PPPoE discovery"),
            SkipReason::PppProtocol(p) => match link::ppp_name(*p) {
                Some(n) => write!(f, "PPP protocol 0x{p:04x} ({n})"),
                None => write!(f, "PPP protocol 0x{p:04x}"),
            },
            SkipReason::LoopbackFamily(af) => write!(f, "loopback address family {af}"),
            SkipReason::IpVersion(v) => write!(f, "IP version {v}"),
            SkipReason::TruncatedIpHeader => f.write_str("truncated IP header"),
            SkipReason::MalformedIpHeader => f.write_str("malformed IP header"),
            SkipReason::TruncatedTransportHeader => f.write_str("truncated transport header"),
            SkipReason::Tunnel(why) => write!(f, "tunnel: {why}"),
            SkipReason::TunnelTooDeep => f.write_str("tunnels nested too deep"),
            SkipReason::FragmentRejected => f.write_str("IP fragment rejected"),
            SkipReason::Wlan(why) => write!(f, "802.11 {why}"),
        }
    }
}

/// The result of decoding one frame.
// Returned by value once per frame and consumed at once: boxing the packet would cost an
// allocation per frame to save a few bytes of stack on the rare skipped frame.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Decoded<'a> {
    /// A packet (possibly a reassembled datagram).
    Packet(Packet<'a>),
    /// The frame is an IP fragment now held for reassembly.
    FragmentHeld,
    /// The frame was skipped, for this reason.
    Skipped(SkipReason),
}

/// Counters of everything decoded and skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecoderStats {
    /// Frames decoded into packets (a reassembled datagram counts once).
    pub packets: u64,
    /// Packets by innermost IP version.
    pub ipv4: u64,
    /// Packets by innermost IP version.
    pub ipv6: u64,
    /// Packets by transport.
    pub tcp: u64,
    /// Packets by transport.
    pub udp: u64,
    /// ICMP and ICMPv6 packets.
    pub icmp: u64,
    /// Packets with another IP protocol.
    pub other_ip: u64,
    /// Packets whose outer headers were a tunnel (GRE, IP-in-IP).
    pub tunnelled: u64,
    /// Packets with any VLAN tag.
    pub vlan_tagged: u64,
    /// Packets cut short by the snapshot length.
    pub truncated: u64,
    /// IPv6 extension-header chains that could not be fully parsed.
    pub ext_header_errors: u64,
    /// IP total lengths beyond the frame's wire length (clamped to the frame).
    pub ip_length_clamped: u64,
    /// Skipped frames by reason, sorted.
    pub skipped: BTreeMap<SkipReason, u64>,
}

/// Decodes frames; owns the fragment reassembler.
#[derive(Debug, Default)]
pub struct Decoder {
    defrag: Defragmenter,
    stats: DecoderStats,
}

impl Decoder {
    /// A decoder with the given reassembly limits.
    pub fn new(defrag: DefragConfig) -> Decoder {
        Decoder {
            defrag: Defragmenter::new(defrag),
            stats: DecoderStats::default(),
        }
    }

    /// Decoding counters so far.
    pub fn stats(&self) -> &DecoderStats {
        &self.stats
    }

    /// Reassembly counters so far.
    pub fn defrag_stats(&self) -> &DefragStats {
        self.defrag.stats()
    }

    /// Ends the input: datagrams still incomplete are counted as expired.
    pub fn finish(&mut self) {
        self.defrag.expire_all();
    }

    /// Decodes one frame.
    pub fn decode<'a>(&'a mut self, frame: &Frame<'a>) -> Decoded<'a> {
        let out = match link::strip(frame.link, frame.data) {
            Err(reason) => Decoded::Skipped(reason),
            Ok((vlan, l3)) => ip::decode_ip(&mut self.defrag, frame, vlan, l3),
        };
        let st = &mut self.stats;
        match &out {
            Decoded::Packet(p) => {
                st.packets += 1;
                match p.ip.version {
                    IpVersion::V4 => st.ipv4 += 1,
                    IpVersion::V6 => st.ipv6 += 1,
                }
                match p.transport {
                    Transport::Tcp(_) => st.tcp += 1,
                    Transport::Udp { .. } => st.udp += 1,
                    Transport::Icmp { .. } => st.icmp += 1,
                    Transport::Other => st.other_ip += 1,
                }
                if p.ip.tunnel_depth > 0 {
                    st.tunnelled += 1;
                }
                if p.vlan.outer().is_some() {
                    st.vlan_tagged += 1;
                }
                if p.truncated {
                    st.truncated += 1;
                }
                if p.ip.ext_header_error {
                    st.ext_header_errors += 1;
                }
                if p.ip.length_clamped {
                    st.ip_length_clamped += 1;
                }
            }
            Decoded::Skipped(r) => match st.skipped.get_mut(r) {
                // No allocation on the hot path for reasons already seen.
                Some(n) => *n += 1,
                None => {
                    st.skipped.insert(r.clone(), 1);
                }
            },
            Decoded::FragmentHeld => {}
        }
        out
    }
}

#[cfg(test)]
mod tests;
