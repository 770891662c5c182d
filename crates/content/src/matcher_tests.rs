//! Tests of the row matcher.

use super::*;
use crate::records::RecordFormat;
use crate::testkit::line;

#[test]
fn provisional_lines_are_held_and_settled_by_how_far_decoding_held() {
    let (_dir, idx) =
        crate::testkit::csv_index("100000001,Alice\n100000002,Bob\n100000003,Carol\n", true);
    // `sure`: what a checksum covered while decoding went on (never beyond the end result).
    let upload = |whole_until: u64, sure: u64| {
        let mut m = Matcher::new(&idx);
        let (mut out, mut cur) = (Vec::new(), Cursor::default());
        let mut at = 0;
        for (i, text) in [&b"100000001,Alice"[..], b"100000002,Bob"]
            .iter()
            .enumerate()
        {
            let mut l = line(text, true, i as u64);
            l.offset = at;
            l.provisional = true;
            at += l.len;
            m.line(&l, text, &mut cur, &mut out);
        }
        assert!(out.is_empty(), "nothing decided before the decoding ends");
        Matcher::settle_sure(&mut cur, sure, &mut out);
        // Lines ending within `sure` are decided at once (16: the first one).
        assert_eq!(out.len(), usize::from(sure >= 16) + usize::from(sure >= 30));
        // A final line after them (cut by the break) waits too, to keep the order.
        let mut last = line(b"100000003,Car", false, 9);
        last.offset = at;
        m.line(&last, b"100000003,Car", &mut cur, &mut out);
        Matcher::settle(&mut cur, whole_until, &mut out);
        out.iter().map(|p| (p.row, p.level)).collect::<Vec<_>>()
    };
    use Level::*;
    for sure in [0, 16] {
        assert_eq!(
            upload(u64::MAX, sure),
            [(0, Confirmed), (1, Confirmed), (2, Partial)]
        );
        // The checksum covered the first line only.
        assert_eq!(
            upload(16, sure),
            [(0, Confirmed), (1, Partial), (2, Partial)]
        );
    }
    assert_eq!(
        upload(u64::MAX, 30),
        [(0, Confirmed), (1, Confirmed), (2, Partial)]
    );
    assert_eq!(upload(0, 0), [(0, Partial), (1, Partial), (2, Partial)]);
}

#[test]
fn held_sightings_of_one_long_gzip_member_merge_and_settle_as_unmerged() {
    use std::io::Write;
    let rows: Vec<String> = (0..50)
        .map(|i| format!("{:09},Name {i},City", 100_000_000 + i))
        .collect();
    let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
    let (_dir, idx) = crate::testkit::csv_index(&text, true);
    let shape = crate::lines::RecordShape {
        format: RecordFormat::Csv,
        fields: Some(3),
        collect_lines: idx.line_keep(),
        ..Default::default()
    };
    // One gzip member of 40,000 lines: the 50 rows over and over.
    let plain: String = (0..40_000).map(|i| format!("{}\n", rows[i % 50])).collect();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    e.write_all(plain.as_bytes()).unwrap();
    let gz = e.finish().unwrap();
    // `merge`: as the content ledger does; else the held list is only settled.
    let run = |upto: usize, merge: bool| {
        let mut m = Matcher::new(&idx);
        let mut scan = BodyScan::new(&shape);
        let (mut cur, mut out, mut most) = (Cursor::default(), Vec::new(), 0);
        for (i, piece) in gz[..upto].chunks(512).enumerate() {
            scan.feed((i * 512) as u64, piece);
            m.drain(&mut scan, &mut cur, &mut out);
            if merge {
                Matcher::settle_ready(&mut cur, &scan, &mut out);
            } else {
                Matcher::settle_sure(&mut cur, scan.sure(), &mut out);
            }
            most = most.max(cur.held.len());
        }
        let end = scan.finish_end(Some(gz.len() as u64));
        m.lines(&end.lines, &mut cur, &mut out);
        Matcher::settle(&mut cur, end.whole_until, &mut out);
        compact(&mut out);
        let mut got: Vec<(u32, Level, u64, u64)> = out
            .iter()
            .map(|p| (p.row, p.level, p.count, p.bytes))
            .collect();
        got.sort_unstable();
        (got, most)
    };
    for upto in [gz.len(), gz.len() - 20, gz.len() / 2] {
        let (merged, most) = run(upto, true);
        let (plain_held, most_unmerged) = run(upto, false);
        assert_eq!(merged, plain_held, "sent {upto} of {} bytes", gz.len());
        assert!(most_unmerged > 15_000, "{most_unmerged} held unmerged");
        assert!(most < 9_000, "{most} held with merging");
        let confirmed = merged.iter().filter(|r| r.1 == Level::Confirmed).count();
        // Complete: every row confirmed 800 times; cut short: none confirmed.
        assert_eq!(confirmed, if upto == gz.len() { 50 } else { 0 }, "{upto}");
        if upto == gz.len() {
            assert!(merged.iter().all(|r| r.2 == 800));
        }
    }
}

#[test]
fn a_row_staged_twice_is_taken_where_the_upload_continues() {
    let (_dir, idx) = crate::testkit::csv_index("a,1\nb,2\na,1\nc,3\n", false);
    let mut m = Matcher::new(&idx);
    let (mut out, mut prev) = (Vec::new(), Cursor::default());
    for l in [&b"b,2"[..], b"a,1", b"c,3"] {
        m.line(&line(l, true, 1), l, &mut prev, &mut out);
    }
    let rows: Vec<u32> = out.iter().map(|p| p.row).collect();
    assert_eq!(rows, vec![1, 2, 3]);
}
