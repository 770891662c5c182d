//! IP networks (CIDR) and the case's internal networks.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An IP network: address with host bits cleared, and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Net {
    /// Network address (host bits zero).
    pub addr: IpAddr,
    /// Prefix length (0–32 for IPv4, 0–128 for IPv6).
    pub prefix: u8,
}

/// The address as a 128-bit number (IPv4 in the low 32 bits) and its bit width.
pub(crate) fn bits(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    }
}

/// `ip` with all but the first `prefix` bits cleared, as a number.
pub(crate) fn masked(ip: IpAddr, prefix: u8) -> u128 {
    let (v, w) = bits(ip);
    if prefix == 0 {
        return 0;
    }
    let keep = u32::from(prefix.min(w));
    let shift = u32::from(w) - keep;
    (v >> shift) << shift
}

impl Net {
    /// A network; host bits are cleared. `None` if the prefix is too long.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Net> {
        let (_, w) = bits(addr);
        if prefix > w {
            return None;
        }
        let m = masked(addr, prefix);
        let addr = match addr {
            IpAddr::V4(_) => IpAddr::V4((m as u32).into()),
            IpAddr::V6(_) => IpAddr::V6(m.into()),
        };
        Some(Net { addr, prefix })
    }

    /// A single address (/32 or /128).
    pub fn host(addr: IpAddr) -> Net {
        let (_, w) = bits(addr);
        Net { addr, prefix: w }
    }

    /// True if `ip` is inside this network (same address family).
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.addr.is_ipv4() == ip.is_ipv4() && masked(ip, self.prefix) == bits(self.addr).0
    }
}

impl FromStr for Net {
    type Err = String;
    fn from_str(s: &str) -> Result<Net, String> {
        match s.split_once('/') {
            None => s
                .parse::<IpAddr>()
                .map(Net::host)
                .map_err(|_| format!("{s:?} is not an IP address")),
            Some((a, p)) => {
                let addr: IpAddr = a
                    .parse()
                    .map_err(|_| format!("{a:?} is not an IP address"))?;
                let prefix: u8 = p
                    .parse()
                    .map_err(|_| format!("{p:?} is not a prefix length"))?;
                Net::new(addr, prefix)
                    .ok_or_else(|| format!("prefix /{prefix} is too long for {addr}"))
            }
        }
    }
}

impl fmt::Display for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The case's internal networks: they decide what "outbound" means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Internal {
    nets: Vec<Net>,
}

impl Default for Internal {
    /// RFC 1918, shared address space 100.64/10, link-local (169.254/16, fe80::/10),
    /// unique local fc00::/7, and loopback.
    fn default() -> Internal {
        let nets = [
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "100.64.0.0/10",
            "169.254.0.0/16",
            "127.0.0.0/8",
            "fc00::/7",
            "fe80::/10",
            "::1/128",
        ]
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect();
        Internal { nets }
    }
}

impl Internal {
    /// Explicit networks (replacing the defaults).
    pub fn new(nets: Vec<Net>) -> Internal {
        Internal { nets }
    }

    /// The networks.
    pub fn nets(&self) -> &[Net] {
        &self.nets
    }

    /// True if `ip` is in one of the internal networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(ip))
    }

    /// Internal client talking to an external server.
    pub fn is_outbound(&self, client: IpAddr, server: IpAddr) -> bool {
        self.contains(client) && !self.contains(server)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parsing_masks_host_bits_and_rejects_bad_prefixes() {
        let n: Net = "198.51.100.77/25".parse().unwrap();
        assert_eq!(n.to_string(), "198.51.100.0/25");
        assert!(n.contains("198.51.100.23".parse().unwrap()));
        assert!(!n.contains("198.51.100.200".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Net>().is_err());
        assert!("2001:db8::/129".parse::<Net>().is_err());
        let v6: Net = "2001:db8:c2::23/48".parse().unwrap();
        assert!(v6.contains("2001:db8:c2::1".parse().unwrap()));
        assert!(
            !v6.contains("10.0.0.1".parse().unwrap()),
            "families never mix"
        );
        let all: Net = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
    }

    #[test]
    fn default_internal_networks() {
        let i = Internal::default();
        for a in [
            "10.1.20.37",
            "172.31.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "fd00::1",
            "fe80::1",
        ] {
            assert!(i.contains(a.parse().unwrap()), "{a}");
        }
        for a in ["203.0.113.10", "172.32.0.1", "2001:db8::1"] {
            assert!(!i.contains(a.parse().unwrap()), "{a}");
        }
        assert!(i.is_outbound(
            "10.1.20.37".parse().unwrap(),
            "203.0.113.10".parse().unwrap()
        ));
        assert!(!i.is_outbound("10.1.20.37".parse().unwrap(), "10.1.0.8".parse().unwrap()));
    }
}
