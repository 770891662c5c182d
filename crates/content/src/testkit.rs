//! Helpers for tests (this crate's, and others' with the `testkit` feature).

#![allow(clippy::expect_used)]

use crate::index::RecoveredIndex;
use crate::lines::{Line, Seen};
use crate::records::{KeySpec, RecordFormat};
use exfilmeter_ingest::{FileId, FrameRef, Timestamp};

/// A deterministic stream of pseudo-random numbers (xorshift64) from `seed` (not zero).
pub fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

/// `text` written as a CSV recovered file in a temporary folder and indexed, keyed by its
/// first column when `keyed` (the folder lives as long as the returned guard).
///
/// # Panics
/// When the temporary file cannot be written or indexed.
pub fn csv_index(text: &str, keyed: bool) -> (tempfile::TempDir, RecoveredIndex) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let p = dir.path().join("s.csv");
    std::fs::write(&p, text).expect("recovered file written");
    let key = KeySpec::Column(1);
    let idx = RecoveredIndex::build(&[p], &RecordFormat::Csv, &[false], keyed.then_some(&key))
        .expect("index built");
    (dir, idx)
}

/// Seen at time `i` ns in frame `i` of file 0.
pub fn at(i: u64) -> Seen {
    (
        Timestamp(i as i64),
        FrameRef {
            file: FileId(0),
            index: i,
            offset: 0,
        },
    )
}

/// A line of `bytes` (terminator after them) at offset 0, first seen in frame `i`, last in
/// `i + 1`.
pub fn line(bytes: &[u8], whole: bool, i: u64) -> Line {
    Line {
        offset: 0,
        len: bytes.len() as u64 + 1,
        text: 0..bytes.len(),
        whole,
        overlong: false,
        provisional: false,
        first: at(i),
        last: at(i + 1),
    }
}
