//! The sharded flow stage against one pass: a DNS answer read on one shard attributes the
//! flows that start after it on every other shard, and not the ones before it; the flow
//! ledger is byte-identical for any number of shards.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use exfilmeter_estimate::{input_names, Collector, Gather, Pipeline, Rows, TableWriter};
use exfilmeter_flow::{shard_of, TrackerConfig};
use exfilmeter_ingest::{CaptureReader, Decoded, Decoder, FileId, HashAlgo, Input, InputOrigin};
use exfilmeter_intel::{Attributor, Internal, IocSet};
use std::path::{Path, PathBuf};

const SERVER: [u8; 4] = [203, 0, 113, 9];
const NAME: &str = "drop.evil.example";

/// The flow ledger (CSV) of `capture` with `iocs`, on one pass (`shards` = 0) or on `shards`.
fn ledger(capture: &Path, iocs: &Path, shards: usize, out: &Path) -> Vec<u8> {
    let set = IocSet::load(&[iocs.to_path_buf()], false).unwrap();
    let inputs = vec![Input {
        path: capture.to_path_buf(),
        origin: InputOrigin::Explicit,
    }];
    let rows = Rows::new(
        Some(&set),
        false,
        input_names(&inputs),
        TableWriter::create(Some(out)).unwrap(),
    );
    let mut p = Pipeline::new(TrackerConfig::default(), HashAlgo::None);
    let mut rows = if shards == 0 {
        let mut a = Attributor::new(&set, Internal::default(), 3600, rows);
        let read = p.run(&inputs, &mut a, &mut ());
        assert!(!read.partial);
        a.inner
    } else {
        let sinks: Vec<_> = (0..shards)
            .map(|_| {
                Attributor::new(&set, Internal::default(), 3600, Collector::new(None, true))
                    .shared_dns()
            })
            .collect();
        let mut g = Gather {
            rows,
            content: None,
        };
        let (read, back) = p
            .run_sharded(&inputs, sinks, true, &mut g, &mut ())
            .unwrap();
        assert!(!read.partial);
        assert_eq!(back.len(), shards);
        g.rows
    };
    rows.close().unwrap();
    std::fs::read(out).unwrap()
}

/// The shard of the DNS answer's packet and of every packet to the server's port 80.
fn shards_of(capture: &Path, n: usize) -> (usize, Vec<usize>) {
    let mut r = CaptureReader::open(capture, FileId(0), HashAlgo::None).unwrap();
    let mut d = Decoder::default();
    let (mut dns, mut web) = (None, Vec::new());
    while let Some(f) = r.next_frame() {
        if let Decoded::Packet(p) = d.decode(&f) {
            let (_, a, b) = exfilmeter_flow::endpoints(&p);
            if a.port == 53 || b.port == 53 {
                dns = Some(shard_of(&p, n));
            } else if b.port == 80 {
                web.push(shard_of(&p, n));
            }
        }
    }
    (dns.unwrap(), web)
}

/// `(client_port, ioc_via)` of every client→server ledger row to port 80.
fn verdicts(csv: &[u8]) -> Vec<(u16, String)> {
    let text = String::from_utf8(csv.to_vec()).unwrap();
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| head.iter().position(|h| *h == n).unwrap();
    let (port, dir, sport, via) = (
        col("client_port"),
        col("direction"),
        col("server_port"),
        col("ioc_via"),
    );
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|c| c[dir] == "c2s" && c[sport] == "80")
        .map(|c| (c[port].parse().unwrap(), c[via].to_string()))
        .collect()
}

#[test]
fn a_dns_answer_on_one_shard_attributes_later_flows_on_every_shard_and_no_earlier_one() {
    let dir = tempfile::tempdir().unwrap();
    let iocs = dir.path().join("iocs.txt");
    std::fs::write(&iocs, format!("{NAME}\n")).unwrap();
    for tcp_dns in [false, true] {
        let capture: PathBuf = dir.path().join(format!("dns-{tcp_dns}.pcap"));
        let upload = b"POST /u HTTP/1.1\r\nHost: 203.0.113.9\r\nContent-Length: 4\r\n\r\nabcd";
        std::fs::write(
            &capture,
            exfilmeter_synth::dns_then_connections(
                SERVER,
                NAME,
                (6, 12),
                tcp_dns,
                upload,
                1_411_084_800,
            ),
        )
        .unwrap();
        let one = ledger(&capture, &iocs, 0, &dir.path().join("one.csv"));
        let v = verdicts(&one);
        assert_eq!(v.len(), 18, "{v:?}");
        for (port, via) in &v {
            // Connections from ports 40000.. came before the answer, 50000.. after it.
            let after = *port >= 50_000;
            assert_eq!(
                via == "dns",
                after,
                "tcp_dns={tcp_dns}: port {port} via {via:?}"
            );
        }
        for n in [2, 3, 8] {
            let (dns_shard, web) = shards_of(&capture, n);
            assert!(
                web.iter().any(|s| *s != dns_shard),
                "{n} shards: every connection on the DNS answer's shard"
            );
            let got = ledger(&capture, &iocs, n, &dir.path().join(format!("{n}.csv")));
            assert!(
                got == one,
                "tcp_dns={tcp_dns}, {n} shards: ledger differs from one pass"
            );
        }
    }
}
