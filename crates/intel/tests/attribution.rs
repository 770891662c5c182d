//! Attribution acceptance on `../shared/scenarios/*/`: the set of flows attributed to IOC
//! hosts equals truth exactly — the host reached only through the proxy's CONNECT, the
//! host named only by SNI, and the domain whose IP changes mid-incident included.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::Keep;
use exfilmeter_intel::{IocSet, Target, Verdict, Via};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

type Key = (String, u16, String, u16, i64);

#[test]
fn attributed_flows_equal_truth_in_every_scenario() {
    for d in common::scenarios() {
        let dir = d.file_name().unwrap().to_string_lossy().to_string();
        let truth = common::truth(&d);
        let set = IocSet::load(&[d.join("iocs.txt")], false).unwrap();
        let sink = common::run(&d, &set, Keep::default());

        // Truth: flow → malicious host.
        let norm = |s: &str| s.parse::<IpAddr>().unwrap().to_string();
        let mut want: BTreeMap<Key, String> = BTreeMap::new();
        for line in std::fs::read_to_string(d.join("flows.jsonl"))
            .unwrap()
            .lines()
        {
            let f: serde_json::Value = serde_json::from_str(line).unwrap();
            if let Some(h) = f["malicious_host"].as_str() {
                let k = (
                    norm(f["client"].as_str().unwrap()),
                    f["cport"].as_u64().unwrap() as u16,
                    norm(f["server"].as_str().unwrap()),
                    f["sport"].as_u64().unwrap() as u16,
                    f["first_ts"].as_i64().unwrap() / 1000,
                );
                want.insert(k, h.to_string());
            }
        }
        let hosts = truth["malicious_hosts"].as_object().unwrap();
        let mut got: BTreeMap<Key, Verdict> = BTreeMap::new();
        for (r, v) in &sink.0 {
            if v.is_ioc() {
                let k = (
                    r.client.ip.to_string(),
                    r.client.port,
                    r.server.ip.to_string(),
                    r.server.port,
                    r.first_ts.0 / 1000,
                );
                got.insert(k, v.clone());
            }
        }
        let want_keys: BTreeSet<_> = want.keys().cloned().collect();
        let got_keys: BTreeSet<_> = got.keys().cloned().collect();
        let missed: Vec<_> = want_keys.difference(&got_keys).collect();
        let extra: Vec<_> = got_keys.difference(&want_keys).collect();
        assert!(
            missed.is_empty(),
            "{dir}: {} flows missed, e.g. {:?}",
            missed.len(),
            missed.iter().take(3).collect::<Vec<_>>()
        );
        assert!(
            extra.is_empty(),
            "{dir}: {} false positives, e.g. {:?}",
            extra.len(),
            extra.iter().take(3).collect::<Vec<_>>()
        );
        // Each verdict names an indicator of the right host.
        let mut vias = BTreeSet::new();
        for (k, v) in &got {
            let host = &want[k];
            let h = &hosts[host];
            let ips: Vec<IpAddr> = h["ips"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap().parse().unwrap())
                .collect();
            let ok = v
                .reasons
                .iter()
                .any(|r| match &set.indicators()[r.ioc].target {
                    Target::Net(n) => ips.iter().any(|ip| n.contains(*ip)),
                    Target::Name(n) => n == host,
                    Target::Suffix(s) => host.ends_with(&format!(".{s}")),
                });
            assert!(
                ok,
                "{dir}: flow {k:?} attributed to the wrong indicator: {v:?}"
            );
            for r in &v.reasons {
                vias.insert(r.via);
            }
        }
        for via in [Via::Ip, Via::Dns, Via::Sni, Via::Connect] {
            assert!(vias.contains(&via), "{dir}: no attribution via {via:?}");
        }
        assert!(
            got.len() > 100,
            "{dir}: only {} flows attributed",
            got.len()
        );
    }
}
