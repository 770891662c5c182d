//! Oracle tests on the real public captures in `../shared/realpcaps/`: packet counts,
//! first/last timestamps, formats and link types against capinfos (capinfos.json), and
//! per-conversation TCP frames and frame bytes per direction against tshark's exact field
//! export (`*.conv.exact.tsv`).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{capinfos_ns, shared};
use exfilmeter_ingest::{
    CaptureReader, Decoded, Decoder, FileId, FileSummary, HashAlgo, Transport, Window,
};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;

/// Files where capinfos' timestamps are not a valid oracle, and why.
fn ts_exempt(name: &str) -> Option<&'static str> {
    match name {
        // Interface 1 stores 64-bit tick counts near 2^64 µs (year 586524 as capinfos prints
        // them as unsigned); we report those frames as timestamp errors instead.
        "ppp_pcapng-example.pcapng" => Some("bogus interface-1 timestamps"),
        // Fractions ≥ 10^9 ns: capinfos prints "1418145370.-2147483648".
        "tcpdump_timestamp_invalid_nano.pcap" => Some("invalid fraction"),
        _ => None,
    }
}

fn summarize(path: &Path) -> FileSummary {
    let mut d = Decoder::default();
    FileSummary::read(
        path,
        "x",
        FileId(0),
        HashAlgo::Sha256,
        Window::default(),
        &mut d,
        |_| {},
    )
    .unwrap()
}

#[test]
fn counts_timestamps_formats_and_link_types_agree_with_capinfos() {
    let Some(dir) = shared("realpcaps") else {
        return;
    };
    let ci: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("capinfos.json")).unwrap()).unwrap();
    let files = ci["files"].as_object().unwrap();
    assert!(
        files.len() >= 40,
        "capinfos.json lists {} files",
        files.len()
    );
    let mut checked_ts = 0;
    for (name, c) in files {
        let s = summarize(&dir.join(name));
        assert_eq!(s.packets, c["packets"].as_u64().unwrap(), "{name}: packets");
        assert_eq!(s.format, c["file_type"].as_str().unwrap(), "{name}: format");
        let enc = c["encapsulation"].as_str().unwrap();
        let links: Vec<&str> = {
            let mut v: Vec<&str> = s.interfaces.iter().map(|i| i.link.name()).collect();
            v.dedup();
            v.sort();
            v.dedup();
            v
        };
        if enc == "per-packet" {
            assert!(
                links.len() > 1,
                "{name}: expected several link types, got {links:?}"
            );
        } else {
            assert_eq!(links, vec![enc], "{name}: link types");
        }
        if let Some(why) = ts_exempt(name) {
            eprintln!("{name}: timestamps not compared ({why})");
            continue;
        }
        let (first, last) = (
            c["first_ts"].as_str().unwrap(),
            c["last_ts"].as_str().unwrap(),
        );
        if first == "n/a" {
            // capinfos prints n/a for empty files and for files with untimed (SPB) frames.
            assert!(
                s.packets == 0 || s.untimed > 0,
                "{name}: capinfos has no times"
            );
            continue;
        }
        assert_eq!(
            s.first_ts.map(|t| t.0),
            capinfos_ns(first),
            "{name}: first_ts"
        );
        assert_eq!(s.last_ts.map(|t| t.0), capinfos_ns(last), "{name}: last_ts");
        checked_ts += 1;
    }
    assert!(
        checked_ts >= 35,
        "only {checked_ts} files had timestamps compared"
    );
}

#[test]
fn sha256_and_size_match_the_manifest() {
    let Some(dir) = shared("realpcaps") else {
        return;
    };
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.md")).unwrap();
    let mut checked = 0;
    let mut current: Option<String> = None;
    for line in manifest.lines() {
        if let Some(n) = line.strip_prefix("## ") {
            current = Some(n.trim().to_string());
        } else if let (Some(name), Some(rest)) = (&current, line.strip_prefix("- Size: ")) {
            // "- Size: 6833698 bytes; sha256 `47bf…`"
            let size: u64 = rest.split_whitespace().next().unwrap().parse().unwrap();
            let sha = rest.split('`').nth(1).unwrap();
            let s = summarize(&dir.join(name));
            assert_eq!(s.size, Some(size), "{name}: size");
            assert_eq!(s.sha256.as_deref(), Some(sha), "{name}: sha256");
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} manifest entries checked");
}

#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
struct Dir {
    frames: u64,
    bytes: u64,
}

/// Groups decoded TCP packets by address:port pair like `tshark -z conv,tcp`
/// (A = first-seen source).
fn conversations(path: &Path) -> HashMap<(SocketAddr, SocketAddr), (Dir, Dir)> {
    let mut r = CaptureReader::open(path, FileId(0), HashAlgo::None).unwrap();
    let mut d = Decoder::default();
    let mut conv: HashMap<(SocketAddr, SocketAddr), (Dir, Dir)> = HashMap::new();
    while let Some(frame) = r.next_frame() {
        if let Decoded::Packet(p) = d.decode(&frame) {
            if let Transport::Tcp(t) = p.transport {
                let s = SocketAddr::new(p.ip.src, t.src_port);
                let dst = SocketAddr::new(p.ip.dst, t.dst_port);
                let (key, forward) = if conv.contains_key(&(s, dst)) {
                    ((s, dst), true)
                } else if conv.contains_key(&(dst, s)) {
                    ((dst, s), false)
                } else {
                    ((s, dst), true)
                };
                let e = conv.entry(key).or_default();
                let side = if forward { &mut e.0 } else { &mut e.1 };
                side.frames += 1;
                side.bytes += u64::from(p.orig_len);
            }
        }
    }
    conv
}

#[test]
fn tcp_conversations_agree_with_tshark_exact_export() {
    let Some(dir) = shared("realpcaps") else {
        return;
    };
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".conv.exact.tsv"))
        .collect();
    files.sort();
    assert!(files.len() >= 25, "only {} oracle files", files.len());
    let mut convs_checked = 0;
    for tsv in files {
        let cap = tsv
            .to_string_lossy()
            .trim_end_matches(".conv.exact.tsv")
            .to_string();
        let name = Path::new(&cap)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        let ours = conversations(Path::new(&cap));
        let text = std::fs::read_to_string(&tsv).unwrap();
        let mut expected = 0;
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("A\t"))
        {
            let c: Vec<&str> = line.split('\t').collect();
            let a: SocketAddr = c[0].parse().unwrap();
            let b: SocketAddr = c[1].parse().unwrap();
            let want_ab = Dir {
                frames: c[2].parse().unwrap(),
                bytes: c[3].parse().unwrap(),
            };
            let want_ba = Dir {
                frames: c[5].parse().unwrap(),
                bytes: c[6].parse().unwrap(),
            };
            let got = ours
                .get(&(a, b))
                .copied()
                .or_else(|| ours.get(&(b, a)).map(|(x, y)| (*y, *x)))
                .unwrap_or_else(|| panic!("{name}: conversation {a} <-> {b} not found"));
            assert_eq!(got.0, want_ab, "{name}: {a} -> {b}");
            assert_eq!(got.1, want_ba, "{name}: {b} -> {a}");
            expected += 1;
            convs_checked += 1;
        }
        assert_eq!(ours.len(), expected, "{name}: number of TCP conversations");
    }
    assert!(
        convs_checked > 600,
        "only {convs_checked} conversations compared"
    );
}
