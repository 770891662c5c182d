//! Passive DNS from the capture itself: which names an address was given for, and until
//! when (TTL plus a grace period), following CNAME chains.

use exfilmeter_ingest::{FrameRef, Timestamp, NANOS_PER_SEC};
use rustc_hash::FxHashMap;
use std::net::IpAddr;

/// A name an address answered for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The name the client asked for (the head of the CNAME chain).
    pub name: String,
    /// The frame of the answer.
    pub frame: FrameRef,
    /// When the answer was seen.
    pub seen: Timestamp,
    /// Valid until (answer time + TTL + grace).
    pub until: Timestamp,
}

/// Entries kept per address (the most recent win).
const PER_ADDRESS: usize = 16;

/// Answers seen so far.
#[derive(Debug, Default)]
pub struct PassiveDns {
    grace_ns: i64,
    by_ip: FxHashMap<IpAddr, Vec<Resolution>>,
    /// CNAME target → names that pointed to it (for chains answered in pieces).
    aliases: FxHashMap<String, Vec<String>>,
}

impl PassiveDns {
    /// A table with this grace after each TTL (seconds).
    pub fn new(grace_secs: i64) -> PassiveDns {
        PassiveDns {
            grace_ns: grace_secs.saturating_mul(NANOS_PER_SEC),
            ..PassiveDns::default()
        }
    }

    /// Records `alias CNAME target`.
    pub fn cname(&mut self, alias: &str, target: &str) {
        let (a, t) = (
            alias.trim_end_matches('.').to_ascii_lowercase(),
            target.trim_end_matches('.').to_ascii_lowercase(),
        );
        let v = self.aliases.entry(t).or_default();
        if !v.contains(&a) && v.len() < PER_ADDRESS {
            v.push(a);
        }
    }

    /// Records `name A/AAAA ip` with `ttl` seconds, seen at `ts` in `frame`. The address
    /// is also recorded for every name that is a CNAME alias of `name` (up to 8 hops).
    pub fn answer(&mut self, name: &str, ip: IpAddr, ttl: u32, ts: Timestamp, frame: FrameRef) {
        let until = Timestamp(
            ts.0.saturating_add(i64::from(ttl).saturating_mul(NANOS_PER_SEC))
                .saturating_add(self.grace_ns),
        );
        let mut names = vec![name.trim_end_matches('.').to_ascii_lowercase()];
        let mut i = 0;
        while i < names.len() && names.len() < 8 {
            if let Some(a) = self.aliases.get(&names[i]) {
                for n in a {
                    if !names.contains(n) {
                        names.push(n.clone());
                    }
                }
            }
            i += 1;
        }
        let v = self.by_ip.entry(ip).or_default();
        for n in names {
            v.retain(|r| r.name != n);
            v.push(Resolution {
                name: n,
                frame,
                seen: ts,
                until,
            });
        }
        if v.len() > PER_ADDRESS {
            let drop = v.len() - PER_ADDRESS;
            v.drain(..drop);
        }
    }

    /// Names `ip` was an answer for that are valid at `ts` (answered before, TTL + grace
    /// not expired), most recent first.
    pub fn names(&self, ip: IpAddr, ts: Timestamp) -> impl Iterator<Item = &Resolution> {
        self.by_ip
            .get(&ip)
            .into_iter()
            .flat_map(|v| v.iter().rev())
            .filter(move |r| r.seen <= ts && ts <= r.until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp(s * NANOS_PER_SEC)
    }

    #[test]
    fn answers_expire_after_ttl_plus_grace() {
        let mut d = PassiveDns::new(3600);
        let ip: IpAddr = "203.0.113.10".parse().unwrap();
        d.answer("Sync.Example.NET.", ip, 300, t(1000), FrameRef::default());
        assert_eq!(d.names(ip, t(999)).count(), 0, "not before the answer");
        assert_eq!(
            d.names(ip, t(1000 + 300 + 3600)).next().unwrap().name,
            "sync.example.net"
        );
        assert_eq!(d.names(ip, t(1000 + 300 + 3601)).count(), 0);
    }

    #[test]
    fn cname_chains_attribute_the_address_to_the_asked_name() {
        let mut d = PassiveDns::new(0);
        let ip: IpAddr = "192.0.2.45".parse().unwrap();
        d.cname("api.example.net", "edge.cdn.example");
        d.cname("edge.cdn.example", "a1.cdn.example");
        d.answer("a1.cdn.example", ip, 60, t(10), FrameRef::default());
        let names: Vec<_> = d.names(ip, t(20)).map(|r| r.name.clone()).collect();
        assert!(names.contains(&"api.example.net".to_string()));
        assert!(names.contains(&"a1.cdn.example".to_string()));
    }
}
