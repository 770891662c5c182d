//! Reading a file by path and reading the same bytes as a stream (stdin) must deliver
//! identical frames, offsets and digests — including records that straddle the 4 MiB
//! read-buffer boundaries and records larger than the buffer.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use exfilmeter_ingest::{ByteStream, CaptureReader, FileId, HashAlgo};
use sha2::{Digest, Sha256};
use std::io::Write;

fn pcap(records: &[Vec<u8>], snaplen: u32) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    v.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    v.extend_from_slice(&snaplen.to_le_bytes());
    v.extend_from_slice(&1u32.to_le_bytes());
    for (i, r) in records.iter().enumerate() {
        v.extend_from_slice(&(1_400_000_000u32 + i as u32).to_le_bytes());
        v.extend_from_slice(&(i as u32 % 1_000_000).to_le_bytes());
        v.extend_from_slice(&(r.len() as u32).to_le_bytes());
        v.extend_from_slice(&(r.len() as u32).to_le_bytes());
        v.extend_from_slice(r);
    }
    v
}

/// (frames as (offset, bytes), digest, size)
type Read = (Vec<(u64, Vec<u8>)>, Option<[u8; 32]>, u64);

fn frames(mut r: CaptureReader) -> Read {
    let mut out = Vec::new();
    while let Some(f) = r.next_frame() {
        out.push((f.frame.offset, f.data.to_vec()));
    }
    let o = r.finish();
    assert!(o.errors.is_empty(), "{:?}", o.errors);
    let d = o.digest.unwrap();
    (out, d.sha256, d.size)
}

#[test]
fn file_and_stream_reads_agree_across_buffer_boundaries() {
    // Odd record sizes so boundaries fall everywhere, plus a few 3 MB records
    // (snaplen 16 MiB allows them).
    let mut records = Vec::new();
    let mut x = 12345u32;
    for i in 0..9000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let len = if i % 2500 == 7 {
            3_000_000 + (x % 1000) as usize
        } else {
            60 + (x % 3000) as usize
        };
        records.push((0..len).map(|j| (j as u32 ^ x) as u8).collect::<Vec<u8>>());
    }
    let bytes = pcap(&records, 16 << 20);
    assert!(bytes.len() > 20 << 20);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.pcap");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(&bytes)
        .unwrap();
    let sha: [u8; 32] = Sha256::digest(&bytes).into();

    let (a, a_sha, a_size) =
        frames(CaptureReader::open(&path, FileId(0), HashAlgo::Sha256).unwrap());
    let stream = ByteStream::from_reader(
        Box::new(std::io::Cursor::new(bytes.clone())),
        HashAlgo::Sha256,
    )
    .unwrap();
    let (b, b_sha, b_size) = frames(CaptureReader::from_stream(stream, FileId(0)));
    assert_eq!(a.len(), records.len());
    assert_eq!(a, b);
    for (i, (_, data)) in a.iter().enumerate() {
        assert_eq!(data, &records[i], "record {i}");
    }
    assert_eq!(a_sha, Some(sha));
    assert_eq!(b_sha, Some(sha));
    assert_eq!(a_size, bytes.len() as u64);
    assert_eq!(b_size, bytes.len() as u64);
}

#[test]
fn stopping_early_still_hashes_the_whole_file() {
    let records: Vec<Vec<u8>> = (0..20_000).map(|i| vec![(i % 251) as u8; 700]).collect();
    let mut bytes = pcap(&records, 65535);
    // Damage near the start: the reader stops parsing there (nothing plausible follows
    // for a while), but the digest must still cover every byte.
    let at = 24 + 5 * (16 + 700);
    bytes[at + 8..at + 12].copy_from_slice(&0x7FFF_FFF0u32.to_le_bytes());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.pcap");
    std::fs::write(&path, &bytes).unwrap();
    let mut r = CaptureReader::open(&path, FileId(0), HashAlgo::Sha256).unwrap();
    let mut n = 0;
    while r.next_frame().is_some() {
        n += 1;
        if n == 3 {
            break;
        }
    }
    let o = r.finish();
    let d = o.digest.unwrap();
    assert_eq!(d.size, bytes.len() as u64);
    assert_eq!(d.sha256, Some(Sha256::digest(&bytes).into()));
}
