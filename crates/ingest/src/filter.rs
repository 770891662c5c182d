//! `-f/--filter`: the common subset of the tcpdump (pcap-filter) syntax, evaluated on decoded
//! IP packets: `host`, `net` (CIDR, or a dotted prefix such as `10.1`), `port`, `portrange`,
//! each with an optional `src`/`dst` (`src or dst`, `src and dst`); the protocols `ip`, `ip6`,
//! `tcp`, `udp`, `icmp`, `icmp6`, `proto N`; a protocol before `port`/`portrange`
//! (`tcp port 443`); `and`/`&&`, `or`/`||`, `not`/`!`, parentheses; a primitive without a
//! keyword takes the previous one's (`host a or b`, `port 80 or 443`), as in pcap-filter.
//!
//! Differences from libpcap's compiled filters, by design: the packet is the decoded one —
//! the innermost IP header of a tunnel, after VLAN tags (tcpdump needs `vlan and …`), and a
//! datagram reassembled from its fragments (tcpdump matches ports on the first fragment only).
//! Non-IP frames never reach the filter (they are skipped and counted before it).

use crate::decode::{Packet, Transport};
use std::net::IpAddr;

/// A compiled filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    expr: Expr,
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Prim(Prim),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Src,
    Dst,
    Either,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Host,
    Net,
    Port,
    PortRange,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Prim {
    Host(Dir, IpAddr),
    Net(Dir, IpAddr, u8),
    Port(Dir, Option<u8>, u16, u16),
    Proto(u8),
    Ip,
    Ip6,
}

/// What the last primitive said, for a bare value that follows it (`host a or b`).
#[derive(Debug, Clone, Copy)]
struct Ctx {
    dir: Dir,
    kind: Kind,
    proto: Option<u8>,
}

struct Parser<'a> {
    toks: Vec<&'a str>,
    i: usize,
    ctx: Option<Ctx>,
}

fn tokens(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices() {
        let single = matches!(c, '(' | ')' | '!');
        if c.is_whitespace() || single {
            if let Some(st) = start.take() {
                out.push(&s[st..i]);
            }
            if single {
                out.push(&s[i..i + 1]);
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(st) = start {
        out.push(&s[st..]);
    }
    out
}

fn parse_net(v: &str) -> Result<(IpAddr, u8), String> {
    let (a, p) = match v.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (v, None),
    };
    if let Ok(ip) = a.parse::<IpAddr>() {
        let full = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|n| *n <= full)
                .ok_or_else(|| format!("bad prefix length in {v:?}"))?,
            None => full,
        };
        return Ok((ip, prefix));
    }
    // A dotted IPv4 prefix: `10`, `10.1`, `10.1.2` (pcap-filter's partial networks).
    let parts: Vec<&str> = a.split('.').collect();
    if p.is_none() && (1..=3).contains(&parts.len()) {
        let mut oct = [0u8; 4];
        for (i, x) in parts.iter().enumerate() {
            oct[i] = x.parse().map_err(|_| format!("{v:?} is not a network"))?;
        }
        return Ok((IpAddr::from(oct), 8 * parts.len() as u8));
    }
    Err(format!("{v:?} is not an address or network"))
}

fn in_net(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix))
            };
            u32::from(a) & m == u32::from(n) & m
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix))
            };
            u128::from(a) & m == u128::from(n) & m
        }
        _ => false,
    }
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&'a str> {
        self.toks.get(self.i).copied()
    }
    fn next(&mut self) -> Option<&'a str> {
        let t = self.toks.get(self.i).copied();
        self.i += 1;
        t
    }
    fn or(&mut self) -> Result<Expr, String> {
        let mut e = self.and()?;
        while matches!(self.peek(), Some("or" | "||")) {
            self.i += 1;
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }
    fn and(&mut self) -> Result<Expr, String> {
        let mut e = self.not()?;
        loop {
            match self.peek() {
                Some("and" | "&&") => {
                    self.i += 1;
                    e = Expr::And(Box::new(e), Box::new(self.not()?));
                }
                // Juxtaposition is `and` (`tcp port 80` is `tcp and port 80`).
                Some(t) if !matches!(t, "or" | "||" | ")") => {
                    e = Expr::And(Box::new(e), Box::new(self.not()?));
                }
                _ => return Ok(e),
            }
        }
    }
    fn not(&mut self) -> Result<Expr, String> {
        if matches!(self.peek(), Some("not" | "!")) {
            self.i += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.atom()
    }
    fn atom(&mut self) -> Result<Expr, String> {
        let Some(t) = self.next() else {
            return Err("the expression ends too early".into());
        };
        if t == "(" {
            let e = self.or()?;
            if self.next() != Some(")") {
                return Err("a `(` is not closed".into());
            }
            return Ok(e);
        }
        let proto = |p: &str| match p {
            "tcp" => Some(6u8),
            "udp" => Some(17),
            "icmp" => Some(1),
            "icmp6" => Some(58),
            _ => None,
        };
        // A protocol alone, or before port/portrange.
        let mut p = None;
        let mut tok = t.to_string();
        if let Some(n) = proto(&tok) {
            match self.peek() {
                Some("port" | "portrange" | "src" | "dst") if n == 6 || n == 17 => {
                    p = Some(n);
                    tok = self.next().unwrap_or_default().to_string();
                }
                _ => return Ok(Expr::Prim(Prim::Proto(n))),
            }
        }
        match tok.as_str() {
            "ip" => return Ok(Expr::Prim(Prim::Ip)),
            "ip6" => return Ok(Expr::Prim(Prim::Ip6)),
            "proto" => {
                let v = self.next().ok_or("`proto` needs a number")?;
                let n = match v {
                    "tcp" => 6,
                    "udp" => 17,
                    "icmp" => 1,
                    v => v.parse::<u8>().map_err(|_| format!("bad protocol {v:?}"))?,
                };
                return Ok(Expr::Prim(Prim::Proto(n)));
            }
            _ => {}
        }
        let mut dir = Dir::Either;
        if matches!(tok.as_str(), "src" | "dst") {
            dir = if tok == "src" { Dir::Src } else { Dir::Dst };
            if matches!(self.peek(), Some("or" | "and")) {
                let conj = self.next().unwrap_or_default();
                let other = self.next().ok_or("`src or` needs `dst`")?;
                if !matches!(other, "src" | "dst") || other == tok {
                    return Err(format!(
                        "`{tok} {conj}` must be followed by the other direction"
                    ));
                }
                dir = if conj == "or" { Dir::Either } else { Dir::Both };
            }
            tok = self
                .next()
                .ok_or("a direction needs host, net or port")?
                .to_string();
        }
        let kind = match tok.as_str() {
            "host" => Some(Kind::Host),
            "net" => Some(Kind::Net),
            "port" => Some(Kind::Port),
            "portrange" => Some(Kind::PortRange),
            _ => None,
        };
        let (kind, value) = match kind {
            Some(k) => (
                k,
                self.next()
                    .ok_or_else(|| format!("`{tok}` needs a value"))?
                    .to_string(),
            ),
            None => {
                // A bare value takes the previous primitive's keywords.
                let c = self
                    .ctx
                    .ok_or_else(|| format!("unknown primitive {tok:?}"))?;
                dir = c.dir;
                p = c.proto;
                (c.kind, tok.clone())
            }
        };
        self.ctx = Some(Ctx {
            dir,
            kind,
            proto: p,
        });
        let prim = match kind {
            Kind::Host => Prim::Host(
                dir,
                value
                    .parse()
                    .map_err(|_| format!("{value:?} is not an address (names are not resolved)"))?,
            ),
            Kind::Net => {
                let (n, m) = match self.peek() {
                    Some("mask") => {
                        self.i += 1;
                        let mask: IpAddr = self
                            .next()
                            .ok_or("`mask` needs a value")?
                            .parse()
                            .map_err(|_| "bad mask".to_string())?;
                        let bits = match mask {
                            IpAddr::V4(m) => u32::from(m).count_ones() as u8,
                            IpAddr::V6(m) => u128::from(m).count_ones() as u8,
                        };
                        (parse_net(&value)?.0, bits)
                    }
                    _ => parse_net(&value)?,
                };
                Prim::Net(dir, n, m)
            }
            Kind::Port => {
                let n: u16 = value.parse().map_err(|_| format!("bad port {value:?}"))?;
                Prim::Port(dir, p, n, n)
            }
            Kind::PortRange => {
                let (a, b) = value
                    .split_once('-')
                    .ok_or_else(|| format!("portrange {value:?}: expected LOW-HIGH"))?;
                let a: u16 = a.parse().map_err(|_| format!("bad port {a:?}"))?;
                let b: u16 = b.parse().map_err(|_| format!("bad port {b:?}"))?;
                Prim::Port(dir, p, a.min(b), a.max(b))
            }
        };
        Ok(Expr::Prim(prim))
    }
}

fn dir_match(d: Dir, src: bool, dst: bool) -> bool {
    match d {
        Dir::Src => src,
        Dir::Dst => dst,
        Dir::Either => src || dst,
        Dir::Both => src && dst,
    }
}

impl Filter {
    /// Compiles a filter expression.
    pub fn parse(text: &str) -> Result<Filter, String> {
        let toks = tokens(text);
        if toks.is_empty() {
            return Err("empty filter".into());
        }
        let mut p = Parser {
            toks,
            i: 0,
            ctx: None,
        };
        let expr = p.or()?;
        if let Some(t) = p.peek() {
            return Err(format!("unexpected {t:?}"));
        }
        Ok(Filter {
            expr,
            text: text.to_string(),
        })
    }

    /// The expression as given.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether a decoded packet matches.
    pub fn matches(&self, p: &Packet<'_>) -> bool {
        eval(&self.expr, p)
    }
}

fn ports(p: &Packet<'_>) -> Option<(u8, u16, u16)> {
    match p.transport {
        Transport::Tcp(t) => Some((6, t.src_port, t.dst_port)),
        Transport::Udp {
            src_port, dst_port, ..
        } => Some((17, src_port, dst_port)),
        _ => None,
    }
}

fn eval(e: &Expr, p: &Packet<'_>) -> bool {
    match e {
        Expr::And(a, b) => eval(a, p) && eval(b, p),
        Expr::Or(a, b) => eval(a, p) || eval(b, p),
        Expr::Not(a) => !eval(a, p),
        Expr::Prim(prim) => match prim {
            Prim::Ip => p.ip.src.is_ipv4(),
            Prim::Ip6 => p.ip.src.is_ipv6(),
            Prim::Proto(n) => p.ip.protocol == *n,
            Prim::Host(d, a) => dir_match(*d, p.ip.src == *a, p.ip.dst == *a),
            Prim::Net(d, n, m) => dir_match(*d, in_net(p.ip.src, *n, *m), in_net(p.ip.dst, *n, *m)),
            Prim::Port(d, proto, lo, hi) => match ports(p) {
                Some((pr, s, t)) if proto.is_none_or(|x| x == pr) => {
                    let r = |x: u16| (*lo..=*hi).contains(&x);
                    dir_match(*d, r(s), r(t))
                }
                _ => false,
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tcpdump_subset_parses_and_bad_filters_are_errors() {
        for ok in [
            "host 198.51.100.7 and tcp port 443",
            "src host 10.0.0.1 or dst net 192.168.0.0/16",
            "not (udp port 53 or icmp)",
            "net 10.1",
            "net 10.0.0.0 mask 255.0.0.0",
            "port 80 or 443",
            "host 10.0.0.1 or 10.0.0.2",
            "portrange 1024-65535 && !tcp",
            "ip6 and src or dst port 22",
            "proto 47",
        ] {
            assert!(Filter::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "host",
            "host example.com",
            "(tcp",
            "port 99999",
            "frobnicate 3",
            "tcp port",
            "net 10.0.0.0/40",
        ] {
            assert!(Filter::parse(bad).is_err(), "{bad}");
        }
    }
}
