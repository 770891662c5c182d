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
