//! Helpers shared by the unit tests of this crate.

use crate::index::RecoveredIndex;
use crate::records::{KeySpec, RecordFormat};

/// A deterministic stream of pseudo-random numbers (xorshift64) from `seed` (not zero).
pub(crate) fn xorshift(seed: u64) -> impl FnMut() -> u64 {
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
pub(crate) fn csv_index(text: &str, keyed: bool) -> (tempfile::TempDir, RecoveredIndex) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let p = dir.path().join("s.csv");
    std::fs::write(&p, text).expect("recovered file written");
    let key = KeySpec::Column(1);
    let idx = RecoveredIndex::build(&[p], &RecordFormat::Csv, &[false], keyed.then_some(&key))
        .expect("index built");
    (dir, idx)
}
