//! The byte stream under a capture reader: file or stdin, hashed while it is read
//! (SHA-256 on a second thread), transparently decompressed when its magic bytes say
//! gzip or zstd.
//!
//! The hash and size always cover the bytes *as stored* (the compressed file), so
//! they match `sha256sum` of the evidence file.

use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

/// Which digest to compute over each input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashAlgo {
    /// SHA-256 (the default; recorded for chain of custody).
    #[default]
    Sha256,
    /// No digest (faster; the manifest then says "not computed").
    None,
}

/// Compression recognised from the first bytes of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Stored as is.
    None,
    /// gzip (RFC 1952), possibly several members.
    Gzip,
    /// Zstandard frames.
    Zstd,
}

impl Compression {
    /// Name for reports (`none`, `gzip`, `zstd`).
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// Size of the chunks read from the file and handed to the hashing thread.
const CHUNK: usize = 1 << 20;
/// Chunks in flight between the reader and the hashing thread (bounds memory).
const CHUNKS_IN_FLIGHT: usize = 4;

struct HashWorker {
    tx: SyncSender<Vec<u8>>,
    recycled: Receiver<Vec<u8>>,
    handle: JoinHandle<[u8; 32]>,
    allocated: usize,
}

/// Reads the raw stored bytes in large chunks, counts them, and passes each chunk to
/// the hashing thread once it has been served (no second pass, no extra copy).
pub(crate) struct HashingRead {
    inner: Box<dyn Read + Send>,
    chunk: Vec<u8>,
    pos: usize,
    bytes: u64,
    worker: Option<HashWorker>,
    eof: bool,
}

impl HashingRead {
    fn new(inner: Box<dyn Read + Send>, algo: HashAlgo) -> HashingRead {
        let worker = match algo {
            HashAlgo::None => None,
            HashAlgo::Sha256 => {
                let (tx, rx) = sync_channel::<Vec<u8>>(CHUNKS_IN_FLIGHT);
                let (back_tx, back_rx) = sync_channel::<Vec<u8>>(CHUNKS_IN_FLIGHT + 1);
                let handle = std::thread::spawn(move || {
                    let mut h = Sha256::new();
                    for mut chunk in rx {
                        h.update(&chunk);
                        chunk.clear();
                        // The reader may be gone already; then the chunk is simply freed.
                        let _ = back_tx.try_send(chunk);
                    }
                    h.finalize().into()
                });
                Some(HashWorker {
                    tx,
                    recycled: back_rx,
                    handle,
                    allocated: 0,
                })
            }
        };
        HashingRead {
            inner,
            chunk: Vec::new(),
            pos: 0,
            bytes: 0,
            worker,
            eof: false,
        }
    }

    /// Hands the served chunk to the hasher and refills from the source.
    fn refill(&mut self) -> io::Result<()> {
        let mut next = match &mut self.worker {
            Some(w) => match w.recycled.try_recv() {
                Ok(v) => v,
                Err(_) if w.allocated < CHUNKS_IN_FLIGHT + 1 => {
                    w.allocated += 1;
                    Vec::with_capacity(CHUNK)
                }
                Err(_) => w
                    .recycled
                    .recv()
                    .map_err(|_| io::Error::other("hashing thread stopped unexpectedly"))?,
            },
            None => std::mem::take(&mut self.chunk),
        };
        let served = std::mem::take(&mut self.chunk);
        if let Some(w) = &self.worker {
            if !served.is_empty() {
                w.tx.send(served)
                    .map_err(|_| io::Error::other("hashing thread stopped unexpectedly"))?;
            }
        }
        next.clear();
        next.resize(CHUNK, 0);
        let (filled, failed) = fill_from(&mut *self.inner, &mut next);
        next.truncate(filled);
        self.bytes += filled as u64;
        self.chunk = next;
        self.pos = 0;
        match failed {
            Some(e) => Err(e),
            None => {
                self.eof = filled < CHUNK;
                Ok(())
            }
        }
    }

    /// The next bytes without consuming them (at most one chunk).
    fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
        if self.pos >= self.chunk.len() && !self.eof {
            self.refill()?;
        }
        let end = self.chunk.len().min(self.pos + n);
        Ok(&self.chunk[self.pos..end])
    }

    /// Reads the rest of the source (so the digest covers the whole file) and returns
    /// the total size and the digest.
    fn finish(mut self) -> io::Result<(u64, Option<[u8; 32]>)> {
        while !self.eof {
            self.pos = self.chunk.len();
            self.refill()?;
        }
        let last = std::mem::take(&mut self.chunk);
        let digest = match self.worker.take() {
            None => None,
            Some(w) => {
                if !last.is_empty() {
                    w.tx.send(last)
                        .map_err(|_| io::Error::other("hashing thread stopped unexpectedly"))?;
                }
                drop(w.tx);
                Some(
                    w.handle
                        .join()
                        .map_err(|_| io::Error::other("hashing thread panicked"))?,
                )
            }
        };
        Ok((self.bytes, digest))
    }
}

impl Read for HashingRead {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.chunk.len() {
            if self.eof {
                return Ok(0);
            }
            if self.worker.is_none() && out.len() >= 64 << 10 {
                // Nothing to hash: read straight into the caller's buffer (one copy less).
                let n = self.inner.read(out)?;
                if n == 0 {
                    self.eof = true;
                }
                self.bytes += n as u64;
                return Ok(n);
            }
            self.refill()?;
        }
        let n = out.len().min(self.chunk.len() - self.pos);
        out[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Reads from `src` until `buf` is full or the source ends (pipes and decompressors return
/// short reads; interrupted reads are retried): the bytes read, and the error that stopped
/// it early, if any.
fn fill_from(src: &mut (impl Read + ?Sized), buf: &mut [u8]) -> (usize, Option<io::Error>) {
    let mut filled = 0;
    while filled < buf.len() {
        match src.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (filled, Some(e)),
        }
    }
    (filled, None)
}

enum Decoded {
    Plain(HashingRead),
    /// A gzip or zstd input, decompressed on a thread of its own ([`Ahead`]).
    Ahead(Ahead),
    /// A decompressor on this thread (when no thread could be started).
    Here(Box<Decompress>),
}

/// A gzip or zstd decompressor over the stored bytes.
enum Decompress {
    Gzip(Box<flate2::read::MultiGzDecoder<HashingRead>>),
    Zstd(Box<zstd::Decoder<'static, BufReader<HashingRead>>>),
}

impl Decompress {
    fn into_raw(self) -> HashingRead {
        match self {
            Decompress::Gzip(d) => d.into_inner(),
            Decompress::Zstd(d) => (*d).finish().into_inner(),
        }
    }
}

impl Read for Decompress {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match self {
            Decompress::Gzip(d) => d.read(out),
            Decompress::Zstd(d) => d.read(out),
        }
    }
}

/// Decompressed chunks in flight from the decompressing thread (bounds memory: a few MiB).
const AHEAD_IN_FLIGHT: usize = 2;

/// Decompression on a thread of its own: inflating gzip or zstd runs beside the parsing and
/// tracking of the bytes before (one core more for a compressed capture). The thread fills
/// chunks of [`CHUNK`] decompressed bytes in order; a decompression error arrives after the
/// bytes before it, so the damage is reported at the same offset as without the thread. When
/// the reader stops early (a damaged capture), the thread stops at its next chunk and hands
/// back the stored stream, whose rest [`ByteStream::finish`] reads for the digest.
struct Ahead {
    rx: Option<Receiver<io::Result<Vec<u8>>>>,
    recycle: SyncSender<Vec<u8>>,
    handle: Option<JoinHandle<Option<Decompress>>>,
    chunk: Vec<u8>,
    pos: usize,
    done: bool,
}

impl Ahead {
    /// Starts the thread; the decompressor stays on this thread when none can be started.
    fn spawn(d: Decompress) -> io::Result<Decoded> {
        let (tx, rx) = sync_channel::<io::Result<Vec<u8>>>(AHEAD_IN_FLIGHT);
        let (recycle, recycled) = sync_channel::<Vec<u8>>(AHEAD_IN_FLIGHT + 2);
        // The decompressor goes to the thread only when it starts; if it cannot, it is
        // taken back.
        let slot = std::sync::Arc::new(std::sync::Mutex::new(Some(d)));
        let theirs = std::sync::Arc::clone(&slot);
        let spawned = std::thread::Builder::new().name("decompress".into()).spawn(
            move || -> Option<Decompress> {
                let mut d = theirs.lock().ok().and_then(|mut s| s.take())?;
                loop {
                    let mut buf = recycled.try_recv().unwrap_or_default();
                    buf.clear();
                    buf.resize(CHUNK, 0);
                    let (filled, failed) = fill_from(&mut d, &mut buf);
                    buf.truncate(filled);
                    let end = filled < CHUNK;
                    // A failed send: the reader stopped; the stored stream goes back to it.
                    if filled > 0 && tx.send(Ok(buf)).is_err() {
                        return Some(d);
                    }
                    if let Some(e) = failed {
                        let _ = tx.send(Err(e));
                        return Some(d);
                    }
                    if end {
                        return Some(d);
                    }
                }
            },
        );
        match spawned {
            Ok(handle) => Ok(Decoded::Ahead(Ahead {
                rx: Some(rx),
                recycle,
                handle: Some(handle),
                chunk: Vec::new(),
                pos: 0,
                done: false,
            })),
            // The thread never ran: the decompressor is still in the slot.
            Err(e) => match slot.lock().ok().and_then(|mut s| s.take()) {
                Some(back) => Ok(Decoded::Here(Box::new(back))),
                None => Err(io::Error::other(format!(
                    "could not start the decompressing thread: {e}"
                ))),
            },
        }
    }

    /// Stops the thread (it ends at its next chunk) and takes the stored stream back.
    fn into_raw(mut self) -> io::Result<HashingRead> {
        drop(self.rx.take());
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok(Some(d))) => Ok(d.into_raw()),
            _ => Err(io::Error::other(
                "the decompressing thread stopped unexpectedly",
            )),
        }
    }
}

impl Read for Ahead {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.chunk.len() {
            if self.done {
                return Ok(0);
            }
            let next = self.rx.as_ref().and_then(|rx| rx.recv().ok());
            match next {
                Some(Ok(c)) => {
                    let used = std::mem::replace(&mut self.chunk, c);
                    let _ = self.recycle.try_send(used);
                    self.pos = 0;
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                None => {
                    self.done = true;
                    return Ok(0);
                }
            }
        }
        let n = out.len().min(self.chunk.len() - self.pos);
        out[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A capture's byte stream: decompressed if needed, hashed as stored.
pub struct ByteStream {
    decoded: Decoded,
    compression: Compression,
}

/// Size and digest of an input file as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileDigest {
    /// Bytes in the file as stored.
    pub size: u64,
    /// SHA-256 of those bytes, if requested.
    pub sha256: Option<[u8; 32]>,
}

impl ByteStream {
    /// Opens a file (or `-` for standard input) and detects compression by magic bytes.
    pub fn open(path: &Path, hash: HashAlgo) -> io::Result<ByteStream> {
        let inner: Box<dyn Read + Send> = if path.as_os_str() == "-" {
            Box::new(io::stdin())
        } else {
            Box::new(File::open(path)?)
        };
        ByteStream::from_reader(inner, hash)
    }

    /// Wraps any reader (used for standard input and in tests).
    pub fn from_reader(inner: Box<dyn Read + Send>, hash: HashAlgo) -> io::Result<ByteStream> {
        let mut raw = HashingRead::new(inner, hash);
        let head = raw.peek(4)?;
        let compression = if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        };
        let decoded = match compression {
            Compression::None => Decoded::Plain(raw),
            Compression::Gzip => Ahead::spawn(Decompress::Gzip(Box::new(
                flate2::read::MultiGzDecoder::new(raw),
            )))?,
            Compression::Zstd => {
                Ahead::spawn(Decompress::Zstd(Box::new(zstd::Decoder::new(raw)?)))?
            }
        };
        Ok(ByteStream {
            decoded,
            compression,
        })
    }

    /// The compression found.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Reads whatever is left of the stored file and returns its size and digest.
    pub fn finish(self) -> io::Result<FileDigest> {
        let raw = match self.decoded {
            Decoded::Plain(r) => r,
            Decoded::Ahead(a) => a.into_raw()?,
            Decoded::Here(d) => d.into_raw(),
        };
        let (size, sha256) = raw.finish()?;
        Ok(FileDigest { size, sha256 })
    }
}

impl Read for ByteStream {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match &mut self.decoded {
            Decoded::Plain(r) => r.read(out),
            Decoded::Ahead(a) => a.read(out),
            Decoded::Here(d) => d.read(out),
        }
    }
}

/// Size and SHA-256 of a file as stored, read on its own (not while it is parsed): what a run
/// of several files uses to hash the next files while the current one is read
/// ([`ByteStream::finish`] gives the same digest for a file hashed while it is read).
pub fn digest_file(path: &Path) -> io::Result<FileDigest> {
    digest_file_unless(path, &std::sync::atomic::AtomicBool::new(false))
}

/// [`digest_file`], given up (an `Interrupted` error) as soon as `stop` is set: checked
/// before each 1 MiB read, so a run that stops need not wait for the hash of a large file.
pub fn digest_file_unless(
    path: &Path,
    stop: &std::sync::atomic::AtomicBool,
) -> io::Result<FileDigest> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut size = 0u64;
    loop {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "hashing stopped",
            ));
        }
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(buf.get(..n).unwrap_or_default());
        size += n as u64;
    }
    Ok(FileDigest {
        size,
        sha256: Some(h.finalize().into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn sha(data: &[u8]) -> [u8; 32] {
        Sha256::digest(data).into()
    }

    fn payload(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 253) as u8).collect()
    }

    #[test]
    fn plain_stream_hashes_whole_file_even_if_not_read_to_the_end() {
        let data = payload(3 * CHUNK + 12345);
        let mut s =
            ByteStream::from_reader(Box::new(io::Cursor::new(data.clone())), HashAlgo::Sha256)
                .unwrap();
        assert_eq!(s.compression(), Compression::None);
        let mut first = vec![0u8; 1000];
        s.read_exact(&mut first).unwrap();
        assert_eq!(first, data[..1000]);
        let d = s.finish().unwrap();
        assert_eq!(d.size, data.len() as u64);
        assert_eq!(d.sha256, Some(sha(&data)));
    }

    #[test]
    fn gzip_is_detected_by_magic_and_hashed_as_stored() {
        let data = payload(2 * CHUNK + 7);
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&data).unwrap();
        let gz = enc.finish().unwrap();
        let mut s =
            ByteStream::from_reader(Box::new(io::Cursor::new(gz.clone())), HashAlgo::Sha256)
                .unwrap();
        assert_eq!(s.compression(), Compression::Gzip);
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
        let d = s.finish().unwrap();
        assert_eq!(d.size, gz.len() as u64);
        assert_eq!(d.sha256, Some(sha(&gz)));
    }

    #[test]
    fn zstd_is_detected_by_magic() {
        let data = payload(100_000);
        let z = zstd::encode_all(&data[..], 1).unwrap();
        let mut s =
            ByteStream::from_reader(Box::new(io::Cursor::new(z.clone())), HashAlgo::None).unwrap();
        assert_eq!(s.compression(), Compression::Zstd);
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
        let d = s.finish().unwrap();
        assert_eq!(d.size, z.len() as u64);
        assert_eq!(d.sha256, None);
    }

    #[test]
    fn compressed_stream_read_in_part_still_hashes_the_whole_stored_file() {
        let data = payload(5 * CHUNK + 99);
        let z = zstd::encode_all(&data[..], 1).unwrap();
        let mut s = ByteStream::from_reader(Box::new(io::Cursor::new(z.clone())), HashAlgo::Sha256)
            .unwrap();
        let mut first = vec![0u8; CHUNK + 10];
        s.read_exact(&mut first).unwrap();
        assert_eq!(first, data[..CHUNK + 10]);
        let d = s.finish().unwrap();
        assert_eq!(d.size, z.len() as u64);
        assert_eq!(d.sha256, Some(sha(&z)));
    }

    #[test]
    fn a_cut_gzip_stream_gives_every_byte_before_the_cut_then_the_error() {
        let data = payload(3 * CHUNK + 5);
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&data).unwrap();
        let mut gz = enc.finish().unwrap();
        gz.truncate(gz.len() * 2 / 3);
        // What the decompressor gives on this thread: the oracle.
        let mut here = flate2::read::MultiGzDecoder::new(io::Cursor::new(gz.clone()));
        let mut expected = Vec::new();
        let mut buf = vec![0u8; 4096];
        loop {
            match here.read(&mut buf) {
                Ok(0) => panic!("a cut gzip stream must end in an error"),
                Ok(n) => expected.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
        assert!(expected.len() > CHUNK, "the cut is past the first chunk");
        let mut s =
            ByteStream::from_reader(Box::new(io::Cursor::new(gz.clone())), HashAlgo::Sha256)
                .unwrap();
        let mut got = Vec::new();
        let err = loop {
            match s.read(&mut buf) {
                Ok(0) => panic!("the error must reach the reader"),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => break e,
            }
        };
        assert_eq!(got.len(), expected.len());
        assert!(got == expected);
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        let d = s.finish().unwrap();
        assert_eq!(d.size, gz.len() as u64);
        assert_eq!(d.sha256, Some(sha(&gz)));
    }

    #[test]
    fn a_digest_is_given_up_when_asked_and_computed_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let data = payload(2 * CHUNK + 3);
        std::fs::write(&p, &data).unwrap();
        let go = std::sync::atomic::AtomicBool::new(false);
        let d = digest_file_unless(&p, &go).unwrap();
        assert_eq!((d.size, d.sha256), (data.len() as u64, Some(sha(&data))));
        let stop = std::sync::atomic::AtomicBool::new(true);
        let e = digest_file_unless(&p, &stop).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Interrupted);
    }

    #[test]
    fn empty_input() {
        let s = ByteStream::from_reader(Box::new(io::empty()), HashAlgo::Sha256).unwrap();
        let d = s.finish().unwrap();
        assert_eq!(d.size, 0);
        assert_eq!(d.sha256, Some(sha(b"")));
    }
}
