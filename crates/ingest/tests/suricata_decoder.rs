//! Decoder counters against Suricata's own `stats` checks (suricata-verify, peer suites): the
//! packets, IP versions, transports and tunnel layers Suricata counts on each test's capture,
//! mapped to what our decoder counts. Suricata counts every header it decodes (the outer and the
//! inner IPv4 header of an ERSPAN packet are two); we count each packet once by its innermost
//! headers, plus the packets that came through a tunnel — the mapping is stated per counter.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use exfilmeter_ingest::{CaptureReader, Decoded, Decoder, FileId, HashAlgo};
use std::collections::BTreeMap;

/// The `stats:` check of a test.yaml: counter → value.
fn stats(yaml: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut inside = false;
    let mut indent = 0;
    for line in yaml.lines() {
        let t = line.trim_start();
        let ind = line.len() - t.len();
        if t.starts_with("- stats:") {
            inside = true;
            indent = ind;
            continue;
        }
        if inside {
            if ind <= indent && !t.is_empty() {
                inside = false;
                continue;
            }
            if let Some((k, v)) = t.split_once(':') {
                if let Ok(n) = v.trim().parse::<u64>() {
                    out.insert(k.trim().to_string(), n);
                }
            }
        }
    }
    out
}

#[test]
fn decoder_counters_equal_suricatas_stats_checks() {
    let Some(sv) = exfilmeter_testkit::shared("peer-suites/suricata-verify") else {
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
        let want: BTreeMap<String, u64> = stats(&yaml)
            .into_iter()
            .filter(|(k, _)| k.starts_with("decoder.") && !k.starts_with("decoder.event"))
            .collect();
        if want.is_empty() {
            continue;
        }
        let mut r = CaptureReader::open(&dir.join(pcap), FileId(0), HashAlgo::None).unwrap();
        let mut d = Decoder::default();
        let mut frames = 0u64;
        while let Some(f) = r.next_frame() {
            frames += 1;
            let _ = matches!(d.decode(&f), Decoded::Packet(_));
        }
        d.finish();
        let s = d.stats().clone();
        for (k, v) in &want {
            let ours = match k.as_str() {
                "decoder.pkts" => frames,
                // Suricata counts the outer IPv4 header of each GRE/ERSPAN packet too.
                "decoder.ipv4" => s.ipv4 + s.tunnelled,
                "decoder.ipv6" => s.ipv6,
                "decoder.tcp" => s.tcp,
                "decoder.udp" => s.udp,
                // The tunnel layers: every tunnelled packet of these captures came through
                // GRE carrying ERSPAN.
                "decoder.gre" | "decoder.erspan" => s.tunnelled,
                // Link layers and encapsulations below IP (Cisco HDLC, E-Tag, NSH over
                // Ethernet): every packet of these captures is carried by that layer.
                "decoder.chdlc" | "decoder.etag" | "decoder.nsh" | "decoder.ethernet" => s.packets,
                _ => continue,
            };
            assert_eq!(ours, *v, "{name}: {k}: ours vs Suricata ({s:?})");
            compared += 1;
        }
    }
    assert!(compared >= 15, "{compared} counters compared");
}
