//! End-to-end tests of `exfilmeter inspect`: the real binary in a temp dir.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;
use common::{bin, shared, skip, testdata, walk};

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "bad JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn sha256_hex(p: &Path) -> String {
    let out = Command::new("sha256sum").arg(p).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn bundled_example_reads_cleanly_with_the_documented_json_schema() {
    let dir = testdata("");
    let out = run(&[
        "inspect",
        "--json",
        "--tz",
        "Asia/Tokyo",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    let files = v["files"].as_array().unwrap();
    assert_eq!(
        files.len(),
        3,
        "example.pcap, example-2.pcap.gz and example/capture.pcap"
    );
    for key in [
        "path",
        "format",
        "sha256",
        "size",
        "packets",
        "orig_bytes",
        "captured_bytes",
        "first_ts",
        "last_ts",
        "link_types",
        "truncated",
        "skipped",
        "errors",
    ] {
        assert!(files[0].get(key).is_some(), "missing key {key}");
        assert!(
            v["total"].get(key).is_some()
                || key == "path"
                || key == "format"
                || key == "sha256"
                || key == "errors",
            "total lacks {key}"
        );
    }
    let gz = files
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with(".gz"))
        .unwrap();
    assert_eq!(gz["compression"], "gzip");
    assert_eq!(
        gz["sha256"].as_str().unwrap(),
        sha256_hex(&testdata("example-2.pcap.gz"))
    );
    let total_packets: u64 = files.iter().map(|f| f["packets"].as_u64().unwrap()).sum();
    assert_eq!(v["total"]["packets"].as_u64().unwrap(), total_packets);
    assert!(files[0]["first_local"]
        .as_str()
        .unwrap()
        .ends_with("+09:00"));
    // Every file of testdata/ that is no capture (README, IOC list, truth, case, periods,
    // the recovered CSV) is listed as ignored, and only those.
    let ignored: Vec<String> = v["ignored"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap().to_string())
        .collect();
    let not_captures: Vec<PathBuf> = walk(&testdata(""))
        .into_iter()
        .filter(|p| {
            let n = p.to_string_lossy();
            !(n.ends_with(".pcap") || n.ends_with(".pcapng") || n.ends_with(".gz"))
        })
        .collect();
    assert_eq!(ignored.len(), not_captures.len(), "{ignored:?}");
    for p in &not_captures {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            ignored.iter().any(|i| i.ends_with(&name)),
            "{name} not ignored"
        );
    }
}

#[test]
fn packet_count_matches_capinfos_when_available() {
    let p = testdata("example.pcap");
    let Ok(ci) = Command::new("capinfos")
        .args(["-c", "-M", "-T"])
        .arg(&p)
        .output()
    else {
        skip("capinfos not installed");
        return;
    };
    let text = String::from_utf8_lossy(&ci.stdout);
    let count: u64 = text
        .lines()
        .nth(1)
        .unwrap()
        .split('\t')
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let v = json(&run(&["inspect", "--json", p.to_str().unwrap()]));
    assert_eq!(v["files"][0]["packets"].as_u64().unwrap(), count);
}

#[test]
fn damaged_input_exits_1_names_file_and_offset_and_other_files_still_count() {
    let Some(d) = shared("damaged") else { return };
    let cut = d.join("cut-mid-packet.pcap");
    let good = testdata("example.pcap");
    let out = run(&[
        "inspect",
        "--json",
        cut.to_str().unwrap(),
        good.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cut-mid-packet.pcap: at byte offset 1417685"),
        "stderr: {stderr}"
    );
    let v = json(&out);
    assert_eq!(v["files"][0]["packets"], 1707);
    assert_eq!(v["files"][0]["errors"][0]["offset"], 1417685);
    assert!(v["files"][1]["packets"].as_u64().unwrap() > 0);
    assert_eq!(v["total"]["files_with_errors"], 1);
}

#[test]
fn not_a_capture_named_explicitly_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("notes.pcap");
    std::fs::write(&p, "this is not a capture\n").unwrap();
    let out = run(&["inspect", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("notes.pcap: at byte offset 0: not a pcap or pcapng"),
        "{stderr}"
    );
}

#[test]
fn missing_file_is_reported_and_exit_is_partial() {
    let out = run(&["inspect", "/nonexistent/x.pcap"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/x.pcap"));
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run(&["inspect"]).status.code(), Some(2));
    assert_eq!(
        run(&["inspect", "--tz", "Nowhere/Land", "x"]).status.code(),
        Some(2)
    );
    let glob = format!("{}/*.nomatch", testdata("").display());
    assert_eq!(run(&["inspect", &glob]).status.code(), Some(2));
}

#[test]
fn stdin_and_zstd_and_glob_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let src = std::fs::read(testdata("example.pcap")).unwrap();
    let z = dir.path().join("capture.bin");
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "zstd -q -c {} > {}",
            testdata("example.pcap").display(),
            z.display()
        ))
        .status();
    let direct = json(&run(&[
        "inspect",
        "--json",
        testdata("example.pcap").to_str().unwrap(),
    ]));
    let packets = direct["files"][0]["packets"].as_u64().unwrap();
    if status.is_ok_and(|s| s.success()) {
        let v = json(&run(&["inspect", "--json", z.to_str().unwrap()]));
        assert_eq!(v["files"][0]["compression"], "zstd");
        assert_eq!(v["files"][0]["packets"].as_u64().unwrap(), packets);
    } else {
        skip("zstd not installed (the zstd part of this test)");
    }
    // stdin
    let mut child = bin()
        .args(["inspect", "--json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&src).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let v = json(&out);
    assert_eq!(v["files"][0]["packets"].as_u64().unwrap(), packets);
    assert_eq!(
        v["files"][0]["sha256"].as_str().unwrap(),
        sha256_hex(&testdata("example.pcap"))
    );
    // glob
    let glob = format!("{}/example*", testdata("").display());
    let v = json(&run(&["inspect", "--json", &glob]));
    assert_eq!(v["files"].as_array().unwrap().len(), 2);
}

#[test]
fn hash_none_skips_the_digest() {
    let v = json(&run(&[
        "inspect",
        "--json",
        "--hash",
        "none",
        testdata("example.pcap").to_str().unwrap(),
    ]));
    assert!(v["files"][0]["sha256"].is_null());
    assert!(v["files"][0]["size"].as_u64().unwrap() > 0);
}

#[test]
fn text_output_shows_local_time_and_totals() {
    let out = run(&[
        "inspect",
        "--tz",
        "Asia/Tokyo",
        testdata("example.pcap").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("Asia/Tokyo 2014-09-19T09:00:00"), "{s}");
    assert!(s.contains("TOTAL (1 files, 0 with errors)"), "{s}");
}

/// Nanoseconds since the epoch from tshark's `frame.time_epoch` ("1506883716.995391962").
fn epoch_ns(s: &str) -> i128 {
    let (a, b) = s.split_once('.').unwrap_or((s, "0"));
    let frac = format!("{b:0<9}");
    a.parse::<i128>().unwrap() * 1_000_000_000 + frac[..9].parse::<i128>().unwrap()
}

fn rfc3339(ns: i128) -> String {
    let secs = ns.div_euclid(1_000_000_000) as i64;
    let frac = ns.rem_euclid(1_000_000_000) as u32;
    chrono::DateTime::from_timestamp(secs, frac)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

#[test]
fn since_until_summarise_exactly_the_frames_tshark_times_put_inside() {
    let Some(p) = shared("realpcaps/pcapparser_wireshark_samples-test.pcapng") else {
        return;
    };
    if !common::tool("tshark", "-v") {
        return;
    }
    let out = Command::new("tshark")
        .arg("-r")
        .arg(&p)
        .args(["-T", "fields", "-e", "frame.time_epoch", "-e", "frame.len"])
        .output()
        .unwrap();
    let frames: Vec<(i128, u64)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let (t, n) = l.split_once('\t').unwrap();
            (epoch_ns(t), n.parse().unwrap())
        })
        .collect();
    assert!(frames.len() > 4000, "{} frames", frames.len());
    // Edges exactly on frame times: `since` is inclusive, `until` exclusive.
    let (lo, hi) = (frames[999].0, frames[3999].0);
    let inside: Vec<_> = frames.iter().filter(|f| f.0 >= lo && f.0 < hi).collect();
    let before = frames.iter().filter(|f| f.0 < lo).count() as u64;
    let after = frames.iter().filter(|f| f.0 >= hi).count() as u64;
    let path = p.to_str().unwrap();
    let (since, until) = (rfc3339(lo), rfc3339(hi));
    let o = run(&[
        "inspect", "--json", "--since", &since, "--until", &until, path,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v = json(&o);
    let f = &v["files"][0];
    assert_eq!(f["packets"].as_u64().unwrap(), inside.len() as u64);
    assert_eq!(
        f["orig_bytes"].as_u64().unwrap(),
        inside.iter().map(|f| f.1).sum::<u64>()
    );
    assert_eq!(f["first_ts"].as_str().unwrap(), since);
    let last = inside.iter().map(|f| f.0).max().unwrap();
    assert_eq!(f["last_ts"].as_str().unwrap(), rfc3339(last));
    assert_eq!(f["window"]["frames_before"].as_u64().unwrap(), before);
    assert_eq!(f["window"]["frames_after"].as_u64().unwrap(), after);
    assert_eq!(
        v["total"]["window"]["frames_before"].as_u64().unwrap(),
        before
    );
    // The digest stays the whole file's.
    assert_eq!(f["sha256"].as_str().unwrap(), sha256_hex(&p));

    // Local forms are read in --tz: 04:00 in Tokyo is 19:00 UTC the day before.
    let edge = epoch_ns("1506884400");
    let o = run(&[
        "inspect",
        "--json",
        "--tz",
        "Asia/Tokyo",
        "--until",
        "2017-10-02 04:00",
        path,
    ]);
    let v = json(&o);
    let want = frames.iter().filter(|f| f.0 < edge).count() as u64;
    assert!(want > 0 && want < frames.len() as u64);
    assert_eq!(v["files"][0]["packets"].as_u64().unwrap(), want);
    assert_eq!(
        v["files"][0]["window"]["frames_after"].as_u64().unwrap(),
        frames.len() as u64 - want
    );
    // The text output states the window; an empty window is a usage error.
    let o = run(&["inspect", "--since", &since, "--until", &until, path]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains(&format!("{before} frames before and {after} at or after")),
        "{text}"
    );
    let o = run(&["inspect", "--since", &until, "--until", &since, path]);
    assert_eq!(o.status.code(), Some(2));
}
