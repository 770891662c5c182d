//! The server_name of QUIC connections, read from the client's Initial packets, against
//! Zeek's own `ssl.log` baselines for its QUIC traces (peer suites) and against tshark's
//! decryption of the same Initial packets.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{counts, shared, track, zeek_column};
use exfilmeter_flow::{FlowId, FlowSink, MetaEvent, Metadata, TrackerConfig};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// ClientHellos read from QUIC: (flow, server_name or "-").
#[derive(Default)]
struct Hellos(Vec<(FlowId, String)>);

impl FlowSink for Hellos {
    fn metadata(&mut self, f: FlowId, e: &MetaEvent) {
        if let Metadata::QuicClientHello(h) = &e.meta {
            self.0
                .push((f, h.sni.clone().unwrap_or_else(|| "-".into())));
        }
    }
}

/// tshark's server_name of every QUIC ClientHello in `file` (one per connection: tshark
/// shows the ClientHello in the packet that completes it).
fn tshark_names(file: &Path) -> Option<Vec<String>> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        // DNS over QUIC (853) and the peers' custom port are not QUIC to tshark by default.
        .args(["-d", "udp.port==853,quic", "-d", "udp.port==4433,quic"])
        .args([
            "-Y",
            "quic && tls.handshake.type == 1",
            "-T",
            "fields",
            "-e",
            "udp.stream",
            "-e",
            "tls.handshake.extensions_server_name",
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let mut by_stream: BTreeMap<String, String> = BTreeMap::new();
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        let mut it = l.split('\t');
        let (Some(stream), name) = (it.next(), it.next().unwrap_or("")) else {
            continue;
        };
        let name = name.split(',').next().unwrap_or("").to_ascii_lowercase();
        by_stream.entry(stream.to_string()).or_insert_with(|| {
            if name.is_empty() {
                "-".into()
            } else {
                name
            }
        });
    }
    Some(by_stream.into_values().collect())
}

#[test]
fn quic_server_names_equal_zeeks_ssl_log_and_tsharks_on_zeeks_quic_traces() {
    let Some(zeek) = shared("peer-suites/zeek") else {
        return;
    };
    let have_tshark = exfilmeter_testkit::tool("tshark", "--version");
    let tests = std::fs::read_to_string(zeek.join("tests.tsv")).unwrap();
    let mut checked = 0;
    let mut named = 0;
    for row in tests.lines().skip(1) {
        let cols: Vec<&str> = row.split('\t').collect();
        let (test, trace, logs) = (cols[0], cols[1], cols[2]);
        if !test.starts_with("scripts.base.protocols.quic.") {
            continue;
        }
        let Some(ssl) = logs.split(',').find(|l| l.starts_with("ssl.log")) else {
            continue;
        };
        let trace = zeek.join("traces").join(trace);
        let mut hellos = Hellos::default();
        track(&[&trace], TrackerConfig::default(), &mut hellos);
        // One ClientHello per connection.
        let mut flows: Vec<FlowId> = hellos.0.iter().map(|(f, _)| *f).collect();
        flows.sort();
        flows.dedup();
        assert_eq!(
            flows.len(),
            hellos.0.len(),
            "{test}: a connection read twice"
        );
        let ours: Vec<String> = hellos.0.iter().map(|(_, n)| n.clone()).collect();
        let log = zeek.join("baselines").join(test).join(ssl);
        let expected: Vec<String> = zeek_column(&log, "server_name")
            .unwrap_or_else(|| panic!("{}: no server_name column", log.display()))
            .iter()
            .map(|n| n.to_ascii_lowercase())
            .collect();
        assert_eq!(
            counts(&ours),
            counts(&expected),
            "{test}: ours vs Zeek's ssl.log"
        );
        if have_tshark {
            if let Some(t) = tshark_names(&trace) {
                assert_eq!(counts(&ours), counts(&t), "{test}: ours vs tshark");
            }
        }
        checked += 1;
        named += ours.iter().filter(|n| *n != "-").count();
    }
    // Zeek's QUIC tests with an ssl.log, among them QUIC v2, a ClientHello split over
    // several Initial packets (Chromium), 0-RTT and DNS over QUIC.
    assert!(checked >= 8, "{checked} traces checked");
    assert!(named >= 7, "{named} server names read");
}

#[test]
fn real_initial_datagrams_flipped_or_cut_anywhere_never_panic() {
    use exfilmeter_flow::app::quic::QuicInitial;
    use exfilmeter_ingest::{CaptureReader, Decoded, Decoder, FileId, HashAlgo};
    let Some(zeek) = shared("peer-suites/zeek") else {
        return;
    };
    let trace = zeek.join("traces/quic/chromium-115.0.5790.110-google-de-fragmented.pcap");
    let mut r = CaptureReader::open(&trace, FileId(0), HashAlgo::None).unwrap();
    let mut d = Decoder::default();
    let mut datagrams = Vec::new();
    while let Some(f) = r.next_frame() {
        if let Decoded::Packet(p) = d.decode(&f) {
            if QuicInitial::starts(p.payload) && datagrams.len() < 3 {
                datagrams.push(p.payload.to_vec());
            }
        }
    }
    assert!(!datagrams.is_empty());
    // The datagrams as captured give the ClientHello (the name is checked above).
    let mut q = QuicInitial::default();
    assert!(datagrams.iter().filter_map(|x| q.datagram(x)).count() == 1);
    for dg in &datagrams {
        for i in (0..dg.len()).step_by(3) {
            let mut m = dg.clone();
            m[i] ^= 0xA5;
            let _ = QuicInitial::default().datagram(&m);
            let _ = QuicInitial::default().datagram(&dg[..i]);
        }
    }
}

/// The direction of every QUIC ClientHello, and the closed flows.
#[derive(Default)]
struct Sides {
    hellos: Vec<(FlowId, exfilmeter_flow::Direction)>,
    records: Vec<exfilmeter_flow::FlowRecord>,
}

impl FlowSink for Sides {
    fn metadata(&mut self, f: FlowId, e: &MetaEvent) {
        if matches!(e.meta, Metadata::QuicClientHello(_)) {
            self.hellos.push((f, e.dir));
        }
    }
    fn closed(&mut self, r: exfilmeter_flow::FlowRecord) {
        self.records.push(r);
    }
}

/// Tracks `file`; with `move_ports`, every UDP port of the capture is first rewritten so the
/// server's is the higher one (443 → 60443, a client port p → 2000 + p % 1000): the port rule
/// would then take the server for the client.
fn sides(file: &Path, move_ports: bool) -> Sides {
    use exfilmeter_ingest::{CaptureReader, Decoded, Decoder, FileId, Frame, HashAlgo, Transport};
    let mut tracker = exfilmeter_flow::Tracker::new(TrackerConfig::default());
    let mut decoder = Decoder::default();
    let mut sink = Sides::default();
    let mut r = CaptureReader::open(file, FileId(0), HashAlgo::None).unwrap();
    while let Some(frame) = r.next_frame() {
        let mut data = frame.data.to_vec();
        if move_ports {
            let udp = match Decoder::default().decode(&frame) {
                Decoded::Packet(p) if p.ip.tunnel_depth == 0 => match p.transport {
                    Transport::Udp { .. } => Some((p.l3_offset + p.ip.header_len) as usize),
                    _ => None,
                },
                _ => None,
            };
            if let Some(at) = udp.filter(|at| at + 4 <= data.len()) {
                for o in [at, at + 2] {
                    let port = u16::from_be_bytes([data[o], data[o + 1]]);
                    let new = if port == 443 || port == 4433 || port == 853 {
                        60000 + port % 1000
                    } else {
                        2000 + port % 1000
                    };
                    data[o..o + 2].copy_from_slice(&new.to_be_bytes());
                }
            }
        }
        let moved = Frame {
            data: &data,
            ..frame
        };
        if let Decoded::Packet(p) = decoder.decode(&moved) {
            tracker.packet(&p, &mut sink);
        }
    }
    tracker.finish(&mut sink);
    sink
}

#[test]
fn the_sender_of_a_quic_client_initial_is_the_client_whatever_the_ports() {
    let Some(quic) = shared("peer-suites/zeek/traces/quic") else {
        return;
    };
    let mut hellos = 0;
    for file in exfilmeter_testkit::capture_files(&quic) {
        for move_ports in [false, true] {
            let s = sides(&file, move_ports);
            for (flow, dir) in &s.hellos {
                let r = s.records.iter().find(|r| r.id == *flow).unwrap();
                assert_eq!(
                    *dir,
                    exfilmeter_flow::Direction::C2s,
                    "{} (ports moved: {move_ports}): the ClientHello's sender is the client \
                     ({:?}, rule {:?})",
                    file.display(),
                    r.client,
                    r.role_rule
                );
                hellos += 1;
            }
        }
    }
    assert!(hellos >= 16, "{hellos} QUIC ClientHellos");
}
