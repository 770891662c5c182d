//! Shared helpers for tests that read `../shared` (skipped with a message when absent).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
#![allow(dead_code)]

pub use exfilmeter_testkit::shared;

/// Parses capinfos' "seconds.fraction" into nanoseconds.
pub fn capinfos_ns(s: &str) -> Option<i64> {
    let (sec, frac) = s.split_once('.')?;
    let sec: i64 = sec.parse().ok()?;
    if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let scale = 10i64.pow(9 - frac.len() as u32);
    Some(sec * 1_000_000_000 + frac.parse::<i64>().ok()? * scale)
}

use exfilmeter_flow::{FlowSink, Tracker, TrackerConfig};
use exfilmeter_ingest::{CaptureReader, Decoded, Decoder, FileId, HashAlgo};
use std::path::Path;

/// Runs files (in order, one sensor) through the decoder and the tracker.
pub fn track<S: FlowSink>(files: &[&Path], cfg: TrackerConfig, sink: &mut S) -> Tracker {
    let mut tracker = Tracker::new(cfg);
    let mut decoder = Decoder::default();
    for (i, f) in files.iter().enumerate() {
        let mut r = CaptureReader::open(f, FileId(i as u32), HashAlgo::None).unwrap();
        while let Some(frame) = r.next_frame() {
            if let Decoded::Packet(p) = decoder.decode(&frame) {
                tracker.packet(&p, sink);
            }
        }
    }
    decoder.finish();
    tracker.finish(sink);
    tracker
}
