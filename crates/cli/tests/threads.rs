//! The same inputs give the same outputs, byte for byte, whatever the number of flow-stage
//! threads: `--threads 1` (one thread) against 2, 3 and 8 shards, for `analyze` on the
//! bundled example and on every scenario, and for `flows` with and without indicators.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::merged::same_folder;
use common::{bin, recovered_of, scenario, testdata};
use std::path::{Path, PathBuf};

const THREADS: [&str; 4] = ["1", "2", "3", "8"];

fn run_ok(args: &[&std::ffi::OsStr]) {
    let o = bin().args(args).output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Runs `analyze` with `args` once per thread count and compares every output file.
fn analyze_same_for_any_threads(label: &str, args: &[std::ffi::OsString]) {
    let dir = tempfile::tempdir().unwrap();
    let mut first: Option<PathBuf> = None;
    for t in THREADS {
        let out = dir.path().join(format!("t{t}"));
        let mut a: Vec<&std::ffi::OsStr> = vec!["analyze".as_ref(), "-q".as_ref()];
        a.extend(args.iter().map(|s| s.as_os_str()));
        a.extend([
            "--reproducible".as_ref(),
            "--threads".as_ref(),
            t.as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
        ]);
        run_ok(&a);
        assert!(out.join("daily.csv").is_file(), "{label}: no daily.csv");
        match &first {
            None => first = Some(out),
            Some(one) => same_folder(one, &out),
        }
    }
}

#[test]
fn analyze_of_the_example_is_byte_identical_for_1_2_3_and_8_threads() {
    let case = testdata("example/case.toml");
    analyze_same_for_any_threads("example", &["--case".into(), case.into_os_string()]);
}

#[test]
fn analyze_of_every_scenario_is_byte_identical_for_1_2_3_and_8_threads() {
    for name in ["small-s1", "small-s2-pcapng-sll", "jal-lite-s3"] {
        let Some(d) = scenario(name) else {
            return;
        };
        let mut args: Vec<std::ffi::OsString> = [
            "--tz",
            "Asia/Tokyo",
            "--record-format",
            "csv",
            "--key",
            "1",
            "--header",
            "no",
            "--iocs",
        ]
        .iter()
        .map(Into::into)
        .collect();
        args.push(d.join("iocs.txt").into());
        args.push(d.join("captures").into());
        args.push("--recovered".into());
        args.extend(recovered_of(&d).into_iter().map(PathBuf::into_os_string));
        analyze_same_for_any_threads(name, &args);
        // The sweep searches every flow's content: the same, too.
        args.push("--sweep".into());
        analyze_same_for_any_threads(&format!("{name} --sweep"), &args);
    }
}

#[test]
fn flows_are_byte_identical_for_1_2_3_and_8_threads_with_and_without_indicators() {
    for name in ["small-s1", "jal-lite-s3"] {
        let Some(d) = scenario(name) else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        for iocs in [false, true] {
            let mut first: Option<Vec<u8>> = None;
            for t in THREADS {
                let out = dir.path().join(format!("{iocs}-{t}.csv"));
                let caps = d.join("captures");
                let list = d.join("iocs.txt");
                let mut a: Vec<&std::ffi::OsStr> = vec![
                    "flows".as_ref(),
                    "-q".as_ref(),
                    "--threads".as_ref(),
                    t.as_ref(),
                    caps.as_os_str(),
                    "-o".as_ref(),
                    out.as_os_str(),
                ];
                if iocs {
                    a.extend(["--iocs".as_ref(), list.as_os_str()]);
                }
                run_ok(&a);
                let got = std::fs::read(&out).unwrap();
                assert!(got.len() > 1000, "{name}: {} bytes", got.len());
                match &first {
                    None => first = Some(got),
                    Some(one) => assert!(
                        *one == got,
                        "{name} (indicators: {iocs}): flows differ between --threads 1 and {t}"
                    ),
                }
            }
        }
    }
}

#[test]
fn threads_zero_is_refused() {
    let o = bin()
        .args(["flows", "-q", "--threads", "0"])
        .arg(testdata("example/capture.pcap"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--threads must be at least 1"));
}

/// `sha256sum`'s digest of `p`.
fn sha256sum(p: &Path) -> String {
    let o = std::process::Command::new("sha256sum")
        .arg(p)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn files_of_a_set_hashed_ahead_of_the_reading_have_sha256sums_digests() {
    if !common::tool("sha256sum", "--version") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path().join("caps");
    std::fs::create_dir(&caps).unwrap();
    // Three files (one gzip-compressed: its digest is of the stored bytes), more than one
    // per core on a small machine, so some are hashed while others are read.
    std::fs::copy(testdata("example/capture.pcap"), caps.join("a.pcap")).unwrap();
    std::fs::copy(testdata("example-2.pcap.gz"), caps.join("b.pcap.gz")).unwrap();
    std::fs::copy(testdata("example/capture.pcap"), caps.join("c.pcap")).unwrap();
    for t in ["1", "2"] {
        let out = dir.path().join(format!("out{t}"));
        run_ok(&[
            "analyze".as_ref(),
            "-q".as_ref(),
            "--threads".as_ref(),
            t.as_ref(),
            "--iocs".as_ref(),
            testdata("example/iocs.txt").as_os_str(),
            caps.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
        ]);
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap())
                .unwrap();
        let listed = m["captures"].as_array().unwrap();
        assert_eq!(listed.len(), 3);
        for c in listed {
            let path = PathBuf::from(c["path"].as_str().unwrap());
            assert_eq!(
                c["sha256"].as_str().unwrap(),
                sha256sum(&path),
                "{}",
                path.display()
            );
            assert_eq!(
                c["size"].as_u64().unwrap(),
                std::fs::metadata(&path).unwrap().len()
            );
        }
    }
}

#[test]
fn analyze_attributing_by_a_tunnel_end_is_byte_identical_for_any_threads() {
    let Some(traces) = common::shared("peer-suites/zeek/traces/tunnels") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Outer ends of GRE within GRE, a Teredo server and a VXLAN endpoint: the inner flows
    // (keyed by inner addresses) go to every shard; their verdicts must not depend on it.
    let iocs = dir.path().join("iocs.txt");
    std::fs::write(&iocs, common::TUNNEL_ENDS).unwrap();
    let mut args: Vec<std::ffi::OsString> = vec!["--iocs".into(), iocs.into_os_string()];
    for t in [
        "gre-within-gre.pcap",
        "Teredo.pcap",
        "vxlan-encapsulated-http.pcap",
    ] {
        args.push(traces.join(t).into_os_string());
    }
    analyze_same_for_any_threads("tunnels", &args);
    let out = dir.path().join("one");
    let mut a: Vec<&std::ffi::OsStr> = vec!["analyze".as_ref(), "-q".as_ref()];
    a.extend(args.iter().map(|s| s.as_os_str()));
    a.extend(["--out".as_ref(), out.as_os_str()]);
    run_ok(&a);
    let rows = common::csv(&out.join("ioc_flows.csv"));
    let hosts: std::collections::BTreeSet<&str> = rows
        .iter()
        .filter(|r| r["via"] == "tunnel")
        .map(|r| r["host"].as_str())
        .collect();
    assert_eq!(
        hosts.into_iter().collect::<Vec<_>>(),
        [
            "10.1.1.172",
            "65.55.158.80",
            "83.170.1.38",
            "86.106.164.150"
        ],
        "every tunnel end names its host"
    );
}
