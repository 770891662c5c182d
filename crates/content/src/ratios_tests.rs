#![allow(clippy::unwrap_used)]
use super::*;
use crate::records::{Header, RecordFormat};

/// Customer-like records: `n` lines from a fixed seed.
fn records(n: usize) -> Vec<u8> {
    let mut next = crate::testkit::xorshift(0x2545_F491_4F6C_DD1D);
    (0..n)
        .flat_map(|i| {
            let x = next();
            format!(
                "{:09},2014-07-{:02},Name{} Family{},Tokyo {}-{},03-{:04}-{:04},m{}@example.jp\n",
                100_000_000 + i,
                1 + x % 28,
                x % 3_000,
                (x >> 12) % 5_000,
                x % 9,
                x % 13,
                x % 10_000,
                (x >> 20) % 10_000,
                (x >> 30) % 100_000
            )
            .into_bytes()
        })
        .collect()
}

fn open_files(dir: &tempfile::TempDir, parts: &[&[u8]]) -> Vec<RecoveredFile> {
    let paths: Vec<PathBuf> = parts
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let p = dir.path().join(format!("r{i}.txt"));
            std::fs::write(&p, b).unwrap();
            p
        })
        .collect();
    crate::recovered::open(&paths, &RecordFormat::Lines, Header::No, 1 << 30).unwrap()
}

fn regions(files: &[RecoveredFile]) -> Vec<(u64, u64)> {
    files.iter().map(|f| (0, f.stored_size)).collect()
}

#[test]
fn the_order_starts_first_and_last_and_covers_every_slot_once() {
    for k in [1usize, 2, 3, 7, 10, 100, 1000] {
        let o = order(k);
        let mut sorted = o.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..k).collect::<Vec<_>>(), "k = {k}");
        if k > 2 {
            assert_eq!(&o[..2], &[0, k - 1]);
            // The first few taken fall in different quarters of the records.
            let quarters: std::collections::BTreeSet<usize> =
                o[..5.min(k)].iter().map(|&i| i * 4 / k).collect();
            assert!(quarters.len() >= 3.min(k), "k = {k}: {:?}", &o[..5.min(k)]);
        }
    }
    // Slots are disjoint, the first at 0, the last ending at the end.
    let s = slots(10_000_000, 256 << 10);
    assert_eq!(s.len(), 10_000_000 / (256 << 10));
    assert_eq!(s[0], 0);
    assert_eq!(*s.last().unwrap() + (256 << 10), 10_000_000);
    assert!(s.windows(2).all(|w| w[1] - w[0] >= 256 << 10));
}

#[test]
fn blocks_with_their_history_add_up_to_the_whole_and_bare_blocks_read_low() {
    let body = records(12_000);
    let whole = primed_size("deflate-6", &[], &body);
    let b = 64 << 10;
    let (mut primed, mut bare) = (0u64, 0u64);
    for start in (0..body.len()).step_by(b) {
        let end = (start + b).min(body.len());
        let h = start.saturating_sub(32 << 10);
        primed += primed_size("deflate-6", &body[h..start], &body[start..end]);
        bare += primed_size("deflate-6", &[], &body[start..end]);
    }
    let e = primed as f64 / whole as f64 - 1.0;
    assert!(e.abs() < 0.002, "primed blocks {primed} vs whole {whole}");
    assert!(
        bare as f64 > whole as f64 * 1.01,
        "bare {bare} vs whole {whole}"
    );
    // gzip is the deflate stream with its 18 bytes of framing.
    assert_eq!(
        primed_size("gzip-6", &[], &body),
        primed_size("deflate-6", &[], &body) + GZIP_FRAMING
    );
}

/// Small blocks, so that a debug build measures in a moment.
fn small(codec: &'static str) -> Rule {
    Rule {
        codec,
        history: 32 << 10,
        block: 128 << 10,
        whole_max: 512 << 10,
        min_blocks: 4,
        max_blocks: usize::MAX,
        weight: 1,
    }
}

#[test]
fn sampling_stops_inside_the_target_agrees_with_the_whole_and_ignores_threads() {
    let dir = tempfile::tempdir().unwrap();
    let body = records(40_000);
    // Two files: blocks straddle the boundary.
    let (a, b) = body.split_at(body.len() / 3);
    let files = open_files(&dir, &[a, b]);
    let stream = Stream::new(&files, &regions(&files));
    assert_eq!(stream.total, body.len() as u64);
    assert_eq!(
        stream.read(a.len() as u64 - 10, 20).unwrap(),
        &body[a.len() - 10..a.len() + 10]
    );
    let rules = [small("deflate-1"), small("deflate-6")];
    let one = measure_with(&stream, 1, &rules).unwrap();
    let three = measure_with(&stream, 3, &rules).unwrap();
    assert_eq!(one, three, "the same blocks and sizes on 1 and 3 threads");
    for m in &one {
        let (r, half) = m.ratio();
        assert!(!m.whole);
        assert!(
            half <= TARGET_HALF_WIDTH || m.pairs.len() == m.slots,
            "{}: ±{half} on {} of {} blocks",
            m.codec,
            m.pairs.len(),
            m.slots
        );
        assert!(
            m.pairs.len() < m.slots,
            "{}: stopped before the end",
            m.codec
        );
        let whole = body.len() as f64 / primed_size(m.codec, &[], &body) as f64;
        assert!(
            (r / whole - 1.0).abs() <= half + 0.002,
            "{}: {r} ±{half} vs whole {whole}",
            m.codec
        );
    }
    // Records up to `whole_max` are compressed whole.
    let tiny = open_files(&dir, &[&body[..400_000]]);
    let s = Stream::new(&tiny, &regions(&tiny));
    let m = measure_with(&s, 2, &rules).unwrap();
    assert!(m.iter().all(|m| m.whole && m.pairs.len() == 1));
    assert_eq!(
        m[1].pairs[0],
        (400_000, primed_size("deflate-6", &[], &body[..400_000]))
    );
}

#[test]
fn the_cache_gives_the_same_ratios_and_follows_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let body = records(400);
    let files = open_files(&dir, &[&body]);
    let stream = Stream::new(&files, &regions(&files));
    let (first, src) = ratios(&files, &stream, "lines", 2, Some(&cache)).unwrap();
    assert!(!src.hit && src.warning.is_none(), "{src:?}");
    let entry = src.cache.clone().unwrap();
    assert!(entry.exists());
    let (again, src2) = ratios(&files, &stream, "lines", 1, Some(&cache)).unwrap();
    assert!(src2.hit);
    assert_eq!(first, again);
    assert_eq!(src.entry_sha256, src2.entry_sha256);
    assert_eq!(first.len(), 14, "{first:?}");
    // Another header decision, format or content: another key.
    let mut other = open_files(&dir, &[&body]);
    assert_eq!(cache_key(&other, "lines"), src.key);
    assert_ne!(cache_key(&other, "csv"), src.key);
    other[0].header = true;
    assert_ne!(cache_key(&other, "lines"), src.key);
    let mut changed = body.clone();
    changed[5] ^= 1;
    let changed = open_files(&dir, &[&changed]);
    assert_ne!(cache_key(&changed, "lines"), src.key);
    // A damaged entry is measured anew, with a warning, and rewritten.
    std::fs::write(&entry, b"{not json").unwrap();
    let (third, src3) = ratios(&files, &stream, "lines", 2, Some(&cache)).unwrap();
    assert!(!src3.hit && src3.warning.is_some());
    assert_eq!(third, first);
    assert!(
        ratios(&files, &stream, "lines", 2, Some(&cache))
            .unwrap()
            .1
            .hit
    );
}
