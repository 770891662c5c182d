//! Flow keys (direction-independent) and the client/server decision.

use exfilmeter_ingest::{Packet, Transport};
use std::fmt;
use std::net::IpAddr;

/// One end of a flow.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Endpoint {
    /// Address.
    pub ip: IpAddr,
    /// Port (0 for protocols without ports).
    pub port: u16,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip {
            IpAddr::V4(a) => write!(f, "{a}:{}", self.port),
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.port),
        }
    }
}

/// Transport protocol of a flow.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP / ICMPv6.
    Icmp,
    /// Any other IP protocol (number).
    Other(u8),
}

impl Proto {
    /// `tcp`, `udp`, `icmp` or the protocol number.
    pub fn name(self) -> String {
        match self {
            Proto::Tcp => "tcp".into(),
            Proto::Udp => "udp".into(),
            Proto::Icmp => "icmp".into(),
            Proto::Other(n) => n.to_string(),
        }
    }
}

/// Direction-independent flow key: the lower endpoint first, plus protocol and outer VLAN.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct FlowKey {
    /// Protocol.
    pub proto: Proto,
    /// Outer VLAN id, if tagged.
    pub vlan: Option<u16>,
    /// The VNI of the VXLAN/Geneve tunnel carrying the flow: tenants of one overlay may reuse
    /// the same inner addresses (decision 0004).
    pub vni: Option<u32>,
    /// The lower endpoint.
    pub lo: Endpoint,
    /// The higher endpoint.
    pub hi: Endpoint,
}

/// Direction of a packet within its flow.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Direction {
    /// Client to server.
    C2s,
    /// Server to client.
    S2c,
}

impl Direction {
    /// `c2s` / `s2c`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::C2s => "c2s",
            Direction::S2c => "s2c",
        }
    }
    /// Index 0 for c2s, 1 for s2c.
    pub fn index(self) -> usize {
        match self {
            Direction::C2s => 0,
            Direction::S2c => 1,
        }
    }
    /// The other direction.
    pub fn flip(self) -> Direction {
        match self {
            Direction::C2s => Direction::S2c,
            Direction::S2c => Direction::C2s,
        }
    }
}

/// Which rule decided who the client is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RoleRule {
    /// The client sent the SYN.
    Syn,
    /// The server sent the SYN-ACK (the SYN was not captured).
    SynAck,
    /// No handshake seen: the lower (well-known) port is the server's.
    Port,
    /// No ports, equal ports on both ends, or a multicast/broadcast destination: the first
    /// packet's sender is the client.
    FirstPacket,
    /// Equal ports, and the first datagram's content names its sender's role (NTP mode, the
    /// DNS QR bit).
    Content,
}

impl RoleRule {
    /// `syn`, `synack`, `port`, `first`, `content`.
    pub fn as_str(self) -> &'static str {
        match self {
            RoleRule::Syn => "syn",
            RoleRule::SynAck => "synack",
            RoleRule::Port => "port",
            RoleRule::FirstPacket => "first",
            RoleRule::Content => "content",
        }
    }
}

/// The parts of a packet the tracker keys on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PacketEnds {
    pub(crate) key: FlowKey,
    pub(crate) src: Endpoint,
    pub(crate) dst: Endpoint,
}

/// A packet's protocol, sender and receiver as flows key them (ICMP and other protocols
/// without ports have port 0).
pub fn endpoints(p: &Packet<'_>) -> (Proto, Endpoint, Endpoint) {
    let (proto, sport, dport) = match p.transport {
        Transport::Tcp(t) => (Proto::Tcp, t.src_port, t.dst_port),
        Transport::Udp {
            src_port, dst_port, ..
        } => (Proto::Udp, src_port, dst_port),
        Transport::Icmp { .. } => (Proto::Icmp, 0, 0),
        Transport::Other => (Proto::Other(p.ip.protocol), 0, 0),
    };
    let src = Endpoint {
        ip: p.ip.src,
        port: sport,
    };
    let dst = Endpoint {
        ip: p.ip.dst,
        port: dport,
    };
    (proto, src, dst)
}

/// The shard, of `n`, that a packet's flow belongs to: a hash of the protocol and both
/// endpoints (inner ones for a tunnelled packet) that does not depend on the direction, so
/// both directions of every flow reach the same shard. VLAN and tunnel ids are left out
/// (flows that differ only in them share a shard). The hash is fixed (not seeded, the same
/// on every machine), so a capture is split the same way wherever it is split.
pub fn shard_of(p: &Packet<'_>, n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    ((u128::from(flow_hash(p)) * n as u128) >> 64) as usize
}

/// A 64-bit hash of a packet's flow that does not depend on the direction (protocol and both
/// endpoints; VLAN and tunnel ids left out), fixed on every machine: what [`shard_of`] divides
/// the flows by, and a flow's identity where only a hash is kept.
pub fn flow_hash(p: &Packet<'_>) -> u64 {
    let (proto, src, dst) = endpoints(p);
    let (lo, hi) = if src <= dst { (src, dst) } else { (dst, src) };
    let proto = match proto {
        Proto::Tcp => 6,
        Proto::Udp => 17,
        Proto::Icmp => 1,
        Proto::Other(n) => u64::from(n),
    };
    let mut h = proto ^ 0x9E37_79B9_7F4A_7C15;
    let mut mix = |w: u64| {
        h = (h ^ w).wrapping_mul(0xBF58_476D_1CE4_E5B9).rotate_left(31);
    };
    for e in [lo, hi] {
        match e.ip {
            IpAddr::V4(a) => mix(u64::from(u32::from(a)) << 16 | u64::from(e.port)),
            IpAddr::V6(a) => {
                let v = u128::from(a);
                mix(v as u64);
                mix((v >> 64) as u64);
                mix(u64::from(e.port) | 1 << 32);
            }
        }
    }
    // splitmix64's finaliser: every input bit reaches every output bit.
    h ^= h >> 30;
    h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^= h >> 31;
    h
}

pub(crate) fn ends(p: &Packet<'_>) -> PacketEnds {
    let (proto, src, dst) = endpoints(p);
    let (lo, hi) = if src <= dst { (src, dst) } else { (dst, src) };
    PacketEnds {
        key: FlowKey {
            proto,
            vlan: p.vlan.outer(),
            vni: p.vni,
            lo,
            hi,
        },
        src,
        dst,
    }
}

/// Without a handshake: which of two ports looks like the server's? The lower one when
/// it is below the ephemeral range (< 1024 wins over anything; < 49152 wins over an
/// ephemeral port); otherwise the lower number.
/// A multicast or broadcast address: a group of receivers, never one connection's client.
pub(crate) fn is_group(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_multicast() || v4.is_broadcast(),
        IpAddr::V6(v6) => v6.is_multicast(),
    }
}

pub(crate) fn server_by_port(a: u16, b: u16) -> bool {
    // true when `a` is the server port
    let class = |p: u16| {
        if p < 1024 {
            0
        } else if p < 49152 {
            1
        } else {
            2
        }
    };
    match class(a).cmp(&class(b)) {
        std::cmp::Ordering::Less => true,
        std::cmp::Ordering::Greater => false,
        std::cmp::Ordering::Equal => a <= b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_port_is_the_server() {
        assert!(server_by_port(80, 51234));
        assert!(!server_by_port(51234, 443));
        assert!(server_by_port(8080, 50000));
        assert!(server_by_port(1723, 3025));
        assert!(!server_by_port(60000, 1024));
    }

    #[test]
    fn groups_are_multicast_and_broadcast_addresses() {
        for g in [
            "224.0.0.251",
            "239.255.255.250",
            "255.255.255.255",
            "ff02::fb",
        ] {
            assert!(is_group(g.parse().unwrap()), "{g}");
        }
        for u in ["192.168.1.255", "8.8.8.8", "fe80::1", "2001:db8::1"] {
            assert!(!is_group(u.parse().unwrap()), "{u}");
        }
    }
}
