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

/// Columns `names` of a Zeek log baseline, per row ("-" where the header lacks one): the
/// header is the `#fields` line, or in a `zeek-cut` file the first line that has a cell
/// `names[0]`. `None` when there is no header naming `names[0]`.
pub fn zeek_columns(log: &Path, names: &[&str]) -> Option<Vec<Vec<String>>> {
    let text = std::fs::read_to_string(log).unwrap();
    let mut at: Option<Vec<Option<usize>>> = None;
    let mut rows = Vec::new();
    for line in text.lines() {
        if line.starts_with("###") || line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line
            .trim_start_matches("#fields")
            .split('\t')
            .filter(|f| !f.is_empty())
            .collect();
        if line.starts_with("#fields") || (at.is_none() && fields.contains(&names[0])) {
            at = Some(
                names
                    .iter()
                    .map(|n| fields.iter().position(|f| f == n))
                    .collect(),
            );
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if let Some(at) = &at {
            let cells: Vec<&str> = line.split('\t').collect();
            rows.push(
                at.iter()
                    .map(|c| c.and_then(|c| cells.get(c)).unwrap_or(&"-").to_string())
                    .collect(),
            );
        }
    }
    at.filter(|a| a.first().is_some_and(Option::is_some))
        .map(|_| rows)
}

/// Column `name` of a Zeek log baseline ([`zeek_columns`]); `None` when no header names it.
pub fn zeek_column(log: &Path, name: &str) -> Option<Vec<String>> {
    let rows = zeek_columns(log, &[name])?;
    Some(
        rows.into_iter()
            .filter_map(|r| r.into_iter().next())
            .collect(),
    )
}

/// How often each value occurs.
pub fn counts(v: &[String]) -> std::collections::BTreeMap<String, usize> {
    let mut m = std::collections::BTreeMap::new();
    for s in v {
        *m.entry(s.clone()).or_default() += 1;
    }
    m
}
