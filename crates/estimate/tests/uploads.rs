//! One upload at a time through the whole pipeline (capture → flows → attribution →
//! content ledger → matcher): a multipart/form-data file upload and a form-urlencoded
//! upload of recovered rows are split, counted and confirmed row by row; the form field
//! names and the multipart framing never count as records. Zip archives (plain and base64)
//! are decoded entry by entry; a sent prefix of a gzip archive confirms exactly the rows it
//! holds; a recovered file that is itself an archive is indexed by its decoded rows, and an
//! upload of its very bytes proves the rows decoded before a capture gap.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use exfilmeter_estimate::{
    ContentLedger, Header, KeySpec, Kind, Level, NoRows, Pipeline, RecordFormat, RecordModel,
    RecoveredIndex, Rules, Tee, Unit,
};
use exfilmeter_flow::{DayClock, TrackerConfig};
use exfilmeter_ingest::{expand_inputs, HashAlgo};
use exfilmeter_intel::{Attributor, Internal, IocSet};
use std::io::Write;

const ROWS: usize = 40;

/// Recovered row `i` (key `200000000 + 37 i`).
fn row(i: usize) -> String {
    format!(
        "{:09},2010-01-{:02},Name {i},Tokyo Minato {}-{},03-{:04}-{:04}\n",
        200_000_000 + i * 37,
        1 + i % 28,
        i % 9,
        i % 13,
        i * 7,
        i * 11
    )
}

fn rows() -> Vec<String> {
    (0..ROWS).map(row).collect()
}

/// Runs `request` (sent to 203.0.113.9:80, an IOC) and returns the units and the confirmed
/// and partial keys.
fn run(request: &[u8]) -> (Vec<Unit>, Vec<String>, Vec<String>) {
    run_with(request, false)
}

/// As `run`; with `gz_recovered` the recovered file is stored gzip-compressed.
fn run_with(request: &[u8], gz_recovered: bool) -> (Vec<Unit>, Vec<String>, Vec<String>) {
    let data = rows().concat().into_bytes();
    run_setup(
        request,
        if gz_recovered { gzip(&data) } else { data },
        RecordFormat::Csv,
        KeySpec::Column(1),
    )
}

/// Fixed-width records of 81 bytes: key, a space, name, address, CRLF. (Keys are found as
/// whole alphanumeric tokens: a key run together with letters would not be.)
fn fixed_rows() -> Vec<u8> {
    (0..ROWS)
        .flat_map(|i| {
            format!(
                "{:09} {:<29}{:<40}\r\n",
                200_000_000 + i * 37,
                format!("NAME {i}"),
                format!("TOKYO MINATO {}-{}", i % 9, i % 13)
            )
            .into_bytes()
        })
        .collect()
}

/// Runs `request` against a recovered file holding `recovered` in `format`.
fn run_setup(
    request: &[u8],
    recovered: Vec<u8>,
    format: RecordFormat,
    key: KeySpec,
) -> (Vec<Unit>, Vec<String>, Vec<String>) {
    run_lossy(request, recovered, format, Some(key), &[])
}

/// As `run_setup`, the capture missing the request's segments numbered `lost`.
fn run_lossy(
    request: &[u8],
    recovered: Vec<u8>,
    format: RecordFormat,
    key: Option<KeySpec>,
    lost: &[usize],
) -> (Vec<Unit>, Vec<String>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("stage.dat");
    std::fs::write(&rec, recovered).unwrap();
    let iocs = dir.path().join("iocs.txt");
    std::fs::write(&iocs, "203.0.113.9\n").unwrap();
    let cap = dir.path().join("c.pcap");
    let mut f = std::fs::File::create(&cap).unwrap();
    f.write_all(&exfilmeter_synth::single_connection_lossy(
        [203, 0, 113, 9],
        80,
        request,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        1_411_084_800,
        lost,
    ))
    .unwrap();
    drop(f);
    let recs = vec![rec];
    let model = RecordModel::build(&recs, &format, Header::No, key.as_ref()).unwrap();
    let index = RecoveredIndex::build(&recs, &format, &[false], key.as_ref()).unwrap();
    let mut shape = model.shape(&format);
    shape.match_against(&index);
    let set = IocSet::load(&[iocs], false).unwrap();
    let tz: chrono_tz::Tz = "Asia/Tokyo".parse().unwrap();
    let ledger =
        ContentLedger::new(&shape, Rules::default(), DayClock::new(tz), &set).with_index(&index);
    let tee = Tee {
        rows: NoRows,
        content: ledger,
    };
    let mut a = Attributor::new(&set, Internal::default(), 3600, tee);
    let inputs = expand_inputs(&[cap.display().to_string()]).unwrap();
    let cfg = TrackerConfig {
        tz,
        ..TrackerConfig::default()
    };
    Pipeline::new(cfg, HashAlgo::None).run(&inputs, &mut a, &mut ());
    let mut l = a.inner.content;
    l.finish();
    // A record is named by its key, or (no keys) by its row number.
    let key_of = |row: u32| match index.rows[row as usize].key {
        u32::MAX => format!("row {row}"),
        k => String::from_utf8_lossy(index.key(k)).to_string(),
    };
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

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// Oracle: what gunzip decodes from the first bytes of a gzip stream before it runs out.
fn gunzip_prefix(prefix: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut d = flate2::read::GzDecoder::new(prefix);
    let mut buf = [0u8; 256];
    loop {
        match std::io::Read::read(&mut d, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    out
}

fn post(body: &[u8], content_type: &str) -> Vec<u8> {
    let mut req = format!(
        "POST /up HTTP/1.1\r\nHost: x.example\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    req
}

fn counted(units: &[Unit]) -> u64 {
    units
        .iter()
        .filter_map(|u| u.body.counted.map(|c| c.complete))
        .sum()
}

#[test]
fn zip_upload_is_decoded_entry_by_entry_and_confirmed() {
    let r = rows();
    let a = r[..12].concat();
    let b = r[12..20].concat();
    let c = r[20..33].concat();
    let c = c.trim_end_matches('\n'); // last entry without a final line feed
    let archive = exfilmeter_synth::zip_archive(&[
        exfilmeter_synth::ZipEntry {
            name: "a.csv",
            data: a.as_bytes(),
            deflate: true,
            descriptor: false,
        },
        exfilmeter_synth::ZipEntry {
            name: "b.csv",
            data: b.as_bytes(),
            deflate: false,
            descriptor: false,
        },
        exfilmeter_synth::ZipEntry {
            name: "c.csv",
            data: c.as_bytes(),
            deflate: true,
            descriptor: true,
        },
    ]);
    let (units, confirmed, partial) = run(&post(&archive, "application/zip"));
    assert_eq!(confirmed, keys(0..33));
    assert!(partial.is_empty(), "{partial:?}");
    assert_eq!(counted(&units), 33);
    assert_eq!(units[0].body.kind.as_str(), "zip");
    // The same archive in base64, line-wrapped.
    let b64 = base64(&archive);
    let (units, confirmed, _) = run(&post(b64.as_bytes(), "text/plain"));
    assert_eq!(confirmed, keys(0..33));
    assert_eq!(units[0].body.kind.as_str(), "base64+zip");
    // A flipped byte inside the second (stored) entry: its CRC fails; the first entry was
    // verified before and its rows stay confirmed, nothing after is.
    let mut bad = archive.clone();
    let at = bad
        .windows(9)
        .position(|w| w == format!("{:09}", 200_000_000 + 12 * 37).as_bytes())
        .unwrap();
    bad[at + 20] ^= 0x20;
    let (units, confirmed, _) = run(&post(&bad, "application/zip"));
    assert!(units[0].body.broken);
    assert_eq!(confirmed, keys(0..12));
}

fn base64(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for (i, c) in b.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            s.push_str("\r\n");
        }
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= c.len() {
                s.push(A[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

#[test]
fn a_sent_gzip_prefix_confirms_exactly_the_rows_it_holds() {
    let all = rows().concat();
    let gz = gzip(all.as_bytes());
    for cut in [gz.len() / 3, gz.len() / 2, gz.len() * 4 / 5] {
        let prefix = &gz[..cut];
        // Oracle: what gunzip decodes from the prefix before it runs out.
        let out = gunzip_prefix(prefix);
        let whole = out.iter().filter(|&&b| b == b'\n').count();
        assert!(whole > 0 && whole < ROWS, "cut {cut}: {whole} rows");
        let (units, confirmed, partial) = run(&post(prefix, "application/octet-stream"));
        assert_eq!(confirmed, keys(0..whole), "cut {cut}");
        assert!(!units[0].body.broken);
        assert_eq!(counted(&units), whole as u64);
        // The row the cut went through is seen in part, never confirmed.
        assert!(
            partial.iter().all(|k| keys(whole..whole + 1).contains(k)),
            "{partial:?}"
        );
    }
}

#[test]
fn a_recovered_archive_is_indexed_by_its_rows() {
    let body = rows()[3..17].concat();
    let (units, confirmed, _) = run_with(&post(body.as_bytes(), "text/csv"), true);
    assert_eq!(confirmed, keys(3..17));
    assert_eq!(counted(&units), 14);
    // And the archive itself sent as-is: its rows, decoded.
    let gz = gzip(rows().concat().as_bytes());
    let (_, confirmed, _) = run_with(&post(&gz, "application/gzip"), true);
    assert_eq!(confirmed, keys(0..ROWS));
}

#[test]
fn archive_bytes_equal_to_the_recovered_archive_confirm_their_rows_before_a_gap() {
    // 1,500 rows, gzip: about 25 segments; the capture misses one in the middle.
    let all: String = (0..1500).map(row).collect();
    let gz = gzip(all.as_bytes());
    let request = post(&gz, "application/gzip");
    let head = request.len() - gz.len();
    let mut cut_keys_seen = 0;
    for lost in [9, 10, 11, 12] {
        let gap_at = lost * 1460 - head;
        assert!(gap_at > 4 * 1460 && (lost + 2) * 1460 < request.len());
        // Oracle: what gunzip decodes from the archive's bytes before the gap.
        let out = gunzip_prefix(&gz[..gap_at]);
        let whole = out.iter().filter(|&&b| b == b'\n').count();
        assert!(whole > 100, "{whole} rows before the gap");
        // The row the gap cut is seen in part when its key was decoded before the gap.
        let tail = out.len() - out.iter().rposition(|&b| b == b'\n').unwrap() - 1;
        let cut = if tail > 9 {
            cut_keys_seen += 1;
            keys(whole..whole + 1)
        } else {
            Vec::new()
        };

        // The recovered file is the archive: the bytes before the gap are its bytes, so the
        // rows they decode to were sent, though the upload's own CRC can never be checked.
        let (units, confirmed, partial) = run_lossy(
            &request,
            gz.clone(),
            RecordFormat::Csv,
            Some(KeySpec::Column(1)),
            &[lost],
        );
        assert!(units[0].body.broken);
        assert_eq!(confirmed, keys(0..whole), "segment {lost} lost");
        assert_eq!(partial, cut, "the row the gap cut (segment {lost} lost)");

        // The recovered file holds the same rows uncompressed: nothing proves the compressed
        // bytes, so the rows before the gap are partial, none confirmed.
        let (_, confirmed, partial) = run_lossy(
            &request,
            all.clone().into_bytes(),
            RecordFormat::Csv,
            Some(KeySpec::Column(1)),
            &[lost],
        );
        assert!(confirmed.is_empty(), "{confirmed:?}");
        let mut expect = keys(0..whole);
        expect.extend(cut);
        assert_eq!(partial, expect);
    }
    assert!(cut_keys_seen > 0, "no gap fell after a cut row's key");

    // Bytes that differ from the archive (one byte changed before the gap) prove only what
    // was decoded before the segment holding the change.
    let lost = 11;
    let changed_at = (lost * 1460 - head) / 2;
    let segment_start = (changed_at + head) / 1460 * 1460 - head;
    let mut changed = gz.clone();
    changed[changed_at] ^= 0x01;
    let out = gunzip_prefix(&gz[..segment_start]);
    let proven = out.iter().filter(|&&b| b == b'\n').count();
    let (_, confirmed, _) = run_lossy(
        &post(&changed, "application/gzip"),
        gz,
        RecordFormat::Csv,
        Some(KeySpec::Column(1)),
        &[lost],
    );
    // (A decoder may hold back the last few bits of a piece: one row less at most.)
    assert!(
        confirmed == keys(0..proven) || confirmed == keys(0..proven - 1),
        "{} rows confirmed, {proven} decoded before the changed segment",
        confirmed.len()
    );
}

#[test]
fn without_keys_rows_inside_longer_lines_are_found_by_their_content() {
    let rows = rows();
    let plain = |r: &str| r.trim_end().to_string();
    // Rows joined three to a line behind a prefix; one row with a changed byte; then rows on
    // their own lines.
    let mut body = String::new();
    for t in (0..30).step_by(3) {
        let mut joined = [plain(&rows[t]), plain(&rows[t + 1]), plain(&rows[t + 2])];
        if t == 12 {
            joined[1] = joined[1].replacen("Name", "Nome", 1);
        }
        body.push_str(&format!("rec:{}\n", joined.join(" | ")));
    }
    for r in &rows[30..35] {
        body.push_str(r);
    }
    let (_, confirmed, _) = run_lossy(
        &post(body.as_bytes(), "text/plain"),
        rows.concat().into_bytes(),
        RecordFormat::Csv,
        None,
        &[],
    );
    let mut expect: Vec<String> = (0..35)
        .filter(|&i| i != 13)
        .map(|i| format!("row {i}"))
        .collect();
    expect.sort();
    assert_eq!(confirmed, expect);

    // Rows inside a JSON document (text that is not the record format): volume for the
    // estimate, its rows still confirmed, here by their keys.
    let json = format!(
        "{{\"batch\":7,\"rows\":[{}]}}",
        rows[5..9]
            .iter()
            .map(|r| format!("\"{}\"", plain(r)))
            .collect::<Vec<_>>()
            .join(",")
    );
    let (units, confirmed, _) = run(&post(json.as_bytes(), "application/json"));
    assert_eq!(confirmed, keys(5..9));
    assert_eq!(counted(&units), 0, "not counted as records");
}

#[test]
fn a_row_cut_between_two_requests_of_one_connection_is_confirmed_across_them() {
    let rows = rows();
    let data = rows[..20].concat();
    // The sender cuts its data into requests without regard to records: inside row 9, after
    // its key (so the key is in the first request) and, second case, inside its key.
    let start9 = rows[..9].concat().len();
    for cut in [start9 + 20, start9 + 4] {
        let (a, b) = data.split_at(cut);
        let mut two = post(a.as_bytes(), "text/csv");
        two.extend(post(b.as_bytes(), "text/csv"));
        let (_, confirmed, _) = run(&two);
        assert_eq!(confirmed, keys(0..20), "cut at {cut}");
        // Without keys, by the row's content anchor.
        let (_, confirmed, _) = run_lossy(
            &two,
            rows.concat().into_bytes(),
            RecordFormat::Csv,
            None,
            &[],
        );
        assert_eq!(confirmed.len(), 20, "no key, cut at {cut}: {confirmed:?}");
        // Another request between them: the two pieces are not one row.
        let mut three = post(a.as_bytes(), "text/csv");
        three.extend_from_slice(b"GET /status HTTP/1.1\r\nHost: x.example\r\n\r\n");
        three.extend(post(b.as_bytes(), "text/csv"));
        let (_, confirmed, _) = run(&three);
        let mut expect = keys(0..20);
        expect.retain(|k| !keys(9..10).contains(k));
        assert_eq!(confirmed, expect, "GET between, cut at {cut}");
    }
}

/// Makes a request of a piece of the staged file.
type Wrap = dyn Fn(&[u8]) -> Vec<u8>;

/// A multipart body: a form field, then `piece` as a file part.
fn multipart_piece(piece: &[u8]) -> Vec<u8> {
    let mut body =
        b"--b0undary\r\nContent-Disposition: form-data; name=\"host\"\r\n\r\npc-cs-11\r\n\
        --b0undary\r\nContent-Disposition: form-data; name=\"f\"; filename=\"s.part\"\r\n\
        Content-Type: application/octet-stream\r\n\r\n"
            .to_vec();
    body.extend_from_slice(piece);
    body.extend_from_slice(b"\r\n--b0undary--\r\n");
    post(&body, "multipart/form-data; boundary=b0undary")
}

#[test]
fn a_row_cut_between_two_multipart_or_encoded_requests_is_confirmed_across_them() {
    let rows = rows();
    let data = rows[..20].concat().into_bytes();
    let start9 = rows[..9].concat().len();
    let (a, b) = data.split_at(start9 + 20);
    let as_base64 = |p: &[u8]| post(base64(p).as_bytes(), "text/plain");
    let as_gzip = |p: &[u8]| post(&gzip(p), "application/octet-stream");
    let wraps: [(&str, &Wrap); 3] = [
        ("multipart", &multipart_piece),
        ("base64", &as_base64),
        ("gzip", &as_gzip),
    ];
    for (name, wrap) in wraps {
        let mut two = wrap(a);
        two.extend(wrap(b));
        let (_, confirmed, partial) = run(&two);
        assert_eq!(confirmed, keys(0..20), "{name}: partial {partial:?}");
    }
    // The second piece's body lacks its last 12 bytes (declared longer than what the
    // connection carried, which then ended): only what was sent counts, so the rows whose
    // bytes all left are confirmed — the row across the junction too — and the last row,
    // cut by the end, is not.
    let mut cut = as_gzip(a);
    let z = gzip(b);
    let mut short = post(&z, "application/octet-stream");
    short.truncate(short.len() - 12);
    cut.extend(short);
    let (_, confirmed, _) = run(&cut);
    assert_eq!(confirmed, keys(0..19));
}

/// Requests posting `stream` in `n` pieces, one request each (`Content-Type` as given).
fn pieces(stream: &[u8], n: usize, content_type: &str) -> Vec<u8> {
    let size = stream.len().div_ceil(n);
    stream
        .chunks(size)
        .flat_map(|p| post(p, content_type))
        .collect()
}

#[test]
fn an_archive_posted_in_pieces_is_decoded_across_the_requests() {
    let data = rows()[..40].concat().into_bytes();
    let zlib = {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&data).unwrap();
        e.finish().unwrap()
    };
    let gz = gzip(&data);
    for (name, stream) in [("gzip", gz.clone()), ("zlib", zlib)] {
        for n in [2, 3, 5] {
            let (units, confirmed, partial) = run(&pieces(&stream, n, "application/octet-stream"));
            assert_eq!(confirmed, keys(0..40), "{name} in {n} pieces");
            assert!(partial.is_empty(), "{name} in {n}: {partial:?}");
            // Every record counted once, as complete, in the body that completed it; the
            // records cut at the pieces' ends are fragments of the bodies they began in.
            let complete: u64 = units
                .iter()
                .filter_map(|u| u.body.counted.map(|c| c.complete))
                .sum();
            assert_eq!(complete, 40, "{name} in {n} pieces");
            let length: u64 = units.iter().map(|u| u.body.length).sum();
            assert_eq!(length, stream.len() as u64, "{name} in {n}: bytes by body");
        }
    }
    // The pieces as file parts of multipart requests (a form field before each).
    for n in [2, 4] {
        let size = gz.len().div_ceil(n);
        let req: Vec<u8> = gz.chunks(size).flat_map(multipart_piece).collect();
        let (units, confirmed, partial) = run(&req);
        assert_eq!(confirmed, keys(0..40), "multipart, {n} pieces");
        assert!(partial.is_empty(), "multipart, {n}: {partial:?}");
        let complete: u64 = units
            .iter()
            .filter_map(|u| u.body.counted.map(|c| c.complete))
            .sum();
        assert_eq!(complete, 40, "multipart, {n} pieces");
    }
    // base64 of the gzip stream, in pieces on base64 boundaries.
    let b64 = base64(&gz);
    let cut = b64.len() / 2 / 4 * 4;
    let mut two = post(&b64.as_bytes()[..cut], "text/plain");
    two.extend(post(&b64.as_bytes()[cut..], "text/plain"));
    let (_, confirmed, _) = run(&two);
    assert_eq!(confirmed, keys(0..40), "base64 of gzip in two pieces");
    // Each piece base64-encoded on its own (padding at each piece's end).
    for n in [2, 3] {
        let size = gz.len().div_ceil(n) / 3 * 3 + 1;
        let req: Vec<u8> = gz
            .chunks(size)
            .flat_map(|p| post(base64(p).as_bytes(), "text/plain"))
            .collect();
        let (_, confirmed, _) = run(&req);
        assert_eq!(confirmed, keys(0..40), "pieces encoded one by one, {n}");
    }
    // A base64 gzip prefix, then the base64 of a plain CSV: the CSV is read on its own.
    let mut csv_after = post(&b64.as_bytes()[..cut], "text/plain");
    csv_after.extend(post(
        base64(rows()[35..40].concat().as_bytes()).as_bytes(),
        "text/plain",
    ));
    let (_, confirmed, _) = run(&csv_after);
    assert!(
        keys(35..40).iter().all(|k| confirmed.contains(k)),
        "base64 CSV after a prefix: {confirmed:?}"
    );
    // A base64 gzip prefix, then the base64 of another, whole gzip stream: that one is
    // decoded on its own, not taken for the rest of the first.
    let mut own = post(&b64.as_bytes()[..cut], "text/plain");
    own.extend(post(
        base64(&gzip(rows()[35..40].concat().as_bytes())).as_bytes(),
        "text/plain",
    ));
    let (_, confirmed, _) = run(&own);
    // (The base64 is wrapped: the bytes its first `cut` characters decode to.)
    let chars = b64.as_bytes()[..cut]
        .iter()
        .filter(|c| !c.is_ascii_whitespace())
        .count();
    let first_rows = gunzip_prefix(&gz[..chars / 4 * 3]);
    let n = first_rows.iter().filter(|&&b| b == b'\n').count();
    assert!(n < 35, "{n}");
    let mut expect = keys(0..n);
    expect.extend(keys(35..40));
    expect.sort();
    assert_eq!(confirmed, expect, "a base64 gzip of its own after a prefix");

    // The oracle for what the first piece alone holds: gunzip of its bytes.
    let first = &gz[..gz.len() / 2];
    let held = String::from_utf8_lossy(&gunzip_prefix(first)).to_string();
    let whole_rows = held.matches('\n').count();
    assert!(whole_rows > 2 && whole_rows < 40, "{whole_rows}");
    // Another request between the pieces: the second does not continue the first.
    let mut apart = post(first, "application/octet-stream");
    apart.extend_from_slice(b"GET /status HTTP/1.1\r\nHost: x.example\r\n\r\n");
    apart.extend(post(&gz[gz.len() / 2..], "application/octet-stream"));
    let (_, confirmed, partial) = run(&apart);
    assert_eq!(confirmed, keys(0..whole_rows), "GET between");
    assert_eq!(
        partial,
        keys(whole_rows..whole_rows + 1),
        "the row the first piece cut"
    );
    // A second piece that is not the rest of the stream: the first piece's rows stand, the
    // bytes that follow confirm nothing.
    let mut x = 0x1234_5678u64;
    let noise: Vec<u8> = (0..4000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut other = post(first, "application/octet-stream");
    other.extend(post(&noise, "application/octet-stream"));
    let (units, confirmed, _) = run(&other);
    assert_eq!(
        confirmed,
        keys(0..whole_rows),
        "noise after the first piece"
    );
    // ... and the noise is estimated as opaque volume, not as a gzip stream's.
    let kinds: Vec<Kind> = units.iter().map(|u| u.body.kind).collect();
    assert_eq!(
        kinds,
        vec![Kind::Gzip, Kind::Opaque],
        "noise after the first piece"
    );
}

#[test]
fn fixed_width_records_are_matched_record_by_record() {
    let data = fixed_rows();
    let key = || KeySpec::parse("^([0-9]{9})").unwrap();
    // Records 5..25 sent as they are stored.
    let body = &data[5 * 81..25 * 81];
    let (units, confirmed, partial) = run_setup(
        &post(body, "application/octet-stream"),
        data.clone(),
        RecordFormat::Fixed(81),
        key(),
    );
    assert_eq!(confirmed, keys(5..25));
    assert!(partial.is_empty(), "{partial:?}");
    assert_eq!(counted(&units), 20);
    // Sent from the middle of a record: the 81-byte windows of the body straddle records;
    // each record is found across two windows by its key and confirmed; the cut first
    // record is partial.
    let body = &data[5 * 81 + 40..25 * 81];
    let (_, confirmed, partial) = run_setup(
        &post(body, "application/octet-stream"),
        data.clone(),
        RecordFormat::Fixed(81),
        key(),
    );
    assert_eq!(confirmed, keys(6..25));
    assert!(partial.is_empty() || partial == keys(5..6), "{partial:?}");
    // A record with one byte changed in transit is not confirmed (its key is still seen).
    let mut changed = data[5 * 81 + 40..25 * 81].to_vec();
    let at = 81 * 3 + 60; // inside record 9's address
    changed[at] ^= 0x01;
    let (_, confirmed, _) = run_setup(
        &post(&changed, "application/octet-stream"),
        data,
        RecordFormat::Fixed(81),
        key(),
    );
    let mut want = keys(6..25);
    want.retain(|k| *k != format!("{:09}", 200_000_000 + 9 * 37));
    assert_eq!(confirmed, want);
}

#[test]
fn rows_inside_longer_lines_are_found_by_their_keys() {
    let r = rows();
    // Each row behind a sequence number; then three rows joined by " | " on one line; then
    // a row followed by a comment.
    let mut body = String::new();
    for (i, row) in r[..10].iter().enumerate() {
        body.push_str(&format!("{i:04}|{row}"));
    }
    body.push_str(&format!(
        "{} | {} | {}\n",
        r[10].trim_end(),
        r[11].trim_end(),
        r[12].trim_end()
    ));
    body.push_str(&format!("{} # sent\n", r[13].trim_end()));
    let (_, confirmed, partial) = run(&post(body.as_bytes(), "text/plain"));
    assert_eq!(confirmed, keys(0..14));
    assert!(partial.is_empty(), "{partial:?}");
    // A line holding a row's key but not the row (a field changed): key-only, not confirmed.
    let changed = r[20].replacen("Name", "Nane", 1);
    let (_, confirmed, _) = run(&post(format!("x|{changed}").as_bytes(), "text/plain"));
    assert!(confirmed.is_empty(), "{confirmed:?}");
}

fn post_encoded(body: &[u8], encoding: &str) -> Vec<u8> {
    let mut req = format!(
        "POST /up HTTP/1.1\r\nHost: x.example\r\nContent-Type: text/csv\r\n\
         Content-Encoding: {encoding}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    req
}

#[test]
fn declared_content_encodings_brotli_and_bare_deflate_are_decoded() {
    let data = rows()[..25].concat();
    let mut br = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut br, 4096, 9, 22);
        w.write_all(data.as_bytes()).unwrap();
    }
    let (units, confirmed, partial) = run(&post_encoded(&br, "br"));
    assert_eq!(confirmed, keys(0..25));
    assert!(partial.is_empty(), "{partial:?}");
    assert_eq!(units[0].body.kind.as_str(), "br");
    assert_eq!(counted(&units), 25);
    let mut d = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    d.write_all(data.as_bytes()).unwrap();
    let raw = d.finish().unwrap();
    let (units, confirmed, _) = run(&post_encoded(&raw, "deflate"));
    assert_eq!(confirmed, keys(0..25));
    assert_eq!(units[0].body.kind.as_str(), "deflate");
    // The same brotli bytes without the header are not recognised (no magic): volume only.
    let (units, confirmed, _) = run(&post(&br, "application/octet-stream"));
    assert!(confirmed.is_empty());
    assert_ne!(units[0].body.kind.as_str(), "br");
    // A corrupted brotli stream confirms nothing.
    let mut bad = br.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0xff;
    let (units, confirmed, _) = run(&post_encoded(&bad, "br"));
    assert!(confirmed.len() < 25, "{confirmed:?}");
    assert!(units[0].body.broken || units[0].body.counted.is_none_or(|c| c.complete < 25));
}

#[test]
fn a_body_lost_in_a_gap_before_a_body_cut_short_keeps_its_bytes_and_the_cut_one_only_what_was_sent()
{
    let rows = rows();
    // Request 1: its head fills segment 0 exactly, its 2,920-byte body segments 1 and 2,
    // both lost; request 2 declares 50,000 body bytes and the connection ends after 2,000.
    let all: Vec<u8> = rows.concat().repeat(2).into_bytes();
    let body1: Vec<u8> = all[..2920].to_vec();
    let mut head1 = format!(
        "POST /a HTTP/1.1\r\nHost: x.example\r\nContent-Type: text/csv\r\nContent-Length: {}\r\nX-Pad: ",
        body1.len()
    )
    .into_bytes();
    let pad = 1460 - head1.len() - 4;
    head1.extend(std::iter::repeat_n(b'p', pad));
    head1.extend_from_slice(b"\r\n\r\n");
    assert_eq!(head1.len(), 1460);
    let body2: Vec<u8> = all[..2000].to_vec();
    let head2 = "POST /b HTTP/1.1\r\nHost: x.example\r\nContent-Type: text/csv\r\nContent-Length: 50000\r\n\r\n";
    let mut stream = head1;
    stream.extend_from_slice(&body1);
    stream.extend_from_slice(head2.as_bytes());
    stream.extend_from_slice(&body2);
    let (units, _, _) = run_lossy(
        &stream,
        rows.concat().into_bytes(),
        RecordFormat::Csv,
        None,
        &[1, 2],
    );
    let http: Vec<&Unit> = units
        .iter()
        .filter(|u| u.source == exfilmeter_estimate::Source::HttpBody)
        .collect();
    assert_eq!(http.len(), 2, "{units:?}");
    // The lost body: unseen, all of it missing content (it was sent: later bytes prove it).
    assert_eq!(http[0].body.kind, exfilmeter_content::Kind::Unseen);
    assert_eq!((http[0].body.length, http[0].body.missing), (2920, 2920));
    // The cut body: as long as what was sent, nothing missing.
    assert_eq!((http[1].body.length, http[1].body.missing), (2000, 0));
}

#[test]
fn a_body_cut_exactly_at_a_record_end_counts_that_record() {
    let rows = rows();
    let sent: String = rows[..30].concat();
    assert!(sent.ends_with('\n'));
    let head = format!(
        "POST /b HTTP/1.1\r\nHost: x.example\r\nContent-Type: text/csv\r\nContent-Length: {}\r\n\r\n",
        sent.len() * 3
    );
    let mut stream = head.into_bytes();
    stream.extend_from_slice(sent.as_bytes());
    let (units, confirmed, _) = run_lossy(
        &stream,
        rows.concat().into_bytes(),
        RecordFormat::Csv,
        Some(KeySpec::Column(1)),
        &[],
    );
    let c = units
        .iter()
        .filter_map(|u| u.body.counted)
        .map(|c| c.complete)
        .sum::<u64>();
    assert_eq!(c, 30, "{units:?}");
    assert_eq!(confirmed.len(), 30);
}

/// The end-of-run naming on the summed flow-day rows: a flow that learnt no server name takes
/// the one name other flows to its server address learnt (its rows, units and flow fact), and
/// keeps the indicator as its host when its address had no name or two.
#[test]
fn an_unnamed_flow_takes_the_one_name_its_server_address_had() {
    let dir = tempfile::tempdir().unwrap();
    let iocs = dir.path().join("iocs.txt");
    std::fs::write(&iocs, "203.0.113.0/24\n").unwrap();
    let post = |host: &str| {
        format!(
            "POST /u HTTP/1.1\r\nHost: {host}\r\nContent-Length: 2000\r\n\r\n{}",
            "x".repeat(2000)
        )
        .into_bytes()
    };
    let raw = vec![0x5a_u8; 6000];
    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    // (server, upload): two flows named by Host, then unnamed ones.
    let flows: Vec<([u8; 4], Vec<u8>)> = vec![
        ([203, 0, 113, 9], post("x.example")),
        ([203, 0, 113, 11], post("a.example")),
        ([203, 0, 113, 11], post("b.example")),
        ([203, 0, 113, 9], raw.clone()),
        ([203, 0, 113, 9], raw.clone()),
        ([203, 0, 113, 10], raw.clone()),
        ([203, 0, 113, 11], raw.clone()),
    ];
    let mut paths = Vec::new();
    for (i, (server, upload)) in flows.iter().enumerate() {
        let p = dir.path().join(format!("c{i}.pcap"));
        std::fs::write(
            &p,
            exfilmeter_synth::single_connection(
                *server,
                80,
                upload,
                ok,
                1_411_084_800 + 60 * i as u64,
            ),
        )
        .unwrap();
        paths.push(p.display().to_string());
    }
    let set = IocSet::load(&[iocs], false).unwrap();
    let shape = exfilmeter_estimate::RecordShape {
        format: RecordFormat::Csv,
        ..Default::default()
    };
    let inputs = expand_inputs(&paths).unwrap();
    fn run<'s>(
        set: &'s IocSet,
        inputs: &[exfilmeter_ingest::Input],
        ledger: ContentLedger<'s>,
    ) -> ContentLedger<'s> {
        let tee = Tee {
            rows: NoRows,
            content: ledger,
        };
        let mut a = Attributor::new(set, Internal::default(), 3600, tee);
        Pipeline::new(TrackerConfig::default(), HashAlgo::None).run(inputs, &mut a, &mut ());
        let mut l = a.inner.content;
        l.finish();
        l
    }
    let new = || {
        ContentLedger::new(
            &shape,
            Rules::default(),
            DayClock::new(chrono_tz::UTC),
            &set,
        )
    };
    let l = run(&set, &inputs, new());
    // A ledger that spills the flows and sums the uploads per day and host as flows close
    // (analyze's) ends with the same flows and per-day sums.
    let spill = tempfile::tempdir().unwrap();
    let summed = run(
        &set,
        &inputs,
        new().with_spill(spill.path()).summing_units(),
    );
    assert!(summed.units.is_empty(), "uploads summed, not listed");
    assert_eq!(summed.unit_table(), l.unit_table());
    let flows = |l: &ContentLedger<'_>| -> Vec<exfilmeter_estimate::IocFlow> {
        l.flows.sorted().unwrap().map(Result::unwrap).collect()
    };
    assert_eq!(flows(&summed), flows(&l));
    assert_eq!(summed.days(), l.days());
    let by_server = |ip: &str| -> Vec<String> {
        let mut v: Vec<String> = l
            .flows
            .sorted()
            .unwrap()
            .map(Result::unwrap)
            .filter(|f| f.server.starts_with(ip))
            .map(|f| f.host.to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(by_server("203.0.113.9"), ["x.example"; 3]);
    assert_eq!(by_server("203.0.113.10"), ["203.0.113.0/24"]);
    assert_eq!(
        by_server("203.0.113.11"),
        ["203.0.113.0/24", "a.example", "b.example"]
    );
    // Rows: the named flow's, and the two unnamed flows to .9 summed in one row under its name.
    let c2s: Vec<(String, String, String, u64)> = l
        .days()
        .iter()
        .filter(|d| d.c2s)
        .map(|d| {
            (
                d.host.to_string(),
                d.server_name.to_string(),
                d.server_ip.to_string(),
                d.flows,
            )
        })
        .collect();
    let row = |h: &str, n: &str, ip: &str, flows: u64| {
        (h.to_string(), n.to_string(), ip.to_string(), flows)
    };
    assert_eq!(
        c2s,
        [
            row("x.example", "x.example", "203.0.113.9", 1),
            row("a.example", "a.example", "203.0.113.11", 1),
            row("b.example", "b.example", "203.0.113.11", 1),
            row("x.example", "", "203.0.113.9", 2),
            row("203.0.113.0/24", "", "203.0.113.10", 1),
            row("203.0.113.0/24", "", "203.0.113.11", 1),
        ]
    );
    // Units follow their flow's name: the raw uploads to .9 are x.example's.
    let raw_hosts: Vec<String> = l
        .units
        .iter()
        .filter(|u| u.source == exfilmeter_estimate::Source::Raw)
        .map(|u| u.host.to_string())
        .collect();
    assert_eq!(
        raw_hosts,
        ["x.example", "x.example", "203.0.113.0/24", "203.0.113.0/24"]
    );
}
