//! Acceptance against the generated incident scenarios in `../shared/scenarios/`:
//! every flow's frames, frame bytes, unique stream bytes, gap bytes, reassembled length
//! and — where the capture holds every byte — the SHA-256 of each reassembled direction
//! equal `flows.jsonl`; per local day (Asia/Tokyo) and malicious server, the client→server
//! ledger equals `truth.json` exactly — across midnight and with capture gaps.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{shared, track};
use exfilmeter_flow::{
    Collect, Direction, FlowId, FlowRecord, FlowSink, GapKind, Proto, TrackerConfig,
};
use exfilmeter_ingest::{FrameRef, Timestamp};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Hashes each direction's reassembled stream, zero-filling gaps.
#[derive(Default)]
struct Hashing {
    streams: HashMap<(FlowId, Direction), (Sha256, u64)>,
    inner: Collect,
}

impl Hashing {
    fn put(&mut self, flow: FlowId, dir: Direction, offset: u64, bytes: Option<&[u8]>, len: u64) {
        let (h, at) = self
            .streams
            .entry((flow, dir))
            .or_insert_with(|| (Sha256::new(), 0));
        assert_eq!(*at, offset, "stream events must be contiguous");
        match bytes {
            Some(b) => h.update(b),
            None => {
                let zeros = vec![0u8; 65536];
                let mut left = len;
                while left > 0 {
                    let n = left.min(65536) as usize;
                    h.update(&zeros[..n]);
                    left -= n as u64;
                }
            }
        }
        *at += len;
    }
}

impl FlowSink for Hashing {
    fn data(
        &mut self,
        flow: FlowId,
        dir: Direction,
        offset: u64,
        _ts: Timestamp,
        _f: FrameRef,
        bytes: &[u8],
    ) {
        self.put(flow, dir, offset, Some(bytes), bytes.len() as u64);
    }
    fn gap(&mut self, flow: FlowId, dir: Direction, offset: u64, len: u64, _kind: GapKind) {
        self.put(flow, dir, offset, None, len);
    }
    fn closed(&mut self, r: FlowRecord) {
        self.inner.closed(r);
    }
}

fn scenario_dirs() -> Vec<PathBuf> {
    let Some(root) = shared("scenarios") else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("truth.json").exists())
        .collect();
    v.sort();
    v
}

fn run(dir: &Path) -> (Hashing, serde_json::Value) {
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("truth.json")).unwrap()).unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("captures"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let cfg = TrackerConfig {
        tz: truth["time_zone"].as_str().unwrap().parse().unwrap(),
        ..TrackerConfig::default()
    };
    let mut sink = Hashing::default();
    track(&refs, cfg, &mut sink);
    (sink, truth)
}

#[test]
fn every_flow_matches_flows_jsonl() {
    let dirs = scenario_dirs();
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let (sink, _) = run(&dir);
        let mut ours: HashMap<(String, u16, String, u16, i64), &FlowRecord> = HashMap::new();
        for r in &sink.inner.records {
            let k = (
                r.client.ip.to_string(),
                r.client.port,
                r.server.ip.to_string(),
                r.server.port,
                r.first_ts.0 / 1000,
            );
            assert!(ours.insert(k, r).is_none(), "{name}: duplicate flow");
        }
        let text = std::fs::read_to_string(dir.join("flows.jsonl")).unwrap();
        let mut n = 0;
        let mut hashed = 0;
        for line in text.lines() {
            let f: serde_json::Value = serde_json::from_str(line).unwrap();
            let norm = |s: &str| s.parse::<IpAddr>().unwrap().to_string();
            let k = (
                norm(f["client"].as_str().unwrap()),
                f["cport"].as_u64().unwrap() as u16,
                norm(f["server"].as_str().unwrap()),
                f["sport"].as_u64().unwrap() as u16,
                f["first_ts"].as_i64().unwrap() / 1000, // µs: the captures hold µs timestamps
            );
            let r = ours
                .get(&k)
                .unwrap_or_else(|| panic!("{name}: flow {} not found: {k:?}", f["id"]));
            let id = f["id"].clone();
            for (dir_name, dir) in [("c2s", Direction::C2s), ("s2c", Direction::S2c)] {
                let t = r.ledger.total(dir);
                assert_eq!(
                    t.frames,
                    f[format!("frames_{dir_name}")].as_u64().unwrap(),
                    "{name} flow {id} frames {dir_name}"
                );
                assert_eq!(
                    t.frame_bytes,
                    f[format!("bytes_{dir_name}")].as_u64().unwrap(),
                    "{name} flow {id} bytes {dir_name}"
                );
                if f["proto"] == "tcp" {
                    assert_eq!(
                        t.stream_bytes,
                        f[format!("unique_payload_{dir_name}")].as_u64().unwrap(),
                        "{name} flow {id} unique {dir_name}"
                    );
                    assert_eq!(
                        t.gap_bytes,
                        f[format!("gap_bytes_{dir_name}")].as_u64().unwrap(),
                        "{name} flow {id} gaps {dir_name}"
                    );
                    let (h, len) = sink
                        .streams
                        .get(&(r.id, dir))
                        .cloned()
                        .unwrap_or((Sha256::new(), 0));
                    assert_eq!(
                        len,
                        f[format!("stream_len_{dir_name}")].as_u64().unwrap(),
                        "{name} flow {id} stream length {dir_name}"
                    );
                    // The generator hashes the bytes it sent; where the capture lacks some
                    // (gaps, snaplen), only the length can agree.
                    let incomplete = t.gap_bytes > 0 || t.truncated_bytes > 0;
                    if !incomplete {
                        assert_eq!(
                            hex(&h.finalize()),
                            f[format!("sha256_{dir_name}")].as_str().unwrap(),
                            "{name} flow {id} sha256 {dir_name}"
                        );
                        hashed += 1;
                    }
                }
            }
            n += 1;
        }
        assert_eq!(n, sink.inner.records.len(), "{name}: flow count");
        assert!(n > 500, "{name}: only {n} flows");
        assert!(hashed > 500, "{name}: only {hashed} streams hashed");
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn daily_client_to_server_ledger_matches_truth_for_malicious_servers() {
    for dir in scenario_dirs() {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let (sink, truth) = run(&dir);
        let mut checked = 0;
        for (host, h) in truth["malicious_hosts"].as_object().unwrap() {
            let ips: Vec<IpAddr> = h["ips"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().parse().unwrap())
                .collect();
            if ips.is_empty() {
                continue; // the proxy host: attribution needs CONNECT parsing (intel stage)
            }
            let mut ours: BTreeMap<String, exfilmeter_flow::Counters> = BTreeMap::new();
            for r in sink
                .inner
                .records
                .iter()
                .filter(|r| r.proto == Proto::Tcp && ips.contains(&r.server.ip))
            {
                for (d, day, c) in r.ledger.rows() {
                    if *d == Direction::C2s {
                        ours.entry(day.to_string()).or_default().add(c);
                    }
                }
            }
            for (day, v) in truth["days"].as_object().unwrap() {
                let Some(m) = v["malicious"].get(host) else {
                    continue;
                };
                let want = &m["ledger"]["out"];
                let got = ours.get(day).copied().unwrap_or_default();
                for (field, val) in [
                    ("frames", got.frames),
                    ("frame_bytes", got.frame_bytes),
                    ("ip_bytes", got.ip_bytes),
                    ("payload_bytes", got.payload_bytes),
                    ("stream_bytes", got.stream_bytes),
                    ("retrans_bytes", got.retrans_bytes),
                    ("conflict_bytes", got.conflict_bytes),
                    ("gap_bytes", got.gap_bytes),
                ] {
                    assert_eq!(
                        val,
                        want[field].as_u64().unwrap(),
                        "{name} {day} {host} out.{field}"
                    );
                }
                let content = m["out"]["tcp_payload_content_bytes"].as_u64().unwrap();
                assert_eq!(
                    got.stream_bytes - got.truncated_bytes,
                    content,
                    "{name} {day} {host} content bytes"
                );
                checked += 1;
            }
        }
        assert!(checked >= 8, "{name}: only {checked} host-days checked");
    }
}
