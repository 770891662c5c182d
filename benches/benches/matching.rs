//! Reconciliation speed: building the index of 1 M recovered rows, matching decoded upload
//! content against it (plain CSV records, 90 % of them recovered), and the key scan that
//! `--sweep` runs over outbound payload. Compare within one run (noisy machine).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use exfilmeter_content::{BodyScan, KeySpec, Matcher, RecordFormat, RecordShape, RecoveredIndex};
use std::io::Write;
use std::path::PathBuf;

const ROWS: usize = 1_000_000;

/// A deterministic customer-like CSV row (~110 bytes).
fn row(i: usize) -> String {
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5EED;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    format!(
        "{:09},20{:02}-{:02}-{:02},Name{:06},19{:02}-01-01,{},{:03}-{:04},Tokyo Minato {}-{},03-{:04}-{:04},user{}@mail.example.jp\n",
        100_000_000 + i,
        next() % 15,
        1 + next() % 12,
        1 + next() % 28,
        next() % 1_000_000,
        40 + next() % 60,
        if next() % 2 == 0 { "F" } else { "M" },
        next() % 1000,
        next() % 10_000,
        next() % 40,
        next() % 20,
        next() % 10_000,
        next() % 10_000,
        i
    )
}

fn recovered() -> PathBuf {
    let p = std::env::temp_dir().join("exfilmeter-bench-1m-rows.csv");
    if !p.exists() {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&p).unwrap());
        for i in 0..ROWS {
            f.write_all(row(i).as_bytes()).unwrap();
        }
        f.flush().unwrap();
    }
    p
}

/// 32 MB of upload content as malware sends a staged file: runs of 10,000 consecutive rows
/// from scattered places of the file, a row that is not recovered between runs.
fn upload_in_order() -> Vec<u8> {
    let mut v = Vec::with_capacity(33 << 20);
    let mut run = 0;
    while v.len() < 32 << 20 {
        let start = (run * 7919 * 1000) % (ROWS - 10_000);
        for i in start..start + 10_000 {
            v.extend_from_slice(row(i).as_bytes());
        }
        v.extend_from_slice(row(ROWS + run).as_bytes());
        run += 1;
    }
    v
}

/// 32 MB of upload content, the worst case for the index: recovered rows in random order,
/// every tenth row not recovered.
fn upload() -> Vec<u8> {
    let mut v = Vec::with_capacity(33 << 20);
    let mut i = 0;
    while v.len() < 32 << 20 {
        if i % 10 == 9 {
            v.extend_from_slice(row(ROWS + i).as_bytes());
        } else {
            v.extend_from_slice(row((i * 7919) % ROWS).as_bytes());
        }
        i += 1;
    }
    v
}

/// Scans `body` in 64 KiB pieces as the content ledger does and matches its lines; returns the
/// sightings (more than 200,000 expected). The sightings of each piece are counted and
/// dropped: what the content ledger does with them (merging repeats) is measured by the
/// `analyze` runs, not here.
fn count_and_match(index: &RecoveredIndex, shape: &RecordShape, body: &[u8]) -> usize {
    let mut m = Matcher::new(index);
    let mut s = BodyScan::new(shape);
    let (mut prev, mut out) = (exfilmeter_content::Cursor::default(), Vec::new());
    let mut n = 0;
    for (i, chunk) in body.chunks(64 << 10).enumerate() {
        s.feed((i * (64 << 10)) as u64, chunk);
        m.drain(&mut s, &mut prev, &mut out);
        n += out.len();
        out.clear();
    }
    let (_, rest) = s.finish_with_lines(None);
    m.lines(&rest, &mut prev, &mut out);
    n += out.len();
    assert!(n > 200_000, "rows matched: {n}");
    n
}

fn bench(c: &mut Criterion) {
    let path = recovered();
    let build = || {
        RecoveredIndex::build(
            std::slice::from_ref(&path),
            &RecordFormat::Csv,
            &[false],
            Some(&KeySpec::Column(1)),
        )
        .unwrap()
    };
    let mut g = c.benchmark_group("index");
    g.sample_size(10);
    g.bench_function("build 1M rows", |b| b.iter(build));
    g.bench_function("build 1M rows without key (content anchors)", |b| {
        b.iter(|| {
            RecoveredIndex::build(
                std::slice::from_ref(&path),
                &RecordFormat::Csv,
                &[false],
                None,
            )
            .unwrap()
        })
    });
    g.finish();

    let index = build();
    let shape = RecordShape {
        format: RecordFormat::Csv,
        fields: Some(9),
        collect_lines: index.line_keep(),
        ..RecordShape::default()
    };
    let body = upload();
    let mut g = c.benchmark_group("match");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.sample_size(10);
    g.bench_function("count only (no index)", |b| {
        let plain = RecordShape {
            collect_lines: 0,
            ..shape.clone()
        };
        b.iter(|| {
            let mut s = BodyScan::new(&plain);
            for (i, chunk) in body.chunks(64 << 10).enumerate() {
                s.feed((i * (64 << 10)) as u64, chunk);
            }
            let c = s.finish(None).counted.map_or(0, |c| c.complete);
            assert!(c > 200_000, "records counted: {c}");
            c
        })
    });
    g.bench_function("count + match against 1M rows (random order)", |b| {
        b.iter(|| count_and_match(&index, &shape, &body))
    });
    let ordered = upload_in_order();
    g.throughput(Throughput::Bytes(ordered.len() as u64));
    g.bench_function("count + match against 1M rows (file order)", |b| {
        b.iter(|| count_and_match(&index, &shape, &ordered))
    });
    // Without a key: rows three to a line behind a prefix, found by their content anchors.
    let keyless = RecoveredIndex::build(
        std::slice::from_ref(&path),
        &RecordFormat::Csv,
        &[false],
        None,
    )
    .unwrap();
    let joined: Vec<u8> = {
        let mut v = Vec::with_capacity(33 << 20);
        let mut i = 0;
        while v.len() < 32 << 20 {
            let r: Vec<String> = (0..3)
                .map(|k| row(((i * 3 + k) * 7919) % ROWS).trim_end().to_string())
                .collect();
            v.extend_from_slice(format!("rec: {}\n", r.join(" ; ")).as_bytes());
            i += 1;
        }
        v
    };
    let keyless_shape = RecordShape {
        format: RecordFormat::Csv,
        fields: Some(9),
        collect_lines: keyless.line_keep(),
        ..RecordShape::default()
    };
    g.throughput(Throughput::Bytes(joined.len() as u64));
    g.bench_function(
        "match rows joined in lines, no key (content anchors)",
        |b| b.iter(|| count_and_match(&keyless, &keyless_shape, &joined)),
    );
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("key scan (sweep) of 1M keys", |b| {
        b.iter(|| {
            let n = body
                .chunks(64 << 10)
                .map(|c| index.keys_in(c).len())
                .sum::<usize>();
            assert!(n > 200_000, "keys found: {n}");
            n
        })
    });
    let other: Vec<u8> = (0..300_000)
        .flat_map(|i| row(2 * ROWS + i).into_bytes())
        .collect();
    g.throughput(Throughput::Bytes(other.len() as u64));
    g.bench_function("key scan (sweep) of traffic without keys", |b| {
        b.iter(|| {
            let n = other
                .chunks(64 << 10)
                .map(|c| index.keys_in(c).len())
                .sum::<usize>();
            assert_eq!(n, 0);
            n
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
