//! A run whose output fails (a full disk) stops reading at its next check instead of reading
//! the rest of its captures for nothing, on one flow stage and on shards; the output's own
//! error is returned when it is closed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use exfilmeter_estimate::pipeline::TICK;
use exfilmeter_estimate::{input_names, Collector, Gather, Pipeline, Rows, TableWriter};
use exfilmeter_flow::{Direction, FlowId, FlowSink, TrackerConfig};
use exfilmeter_ingest::{FrameRef, HashAlgo, Input, InputOrigin, Timestamp};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A pcap of `n` UDP datagrams, each its own flow, 1 ms apart (so flows go idle and close
/// while the capture is read, from two minutes in).
fn capture(dir: &Path, n: u32) -> PathBuf {
    let p = dir.join("many.pcap");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&p).unwrap());
    // Global header: microseconds, Ethernet.
    out.write_all(&0xa1b2_c3d4u32.to_le_bytes()).unwrap();
    out.write_all(&[2, 0, 4, 0]).unwrap();
    out.write_all(&[0; 8]).unwrap();
    out.write_all(&65_535u32.to_le_bytes()).unwrap();
    out.write_all(&1u32.to_le_bytes()).unwrap();
    for i in 0..n {
        let mut f = Vec::with_capacity(46);
        f.extend_from_slice(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00]);
        let src = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
        let mut ip = vec![0x45, 0, 0, 32, 0, 0, 0, 0, 64, 17, 0, 0];
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&[198, 51, 100, 7]);
        let sum = ip
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
            .sum::<u32>();
        let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        f.extend_from_slice(&ip);
        f.extend_from_slice(&[0x9c, 0x40, 0x30, 0x39, 0, 12, 0, 0]);
        f.extend_from_slice(b"ping");
        let (sec, usec) = (1_411_084_800 + i / 1_000, i % 1_000 * 1_000);
        out.write_all(&sec.to_le_bytes()).unwrap();
        out.write_all(&usec.to_le_bytes()).unwrap();
        out.write_all(&(f.len() as u32).to_le_bytes()).unwrap();
        out.write_all(&(f.len() as u32).to_le_bytes()).unwrap();
        out.write_all(&f).unwrap();
    }
    out.flush().unwrap();
    p
}

fn inputs(p: &Path) -> Vec<Input> {
    vec![Input {
        path: p.to_path_buf(),
        origin: InputOrigin::Explicit,
    }]
}

/// A sink whose output "fails" after `after` datagrams.
struct FailsAfter {
    after: u64,
    seen: u64,
}

impl FlowSink for FailsAfter {
    fn data(&mut self, _: FlowId, _: Direction, _: u64, _: Timestamp, _: FrameRef, _: &[u8]) {
        self.seen += 1;
    }
    fn failed(&self) -> bool {
        self.seen >= self.after
    }
}

#[test]
fn one_flow_stage_stops_reading_at_the_first_check_after_its_sink_failed() {
    let dir = tempfile::tempdir().unwrap();
    let n = 5 * TICK as u32;
    let cap = capture(dir.path(), n);
    // The whole capture is read when nothing fails (the capture is what the test thinks).
    let mut p = Pipeline::new(TrackerConfig::default(), HashAlgo::None);
    let mut ok = FailsAfter {
        after: u64::MAX,
        seen: 0,
    };
    let read = p.run(&inputs(&cap), &mut ok, &mut ());
    assert!(!read.partial);
    assert_eq!(ok.seen, u64::from(n));
    let mut p = Pipeline::new(TrackerConfig::default(), HashAlgo::None);
    let mut sink = FailsAfter {
        after: 100,
        seen: 0,
    };
    let read = p.run(&inputs(&cap), &mut sink, &mut ());
    assert!(read.partial, "a stopped run is partial");
    assert_eq!(
        p.tracker_stats().packets,
        TICK,
        "stopped at the first check"
    );
}

/// The flow ledger written to a full device: the writer thread stops at the first batch, the
/// ledger reports it failed from then on, so reading stops at its next check (one stage) or
/// soon after (two shards: the flows the merging thread has not yet taken in), and closing
/// the ledger says why.
#[cfg(target_os = "linux")]
#[test]
fn a_ledger_written_to_a_full_disk_stops_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let n = 48 * TICK as u32;
    let cap = capture(dir.path(), n);
    let full = dir.path().join("flows.csv");
    std::os::unix::fs::symlink("/dev/full", &full).unwrap();
    let names = input_names(&inputs(&cap));
    for shards in [0, 2] {
        let rows = Rows::new(
            None,
            false,
            names.clone(),
            TableWriter::create(Some(&full)).unwrap(),
        );
        let mut p = Pipeline::new(TrackerConfig::default(), HashAlgo::None);
        let (read, mut rows) = if shards == 0 {
            let mut rows = rows;
            (p.run(&inputs(&cap), &mut rows, &mut ()), rows)
        } else {
            let sinks: Vec<_> = (0..shards).map(|_| Collector::new(None, false)).collect();
            let mut g = Gather {
                rows,
                content: None,
            };
            let (read, _) = p
                .run_sharded(&inputs(&cap), sinks, false, &mut g, &mut ())
                .unwrap();
            (read, g.rows)
        };
        assert!(read.partial, "{shards} shards: a stopped run is partial");
        let packets = p.tracker_stats().packets;
        assert!(
            packets < u64::from(n) / 2,
            "{shards} shards: stopped after {packets} of {n} packets"
        );
        let err = rows.close().expect_err("the ledger's error");
        assert!(
            err.to_string().to_lowercase().contains("space") || err.to_string().contains("writer"),
            "{err}"
        );
    }
}
