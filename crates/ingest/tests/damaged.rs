//! The deliberately damaged captures in `../shared/damaged/`: every frame before the
//! damage is delivered, the first error names the documented byte offset, nothing
//! panics, and frames recovered after resynchronisation are byte-for-byte frames of
//! the intact original (the damaged files were made from it, at the same offsets).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::shared;
use exfilmeter_ingest::{CaptureReader, DamageKind, FileId, HashAlgo};
use std::collections::HashMap;
use std::path::Path;

/// A frame as read: (offset, timestamp ns, original length, captured bytes).
type Rec = (u64, i64, u32, Vec<u8>);
/// Frames of an original file by offset.
type ByOffset = HashMap<u64, (i64, u32, Vec<u8>)>;

/// (offset, timestamp, orig_len, data) of every frame.
fn frames(path: &Path) -> (Vec<Rec>, exfilmeter_ingest::ReaderOutcome) {
    let mut r = CaptureReader::open(path, FileId(0), HashAlgo::Sha256).unwrap();
    let mut v = Vec::new();
    while let Some(f) = r.next_frame() {
        v.push((f.frame.offset, f.ts.0, f.orig_len, f.data.to_vec()));
    }
    (v, r.finish())
}

#[test]
fn damaged_files_keep_everything_before_the_damage_and_name_the_offset() {
    let Some(dir) = shared("damaged") else { return };
    let Some(real) = shared("realpcaps") else {
        return;
    };
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("EXPECTED.json")).unwrap()).unwrap();
    let originals: HashMap<&str, ByOffset> = ["ppp_example.pcap", "ppp_pcapng-example.pcapng"]
        .into_iter()
        .map(|n| {
            let (f, _) = frames(&real.join(n));
            (
                n,
                f.into_iter().map(|(o, t, l, d)| (o, (t, l, d))).collect(),
            )
        })
        .collect();
    for (name, e) in expected.as_object().unwrap() {
        let before = e["packets_before_damage"].as_u64().unwrap();
        let at = e["damage_offset"].as_u64().unwrap();
        let (got, outcome) = frames(&dir.join(name));
        // The pcapng files inherit per-frame timestamp errors from their original
        // (see realpcaps.rs); the damage is the first structural error.
        let first = outcome
            .errors
            .iter()
            .find(|e| e.kind != DamageKind::BadTimestamp)
            .unwrap_or_else(|| panic!("{name}: no error reported"));
        assert_eq!(
            first.offset, at,
            "{name}: offset of the first error ({first})"
        );
        let kept = got.iter().filter(|f| f.0 < at).count() as u64;
        assert_eq!(kept, before, "{name}: frames before the damage");
        assert_eq!(
            got.iter().take_while(|f| f.0 < at).count() as u64,
            before,
            "{name}: the frames before the damage come first"
        );
        // Size and digest still cover the whole damaged file.
        let size = std::fs::metadata(dir.join(name)).unwrap().len();
        assert_eq!(outcome.digest.map(|d| d.size), Some(size), "{name}: size");
        let original = if name.ends_with(".pcapng") {
            &originals["ppp_pcapng-example.pcapng"]
        } else {
            &originals["ppp_example.pcap"]
        };
        if before > 0 {
            for (o, t, l, d) in &got {
                let (ot, ol, od) = original.get(o).unwrap_or_else(|| {
                    panic!("{name}: frame at {o} is not a frame of the original")
                });
                // The ppp_pcapng-example has frames with bogus timestamps: compare those loosely.
                if !name.ends_with(".pcapng") {
                    assert_eq!(t, ot, "{name}: time of frame at {o}");
                }
                assert_eq!(
                    (l, d),
                    (ol, od),
                    "{name}: frame at {o} differs from the original"
                );
            }
        }
        match name.as_str() {
            "garbage-middle.pcap" | "absurd-caplen.pcap" | "ng-block-overruns.pcapng" => {
                assert!(
                    got.len() as u64 > before,
                    "{name}: intact records behind the damage should be recovered"
                );
                assert!(outcome.stats.resyncs >= 1, "{name}: resync");
                assert!(
                    outcome.stats.bytes_skipped > 0,
                    "{name}: skipped bytes counted"
                );
            }
            "cut-mid-packet.pcap" | "cut-mid-header.pcap" | "ng-cut-mid-block.pcapng" => {
                assert_eq!(got.len() as u64, before, "{name}: nothing after a cut");
                assert_eq!(first.kind, DamageKind::Truncated, "{name}: {first}");
            }
            "not-a-capture.pcap" => assert_eq!(first.kind, DamageKind::BadMagic),
            "zero-bytes.pcap" => assert_eq!(first.kind, DamageKind::Empty),
            other => panic!("unexpected file {other}"),
        }
    }
}

#[test]
fn absurd_caplen_recovers_every_record_after_the_corrupt_one() {
    let Some(dir) = shared("damaged") else { return };
    let Some(real) = shared("realpcaps") else {
        return;
    };
    let (got, _) = frames(&dir.join("absurd-caplen.pcap"));
    let (orig, _) = frames(&real.join("ppp_example.pcap"));
    // Only the record whose length field was corrupted is lost.
    assert_eq!(got.len() + 1, orig.len());
}
