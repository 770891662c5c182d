//! DNS messages (RFC 1035 §4): questions and A/AAAA/CNAME answers with TTLs.
//!
//! Hostile input never panics and never allocates by a wire count: counts are capped,
//! names are bounded (255 bytes, 128 labels) and compression pointers may only point
//! backwards and at most 32 times per name.

use nom::number::complete::{be_u16, be_u32};
use nom::{IResult, Parser};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether a port carries DNS messages: DNS (53) over UDP and TCP; multicast DNS (5353,
/// RFC 6762) and LLMNR (5355, RFC 4795), which use DNS's message format, over UDP only (a TCP
/// stream on those ports is sniffed like any other). Their answers are learnt like any DNS
/// answer seen in the capture.
pub fn is_dns_port(port: u16, tcp: bool) -> bool {
    port == 53 || (!tcp && matches!(port, 5353 | 5355))
}

/// Records read per section at most (a message claiming more is truncated to this).
const MAX_RECORDS: usize = 64;

/// Answer data we use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsData {
    /// A or AAAA.
    Addr(IpAddr),
    /// CNAME target.
    Cname(String),
}

/// One answer record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsRecord {
    /// Owner name (lower case, no trailing dot).
    pub name: String,
    /// TTL in seconds.
    pub ttl: u32,
    /// Data.
    pub data: DnsData,
}

/// A parsed DNS message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DnsMessage {
    /// Transaction id.
    pub id: u16,
    /// QR bit: a response.
    pub response: bool,
    /// Response code.
    pub rcode: u8,
    /// Question names.
    pub questions: Vec<String>,
    /// Question types (1 A, 28 AAAA, 2 NS, …), in the order of `questions`.
    pub qtypes: Vec<u16>,
    /// A, AAAA and CNAME answers (other types skipped).
    pub answers: Vec<DnsRecord>,
    /// The message ended early (truncated capture or bogus counts).
    pub truncated: bool,
}

/// Reads a (possibly compressed) name starting at `pos`; returns it and the position
/// after it in the original sequence.
fn read_name(msg: &[u8], mut pos: usize) -> Option<(String, usize)> {
    let mut name = String::new();
    let mut end = None;
    let mut jumps = 0;
    let mut labels = 0;
    loop {
        let len = *msg.get(pos)? as usize;
        if len & 0xC0 == 0xC0 {
            let ptr = ((len & 0x3F) << 8) | *msg.get(pos + 1)? as usize;
            // A pointer may point forward (decoders accept it, so malware may use it to hide
            // a name): loops end at 32 jumps.
            if jumps >= 32 {
                return None;
            }
            end.get_or_insert(pos + 2);
            pos = ptr;
            jumps += 1;
            continue;
        }
        if len & 0xC0 != 0 {
            return None;
        }
        if len == 0 {
            return Some((name, end.unwrap_or(pos + 1)));
        }
        let label = msg.get(pos + 1..pos + 1 + len)?;
        labels += 1;
        if labels > 128 || name.len() + len + 1 > 255 {
            return None;
        }
        if !name.is_empty() {
            name.push('.');
        }
        for &b in label {
            name.push(char::from(b.to_ascii_lowercase()));
        }
        pos += 1 + len;
    }
}

/// id, flags, qdcount, ancount, nscount, arcount.
type Header = (u16, u16, u16, u16, u16, u16);

fn header(i: &[u8]) -> IResult<&[u8], Header> {
    (be_u16, be_u16, be_u16, be_u16, be_u16, be_u16).parse(i)
}

/// Parses one DNS message (UDP payload, or one TCP message without its length prefix).
pub fn parse(msg: &[u8]) -> Option<DnsMessage> {
    let (_, (id, flags, qd, an, _ns, _ar)) = header(msg).ok()?;
    let mut m = DnsMessage {
        id,
        response: flags & 0x8000 != 0,
        rcode: (flags & 0x000F) as u8,
        ..DnsMessage::default()
    };
    let mut pos = 12;
    for _ in 0..usize::from(qd).min(MAX_RECORDS) {
        let Some((name, next)) = read_name(msg, pos) else {
            m.truncated = true;
            return Some(m);
        };
        if next + 4 > msg.len() {
            m.truncated = true;
            return Some(m);
        }
        m.questions.push(name);
        m.qtypes
            .push(u16::from_be_bytes([msg[next], msg[next + 1]]));
        pos = next + 4;
    }
    for _ in 0..usize::from(an).min(MAX_RECORDS) {
        let Some((name, next)) = read_name(msg, pos) else {
            m.truncated = true;
            break;
        };
        let fixed = msg.get(next..next + 10);
        let Some(fixed) = fixed else {
            m.truncated = true;
            break;
        };
        let Ok((_, (rtype, _class, ttl, rdlen))) = (
            be_u16::<&[u8], nom::error::Error<&[u8]>>,
            be_u16,
            be_u32,
            be_u16,
        )
            .parse(fixed)
        else {
            m.truncated = true;
            break;
        };
        let rstart = next + 10;
        let Some(rdata) = msg.get(rstart..rstart + usize::from(rdlen)) else {
            m.truncated = true;
            break;
        };
        let data = match (rtype, rdata.len()) {
            (1, 4) => Some(DnsData::Addr(IpAddr::V4(Ipv4Addr::new(
                rdata[0], rdata[1], rdata[2], rdata[3],
            )))),
            (28, 16) => {
                let mut a = [0u8; 16];
                a.copy_from_slice(rdata);
                Some(DnsData::Addr(IpAddr::V6(Ipv6Addr::from(a))))
            }
            (5, _) => read_name(msg, rstart).map(|(n, _)| DnsData::Cname(n)),
            _ => None,
        };
        if let Some(data) = data {
            m.answers.push(DnsRecord { name, ttl, data });
        }
        pos = rstart + usize::from(rdlen);
    }
    if usize::from(an) > MAX_RECORDS {
        m.truncated = true;
    }
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str) -> Vec<u8> {
        let mut v = Vec::new();
        for l in n.split('.') {
            v.push(l.len() as u8);
            v.extend_from_slice(l.as_bytes());
        }
        v.push(0);
        v
    }

    fn response() -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0];
        m.extend(name("API.example.net"));
        m.extend([0, 1, 0, 1]);
        // CNAME: api.example.net -> edge.example (name by pointer to offset 12)
        m.extend([0xC0, 12, 0, 5, 0, 1, 0, 0, 0, 60]);
        let target = name("edge.example");
        m.extend((target.len() as u16).to_be_bytes());
        let edge_at = m.len();
        m.extend(target);
        // A: edge.example -> 192.0.2.45 (pointer to the CNAME target)
        m.extend([
            0xC0,
            edge_at as u8,
            0,
            1,
            0,
            1,
            0,
            0,
            1,
            44,
            0,
            4,
            192,
            0,
            2,
            45,
        ]);
        m
    }

    #[test]
    fn answers_with_compression_and_cname() {
        let m = parse(&response()).unwrap();
        assert!(m.response);
        assert_eq!(m.questions, vec!["api.example.net"]);
        assert_eq!(m.answers.len(), 2);
        assert_eq!(m.answers[0].data, DnsData::Cname("edge.example".into()));
        assert_eq!(m.answers[1].name, "edge.example");
        assert_eq!(m.answers[1].ttl, 300);
        assert_eq!(
            m.answers[1].data,
            DnsData::Addr("192.0.2.45".parse().unwrap())
        );
        assert!(!m.truncated);
    }

    #[test]
    fn compression_loops_end_and_forward_pointers_are_followed() {
        let mut m = vec![0, 0, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend([0xC0, 12, 0, 1, 0, 1]); // points at itself
        let r = parse(&m).unwrap();
        assert!(r.truncated && r.questions.is_empty());
        let mut m = vec![0, 0, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend([0xC0, 40, 0, 1, 0, 1]); // forward, beyond the message
        assert!(parse(&m).unwrap().truncated);
        // Two questions, the first a pointer forward to the second's name (a query seen in
        // the wild, suricata-verify dns-forward-pointer).
        let mut m = vec![0x8e, 0x04, 0x01, 0x00, 0, 2, 0, 0, 0, 0, 0, 0];
        m.extend([0xC0, 18, 0, 1, 0, 1]);
        m.extend(name("codemonkey.net"));
        m.extend([0, 1, 0, 1]);
        let r = parse(&m).unwrap();
        assert_eq!(r.questions, ["codemonkey.net", "codemonkey.net"]);
        assert_eq!(r.qtypes, [1, 1]);
        assert!(!r.truncated);
    }

    #[test]
    fn absurd_counts_and_truncation_never_panic() {
        let mut m = vec![0, 0, 0x81, 0x80, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0];
        m.extend(name("a.example"));
        let r = parse(&m).unwrap();
        assert!(r.truncated);
        let full = response();
        for cut in 0..full.len() {
            let _ = parse(&full[..cut]);
        }
        assert!(parse(&[1, 2, 3]).is_none());
    }
}
