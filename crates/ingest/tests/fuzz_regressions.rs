//! Hostile inputs (hand-made shapes and every crash the fuzzer found) must be read
//! without panicking, report at least one error, and keep memory bounded.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use exfilmeter_ingest::{CaptureReader, Decoder, FileId, HashAlgo};
use std::path::PathBuf;

#[test]
fn every_regression_input_is_read_without_panic_and_reports_damage() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 9,
        "regression inputs missing from {}",
        dir.display()
    );
    for f in files {
        let mut r = CaptureReader::open(&f, FileId(0), HashAlgo::Sha256).unwrap();
        let mut d = Decoder::default();
        let mut frames = 0u64;
        while let Some(frame) = r.next_frame() {
            frames += 1;
            let _ = d.decode(&frame);
        }
        d.finish();
        let out = r.finish();
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        if name == "pcap-fragment-storm.pcap" {
            // Well-formed file; the decoder counts the overlapping fragments.
            assert_eq!(frames, 50);
            assert!(out.errors.is_empty(), "{name}: {:?}", out.errors);
            let s = d.defrag_stats();
            assert!(
                s.overlapping_fragments > 0 && s.conflicting_fragments > 0,
                "{name}: {s:?}"
            );
        } else if name.starts_with("crash-")
            || name.starts_with("timeout-")
            || name.starts_with("oom-")
        {
            // Fuzzer findings: surviving is the assertion.
        } else {
            assert!(!out.errors.is_empty(), "{name}: damage not reported");
        }
        assert_eq!(
            out.digest.map(|x| x.size),
            Some(std::fs::metadata(&f).unwrap().len())
        );
    }
}
