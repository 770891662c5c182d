//! Tests of the body scan and the record counter.

use super::*;
use crate::lines::{count_byte, Line};
use std::collections::HashSet;

fn csv_shape() -> RecordShape {
    RecordShape {
        format: RecordFormat::Csv,
        fields: Some(3),
        headers: [b"id,name,city".to_vec()].into_iter().collect(),
        min_size: 10,
        archives: Vec::new(),
        collect_lines: 0,
    }
}

fn rows(n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| format!("{:09},Name {i},City {}\n", 100_000 + i, i % 7).into_bytes())
        .collect()
}

/// `b` as one zlib stream at compression `level`.
fn zlib(b: &[u8], level: u32) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(level));
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// `b` as one gzip member at compression `level`.
fn gzip(b: &[u8], level: u32) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

#[test]
fn fixed_width_records_become_lines_for_matching_and_gaps_cut_them() {
    let shape = RecordShape {
        format: RecordFormat::Fixed(12),
        fields: None,
        headers: HashSet::new(),
        min_size: 12,
        archives: Vec::new(),
        collect_lines: 14,
    };
    let data = b"000000001ab\n000000002cd\n000000003ef\n000000004gh\n";
    let mut c = RecordCounter::new(&shape);
    c.feed(0, &data[..17]);
    c.feed(17, &data[17..30]);
    // Bytes 30..40 are missing: record 3 is cut, record 4 starts after the gap at 36.
    c.feed(40, &data[40..]);
    let (counted, lines) = c.finish_lines(0);
    assert_eq!((counted.complete, counted.partial), (2, 2));
    assert_eq!((counted.partial_bytes, counted.missing), (6 + 8, 10));
    let whole: Vec<(&[u8], u64)> = lines
        .iter()
        .filter(|(l, _)| l.whole)
        .map(|(l, b)| (b, l.offset))
        .collect();
    assert_eq!(
        whole,
        [(&b"000000001ab\n"[..], 0), (&b"000000002cd\n"[..], 12)]
    );
    assert_eq!(lines.iter().filter(|(l, _)| !l.whole).count(), 2);
    assert_eq!(lines.get(2).map(|l| l.1), Some(&b"000000"[..]));
    assert_eq!(lines.get(3).map(|l| l.1), Some(&b"00004gh\n"[..]));
    assert_eq!(lines.lines()[3].offset, 40);
}

fn scan(shape: &RecordShape, parts: &[(u64, &[u8])], len: Option<u64>) -> BodyResult {
    let mut s = BodyScan::new(shape);
    for (o, b) in parts {
        s.feed(*o, b);
    }
    s.finish(len)
}

#[test]
fn byte_counts_in_blocks_equal_a_plain_count() {
    let mut next = crate::testkit::xorshift(0x9E37_79B9_7F4A_7C15);
    let data: Vec<u8> = (0..300)
        .map(|_| [b',', b'a', b'\n', b','][(next() % 4) as usize])
        .collect();
    for start in 0..40 {
        for end in start..data.len() {
            let s = &data[start..end];
            assert_eq!(
                count_byte(s, b','),
                s.iter().filter(|&&c| c == b',').count()
            );
        }
    }
    assert_eq!(count_byte(&[b','; 64], b','), 64);
}

#[test]
fn plain_records_are_counted_exactly() {
    let shape = csv_shape();
    let body = rows(50);
    let r = scan(&shape, &[(0, &body)], Some(body.len() as u64));
    assert_eq!(r.kind, Kind::Plain);
    let c = r.counted.unwrap();
    assert_eq!((c.complete, c.partial, c.unparsed), (50, 0, 0));
    assert_eq!(c.complete_bytes, body.len() as u64);
}

#[test]
fn quoted_fields_count_the_same_at_every_split() {
    let shape = RecordShape {
        collect_lines: 100,
        ..csv_shape()
    };
    // Quoted commas and line feeds, an escaped quote, plain rows between, a 4-field row.
    let body = b"1,\"a,b\",c\n2,\"x\ny\",z\n3,p,q\n4,\"say \"\"hi\"\"\",r\n5,s,t,u\n6,v,w\n";
    let whole = {
        let mut c = RecordCounter::new(&shape);
        c.feed(0, body);
        c.finish_lines(0)
    };
    assert_eq!((whole.0.complete, whole.0.unparsed), (5, 1));
    assert_eq!(whole.1.get(1).map(|l| l.1), Some(&b"2,\"x\ny\",z"[..]));
    for k in 1..body.len() {
        let mut c = RecordCounter::new(&shape);
        for (i, piece) in body.chunks(k).enumerate() {
            c.feed((i * k) as u64, piece);
        }
        assert_eq!(c.finish_lines(0), whole, "pieces of {k}");
    }
}

#[test]
fn header_line_is_not_a_record_and_pieces_join() {
    let shape = csv_shape();
    let mut body = b"id,name,city\n".to_vec();
    body.extend(rows(10));
    let parts: Vec<(u64, &[u8])> = body
        .chunks(7)
        .enumerate()
        .map(|(i, c)| ((i * 7) as u64, c))
        .collect();
    let r = scan(&shape, &parts, None);
    assert_eq!(r.counted.unwrap().complete, 10);
}

#[test]
fn a_gap_cuts_records_into_partials_never_complete() {
    let shape = csv_shape();
    let body = rows(20);
    let line = body.iter().position(|&b| b == b'\n').unwrap() as u64 + 1;
    // bytes [5*line+3, 7*line+3) missing: records 5 and 7 are cut, record 6 is lost.
    let a = (5 * line + 3) as usize;
    let b = (7 * line + 3) as usize;
    let r = scan(&shape, &[(0, &body[..a]), (b as u64, &body[b..])], None);
    let c = r.counted.unwrap();
    assert_eq!(c.complete, 17);
    assert_eq!(c.partial, 2);
    assert_eq!(c.missing, (b - a) as u64);
    assert_eq!(r.missing, (b - a) as u64);
    assert_eq!(r.length, body.len() as u64);
}

#[test]
fn missing_tail_of_a_known_length_body() {
    let shape = csv_shape();
    let body = rows(10);
    let cut = body.len() - 5;
    let r = scan(&shape, &[(0, &body[..cut])], Some(body.len() as u64));
    let c = r.counted.unwrap();
    assert_eq!((c.complete, c.partial), (9, 1));
    assert_eq!(r.missing, 5);
}

#[test]
fn base64_of_zlib_is_decoded_and_counted() {
    let shape = csv_shape();
    let raw = rows(300);
    let z = zlib(&raw, 6);
    let b64 = base64_encode(&z);
    let parts: Vec<(u64, &[u8])> = b64
        .chunks(1000)
        .enumerate()
        .map(|(i, c)| ((i * 1000) as u64, c))
        .collect();
    let r = scan(&shape, &parts, Some(b64.len() as u64));
    assert_eq!(r.kind, Kind::Base64Zlib);
    let c = r.counted.unwrap();
    assert_eq!(c.complete, 300);
    assert_eq!(c.decoded_bytes, raw.len() as u64);
}

#[test]
fn gzip_body_is_decoded_and_a_gap_in_it_breaks_decoding() {
    let shape = csv_shape();
    let raw = rows(200);
    let z = gzip(&raw, 6);
    let ok = scan(&shape, &[(0, &z)], Some(z.len() as u64));
    assert_eq!(ok.kind, Kind::Gzip);
    assert_eq!(ok.counted.unwrap().complete, 200);
    let h = z.len() / 2;
    let cut = scan(
        &shape,
        &[(0, &z[..h]), (h as u64 + 10, &z[h + 10..])],
        Some(z.len() as u64),
    );
    assert!(cut.broken);
    assert_eq!(cut.counted, None);
    assert_eq!(cut.missing, 10);
}

/// Feeds `z` in 4 KiB pieces (skipping `hole`), draining lines after each piece the way
/// the content ledger does; returns the lines drained before the end, the end.
fn drain_all(
    shape: &RecordShape,
    z: &[u8],
    hole: Option<std::ops::Range<usize>>,
) -> (Lines, BodyEnd) {
    let mut s = BodyScan::new(shape);
    let (mut early, mut more) = (Lines::default(), Lines::default());
    for (i, c) in z.chunks(4096).enumerate() {
        let at = i * 4096;
        if hole.as_ref().is_some_and(|h| h.contains(&at)) {
            continue;
        }
        s.feed(at as u64, c);
        s.drain_lines(&mut more);
        early.append(&mut more);
    }
    (early, s.finish_end(Some(z.len() as u64)))
}

#[test]
fn lines_of_encoded_content_leave_while_decoding_marked_provisional() {
    let shape = RecordShape {
        collect_lines: 200,
        ..csv_shape()
    };
    let raw = rows(20_000);
    let z = zlib(&raw, 1);
    let (early, end) = drain_all(&shape, &z, None);
    // Nearly every line leaves before the body ends (nothing accumulates in the scan).
    assert!(early.len() > 19_000, "{} lines before the end", early.len());
    assert!(early.lines().iter().all(|l| l.whole));
    // Provisional until the stream's checksum was read (with the last piece).
    let provisional = early.lines().iter().filter(|l| l.provisional).count();
    assert!(provisional > 19_000, "{provisional} provisional lines");
    assert_eq!(early.len() + end.lines.len(), 20_000);
    assert!(end.lines.lines().iter().all(|l| !l.provisional));
    assert_eq!(
        end.whole_until,
        u64::MAX,
        "checksum verified: all stay whole"
    );
    assert_eq!(end.result.counted.unwrap().complete, 20_000);

    // A hole in the compressed bytes: decoding breaks, nothing drained before stays whole.
    let (early, end) = drain_all(&shape, &z, Some(8192..12288));
    // Lines before the hole are provisional; the record the hole cut is a final fragment.
    let (prov, cut): (Vec<&Line>, Vec<&Line>) = early.lines().iter().partition(|l| l.provisional);
    assert!(!prov.is_empty() && prov.iter().all(|l| l.whole));
    assert!(cut.len() == 1 && !cut[0].whole, "{cut:?}");
    assert_eq!(end.whole_until, 0, "no checksum covered any byte");
    assert!(end.result.broken);
    assert!(end.lines.lines().iter().all(|l| !l.whole && !l.provisional));
}

#[test]
fn a_verified_gzip_member_stays_whole_when_the_next_one_breaks() {
    let shape = RecordShape {
        collect_lines: 200,
        ..csv_shape()
    };
    let gz = |b: &[u8]| gzip(b, 1);
    let (a, b) = (rows(2_000), rows(3_000));
    let mut z = gz(&a);
    let first = z.len();
    z.extend(gz(&b));
    // The hole is well inside the second member.
    let h = (first / 4096 + 2) * 4096;
    let (early, end) = drain_all(&shape, &z, Some(h..h + 4096));
    assert_eq!(end.whole_until, a.len() as u64);
    let stands = |l: &Line| l.whole && l.offset + l.len <= end.whole_until;
    let whole = early.lines().iter().filter(|l| stands(l)).count()
        + end.lines.lines().iter().filter(|l| l.whole).count();
    assert_eq!(
        whole, 2_000,
        "exactly the first member's records stay whole"
    );
}

#[test]
fn a_suspended_stream_continues_and_absurd_lengths_do_not_overflow() {
    let shape = RecordShape {
        collect_lines: 200,
        ..csv_shape()
    };
    let raw = rows(2_000);
    let z = gzip(&raw, 1);
    let (a, b) = z.split_at(z.len() / 2);
    let mut s = BodyScan::new(&shape);
    s.feed(0, a);
    // Declared longer than what came (or absurdly long): not a complete prefix.
    assert_eq!(s.suspend(Some(u64::MAX)), None);
    let first = s.suspend(Some(a.len() as u64)).expect("a prefix");
    assert_eq!(first.length, a.len() as u64);
    assert!(s.continues_with(b));
    s.resume();
    s.feed(0, b);
    let end = s.finish_end(Some(u64::MAX));
    // An absurd declared length is a missing tail, no overflow.
    assert!(end.result.broken && end.result.missing > 0);
    // Both halves together: every record counted once as complete.
    let mut s = BodyScan::new(&shape);
    s.feed(0, a);
    let first = s.suspend(None).expect("a prefix");
    s.resume();
    s.feed(0, b);
    let second = s.finish_end(Some(b.len() as u64)).result;
    assert_eq!(second.length, b.len() as u64);
    let complete = |r: &BodyResult| r.counted.map_or(0, |c| c.complete);
    assert_eq!(complete(&first) + complete(&second), 2_000);
    assert_eq!(second.counted.map(|c| c.partial), Some(0));
}

#[test]
fn random_bytes_are_opaque() {
    let shape = csv_shape();
    let mut next = crate::testkit::xorshift(0x1234_5678_9abc_def0);
    let body: Vec<u8> = (0..4000).map(|_| next() as u8).collect();
    let r = scan(&shape, &[(0, &body)], None);
    assert_eq!(r.kind, Kind::Opaque);
    assert_eq!(r.counted, None);
    assert!(!r.broken);
}

#[test]
fn text_that_is_not_records_is_unrecognised() {
    let shape = csv_shape();
    let body = b"hello world, this is a beacon with status=ok and nothing else".repeat(3);
    let r = scan(&shape, &[(0, &body)], None);
    assert_eq!(r.kind, Kind::Unrecognised);
}

#[test]
fn fixed_records_by_offset() {
    let shape = RecordShape {
        format: RecordFormat::Fixed(10),
        ..RecordShape::default()
    };
    let body = b"0123456789".repeat(10);
    let r = scan(&shape, &[(0, &body[..25]), (40, &body[40..])], None);
    let c = r.counted.unwrap();
    // records 0,1 complete; record 2 cut (5 bytes); record 3 lost; 4..9 complete.
    assert_eq!((c.complete, c.partial), (8, 1));
}

fn base64_encode(b: &[u8]) -> Vec<u8> {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
    out
}
