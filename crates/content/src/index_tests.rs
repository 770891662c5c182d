//! Tests of the index of recovered rows.

use super::held::HUGE_FROM;
use super::*;

#[test]
fn a_file_held_in_a_huge_page_mapping_verifies_like_one_on_the_heap() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big.csv");
    let row = |i: usize| format!("{:09},Name {i},City {}", 100_000_000 + i, i % 97);
    let n = 160_000;
    let text: String = (0..n).map(|i| row(i) + "\n").collect();
    assert!(text.len() >= HUGE_FROM, "{} bytes", text.len());
    std::fs::write(&p, &text).unwrap();
    let key = KeySpec::Column(1);
    let build = |memory| {
        RecoveredIndex::build_with(
            std::slice::from_ref(&p),
            &RecordFormat::Csv,
            &[false],
            Some(&key),
            memory,
        )
        .unwrap()
    };
    let held = build(DEFAULT_MEMORY);
    assert!(matches!(held.files[0].data, Some(Held::Huge(_))));
    // The same file verified by positional reads (over the memory budget).
    let read = build(0);
    assert!(read.files[0].data.is_none());
    let mut scratch = Vec::new();
    for i in [0, 1, n / 2, n - 2, n - 1] {
        let r = row(i);
        assert_eq!(held.exact(r.as_bytes(), &mut scratch), vec![i as u32]);
        assert_eq!(read.exact(r.as_bytes(), &mut scratch), vec![i as u32]);
        let mut changed = r.into_bytes();
        changed[12] ^= 1;
        assert!(held.exact(&changed, &mut scratch).is_empty());
    }
}

#[test]
fn rows_are_found_by_content_and_keys_by_scan() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.csv");
    std::fs::write(
        &a,
        "member,name\r\n100000001,Alice\r\n100000002,\"Bob\nJr\"\r\n100000001,Alice\r\n",
    )
    .unwrap();
    let idx = RecoveredIndex::build(
        std::slice::from_ref(&a),
        &RecordFormat::Csv,
        &[true],
        Some(&KeySpec::Name("member".into())),
    )
    .unwrap();
    assert_eq!(idx.rows.len(), 3);
    assert_eq!(idx.files[0].duplicate_rows, 1);
    assert_eq!(idx.rows[1].line, 3);
    assert_eq!(idx.rows[1].start, 30);
    let mut s = Vec::new();
    assert_eq!(idx.exact(b"100000001,Alice", &mut s), vec![0, 2]);
    assert_eq!(idx.exact(b"100000002,\"Bob\nJr\"", &mut s), vec![1]);
    assert!(idx.exact(b"100000001,Alicf", &mut s).is_empty());
    let streamed = RecoveredIndex::build_with(
        std::slice::from_ref(&a),
        &RecordFormat::Csv,
        &[true],
        Some(&KeySpec::Name("member".into())),
        0,
    )
    .unwrap();
    assert_eq!(streamed.exact(b"100000002,\"Bob\nJr\"", &mut s), vec![1]);
    assert!(streamed.exact(b"100000002,\"Bob\nJs\"", &mut s).is_empty());
    assert_eq!(idx.key_count(), 2);
    let k = idx.keys_in(b"x=100000002&y=1000000011");
    assert_eq!(k.len(), 1, "a key inside a longer number is not a hit");
    assert_eq!(idx.key(k[0]), b"100000002");
    assert_eq!(idx.rows_of_key(k[0]), vec![1]);
    let k1 = idx.keys_in(b"100000001")[0];
    assert_eq!(idx.rows_of_key(k1), vec![0, 2]);
    // Not inside another identifier or a longer number.
    assert!(idx.keys_in(b"ORD100000002").is_empty());
    assert!(idx.keys_in(b"tel:81100000002").is_empty());
}

#[test]
fn token_runs_from_bit_masks_equal_a_byte_by_byte_scan() {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for n in 0..3000usize {
        // Text of every length up to ~200 with long and short runs and non-ASCII bytes.
        let len = n % 211;
        let hay: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                match x % 10 {
                    0 => b' ',
                    1 => b',',
                    2 => 0xC3,
                    3 => [b'`', b'z', b'{', b'a'][(x >> 8) as usize % 4],
                    4 => b'A',
                    5 => b'@' + (x >> 8) as u8 % 2 * 27, // '@' or '[' (around 'A'..'Z')
                    6 => b'/' + (x >> 8) as u8 % 2 * 11, // '/' or ':' (around digits)
                    _ => b'0' + (x >> 8) as u8 % 10,
                }
            })
            .collect();
        let mut got = Vec::new();
        for_each_token(&hay, |s, e| got.push((s, e)));
        let mut want = Vec::new();
        let mut i = 0;
        while i < hay.len() {
            if !hay[i].is_ascii_alphanumeric() {
                i += 1;
                continue;
            }
            let s = i;
            while i < hay.len() && hay[i].is_ascii_alphanumeric() {
                i += 1;
            }
            want.push((s, i));
        }
        assert_eq!(got, want, "{:?}", String::from_utf8_lossy(&hay));
    }
}

#[test]
fn keys_split_across_segments_are_found_and_longer_numbers_are_not_keys() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.csv");
    std::fs::write(&a, "100000001,A\n100000002,B\n").unwrap();
    let idx = RecoveredIndex::build(
        std::slice::from_ref(&a),
        &RecordFormat::Csv,
        &[false],
        Some(&KeySpec::Column(1)),
    )
    .unwrap();
    let (k1, k2) = (idx.keys_in(b"100000001")[0], idx.keys_in(b"100000002")[0]);
    let stream = |segments: &[&[u8]], gap_before: Option<usize>| {
        let (mut carry, mut out) = (KeyCarry::default(), Vec::new());
        for (i, s) in segments.iter().enumerate() {
            if gap_before == Some(i) {
                carry.gap();
            }
            idx.keys_in_stream(&mut carry, s, &mut out);
        }
        idx.keys_end(&mut carry, &mut out);
        out.sort_unstable();
        out
    };
    // Every split of a text holding both keys, one inside a longer number.
    let text: &[u8] = b"id=100000001&n=91000000029&x=100000002";
    for cut in 0..=text.len() {
        assert_eq!(
            stream(&[&text[..cut], &text[cut..]], None),
            vec![k1, k2],
            "cut at {cut}"
        );
    }
    // A key split in three, one byte in the middle segment; the stream ends in a key.
    assert_eq!(stream(&[b"x 1000", b"0", b"0001"], None), vec![k1]);
    // After a gap the first token may be the end of a longer one: not a key.
    assert_eq!(stream(&[b"x 9", b"100000002 100000001"], Some(1)), vec![k1]);
    assert_eq!(stream(&[b"x 9", b" 100000002"], Some(1)), vec![k2]);
}
