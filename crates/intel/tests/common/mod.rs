//! Shared by the scenario tests: locating `../shared/scenarios` and running a scenario's
//! captures through decoder, tracker and attributor.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use exfilmeter_flow::{FlowRecord, Tracker, TrackerConfig};
use exfilmeter_ingest::{CaptureReader, Decoded, Decoder, FileId, HashAlgo};
use exfilmeter_intel::{Attributor, Internal, IocSet, Verdict, VerdictSink};
use std::path::{Path, PathBuf};

#[allow(unused_imports)]
pub use exfilmeter_testkit::scenarios;

/// Keeps every closed flow with its verdict.
#[derive(Default)]
pub struct Keep(pub Vec<(FlowRecord, Verdict)>);

impl exfilmeter_flow::FlowSink for Keep {}

impl VerdictSink for Keep {
    fn verdict(&mut self, r: FlowRecord, v: Verdict) {
        self.0.push((r, v));
    }
}

/// The scenario's truth.json.
pub fn truth(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("truth.json")).unwrap()).unwrap()
}

/// Runs every capture of the scenario (in name order) with its iocs.txt.
pub fn run<S: VerdictSink>(dir: &Path, set: &IocSet, sink: S) -> S {
    let tz = truth(dir)["time_zone"].as_str().unwrap().parse().unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("captures"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let mut tracker = Tracker::new(TrackerConfig {
        tz,
        ..TrackerConfig::default()
    });
    let mut decoder = Decoder::default();
    let mut a = Attributor::new(set, Internal::default(), 3600, sink);
    for (i, f) in files.iter().enumerate() {
        let mut r = CaptureReader::open(f, FileId(i as u32), HashAlgo::None).unwrap();
        while let Some(frame) = r.next_frame() {
            if let Decoded::Packet(p) = decoder.decode(&frame) {
                tracker.packet(&p, &mut a);
            }
        }
    }
    decoder.finish();
    tracker.finish(&mut a);
    a.inner
}
