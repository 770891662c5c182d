//! `exfilmeter calibrate` on the scenarios' recovered files against truth.json.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::Command;

#[test]
fn record_counts_and_size_range_match_truth() {
    for d in exfilmeter_testkit::scenarios() {
        let dir = d.display();
        let truth: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("truth.json")).unwrap()).unwrap();
        let files: Vec<String> = truth["records"]["recovered_files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| d.join(f["file"].as_str().unwrap()).display().to_string())
            .collect();
        let out = Command::new(env!("CARGO_BIN_EXE_exfilmeter"))
            .args([
                "calibrate",
                "--json",
                "--record-format",
                "csv",
                "--key",
                "1",
                "--recovered",
            ])
            .args(&files)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for (i, f) in truth["records"]["recovered_files"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            assert_eq!(
                v["files"][i]["records"], f["records"],
                "{dir}: {}",
                f["file"]
            );
            assert_eq!(v["files"][i]["missing_keys"], 0);
        }
        let lb = &truth["records"]["record_line_bytes"];
        let (min, max) = (
            v["record_bytes"]["min"].as_u64().unwrap(),
            v["record_bytes"]["max"].as_u64().unwrap(),
        );
        assert!(
            min >= lb["min"].as_u64().unwrap() && max <= lb["max"].as_u64().unwrap(),
            "{dir}: {min}..{max}"
        );
        let mean = v["record_bytes"]["mean"].as_f64().unwrap();
        assert!(
            (mean - lb["mean"].as_f64().unwrap()).abs() / lb["mean"].as_f64().unwrap() < 0.05,
            "{dir}: mean {mean}"
        );
        let (rmin, rmax) = (v["r_min"].as_f64().unwrap(), v["r_max"].as_f64().unwrap());
        assert!(1.0 < rmin && rmin <= rmax, "{dir}: r {rmin}..{rmax}");
    }
}

#[test]
fn empty_recovered_file_and_bad_format_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let e = dir.path().join("empty.csv");
    std::fs::write(&e, "").unwrap();
    let bin = env!("CARGO_BIN_EXE_exfilmeter");
    let o = Command::new(bin)
        .args(["calibrate", "--recovered"])
        .arg(&e)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no records"));
    let o = Command::new(bin)
        .args(["calibrate", "--record-format", "xml", "--recovered"])
        .arg(&e)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

/// Member-like records, `n` lines.
fn member_lines(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "{:09},2014-0{}-{:02},Name{} Family{},Tokyo {}-{},03-{:04}-{:04}\n",
                100_000_000 + i,
                1 + i % 9,
                1 + i * 7 % 28,
                i * 31 % 997,
                i * 17 % 1_009,
                i % 9,
                i % 13,
                i * 13 % 10_000,
                i * 29 % 10_000
            )
        })
        .collect()
}

fn calibrate_json(args: &[&str]) -> (serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_exfilmeter"))
        .arg("calibrate")
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "{err}");
    (serde_json::from_slice(&out.stdout).unwrap(), err)
}

#[test]
fn a_rerun_reads_the_ratios_from_the_cache_and_a_changed_file_is_measured_anew() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("stage.txt");
    std::fs::write(&f, member_lines(3_000)).unwrap();
    let cache = dir.path().join("cache");
    let (f, c) = (f.to_str().unwrap(), cache.to_str().unwrap());
    let base = ["--recovered", f, "--header", "no", "--cache-dir", c];
    let (cold, _) = calibrate_json(&base);
    assert_eq!(cold["compression_source"]["cached"], false);
    let entry = cold["compression_source"]["cache_entry"].as_str().unwrap();
    assert!(std::path::Path::new(entry).starts_with(&cache), "{entry}");
    let (warm, _) = calibrate_json(&[&base[..], &["--threads", "1"]].concat());
    assert_eq!(warm["compression_source"]["cached"], true);
    assert_eq!(warm["compression"], cold["compression"]);
    assert_eq!(
        warm["compression_source"]["entry_sha256"],
        cold["compression_source"]["entry_sha256"]
    );
    assert_eq!(cold["compression"].as_array().unwrap().len(), 14);
    // --no-cache: measured, the same, nothing read or written.
    let (fresh, _) = calibrate_json(&["--recovered", f, "--header", "no", "--no-cache"]);
    assert_eq!(fresh["compression_source"]["cached"], false);
    assert!(fresh["compression_source"]["cache_entry"].is_null());
    assert_eq!(fresh["compression"], cold["compression"]);
    // One more record: another key, measured anew.
    std::fs::write(f, member_lines(3_001)).unwrap();
    let (changed, _) = calibrate_json(&base);
    assert_eq!(changed["compression_source"]["cached"], false);
    assert_ne!(
        changed["compression_source"]["cache_key"],
        cold["compression_source"]["cache_key"]
    );
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 2);
    // A damaged entry: a warning, measured anew, the same ratios.
    std::fs::write(entry, "{").unwrap();
    std::fs::write(f, member_lines(3_000)).unwrap();
    let (again, err) = calibrate_json(&base);
    assert!(err.contains("cache entry"), "{err}");
    assert_eq!(again["compression"], cold["compression"]);
}

#[test]
fn the_xz_6_ratio_is_the_xz_tool_s_and_gzip_is_deflate_with_its_framing() {
    if !exfilmeter_testkit::tool("xz", "--version") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("stage.txt");
    let body = member_lines(2_000);
    std::fs::write(&f, &body).unwrap();
    let (v, _) = calibrate_json(&[
        "--recovered",
        f.to_str().unwrap(),
        "--header",
        "no",
        "--no-cache",
    ]);
    let xz = Command::new("xz")
        .args(["-6", "-c", "--check=crc64", "--threads=1"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(xz.status.success());
    let by = |codec: &str| {
        v["compression"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["codec"] == codec)
            .unwrap()
            .clone()
    };
    let ours = by("xz-6");
    assert_eq!(ours["blocks"], 0, "all records compressed");
    assert_eq!(ours["measured_bytes"].as_u64().unwrap(), body.len() as u64);
    assert_eq!(
        ours["compressed"].as_u64().unwrap(),
        xz.stdout.len() as u64,
        "xz -6 wrote {} bytes",
        xz.stdout.len()
    );
    assert_eq!(
        by("gzip-6")["compressed"].as_u64().unwrap(),
        by("deflate-6")["compressed"].as_u64().unwrap() + 18
    );
}
