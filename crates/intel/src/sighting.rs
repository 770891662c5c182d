//! `sightings.stix.json`: a STIX 2.1 bundle of the indicators that were actually seen in the
//! captures — one `indicator` per IOC matched (its STIX pattern), one `sighting` of it (first
//! and last seen, the number of flows, the hosts), all created by one `identity` (the
//! analysis) — for MISP and OpenCTI to import. Identifiers are UUIDv5 of their content and
//! timestamps come from the captures, so the same inputs give the same bundle.

use crate::indicator::Target;
use crate::set::{IocId, IocSet};
use exfilmeter_ingest::Timestamp;
use serde_json::{json, Value};

/// One indicator seen: in how many flows, when, to which hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The indicator.
    pub ioc: IocId,
    /// First frame time of its first flow (UTC).
    pub first: Timestamp,
    /// Last frame time of its last flow.
    pub last: Timestamp,
    /// Flows attributed to it.
    pub flows: u64,
    /// Hosts those flows talked to (sorted, distinct).
    pub hosts: Vec<String>,
}

/// Namespace of exfilmeter's STIX identifiers (UUIDv5 names are hashed under it).
const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x5f0e_9c1a_7c3b_4a8e_9d2f_1e6b_0a4c_7d31);

fn id(kind: &str, name: &str) -> String {
    format!(
        "{kind}--{}",
        uuid::Uuid::new_v5(&NAMESPACE, format!("{kind}:{name}").as_bytes())
    )
}

/// STIX timestamp (UTC, milliseconds).
fn stix_time(t: Timestamp) -> String {
    chrono::DateTime::from_timestamp_nanos(t.0)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// A STIX pattern string literal.
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The STIX pattern of a target.
pub fn pattern(t: &Target) -> String {
    match t {
        Target::Net(n) => {
            let kind = if n.addr.is_ipv4() {
                "ipv4-addr"
            } else {
                "ipv6-addr"
            };
            let full = if n.addr.is_ipv4() { 32 } else { 128 };
            if n.prefix == full {
                format!("[{kind}:value = {}]", lit(&n.addr.to_string()))
            } else {
                format!("[{kind}:value ISSUBSET {}]", lit(&n.to_string()))
            }
        }
        Target::Name(s) => format!("[domain-name:value = {}]", lit(s)),
        // Every name below the suffix (not the suffix itself), as a regex: LIKE's `_` would
        // be a wildcard in names such as `_dmarc.example.com`.
        Target::Suffix(s) => {
            let re: String = s
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c.to_string()
                    } else {
                        format!("\\{c}")
                    }
                })
                .collect();
            format!(
                "[domain-name:value MATCHES {}]",
                lit(&format!("^.+\\.{re}$"))
            )
        }
    }
}

/// The bundle of `seen` indicators of `set`.
pub fn sightings_bundle(set: &IocSet, seen: &[Seen]) -> Value {
    // Creation time: the last frame of any sighting (reproducible, unlike the wall clock).
    let created = seen
        .iter()
        .map(|s| s.last)
        .max()
        .map_or_else(|| "1970-01-01T00:00:00.000Z".to_string(), stix_time);
    let identity = id("identity", "exfilmeter analysis");
    let mut objects = vec![json!({
        "type": "identity",
        "spec_version": "2.1",
        "id": identity,
        "created": created,
        "modified": created,
        "name": "exfilmeter analysis",
        "identity_class": "system",
        "description": "Network-traffic forensics of the captures of this case (exfilmeter).",
    })];
    // Indicators with the same pattern (one IOC in two sources, or in two validity windows)
    // are one STIX indicator with one sighting.
    let mut merged: Vec<Seen> = Vec::new();
    let mut by_pattern: std::collections::BTreeMap<String, usize> = Default::default();
    for s in seen {
        let Some(ind) = set.get(s.ioc) else {
            continue;
        };
        let pat = pattern(&ind.target);
        match by_pattern.get(&pat) {
            Some(&i) => {
                let m = &mut merged[i];
                m.first = m.first.min(s.first);
                m.last = m.last.max(s.last);
                m.flows += s.flows;
                for h in &s.hosts {
                    if !m.hosts.contains(h) {
                        m.hosts.push(h.clone());
                    }
                }
                m.hosts.sort();
            }
            None => {
                by_pattern.insert(pat, merged.len());
                merged.push(s.clone());
            }
        }
    }
    for s in &merged {
        let Some(ind) = set.get(s.ioc) else {
            continue;
        };
        let pat = pattern(&ind.target);
        let ind_id = id("indicator", &pat);
        let valid_from = ind.valid_from.unwrap_or(s.first);
        let mut o = json!({
            "type": "indicator",
            "spec_version": "2.1",
            "id": ind_id,
            "created": created,
            "modified": created,
            "created_by_ref": identity,
            "name": ind.label.clone().unwrap_or_else(|| ind.text.clone()),
            "description": format!("{} ({})", ind.text, set.origin_text(s.ioc)),
            "indicator_types": ["malicious-activity"],
            "pattern": pat,
            "pattern_type": "stix",
            "pattern_version": "2.1",
            "valid_from": stix_time(valid_from),
        });
        if let Some(u) = ind.valid_until.filter(|u| *u > valid_from) {
            o["valid_until"] = json!(stix_time(u));
        }
        objects.push(o);
        let last = if s.last > s.first { s.last } else { s.first };
        objects.push(json!({
            "type": "sighting",
            "spec_version": "2.1",
            "id": id("sighting", &format!("{ind_id}@{}", s.first.0)),
            "created": created,
            "modified": created,
            "created_by_ref": identity,
            "first_seen": stix_time(s.first),
            "last_seen": stix_time(last),
            "count": s.flows.min(999_999_999),
            "sighting_of_ref": ind_id,
            "where_sighted_refs": [identity],
            "description": format!(
                "{} flow(s) to {} in the captures",
                s.flows,
                s.hosts.join(", ")
            ),
        }));
    }
    let names: Vec<String> = objects
        .iter()
        .filter_map(|o| o["id"].as_str().map(str::to_string))
        .collect();
    json!({
        "type": "bundle",
        "id": id("bundle", &names.join(",")),
        "objects": objects,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_of_every_target() {
        let net = |s: &str| Target::Net(s.parse().unwrap());
        assert_eq!(
            pattern(&net("203.0.113.10")),
            "[ipv4-addr:value = '203.0.113.10']"
        );
        assert_eq!(
            pattern(&net("198.51.100.0/25")),
            "[ipv4-addr:value ISSUBSET '198.51.100.0/25']"
        );
        assert_eq!(
            pattern(&net("2001:db8::/32")),
            "[ipv6-addr:value ISSUBSET '2001:db8::/32']"
        );
        assert_eq!(
            pattern(&Target::Name("a.example".into())),
            "[domain-name:value = 'a.example']"
        );
        assert_eq!(
            pattern(&Target::Suffix("example.org".into())),
            "[domain-name:value MATCHES '^.+\\\\.example\\\\.org$']"
        );
        assert_eq!(lit("it's"), "'it\\'s'");
        assert_eq!(
            stix_time(Timestamp(1_411_084_800_123_456_789)),
            "2014-09-19T00:00:00.123Z"
        );
    }
}
