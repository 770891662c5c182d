//! Streaming decoder of the deflate family as it appears in uploads: zlib (RFC 1950), gzip
//! (RFC 1952, several members) and zip archives (local file headers; stored or deflated
//! entries, with or without data descriptors). Bytes go in as they arrive; the decoded bytes
//! go to a writer; every checksum (Adler-32, CRC-32, sizes) is verified.
//!
//! At the end it tells apart a stream that ended properly (`End::Complete`) from one the
//! sender cut short — a *prefix* of an archive — with no error in what was there
//! (`End::Prefix`): the bytes decoded from a prefix are exactly those its compressed bytes
//! determine, so the records they hold were sent even though no checksum covers them.
//!
//! Entries of a zip archive are separate files: when an entry does not end with a line feed,
//! one is written after it so that its last record does not run into the next file's first.

use flate2::{Crc, Decompress, FlushDecompress, Status};
use std::io::{self, Write};
use std::path::Path;

/// How the deflate data is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// zlib header and Adler-32 trailer.
    Zlib,
    /// gzip members.
    Gzip,
    /// zip local file entries.
    Zip,
    /// Bare deflate data (RFC 1951; `Content-Encoding: deflate` as some clients send it): no
    /// checksum, the stream's final block is its only end mark.
    Raw,
}

/// How a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Every member/entry ended and verified (for zip: up to the central directory or the
    /// end of the last entry).
    Complete,
    /// The input stopped inside a header, a member or an entry, with no error before.
    Prefix,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for a gzip member or zip entry header (zlib: its two-byte header is read by
    /// the decompressor).
    Header,
    /// Deflate data.
    Deflate,
    /// Stored zip entry data: bytes left.
    Stored(u64),
    /// gzip trailer (8 bytes) or zip data descriptor.
    Trailer,
    /// After the last member/entry: the rest is ignored.
    Done,
}

/// Largest header kept while waiting for the rest of it (zip: 30 + 2 × 65,535).
const MAX_HEADER: usize = 30 + 2 * 65_535;

/// The decoder.
pub struct Inflate<W: Write> {
    framing: Framing,
    sink: W,
    phase: Phase,
    dec: Decompress,
    crc: Crc,
    /// Bytes waiting for a header or trailer to be complete.
    carry: Vec<u8>,
    out: Vec<u8>,
    /// Zip entry: general-purpose flags, CRC-32 and sizes from the local header.
    flags: u16,
    expect_crc: u32,
    expect_size: u64,
    /// Last decoded byte of the current entry (zip separators).
    last: Option<u8>,
    /// Members or entries completed.
    pub units: u64,
    /// Bytes after the end of the stream, not decoded.
    pub trailing: u64,
    /// Decoded bytes written so far.
    pub written: u64,
    /// Decoded bytes covered by a verified checksum (every member/entry before them ended
    /// and checked).
    pub verified: u64,
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

fn u16le(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .map_or(0, |s| u16::from_le_bytes([s[0], s[1]]))
}

fn u32le(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Length of the gzip member header at the start of `b`: `Ok(None)` when more bytes are
/// needed.
fn gzip_header_len(b: &[u8]) -> io::Result<Option<usize>> {
    if b.len() < 10 {
        return Ok(None);
    }
    if b[0] != 0x1f || b[1] != 0x8b || b[2] != 8 {
        return Err(bad("not a gzip member"));
    }
    let flg = b[3];
    let mut at = 10usize;
    if flg & 4 != 0 {
        if b.len() < at + 2 {
            return Ok(None);
        }
        at += 2 + usize::from(u16le(b, at));
    }
    for bit in [8u8, 16] {
        if flg & bit != 0 {
            match b.get(at..).and_then(|r| r.iter().position(|&c| c == 0)) {
                Some(i) => at += i + 1,
                None => return Ok(None),
            }
        }
    }
    if flg & 2 != 0 {
        at += 2;
    }
    Ok((b.len() >= at).then_some(at))
}

impl<W: Write> Inflate<W> {
    /// A decoder of `framing` writing into `sink`.
    pub fn new(framing: Framing, sink: W) -> Self {
        Inflate {
            framing,
            sink,
            phase: if matches!(framing, Framing::Zlib | Framing::Raw) {
                Phase::Deflate
            } else {
                Phase::Header
            },
            dec: Decompress::new(framing == Framing::Zlib),
            crc: Crc::new(),
            carry: Vec::new(),
            out: vec![0; 32 * 1024],
            flags: 0,
            expect_crc: 0,
            expect_size: 0,
            last: None,
            units: 0,
            trailing: 0,
            written: 0,
            verified: 0,
        }
    }

    /// The writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.sink
    }

    /// Feeds compressed bytes.
    pub fn write_all(&mut self, input: &[u8]) -> io::Result<()> {
        if self.carry.is_empty() {
            let n = self.consume(input)?;
            self.carry.extend_from_slice(&input[n..]);
        } else {
            let mut buf = std::mem::take(&mut self.carry);
            buf.extend_from_slice(input);
            let n = self.consume(&buf)?;
            buf.drain(..n);
            self.carry = buf;
        }
        if self.carry.len() > MAX_HEADER {
            return Err(bad("header too long"));
        }
        Ok(())
    }

    /// The input so far stops inside the stream ([`Inflate::finish`] would say
    /// [`End::Prefix`]): more of it may follow.
    pub fn mid_stream(&self) -> bool {
        !(self.phase == Phase::Done
            || (self.phase == Phase::Header && self.units > 0 && self.carry.is_empty()))
    }

    /// Ends the input: the writer and how the stream ended. An error when a checksum or
    /// structure was wrong.
    pub fn finish(self) -> io::Result<(W, End)> {
        let end = match self.phase {
            Phase::Done => End::Complete,
            // A zip archive or gzip stream may end right after a member/entry.
            Phase::Header if self.units > 0 && self.carry.is_empty() => End::Complete,
            _ => End::Prefix,
        };
        Ok((self.sink, end))
    }

    /// Processes as much of `input` as possible; returns the bytes consumed (the rest is a
    /// header or trailer still incomplete).
    fn consume(&mut self, input: &[u8]) -> io::Result<usize> {
        let mut at = 0usize;
        while at < input.len() {
            let phase = self.phase;
            let n = self.step(&input[at..])?;
            // Nothing taken and nothing changed: the rest is an incomplete header/trailer.
            if n == 0 && self.phase == phase {
                break;
            }
            at += n;
        }
        Ok(at)
    }

    fn emit(&mut self, n: usize) -> io::Result<()> {
        if n > 0 {
            let out = &self.out[..n];
            self.crc.update(out);
            self.last = out.last().copied();
            self.sink.write_all(out)?;
            self.written += n as u64;
        }
        Ok(())
    }

    fn step(&mut self, input: &[u8]) -> io::Result<usize> {
        match self.phase {
            Phase::Done => {
                self.trailing += input.len() as u64;
                Ok(input.len())
            }
            Phase::Header => match self.framing {
                Framing::Zlib | Framing::Raw => Err(bad("no member header in this framing")),
                // Bytes after a member that do not start another: trailing data, ignored.
                Framing::Gzip if self.units > 0 && input.first() != Some(&0x1f) => {
                    self.phase = Phase::Done;
                    Ok(0)
                }
                Framing::Gzip => match gzip_header_len(input)? {
                    Some(n) => {
                        self.start_entry(Phase::Deflate);
                        Ok(n)
                    }
                    None => Ok(0),
                },
                Framing::Zip => self.zip_header(input),
            },
            Phase::Stored(left) => {
                let n = usize::try_from(left).unwrap_or(usize::MAX).min(input.len());
                let mut done = 0;
                while done < n {
                    let k = (n - done).min(self.out.len());
                    self.out[..k].copy_from_slice(&input[done..done + k]);
                    self.emit(k)?;
                    done += k;
                }
                let left = left - n as u64;
                self.phase = if left == 0 {
                    self.end_data()?
                } else {
                    Phase::Stored(left)
                };
                Ok(n)
            }
            Phase::Deflate => {
                let mut used = 0usize;
                loop {
                    let (i0, o0) = (self.dec.total_in(), self.dec.total_out());
                    let status = self
                        .dec
                        .decompress(&input[used..], &mut self.out, FlushDecompress::None)
                        .map_err(|e| bad(&format!("deflate: {e}")))?;
                    let took = usize::try_from(self.dec.total_in() - i0).unwrap_or(0);
                    let made = usize::try_from(self.dec.total_out() - o0).unwrap_or(0);
                    used += took;
                    self.emit(made)?;
                    if status == Status::StreamEnd {
                        self.phase = if matches!(self.framing, Framing::Zlib | Framing::Raw) {
                            // zlib: the decompressor checked the Adler-32 trailer; raw: the
                            // final block ended the stream (no checksum exists).
                            self.units += 1;
                            self.verified = self.written;
                            Phase::Done
                        } else {
                            self.end_data()?
                        };
                        return Ok(used);
                    }
                    if took == 0 && made == 0 {
                        return Ok(used);
                    }
                    if used == input.len() && made < self.out.len() {
                        return Ok(used);
                    }
                }
            }
            Phase::Trailer => self.trailer(input),
        }
    }

    fn start_entry(&mut self, phase: Phase) {
        self.dec = Decompress::new(false);
        self.crc = Crc::new();
        self.last = None;
        self.phase = phase;
    }

    /// Data of a member/entry ended: next is its trailer (gzip, zip with a descriptor) or
    /// its check and the next header.
    fn end_data(&mut self) -> io::Result<Phase> {
        match self.framing {
            Framing::Gzip => Ok(Phase::Trailer),
            Framing::Zip if self.flags & 8 != 0 => Ok(Phase::Trailer),
            _ => {
                self.check(self.expect_crc, self.expect_size)?;
                Ok(Phase::Header)
            }
        }
    }

    fn check(&mut self, crc: u32, size: u64) -> io::Result<()> {
        if self.crc.sum() != crc {
            return Err(bad("CRC-32 mismatch"));
        }
        if u64::from(self.crc.amount()) != size & 0xffff_ffff {
            return Err(bad("size mismatch"));
        }
        self.units += 1;
        if self.framing == Framing::Zip && self.last.is_some_and(|b| b != b'\n') {
            self.sink.write_all(b"\n")?;
            self.written += 1;
        }
        self.verified = self.written;
        Ok(())
    }

    fn zip_header(&mut self, b: &[u8]) -> io::Result<usize> {
        if b.len() < 4 {
            return Ok(0);
        }
        match u32le(b, 0) {
            0x0403_4b50 => {}
            // Central directory or its end: the entries are over.
            0x0201_4b50 | 0x0605_4b50 | 0x0606_4b50 => {
                self.phase = Phase::Done;
                return Ok(0);
            }
            _ => return Err(bad("not a zip local file header")),
        }
        if b.len() < 30 {
            return Ok(0);
        }
        let len = 30 + usize::from(u16le(b, 26)) + usize::from(u16le(b, 28));
        if b.len() < len {
            return Ok(0);
        }
        let flags = u16le(b, 6);
        let method = u16le(b, 8);
        let csize = u32le(b, 18);
        let usize_ = u32le(b, 22);
        if flags & 1 != 0 {
            return Err(bad("encrypted zip entry"));
        }
        if csize == u32::MAX || usize_ == u32::MAX {
            return Err(bad("zip64 entry"));
        }
        self.flags = flags;
        self.expect_crc = u32le(b, 14);
        self.expect_size = u64::from(usize_);
        match method {
            8 => self.start_entry(Phase::Deflate),
            0 if flags & 8 == 0 => {
                self.start_entry(Phase::Stored(u64::from(csize)));
                if csize == 0 {
                    self.phase = self.end_data()?;
                }
            }
            0 => return Err(bad("stored zip entry of unknown size")),
            _ => return Err(bad("zip compression method not supported")),
        }
        Ok(len)
    }

    fn trailer(&mut self, b: &[u8]) -> io::Result<usize> {
        match self.framing {
            Framing::Gzip => {
                if b.len() < 8 {
                    return Ok(0);
                }
                self.check(u32le(b, 0), u64::from(u32le(b, 4)))?;
                // Another member may follow.
                self.phase = Phase::Header;
                Ok(8)
            }
            _ => {
                // Data descriptor: optional signature, CRC-32, compressed and original size.
                if b.len() < 4 {
                    return Ok(0);
                }
                let sig = u32le(b, 0) == 0x0807_4b50;
                let n = if sig { 16 } else { 12 };
                if b.len() < n {
                    return Ok(0);
                }
                let base = if sig { 4 } else { 0 };
                self.check(u32le(b, base), u64::from(u32le(b, base + 8)))?;
                self.phase = Phase::Header;
                Ok(n)
            }
        }
    }
}

/// The archive framing of the file at `path`, from its first bytes (None: not an archive).
pub fn sniff_file(path: &Path) -> io::Result<Option<Framing>> {
    let mut head = [0u8; 512];
    let n = crate::records::read_full(&mut std::fs::File::open(path)?, &mut head)?;
    Ok(sniff_archive(&head[..n]))
}

/// The archive framing a file's first bytes announce: zip, gzip, or zlib (zlib only when the
/// bytes are not text, as two text characters can form a valid zlib header).
pub fn sniff_archive(head: &[u8]) -> Option<Framing> {
    let head = &head[..head.len().min(512)];
    if head.starts_with(b"PK\x03\x04") {
        Some(Framing::Zip)
    } else if crate::sniff::gzip_header(head) {
        Some(Framing::Gzip)
    } else if crate::sniff::zlib_header(head) && !crate::sniff::text_like(head) {
        Some(Framing::Zlib)
    } else {
        None
    }
}

/// A recovered file's records as stored: its bytes, or for a zip, gzip or zlib archive the
/// bytes of its entries decoded (in memory), with the framing found. An archive that ends
/// early gives the records of the part that is there; a checksum error is an error.
pub fn recovered_bytes(path: &Path) -> io::Result<(Vec<u8>, Option<Framing>)> {
    let raw = std::fs::read(path)?;
    let Some(framing) = sniff_archive(&raw) else {
        return Ok((raw, None));
    };
    let mut d = Inflate::new(framing, Vec::new());
    d.write_all(&raw)?;
    let (out, _) = d.finish()?;
    Ok((out, Some(framing)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use flate2::write::{GzEncoder, ZlibEncoder};
    use flate2::Compression;

    fn rows(n: usize) -> Vec<u8> {
        (0..n)
            .flat_map(|i| format!("{:09},Name {i},City {}\n", 100_000 + i, i % 7).into_bytes())
            .collect()
    }

    fn zip(entries: &[(&str, &[u8], bool, bool)]) -> Vec<u8> {
        let e: Vec<exfilmeter_synth::ZipEntry<'_>> = entries
            .iter()
            .map(
                |(name, data, deflate, descriptor)| exfilmeter_synth::ZipEntry {
                    name,
                    data,
                    deflate: *deflate,
                    descriptor: *descriptor,
                },
            )
            .collect();
        exfilmeter_synth::zip_archive(&e)
    }

    /// Decodes `input` fed in pieces of `step` bytes.
    fn run(framing: Framing, input: &[u8], step: usize) -> io::Result<(Vec<u8>, End)> {
        let mut d = Inflate::new(framing, Vec::new());
        for c in input.chunks(step.max(1)) {
            d.write_all(c)?;
        }
        d.finish()
    }

    #[test]
    fn zlib_and_gzip_decode_at_every_split_and_verify() {
        let data = rows(300);
        let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
        z.write_all(&data).unwrap();
        let z = z.finish().unwrap();
        let mut g = GzEncoder::new(Vec::new(), Compression::best());
        g.write_all(&data).unwrap();
        let g = g.finish().unwrap();
        for step in [1, 7, 100, 4096, 1 << 20] {
            assert_eq!(
                run(Framing::Zlib, &z, step).unwrap(),
                (data.clone(), End::Complete)
            );
            assert_eq!(
                run(Framing::Gzip, &g, step).unwrap(),
                (data.clone(), End::Complete)
            );
        }
        // Two gzip members are one stream, as gunzip reads them.
        let mut two = g.clone();
        two.extend_from_slice(&g);
        let (out, end) = run(Framing::Gzip, &two, 333).unwrap();
        assert_eq!((out.len(), end), (2 * data.len(), End::Complete));
        // Bare deflate: complete, and a prefix.
        let mut r = flate2::write::DeflateEncoder::new(Vec::new(), Compression::default());
        r.write_all(&data).unwrap();
        let r = r.finish().unwrap();
        assert_eq!(
            run(Framing::Raw, &r, 100).unwrap(),
            (data.clone(), End::Complete)
        );
        let (out, end) = run(Framing::Raw, &r[..r.len() / 2], 100).unwrap();
        assert!(end == End::Prefix && data.starts_with(&out) && !out.is_empty());
        // A flipped byte in the gzip trailer's CRC is an error.
        let mut bad_crc = g.clone();
        let n = bad_crc.len();
        bad_crc[n - 8] ^= 1;
        assert!(run(Framing::Gzip, &bad_crc, 64).is_err());
        // A flipped Adler-32 byte too.
        let mut bad_adler = z.clone();
        let n = bad_adler.len();
        bad_adler[n - 1] ^= 1;
        assert!(run(Framing::Zlib, &bad_adler, 64).is_err());
    }

    #[test]
    fn a_prefix_decodes_to_a_prefix_of_the_content() {
        let data = rows(500);
        let mut g = GzEncoder::new(Vec::new(), Compression::default());
        g.write_all(&data).unwrap();
        let g = g.finish().unwrap();
        for cut in [5, 11, g.len() / 3, g.len() / 2, g.len() - 9, g.len() - 1] {
            let (out, end) = run(Framing::Gzip, &g[..cut], 50).unwrap();
            assert_eq!(end, End::Prefix, "cut at {cut}");
            assert!(data.starts_with(&out), "cut at {cut}");
        }
        let z = zip(&[("a.csv", &data, true, false)]);
        for cut in [3, 29, 40, z.len() / 2] {
            let (out, end) = run(Framing::Zip, &z[..cut], 17).unwrap();
            assert_eq!(end, End::Prefix, "cut at {cut}");
            assert!(data.starts_with(&out), "cut at {cut}");
        }
    }

    #[test]
    fn zip_entries_stored_deflated_and_with_descriptors() {
        let a = rows(40);
        let b = b"999999999,No newline,City 3".to_vec();
        let c = rows(7);
        let z = zip(&[
            ("a.csv", &a, true, false),
            ("b.csv", &b, false, false),
            ("c.csv", &c, true, true),
            ("empty", b"", false, false),
        ]);
        let mut want = a.clone();
        want.extend_from_slice(&b);
        want.push(b'\n'); // entries are separate files
        want.extend_from_slice(&c);
        for step in [1, 13, 512, 1 << 20] {
            let mut d = Inflate::new(Framing::Zip, Vec::new());
            for ch in z.chunks(step) {
                d.write_all(ch).unwrap();
            }
            assert_eq!(d.units, 4, "step {step}");
            assert_eq!(
                d.finish().unwrap(),
                (want.clone(), End::Complete),
                "step {step}"
            );
        }
        // Every entry verified: everything written is covered.
        let mut d = Inflate::new(Framing::Zip, Vec::new());
        d.write_all(&z).unwrap();
        assert_eq!(
            (d.verified, d.written),
            (want.len() as u64, want.len() as u64)
        );
        // A corrupted stored byte fails the entry's CRC.
        let mut bad = z.clone();
        let at = bad.windows(9).position(|w| w == b"999999999").unwrap();
        bad[at] = b'8';
        assert!(run(Framing::Zip, &bad, 100).is_err());
    }

    #[test]
    fn unsupported_zip_entries_are_errors() {
        let mut enc = zip(&[("a", b"abc\n", false, false)]);
        enc[6] |= 1; // encrypted flag
        assert!(run(Framing::Zip, &enc, 10).is_err());
        let mut m = zip(&[("a", b"abc\n", false, false)]);
        m[8] = 12; // bzip2
        assert!(run(Framing::Zip, &m, 10).is_err());
        assert!(run(Framing::Zip, b"PK\x05\x07 junk", 10).is_err());
    }
}
