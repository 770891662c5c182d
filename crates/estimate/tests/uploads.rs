//! One upload at a time through the whole pipeline (capture → flows → attribution →
//! content ledger → matcher): a multipart/form-data file upload and a form-urlencoded
//! upload of recovered rows are split, counted and confirmed row by row; the form field
//! names and the multipart framing never count as records.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use exfilmeter_estimate::{
    ContentLedger, Header, KeySpec, Level, RecordFormat, RecordModel, RecoveredIndex, Rules, Unit,
};
use exfilmeter_flow::{DayClock, Tracker, TrackerConfig};
use exfilmeter_ingest::{CaptureReader, Decoded, Decoder, FileId, HashAlgo};
use exfilmeter_intel::{Attributor, Internal, IocSet};
use std::io::Write;

const ROWS: usize = 40;

fn rows() -> Vec<String> {
    (0..ROWS)
        .map(|i| {
            format!(
                "{:09},2010-01-{:02},Name {i},Tokyo Minato {}-{},03-{:04}-{:04}\n",
                200_000_000 + i * 37,
                1 + i % 28,
                i % 9,
                i % 13,
                i * 7,
                i * 11
            )
        })
        .collect()
}

/// Runs `request` (sent to 203.0.113.9:80, an IOC) and returns the units and the confirmed
/// and partial keys.
fn run(request: &[u8]) -> (Vec<Unit>, Vec<String>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("stage.csv");
    std::fs::write(&rec, rows().concat()).unwrap();
    let iocs = dir.path().join("iocs.txt");
    std::fs::write(&iocs, "203.0.113.9\n").unwrap();
    let cap = dir.path().join("c.pcap");
    let mut f = std::fs::File::create(&cap).unwrap();
    f.write_all(&exfilmeter_synth::single_connection(
        [203, 0, 113, 9],
        80,
        request,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        1_411_084_800,
    ))
    .unwrap();
    drop(f);
    let recs = vec![rec];
    let key = KeySpec::Column(1);
    let model = RecordModel::build(&recs, &RecordFormat::Csv, Header::No, Some(&key)).unwrap();
    let index = RecoveredIndex::build(&recs, &RecordFormat::Csv, &[false], Some(&key)).unwrap();
    let mut shape = model.shape(&RecordFormat::Csv);
    shape.collect_lines = index.max_len as usize + 2;
    let set = IocSet::load(&[iocs], false).unwrap();
    let tz: chrono_tz::Tz = "Asia/Tokyo".parse().unwrap();
    let ledger =
        ContentLedger::new(&shape, Rules::default(), DayClock::new(tz), &set).with_index(&index);
    let mut tracker = Tracker::new(TrackerConfig {
        tz,
        ..TrackerConfig::default()
    });
    let mut decoder = Decoder::default();
    let mut a = Attributor::new(&set, Internal::default(), 3600, ledger);
    let mut r = CaptureReader::open(&cap, FileId(0), HashAlgo::None).unwrap();
    while let Some(frame) = r.next_frame() {
        if let Decoded::Packet(p) = decoder.decode(&frame) {
            tracker.packet(&p, &mut a);
        }
    }
    decoder.finish();
    tracker.finish(&mut a);
    let mut l = a.inner;
    l.finish();
    let key_of =
        |row: u32| String::from_utf8_lossy(index.key(index.rows[row as usize].key)).to_string();
    let pick = |lv: Level| -> Vec<String> {
        let mut v: Vec<String> = l
            .sightings
            .iter()
            .filter(|s| s.seen.level == lv)
            .map(|s| key_of(s.seen.row))
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let (c, p) = (pick(Level::Confirmed), pick(Level::Partial));
    (l.units.clone(), c, p)
}

fn keys(range: std::ops::Range<usize>) -> Vec<String> {
    let mut v: Vec<String> = range
        .map(|i| format!("{:09}", 200_000_000 + i * 37))
        .collect();
    v.sort();
    v
}

#[test]
fn multipart_file_upload_is_split_counted_and_confirmed() {
    let file: String = rows()[..30].concat();
    let body = format!(
        "--b0undary\r\nContent-Disposition: form-data; name=\"host\"\r\n\r\npc-cs-11\r\n\
         --b0undary\r\nContent-Disposition: form-data; name=\"f\"; filename=\"s.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n{file}\r\n--b0undary--\r\n"
    );
    let req = format!(
        "POST /up HTTP/1.1\r\nHost: x.example\r\nContent-Type: multipart/form-data; \
         boundary=b0undary\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (units, confirmed, partial) = run(req.as_bytes());
    assert_eq!(confirmed, keys(0..30));
    assert!(partial.is_empty(), "{partial:?}");
    let counted: u64 = units
        .iter()
        .filter_map(|u| u.body.counted.map(|c| c.complete))
        .sum();
    assert_eq!(counted, 30, "the file part's rows, nothing of the framing");
    assert_eq!(units.len(), 2, "one unit per part");
}

#[test]
fn form_urlencoded_upload_is_decoded_and_confirmed() {
    let data: String = rows()[5..25]
        .concat()
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' => (b as char).to_string(),
            b' ' => "+".to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let body = format!("id=pc-cs-11&data={data}&n=20");
    let req = format!(
        "POST /f HTTP/1.1\r\nHost: x.example\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (units, confirmed, _) = run(req.as_bytes());
    assert_eq!(confirmed, keys(5..25));
    let counted: u64 = units
        .iter()
        .filter_map(|u| u.body.counted.map(|c| c.complete))
        .sum();
    assert_eq!(counted, 20);
}
