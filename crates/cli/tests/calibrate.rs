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
