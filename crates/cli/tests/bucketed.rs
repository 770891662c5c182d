//! A run spread over buckets — `split`, `analyze --partial` per bucket, `merge` — gives the
//! outputs of one `analyze` byte for byte (with `--reproducible`): on the bundled example
//! into 2, 3 and 7 buckets, on the generated scenarios, with a DNS answer and the flow it
//! names in different buckets, with a flow that spans two capture files, and with damaged
//! captures whose errors (file and byte offset) reach the merged report. The reference is
//! the single run, whose own numbers the analyze and oracle tests check.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::merged::{captures_of, example_opts, ok, same_folder, scenario_opts, single};
use common::{bin, csv, scenario, shared, testdata};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The same run in `buckets` buckets: split, one `analyze --partial` per bucket, merge.
fn bucketed(
    work: &Path,
    opts: &[OsString],
    captures: &[PathBuf],
    buckets: usize,
    want: i32,
) -> PathBuf {
    let splits = work.join(format!("split{buckets}"));
    let o = bin()
        .args(["split", "-q", "-b", &buckets.to_string(), "-o"])
        .arg(&splits)
        .args(captures)
        .output()
        .unwrap();
    ok(&o, want, "split");
    let mut partials = Vec::new();
    for b in 0..buckets {
        let p = work.join(format!("partial{buckets}-{b}"));
        let o = bin()
            .args(["analyze", "-q"])
            .args(opts)
            .arg("--partial")
            .arg(&p)
            .args(["--bucket", &b.to_string()])
            .arg(&splits)
            .output()
            .unwrap();
        ok(&o, want, "analyze --partial");
        assert!(p.join("flows.bin").is_file() && p.join("partial.json").is_file());
        partials.push(p);
    }
    let out = work.join(format!("merged{buckets}"));
    let o = bin()
        .args(["merge", "-q", "--reproducible", "--splits"])
        .arg(&splits)
        .args(opts)
        .arg("-o")
        .arg(&out)
        .args(&partials)
        .output()
        .unwrap();
    ok(&o, want, "merge");
    out
}

#[test]
fn example_in_2_3_and_7_buckets_merges_to_the_single_run_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let opts = example_opts(&dir.path().join("cache"));
    let captures = [testdata("example/capture.pcap")];
    let one = single(dir.path(), &opts, &captures, 0);
    for n in [2, 3, 7] {
        let merged = bucketed(dir.path(), &opts, &captures, n, 0);
        same_folder(&one, &merged);
    }
    // Not a vacuous comparison: the run found records and traffic.
    let daily = csv(&one.join("daily.csv"));
    assert!(daily.iter().any(|r| r["stream_bytes"] != "0"));
    assert!(csv(&one.join("confirmed_records.csv")).len() > 10);
}

/// Which bucket of `splits` (file `index`) holds frame `frame` of that file.
fn bucket_of(splits: &Path, index: u32, frame: u64) -> usize {
    let dir = splits.join(format!("file={index:06}"));
    let needle = format!("exfilmeter file={index} frame={frame} offset=");
    let mut found = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(b) = name
            .strip_prefix("bucket=")
            .and_then(|s| s.strip_suffix(".pcapng"))
        else {
            continue;
        };
        let bytes = std::fs::read(e.path()).unwrap();
        if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
            found.push(b.parse::<usize>().unwrap());
        }
    }
    assert_eq!(found.len(), 1, "frame {frame} of file {index}: {found:?}");
    found[0]
}

#[test]
fn scenarios_merge_to_the_single_run_and_dns_answers_reach_other_buckets() {
    let mut across = 0;
    for name in ["small-s1", "small-s2-pcapng-sll"] {
        let Some(d) = scenario(name) else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let opts = scenario_opts(&d, &dir.path().join("cache"));
        let captures = captures_of(&d);
        let one = single(dir.path(), &opts, &captures, 0);
        let merged = bucketed(dir.path(), &opts, &captures, 3, 0);
        same_folder(&one, &merged);
        // Flows attributed through a DNS answer whose response landed in another bucket
        // than the flow: the bucket task learnt it from the splits' DNS files.
        let names: Vec<String> = captures
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
            .collect();
        let frame = |r: &str| -> (u32, u64) {
            let (file, n) = r.rsplit_once('#').unwrap();
            let i = names.iter().position(|x| x == file).unwrap();
            (i as u32, n.parse().unwrap())
        };
        for row in csv(&merged.join("ioc_flows.csv")) {
            let Some(ev) = row["evidence"]
                .split(';')
                .find_map(|e| e.strip_prefix("dns:"))
            else {
                continue;
            };
            let (fi, ff) = frame(&row["first_frame"]);
            let (di, df) = frame(ev);
            let splits = dir.path().join("split3");
            if bucket_of(&splits, fi, ff) != bucket_of(&splits, di, df) {
                across += 1;
            }
        }
    }
    assert!(
        across > 0,
        "no DNS-attributed flow whose answer is in another bucket"
    );
}

/// Copies a classic pcap into two files, frames 1..=n and the rest.
fn cut_pcap(src: &Path, n: usize, a: &Path, b: &Path) {
    let bytes = std::fs::read(src).unwrap();
    let (head, mut rest) = bytes.split_at(24);
    assert_eq!(&head[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian pcap");
    let mut one = head.to_vec();
    let mut two = head.to_vec();
    let mut i = 0;
    while rest.len() >= 16 {
        let cap = u32::from_le_bytes(rest[8..12].try_into().unwrap()) as usize;
        let (rec, tail) = rest.split_at(16 + cap);
        i += 1;
        if i <= n {
            one.extend_from_slice(rec);
        } else {
            two.extend_from_slice(rec);
        }
        rest = tail;
    }
    std::fs::write(a, one).unwrap();
    std::fs::write(b, two).unwrap();
}

#[test]
fn a_flow_spanning_two_capture_files_is_one_flow_in_the_merged_run() {
    let dir = tempfile::tempdir().unwrap();
    let opts = example_opts(&dir.path().join("cache"));
    // The example's longest IOC flow, cut in the middle.
    let whole = single(dir.path(), &opts, &[testdata("example/capture.pcap")], 0);
    let rows = csv(&whole.join("ioc_flows.csv"));
    let num = |s: &str| -> usize { s.rsplit_once('#').unwrap().1.parse().unwrap() };
    let longest = rows
        .iter()
        .max_by_key(|r| num(&r["last_frame"]) - num(&r["first_frame"]))
        .unwrap();
    let (first, last) = (num(&longest["first_frame"]), num(&longest["last_frame"]));
    assert!(last > first + 2, "{longest:?}");
    let caps = dir.path().join("caps");
    std::fs::create_dir_all(&caps).unwrap();
    let (a, b) = (caps.join("part-1.pcap"), caps.join("part-2.pcap"));
    cut_pcap(
        &testdata("example/capture.pcap"),
        (first + last) / 2,
        &a,
        &b,
    );
    let work = dir.path().join("two");
    std::fs::create_dir_all(&work).unwrap();
    let captures = [a, b];
    let one = single(&work, &opts, &captures, 0);
    let spanning = csv(&one.join("ioc_flows.csv"))
        .into_iter()
        .filter(|r| r["first_frame"].starts_with("part-1") && r["last_frame"].starts_with("part-2"))
        .count();
    assert!(spanning >= 1, "a flow spans both files");
    let merged = bucketed(&work, &opts, &captures, 3, 0);
    same_folder(&one, &merged);
}

#[test]
fn damaged_captures_carry_their_errors_into_the_merged_report() {
    let (Some(cut), Some(garbage)) = (
        shared("damaged/cut-mid-packet.pcap"),
        shared("damaged/garbage-middle.pcap"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let opts = example_opts(&dir.path().join("cache"));
    let captures = [testdata("example/capture.pcap"), cut, garbage];
    let one = single(dir.path(), &opts, &captures, 1);
    let merged = bucketed(dir.path(), &opts, &captures, 2, 1);
    same_folder(&one, &merged);
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(merged.join("manifest.json")).unwrap())
            .unwrap();
    let errors: Vec<String> = m["captures"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["errors"].as_array().unwrap().clone())
        .map(|e| e.as_str().unwrap().to_string())
        .collect();
    assert!(errors.len() >= 2, "{errors:?}");
    assert!(errors.iter().all(|e| e.contains("offset")), "{errors:?}");
    let report = std::fs::read_to_string(merged.join("report.md")).unwrap();
    assert!(report.contains(&errors[0]), "the report names the damage");
}

#[test]
fn a_merge_refuses_partials_of_other_settings_or_missing_buckets_and_a_bad_bucket_file() {
    let dir = tempfile::tempdir().unwrap();
    let opts = example_opts(&dir.path().join("cache"));
    let captures = [testdata("example/capture.pcap")];
    bucketed(dir.path(), &opts, &captures, 2, 0);
    let splits = dir.path().join("split2");
    let p = |b: usize| dir.path().join(format!("partial2-{b}"));
    let merge = |extra: &[&str], partials: &[PathBuf]| {
        bin()
            .args(["merge", "-q", "--splits"])
            .arg(&splits)
            .args(&opts)
            .args(extra)
            .arg("-o")
            .arg(dir.path().join("refused"))
            .args(partials)
            .output()
            .unwrap()
    };
    let o = merge(&["--tz", "UTC"], &[p(0), p(1)]);
    ok(&o, 2, "other time zone");
    assert!(String::from_utf8_lossy(&o.stderr).contains("tz"), "{o:?}");
    let o = merge(&[], &[p(0)]);
    ok(&o, 2, "a bucket missing");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("bucket 1 is missing")
            || String::from_utf8_lossy(&o.stderr).contains("1 of the 2 buckets"),
        "{o:?}"
    );
    let o = merge(&[], &[p(0), p(0)]);
    ok(&o, 2, "a bucket twice");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("twice"),
        "{o:?}"
    );
    // A partial's flows.bin cut inside a record: the merge names the file and the offset of
    // the record, and writes no report.
    let flows = p(1).join("flows.bin");
    let whole = std::fs::read(&flows).unwrap();
    std::fs::write(&flows, &whole[..whole.len() - 3]).unwrap();
    let o = merge(&[], &[p(0), p(1)]);
    ok(&o, 2, "cut flows.bin");
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("flows.bin: at byte offset"), "{e}");
    assert!(!dir.path().join("refused/report.html").exists());
    assert!(!dir.path().join("refused/flows.parquet").exists());
    std::fs::write(&flows, &whole).unwrap();
    // A bucket file cut inside a block: the bucket task names the file and the offset.
    let f = splits.join("file=000000").join("bucket=00001.pcapng");
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() - 10]).unwrap();
    let o = bin()
        .args(["analyze", "-q"])
        .args(&opts)
        .arg("--partial")
        .arg(dir.path().join("again"))
        .args(["--bucket", "1"])
        .arg(&splits)
        .output()
        .unwrap();
    ok(&o, 2, "cut bucket file");
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("bucket=00001.pcapng") && e.contains("byte offset"),
        "{e}"
    );
}

/// A split folder reused for a smaller run still holds the earlier run's later `file=`
/// folders: the bucket task refuses the set (exit 2) instead of analysing captures that are
/// not the run's.
#[test]
fn a_split_folder_holding_another_run_s_files_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let opts = example_opts(&dir.path().join("cache"));
    let (a, b) = (
        dir.path().join("part-1.pcap"),
        dir.path().join("part-2.pcap"),
    );
    cut_pcap(&testdata("example/capture.pcap"), 300, &a, &b);
    let splits = dir.path().join("splits");
    let split = |files: &[&Path]| {
        bin()
            .args(["split", "-q", "-b", "2", "-o"])
            .arg(&splits)
            .args(files)
            .output()
            .unwrap()
    };
    ok(&split(&[&a, &b]), 0, "split of two files");
    let task = || {
        bin()
            .args(["analyze", "-q"])
            .args(&opts)
            .arg("--partial")
            .arg(dir.path().join("p0"))
            .args(["--bucket", "0"])
            .arg(&splits)
            .output()
            .unwrap()
    };
    ok(&task(), 0, "the two-file run");
    ok(&split(&[&a]), 0, "split of one file into the same folder");
    let o = task();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("says the run has 1 capture(s), 2 are given"),
        "{err}"
    );
}

/// An Ethernet + IPv4 frame: `id`, `more` fragments, fragment `offset8` (8-byte units), the
/// IP payload `data` (a UDP header and payload in the first fragment).
fn ipv4_frame(
    src: [u8; 4],
    dst: [u8; 4],
    id: u16,
    more: bool,
    offset8: u16,
    data: &[u8],
) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00];
    let total = 20 + data.len();
    let flags = if more { 0x2000 } else { 0 } | offset8;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&(total as u16).to_be_bytes());
    ip.extend_from_slice(&id.to_be_bytes());
    ip.extend_from_slice(&flags.to_be_bytes());
    ip.extend_from_slice(&[64, 17, 0, 0]);
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let mut sum = 0u32;
    for c in ip.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(data);
    f
}

/// A little-endian pcap (Ethernet) of `frames`, one every `step_ms` from 2014-09-19 00:00 UTC.
fn write_pcap(path: &Path, frames: &[Vec<u8>], step_ms: u32) {
    let mut out = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (i, f) in frames.iter().enumerate() {
        let ms = i as u32 * step_ms;
        out.extend_from_slice(&(1_411_084_800 + ms / 1000).to_le_bytes());
        out.extend_from_slice(&((ms % 1000) * 1000).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    std::fs::write(path, out).unwrap();
}

/// Fragmented UDP datagrams between the same two hosts with the same IP ID within seconds,
/// to ports that hash to different buckets: every bucket's decoder must hold what one run's
/// holds (the completing frame reaches the other buckets as `packet=done`), or a bucket joins
/// a later datagram's fragments to a stale one and analyses a packet no run saw.
#[test]
fn fragmented_datagrams_with_a_reused_ip_id_give_the_single_run() {
    let dir = tempfile::tempdir().unwrap();
    let (client, server) = ([10, 0, 0, 5], [192, 0, 2, 99]);
    let mut frames = Vec::new();
    for i in 0..24u16 {
        // A UDP datagram of 8 + 40 bytes to port 5000 + i, cut into two fragments; the IP ID
        // is the same for every one of them.
        let len = 48u16;
        let mut udp = Vec::new();
        udp.extend_from_slice(&(40_000 + i).to_be_bytes());
        udp.extend_from_slice(&(5_000 + i).to_be_bytes());
        udp.extend_from_slice(&len.to_be_bytes());
        udp.extend_from_slice(&[0, 0]);
        udp.extend((0..40).map(|j| (i as u8).wrapping_mul(7).wrapping_add(j)));
        frames.push(ipv4_frame(client, server, 7, true, 0, &udp[..24]));
        frames.push(ipv4_frame(client, server, 7, false, 3, &udp[24..]));
    }
    let cap = dir.path().join("frag.pcap");
    write_pcap(&cap, &frames, 500);
    let iocs = dir.path().join("iocs.txt");
    std::fs::write(&iocs, "192.0.2.99\n").unwrap();
    let mut opts = vec![
        OsString::from("--iocs"),
        iocs.into(),
        "--tz".into(),
        "UTC".into(),
    ];
    opts.extend(["--cache-dir".into(), dir.path().join("cache").into()]);
    let one = single(dir.path(), &opts, std::slice::from_ref(&cap), 0);
    let flows = csv(&one.join("ioc_flows.csv"));
    assert_eq!(flows.len(), 24, "one flow per datagram in one run");
    let merged = bucketed(dir.path(), &opts, &[cap], 2, 0);
    same_folder(&one, &merged);
    // The test reached the case it is about: completing frames copied to the other bucket.
    let sj: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("split2/file=000000/split.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(sj["completed"], 24);
    assert_eq!(sj["held"], 24);
    let written: Vec<u64> = sj["written"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["packets"].as_u64().unwrap())
        .collect();
    assert!(
        written.iter().all(|&n| n > 0),
        "both buckets hold datagrams: {written:?}"
    );
}

#[test]
fn a_capture_that_cannot_be_opened_is_named_by_its_path_as_one_run_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let opts = example_opts(&dir.path().join("cache"));
    let gone = dir.path().join("sensor-b").join("gone.pcap");
    let captures = [testdata("example/capture.pcap"), gone.clone()];
    let one = bin()
        .args(["analyze", "-q", "--reproducible"])
        .args(&opts)
        .arg("-o")
        .arg(dir.path().join("one"))
        .args(&captures)
        .output()
        .unwrap();
    ok(&one, 1, "analyze");
    let merged = bucketed(dir.path(), &opts, &captures, 2, 1);
    same_folder(&dir.path().join("one"), &merged);
    // The merge again, for what it tells on standard error.
    let o = bin()
        .args(["merge", "-q", "--reproducible", "--splits"])
        .arg(dir.path().join("split2"))
        .args(&opts)
        .arg("-o")
        .arg(dir.path().join("again"))
        .args([dir.path().join("partial2-0"), dir.path().join("partial2-1")])
        .output()
        .unwrap();
    ok(&o, 1, "merge");
    let line = |err: &[u8]| -> String {
        String::from_utf8_lossy(err)
            .lines()
            .find(|l| l.contains("gone.pcap"))
            .unwrap_or_default()
            .to_string()
    };
    let (ours, theirs) = (line(&o.stderr), line(&one.stderr));
    assert!(ours.contains(&gone.display().to_string()), "{ours}");
    assert_eq!(ours, theirs, "the merge names it as one run does");
}

#[test]
fn tunnels_mdns_and_dtls_of_the_peer_traces_merge_to_the_single_run() {
    let Some(traces) = shared("peer-suites/zeek/traces") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Tunnel ends as indicators (GRE within GRE, a Teredo server and relay, a VXLAN end), an
    // mDNS capture whose answers every bucket must learn, and WebRTC's STUN-then-DTLS flow.
    let iocs = dir.path().join("iocs.txt");
    std::fs::write(&iocs, common::TUNNEL_ENDS).unwrap();
    let opts: Vec<OsString> = vec!["--iocs".into(), iocs.into_os_string()];
    let captures: Vec<PathBuf> = [
        "tunnels/gre-within-gre.pcap",
        "tunnels/Teredo.pcap",
        "tunnels/vxlan-encapsulated-http.pcap",
        "dns/mdns-no-assoc.pcap",
        "tls/webrtc-stun.pcap",
    ]
    .iter()
    .map(|t| traces.join(t))
    .collect();
    let one = single(dir.path(), &opts, &captures, 0);
    let merged = bucketed(dir.path(), &opts, &captures, 3, 0);
    same_folder(&one, &merged);
    let rows = csv(&merged.join("ioc_flows.csv"));
    assert!(
        rows.iter().filter(|r| r["via"] == "tunnel").count() >= 4,
        "{rows:?}"
    );
    // The tunnels table (one per capture file, joined in the run's order) is in the
    // comparison: GRE, Teredo and VXLAN rows.
    let tunnels = csv(&merged.join("tunnels.csv"));
    for kind in ["gre", "teredo", "vxlan"] {
        assert!(
            tunnels.iter().any(|r| r["kind"] == kind),
            "no {kind} row: {tunnels:?}"
        );
    }
}
