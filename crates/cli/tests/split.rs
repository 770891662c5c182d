//! `split` against tshark: the bucket files are pcapng that tshark reads, every frame in them
//! is the original frame (same bytes as tshark decodes them, same time and length, named by
//! its comment), each connection lands in exactly one bucket, every frame that became a
//! packet is in exactly one bucket, and `split.json` has the file's SHA-256 (sha256sum) and
//! its damage with the byte offset.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{bin, scenario, shared, testdata, tool, walk};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// tshark's view of each frame of `file`: frame number → (comment, time, length, the
/// addresses and ports as tshark decodes them).
fn tshark_frames(file: &Path) -> BTreeMap<u64, (String, String, String, String)> {
    let o = std::process::Command::new("tshark")
        .args(["-n", "-r"])
        .arg(file)
        .args(["-T", "fields", "-E", "separator=|"])
        .args([
            "-e",
            "frame.number",
            "-e",
            "frame.comment",
            "-e",
            "frame.time_epoch",
        ])
        .args([
            "-e",
            "frame.len",
            "-e",
            "ip.src",
            "-e",
            "ip.dst",
            "-e",
            "ipv6.src",
        ])
        .args(["-e", "ipv6.dst", "-e", "tcp.srcport", "-e", "tcp.dstport"])
        .args(["-e", "udp.srcport", "-e", "udp.dstport"])
        .output()
        .unwrap();
    assert!(o.status.success(), "tshark on {}: {:?}", file.display(), o);
    let mut out = BTreeMap::new();
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let f: Vec<&str> = line.split('|').collect();
        assert_eq!(f.len(), 12, "{line}");
        let ends = f[4..].join("|");
        out.insert(
            f[0].parse().unwrap(),
            (f[1].to_string(), f[2].to_string(), f[3].to_string(), ends),
        );
    }
    out
}

/// The conversation of a frame as tshark decodes it: its addresses and ports, sorted so that
/// both directions give the same.
fn conversation(ends: &str) -> String {
    let f: Vec<&str> = ends.split('|').collect();
    let ip = |a: &str, b: &str| {
        if a.is_empty() {
            b.to_string()
        } else {
            a.to_string()
        }
    };
    let port = |a: &str, b: &str| {
        if a.is_empty() {
            b.to_string()
        } else {
            a.to_string()
        }
    };
    let mut two = [
        format!("{}:{}", ip(f[0], f[2]), port(f[4], f[6])),
        format!("{}:{}", ip(f[1], f[3]), port(f[5], f[7])),
    ];
    two.sort();
    two.join(" ")
}

/// Field `key` of a `split` frame comment.
fn field<'a>(comment: &'a str, key: &str) -> &'a str {
    comment
        .split(' ')
        .find_map(|p| p.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {key} in {comment:?}"))
}

fn split(inputs: &[PathBuf], buckets: usize, out: &Path) -> std::process::Output {
    bin()
        .args(["split", "-q", "--buckets", &buckets.to_string(), "--out"])
        .arg(out)
        .args(inputs)
        .output()
        .unwrap()
}

fn json(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("split.json")).unwrap()).unwrap()
}

/// Checks the split of `inputs` into `buckets` buckets against tshark on the inputs.
fn check(label: &str, inputs: &[PathBuf], buckets: usize) {
    let dir = tempfile::tempdir().unwrap();
    let o = split(inputs, buckets, dir.path());
    assert_eq!(o.status.code(), Some(0), "{label}: {o:?}");
    for (i, input) in inputs.iter().enumerate() {
        let original = tshark_frames(input);
        let sd = dir.path().join(format!("file={i:06}"));
        let meta = json(&sd);
        assert_eq!(meta["index"], i as u64);
        assert_eq!(meta["buckets"], buckets as u64);
        // Each frame that became a packet: in exactly one bucket, unchanged.
        let mut seen: BTreeMap<u64, usize> = BTreeMap::new();
        let mut conv_bucket: BTreeMap<String, usize> = BTreeMap::new();
        let mut packets = BTreeSet::new();
        let mut done: BTreeMap<u64, BTreeSet<usize>> = BTreeMap::new();
        for b in 0..buckets {
            let file = sd.join(format!("bucket={b:05}.pcapng"));
            let frames = tshark_frames(&file);
            assert_eq!(
                frames.len() as u64,
                meta["written"][b]["frames"].as_u64().unwrap(),
                "{label}: bucket {b}"
            );
            for (comment, time, len, ends) in frames.values() {
                assert_eq!(field(comment, "file"), i.to_string(), "{label}: {comment}");
                let n: u64 = field(comment, "frame").parse().unwrap();
                let (_, t0, l0, e0) = original
                    .get(&n)
                    .unwrap_or_else(|| panic!("{label}: frame {n} not in the input"));
                assert_eq!((time, len, ends), (t0, l0, e0), "{label}: frame {n}");
                if field(comment, "packet") == "held" {
                    continue;
                }
                if field(comment, "packet") == "done" {
                    done.entry(n).or_default().insert(b);
                    continue;
                }
                assert!(packets.insert(field(comment, "packet").to_string()));
                assert!(seen.insert(n, b).is_none(), "{label}: frame {n} twice");
                let c = conversation(ends);
                let first = *conv_bucket.entry(c.clone()).or_insert(b);
                assert_eq!(first, b, "{label}: {c} in buckets {first} and {b}");
            }
        }
        // A frame that completed a datagram of held fragments is the packet in its own
        // bucket and a `done` frame in every other one.
        assert_eq!(
            done.len() as u64,
            meta["completed"].as_u64().unwrap(),
            "{label}"
        );
        for (n, bs) in &done {
            let own = seen.get(n).copied();
            let others: BTreeSet<usize> = (0..buckets).filter(|&b| Some(b) != own).collect();
            assert_eq!(
                bs, &others,
                "{label}: frame {n} done in the buckets but its own"
            );
        }
        let k = meta["packets"].as_u64().unwrap();
        assert_eq!(seen.len() as u64, k, "{label}");
        assert!(k > 0 && buckets <= 1 || conv_bucket.len() > 1, "{label}");
        // The ordinals run 1..=packets.
        let ordinals: BTreeSet<u64> = packets.iter().map(|p| p.parse().unwrap()).collect();
        assert_eq!(ordinals, (1..=k).collect::<BTreeSet<u64>>(), "{label}");
        // Every frame of the input that tshark sees as TCP or UDP is in a bucket.
        for (n, (_, _, _, ends)) in &original {
            let f: Vec<&str> = ends.split('|').collect();
            if !(f[4].is_empty() && f[6].is_empty()) {
                assert!(
                    seen.contains_key(n),
                    "{label}: frame {n} ({ends}) in no bucket"
                );
            }
        }
        // The DNS file has every port-53 packet.
        let dns = tshark_frames(&sd.join("dns.pcapng"))
            .into_values()
            .filter(|(c, ..)| !matches!(field(c, "packet"), "held" | "done"))
            .count();
        let port53 = original
            .values()
            .filter(|(_, _, _, e)| e.split('|').skip(4).any(|p| p == "53"))
            .count();
        assert_eq!(dns, port53, "{label}: dns.pcapng");
    }
}

#[test]
fn buckets_hold_each_connection_once_as_tshark_reads_them() {
    if !tool("tshark", "-v") {
        return;
    }
    check("example", &[testdata("example.pcap")], 3);
    let Some(_) = shared("scenarios") else {
        return;
    };
    for (name, buckets) in [
        ("small-s1", 2),
        ("small-s2-pcapng-sll", 3),
        ("jal-lite-s3", 7),
    ] {
        let dir = scenario(name).unwrap();
        let mut caps: Vec<PathBuf> = std::fs::read_dir(dir.join("captures"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        caps.sort();
        check(name, &caps, buckets);
    }
}

#[test]
fn split_json_records_the_digest_and_the_damage() {
    let Some(damaged) = shared("damaged") else {
        return;
    };
    if !tool("sha256sum", "--version") || !tool("tshark", "-v") {
        return;
    }
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(damaged.join("EXPECTED.json")).unwrap()).unwrap();
    let file = damaged.join("garbage-middle.pcap");
    let dir = tempfile::tempdir().unwrap();
    let o = split(std::slice::from_ref(&file), 2, dir.path());
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    let offset = expected["garbage-middle.pcap"]["damage_offset"]
        .as_u64()
        .unwrap();
    assert!(err.contains(&format!("offset {offset}")), "{err}");
    let meta = json(&dir.path().join("file=000000"));
    let summary = &meta["summary"];
    assert_eq!(summary["errors"][0]["offset"], offset);
    let sum = std::process::Command::new("sha256sum")
        .arg(&file)
        .output()
        .unwrap();
    let hex = String::from_utf8_lossy(&sum.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert_eq!(summary["sha256"], hex.as_str());
    // The frames before the damage are all in the buckets.
    let before = expected["garbage-middle.pcap"]["packets_before_damage"]
        .as_u64()
        .unwrap();
    let mut frames = BTreeSet::new();
    for b in 0..2 {
        let f = dir.path().join(format!("file=000000/bucket={b:05}.pcapng"));
        for (comment, ..) in tshark_frames(&f).values() {
            frames.insert(field(comment, "frame").parse::<u64>().unwrap());
        }
    }
    let decoded = meta["packets"].as_u64().unwrap();
    assert!(decoded >= before, "{decoded} < {before}");
    assert!(
        (1..=before).all(|n| frames.contains(&n)),
        "frames before the damage missing"
    );
    // Inputs that cannot be opened are named, and the others split.
    let o = bin()
        .args(["split", "-q", "--buckets", "2", "--out"])
        .arg(dir.path().join("two"))
        .arg(testdata("example.pcap"))
        .arg(dir.path().join("missing.pcap"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing.pcap"));
    let missing = json(&dir.path().join("two/file=000001"));
    assert_eq!(missing["opened"], false);
    assert!(json(&dir.path().join("two/file=000000"))["packets"].as_u64() > Some(0));
}

#[test]
fn bucket_counts_are_refused_outside_their_range() {
    for n in ["0", "4097"] {
        let o = bin()
            .args(["split", "--buckets", n, "--out", "/nonexistent/x"])
            .arg(testdata("example.pcap"))
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&o.stderr).contains("--buckets"));
    }
}

/// `--list` gives the run's captures as CAPTURES expand (a folder walked in sorted order);
/// `--only I` of a folder run splits that file alone under the run's index, leaves the
/// folder's non-captures out without counting them against the run, and refuses an index
/// the run does not have.
#[test]
fn list_and_only_plan_one_task_per_file_with_the_run_s_indices() {
    let dir = tempfile::tempdir().unwrap();
    let folder = testdata("example");
    let o = bin()
        .args(["split", "--list"])
        .arg(&folder)
        .output()
        .unwrap();
    assert!(o.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut walked = walk(&folder);
    walked.sort();
    assert_eq!(lines.len(), walked.len());
    for (i, (l, p)) in lines.iter().zip(&walked).enumerate() {
        assert_eq!(l["index"], i);
        assert_eq!(l["path"], p.display().to_string());
        assert_eq!(l["in_folder"], true);
    }
    let pcap = lines
        .iter()
        .find(|l| l["name"] == "capture.pcap")
        .expect("the capture is listed");
    let index = pcap["index"].as_u64().unwrap();
    let split_only = |index: &str, out: &Path| {
        bin()
            .args(["split", "-q", "-b", "2", "--only", index, "-o"])
            .arg(out)
            .arg(&folder)
            .output()
            .unwrap()
    };
    for other in lines.iter().filter(|l| l["name"] != "capture.pcap") {
        let out = dir.path().join(format!("o{}", other["index"]));
        let o = split_only(&other["index"].to_string(), &out);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let out = dir.path().join("one");
    let o = split_only(&index.to_string(), &out);
    assert_eq!(o.status.code(), Some(0));
    let written: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(written, [format!("file={index:06}")]);
    let sj: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join(&written[0]).join("split.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(sj["index"], index);
    assert_eq!(sj["name"], "capture.pcap");
    assert!(sj["packets"].as_u64().unwrap() > 500);
    let o = split_only(&lines.len().to_string(), &dir.path().join("none"));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--only"));
}
