//! Properties of decoding and matching on any upload: a row is confirmed only if the upload
//! really carried it whole (zero false confirmations, whatever the encoding, the split into
//! pieces, a capture gap, a changed byte or a cut body), and an undamaged upload confirms
//! exactly the rows it carried. Nothing panics.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use exfilmeter_estimate::{
    BodyScan, Cursor, Header, KeySpec, Level, Matcher, RecordFormat, RecordModel, RecordShape,
    RecoveredIndex,
};
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::io::Write;
use std::sync::OnceLock;

const ROWS: usize = 200;

fn row(i: usize) -> String {
    format!(
        "{:09},20{:02}-0{}-1{},Name {i},\"Minato {}, Tokyo\",03-{:04}-{:04}\n",
        300_000_000 + i * 53,
        i % 15,
        1 + i % 9,
        i % 10,
        i % 31,
        i * 7 % 10_000,
        i * 13 % 10_000
    )
}

struct Setup {
    _dir: tempfile::TempDir,
    index: RecoveredIndex,
    shape: RecordShape,
}

/// The index of the staged rows, by key or (`keyless`) by content anchors.
fn setup(keyless: bool) -> &'static Setup {
    static S: [OnceLock<Setup>; 2] = [OnceLock::new(), OnceLock::new()];
    S[usize::from(keyless)].get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("staged.csv");
        std::fs::write(&p, (0..ROWS).map(row).collect::<String>()).unwrap();
        let files = vec![p];
        let key = (!keyless).then_some(KeySpec::Column(1));
        let model =
            RecordModel::build(&files, &RecordFormat::Csv, Header::No, key.as_ref()).unwrap();
        let index =
            RecoveredIndex::build(&files, &RecordFormat::Csv, &[false], key.as_ref()).unwrap();
        let mut shape = model.shape(&RecordFormat::Csv);
        shape.match_against(&index);
        Setup {
            _dir: dir,
            index,
            shape,
        }
    })
}

fn deflate_family(kind: u8, data: &[u8]) -> Vec<u8> {
    let level = flate2::Compression::new(6);
    match kind {
        0 => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), level);
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        1 => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), level);
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        _ => exfilmeter_synth::zip_archive(&[exfilmeter_synth::ZipEntry {
            name: "out.csv",
            data,
            deflate: true,
            descriptor: kind == 3,
        }]),
    }
}

fn base64(b: &[u8]) -> Vec<u8> {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    for (n, c) in b.chunks(3).enumerate() {
        if n > 0 && n % 19 == 0 {
            out.extend_from_slice(b"\r\n");
        }
        let v = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= c.len() {
                out.push(A[(v >> (18 - 6 * k)) as usize & 63]);
            } else {
                out.push(b'=');
            }
        }
    }
    out
}

#[derive(Debug, Clone)]
enum Damage {
    None,
    /// Bytes `[at, at + len)` of the body missing from the capture (fractions of the body).
    Gap(f64, f64),
    /// One byte changed.
    Flip(f64),
    /// The body ends early (a fraction of it sent, the declared length kept).
    Cut(f64),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        2 => Just(Damage::None),
        1 => (0.0..1.0f64, 0.0..0.3f64).prop_map(|(a, l)| Damage::Gap(a, l)),
        1 => (0.0..1.0f64).prop_map(Damage::Flip),
        1 => (0.0..1.0f64).prop_map(Damage::Cut),
    ]
}

/// Scans `body` fed in pieces of the given sizes (missing `gap`), and matches it; returns the
/// confirmed rows.
fn confirmed(
    s: &Setup,
    body: &[u8],
    pieces: &[usize],
    gap: Option<(usize, usize)>,
    declared: u64,
) -> BTreeSet<u32> {
    let mut scan = BodyScan::new(&s.shape);
    let mut m = Matcher::new(&s.index);
    let (mut cur, mut out) = (Cursor::default(), Vec::new());
    let mut at = 0usize;
    let mut k = 0;
    while at < body.len() {
        let n = pieces[k % pieces.len()].min(body.len() - at);
        k += 1;
        let (mut a, mut b) = (at, at + n);
        if let Some((gs, ge)) = gap {
            // The part of this piece outside the gap (a piece never spans the whole gap
            // twice: cut it to what precedes or follows).
            if a >= gs && b <= ge {
                at += n;
                continue;
            }
            if a < gs && b > gs {
                b = gs;
            } else if a < ge && b > ge {
                a = ge;
            }
        }
        scan.feed(a as u64, &body[a..b]);
        m.drain(&mut scan, &mut cur, &mut out);
        Matcher::settle_ready(&mut cur, &scan, &mut out);
        at += n;
    }
    let end = scan.finish_end(Some(declared));
    m.lines(&end.lines, &mut cur, &mut out);
    Matcher::settle(&mut cur, end.whole_until, &mut out);
    out.iter()
        .filter(|p| p.level == Level::Confirmed)
        .map(|p| p.row)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn confirmations_are_never_false_and_complete_when_nothing_is_damaged(
        chosen in proptest::collection::vec(0..ROWS, 0..60),
        noise in proptest::collection::vec(any::<bool>(), 60),
        encoding in 0u8..7,
        pieces in proptest::collection::vec(1usize..3000, 1..8),
        damage in damage(),
        keyless in any::<bool>(),
        joined in any::<bool>(),
    ) {
        // The upload: chosen rows in the chosen order, some followed by a line that is no
        // row (a changed copy of the next row); `joined`: rows three to a line behind a
        // prefix (found by their keys, or without keys by their content anchors).
        let mut plain = String::new();
        for (i, &r) in chosen.iter().enumerate() {
            let mut items = vec![row(r)];
            if noise[i] {
                items.push(row(r + 1).replacen("Name", "Nome", 1));
            }
            for t in items {
                if joined {
                    plain.push_str(if i % 3 == 0 { "rec: " } else { " ; " });
                    plain.push_str(t.trim_end());
                    if i % 3 == 2 {
                        plain.push('\n');
                    }
                } else {
                    plain.push_str(&t);
                }
            }
        }
        if joined {
            plain.push('\n');
        }
        let body = match encoding {
            0 => plain.clone().into_bytes(),
            1 => base64(plain.as_bytes()),
            2..=5 => deflate_family(encoding - 2, plain.as_bytes()),
            _ => base64(&deflate_family(0, plain.as_bytes())),
        };
        let len = body.len();
        let at = |f: f64| ((len as f64 * f) as usize).min(len.saturating_sub(1));
        let (body, gap, declared) = match damage {
            Damage::None => (body, None, len as u64),
            Damage::Gap(a, l) => {
                let s = at(a);
                let e = (s + 1 + (len as f64 * l) as usize).min(len);
                (body, Some((s, e)), len as u64)
            }
            Damage::Flip(a) => {
                let mut b = body;
                if !b.is_empty() {
                    let i = at(a);
                    b[i] ^= 0x20;
                }
                (b, None, len as u64)
            }
            Damage::Cut(a) => {
                let mut b = body;
                b.truncate(at(a));
                (b, None, len as u64)
            }
        };
        let s = setup(keyless);
        let got = confirmed(s, &body, &pieces, gap, declared);
        let sent: BTreeSet<u32> = chosen.iter().map(|&r| r as u32).collect();
        // Soundness: every confirmed row was sent whole (rows are unique, so row ids are
        // rows; the index lists them in file order).
        for r in &got {
            prop_assert!(sent.contains(r), "row {r} confirmed but not sent ({:?})", s.index.rows.get(*r as usize));
        }
        if matches!(damage, Damage::None) {
            prop_assert_eq!(got, sent);
        }
    }
}
