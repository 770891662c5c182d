//! DNS against Zeek's own `dns.log` baselines on its test traces (peer suites): the names
//! asked, and the addresses the answers gave for them — what passive DNS attribution is built
//! on — as sets per trace.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{shared, track, zeek_columns};
use exfilmeter_flow::app::dns::DnsData;
use exfilmeter_flow::{FlowId, FlowSink, MetaEvent, Metadata, TrackerConfig};
use std::collections::BTreeSet;
use std::net::IpAddr;

#[derive(Default)]
struct Dns {
    /// Question names of every message.
    names: BTreeSet<String>,
    /// (question, address) of every A/AAAA answer of a response.
    addrs: BTreeSet<(String, IpAddr)>,
}

impl FlowSink for Dns {
    fn metadata(&mut self, _f: FlowId, e: &MetaEvent) {
        if let Metadata::Dns(m) = &e.meta {
            // A response without a question (an mDNS announcement): Zeek logs each answer's
            // name as the query.
            if m.questions.is_empty() && m.response {
                for a in &m.answers {
                    if let DnsData::Addr(ip) = a.data {
                        self.names.insert(a.name.to_ascii_lowercase());
                        self.addrs.insert((a.name.to_ascii_lowercase(), ip));
                    }
                }
            }
            for q in &m.questions {
                self.names.insert(q.to_ascii_lowercase());
                if m.response {
                    for a in &m.answers {
                        if let DnsData::Addr(ip) = a.data {
                            self.addrs.insert((q.to_ascii_lowercase(), ip));
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn dns_names_and_answers_equal_zeeks_dns_log_on_its_traces() {
    let Some(zeek) = shared("peer-suites/zeek") else {
        return;
    };
    let tests = std::fs::read_to_string(zeek.join("tests.tsv")).unwrap();
    let (mut checked, mut answered) = (0, 0);
    for row in tests.lines().skip(1) {
        let cols: Vec<&str> = row.split('\t').collect();
        let (test, trace, logs) = (cols[0], cols[1], cols[2]);
        let Some(log) = logs.split(',').find(|l| l.starts_with("dns.log")) else {
            continue;
        };
        let mut ours = Dns::default();
        track(
            &[&zeek.join("traces").join(trace)],
            TrackerConfig::default(),
            &mut ours,
        );
        let mut names = BTreeSet::new();
        let mut addrs = BTreeSet::new();
        let log = zeek.join("baselines").join(test).join(log);
        for r in zeek_columns(&log, &["query", "answers"]).unwrap_or_default() {
            let [q, answers] = r.as_slice() else {
                continue;
            };
            if q == "-" {
                continue;
            }
            let q = q.to_ascii_lowercase();
            names.insert(q.clone());
            for ip in answers.split(',').filter_map(|x| x.parse::<IpAddr>().ok()) {
                addrs.insert((q.clone(), ip));
            }
        }
        let only = |a: &BTreeSet<String>, b: &BTreeSet<String>| -> Vec<String> {
            a.difference(b).cloned().collect()
        };
        match test {
            // A dynamic update (opcode 5): its zone section (where a query has its question)
            // names the zone, which is what we read; Zeek logs the updated names instead.
            "scripts.base.protocols.dns.dynamic-update" => {
                assert_eq!(only(&ours.names, &names), ["stratolab.org"], "{test}");
                assert_eq!(
                    only(&names, &ours.names),
                    ["nwin1.stratolab.org", "nwin2.stratolab.org"],
                    "{test}"
                );
            }
            // A NOTIFY (opcode 4) whose answer Zeek does not log: we read its question too.
            "scripts.base.protocols.dns.notify" => {
                assert_eq!(only(&ours.names, &names), ["aei.mpg.de"], "{test}");
                assert!(only(&names, &ours.names).is_empty(), "{test}");
            }
            _ => {
                assert_eq!(ours.names, names, "{test}: question names, ours vs Zeek");
                assert_eq!(
                    ours.addrs, addrs,
                    "{test}: answered addresses, ours vs Zeek"
                );
            }
        }
        answered += addrs.len();
        checked += 1;
    }
    assert!(checked >= 18, "{checked} dns.log baselines");
    assert!(answered >= 3, "{answered} answered addresses compared");
}
