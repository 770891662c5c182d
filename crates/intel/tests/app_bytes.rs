//! Application byte counts on the scenarios against truth.json: per local day and
//! malicious host, the de-chunked HTTP POST body bytes (client→server, including bytes a
//! capture gap hid inside a body of known length) and the TLS application-data
//! plaintext bytes (Σ record length − 17, the AEAD overhead the scenarios use).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use exfilmeter_flow::{DayClock, Direction, FlowId, FlowRecord, FlowSink, MetaEvent, Metadata};
use exfilmeter_ingest::{FrameRef, Timestamp};
use exfilmeter_intel::{IocSet, Verdict, VerdictSink};
use std::collections::{BTreeMap, HashMap};

#[derive(Default)]
struct Flow {
    requests: Vec<(bool, String)>,
    /// body message → (first body ts, end offset)
    bodies: BTreeMap<u32, (Timestamp, u64)>,
    tls: Vec<(Timestamp, u64)>,
}

#[derive(Default)]
struct App {
    flows: HashMap<FlowId, Flow>,
    done: Vec<(FlowRecord, Verdict, Flow)>,
}

impl FlowSink for App {
    fn metadata(&mut self, f: FlowId, e: &MetaEvent) {
        if e.dir != Direction::C2s {
            return;
        }
        let fl = self.flows.entry(f).or_default();
        match &e.meta {
            Metadata::HttpRequest(r) => fl.requests.push((e.tunnelled, r.method.clone())),
            Metadata::TlsRecord { length, .. } if !e.tunnelled => {
                fl.tls.push((e.ts, u64::from(*length).saturating_sub(17)))
            }
            _ => {}
        }
    }
    fn body(
        &mut self,
        f: FlowId,
        dir: Direction,
        message: u32,
        offset: u64,
        ts: Timestamp,
        _fr: FrameRef,
        bytes: &[u8],
    ) {
        if dir != Direction::C2s {
            return;
        }
        let b = self
            .flows
            .entry(f)
            .or_default()
            .bodies
            .entry(message)
            .or_insert((ts, 0));
        b.1 = b.1.max(offset + bytes.len() as u64);
    }
}

impl VerdictSink for App {
    fn verdict(&mut self, r: FlowRecord, v: Verdict) {
        let fl = self.flows.remove(&r.id).unwrap_or_default();
        self.done.push((r, v, fl));
    }
}

#[test]
fn post_body_and_tls_plaintext_bytes_per_day_and_host_equal_truth() {
    for d in common::scenarios() {
        let dir = d.file_name().unwrap().to_string_lossy().to_string();
        let truth = common::truth(&d);
        let tz: chrono_tz::Tz = truth["time_zone"].as_str().unwrap().parse().unwrap();
        let set = IocSet::load(&[d.join("iocs.txt")], false).unwrap();
        let sink = common::run(&d, &set, App::default());
        let mut clock = DayClock::new(tz);
        let mut post: BTreeMap<(String, String), u64> = BTreeMap::new();
        // Day/host pairs where the snapshot length cut client content: the bodies' bytes
        // are not in the capture (they count in truncated_bytes), so truth cannot be met.
        let mut cut: std::collections::BTreeSet<(String, String)> = Default::default();
        let mut tls: BTreeMap<(String, String), u64> = BTreeMap::new();
        for (rec, v, fl) in &sink.done {
            let Some(host) = v.reasons.first().and_then(|r| {
                let ind = &set.indicators()[r.ioc];
                // The host a verdict names: its server name when the indicator is a network.
                r.name
                    .clone()
                    .or_else(|| v.server_name.clone())
                    .or_else(|| Some(ind.text.clone()))
            }) else {
                continue;
            };
            let host = truth["malicious_hosts"]
                .as_object()
                .unwrap()
                .keys()
                .find(|h| **h == host)
                .cloned()
                .unwrap_or(host);
            for (d2, day, c) in rec.ledger.rows() {
                if *d2 == Direction::C2s && c.truncated_bytes > 0 {
                    cut.insert((day.to_string(), host.clone()));
                }
            }
            let connect = fl.requests.iter().any(|(_, m)| m == "CONNECT");
            let reqs: Vec<&String> = fl
                .requests
                .iter()
                .filter(|(t, _)| *t == connect)
                .map(|(_, m)| m)
                .collect();
            for (msg, (ts, len)) in &fl.bodies {
                if reqs.get(*msg as usize).is_some_and(|m| *m == "POST") {
                    *post
                        .entry((clock.day(*ts).to_string(), host.clone()))
                        .or_default() += len;
                }
            }
            for (ts, n) in &fl.tls {
                *tls.entry((clock.day(*ts).to_string(), host.clone()))
                    .or_default() += n;
            }
        }
        let mut checked = 0;
        for (day, dv) in truth["days"].as_object().unwrap() {
            for (host, m) in dv["malicious"].as_object().unwrap() {
                let k = (day.clone(), host.clone());
                if cut.contains(&k) {
                    eprintln!("{dir} {day} {host}: content cut by snaplen, not compared");
                    continue;
                }
                assert_eq!(
                    post.get(&k).copied().unwrap_or(0),
                    m["http_post_body_bytes"].as_u64().unwrap(),
                    "{dir} {day} {host} POST body bytes"
                );
                assert_eq!(
                    tls.get(&k).copied().unwrap_or(0),
                    m["tls_app_plaintext_bytes"].as_u64().unwrap(),
                    "{dir} {day} {host} TLS plaintext bytes"
                );
                checked += 1;
            }
        }
        assert!(checked > 10, "{dir}: {checked}");
    }
}
