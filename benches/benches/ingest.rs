//! Ingest throughput on a page-cached synthetic capture: SHA-256 alone, frame iteration,
//! frame iteration + decoding, and the full `inspect` loop with SHA-256 — compare the
//! ratios within one run (this machine is noisy).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use exfilmeter_benches::{write_capture, GenConfig};
use exfilmeter_ingest::{CaptureReader, Decoder, FileId, FileSummary, HashAlgo};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

fn capture() -> PathBuf {
    let p = std::env::temp_dir().join("exfilmeter-bench-64mb.pcap");
    if !p.exists() {
        let cfg = GenConfig {
            target_bytes: 64_000_000,
            seed: 3,
            start_secs: 1_411_084_800,
            time_div: 1,
        };
        let f = std::fs::File::create(&p).expect("create bench capture");
        write_capture(std::io::BufWriter::new(f), &cfg).expect("write bench capture");
    }
    p
}

fn frames_only(p: &Path) -> u64 {
    let mut r = CaptureReader::open(p, FileId(0), HashAlgo::None).expect("open");
    let mut n = 0u64;
    while let Some(f) = r.next_frame() {
        n += f.data.len() as u64;
    }
    n
}

fn decode_all(p: &Path, hash: HashAlgo) -> u64 {
    let mut d = Decoder::default();
    FileSummary::read(
        p,
        "bench",
        FileId(0),
        hash,
        Default::default(),
        &mut d,
        |_| {},
    )
    .expect("read")
    .packets
}

fn sha_alone(p: &Path) -> [u8; 32] {
    let mut f = std::fs::File::open(p).expect("open");
    let mut buf = vec![0u8; 1 << 20];
    let mut h = Sha256::new();
    loop {
        let n = f.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    h.finalize().into()
}

fn bench(c: &mut Criterion) {
    let p = capture();
    let size = std::fs::metadata(&p).expect("size").len();
    let mut g = c.benchmark_group("ingest");
    g.throughput(Throughput::Bytes(size));
    g.sample_size(10);
    g.bench_function("sha256_alone", |b| b.iter(|| sha_alone(&p)));
    g.bench_function("frames_hash_none", |b| b.iter(|| frames_only(&p)));
    g.bench_function("inspect_hash_none", |b| {
        b.iter(|| decode_all(&p, HashAlgo::None))
    });
    g.bench_function("inspect_sha256", |b| {
        b.iter(|| decode_all(&p, HashAlgo::Sha256))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
