//! Real uploads on loopback: the Linux TCP stack, curl clients and a Python server on
//! 127.0.0.1, captured by `tcpdump -i lo` (tests/loopback/uploads.py). The truth comes from
//! the client side (the rows each client posted) and, for the upload the server reset, from
//! the wire as tcpflow reassembles it — not from exfilmeter.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::merged::ok;
use common::{bin, csv, skip, tool};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// Rows (1-based data rows) and bytes sent by one upload, by the truth.
struct Sent {
    name: String,
    rows: (u64, u64),
}

/// The client→server stream of the connection to `port`, as tcpflow reassembles it.
fn tcpflow_c2s(pcap: &Path, port: u64, dir: &Path) -> Vec<u8> {
    let out = dir.join("tcpflow");
    std::fs::create_dir_all(&out).unwrap();
    let st = Command::new("tcpflow")
        .arg("-r")
        .arg(pcap)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(st.status.success(), "tcpflow failed");
    let suffix = format!("-127.000.000.001.{port:05}");
    let f = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(&suffix))
        .expect("tcpflow wrote the reset connection's client stream");
    std::fs::read(f.path()).unwrap()
}

#[test]
fn real_uploads_on_loopback_are_counted_as_sent_and_named_whose() {
    if !(tool("tcpdump", "--version")
        && tool("curl", "--version")
        && tool("python3", "--version")
        && tool("tcpflow", "-V"))
    {
        return;
    }
    // The capture is retried (up to 3 times) when it was incomplete (tcpdump dropped packets,
    // the stream has gaps) or a check failed: the kernel's timing differs run to run (how much
    // of the reset upload left before the reset), and a failing capture is kept for study
    // (its path is printed). Every attempt must pass every check; three failures fail.
    let keep = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    for attempt in 1..=3 {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_path_buf();
        let outcome = std::panic::catch_unwind(|| capture_and_check(&d));
        let why = match outcome {
            Ok(Ok(())) => return,
            Ok(Err(why)) => why,
            Err(p) => p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a check failed".into()),
        };
        let saved = keep.join(format!("loopback-attempt-{attempt}.pcap"));
        let _ = std::fs::copy(dir.path().join("uploads.pcap"), &saved);
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "loopback attempt {attempt} failed ({why}); capture kept at {}",
            saved.display()
        );
        assert!(attempt < 3, "three loopback captures failed; last: {why}");
    }
}

/// Runs `tests/loopback/SCRIPT OUT_DIR` (at most `secs` seconds) and reads the truth.json it
/// wrote; `None` after [`skip`] when tcpdump may not capture on lo (not root, no CAP_NET_RAW).
fn run_script(script: &str, secs: u32, dir: &Path) -> Option<serde_json::Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/loopback")
        .join(script);
    let run = Command::new("timeout")
        .arg(secs.to_string())
        .arg("python3")
        .arg(&path)
        .arg(dir)
        .output()
        .unwrap();
    if !run.status.success() {
        let err = String::from_utf8_lossy(&run.stderr);
        if err.contains("tcpdump did not start") {
            skip(&format!("capturing on lo: {}", err.trim()));
            return None;
        }
        panic!("{script} failed: {err}");
    }
    Some(serde_json::from_str(&std::fs::read_to_string(dir.join("truth.json")).unwrap()).unwrap())
}

/// Captures the uploads into `dir` and checks exfilmeter's tables against the truth; `Err`
/// when the capture itself was incomplete (dropped packets, gaps).
fn capture_and_check(dir: &Path) -> Result<(), String> {
    let Some(truth) = run_script("uploads.py", 120, dir) else {
        return Ok(());
    };
    let pcap = dir.join("uploads.pcap");
    let dropped = truth["dropped_by_kernel"].as_u64().unwrap_or(0);
    if dropped > 0 {
        return Err(format!("tcpdump: {dropped} packets dropped by kernel"));
    }

    // The reset upload: what reached the wire is the truth of what was sent.
    let reset_port = truth["reset_port"].as_u64().unwrap();
    let wire = tcpflow_c2s(&pcap, reset_port, dir);
    let head_end = wire
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a request head")
        + 4;
    let body = &wire[head_end..];
    let reset_rows = body.iter().filter(|&&b| b == b'\n').count() as u64;
    let declared = truth["uploads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "reset")
        .and_then(|u| u["body_bytes"].as_u64())
        .unwrap();
    assert!(
        (body.len() as u64) < declared / 2,
        "the reset must leave most of the body unsent ({} of {declared})",
        body.len()
    );
    let mut sent: Vec<Sent> = Vec::new();
    for u in truth["uploads"].as_array().unwrap() {
        let name = u["name"].as_str().unwrap().to_string();
        let rows = match u["rows"].as_array() {
            Some(r) => (r[0].as_u64().unwrap(), r[1].as_u64().unwrap()),
            None => (901, 900 + reset_rows),
        };
        if name != "reset" {
            assert_eq!(u["curl_exit"], 0, "{name}: curl failed");
        }
        sent.push(Sent { name, rows });
    }
    let transmissions: u64 = sent.iter().map(|s| s.rows.1 - s.rows.0 + 1).sum();
    let distinct: BTreeSet<u64> = sent.iter().flat_map(|s| s.rows.0..=s.rows.1).collect();

    let out = dir.join("out");
    let st = bin()
        .arg("analyze")
        .arg(&pcap)
        .arg("--iocs")
        .arg(dir.join("iocs.txt"))
        .arg("--recovered")
        .arg(dir.join("staged.csv"))
        .args([
            "--record-format",
            "csv",
            "--header",
            "auto",
            "-q",
            "--reproducible",
        ])
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let daily = csv(&out.join("daily.csv"));
    let active: Vec<_> = daily.iter().filter(|r| r["stream_bytes"] != "0").collect();
    assert!(!active.is_empty());
    let n = |r: &std::collections::BTreeMap<String, String>, c: &str| -> u64 {
        r[c].parse().unwrap_or_else(|_| panic!("{c}: {:?}", r[c]))
    };
    let sum = |c: &str| -> u64 { active.iter().map(|r| n(r, c)).sum() };
    // A complete loopback capture has no gap; one with gaps lost frames in capture.
    if sum("gap_bytes") + sum("truncated_bytes") > 0 {
        return Err(format!(
            "{} gap bytes, {} truncated bytes in the capture",
            sum("gap_bytes"),
            sum("truncated_bytes")
        ));
    }
    // Every upload decodes (plain, gzip under the form Content-Type, zlib as octet-stream,
    // the reset one's sent part, the repeat, the multipart file part): counted = truth, and
    // the header line of the two uploads that carried it is not a record.
    assert_eq!(
        sum("counted_records"),
        transmissions,
        "counted transmissions"
    );
    assert_eq!(sum("records_low"), transmissions);
    assert_eq!(sum("records_high"), transmissions);
    // No day has application bytes above what was sent; the declared rest is reported.
    for r in &active {
        assert!(
            n(r, "app_bytes") <= n(r, "stream_bytes") + n(r, "gap_bytes"),
            "app_bytes above sent on {}",
            r["day"]
        );
    }
    assert_eq!(
        sum("unsent_declared_bytes"),
        declared - body.len() as u64,
        "unsent declared bytes of the reset upload"
    );
    // Whose: the distinct confirmed records are exactly the rows sent whole (line = row + 1,
    // the header being line 1), none of them the header.
    let confirmed: BTreeSet<u64> = csv(&out.join("confirmed_records.csv"))
        .iter()
        .filter(|r| r["level"] == "confirmed")
        .map(|r| r["row"].parse::<u64>().unwrap() - 1)
        .collect();
    assert!(!confirmed.contains(&0), "the header line was confirmed");
    assert_eq!(
        confirmed.len(),
        distinct.len(),
        "distinct confirmed; uploads: {:?}",
        sent.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    assert_eq!(confirmed, distinct);
    assert_eq!(sum("confirmed"), distinct.len() as u64);
    // Repeats are explained by the confirmed records: no transmission left unexplained.
    assert_eq!(sum("explained"), transmissions);
    assert_eq!(sum("residual"), 0);
    Ok(())
}

/// A real DTLS 1.2 handshake on loopback (OpenSSL's s_client naming a server to s_server,
/// tests/loopback/dtls.py): tshark reads the server name from the client's ClientHello, and
/// exfilmeter attributes the flow by it (`sni`, evidence the first ClientHello), with the
/// client the one that sent it although the server's port is an ephemeral one.
#[test]
fn a_real_dtls_handshake_is_attributed_by_its_server_name_with_the_right_client() {
    if !(tool("tcpdump", "--version")
        && tool("openssl", "version")
        && tool("python3", "--version")
        && tool("tshark", "-v"))
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let Some(truth) = run_script("dtls.py", 60, d) else {
        return;
    };
    assert_eq!(truth["client_exit"], 0, "s_client failed: {truth}");
    assert_eq!(
        truth["dropped_by_kernel"], 0,
        "tcpdump dropped packets: {truth}"
    );
    let port = truth["port"].as_u64().unwrap();
    let sni = truth["sni"].as_str().unwrap();
    let pcap = d.join("dtls.pcap");
    // tshark's reading (DTLS decoded on the server's port): the ClientHellos and their names.
    let ts = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(&pcap)
        .args(["-d", &format!("udp.port=={port},dtls")])
        .args(["-Y", "dtls.handshake.type == 1", "-T", "fields"])
        .args(["-e", "frame.number", "-e", "udp.dstport"])
        .args(["-e", "dtls.handshake.extensions_server_name"])
        .output()
        .unwrap();
    let hellos: Vec<Vec<String>> = String::from_utf8_lossy(&ts.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect();
    assert!(!hellos.is_empty(), "tshark sees no ClientHello");
    for h in &hellos {
        assert_eq!(h[1], port.to_string(), "a ClientHello goes to the server");
        assert_eq!(h[2], sni, "tshark's server name");
    }
    let iocs = d.join("iocs.txt");
    std::fs::write(&iocs, format!("{sni}\n")).unwrap();
    let out = d.join("flows.csv");
    let o = bin()
        .args(["flows", "-q", "--iocs"])
        .arg(&iocs)
        .arg(&pcap)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    ok(&o, 0, "flows");
    let rows = csv(&out);
    assert!(!rows.is_empty());
    for r in &rows {
        assert_eq!(r["server_port"], port.to_string(), "{r:?}");
        assert_eq!(r["role_rule"], "content", "{r:?}");
        assert_eq!(r["ioc_via"], "sni", "{r:?}");
        assert_eq!(r["server_name"], sni, "{r:?}");
        assert_eq!(
            r["evidence_frame"],
            format!("dtls.pcap#{}", hellos[0][0]),
            "{r:?}"
        );
    }
}
