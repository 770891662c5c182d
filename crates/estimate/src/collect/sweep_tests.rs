//! Tests of the sweep's key scan.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use exfilmeter_content::testkit::csv_index;

fn keys_of(ix: &RecoveredIndex, segments: &[(u64, &[u8])]) -> (Vec<String>, u64) {
    let mut f = FlowContent::default();
    let mut searched = 0;
    for (offset, bytes) in segments {
        searched += scan_keys(&mut f, ix, *offset, bytes);
    }
    let KeyScan {
        mut keys,
        mut carry,
        ..
    } = f.sweep_scan.take().map(|s| *s).unwrap_or_default();
    ix.keys_end(&mut carry, &mut keys);
    keys.sort_unstable();
    keys.dedup();
    let names = keys
        .iter()
        .map(|&k| String::from_utf8_lossy(ix.key(k)).to_string())
        .collect();
    (names, searched)
}

#[test]
fn keys_are_found_across_segments_but_not_across_a_gap() {
    let (_dir, ix) = csv_index("100000001,Alice\n100000002,Bob\n100000003,Carol\n", true);
    // Key 100000002 straddles two contiguous segments; 100000001 and 100000003 lie inside one.
    let s1: &[u8] = b"id=100000001&x=1000";
    let s2: &[u8] = b"00002&y=100000003";
    let (keys, searched) = keys_of(&ix, &[(0, s1), (s1.len() as u64, s2)]);
    assert_eq!(keys, ["100000001", "100000002", "100000003"]);
    assert_eq!(searched, (s1.len() + s2.len()) as u64);
    // The same bytes with a hole between them: the straddling key is not taken.
    let (keys, _) = keys_of(&ix, &[(0, s1), (s1.len() as u64 + 10, s2)]);
    assert_eq!(keys, ["100000001", "100000003"]);
    // A longer number that contains a key is not the key.
    let (keys, _) = keys_of(&ix, &[(0, b"n=91000000019 ")]);
    assert!(keys.is_empty(), "{keys:?}");
}
