//! The published report: its numbers against the run's tables and the generators' truth, the
//! HTML against the Markdown, determinism, `report --from`, and a real headless browser.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;
use common::{bin, csv, scenario, skip, testdata};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn ok(c: &mut Command) {
    let o = c.output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn example(out: &Path, extra: &[&str]) {
    ok(bin()
        .args(["analyze", "-q", "--case"])
        .arg(testdata("example/case.toml"))
        .arg("--out")
        .arg(out)
        .args(extra));
}

/// `1,234` → 1234; `–` → None.
fn num(s: &str) -> Option<u64> {
    if s == "–" {
        return None;
    }
    Some(
        s.replace(',', "")
            .parse()
            .unwrap_or_else(|_| panic!("not a number: {s:?}")),
    )
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The body rows of the HTML table with this id, as cell texts.
fn html_table(html: &str, id: &str) -> Vec<Vec<String>> {
    let start = html
        .find(&format!("<table id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no table {id}"));
    let end = start + html[start..].find("</table>").unwrap();
    let body = &html[start..end];
    let body = &body[body.find("<tbody>").unwrap()..];
    body.split("<tr>")
        .skip(1)
        .map(|row| {
            row.split("<td")
                .skip(1)
                .map(|cell| {
                    let open = cell.find('>').unwrap() + 1;
                    let close = cell.find("</td>").unwrap();
                    unescape(&cell[open..close])
                })
                .collect()
        })
        .collect()
}

/// The body rows of the Markdown table whose header line starts with `head`.
fn md_table(md: &str, head: &str) -> Vec<Vec<String>> {
    let mut lines = md.lines().skip_while(|l| !l.starts_with(head));
    assert!(lines.next().is_some(), "no table {head}");
    lines
        .skip(1)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().replace("\\|", "|"))
                .collect()
        })
        .collect()
}

struct Headline {
    periods: Vec<Vec<String>>,
    days: Vec<Vec<String>>,
}

/// Both headline tables, read from the HTML and from the Markdown, which must agree cell for
/// cell.
fn headline(out: &Path) -> Headline {
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    let periods = html_table(&html, "headline-periods");
    let days = html_table(&html, "headline-days");
    assert_eq!(periods, md_table(&md, "| period | first day |"), "periods");
    assert_eq!(days, md_table(&md, "| day | bytes sent |"), "days");
    assert!(!days.is_empty());
    Headline { periods, days }
}

fn u(r: &BTreeMap<String, String>, k: &str) -> u64 {
    r[k].parse().unwrap_or(0)
}

/// Every number of the headline tables equals the tables': a day row sums that day's host
/// rows of daily.csv, a period row is the period's `(all)` row of periods.csv.
fn check_against_tables(out: &Path, reconciled: bool) -> Headline {
    let h = headline(out);
    let daily = csv(&out.join("daily.csv"));
    let days: std::collections::BTreeSet<&str> = daily.iter().map(|r| r["day"].as_str()).collect();
    assert_eq!(h.days.len(), days.len(), "one headline row per day");
    for row in &h.days {
        let of_day: Vec<_> = daily.iter().filter(|r| r["day"] == row[0]).collect();
        assert!(!of_day.is_empty(), "{}", row[0]);
        let sum = |k: &str| of_day.iter().map(|r| u(r, k)).sum::<u64>();
        assert_eq!(num(&row[1]), Some(sum("stream_bytes")), "{row:?}");
        assert_eq!(num(&row[2]), Some(sum("records_low")), "{row:?}");
        assert_eq!(num(&row[3]), Some(sum("records_point")), "{row:?}");
        assert_eq!(num(&row[4]), Some(sum("records_high")), "{row:?}");
        assert_eq!(num(&row[5]), Some(sum("counted_records")), "{row:?}");
        if reconciled {
            assert_eq!(num(&row[6]), Some(sum("confirmed")), "{row:?}");
            assert_eq!(num(&row[7]), Some(sum("explained")), "{row:?}");
            assert_eq!(num(&row[8]), Some(sum("residual")), "{row:?}");
        } else {
            assert_eq!(num(&row[6]), None);
        }
        assert!(row[9].starts_with(&format!("On {}", row[0])), "{row:?}");
    }
    let periods = csv(&out.join("periods.csv"));
    let all: Vec<_> = periods.iter().filter(|p| p["host"] == "(all)").collect();
    assert_eq!(h.periods.len(), all.len());
    for (row, p) in h.periods.iter().zip(&all) {
        assert_eq!(row[0], p["period"]);
        assert_eq!(
            (row[1].as_str(), row[2].as_str()),
            (p["start"].as_str(), p["end"].as_str())
        );
        assert_eq!(num(&row[3]), Some(u(p, "stream_bytes")), "{row:?}");
        assert_eq!(num(&row[4]), Some(u(p, "records_low")), "{row:?}");
        assert_eq!(num(&row[5]), Some(u(p, "records_point")), "{row:?}");
        assert_eq!(num(&row[6]), Some(u(p, "records_high")), "{row:?}");
        assert_eq!(num(&row[7]), Some(u(p, "counted_records")), "{row:?}");
        if reconciled {
            assert_eq!(num(&row[8]), Some(u(p, "confirmed")), "{row:?}");
            assert_eq!(num(&row[9]), Some(u(p, "explained")), "{row:?}");
            assert_eq!(num(&row[10]), Some(u(p, "residual")), "{row:?}");
        }
    }
    h
}

#[test]
fn example_report_numbers_are_the_tables_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    example(&out, &["--reproducible"]);
    let h = check_against_tables(&out, true);
    // The example's periods are its three days, named.
    let names: Vec<&str> = h.periods.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        names,
        ["test run", "sample extraction", "bulk exfiltration"]
    );
    // Against the generator's truth: bytes per day are the truth's, summed over hosts.
    let truth = csv(&testdata("example/truth.csv"));
    for row in &h.days {
        let t: u64 = truth
            .iter()
            .filter(|t| t["day"] == row[0])
            .map(|t| u(t, "stream_bytes"))
            .sum();
        let records: u64 = truth
            .iter()
            .filter(|t| t["day"] == row[0])
            .map(|t| u(t, "records"))
            .sum();
        // truth.csv lists the exfiltration hosts; the beacon host adds its own bytes.
        assert!(num(&row[1]).unwrap() >= t, "{row:?}");
        assert!(num(&row[2]).unwrap() <= records && records <= num(&row[4]).unwrap());
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        !html.contains("Generated at"),
        "--reproducible has no clock"
    );
    assert!(!html.contains("<script"), "no script");
    for bad in ["src=\"http", "href=\"http", "url(", "@import"] {
        assert!(!html.contains(bad), "external resource: {bad}");
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert!(manifest.get("generated_at").is_none());
    assert!(manifest.get("invocation").is_none());
    // Every output is listed with its true digest and size.
    let outputs = manifest["outputs"].as_array().unwrap();
    let listed: Vec<&str> = outputs
        .iter()
        .map(|o| o["file"].as_str().unwrap())
        .collect();
    for f in [
        "daily.csv",
        "report.html",
        "report.md",
        "charts/timeline.svg",
    ] {
        assert!(listed.contains(&f), "{f} not in the manifest");
    }
    for o in outputs {
        let bytes = std::fs::read(out.join(o["file"].as_str().unwrap())).unwrap();
        assert_eq!(o["size"].as_u64(), Some(bytes.len() as u64));
    }
    // Digests as coreutils computes them: the tables hashed after they were written, the
    // report files after the report, the summary last (each file read once, decision 0017).
    match Command::new("sha256sum")
        .current_dir(out)
        .args(&listed)
        .output()
    {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout).to_string();
            let theirs: BTreeMap<&str, &str> = text
                .lines()
                .filter_map(|l| l.split_once("  ").map(|(d, f)| (f, d)))
                .collect();
            assert_eq!(theirs.len(), outputs.len(), "{text}");
            for o in outputs {
                let f = o["file"].as_str().unwrap();
                assert_eq!(Some(&o["sha256"].as_str().unwrap()), theirs.get(f), "{f}");
            }
        }
        _ => skip("sha256sum not available for the digest check"),
    }
    // The capture's digest is the one `inspect` computes.
    let cap = &manifest["captures"][0];
    assert_eq!(cap["frames"].as_u64(), Some(596));
    match Command::new("sha256sum")
        .arg(testdata("example/capture.pcap"))
        .output()
    {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            assert!(
                text.starts_with(cap["sha256"].as_str().unwrap()),
                "capture digest differs from sha256sum's: {text}"
            );
        }
        _ => skip("sha256sum not available for the digest check"),
    }
}

#[test]
fn without_the_reproducible_flag_the_report_says_when_it_was_made() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    example(&out, &[]);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("Generated at: 20"), "generated-at line");
    let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    assert!(manifest.contains("\"generated_at\""));
    assert!(manifest.contains("\"invocation\""));
}

/// Copies a run folder without its report (report.html, report.md, charts/).
fn copy_tables(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if e.path().is_file() && !name.starts_with("report.") {
            std::fs::copy(e.path(), to.join(&name)).unwrap();
        }
    }
}

/// The first line where two text files differ (a readable assertion message).
fn first_difference(a: &Path, b: &Path) -> Option<String> {
    let (x, y) = (
        std::fs::read_to_string(a).unwrap(),
        std::fs::read_to_string(b).unwrap(),
    );
    if x == y {
        return None;
    }
    let diff = x
        .lines()
        .zip(y.lines())
        .enumerate()
        .find(|(_, (l, r))| l != r)
        .map_or_else(
            || "lengths differ".to_string(),
            |(i, (l, r))| format!("line {}: {l:?} vs {r:?}", i + 1),
        );
    Some(diff)
}

#[test]
fn report_with_new_periods_equals_analyze_with_them() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    example(&a, &["--reproducible"]);
    let periods = dir.path().join("new-periods.csv");
    std::fs::write(
        &periods,
        "name,start,end\nextraction,2014-09-18,2014-09-19\nwhole case,2014-09-17,2014-09-19\n",
    )
    .unwrap();
    // Oracle: analyze run with the new periods from the captures.
    let b = dir.path().join("b");
    example(
        &b,
        &["--reproducible", "--periods", periods.to_str().unwrap()],
    );
    // The same periods applied to the first run's tables, captures not read.
    let c = dir.path().join("c");
    copy_tables(&a, &c);
    ok(bin()
        .args(["report", "--reproducible", "--from"])
        .arg(&c)
        .arg("--periods")
        .arg(&periods));
    for f in [
        "periods.csv",
        "case.toml",
        "report.html",
        "report.md",
        "manifest.json",
    ] {
        let d = first_difference(&b.join(f), &c.join(f));
        assert!(d.is_none(), "{f}: {d:?}");
    }
    // The new periods differ from the old ones (the test is not comparing two equal files).
    assert!(first_difference(&a.join("periods.csv"), &c.join("periods.csv")).is_some());
    let h = headline(&c);
    let names: Vec<&str> = h.periods.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names, ["extraction", "whole case"]);
    // A bad periods file is an error naming it.
    std::fs::write(&periods, "name,start,end\nx,2014-09-19,2014-09-17\n").unwrap();
    let o = bin()
        .args(["report", "--from"])
        .arg(&c)
        .arg("--periods")
        .arg(&periods)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("new-periods.csv:2"), "{err}");
}

#[test]
fn report_from_a_run_folder_renders_the_same_files() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    example(&a, &["--reproducible"]);
    let b = dir.path().join("b");
    copy_tables(&a, &b);
    ok(bin().args(["report", "--reproducible", "--from"]).arg(&b));
    for f in [
        "report.html",
        "report.md",
        "manifest.json",
        "charts/bytes_per_day.svg",
        "charts/records_per_day.svg",
        "charts/timeline.svg",
    ] {
        assert!(
            std::fs::read(a.join(f)).unwrap() == std::fs::read(b.join(f)).unwrap(),
            "{f} differs"
        );
    }
    // An analyst renames a period in periods.csv: the report follows the table.
    let p = std::fs::read_to_string(b.join("periods.csv"))
        .unwrap()
        .replace("bulk exfiltration", "main theft");
    std::fs::write(b.join("periods.csv"), p).unwrap();
    ok(bin().args(["report", "--reproducible", "--from"]).arg(&b));
    let h = headline(&b);
    assert!(h.periods.iter().any(|r| r[0] == "main theft"));
    // Not a run folder: a clear error.
    let o = bin()
        .args(["report", "--from"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("manifest.json"));
}

#[test]
fn scenario_report_equals_tables_and_truth() {
    let Some(d) = scenario("small-s1") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let recovered = common::recovered_of(&d);
    ok(bin()
        .args(["analyze", "-q", "--reproducible", "--tz", "Asia/Tokyo"])
        .args([
            "--record-format",
            "csv",
            "--key",
            "1",
            "--header",
            "no",
            "--iocs",
        ])
        .arg(d.join("iocs.txt"))
        .arg("--out")
        .arg(&out)
        .arg(d.join("captures"))
        .arg("--recovered")
        .args(&recovered));
    let h = check_against_tables(&out, true);
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("truth.json")).unwrap()).unwrap();
    let mut checked = 0;
    for row in &h.days {
        let Some(day) = truth["days"].get(&row[0]) else {
            continue;
        };
        let Some(hosts) = day["malicious"].as_object() else {
            continue;
        };
        let bytes: u64 = hosts
            .values()
            .map(|v| v["ledger"]["out"]["stream_bytes"].as_u64().unwrap_or(0))
            .sum();
        let sent: u64 = hosts
            .values()
            .map(|v| v["record_uploads"].as_u64().unwrap_or(0))
            .sum();
        let confirmable: u64 = hosts
            .values()
            .map(|v| {
                v["confirmable_member_numbers"]
                    .as_array()
                    .map_or(0, |a| a.len() as u64)
            })
            .sum();
        assert_eq!(num(&row[1]), Some(bytes), "{row:?}");
        assert!(
            num(&row[2]).unwrap() <= sent && sent <= num(&row[4]).unwrap(),
            "{row:?} sent {sent}"
        );
        assert_eq!(num(&row[6]), Some(confirmable), "{row:?}");
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} days checked");
}

#[test]
fn damage_and_missing_inputs_are_reported_not_hidden() {
    let Some(d) = common::shared("damaged") else {
        return;
    };
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("EXPECTED.json")).unwrap()).unwrap();
    let offset = expected["garbage-middle.pcap"]["damage_offset"]
        .as_u64()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // A damaged capture, indicators it never contacts, no recovered file.
    let o = bin()
        .args(["analyze", "-q", "--reproducible", "--iocs"])
        .arg(testdata("example/iocs.txt"))
        .arg("--out")
        .arg(&out)
        .arg(d.join("garbage-middle.pcap"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "partial: the input was damaged");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    // The damage, by file and byte offset, and the bytes skipped, per file.
    assert!(
        md.contains(&format!("garbage-middle.pcap: at byte offset {offset}:")),
        "{md}"
    );
    let quality = md_table(&md, "| capture | frames | bytes skipped");
    assert_eq!(quality.len(), 1);
    assert!(num(&quality[0][2]).unwrap() > 0, "{quality:?}");
    assert_eq!(
        num(&quality[0][4]),
        Some(2),
        "two errors: the damage and the resync"
    );
    // No indicator traffic: said in words, no empty charts; no model: no record numbers.
    assert!(md.contains("No flow to any indicator was found"));
    assert!(!md.contains("charts/bytes_per_day.svg"));
    let periods = md_table(&md, "| period | first day |");
    assert_eq!(periods.len(), 1);
    assert_eq!(
        (
            periods[0][4].as_str(),
            periods[0][5].as_str(),
            periods[0][7].as_str(),
            periods[0][8].as_str()
        ),
        ("–", "–", "–", "–"),
        "{periods:?}"
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains(&format!("at byte offset {offset}")));
}

/// Headless Chromium, when the machine has it.
fn chromium() -> Option<PathBuf> {
    for c in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(o) = Command::new("which").arg(c).output() {
            if o.status.success() {
                let p = String::from_utf8_lossy(&o.stdout).trim().to_string();
                if !p.is_empty() {
                    return Some(PathBuf::from(p));
                }
            }
        }
    }
    skip("no chromium on this machine (.ci/run installs Debian's chromium)");
    None
}

fn headless(browser: &Path, profile: &Path) -> Command {
    let mut c = Command::new(browser);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=3000",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

/// URLs the page itself asked for, from Chromium's net log: requests whose initiator is the
/// page (the browser's own background requests have "not an origin"), other than `file:`.
fn page_requests(netlog: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(netlog) else {
        return Vec::new();
    };
    let v: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        // The log of a browser killed mid-write lacks its closing brackets.
        Err(_) => serde_json::from_str(&format!("{}]}}", text.trim_end().trim_end_matches(',')))
            .unwrap_or_default(),
    };
    let start = v["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"].as_u64();
    let mut out = Vec::new();
    for e in v["events"].as_array().into_iter().flatten() {
        if e["type"].as_u64() != start || start.is_none() {
            continue;
        }
        let p = &e["params"];
        let (Some(url), Some(init)) = (p["url"].as_str(), p["initiator"].as_str()) else {
            continue;
        };
        if init != "not an origin" && !url.starts_with("file:") && !url.starts_with("data:") {
            out.push(url.to_string());
        }
    }
    out
}

/// Console messages the page logged (Chromium writes them to stderr with
/// `--enable-logging=stderr`).
fn console_lines(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(String::from)
        .collect()
}

/// Loads `page` headless: stderr and the URLs it requested.
fn visit(
    browser: &Path,
    dir: &Path,
    name: &str,
    page: &Path,
    extra: &[String],
) -> (String, Vec<String>) {
    let netlog = dir.join(format!("{name}.net.json"));
    let o = headless(browser, &dir.join(format!("{name}.profile")))
        .arg(format!("--log-net-log={}", netlog.display()))
        .args(extra)
        .arg(format!(
            "file://{}",
            std::path::absolute(page).unwrap().display()
        ))
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "{log}");
    (log, page_requests(&netlog))
}

#[test]
fn the_report_renders_in_a_real_browser_offline_and_complete() {
    let Some(browser) = chromium() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The detectors work: a page that logs an error and fetches two resources is caught.
    let control = d.join("control.html");
    std::fs::write(
        &control,
        "<html><body><script>console.error('control-marker')</script>\
         <img src=\"http://192.0.2.1/x.png\"><link rel=\"stylesheet\" \
         href=\"https://fonts.example.com/a.css\"></body></html>",
    )
    .unwrap();
    let shot = format!("--screenshot={}", d.join("control.png").display());
    let (log, urls) = visit(&browser, d, "control", &control, &[shot]);
    assert!(
        console_lines(&log)
            .iter()
            .any(|l| l.contains("control-marker")),
        "console detector: {log}"
    );
    assert_eq!(urls.len(), 2, "request detector: {urls:?}");

    let out = d.join("out");
    example(&out, &["--reproducible"]);
    let page = out.join("report.html");
    let png = d.join("report.png");
    let (log, urls) = visit(
        &browser,
        d,
        "png",
        &page,
        &[
            "--window-size=1200,3000".into(),
            format!("--screenshot={}", png.display()),
        ],
    );
    assert_eq!(console_lines(&log), Vec::<String>::new(), "console output");
    assert_eq!(urls, Vec::<String>::new(), "network requests");
    let png_bytes = std::fs::read(&png).unwrap();
    assert!(png_bytes.starts_with(b"\x89PNG") && png_bytes.len() > 20_000);
    let pdf = d.join("report.pdf");
    let (log, urls) = visit(
        &browser,
        d,
        "pdf",
        &page,
        &[
            format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer".into(),
        ],
    );
    assert_eq!(
        console_lines(&log),
        Vec::<String>::new(),
        "console output (print)"
    );
    assert!(urls.is_empty(), "{urls:?}");
    let pdf_bytes = std::fs::read(&pdf).unwrap();
    assert!(pdf_bytes.starts_with(b"%PDF") && pdf_bytes.len() > 10_000);
    // The DOM as the browser built it: every chart has marks, the headline tables rows.
    let o = headless(&browser, &d.join("dom.profile"))
        .arg("--dump-dom")
        .arg(format!(
            "file://{}",
            std::path::absolute(&page).unwrap().display()
        ))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&o.stdout).to_string();
    for (chart, mark) in [
        ("chart-bytes_per_day", "<rect x="),
        ("chart-records_per_day", "<circle"),
        ("chart-timeline", "<rect x="),
    ] {
        let at = dom
            .find(&format!("id=\"{chart}\""))
            .unwrap_or_else(|| panic!("{chart} missing"));
        let end = at + dom[at..].find("</figure>").unwrap();
        let marks = dom[at..end].matches(mark).count();
        assert!(marks >= 2, "{chart}: {marks} marks");
    }
    assert_eq!(html_table(&dom, "headline-periods").len(), 3);
    assert_eq!(html_table(&dom, "headline-days").len(), 3);
}

/// Whether `s` holds a Japanese character (kana, CJK ideographs, full-width forms).
fn has_japanese(s: &str) -> bool {
    s.chars()
        .any(|c| matches!(c as u32, 0x3000..=0x30FF | 0x4E00..=0x9FFF | 0xFF00..=0xFFEF))
}

/// The prose lines of a Markdown report: headings, paragraphs, list items, image captions
/// (tables and code blocks left out).
fn prose(md: &str) -> Vec<&str> {
    let mut code = false;
    md.lines()
        .filter(|l| {
            if l.starts_with("```") {
                code = !code;
                return false;
            }
            !code && !l.trim().is_empty() && !l.starts_with('|')
        })
        .collect()
}

#[test]
fn the_publication_table_and_the_report_in_japanese() {
    let dir = tempfile::tempdir().unwrap();
    let (en, ja) = (dir.path().join("en"), dir.path().join("ja"));
    example(&en, &["--reproducible"]);
    example(&ja, &["--reproducible", "--lang", "ja"]);
    // publication.csv: per period, the periods table's numbers and the staged records.
    let publ = csv(&en.join("publication.csv"));
    let periods = csv(&en.join("periods.csv"));
    let all: Vec<_> = periods.iter().filter(|p| p["host"] == "(all)").collect();
    assert_eq!(publ.len(), all.len());
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(en.join("manifest.json")).unwrap()).unwrap();
    let staged = manifest["model"]["records"].as_u64().unwrap();
    for (p, a) in publ.iter().zip(&all) {
        assert_eq!(p["period"], a["period"]);
        assert_eq!(u(p, "records_possibly_taken"), staged);
        assert_eq!(p["possibly_taken_source"], "recovered");
        for (x, y) in [
            ("transmissions_low", "records_low"),
            ("transmissions_point", "records_point"),
            ("transmissions_high", "records_high"),
            ("counted", "counted_records"),
            ("confirmed_distinct", "confirmed"),
            ("explained", "explained"),
            ("not_explained", "residual"),
        ] {
            assert_eq!(p[x], a[y], "{x} of {}", p["period"]);
        }
    }
    // The report's publication table: one column per period, the same numbers.
    let html = std::fs::read_to_string(en.join("report.html")).unwrap();
    let rows = html_table(&html, "publication");
    assert_eq!(rows.len(), 5, "{rows:?}");
    assert!(rows[1][0].starts_with("Records possibly taken"));
    for (i, a) in all.iter().enumerate() {
        assert_eq!(num(&rows[1][i + 1]), Some(staged));
        assert!(
            rows[2][i + 1].contains(&format!("at most {}", group_n(u(a, "records_high")))),
            "{:?}",
            rows[2]
        );
        assert_eq!(
            num(&rows[4][i + 1]),
            Some(u(a, "confirmed")),
            "{:?}",
            rows[4]
        );
    }
    // Japanese: every heading, paragraph, list item and caption is in Japanese, dates as
    // 2014年9月19日, and the same numbers; the English report has no Japanese.
    let md_ja = std::fs::read_to_string(ja.join("report.md")).unwrap();
    let md_en = std::fs::read_to_string(en.join("report.md")).unwrap();
    for l in prose(&md_ja) {
        assert!(has_japanese(l), "not in Japanese: {l}");
    }
    assert!(!has_japanese(&md_en));
    assert!(md_ja.contains("2014年9月19日"), "dates");
    assert!(md_ja.contains("通信量から推定した送信件数"));
    assert!(md_ja.contains("うち、ファイル内容と通信内容の一致により確認できた件数"));
    let html_ja = std::fs::read_to_string(ja.join("report.html")).unwrap();
    assert!(html_ja.contains("<html lang=\"ja\">"));
    let rows_ja = html_table(&html_ja, "publication");
    for (a, b) in rows.iter().zip(&rows_ja).skip(1) {
        // Same cells but the label and the wording of the range: the numbers agree.
        let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
        for (x, y) in a.iter().zip(b).skip(1) {
            assert_eq!(digits(x), digits(y), "{a:?} / {b:?}");
        }
    }
    // The tables are the same in both languages.
    for f in [
        "daily.csv",
        "periods.csv",
        "publication.csv",
        "confirmed_records.csv",
    ] {
        assert_eq!(
            std::fs::read(en.join(f)).unwrap(),
            std::fs::read(ja.join(f)).unwrap(),
            "{f}"
        );
    }
    // Rendered by a real browser, the Japanese text is drawn with a CJK font (Debian's
    // fonts-noto-cjk): the printed PDF embeds it.
    let Some(browser) = chromium() else {
        return;
    };
    let pdf = dir.path().join("ja.pdf");
    let (_, urls) = visit(
        &browser,
        dir.path(),
        "ja-pdf",
        &ja.join("report.html"),
        &[
            format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer".into(),
        ],
    );
    assert!(urls.is_empty(), "{urls:?}");
    let bytes = std::fs::read(&pdf).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.contains("NotoSansCJK")
            || text.contains("NotoSerifCJK")
            || text.contains("NotoSansJP"),
        "no CJK font embedded in the printed Japanese report (install fonts-noto-cjk)"
    );
}

/// `1234` → `1,234`.
fn group_n(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[test]
fn the_report_names_whose_records_by_key_and_shows_their_contents_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let (keys, rows) = (dir.path().join("keys"), dir.path().join("rows"));
    example(&keys, &["--reproducible"]);
    example(&rows, &["--reproducible", "--report-rows"]);
    let records = csv(&keys.join("confirmed_records.csv"));
    let confirmed: Vec<_> = records
        .iter()
        .filter(|r| r["level"] == "confirmed")
        .collect();
    assert!(!confirmed.is_empty());
    let staged = std::fs::read_to_string(testdata("example/recovered/stage.csv")).unwrap();
    let lines: Vec<&str> = staged.lines().collect();
    let first = confirmed[0];
    let row_text = lines[first["row"].parse::<usize>().unwrap() - 1];
    // The row is the record: the notification list points at it without a join.
    assert!(
        row_text.starts_with(&first["key"]),
        "{row_text} / {first:?}"
    );
    for (dir, shown) in [(&keys, false), (&rows, true)] {
        let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
        let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
        assert!(md.contains(&format!(
            "{} distinct records were confirmed by content",
            confirmed.len()
        )));
        assert!(md.contains("confirmed_records.csv is the notification list"));
        let t = html_table(&html, "records");
        assert_eq!(t[0][0], first["key"]);
        assert_eq!(t[0][2], first["row"]);
        // Personal data beyond the key (the e-mail address of the row) only with --report-rows.
        let email = row_text.rsplit(',').next().unwrap();
        assert!(email.contains('@'));
        assert_eq!(html.contains(email), shown, "{email} shown={shown}");
    }
}
