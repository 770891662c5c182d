//! End-to-end tests of `exfilmeter analyze`: the real binary on the bundled example and
//! on `../shared/scenarios`, against the generators' truth; determinism; bad input.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;
use common::{bin, csv, scenario, testdata};

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

/// The record settings of the example and of the scenarios (their recovered files are CSV
/// keyed by the member number in column 1, without header, in Tokyo time).
const EXAMPLE_RECORDS: [&str; 8] = [
    "--record-format",
    "csv",
    "--key",
    "1",
    "--header",
    "no",
    "--tz",
    "Asia/Tokyo",
];

fn n(r: &BTreeMap<String, String>, k: &str) -> u64 {
    r[k].parse().unwrap_or_else(|_| panic!("{k}={:?}", r[k]))
}

fn run(args: &[&str], extra: &[&Path]) -> Output {
    bin().args(args).args(extra).output().unwrap()
}

fn example(out: &Path, extra: &[&str]) -> Output {
    let o = bin()
        .arg("analyze")
        .arg("-q")
        .arg("--case")
        .arg(testdata("example/case.toml"))
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

#[test]
fn example_matches_the_generator_truth_and_writes_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    example(&out, &[]);
    for f in [
        "daily.csv",
        "daily.parquet",
        "periods.csv",
        "flows.parquet",
        "case.toml",
        "confirmed_records.csv",
        "ioc_flows.csv",
        "report.html",
        "report.md",
        "manifest.json",
        "charts/bytes_per_day.svg",
        "charts/records_per_day.svg",
        "charts/timeline.svg",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let daily = csv(&out.join("daily.csv"));
    let head = std::fs::read_to_string(out.join("daily.csv")).unwrap();
    assert!(head.starts_with(
        "day,indicator,server_name,server_ips,flows,frames,frame_bytes,ip_bytes,payload_bytes,\
         stream_bytes,retrans_bytes,gap_bytes,app_bytes,control_bytes,basis_bytes,records_low,\
         records_point,records_high,codec,r_min,r_max,mean_record_bytes,"
    ));
    let truth = csv(&testdata("example/truth.csv"));
    for t in &truth {
        let row = daily
            .iter()
            .find(|r| r["day"] == t["day"] && r["host"] == t["host"])
            .unwrap_or_else(|| panic!("no row for {t:?}"));
        assert_eq!(n(row, "stream_bytes"), n(t, "stream_bytes"), "{t:?}");
        assert_eq!(n(row, "app_bytes"), n(t, "record_bytes"), "{t:?}");
        let records = n(t, "records");
        assert!(
            n(row, "records_low") <= records && records <= n(row, "records_high"),
            "{t:?} {row:?}"
        );
        if row["codec"] == "plain" {
            assert_eq!(n(row, "records_point"), records, "plain is counted exactly");
        }
    }
    // Every host has a row on every day of the capture, zero where nothing was sent.
    let days: std::collections::BTreeSet<&str> = daily.iter().map(|r| r["day"].as_str()).collect();
    let hosts: std::collections::BTreeSet<&str> =
        daily.iter().map(|r| r["host"].as_str()).collect();
    assert_eq!(daily.len(), days.len() * hosts.len());
    assert!(daily
        .iter()
        .any(|r| n(r, "stream_bytes") == 0 && n(r, "records_high") == 0));
    // Periods: each named period sums its days; "(all)" sums the hosts.
    let periods = csv(&out.join("periods.csv"));
    let bulk: Vec<_> = periods
        .iter()
        .filter(|p| p["period"] == "bulk exfiltration")
        .collect();
    let all = bulk.iter().find(|p| p["host"] == "(all)").unwrap();
    let per_host: u64 = bulk
        .iter()
        .filter(|p| p["host"] != "(all)")
        .map(|p| n(p, "records_high"))
        .sum();
    assert_eq!(n(all, "records_high"), per_host);
    let day19: u64 = daily
        .iter()
        .filter(|r| r["day"] == "2014-09-19")
        .map(|r| n(r, "app_bytes"))
        .sum();
    assert_eq!(n(all, "app_bytes"), day19);
    let summary = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(summary.contains("| 2014-09-19 | sync.update-cdn.example.net |"));
    assert!(summary.contains("## 5. Assumptions"));
    // Reconciliation: the plain uploads are confirmed record by record, TLS is opaque.
    let records = csv(&out.join("confirmed_records.csv"));
    let recovered = std::fs::read_to_string(testdata("example/recovered/stage.csv")).unwrap();
    let keys: std::collections::BTreeSet<&str> = recovered
        .lines()
        .filter_map(|l| l.split(',').next())
        .collect();
    for t in &truth {
        let row = daily
            .iter()
            .find(|r| r["day"] == t["day"] && r["host"] == t["host"])
            .unwrap();
        if row["codec"] == "plain" {
            assert_eq!(n(row, "confirmed"), n(t, "records"), "{t:?}");
            assert_eq!(row["status"], "consistent");
            assert_eq!(n(row, "residual"), 0);
        } else {
            assert_eq!(n(row, "confirmed"), 0);
            assert_eq!(row["status"], "opaque");
        }
        let listed = records
            .iter()
            .filter(|r| r["day"] == t["day"] && r["host"] == t["host"])
            .count() as u64;
        assert!(listed <= n(row, "confirmed"));
    }
    for r in &records {
        assert!(keys.contains(r["key"].as_str()), "{r:?}");
        assert_eq!(r["level"], "confirmed");
        assert!(r["first_frame"].starts_with("capture.pcap#"));
        assert!(r["first_seen_local"].ends_with("+09:00"));
    }
    let distinct: std::collections::BTreeSet<&str> =
        records.iter().map(|r| r["key"].as_str()).collect();
    assert_eq!(distinct.len(), records.len(), "one line per record");
    assert!(summary.contains("confirmed by content"));
}

#[test]
fn same_inputs_give_identical_files_across_runs_and_thread_counts() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    let c = dir.path().join("c");
    example(&a, &["--threads", "1", "--reproducible"]);
    example(&b, &["--threads", "2", "--reproducible"]);
    example(&c, &["--reproducible"]);
    for f in [
        "daily.csv",
        "periods.csv",
        "daily.parquet",
        "flows.parquet",
        "case.toml",
        "confirmed_records.csv",
        "ioc_flows.csv",
        "report.html",
        "report.md",
        "manifest.json",
        "charts/bytes_per_day.svg",
        "charts/records_per_day.svg",
        "charts/timeline.svg",
    ] {
        let x = std::fs::read(a.join(f)).unwrap();
        assert_eq!(x, std::fs::read(b.join(f)).unwrap(), "{f}: threads 1 vs 2");
        assert_eq!(x, std::fs::read(c.join(f)).unwrap(), "{f}: rerun");
    }
}

#[test]
fn the_written_case_file_repeats_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    example(&a, &[]);
    let b = dir.path().join("b");
    let o = bin()
        .args(["analyze", "-q", "--case"])
        .arg(a.join("case.toml"))
        .arg("--out")
        .arg(&b)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        std::fs::read(a.join("daily.csv")).unwrap(),
        std::fs::read(b.join("daily.csv")).unwrap()
    );
}

#[test]
fn bad_input_is_a_clear_error_or_a_counted_warning() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let cap = testdata("example/capture.pcap");
    let iocs = testdata("example/iocs.txt");
    let base = |extra: &[&str]| -> Output {
        let mut c = bin();
        c.arg("analyze")
            .arg("-q")
            .arg(&cap)
            .arg("--iocs")
            .arg(&iocs);
        c.arg("--out").arg(&out).args(extra);
        c.output().unwrap()
    };
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "").unwrap();
    let o = base(&["--recovered", empty.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("empty.csv") && err.contains("no records"),
        "{err}"
    );

    let o = base(&["--tz", "Mars/Olympus"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown time zone"));

    let periods = dir.path().join("p.csv");
    std::fs::write(&periods, "name,start,end\nbig,2014-09-19,2014-09-17\n").unwrap();
    let o = base(&["--periods", periods.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("p.csv:2") && err.contains("before it starts"),
        "{err}"
    );

    // Overlapping periods and keys missing in some rows: warnings, the run goes on.
    std::fs::write(
        &periods,
        "name,start,end\na,2014-09-17,2014-09-18\nb,2014-09-18,2014-09-19\n",
    )
    .unwrap();
    let rec = dir.path().join("rec.csv");
    std::fs::write(&rec, "id,name\n1,a\n,b\n3,c\n").unwrap();
    let o = base(&[
        "--periods",
        periods.to_str().unwrap(),
        "--recovered",
        rec.to_str().unwrap(),
        "--record-format",
        "csv",
        "--key",
        "id",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("overlaps"), "{err}");
    assert!(err.contains("1 of 3 records have no key"), "{err}");
    let summary = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(summary.contains("| period warnings | 1 |"), "{summary}");

    let o = run(&["analyze", "--iocs"], &[&iocs]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no capture files"));
}

#[test]
fn scenario_days_equal_truth_bytes_and_contain_the_records_sent() {
    let Some(d) = scenario("small-s1") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let recovered = common::recovered_of(&d);
    let o = bin()
        .args([
            "analyze",
            "-q",
            "--tz",
            "Asia/Tokyo",
            "--record-format",
            "csv",
        ])
        .args(["--key", "1", "--header", "no", "--iocs"])
        .arg(d.join("iocs.txt"))
        .arg("--out")
        .arg(&out)
        .arg(d.join("captures"))
        .arg("--recovered")
        .args(&recovered)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("truth.json")).unwrap()).unwrap();
    let daily = csv(&out.join("daily.csv"));
    let mut checked = 0;
    for (day, dv) in truth["days"].as_object().unwrap() {
        for (host, m) in dv["malicious"].as_object().unwrap() {
            let row = daily
                .iter()
                .find(|r| r["day"] == *day && r["host"] == *host)
                .unwrap_or_else(|| panic!("no row {day} {host}"));
            let t = &m["ledger"]["out"];
            for k in [
                "frames",
                "frame_bytes",
                "ip_bytes",
                "payload_bytes",
                "stream_bytes",
                "retrans_bytes",
                "gap_bytes",
            ] {
                assert_eq!(n(row, k), t[k].as_u64().unwrap(), "{day} {host} {k}");
            }
            if n(row, "truncated_bytes") == 0 {
                assert_eq!(
                    n(row, "app_bytes"),
                    t["app_bytes"].as_u64().unwrap(),
                    "{day} {host} app_bytes"
                );
            }
            let want = m["confirmable_member_numbers"].as_array().unwrap().len() as u64;
            assert_eq!(n(row, "confirmed"), want, "{day} {host} confirmed");
            let sent = m["record_uploads"].as_u64().unwrap();
            assert!(
                n(row, "records_low") <= sent && sent <= n(row, "records_high"),
                "{day} {host}: {sent} not in {row:?}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 15, "{checked}");
    let confirmed = csv(&out.join("confirmed_records.csv"));
    let unique = confirmed
        .iter()
        .filter(|r| r["level"] == "confirmed")
        .count() as u64;
    assert_eq!(
        unique,
        truth["records"]["confirmable_count"].as_u64().unwrap()
    );
    // No row for a host the truth does not know.
    let hosts = truth["malicious_hosts"].as_object().unwrap();
    for r in &daily {
        assert!(
            hosts.contains_key(&r["host"]),
            "unexpected host {}",
            r["host"]
        );
    }
}

#[test]
fn sweep_finds_the_exfiltration_server_missing_from_the_ioc_list() {
    let Some(d) = scenario("small-s1") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The IOC list without the main exfiltration server (name and address).
    let iocs = dir.path().join("iocs.txt");
    let text = std::fs::read_to_string(d.join("iocs.txt")).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.contains("sync.jp-cdn-update") && !l.contains("203.0.113.10"))
        .collect();
    std::fs::write(&iocs, kept.join("\n")).unwrap();
    let out = dir.path().join("out");
    let recovered = common::recovered_of(&d);
    let o = bin()
        .args([
            "analyze",
            "-q",
            "--sweep",
            "--tz",
            "Asia/Tokyo",
            "--record-format",
            "csv",
        ])
        .args(["--key", "1", "--header", "no", "--iocs"])
        .arg(&iocs)
        .arg("--out")
        .arg(&out)
        .arg(d.join("captures"))
        .arg("--recovered")
        .args(&recovered)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let hosts = csv(&out.join("sweep_hosts.csv"));
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("truth.json")).unwrap()).unwrap();
    let sync = &truth["malicious_hosts"]["sync.jp-cdn-update.example.net"];
    let ips: Vec<String> = sync
        .to_string()
        .split('"')
        .filter(|s| s.starts_with("203.0.113."))
        .map(String::from)
        .collect();
    assert!(!ips.is_empty(), "{sync}");
    for ip in ["203.0.113.10", "203.0.113.77"] {
        let h = hosts
            .iter()
            .find(|h| h["server_ip"] == ip)
            .unwrap_or_else(|| panic!("{ip} not found by the sweep: {hosts:?}"));
        assert_eq!(h["server_name"], "sync.jp-cdn-update.example.net");
        assert!(n(h, "rows_confirmed") > 0 && n(h, "keys_seen") >= n(h, "rows_confirmed"));
    }
    // Nothing benign is listed: every listed server is a malicious one of the truth.
    let text = truth["malicious_hosts"].to_string();
    for h in &hosts {
        assert!(
            text.contains(&h["server_ip"]),
            "benign server listed: {h:?}"
        );
    }
    let summary = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(summary.contains("Servers on no IOC list that received recovered records"));
    assert!(summary.contains("| 203.0.113.77 |"), "{summary}");
    assert!(summary.contains("bytes searched by --sweep"));
}

/// Runs `analyze` with `args` (captures included) into `out`; its exit code and stderr.
fn analyze_into(out: &std::path::Path, args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let o = bin()
        .args(["analyze", "-q", "--reproducible", "--out"])
        .arg(out)
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    )
}

#[test]
fn unusable_input_exits_2_naming_the_file_and_writes_no_report() {
    let dir = tempfile::tempdir().unwrap();
    let os = |s: &str| std::ffi::OsString::from(s);
    let cap = testdata("example/capture.pcap").into_os_string();
    let iocs = testdata("example/iocs.txt").into_os_string();
    let staged = testdata("example/recovered/stage.csv").into_os_string();
    let empty_dir = dir.path().join("no-captures");
    std::fs::create_dir_all(&empty_dir).unwrap();
    let text_dir = dir.path().join("notes");
    std::fs::create_dir_all(&text_dir).unwrap();
    std::fs::write(text_dir.join("README.txt"), "not a capture\n").unwrap();
    let missing = dir.path().join("nope.pcap").into_os_string();
    let cases: Vec<(&str, Vec<std::ffi::OsString>, &str)> = vec![
        (
            "missing capture",
            vec![missing.clone(), os("--iocs"), iocs.clone()],
            "nope.pcap",
        ),
        (
            "folder without captures",
            vec![
                empty_dir.clone().into_os_string(),
                os("--iocs"),
                iocs.clone(),
            ],
            "no capture file found",
        ),
        (
            "folder of files that are not captures",
            vec![
                text_dir.clone().into_os_string(),
                os("--iocs"),
                iocs.clone(),
            ],
            "README.txt: not a capture",
        ),
        (
            "a capture given as the recovered file",
            vec![
                cap.clone(),
                os("--iocs"),
                iocs.clone(),
                os("--recovered"),
                cap.clone(),
            ],
            "capture.pcap: at byte offset",
        ),
        (
            "--key beyond the columns",
            vec![
                cap.clone(),
                os("--iocs"),
                iocs.clone(),
                os("--recovered"),
                staged.clone(),
                os("--record-format"),
                os("csv"),
                os("--key"),
                os("42"),
            ],
            "--key 42",
        ),
    ];
    for (what, args, says) in cases {
        let out = dir.path().join(what.replace(' ', "-"));
        let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        let (code, err) = analyze_into(&out, &refs);
        assert_eq!(code, Some(2), "{what}: {err}");
        assert!(err.contains(says), "{what}: {err}");
        assert!(!out.exists(), "{what}: an output folder was written");
    }
    // One missing capture beside a readable one: the run goes on, partial (exit 1).
    let out = dir.path().join("partial");
    let (code, err) = analyze_into(&out, &[&missing, &cap, &os("--iocs"), &iocs]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("nope.pcap"), "{err}");
    // The report and the manifest name it with the reason, not only standard error.
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    let line = report
        .lines()
        .find(|l| l.contains("nope.pcap"))
        .unwrap_or_else(|| panic!("report.md does not name the missing capture:\n{report}"));
    assert!(line.contains("No such file"), "{line}");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let unreadable = manifest["unreadable"].as_array().unwrap();
    assert_eq!(unreadable.len(), 1);
    assert!(unreadable[0]["path"]
        .as_str()
        .unwrap()
        .ends_with("nope.pcap"));
    // A recovered folder is taken like a capture folder.
    let rec_dir = testdata("example/recovered").into_os_string();
    let out = dir.path().join("recovered-dir");
    let (code, err) = analyze_into(
        &out,
        &[
            &cap,
            &os("--iocs"),
            &iocs,
            &os("--recovered"),
            &rec_dir,
            &os("--record-format"),
            &os("csv"),
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(out.join("confirmed_records.csv").exists());
}

#[test]
fn rerunning_into_an_out_folder_never_leaves_a_stale_file_listed() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let os = |s: &str| std::ffi::OsString::from(s);
    let cap = testdata("example/capture.pcap").into_os_string();
    let iocs = testdata("example/iocs.txt").into_os_string();
    let rec = testdata("example/recovered/stage.csv").into_os_string();
    let with_rec = [
        &cap,
        &os("--iocs"),
        &iocs,
        &os("--recovered"),
        &rec,
        &os("--record-format"),
        &os("csv"),
    ];
    let (code, err) = analyze_into(&out, &with_rec.map(|a| a.as_os_str()));
    assert_eq!(code, Some(0), "{err}");
    assert!(out.join("confirmed_records.csv").exists());
    // Again without recovered files: the earlier run's confirmed_records.csv goes.
    let (code, err) = analyze_into(&out, &[&cap, &os("--iocs"), &iocs]);
    assert_eq!(code, Some(0), "{err}");
    assert!(!out.join("confirmed_records.csv").exists());
    let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    assert!(!manifest.contains("confirmed_records.csv"), "{manifest}");
    // A file no run wrote: refused, untouched; with --force kept and not listed.
    std::fs::write(out.join("notes.txt"), "analyst notes\n").unwrap();
    let (code, err) = analyze_into(&out, &[&cap, &os("--iocs"), &iocs]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("notes.txt") && err.contains("--force"),
        "{err}"
    );
    let (code, err) = analyze_into(&out, &[&cap, &os("--iocs"), &iocs, &os("--force")]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.join("notes.txt").exists());
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let listed: Vec<&str> = m["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["file"].as_str())
        .collect();
    assert!(!listed.contains(&"notes.txt"), "{listed:?}");
    assert_eq!(m["foreign"][0], "notes.txt");
    // Files an earlier run kept as foreign are still not ours: the next run refuses again.
    let (code, _) = analyze_into(&out, &[&cap, &os("--iocs"), &iocs]);
    assert_eq!(code, Some(2));
}

#[test]
fn an_analyst_assumption_on_a_tls_host_narrows_its_range_around_the_truth() {
    let Some(d) = scenario("small-s1") else {
        return;
    };
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("truth.json")).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let host = "api.cloud-telemetry.example.net";
    let run = |name: &str, extra: &[&str]| -> Vec<BTreeMap<String, String>> {
        let out = dir.path().join(name);
        let o = bin()
            .args(["analyze", "-q", "--reproducible"])
            .args(EXAMPLE_RECORDS)
            .arg("--iocs")
            .arg(d.join("iocs.txt"))
            .arg("--recovered")
            .arg(d.join("recovered"))
            .arg("--out")
            .arg(&out)
            .arg(d.join("captures"))
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        if !extra.is_empty() {
            let md = std::fs::read_to_string(out.join("report.md")).unwrap();
            assert!(md.contains(&format!("Analyst assumption (--assume {host}=plain)")));
        }
        csv(&out.join("daily.csv"))
            .into_iter()
            .filter(|r| r["host"] == host && r["stream_bytes"] != "0")
            .collect()
    };
    // The TLS channel of the scenario carries the records as stored (plain inside TLS).
    let wide = run("wide", &[]);
    let narrow = run("narrow", &["--assume", &format!("{host}=plain")]);
    assert!(!wide.is_empty());
    assert_eq!(wide.len(), narrow.len());
    for (w, a) in wide.iter().zip(&narrow) {
        let sent: u64 = truth["uploads"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| u["channel"] == "tls" && u["day"] == w["day"].as_str())
            .map(|u| u["records"].as_u64().unwrap())
            .sum();
        let (lo, hi) = (n(a, "records_low"), n(a, "records_high"));
        assert!(
            lo <= sent && sent <= hi,
            "{}: {lo}..{hi} vs truth {sent}",
            a["day"]
        );
        assert!(
            hi - lo < (n(w, "records_high") - n(w, "records_low")) / 3,
            "the assumption narrows the range: {a:?} vs {w:?}"
        );
        assert_eq!(a["r_max"], "1.0000");
    }
    // A codec nobody measured, or no `=`: exit 2 before anything is written.
    for bad in [
        format!("{host}=snappy"),
        host.to_string(),
        format!("{host}=0.5"),
    ] {
        let out = dir.path().join("bad");
        let o = bin()
            .args(["analyze", "-q", "--iocs"])
            .arg(d.join("iocs.txt"))
            .arg("--out")
            .arg(&out)
            .arg(d.join("captures"))
            .args(["--assume", &bad])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{bad}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("--assume"));
        assert!(!out.exists());
    }
}

#[test]
fn json_summary_equals_the_tables_and_states_the_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = bin()
        .args(["analyze", "-q", "--reproducible", "--json", "--case"])
        .arg(testdata("example/case.toml"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&o.stdout).expect("stdout is JSON");
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(printed, written);
    assert_eq!(written["exit_status"], 0);
    assert_eq!(written["outcome"], "complete");
    let periods = csv(&out.join("periods.csv"));
    let all: Vec<_> = periods.iter().filter(|p| p["host"] == "(all)").collect();
    let ps = written["periods"].as_array().unwrap();
    assert_eq!(ps.len(), all.len());
    for (p, a) in ps.iter().zip(&all) {
        assert_eq!(p["period"], a["period"].as_str());
        for (j, c) in [
            ("bytes_sent", "stream_bytes"),
            ("transmissions_low", "records_low"),
            ("transmissions_point", "records_point"),
            ("transmissions_high", "records_high"),
            ("counted", "counted_records"),
            ("confirmed_distinct", "confirmed"),
            ("explained", "explained"),
            ("not_explained", "residual"),
        ] {
            assert_eq!(p[j].as_u64(), Some(n(a, c)), "{j}");
        }
    }
    let daily = csv(&out.join("daily.csv"));
    for d in written["days"].as_array().unwrap() {
        let day = d["day"].as_str().unwrap();
        let sum: u64 = daily
            .iter()
            .filter(|r| r["day"] == day)
            .map(|r| n(r, "stream_bytes"))
            .sum();
        assert_eq!(d["bytes_sent"].as_u64(), Some(sum), "{day}");
    }
    for f in written["outputs"].as_array().unwrap() {
        assert!(out.join(f.as_str().unwrap()).exists(), "{f}");
    }
    let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    assert!(
        manifest.contains("\"summary.json\""),
        "summary.json listed with its digest"
    );
    // A damaged capture: partial, with the damage named.
    let Some(d) = common::shared("damaged") else {
        return;
    };
    let out = dir.path().join("damaged");
    let o = bin()
        .args(["analyze", "-q", "--json", "--iocs"])
        .arg(testdata("example/iocs.txt"))
        .arg("--out")
        .arg(&out)
        .arg(d.join("garbage-middle.pcap"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["exit_status"], 1);
    assert_eq!(s["outcome"], "partial");
    assert!(s["errors"][0]
        .as_str()
        .unwrap()
        .contains("garbage-middle.pcap: at byte offset"));
}

#[test]
fn sightings_bundle_is_valid_stix_and_counts_the_flows_of_each_indicator() {
    let has_stix2 = std::process::Command::new("python3")
        .args(["-c", "import stix2, stix2patterns"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_stix2 {
        common::skip("python3 with the stix2 package (pip install stix2)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = bin()
        .args(["analyze", "-q", "--reproducible", "--case"])
        .arg(testdata("example/case.toml"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/stix/validate.py");
    let v = std::process::Command::new("python3")
        .arg(&script)
        .arg(out.join("sightings.stix.json"))
        .output()
        .unwrap();
    assert!(
        v.status.success(),
        "stix2 rejects the bundle: {}",
        String::from_utf8_lossy(&v.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&v.stdout).unwrap();
    let sightings = report["sightings"].as_array().unwrap();
    // Against ioc_flows.csv: one sighting per indicator matched, counting its flows.
    let flows = csv(&out.join("ioc_flows.csv"));
    let mut per: BTreeMap<String, u64> = BTreeMap::new();
    for f in &flows {
        for i in f["indicator"].split(';').filter(|s| !s.is_empty()) {
            *per.entry(i.to_string()).or_default() += 1;
        }
    }
    assert_eq!(sightings.len(), per.len(), "{sightings:?} vs {per:?}");
    for (ind, n) in &per {
        let s = sightings
            .iter()
            .find(|s| s["pattern"].as_str().unwrap().contains(&format!("'{ind}'")))
            .unwrap_or_else(|| panic!("no sighting of {ind}: {sightings:?}"));
        assert_eq!(s["count"].as_u64(), Some(*n), "{ind}");
    }
    // Byte-identical on a second run (identifiers and times from the inputs, not the clock).
    let again = dir.path().join("again");
    let o = bin()
        .args(["analyze", "-q", "--case"])
        .arg(testdata("example/case.toml"))
        .arg("--out")
        .arg(&again)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        std::fs::read(out.join("sightings.stix.json")).unwrap(),
        std::fs::read(again.join("sightings.stix.json")).unwrap()
    );
}

#[test]
fn since_and_until_equal_analysing_the_capture_editcap_cut_to_the_window() {
    if !common::tool("editcap", "-h") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = |f: &str| testdata(&format!("example/{f}"));
    let full = t("capture.pcap");
    // (window in the case's zone or RFC 3339; editcap's -A/-B in UTC)
    let cases = [
        (
            vec!["--since", "2014-09-18", "--until", "2014-09-19 12:00"],
            "2014-09-17 15:00:00",
            Some("2014-09-19 03:00:00"),
            (0, 0),
        ),
        // Inside the first flow: it is cut there, and seen mid-stream like in the cut file.
        (
            vec!["--since", "2014-09-16T23:30:00.1Z"],
            "2014-09-16 23:30:00.1",
            None,
            (1, 0),
        ),
    ];
    for (i, (flags, from, to, cuts)) in cases.iter().enumerate() {
        let cut = dir.path().join(format!("cut{i}.pcap"));
        let mut e = std::process::Command::new("editcap");
        e.env("TZ", "UTC").arg("-A").arg(from);
        if let Some(to) = to {
            e.arg("-B").arg(to);
        }
        assert!(e.arg(&full).arg(&cut).status().unwrap().success());
        let run = |name: &str, cap: &Path, extra: &[&str]| -> std::path::PathBuf {
            let out = dir.path().join(format!("{name}{i}"));
            let o = bin()
                .args(["analyze", "-q", "--reproducible"])
                .args(EXAMPLE_RECORDS)
                .arg("--iocs")
                .arg(t("iocs.txt"))
                .arg("--recovered")
                .arg(t("recovered/stage.csv"))
                .arg("--periods")
                .arg(t("periods.csv"))
                .arg("--out")
                .arg(&out)
                .arg(cap)
                .args(extra)
                .output()
                .unwrap();
            assert_eq!(
                o.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&o.stderr)
            );
            out
        };
        let windowed = run("window", &full, flags);
        let oracle = run("editcap", &cut, &[]);
        for f in ["daily.csv", "periods.csv", "confirmed_records.csv"] {
            let (a, b) = (
                std::fs::read_to_string(windowed.join(f)).unwrap(),
                std::fs::read_to_string(oracle.join(f)).unwrap(),
            );
            if f == "confirmed_records.csv" {
                // Frame numbers (and flow ids, a flow's first frame) restart in the cut file:
                // compare rows without them.
                let strip = |s: &str| -> Vec<String> {
                    let head: Vec<&str> = s.lines().next().unwrap_or("").split(',').collect();
                    let keep: Vec<bool> = head
                        .iter()
                        .map(|h| !matches!(*h, "flow_id" | "first_frame" | "last_frame"))
                        .collect();
                    s.lines()
                        .map(|l| {
                            l.split(',')
                                .zip(&keep)
                                .filter(|(_, k)| **k)
                                .map(|(c, _)| c)
                                .collect::<Vec<_>>()
                                .join(",")
                        })
                        .collect()
                };
                assert_eq!(strip(&a), strip(&b), "{flags:?}: {f}");
            } else {
                assert_eq!(a, b, "{flags:?}: {f}");
            }
        }
        // Every packet is accounted for: analysed, before or after the window.
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(windowed.join("summary.json")).unwrap())
                .unwrap();
        let c = &m["counters"];
        let cut_packets = serde_json::from_str::<serde_json::Value>(
            &std::fs::read_to_string(oracle.join("summary.json")).unwrap(),
        )
        .unwrap()["counters"]["packets decoded"]
            .as_u64()
            .unwrap();
        let before = c["packets before --since (not analysed)"].as_u64().unwrap();
        let after = c["packets at or after --until (not analysed)"]
            .as_u64()
            .unwrap();
        assert_eq!(before + after + cut_packets, 596, "{flags:?}");
        assert_eq!(
            (
                c["flows cut at --since (their earlier packets left out)"]
                    .as_u64()
                    .unwrap(),
                c["flows cut at --until (their later packets left out)"]
                    .as_u64()
                    .unwrap()
            ),
            *cuts,
            "{flags:?}"
        );
    }
    // An empty window is an error.
    let o = bin()
        .args([
            "analyze",
            "-q",
            "--since",
            "2014-09-19",
            "--until",
            "2014-09-18",
            "--iocs",
        ])
        .arg(t("iocs.txt"))
        .arg("--out")
        .arg(dir.path().join("empty"))
        .arg(&full)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("window is empty"));
}

#[test]
fn an_edited_earlier_output_or_a_link_is_not_removed_and_force_keeps_what_it_rewrites_listed() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let cap = testdata("example/capture.pcap").into_os_string();
    let iocs = testdata("example/iocs.txt").into_os_string();
    let os = |s: &str| std::ffi::OsString::from(s);
    let args = [&cap, &os("--iocs"), &iocs];
    let (code, err) = analyze_into(&out, &args.map(|a| a.as_os_str()));
    assert_eq!(code, Some(0), "{err}");
    // The analyst annotates report.md: it is not the earlier run's file any more.
    let md = out.join("report.md");
    std::fs::write(&md, "my notes\n").unwrap();
    let (code, err) = analyze_into(&out, &args.map(|a| a.as_os_str()));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("report.md"), "{err}");
    assert_eq!(std::fs::read_to_string(&md).unwrap(), "my notes\n");
    // A link to a folder of evidence is never followed (nor emptied).
    let evidence = dir.path().join("evidence");
    std::fs::create_dir_all(&evidence).unwrap();
    std::fs::write(evidence.join("daily.csv"), "keep me\n").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(&evidence, out.join("linked")).unwrap();
    // With --force: report.md is written over (this run's now, listed), the link is kept.
    let (code, err) = analyze_into(
        &out,
        &[&cap, &os("--iocs"), &iocs, &os("--force")].map(|a| a.as_os_str()),
    );
    assert_eq!(code, Some(0), "{err}");
    assert_ne!(std::fs::read_to_string(&md).unwrap(), "my notes\n");
    assert_eq!(
        std::fs::read_to_string(evidence.join("daily.csv")).unwrap(),
        "keep me\n"
    );
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let listed: Vec<&str> = m["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["file"].as_str())
        .collect();
    assert!(listed.contains(&"report.md"), "{listed:?}");
    #[cfg(unix)]
    {
        assert!(
            !listed.iter().any(|f| f.starts_with("linked")),
            "{listed:?}"
        );
        assert_eq!(m["foreign"], serde_json::json!(["linked"]));
    }
}

#[test]
fn capture_filters_select_the_packets_tcpdump_selects() {
    if !common::tool("tcpdump", "--version") {
        return;
    }
    let mut caps = vec![testdata("example/capture.pcap")];
    if let Some(r) = common::shared("realpcaps") {
        for f in [
            "ppp_example.pcap",
            "cs_dns.pcap",
            "cs_cryptowall4_c2.pcapng",
        ] {
            caps.push(r.join(f));
        }
    }
    let filters = [
        "tcp port 80",
        "host 198.51.100.23",
        "udp port 53",
        "not tcp",
        "net 198.51.100.0/25 and tcp",
        "src host 10.1.2.3 or dst port 443",
        "host 10.0.0.1 or port 80",
        "not port 443 and ip",
        "(tcp or udp) and portrange 1-1023",
        "ip6 or icmp",
    ];
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut nonzero = 0;
    for cap in &caps {
        for f in filters {
            let oracle = std::process::Command::new("tcpdump")
                .args(["-nn", "-r"])
                .arg(cap)
                .arg(f)
                .output()
                .unwrap();
            assert!(oracle.status.success(), "tcpdump {f}");
            let want = oracle.stdout.iter().filter(|&&b| b == b'\n').count() as u64;
            let o = bin()
                .args([
                    "analyze",
                    "-q",
                    "--force",
                    "--reproducible",
                    "-f",
                    f,
                    "--iocs",
                ])
                .arg(testdata("example/iocs.txt"))
                .arg("--out")
                .arg(&out)
                .arg(cap)
                .output()
                .unwrap();
            assert!(
                o.status.code().is_some_and(|c| c < 2),
                "{}",
                String::from_utf8_lossy(&o.stderr)
            );
            let s: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap())
                    .unwrap();
            let c = &s["counters"];
            let got = c["packets decoded"].as_u64().unwrap()
                - c["packets not matching --filter (not analysed)"]
                    .as_u64()
                    .unwrap();
            assert_eq!(got, want, "{} '{f}'", cap.display());
            nonzero += u64::from(want > 0);
        }
    }
    assert!(nonzero >= 10, "the filters select something: {nonzero}");
    // A filter that does not parse: exit 2 naming it.
    let o = bin()
        .args(["analyze", "-q", "-f", "host example.com", "--iocs"])
        .arg(testdata("example/iocs.txt"))
        .arg("--out")
        .arg(dir.path().join("bad"))
        .arg(&caps[0])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--filter"));
}

#[test]
fn frames_stamped_decades_from_the_rest_of_their_file_spread_no_empty_days() {
    // A 2008 upload (1,030 frames) to an IOC server and three copies of its first frame stamped 2037 (a
    // sensor clock jump): the days between are not covered, the frames are counted.
    let server = [203, 0, 113, 77];
    let mut cap =
        exfilmeter_synth::single_connection(server, 80, &[b'x'; 1_500_000], b"ok", 1_212_000_000);
    let first = cap[24..40 + u32::from_le_bytes(cap[32..36].try_into().unwrap()) as usize].to_vec();
    for i in 0..3u32 {
        let mut r = first.clone();
        r[0..4].copy_from_slice(&(2_130_000_000u32 + i).to_le_bytes());
        cap.extend_from_slice(&r);
    }
    let dir = tempfile::tempdir().unwrap();
    let (pcap, iocs, out) = (
        dir.path().join("c.pcap"),
        dir.path().join("i.txt"),
        dir.path().join("out"),
    );
    std::fs::write(&pcap, &cap).unwrap();
    std::fs::write(&iocs, "203.0.113.77\n").unwrap();
    let o = bin()
        .args(["analyze", "-q", "--reproducible", "--iocs"])
        .arg(&iocs)
        .arg(&pcap)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let daily = csv(&out.join("daily.csv"));
    assert!(
        daily.len() <= 2,
        "{} day rows: {:?}",
        daily.len(),
        daily.iter().map(|r| &r["day"]).collect::<Vec<_>>()
    );
    assert!(daily.iter().any(|r| r["day"] == "2008-05-28"));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains(
            "| frames stamped far from the rest of their file (outside the covered days) | 3 |"
        ),
        "{md}"
    );
}
