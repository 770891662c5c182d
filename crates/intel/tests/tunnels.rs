//! Attribution by a tunnel's end, against tshark on real tunnelled captures of the peer suites
//! (`../shared/peer-suites/zeek/traces`): with one outer address of a tunnel as the only
//! indicator, the flows attributed `via tunnel` carry exactly the frames tshark shows inside a
//! tunnel with that address in its outermost IP header, or in the innermost tunnel's header
//! when tunnels are nested (frames and bytes equal), and none is attributed otherwise.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::Keep;
use exfilmeter_flow::{Direction, FlowRecord, Tracker, TrackerConfig};
use exfilmeter_ingest::{CaptureReader, Decoded, Decoder, FileId, HashAlgo};
use exfilmeter_intel::{Attributor, Internal, IocSet, Verdict, Via};
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

/// One frame as tshark dissects it: its length, its outermost IP header when it has more than
/// one, and its innermost flow (protocol, then both endpoints in order; no ports for ICMP).
struct Dissected {
    len: u64,
    outer: Option<(IpAddr, IpAddr)>,
    /// The innermost tunnel's IP header (the one before the last) when tunnels are nested.
    inner: Option<(IpAddr, IpAddr)>,
    flow: Option<InnerFlow>,
    /// One IP header only: its addresses.
    plain: Option<(IpAddr, IpAddr)>,
}

type InnerFlow = (u8, [(IpAddr, u16); 2]);

fn tshark(path: &Path) -> Vec<Dissected> {
    let out = Command::new("tshark")
        // Teredo between a client and its relay runs on ports other than 3544, which tshark
        // decodes only with its heuristic on (as exfilmeter does, decision 0004).
        .args(["-o", "teredo.heuristic_teredo:TRUE", "-n", "-r"])
        .arg(path)
        .args(["-T", "fields", "-E", "separator=/t", "-E", "occurrence=a"])
        .args(["-e", "frame.len", "-e", "frame.protocols"])
        .args(["-e", "ip.src", "-e", "ip.dst", "-e", "ip.proto"])
        .args(["-e", "ipv6.src", "-e", "ipv6.dst", "-e", "ipv6.nxt"])
        .args(["-e", "tcp.srcport", "-e", "tcp.dstport"])
        .args(["-e", "udp.srcport", "-e", "udp.dstport"])
        .output()
        .expect("tshark runs");
    assert!(out.status.success(), "tshark failed on {}", path.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            let col = |i: usize| -> Vec<&str> {
                c.get(i)
                    .map(|s| s.split(',').filter(|x| !x.is_empty()).collect())
                    .unwrap_or_default()
            };
            // The IP headers in the order frame.protocols lists them.
            let (mut v4, mut v6) = (0, 0);
            let mut ips: Vec<(IpAddr, IpAddr, u8)> = Vec::new();
            for layer in c.get(1).copied().unwrap_or("").split(':') {
                let (src, dst, proto, k) = match layer {
                    "ip" => (2, 3, 4, &mut v4),
                    "ipv6" => (5, 6, 7, &mut v6),
                    _ => continue,
                };
                let at = |i: usize| col(i).get(*k).map(|s| s.to_string());
                if let (Some(a), Some(b), Some(p)) = (at(src), at(dst), at(proto)) {
                    ips.push((
                        a.parse().unwrap(),
                        b.parse().unwrap(),
                        p.parse().unwrap_or(0),
                    ));
                }
                *k += 1;
            }
            let ports = |s: usize, d: usize| -> (u16, u16) {
                let last = |i: usize| col(i).last().and_then(|x| x.parse().ok()).unwrap_or(0);
                (last(s), last(d))
            };
            let flow = ips.last().map(|&(a, b, proto)| {
                let (sp, dp) = match proto {
                    6 => ports(8, 9),
                    17 => ports(10, 11),
                    _ => (0, 0),
                };
                let mut ends = [(a, sp), (b, dp)];
                ends.sort();
                (proto, ends)
            });
            Dissected {
                len: col(0)[0].parse().unwrap(),
                outer: (ips.len() >= 2).then(|| (ips[0].0, ips[0].1)),
                inner: (ips.len() >= 3).then(|| (ips[ips.len() - 2].0, ips[ips.len() - 2].1)),
                plain: (ips.len() == 1).then(|| (ips[0].0, ips[0].1)),
                flow,
            }
        })
        .collect()
}

/// Every flow of `path`, with `ioc` as the only indicator.
fn attribute(path: &Path, ioc: IpAddr) -> Vec<(FlowRecord, Verdict)> {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("iocs.txt");
    std::fs::write(&list, format!("{ioc}\n")).unwrap();
    let set = IocSet::load(&[list], false).unwrap();
    let mut tracker = Tracker::new(TrackerConfig::default());
    let mut decoder = Decoder::default();
    let mut a = Attributor::new(&set, Internal::default(), 3600, Keep::default());
    let mut r = CaptureReader::open(path, FileId(0), HashAlgo::None).unwrap();
    while let Some(frame) = r.next_frame() {
        if let Decoded::Packet(p) = decoder.decode(&frame) {
            tracker.packet(&p, &mut a);
        }
    }
    tracker.finish(&mut a);
    a.inner.0
}

#[test]
fn a_tunnel_end_as_indicator_attributes_exactly_the_frames_tshark_shows_in_that_tunnel() {
    let Some(traces) = exfilmeter_testkit::shared("peer-suites/zeek/traces") else {
        return;
    };
    if !exfilmeter_testkit::tool("tshark", "-v") {
        return;
    }
    let mut checked = 0;
    for name in [
        "tunnels/vxlan-encapsulated-http.pcap",
        "tunnels/gre-within-gre.pcap",
        "tunnels/Teredo.pcap",
        "tunnels/geneve.pcap",
        "tunnels/gre-over-udp-4754.pcap",
        "tunnels/ayiya3.pcap",
        "tunnels/gtp/gtp7_ipv6.pcap",
        "erspanII.pcap",
    ] {
        let path = traces.join(name);
        let frames = tshark(&path);
        let ends: BTreeSet<IpAddr> = frames
            .iter()
            .flat_map(|f| [f.outer, f.inner])
            .flatten()
            .flat_map(|(a, b)| [a, b])
            .collect();
        assert!(!ends.is_empty(), "{name}: tshark shows no tunnel");
        for ioc in ends {
            // The inner flows that travelled in a tunnel with that end, and all their frames
            // (a flow is attributed whole, whichever way its other frames went).
            let through: BTreeSet<InnerFlow> = frames
                .iter()
                .filter(|f| {
                    [f.outer, f.inner]
                        .iter()
                        .flatten()
                        .any(|&(a, b)| a == ioc || b == ioc)
                })
                .filter_map(|f| f.flow)
                .collect();
            let (want_frames, want_bytes) = frames
                .iter()
                .filter(|f| f.flow.is_some_and(|k| through.contains(&k)))
                .fold((0u64, 0u64), |(n, b), f| (n + 1, b + f.len));
            // Datagrams to or from that end that are no tunnel packet (AYIYA heartbeats,
            // Teredo bubbles) are ordinary flows, attributed by their server's address.
            let (plain_frames, plain_bytes) = frames
                .iter()
                .filter(|f| f.plain.is_some_and(|(a, b)| a == ioc || b == ioc))
                .fold((0u64, 0u64), |(n, b), f| (n + 1, b + f.len));
            let flows = attribute(&path, ioc);
            let mut got = [(0u64, 0u64); 2];
            for (r, v) in &flows {
                if !v.is_ioc() {
                    continue;
                }
                let via = v.reasons.iter().map(|x| x.via).collect::<BTreeSet<_>>();
                let i = match via.into_iter().collect::<Vec<_>>()[..] {
                    [Via::Tunnel] => 0,
                    [Via::Ip] => 1,
                    _ => panic!("{name} {ioc}: {:?}", v.reasons),
                };
                if i == 0 {
                    assert!(v.reasons.iter().all(|x| x.name == Some(ioc.to_string())));
                }
                for d in [Direction::C2s, Direction::S2c] {
                    let t = r.ledger.total(d);
                    got[i].0 += t.frames;
                    got[i].1 += t.frame_bytes;
                }
            }
            assert_eq!(
                got[0],
                (want_frames, want_bytes),
                "{name}: frames and bytes of the flows attributed via tunnel end {ioc}, ours vs \
                 tshark's frames of the inner flows that went in a tunnel from or to it"
            );
            // (Only where that end is the flow's server: at most those frames.)
            assert!(
                got[1].0 <= plain_frames && got[1].1 <= plain_bytes,
                "{name}: flows attributed via address {ioc}: {:?}, beyond tshark's frames with \
                 that address and no tunnel ({plain_frames}, {plain_bytes})",
                got[1]
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "{checked} tunnel ends checked");
}

/// The tunnels table (decision 0031) on the same traces: per outermost tunnel header's
/// addresses and direction, its rows carry exactly the frames and bytes of the frames tshark
/// dissects with that outermost header.
#[test]
fn the_tunnels_table_carries_the_frames_tshark_shows_in_each_outermost_tunnel() {
    let Some(traces) = exfilmeter_testkit::shared("peer-suites/zeek/traces") else {
        return;
    };
    if !exfilmeter_testkit::tool("tshark", "-v") {
        return;
    }
    type Sides = std::collections::BTreeMap<(IpAddr, IpAddr), (u64, u64)>;
    let mut checked = 0;
    for name in [
        "tunnels/vxlan-encapsulated-http.pcap",
        "tunnels/gre-within-gre.pcap",
        "tunnels/Teredo.pcap",
        "tunnels/geneve.pcap",
        "tunnels/gre-over-udp-4754.pcap",
        "tunnels/ayiya3.pcap",
        "tunnels/gtp/gtp7_ipv6.pcap",
        "erspanII.pcap",
    ] {
        let path = traces.join(name);
        let mut want = Sides::new();
        for f in tshark(&path) {
            if let Some(o) = f.outer {
                let e = want.entry(o).or_default();
                e.0 += 1;
                e.1 += f.len;
            }
        }
        let mut t = exfilmeter_flow::Tunnels::default();
        let mut decoder = Decoder::default();
        let mut r = CaptureReader::open(&path, FileId(0), HashAlgo::None).unwrap();
        while let Some(frame) = r.next_frame() {
            if let Decoded::Packet(p) = decoder.decode(&frame) {
                t.packet(&p);
            }
        }
        let mut got = Sides::new();
        for row in t.rows() {
            for (pair, c) in [
                ((row.client.ip, row.server.ip), row.c2s),
                ((row.server.ip, row.client.ip), row.s2c),
            ] {
                if c.frames > 0 {
                    let e = got.entry(pair).or_default();
                    e.0 += c.frames;
                    e.1 += c.frame_bytes;
                }
            }
        }
        assert!(!want.is_empty(), "{name}: tshark shows no tunnel");
        assert_eq!(
            got, want,
            "{name}: (frames, frame bytes) per outermost tunnel header, ours vs tshark"
        );
        checked += want.len();
    }
    assert!(checked >= 12, "{checked} tunnel directions checked");
}
