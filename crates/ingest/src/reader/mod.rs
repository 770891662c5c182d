//! Capture readers: classic pcap (µs/ns, both byte orders, "modified") and pcapng
//! (several sections and interfaces), over a refillable buffer.
//!
//! A reader never fails as a whole once the file is open: damage becomes a
//! [`CaptureError`] with its byte offset, every frame before it is delivered, and the
//! reader then *resynchronises* — it scans forward for the next offset where a chain
//! of plausible records or blocks starts — so intact frames behind a damaged region
//! are recovered too. How many bytes were skipped is counted.

mod buffer;
mod pcap;
mod pcapng;

use crate::error::{CaptureError, DamageKind};
use crate::frame::{FileId, Frame, FrameRef, LinkType};
use crate::stream::{ByteStream, Compression, FileDigest, HashAlgo};
use crate::Timestamp;
use buffer::ReadBuf;
use std::collections::BTreeMap;
use std::io::{self, Read};
use std::ops::Range;
use std::path::Path;

pub use pcapng::Interface;

/// Largest record or block accepted (bytes). Wireshark uses the same bound for pcapng
/// blocks; nothing real comes close, so larger values are treated as corruption.
pub const MAX_BLOCK_LEN: usize = 16 << 20;

/// Errors kept per file; further ones are only counted (see [`ReaderStats::errors_suppressed`]).
pub const MAX_ERRORS_KEPT: usize = 100;

/// Errors of a per-frame kind (bad timestamps) kept per file before they are only counted.
pub const MAX_SAME_KIND_KEPT: usize = 10;

/// The container format of a capture file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// Classic pcap, microsecond timestamps.
    Pcap,
    /// Classic pcap, nanosecond timestamps.
    PcapNs,
    /// Kuznetzov's "modified" pcap (24-byte record headers).
    PcapModified,
    /// pcapng.
    PcapNg,
    /// Not recognised.
    Unknown,
}

impl Format {
    /// Name as capinfos prints it (`pcap`, `nsecpcap`, `modpcap`, `pcapng`).
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Pcap => "pcap",
            Format::PcapNs => "nsecpcap",
            Format::PcapModified => "modpcap",
            Format::PcapNg => "pcapng",
            Format::Unknown => "unknown",
        }
    }
}

/// Byte order of the file (pcapng: of its sections; several when sections differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ByteOrder {
    /// Little-endian.
    Little,
    /// Big-endian.
    Big,
}

impl ByteOrder {
    /// `little` or `big`.
    pub fn as_str(self) -> &'static str {
        match self {
            ByteOrder::Little => "little",
            ByteOrder::Big => "big",
        }
    }

    #[inline]
    pub(crate) fn u32(self, b: &[u8], at: usize) -> u32 {
        let x = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        match self {
            ByteOrder::Little => u32::from_le_bytes(x),
            ByteOrder::Big => u32::from_be_bytes(x),
        }
    }

    #[inline]
    pub(crate) fn u16(self, b: &[u8], at: usize) -> u16 {
        let x = [b[at], b[at + 1]];
        match self {
            ByteOrder::Little => u16::from_le_bytes(x),
            ByteOrder::Big => u16::from_be_bytes(x),
        }
    }
}

/// What the reader learnt about the file's structure, and what it skipped.
#[derive(Debug, Clone, Default)]
pub struct ReaderStats {
    /// Container format.
    pub format: Option<Format>,
    /// Byte orders seen (one for pcap; one per distinct section byte order for pcapng).
    pub byte_orders: Vec<ByteOrder>,
    /// pcap file-header snaplen (pcapng: per interface, see `interfaces`).
    pub snaplen: Option<u32>,
    /// Interfaces in file order (pcap: one).
    pub interfaces: Vec<Interface>,
    /// pcapng sections.
    pub sections: u32,
    /// Blocks by type name (pcapng), e.g. `EPB`, `ISB`, `custom`, `unknown 0x00000BAD`.
    pub blocks: BTreeMap<String, u64>,
    /// Frames delivered.
    pub frames: u64,
    /// Frames whose timestamp was invalid (fraction ≥ 1 s, or out of range) — kept.
    pub bad_timestamps: u64,
    /// Bytes skipped while resynchronising after damage.
    pub bytes_skipped: u64,
    /// Times the reader found its way back to intact records after damage.
    pub resyncs: u64,
    /// Errors beyond [`MAX_ERRORS_KEPT`] that were counted but not kept.
    pub errors_suppressed: u64,
}

pub(crate) struct FrameMeta {
    data: Range<usize>,
    ts: Timestamp,
    ts_known: bool,
    interface: u32,
    link: LinkType,
    orig_len: u32,
    offset: u64,
}

pub(crate) enum Step {
    Frame(FrameMeta),
    Continue,
    Done,
}

pub(crate) enum State {
    Start,
    Pcap(pcap::PcapState),
    PcapNg(pcapng::NgState),
    Done,
}

/// Result of a resynchronisation candidate test.
pub(crate) enum Candidate {
    Yes,
    No,
    /// The test needs this many bytes from the candidate position.
    NeedMore(usize),
}

/// Reads one capture file frame by frame.
///
/// ```no_run
/// use exfilmeter_ingest::{CaptureReader, FileId, HashAlgo};
/// let mut r = CaptureReader::open("trace.pcap".as_ref(), FileId(0), HashAlgo::Sha256)?;
/// let mut n = 0;
/// while let Some(frame) = r.next_frame() {
///     n += frame.data.len();
/// }
/// let done = r.finish();
/// println!("{n} captured bytes, {} errors", done.errors.len());
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct CaptureReader {
    stream: ByteStream,
    rb: ReadBuf,
    state: State,
    file: FileId,
    frame_no: u64,
    last_ts: Option<Timestamp>,
    errors: Vec<CaptureError>,
    stats: ReaderStats,
}

/// Everything known about a file once it has been read.
#[derive(Debug, Clone)]
pub struct ReaderOutcome {
    /// Structure and skip counters.
    pub stats: ReaderStats,
    /// Damage found, in file order.
    pub errors: Vec<CaptureError>,
    /// Size and digest of the file as stored (`None` if finishing the read failed).
    pub digest: Option<FileDigest>,
    /// Compression of the stored file.
    pub compression: Compression,
}

impl CaptureReader {
    /// Opens a file (or `-` for standard input).
    pub fn open(path: &Path, file: FileId, hash: HashAlgo) -> io::Result<CaptureReader> {
        Ok(CaptureReader::from_stream(
            ByteStream::open(path, hash)?,
            file,
        ))
    }

    /// Reads from an already opened stream.
    pub fn from_stream(stream: ByteStream, file: FileId) -> CaptureReader {
        CaptureReader {
            stream,
            rb: ReadBuf::new(),
            state: State::Start,
            file,
            frame_no: 0,
            last_ts: None,
            errors: Vec::new(),
            stats: ReaderStats::default(),
        }
    }

    /// Compression detected on the stored file.
    pub fn compression(&self) -> Compression {
        self.stream.compression()
    }

    /// What has been learnt so far.
    pub fn stats(&self) -> &ReaderStats {
        &self.stats
    }

    /// Damage found so far.
    pub fn errors(&self) -> &[CaptureError] {
        &self.errors
    }

    /// The next frame, or `None` at the end of the file (or of what could be read).
    pub fn next_frame(&mut self) -> Option<Frame<'_>> {
        let meta = loop {
            let step = match &self.state {
                State::Start => self.start(),
                State::Pcap(_) => self.pcap_step(),
                State::PcapNg(_) => self.ng_step(),
                State::Done => Step::Done,
            };
            match step {
                Step::Frame(m) => break m,
                Step::Continue => {}
                Step::Done => {
                    self.state = State::Done;
                    return None;
                }
            }
        };
        self.frame_no += 1;
        self.stats.frames += 1;
        if meta.ts_known {
            self.last_ts = Some(meta.ts);
        }
        if let Some(i) = self.stats.interfaces.get_mut(meta.interface as usize) {
            i.packets += 1;
        }
        Some(Frame {
            ts: meta.ts,
            ts_known: meta.ts_known,
            frame: FrameRef {
                file: self.file,
                index: self.frame_no,
                offset: meta.offset,
            },
            interface: meta.interface,
            link: meta.link,
            orig_len: meta.orig_len,
            data: &self.rb.buf[meta.data],
        })
    }

    /// Finishes the file: reads what is left of it for the digest and returns the outcome.
    pub fn finish(self) -> ReaderOutcome {
        let compression = self.stream.compression();
        let offset = self.rb.base + self.rb.end as u64;
        let CaptureReader {
            stream,
            mut errors,
            stats,
            ..
        } = self;
        let digest = match stream.finish() {
            Ok(d) => Some(d),
            Err(e) => {
                errors.push(CaptureError {
                    offset,
                    kind: DamageKind::Io,
                    message: format!("reading the rest of the file for its digest failed: {e}"),
                });
                None
            }
        };
        ReaderOutcome {
            stats,
            errors,
            digest,
            compression,
        }
    }

    pub(crate) fn error(&mut self, offset: u64, kind: DamageKind, message: String) {
        // Repetitive per-frame problems (bad timestamps) are kept a few times, then counted.
        let same_kind = || self.errors.iter().filter(|e| e.kind == kind).count();
        if kind == DamageKind::BadTimestamp && same_kind() >= MAX_SAME_KIND_KEPT {
            self.stats.errors_suppressed += 1;
        } else if self.errors.len() < MAX_ERRORS_KEPT {
            self.errors.push(CaptureError {
                offset,
                kind,
                message,
            });
        } else {
            self.stats.errors_suppressed += 1;
        }
    }

    /// Fills the buffer, turning an I/O error into a recorded error (the buffered
    /// bytes stay usable; the stream is treated as ended).
    pub(crate) fn fill(&mut self, need: usize) {
        if let Err(e) = self.rb.fill(&mut self.stream, need) {
            let offset = self.rb.base + self.rb.end as u64;
            let what = if self.stream.compression() == Compression::None {
                "reading"
            } else {
                "decompressing"
            };
            self.error(offset, DamageKind::Io, format!("{what} failed: {e}"));
        }
    }

    fn start(&mut self) -> Step {
        self.fill(24);
        let head = &self.rb.buf[self.rb.start..self.rb.end];
        if head.is_empty() {
            self.stats.format = Some(Format::Unknown);
            self.error(0, DamageKind::Empty, "empty file: no capture header".into());
            return Step::Done;
        }
        if head.len() >= 4 && head[..4] == [0x0a, 0x0d, 0x0d, 0x0a] {
            self.stats.format = Some(Format::PcapNg);
            self.state = State::PcapNg(pcapng::NgState::default());
            return Step::Continue;
        }
        if head.len() >= 4 {
            let m = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
            if matches!(
                m,
                0xa1b2_c3d4 | 0xd4c3_b2a1 | 0xa1b2_3c4d | 0x4d3c_b2a1 | 0xa1b2_cd34
            ) {
                return self.pcap_start();
            }
        }
        self.stats.format = Some(Format::Unknown);
        let shown: Vec<String> = head.iter().take(4).map(|b| format!("{b:02x}")).collect();
        self.error(
            0,
            DamageKind::BadMagic,
            format!(
                "not a pcap or pcapng capture (first bytes {}; expected pcap magic a1b2c3d4/a1b23c4d in either byte order, or pcapng 0a0d0d0a; gzip and zstd are recognised too)",
                shown.join(" ")
            ),
        );
        Step::Done
    }

    /// Scans forward from just after the damaged position for a resynchronisation point.
    /// `step` is the scan stride (4 for pcapng's aligned blocks, 1 for pcap).
    /// Returns true (and positions `start` there) when one is found.
    pub(crate) fn resync<F>(&mut self, step: usize, mut check: F) -> bool
    where
        F: FnMut(&[u8], bool) -> Candidate,
    {
        let damaged = self.rb.offset();
        let mut p = self.rb.start + step;
        loop {
            if p >= self.rb.end {
                if self.rb.eof {
                    self.skip_to(damaged, self.rb.end, false);
                    return false;
                }
                // Drop everything scanned so far and read on.
                let keep_from = p.min(self.rb.end);
                self.rb.start = keep_from;
                self.fill(step.max(64));
                p = self.rb.start;
                continue;
            }
            match check(&self.rb.buf[p..self.rb.end], self.rb.eof) {
                Candidate::Yes => {
                    self.skip_to(damaged, p, true);
                    return true;
                }
                Candidate::No => p += step,
                Candidate::NeedMore(n) => {
                    if self.rb.eof || n > 4 * MAX_BLOCK_LEN || self.rb.end - p >= n {
                        p += step;
                    } else {
                        // Keep the candidate, read on, and test it again.
                        self.rb.start = p;
                        self.fill(n);
                        p = self.rb.start;
                    }
                }
            }
        }
    }

    fn skip_to(&mut self, damaged: u64, p: usize, found: bool) {
        self.rb.start = p;
        let skipped = self.rb.offset() - damaged;
        self.stats.bytes_skipped += skipped;
        if found {
            self.stats.resyncs += 1;
            let at = self.rb.offset();
            self.error(
                at,
                DamageKind::BadLength,
                format!(
                    "resynchronised: intact records resume here after {skipped} skipped bytes (from offset {damaged})"
                ),
            );
        } else if skipped > 0 {
            self.error(
                damaged,
                DamageKind::Truncated,
                format!("no intact record found in the last {skipped} bytes of the file; they were skipped"),
            );
        }
    }

    #[inline]
    pub(crate) fn check_ts(&mut self, ts: Option<Timestamp>, offset: u64, what: &str) -> Timestamp {
        match ts {
            Some(t) => t,
            None => {
                self.stats.bad_timestamps += 1;
                self.error(
                    offset,
                    DamageKind::BadTimestamp,
                    format!("{what}; the frame is kept with the previous frame's time"),
                );
                self.last_ts.unwrap_or_default()
            }
        }
    }
}

/// Drains a reader to the end without keeping frames; handy for tests and benches.
pub fn count_frames(path: &Path, hash: HashAlgo) -> io::Result<(u64, ReaderOutcome)> {
    let mut r = CaptureReader::open(path, FileId(0), hash)?;
    let mut n = 0;
    while r.next_frame().is_some() {
        n += 1;
    }
    Ok((n, r.finish()))
}

#[allow(dead_code)]
fn _assert_send(r: CaptureReader) -> impl Send {
    r
}

impl std::fmt::Debug for CaptureReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureReader")
            .field("file", &self.file)
            .field("frames", &self.frame_no)
            .finish()
    }
}

// `Read` is used by the submodules through the stream.
#[allow(unused_imports)]
use Read as _;
