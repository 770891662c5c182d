//! Server names against Suricata's own expectations (suricata-verify `test.yaml` EVE checks,
//! peer suites): every check that a `tls` event carries a `tls.sni` or an `http` event an
//! `http.hostname`, with its count, on the test's capture. (Suricata's `dns` checks also filter
//! on the record type and count requests and responses apart; DNS is compared with Zeek's
//! `dns.log` in `zeek_dns.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{shared, track};
use exfilmeter_flow::{Direction, FlowId, FlowSink, MetaEvent, Metadata, TrackerConfig};
use std::collections::BTreeMap;

/// What we read: (kind, name, client port, server port) per event.
#[derive(Default)]
struct Seen {
    ports: BTreeMap<FlowId, (u16, u16)>,
    events: Vec<(&'static str, String, FlowId, Direction)>,
    /// DNS messages: first question, its type, response, transaction id, flow.
    dns: Vec<(String, u16, bool, u16, FlowId)>,
}

impl FlowSink for Seen {
    fn opened(
        &mut self,
        flow: FlowId,
        key: &exfilmeter_flow::FlowKey,
        client: exfilmeter_flow::Endpoint,
        _ts: exfilmeter_ingest::Timestamp,
    ) {
        let server = if key.lo == client { key.hi } else { key.lo };
        self.ports.insert(flow, (client.port, server.port));
    }
    fn metadata(&mut self, f: FlowId, e: &MetaEvent) {
        match &e.meta {
            Metadata::TlsClientHello(h) | Metadata::QuicClientHello(h) => {
                if let Some(s) = &h.sni {
                    self.events.push(("tls", s.clone(), f, e.dir));
                }
            }
            Metadata::HttpRequest(r) if !e.tunnelled => {
                if let Some(h) = &r.host {
                    self.events.push(("http", h.clone(), f, e.dir));
                }
            }
            Metadata::Dns(m) => {
                if let (Some(q), Some(t)) = (m.questions.first(), m.qtypes.first()) {
                    self.dns
                        .push((q.to_ascii_lowercase(), *t, m.response, m.id, f));
                }
            }
            _ => {}
        }
    }
}

/// One `filter` check: count and match entries (`key: value`, quotes removed).
#[derive(Debug, Default)]
struct Check {
    count: Option<usize>,
    matched: BTreeMap<String, String>,
    requires: bool,
}

/// The filter checks of a test.yaml (its simple, indentation-based layout).
fn checks(yaml: &str) -> Vec<Check> {
    let mut out: Vec<Check> = Vec::new();
    let mut in_filter = false;
    for line in yaml.lines() {
        let t = line.trim();
        if t.starts_with("- filter:") {
            out.push(Check::default());
            in_filter = true;
            continue;
        }
        if t.starts_with("- ") && !t.starts_with("- filter") {
            in_filter = false;
        }
        if !in_filter {
            continue;
        }
        let Some(c) = out.last_mut() else { continue };
        if t.starts_with("requires:") {
            c.requires = true;
        }
        if let Some((k, v)) = t.split_once(':') {
            let (k, v) = (k.trim(), v.trim().trim_matches('"').trim_matches('\''));
            if k == "count" {
                c.count = v.parse().ok();
            } else if !v.is_empty() {
                c.matched.insert(k.to_string(), v.to_string());
            }
        }
    }
    out
}

/// The match keys a check may have to be compared here.
const CHECKED: [&str; 11] = [
    "event_type",
    "tls.sni",
    "http.hostname",
    "dest_port",
    "dest_ip",
    "src_ip",
    "src_port",
    "proto",
    "app_proto",
    "min-version",
    "tx_id",
];

#[test]
fn tls_server_names_and_http_hosts_equal_suricatas_eve_checks() {
    let Some(sv) = shared("peer-suites/suricata-verify") else {
        return;
    };
    let tsv = std::fs::read_to_string(sv.join("tests.tsv")).unwrap();
    let (mut tls, mut http) = (0, 0);
    for row in tsv.lines().skip(1) {
        let cols: Vec<&str> = row.split('\t').collect();
        let (name, pcap) = (cols[0], cols[1]);
        let dir = sv.join("tests").join(name);
        let Ok(yaml) = std::fs::read_to_string(dir.join("test.yaml")) else {
            continue;
        };
        let wanted: Vec<(String, &'static str, String, usize, bool)> = checks(&yaml)
            .into_iter()
            .filter_map(|c| {
                let count = c.count?;
                // Checks for older Suricata versions are left out.
                if c.matched.contains_key("lt-version") {
                    return None;
                }
                // A check that also filters on what we do not read (TLS version, URL, packet
                // number…) counts a subset of the events with that name: ours must be at
                // least as many.
                let exact = c.matched.keys().all(|k| CHECKED.contains(&k.as_str()));
                if !exact && count == 0 {
                    return None;
                }
                let (kind, key) = match c.matched.get("event_type").map(String::as_str) {
                    Some("tls") => ("tls", "tls.sni"),
                    Some("http") => ("http", "http.hostname"),
                    _ => return None,
                };
                let value = c.matched.get(key)?.to_ascii_lowercase();
                let port = c.matched.get("dest_port").cloned().unwrap_or_default();
                Some((port, kind, value, count, exact))
            })
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let mut seen = Seen::default();
        track(&[&dir.join(pcap)], TrackerConfig::default(), &mut seen);
        for (port, kind, value, count, exact) in &wanted {
            let port: Option<u16> = port.parse().ok();
            let hits = seen.events.iter().filter(|(k, v, f, _)| {
                k == kind
                    && v.to_ascii_lowercase() == *value
                    && port.is_none_or(|p| seen.ports.get(f).is_some_and(|x| x.1 == p))
            });
            // Suricata logs one `tls` event per connection (a second ClientHello after a
            // HelloRetryRequest is the same session) and one `http` event per request.
            let n = if *kind == "tls" {
                let mut flows: Vec<FlowId> = hits.map(|h| h.2).collect();
                flows.dedup();
                flows.len()
            } else {
                hits.count()
            };
            if name == "tcp-fastopen-10-syn-data-ignore" {
                // One connection (one 5-tuple, SYNs retransmitted, no FIN or RST) whose
                // ClientHello rides on the SYN (TCP Fast Open) and is sent again after the
                // handshake: Suricata 8.0.3 and later logs two `tls` events, we one flow.
                assert_eq!((n, *count), (1, 2), "{name}: {kind} {value}");
            } else if *exact {
                assert_eq!(
                    n, *count,
                    "{name}: {kind} {value}: ours vs Suricata's check"
                );
            } else {
                assert!(
                    n >= *count,
                    "{name}: {kind} {value}: ours {n} < Suricata's {count}"
                );
            }
            if *kind == "tls" {
                tls += 1;
            } else {
                http += 1;
            }
        }
    }
    assert!(tls >= 7 && http >= 6, "{tls} tls and {http} http checks");
}

/// DNS record types by the names Suricata logs.
fn rrtype(name: &str) -> Option<u16> {
    Some(match name {
        "A" => 1,
        "NS" => 2,
        "CNAME" => 5,
        "SOA" => 6,
        "PTR" => 12,
        "MX" => 15,
        "TXT" => 16,
        "AAAA" => 28,
        "SRV" => 33,
        "NAPTR" => 35,
        "ANY" => 255,
        _ => return None,
    })
}

/// The match keys a DNS check may have to be compared exactly.
const DNS_CHECKED: [&str; 13] = [
    "event_type",
    "dns.rrname",
    "dns.queries[0].rrname",
    "dns.rrtype",
    "dns.queries[0].rrtype",
    "dns.type",
    "dns.id",
    "dest_port",
    "src_port",
    "dest_ip",
    "src_ip",
    "proto",
    "min-version",
];

#[test]
fn dns_queries_and_responses_equal_suricatas_eve_checks() {
    let Some(sv) = shared("peer-suites/suricata-verify") else {
        return;
    };
    let tsv = std::fs::read_to_string(sv.join("tests.tsv")).unwrap();
    let mut compared = 0;
    for row in tsv.lines().skip(1) {
        let cols: Vec<&str> = row.split('\t').collect();
        let (name, pcap) = (cols[0], cols[1]);
        let dir = sv.join("tests").join(name);
        let Ok(yaml) = std::fs::read_to_string(dir.join("test.yaml")) else {
            continue;
        };
        let wanted: Vec<Check> = checks(&yaml)
            .into_iter()
            .filter(|c| {
                c.count.is_some()
                    && c.matched.get("event_type").map(String::as_str) == Some("dns")
                    && !c.matched.contains_key("lt-version")
                    && (c.matched.contains_key("dns.rrname")
                        || c.matched.contains_key("dns.queries[0].rrname"))
            })
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let mut seen = Seen::default();
        track(&[&dir.join(pcap)], TrackerConfig::default(), &mut seen);
        for c in &wanted {
            let m = &c.matched;
            let count = c.count.unwrap_or(0);
            let q = m
                .get("dns.rrname")
                .or_else(|| m.get("dns.queries[0].rrname"))
                .map(|s| s.to_ascii_lowercase())
                .unwrap_or_default();
            let t = m
                .get("dns.rrtype")
                .or_else(|| m.get("dns.queries[0].rrtype"))
                .map(|s| rrtype(s));
            let response = m
                .get("dns.type")
                .map(|s| matches!(s.as_str(), "response" | "answer"));
            let id: Option<u16> = m.get("dns.id").and_then(|s| s.parse().ok());
            let exact = t != Some(None) && m.keys().all(|k| DNS_CHECKED.contains(&k.as_str()));
            let n = seen
                .dns
                .iter()
                .filter(|(name, qt, resp, tid, _)| {
                    *name == q
                        && t.flatten().is_none_or(|t| t == *qt)
                        && response.is_none_or(|r| r == *resp)
                        && id.is_none_or(|i| i == *tid)
                })
                .count();
            if name.starts_with("dns-over-http2") {
                // DNS over HTTP/2 (DoH): HTTP/2 frames are not read, so neither is the DNS
                // message inside them.
                assert_eq!(n, 0, "{name}: dns {q}");
                compared += 1;
            } else if exact {
                assert_eq!(n, count, "{name}: dns {q} {m:?}: ours vs Suricata's check");
                compared += 1;
            } else if count > 0 {
                assert!(n >= count, "{name}: dns {q}: ours {n} < Suricata's {count}");
                compared += 1;
            }
        }
    }
    assert!(compared >= 8, "{compared} dns checks");
}
