//! Tests of the body demultiplexing helpers: the control rule of a unit, parts scanned on their
//! own, and how a scan ends (for good, or suspended inside a compressed stream).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use exfilmeter_content::{Kind, RecordFormat};
use exfilmeter_ingest::FileId;
use std::io::Write;

fn shape() -> RecordShape {
    RecordShape {
        format: RecordFormat::Csv,
        fields: Some(3),
        min_size: 10,
        ..RecordShape::default()
    }
}

fn rows(n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| format!("{:09},Name {i},City {}\n", 100_000 + i, i % 7).into_bytes())
        .collect()
}

fn seen(i: u64) -> exfilmeter_content::Seen {
    (
        Timestamp(i as i64),
        FrameRef {
            file: FileId(0),
            index: i,
            offset: 0,
        },
    )
}

fn place(day: i32) -> BodyPlace {
    BodyPlace {
        last_day: day,
        last_ts: Timestamp(5),
        first_frame: seen(1).1,
        last_frame: seen(2).1,
    }
}

fn result(length: u64, complete: u64) -> BodyResult {
    BodyResult {
        kind: Kind::Plain,
        length,
        seen: length,
        missing: 0,
        counted: Some(exfilmeter_content::Counted {
            complete,
            complete_bytes: if complete > 0 { length } else { 0 },
            ..Default::default()
        }),
        broken: false,
    }
}

#[test]
fn a_small_body_without_records_is_control_with_its_head_and_one_with_a_record_is_not() {
    let rules = Rules::default();
    let mut f = FlowContent::default();
    push_body_unit(&mut f, place(7), FlowId(3), result(50, 0), rules, 200);
    push_body_unit(&mut f, place(7), FlowId(3), result(50, 1), rules, 200);
    push_body_unit(
        &mut f,
        place(8),
        FlowId(3),
        result(rules.control_max, 0),
        rules,
        90,
    );
    let control: Vec<bool> = f.units.iter().map(|u| u.control).collect();
    assert_eq!(control, [true, false, false]);
    assert_eq!(
        f.control.get(&7),
        Some(&250),
        "head and body of the control unit"
    );
    assert_eq!(f.control.get(&8), None);
    assert!(f
        .units
        .iter()
        .all(|u| u.source == Source::HttpBody && u.flow == FlowId(3)));
    assert_eq!(f.units[0].frames, (seen(1).1, seen(2).1));
}

#[test]
fn multipart_parts_are_scanned_each_on_its_own() {
    let shape = shape();
    let data = rows(20);
    let mut body = b"--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"s.csv\"\r\n\r\n".to_vec();
    body.extend_from_slice(&data);
    body.extend_from_slice(b"\r\n--XyZ--\r\n");
    let mut m = Multipart::new("XyZ");
    let mut parts: Parts<'_> = BTreeMap::new();
    let (mut none, mut continued) = (None, 0);
    // Fed in uneven pieces, as segments arrive.
    for piece in body.chunks(37) {
        let mut ev = Vec::new();
        m.feed(piece, &mut ev);
        feed_parts(
            &mut parts,
            &shape,
            ev,
            seen(1),
            (&mut none, 1, &mut continued),
        );
    }
    let mut ev = Vec::new();
    m.finish(&mut ev);
    feed_parts(
        &mut parts,
        &shape,
        ev,
        seen(2),
        (&mut none, 1, &mut continued),
    );
    assert_eq!(parts.len(), 2);
    assert_eq!(continued, 0);
    let counted: Vec<u64> = parts
        .into_values()
        .map(|(scan, _)| {
            scan.finish_end(None)
                .result
                .counted
                .map_or(0, |c| c.complete)
        })
        .collect();
    // The form field holds no record; the file part holds all 20, the framing none.
    assert_eq!(counted, [0, 20]);
}

#[test]
fn a_scan_that_ends_inside_a_gzip_stream_is_suspended_and_a_complete_one_finishes() {
    let shape = shape();
    let data = rows(200);
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    e.write_all(&data).unwrap();
    let gz = e.finish().unwrap();
    let end = |bytes: &[u8]| {
        let mut scan = BodyScan::new(&shape);
        scan.feed_at(0, bytes, seen(1));
        let mut pending = Sightings::default();
        end_scan(
            scan,
            Cursor::default(),
            Some(bytes.len() as u64),
            (1, 0, None),
            None,
            &mut pending,
        )
    };
    match end(&gz) {
        ScanEnd::Finished(r, _) => {
            assert_eq!(r.kind, Kind::Gzip);
            assert_eq!(r.counted.map(|c| c.complete), Some(200));
        }
        ScanEnd::Suspended(..) => panic!("a complete gzip member was suspended"),
    }
    match end(&gz[..gz.len() / 2]) {
        ScanEnd::Suspended(r, s) => {
            assert_eq!(r.kind, Kind::Gzip);
            assert!(!r.broken);
            assert_eq!(s.m, 1);
            // Every record counted so far is whole: none of the 200 past the cut.
            let c = r.counted.unwrap();
            assert!(c.complete > 0 && c.complete < 200, "{c:?}");
        }
        ScanEnd::Finished(..) => panic!("a body cut inside the stream was not suspended"),
    };
}
