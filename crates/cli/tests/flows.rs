//! End-to-end tests of `exfilmeter flows`: the real binary, CSV and Parquet outputs.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;
use common::{bin, shared, testdata};

use std::collections::BTreeMap;

fn csv(path: &std::path::Path) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let head: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    lines
        .map(|l| {
            head.iter()
                .cloned()
                .zip(l.split(',').map(String::from))
                .collect()
        })
        .collect()
}

#[test]
fn csv_has_the_documented_columns_and_is_identical_on_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.csv");
    let b = dir.path().join("b.csv");
    for out in [&a, &b] {
        let st = bin()
            .args(["flows", "-q", "--tz", "Asia/Tokyo", "-o"])
            .arg(out)
            .arg(testdata(""))
            .status()
            .unwrap();
        assert_eq!(st.code(), Some(0));
    }
    assert_eq!(
        std::fs::read(&a).unwrap(),
        std::fs::read(&b).unwrap(),
        "byte-identical re-run"
    );
    let rows = csv(&a);
    let cols = [
        "flow_id",
        "day",
        "direction",
        "client_ip",
        "client_port",
        "server_ip",
        "server_port",
        "proto",
        "vlan",
        "vni",
        "first_ts",
        "last_ts",
        "frames",
        "frame_bytes",
        "ip_bytes",
        "payload_bytes",
        "stream_bytes",
        "truncated_bytes",
        "retrans_bytes",
        "conflict_bytes",
        "gap_bytes",
        "history",
        "close_reason",
        "first_frame",
        "last_frame",
    ];
    for c in cols {
        assert!(rows[0].contains_key(c), "missing column {c}");
    }
    // The frames of the ledger add up to the decoded packets `inspect` reports.
    let inspect = bin()
        .args(["inspect", "--json"])
        .arg(testdata(""))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    let frames: u64 = rows
        .iter()
        .map(|r| r["frames"].parse::<u64>().unwrap())
        .sum();
    assert_eq!(frames, v["total"]["decoded_packets"].as_u64().unwrap());
}

#[test]
fn parquet_and_csv_carry_the_same_ledger() {
    let Some(s) = shared("scenarios/small-s1/captures") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("l.csv");
    let p = dir.path().join("l.parquet");
    for out in [&c, &p] {
        let st = bin()
            .args(["flows", "-q", "--tz", "Asia/Tokyo", "-o"])
            .arg(out)
            .arg(&s)
            .status()
            .unwrap();
        assert_eq!(st.code(), Some(0));
    }
    let rows = csv(&c);
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::RowAccessor;
    let reader = SerializedFileReader::new(std::fs::File::open(&p).unwrap()).unwrap();
    let meta = reader.metadata();
    assert_eq!(meta.file_metadata().num_rows() as usize, rows.len());
    let fields: Vec<String> = meta
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    assert_eq!(fields.len(), rows[0].len());
    // Sum of stream_bytes through the Parquet row API equals the CSV's.
    let idx = fields.iter().position(|f| f == "stream_bytes").unwrap();
    let mut sum_pq = 0i64;
    for row in reader.get_row_iter(None).unwrap() {
        let row = row.unwrap();
        sum_pq += row.get_long(idx).unwrap();
    }
    let sum_csv: i64 = rows
        .iter()
        .map(|r| r["stream_bytes"].parse::<i64>().unwrap())
        .sum();
    assert_eq!(sum_pq, sum_csv);
    assert!(sum_csv > 1_000_000);
}

#[test]
fn damaged_capture_still_writes_the_ledger_and_exits_1() {
    let Some(d) = shared("damaged/cut-mid-packet.pcap") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.csv");
    let o = bin()
        .args(["flows", "-q", "-o"])
        .arg(&out)
        .arg(&d)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("at byte offset 1417685"));
    let frames: u64 = csv(&out)
        .iter()
        .map(|r| r["frames"].parse::<u64>().unwrap())
        .sum();
    assert_eq!(
        frames, 1707,
        "every frame before the damage is in the ledger"
    );
}

#[test]
fn unknown_extension_is_a_usage_error() {
    let o = bin()
        .args(["flows", "-q", "-o", "/tmp/x.xlsx"])
        .arg(testdata("example.pcap"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn iocs_add_attribution_columns_and_only_ioc_filters() {
    let Some(s) = shared("scenarios/small-s1") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let all = dir.path().join("all.csv");
    let only = dir.path().join("only.csv");
    let iocs = s.join("iocs.txt");
    let caps = s.join("captures");
    for (out, extra) in [(&all, None), (&only, Some("--only-ioc"))] {
        let mut cmd = bin();
        cmd.args(["flows", "-q", "--tz", "Asia/Tokyo", "--iocs"])
            .arg(&iocs)
            .arg("-o")
            .arg(out)
            .arg(&caps);
        if let Some(e) = extra {
            cmd.arg(e);
        }
        assert_eq!(cmd.status().unwrap().code(), Some(0));
    }
    let all = csv(&all);
    let only = csv(&only);
    for c in [
        "ioc",
        "ioc_via",
        "ioc_source",
        "evidence_frame",
        "server_name",
    ] {
        assert!(all[0].contains_key(c), "missing {c}");
    }
    let attributed: Vec<_> = all.iter().filter(|r| !r["ioc"].is_empty()).collect();
    assert_eq!(
        attributed.len(),
        only.len(),
        "--only-ioc keeps exactly the attributed rows"
    );
    assert!(only
        .iter()
        .all(|r| !r["ioc_via"].is_empty() && r["evidence_frame"].contains('#')));
    // Every way of naming a host shows up.
    for via in ["ip", "dns", "sni", "connect"] {
        assert!(
            only.iter()
                .any(|r| r["ioc_via"].split(';').any(|v| v == via)),
            "no {via}"
        );
    }
    // A malformed IOC file is a usage error naming file and line.
    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, "203.0.113.10\nnot valid!\n").unwrap();
    let o = bin()
        .args(["flows", "-q", "--iocs"])
        .arg(&bad)
        .arg(&caps)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("bad.txt:2"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn a_quic_connection_is_attributed_by_the_server_name_of_its_initial_packets() {
    // Chromium's ClientHello split over several Initial packets (a Zeek trace); the name
    // alone is the indicator: no address, no DNS answer in the capture.
    let Some(trace) =
        shared("peer-suites/zeek/traces/quic/chromium-115.0.5790.110-google-de-fragmented.pcap")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let iocs = dir.path().join("iocs.txt");
    std::fs::write(&iocs, "www.google.de\n").unwrap();
    let out = dir.path().join("l.csv");
    let o = bin()
        .args(["flows", "-q", "--only-ioc", "--iocs"])
        .arg(&iocs)
        .arg(&trace)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let rows = csv(&out);
    assert!(!rows.is_empty());
    for r in &rows {
        assert_eq!(r["proto"], "udp");
        assert_eq!(r["server_port"], "443");
        assert_eq!(r["ioc_via"], "sni");
        assert_eq!(r["server_name"], "www.google.de");
    }
}

/// `flows --tunnels` on real tunnels in UDP (Zeek's VXLAN, Geneve and GRE-in-UDP traces)
/// against tshark: per outer 5-tuple and direction, the frames, frame bytes, outer IP bytes
/// and UDP payload bytes of the frames tshark dissects as that tunnel.
#[test]
fn tunnels_table_agrees_with_tshark_on_tunnels_in_udp() {
    let Some(traces) = shared("peer-suites/zeek/traces") else {
        return;
    };
    if !exfilmeter_testkit::tool("tshark", "-v") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut rows_checked = 0;
    for (trace, filter, kind) in [
        ("tunnels/vxlan-encapsulated-http.pcap", "vxlan", "vxlan"),
        ("tunnels/geneve.pcap", "geneve", "geneve"),
        (
            "tunnels/gre-over-udp-4754.pcap",
            "udp.port == 4754",
            "gre-udp",
        ),
    ] {
        let path = traces.join(trace);
        let out = std::process::Command::new("tshark")
            .args(["-n", "-r"])
            .arg(&path)
            .args(["-Y", filter, "-T", "fields", "-E", "occurrence=f"])
            .args(["-e", "ip.src", "-e", "ip.dst", "-e", "udp.srcport"])
            .args(["-e", "udp.dstport", "-e", "frame.len", "-e", "ip.len"])
            .args(["-e", "udp.length"])
            .output()
            .unwrap();
        assert!(out.status.success());
        // (src, sport, dst, dport) → [frames, frame bytes, IP bytes, UDP payload bytes]
        let mut want: BTreeMap<[String; 4], [u64; 4]> = BTreeMap::new();
        for l in String::from_utf8_lossy(&out.stdout).lines() {
            let c: Vec<&str> = l.split('\t').collect();
            let n = |i: usize| c[i].parse::<u64>().unwrap();
            let k = [c[0], c[2], c[1], c[3]].map(String::from);
            let e = want.entry(k).or_default();
            for (x, v) in e.iter_mut().zip([1, n(4), n(5), n(6) - 8]) {
                *x += v;
            }
        }
        assert!(!want.is_empty(), "{trace}: tshark shows no {filter}");
        let t = dir.path().join(format!("{kind}.csv"));
        let st = bin()
            .args(["flows", "-q", "--hash", "none", "--tunnels"])
            .arg(&t)
            .arg("-o")
            .arg(dir.path().join("flows.csv"))
            .arg(&path)
            .status()
            .unwrap();
        assert!(st.success());
        let mut got: BTreeMap<[String; 4], [u64; 4]> = BTreeMap::new();
        for r in csv(&t) {
            assert_eq!(r["kind"], kind, "{trace}");
            for (d, from, to) in [("c2s", "client", "server"), ("s2c", "server", "client")] {
                let v = ["frames", "frame_bytes", "ip_bytes", "payload_bytes"]
                    .map(|f| r[&format!("{d}_{f}")].parse::<u64>().unwrap());
                if v[0] > 0 {
                    let k = [
                        &r[&format!("{from}_ip")],
                        &r[&format!("{from}_port")],
                        &r[&format!("{to}_ip")],
                        &r[&format!("{to}_port")],
                    ]
                    .map(|s| s.to_string());
                    got.insert(k, v);
                }
            }
            rows_checked += 1;
        }
        assert_eq!(got, want, "{trace}: ours vs tshark");
    }
    assert!(rows_checked >= 3);
}

/// A ledger that cannot be written (a full disk) fails the run with the file named.
#[cfg(target_os = "linux")]
#[test]
fn a_ledger_on_a_full_disk_fails_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("flows.csv");
    std::os::unix::fs::symlink("/dev/full", &out).unwrap();
    let o = bin()
        .args(["flows", "-q", "--hash", "none", "-o"])
        .arg(&out)
        .arg(testdata("example/capture.pcap"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("writing {}", out.display())) && err.contains("No space left"),
        "{err}"
    );
}
