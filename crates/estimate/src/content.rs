//! What an uploaded body is, decided from its bytes, and the records it holds.
//!
//! A body is fed in order with its offsets (a jump is a capture gap). The first bytes
//! decide the content kind: records as stored (plain), base64 and/or zlib/gzip wrapped
//! around them (decoded on the fly and counted), an archive, or opaque (high entropy:
//! encrypted or compressed with an unknown codec). Decoded records are **counted**, not
//! divided; only what stays opaque is left to the volume estimate. Memory per body is
//! bounded (a sniff buffer, one record line, the inflater's window).

use crate::inflate::{End, Framing, Inflate};
use crate::records::RecordFormat;
use exfilmeter_ingest::{FileId, FrameRef, Timestamp};
use std::collections::HashSet;
use std::io::Write;

/// Where a byte was seen: capture time and frame.
pub type Seen = (Timestamp, FrameRef);

const NOWHERE: Seen = (
    Timestamp(0),
    FrameRef {
        file: FileId(0),
        index: 0,
        offset: 0,
    },
);

/// A record line of decoded content, for matching against the recovered rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Offset of its first byte in the decoded content.
    pub offset: u64,
    /// Its length in the content (terminator included).
    pub len: u64,
    /// Where its content without the line terminator (cut at the keep limit: see
    /// `overlong`) lies in the buffer of its [`Lines`].
    pub text: std::ops::Range<usize>,
    /// Every byte of the record is present (it started at a known boundary, no gap inside,
    /// and it ended with its terminator or at the end of a complete body).
    pub whole: bool,
    /// Longer than the longest recovered row: `bytes` holds its beginning only.
    pub overlong: bool,
    /// A line of encoded content whose decoding has not completed yet: `whole` holds only if
    /// the line ends within [`BodyEnd::whole_until`] (the decoding's checksum must cover it).
    pub provisional: bool,
    /// Where its first byte was seen.
    pub first: Seen,
    /// Where its last byte was seen.
    pub last: Seen,
}

impl Line {
    /// Content offset just past the line.
    pub fn end(&self) -> u64 {
        self.offset + self.len
    }
}

/// Record lines and their bytes: the content of every line is a range of one buffer, so
/// collecting lines allocates nothing per line and the buffers are reused from one batch to
/// the next.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lines {
    text: Vec<u8>,
    list: Vec<Line>,
}

impl Lines {
    /// Number of lines.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// No line.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The lines (their content through [`Lines::bytes`]).
    pub fn lines(&self) -> &[Line] {
        &self.list
    }

    /// The content of `l`, one of these lines.
    pub fn bytes(&self, l: &Line) -> &[u8] {
        self.text.get(l.text.clone()).unwrap_or(&[])
    }

    /// Each line with its content.
    pub fn iter(&self) -> impl Iterator<Item = (&Line, &[u8])> + '_ {
        self.list.iter().map(|l| (l, self.bytes(l)))
    }

    /// Line `i` with its content.
    pub fn get(&self, i: usize) -> Option<(&Line, &[u8])> {
        self.list.get(i).map(|l| (l, self.bytes(l)))
    }

    /// Moves the lines of `other` behind these (`other` is left empty).
    pub fn append(&mut self, other: &mut Lines) {
        if self.list.is_empty() {
            self.text.clear();
            std::mem::swap(self, other);
            return;
        }
        let base = self.text.len();
        self.text.extend_from_slice(&other.text);
        self.list.extend(other.list.drain(..).map(|mut l| {
            l.text = l.text.start + base..l.text.end + base;
            l
        }));
        other.clear();
    }

    /// Removes every line (keeps the buffers).
    pub fn clear(&mut self) {
        self.text.clear();
        self.list.clear();
    }

    /// The buffers are of an ordinary size (at most 4 MiB of text and 64 Ki lines): worth
    /// keeping for the next batch.
    pub fn small(&self) -> bool {
        self.text.capacity() <= 4 << 20 && self.list.capacity() <= 1 << 16
    }

    fn lines_mut(&mut self) -> &mut [Line] {
        &mut self.list
    }
}

/// Bytes looked at before the kind is decided.
const SNIFF: usize = 512;
/// Longest record line kept for the header comparison (longer lines are never headers).
const LINE_KEEP: usize = 4096;
/// Decoded bytes allowed per encoded byte before decoding stops (decompression bombs).
const MAX_EXPANSION: u64 = 1024;

/// What the recovered records look like, for recognising them in traffic.
#[derive(Debug, Clone)]
pub struct RecordShape {
    /// Layout of the records.
    pub format: RecordFormat,
    /// Most common number of CSV fields per record (None: not checked).
    pub fields: Option<usize>,
    /// Header lines of the recovered files (without terminator): never counted as records.
    pub headers: HashSet<Vec<u8>>,
    /// Smallest record size (bytes), for the most records missing bytes can hold.
    pub min_size: u32,
    /// Record lines are collected for matching, up to this many bytes each (0: not
    /// collected).
    pub collect_lines: usize,
    /// The recovered files that are archives, as stored. An upload whose encoded bytes are
    /// one of them from its first byte proves what it decodes to as far as the bytes agree,
    /// even when a gap later stops the upload's own checksum (DESIGN §9: a recovered archive
    /// is matched as its own bytes too).
    pub archives: Vec<std::sync::Arc<[u8]>>,
}

/// How many times `b` occurs in `s`. Counted 32 bytes at a time into one byte (at most 32),
/// which the compiler turns into a few vector compares and one horizontal sum per block; a
/// plain `filter().count()` widens every byte's flag to a 64-bit lane and runs several times
/// slower.
fn count_byte(s: &[u8], b: u8) -> usize {
    let mut blocks = s.chunks_exact(32);
    let mut n = 0;
    for block in &mut blocks {
        let mut k = 0u8;
        for &c in block {
            k += u8::from(c == b);
        }
        n += usize::from(k);
    }
    n + blocks.remainder().iter().filter(|&&c| c == b).count()
}

impl RecordShape {
    /// Sets what matching against `index` needs: record lines kept long enough to find rows
    /// inside them, and the recovered archives' own bytes.
    pub fn match_against(&mut self, index: &crate::index::RecoveredIndex) {
        self.collect_lines = index.line_keep();
        self.archives = index.archives();
    }

    /// `text` is a header line of a recovered file. A run has a header or two: comparing
    /// them is cheaper than hashing every record line.
    pub fn is_header(&self, text: &[u8]) -> bool {
        if self.headers.len() <= 8 {
            self.headers.iter().any(|h| h.as_slice() == text)
        } else {
            self.headers.contains(text)
        }
    }
}

impl Default for RecordShape {
    fn default() -> Self {
        RecordShape {
            format: RecordFormat::Lines,
            fields: None,
            headers: HashSet::new(),
            min_size: 1,
            collect_lines: 0,
            archives: Vec::new(),
        }
    }
}

/// The content kind of a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Records as stored.
    Plain,
    /// Base64 of records.
    Base64,
    /// zlib (RFC 1950) stream of records.
    Zlib,
    /// Base64 of a zlib stream.
    Base64Zlib,
    /// gzip stream.
    Gzip,
    /// Base64 of a gzip stream.
    Base64Gzip,
    /// A zip archive (entries stored or deflated).
    Zip,
    /// Base64 of a zip archive.
    Base64Zip,
    /// Bare deflate, as declared by `Content-Encoding: deflate`.
    Deflate,
    /// Brotli, as declared by `Content-Encoding: br`.
    Brotli,
    /// Base64 text that decodes to nothing recognised.
    Base64Opaque,
    /// Base64 of low-entropy text that is not the record format (JSON, records joined
    /// otherwise): volume for the estimate, its lines matched.
    Base64Text,
    /// High-entropy bytes: encrypted, or compressed with an unknown codec.
    Opaque,
    /// Low-entropy bytes that are not the record format.
    Unrecognised,
    /// Nothing of the body is in the capture.
    Unseen,
}

impl Kind {
    /// Name used in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Plain => "plain",
            Kind::Base64 => "base64",
            Kind::Zlib => "zlib",
            Kind::Base64Zlib => "base64+zlib",
            Kind::Gzip => "gzip",
            Kind::Base64Gzip => "base64+gzip",
            Kind::Zip => "zip",
            Kind::Base64Zip => "base64+zip",
            Kind::Deflate => "deflate",
            Kind::Brotli => "br",
            Kind::Base64Opaque => "base64+opaque",
            Kind::Base64Text => "base64+text",
            Kind::Opaque => "opaque",
            Kind::Unrecognised => "unrecognised",
            Kind::Unseen => "unseen",
        }
    }

    /// Base64 outside: the compressed bytes are 3/4 of the body.
    pub fn base64(self) -> bool {
        matches!(
            self,
            Kind::Base64
                | Kind::Base64Zlib
                | Kind::Base64Gzip
                | Kind::Base64Zip
                | Kind::Base64Opaque
                | Kind::Base64Text
        )
    }

    /// A deflate-family codec was recognised.
    pub fn deflate(self) -> bool {
        matches!(
            self,
            Kind::Zlib
                | Kind::Base64Zlib
                | Kind::Gzip
                | Kind::Base64Gzip
                | Kind::Zip
                | Kind::Base64Zip
        )
    }
}

/// Records found in decoded content.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counted {
    /// Records whose bytes are all present and that parse as the record format.
    pub complete: u64,
    /// Their bytes.
    pub complete_bytes: u64,
    /// Fragments of records cut by a gap (a record cut once gives two fragments).
    pub partial: u64,
    /// Bytes of those fragments present.
    pub partial_bytes: u64,
    /// Complete lines that do not parse as the record format.
    pub unparsed: u64,
    /// Their bytes.
    pub unparsed_bytes: u64,
    /// Content bytes missing (gaps inside the decoded content, or the missing tail).
    pub missing: u64,
    /// Gaps seen.
    pub gaps: u64,
    /// Decoded content bytes.
    pub decoded_bytes: u64,
}

/// Counts records in a content stream with gaps.
#[derive(Debug, Clone)]
pub struct RecordCounter<'s> {
    shape: &'s RecordShape,
    /// Next expected content offset.
    next: u64,
    /// Current record started at a known boundary and has no hole.
    intact: bool,
    /// Bytes of the current record so far.
    len: u64,
    /// Start of the current record (fixed-size records).
    rec_start: u64,
    /// Bytes of the current fixed-size record that a gap took (counted in `len`).
    hole: u64,
    commas: usize,
    quoted: bool,
    /// Where the current record's kept bytes begin in `lines`' buffer (they run to its end).
    line_at: usize,
    /// Result so far.
    pub counted: Counted,
    /// Where the bytes being fed were seen.
    pub cur: Seen,
    line_first: Seen,
    line_start: u64,
    /// Record lines collected for matching (when the shape asks for them); the current
    /// record's bytes follow them in the buffer.
    lines: Lines,
}

impl<'s> RecordCounter<'s> {
    /// A counter at content offset 0.
    pub fn new(shape: &'s RecordShape) -> Self {
        RecordCounter {
            shape,
            next: 0,
            intact: true,
            len: 0,
            rec_start: 0,
            hole: 0,
            commas: 0,
            quoted: false,
            line_at: 0,
            counted: Counted::default(),
            cur: NOWHERE,
            line_first: NOWHERE,
            line_start: 0,
            lines: Lines::default(),
        }
    }

    fn keep_limit(&self) -> usize {
        LINE_KEEP.max(self.shape.collect_lines)
    }

    /// The current record's kept bytes.
    fn line(&self) -> &[u8] {
        self.lines.text.get(self.line_at..).unwrap_or(&[])
    }

    /// Forgets the current record's kept bytes (unless [`RecordCounter::emit`] took them).
    fn clear_line(&mut self) {
        self.lines.text.truncate(self.line_at);
    }

    fn emit(&mut self, whole: bool) {
        if self.shape.collect_lines == 0 || self.len == 0 {
            return;
        }
        let limit = self.keep_limit();
        let line = self.line();
        let kept = line.len();
        let text: &[u8] = if matches!(self.shape.format, RecordFormat::Fixed(_)) {
            // A fixed-width record is its N bytes, terminator or not.
            line
        } else {
            let t = line.strip_suffix(b"\n").unwrap_or(line);
            if whole {
                t.strip_suffix(b"\r").unwrap_or(t)
            } else {
                t
            }
        };
        let start = self.line_at;
        let end = start + text.len().min(limit);
        self.lines.list.push(Line {
            offset: self.line_start,
            len: self.len,
            text: start..end,
            whole,
            overlong: kept > limit,
            provisional: false,
            first: self.line_first,
            last: self.cur,
        });
        // The kept bytes stay in the buffer for the line.
        self.line_at = self.lines.text.len();
    }

    /// Moves the lines collected so far into `into` (cleared first); the bytes of the record
    /// in progress stay.
    fn take_lines(&mut self, into: &mut Lines) {
        into.clear();
        std::mem::swap(into, &mut self.lines);
        let at = self.line_at.min(into.text.len());
        self.lines.text.extend_from_slice(&into.text[at..]);
        into.text.truncate(at);
        self.line_at = 0;
    }

    /// Content bytes at `offset` (a jump forward is a gap).
    pub fn feed(&mut self, offset: u64, bytes: &[u8]) {
        if offset > self.next {
            self.gap(offset - self.next);
        }
        // Overlap with what was already counted: skip it.
        let skip = usize::try_from(self.next.saturating_sub(offset)).unwrap_or(usize::MAX);
        let bytes = bytes.get(skip..).unwrap_or(&[]);
        self.counted.decoded_bytes += bytes.len() as u64;
        match self.shape.format {
            RecordFormat::Fixed(n) => self.feed_fixed(n as u64, bytes),
            RecordFormat::Lines | RecordFormat::Csv => self.feed_lines(bytes),
        }
        self.next += bytes.len() as u64;
    }

    fn gap(&mut self, len: u64) {
        self.counted.missing += len;
        self.counted.gaps += 1;
        if let RecordFormat::Fixed(n) = self.shape.format {
            let n = n as u64;
            if self.len > 0 {
                self.fragment();
            }
            self.next += len;
            self.rec_start = self.next / n * n;
            // The missing bytes of the record the gap ends in still count towards its size,
            // so the records after it stay aligned.
            self.len = self.next - self.rec_start;
            self.hole = self.len;
            self.intact = self.len == 0;
            return;
        }
        if self.len > 0 {
            self.fragment();
        }
        self.intact = false;
        self.quoted = false;
        self.next += len;
    }

    /// The content stops here (its decoding broke): the record in progress is a fragment.
    fn cut_here(&mut self) {
        if self.len > 0 {
            self.fragment();
        }
        self.intact = false;
    }

    fn fragment(&mut self) {
        self.emit(false);
        self.counted.partial += 1;
        self.counted.partial_bytes += self.len - self.hole;
        self.reset();
    }

    fn reset(&mut self) {
        self.len = 0;
        self.hole = 0;
        self.commas = 0;
        self.quoted = false;
        self.clear_line();
    }

    fn feed_fixed(&mut self, n: u64, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.line().is_empty() {
                self.line_first = self.cur;
                self.line_start = self.rec_start + self.len;
            }
            let take = usize::try_from(n - self.len)
                .unwrap_or(usize::MAX)
                .min(bytes.len());
            self.keep(&bytes[..take]);
            self.len += take as u64;
            bytes = &bytes[take..];
            if self.len == n {
                self.emit(self.intact);
                self.clear_line();
                if self.intact {
                    self.counted.complete += 1;
                    self.counted.complete_bytes += n;
                } else {
                    self.counted.partial += 1;
                    self.counted.partial_bytes += n - self.hole;
                }
                self.hole = 0;
                self.rec_start += n;
                self.len = 0;
                self.intact = true;
            }
        }
    }

    fn feed_lines(&mut self, bytes: &[u8]) {
        let mut start = 0;
        if self.len == 0 && !bytes.is_empty() {
            self.line_first = self.cur;
            self.line_start = self.next;
        }
        if self.shape.format == RecordFormat::Csv {
            let mut pos = 0;
            while pos < bytes.len() {
                // Outside quotes, a stretch up to the next line feed with no quote in it is
                // counted in one go (the common record: no quoted field).
                if !self.quoted {
                    let nl = memchr::memchr(b'\n', &bytes[pos..]).map(|i| pos + i);
                    let seg = &bytes[pos..nl.unwrap_or(bytes.len())];
                    if memchr::memchr(b'"', seg).is_none() {
                        self.commas += count_byte(seg, b',');
                        match nl {
                            Some(i) => {
                                start = self.line_end(bytes, start, i);
                                pos = i + 1;
                                continue;
                            }
                            None => break,
                        }
                    }
                }
                // Quotes matter: jump from one quote, comma or line feed to the next, up to
                // the line feed that ends the record.
                let mut end = bytes.len();
                for i in memchr::memchr3_iter(b'"', b',', b'\n', &bytes[pos..]) {
                    let i = pos + i;
                    match bytes[i] {
                        b'"' => self.quoted = !self.quoted,
                        b',' => self.commas += usize::from(!self.quoted),
                        _ if !self.quoted => {
                            start = self.line_end(bytes, start, i);
                            end = i + 1;
                            break;
                        }
                        _ => {}
                    }
                }
                pos = end;
            }
        } else {
            for i in memchr::memchr_iter(b'\n', bytes) {
                start = self.line_end(bytes, start, i);
            }
        }
        if start < bytes.len() {
            self.keep(&bytes[start..]);
            self.len += (bytes.len() - start) as u64;
        }
    }

    /// A line feed at `i` ends the record that began at `start` (or before `bytes`); returns
    /// where the next one begins.
    fn line_end(&mut self, bytes: &[u8], start: usize, i: usize) -> usize {
        self.keep(&bytes[start..=i]);
        self.len += (i + 1 - start) as u64;
        self.end_record();
        let next = i + 1;
        if next < bytes.len() {
            self.line_first = self.cur;
            self.line_start = self.next + next as u64;
        }
        next
    }

    fn keep(&mut self, b: &[u8]) {
        let limit = self.keep_limit();
        let have = self.lines.text.len() - self.line_at;
        if have <= limit {
            let room = limit + 1 - have;
            self.lines.text.extend_from_slice(&b[..b.len().min(room)]);
        }
    }

    fn end_record(&mut self) {
        let start = self.line_at;
        self.emit(self.intact);
        if !self.intact {
            self.counted.partial += 1;
            self.counted.partial_bytes += self.len;
        } else {
            // Emitting leaves the bytes where they were.
            let line = self.lines.text.get(start..).unwrap_or(&[]);
            let text = line.strip_suffix(b"\n").unwrap_or(line);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            if self.shape.is_header(text) {
                // a header line sent along: not a record
            } else if self.parses(text) {
                self.counted.complete += 1;
                self.counted.complete_bytes += self.len;
            } else {
                self.counted.unparsed += 1;
                self.counted.unparsed_bytes += self.len;
            }
        }
        self.reset();
        self.intact = true;
    }

    fn parses(&self, text: &[u8]) -> bool {
        if text.is_empty() || memchr::memchr(0, text).is_some() {
            return false;
        }
        match self.shape.fields {
            Some(n) if self.shape.format == RecordFormat::Csv => self.commas + 1 == n,
            _ => true,
        }
    }

    /// The content ended: the counts and the record lines not yet taken.
    pub fn finish_lines(self, missing_tail: u64) -> (Counted, Lines) {
        let mut me = self;
        let counted = me.finish_mut(missing_tail);
        me.clear_line();
        (counted, me.lines)
    }

    /// The content ended; `missing_tail` bytes of it are known to be absent at the end.
    pub fn finish(mut self, missing_tail: u64) -> Counted {
        self.finish_mut(missing_tail)
    }

    fn finish_mut(&mut self, missing_tail: u64) -> Counted {
        if missing_tail > 0 {
            self.gap(missing_tail);
        }
        if self.len > 0 {
            match self.shape.format {
                // A short last record of complete content: counted as a fragment, but its
                // bytes are all there and contiguous, so it is kept whole for matching
                // (content not aligned on the record size ends this way).
                RecordFormat::Fixed(_) if self.intact && missing_tail == 0 => {
                    self.emit(true);
                    self.counted.partial += 1;
                    self.counted.partial_bytes += self.len;
                    self.reset();
                }
                RecordFormat::Fixed(_) => self.fragment(),
                _ if self.intact && missing_tail == 0 => self.end_record(),
                _ => self.fragment(),
            }
        }
        self.counted
    }
}

/// A streaming base64 decoder (standard and URL-safe alphabets, whitespace ignored).
#[derive(Debug, Default, Clone)]
struct Base64 {
    acc: u32,
    bits: u8,
    done: bool,
    bad: bool,
}

fn b64_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    }
}

impl Base64 {
    fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &c in input {
            if self.bad {
                return;
            }
            match c {
                b'\r' | b'\n' | b' ' | b'\t' => {}
                b'=' => self.done = true,
                _ if self.done => self.bad = true,
                _ => match b64_value(c) {
                    Some(v) => {
                        self.acc = (self.acc << 6) | u32::from(v);
                        self.bits += 6;
                        if self.bits >= 8 {
                            self.bits -= 8;
                            out.push((self.acc >> self.bits) as u8);
                            self.acc &= (1 << self.bits) - 1;
                        }
                    }
                    None => self.bad = true,
                },
            }
        }
    }
}

/// Fraction of base64 characters (whitespace and padding included) in `s`.
fn base64_like(s: &[u8]) -> bool {
    s.len() >= 16
        && s.iter()
            .all(|&c| b64_value(c).is_some() || matches!(c, b'=' | b'\r' | b'\n'))
}

pub(crate) fn zlib_header(s: &[u8]) -> bool {
    s.len() >= 2
        && s[0] & 0x0f == 8
        && s[0] >> 4 <= 7
        && (u16::from(s[0]) << 8 | u16::from(s[1])) % 31 == 0
}

pub(crate) fn gzip_header(s: &[u8]) -> bool {
    s.starts_with(&[0x1f, 0x8b, 8])
}

/// Shannon entropy of `s` in bits per byte.
pub fn entropy(s: &[u8]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let mut hist = [0u32; 256];
    for &b in s {
        hist[b as usize] += 1;
    }
    let n = s.len() as f64;
    hist.iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// Entropy above which a sample is taken as encrypted or compressed. A sample of n random
/// bytes measures about log2(n) − (255 / (2 n ln 2)) bits: 7.6 for 512 bytes, so 7.0 leaves
/// room for short samples while English or CSV text stays under 5.5; under 64 bytes no
/// sample is called high-entropy.
fn high_entropy(s: &[u8]) -> bool {
    let limit = if s.len() >= 256 {
        7.0
    } else if s.len() >= 64 {
        (s.len() as f64).log2() * 0.85
    } else {
        // Too short to tell.
        return false;
    };
    entropy(s) >= limit
}

pub(crate) fn text_like(s: &[u8]) -> bool {
    if s.is_empty() || s.contains(&0) {
        return false;
    }
    let printable = s
        .iter()
        .filter(|&&b| b >= 0x20 || matches!(b, b'\n' | b'\r' | b'\t'))
        .count();
    printable * 100 >= s.len() * 98 && !high_entropy(s)
}

/// Writes decoded bytes into the record counter.
struct CounterSink<'s> {
    counter: RecordCounter<'s>,
    offset: u64,
    limit: u64,
}

impl Write for CounterSink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.offset + buf.len() as u64 > self.limit {
            return Err(std::io::Error::other("decoded size limit"));
        }
        self.counter.feed(self.offset, buf);
        self.offset += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

enum State<'s> {
    Sniff(Vec<u8>),
    Records(RecordCounter<'s>),
    /// Text that is not the record format (JSON, prose, records joined otherwise): volume
    /// for the estimate, its lines still matched against the recovered rows.
    Text(RecordCounter<'s>),
    Base64Records(Base64, RecordCounter<'s>, u64),
    Inflate(Option<Base64>, Box<Inflate<CounterSink<'s>>>),
    Brotli(Box<brotli_decompressor::DecompressorWriter<CounterSink<'s>>>),
    /// Volume only.
    Volume,
    /// Decoding failed (a gap in encoded content, corrupt data, size limit).
    Broken,
}

/// The scan of one body.
pub struct BodyScan<'s> {
    shape: &'s RecordShape,
    state: State<'s>,
    kind: Kind,
    /// Next body offset expected.
    next: u64,
    seen: u64,
    missing: u64,
    sniff_gap: u64,
    buf: Vec<u8>,
    /// Where the bytes being fed were seen.
    cur: Seen,
    /// Pieces of the sniff buffer: body offset, length, where seen.
    pieces: Vec<(u64, usize, Seen)>,
    /// Lines of content whose decoding broke, not yet drained (their `whole` is final).
    held: Lines,
    /// Decoded content up to this offset keeps its lines whole (lowered when decoding
    /// breaks: to what a checksum covered).
    whole_until: u64,
    /// Encoding the request declared (`Content-Encoding`) that has no magic of its own.
    declared: Declared,
    /// Encoded bytes compared with the recovered archives.
    agree: Agree,
    /// The stream goes on from earlier bodies ([`BodyScan::suspend`]): what they reported
    /// (cumulative; this body's result is the difference), and offsets are past their bytes.
    reported: Option<BodyResult>,
    /// Decoded bytes of earlier bodies of the stream: proven as a sent prefix is.
    prefix_proven: u64,
}

/// How far the encoded bytes of an upload are byte for byte a recovered archive.
#[derive(Debug, Clone, Default)]
struct Agree {
    /// Archives (index into [`RecordShape::archives`]) every encoded byte so far equals.
    with: Vec<usize>,
    /// Encoded bytes compared.
    input: u64,
    /// Decoded bytes produced from agreeing bytes only.
    proven: u64,
}

/// A `Content-Encoding` the body's bytes cannot reveal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Declared {
    None,
    Deflate,
    Brotli,
}

impl BodyResult {
    /// What this body adds to `before`, the cumulative result of the earlier bodies of the
    /// same stream.
    fn since(&self, before: &BodyResult) -> BodyResult {
        let counted = match (self.counted, before.counted) {
            (Some(c), Some(b)) => Some(Counted {
                complete: c.complete.saturating_sub(b.complete),
                complete_bytes: c.complete_bytes.saturating_sub(b.complete_bytes),
                partial: c.partial.saturating_sub(b.partial),
                partial_bytes: c.partial_bytes.saturating_sub(b.partial_bytes),
                unparsed: c.unparsed.saturating_sub(b.unparsed),
                unparsed_bytes: c.unparsed_bytes.saturating_sub(b.unparsed_bytes),
                missing: c.missing.saturating_sub(b.missing),
                gaps: c.gaps.saturating_sub(b.gaps),
                decoded_bytes: c.decoded_bytes.saturating_sub(b.decoded_bytes),
            }),
            (c, _) => c,
        };
        BodyResult {
            kind: self.kind,
            length: self.length.saturating_sub(before.length),
            seen: self.seen.saturating_sub(before.seen),
            missing: self.missing.saturating_sub(before.missing),
            counted,
            broken: self.broken,
        }
    }
}

/// What a body turned out to hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyResult {
    /// Content kind.
    pub kind: Kind,
    /// Body length (bytes present plus bytes known missing).
    pub length: u64,
    /// Bytes present in the capture.
    pub seen: u64,
    /// Bytes known to be missing (gaps inside, missing tail).
    pub missing: u64,
    /// Records counted in the decoded content; None when it could not be decoded (then
    /// the body is left to the volume estimate).
    pub counted: Option<Counted>,
    /// Decoding stopped (gap in encoded content, corrupt stream, size limit).
    pub broken: bool,
}

/// The record counter behind a decoding (base64, deflate family, brotli).
fn decoding_counter<'a, 's>(state: &'a mut State<'s>) -> Option<&'a mut RecordCounter<'s>> {
    match state {
        State::Base64Records(_, c, _) => Some(c),
        State::Inflate(_, inf) => Some(&mut inf.get_mut().counter),
        State::Brotli(w) => Some(&mut w.get_mut().counter),
        _ => None,
    }
}

/// The end of a body's scan.
#[derive(Debug, Clone)]
pub struct BodyEnd {
    /// What the body held.
    pub result: BodyResult,
    /// Lines not drained before (final).
    pub lines: Lines,
    /// Provisional lines drained before stay whole when they end within this many decoded
    /// bytes (u64::MAX: all of them), else they were cut.
    pub whole_until: u64,
}

impl<'s> BodyScan<'s> {
    /// A new body.
    pub fn new(shape: &'s RecordShape) -> Self {
        BodyScan {
            shape,
            state: State::Sniff(Vec::new()),
            kind: Kind::Unseen,
            next: 0,
            seen: 0,
            missing: 0,
            sniff_gap: 0,
            buf: Vec::new(),
            cur: NOWHERE,
            pieces: Vec::new(),
            held: Lines::default(),
            whole_until: u64::MAX,
            declared: Declared::None,
            agree: Agree::default(),
            reported: None,
            prefix_proven: 0,
        }
    }

    /// The request's `Content-Encoding`: `deflate` (bare deflate is told from zlib by its
    /// header) and `br` are decoded as declared; gzip and zlib are recognised by their
    /// magic anyway; anything else changes nothing.
    pub fn with_content_encoding(mut self, encoding: Option<&str>) -> Self {
        let e = encoding.map(|e| e.trim().to_ascii_lowercase());
        self.declared = match e.as_deref() {
            Some("deflate") => Declared::Deflate,
            Some("br") => Declared::Brotli,
            _ => Declared::None,
        };
        self
    }

    /// Body bytes at `offset`, seen at `seen` (capture time and frame).
    pub fn feed_at(&mut self, offset: u64, bytes: &[u8], seen: Seen) {
        self.cur = seen;
        self.feed(offset, bytes);
    }

    /// Record lines so far (when the shape collects them). Lines of encoded content whose
    /// decoding has not completed come out `provisional`: whether they are whole is known at
    /// the end ([`BodyEnd::whole_until`]), so a matcher keeps what they would confirm, not the
    /// lines themselves (memory stays proportional to the hits, not to the content).
    pub fn drain_lines(&mut self, out: &mut Lines) {
        out.clear();
        if !self.held.is_empty() {
            out.append(&mut self.held);
        }
        let verified = self.sure();
        let (c, decoding) = match &mut self.state {
            State::Records(c) | State::Text(c) => (c, false),
            state => match decoding_counter(state) {
                Some(c) => (c, true),
                None => return,
            },
        };
        if out.is_empty() {
            c.take_lines(out);
        } else {
            let mut more = Lines::default();
            c.take_lines(&mut more);
            out.append(&mut more);
        }
        if decoding {
            for l in out.lines_mut() {
                // Lines a checksum already covered are final.
                l.provisional = l.end() > verified;
            }
        }
    }

    /// Every line drained so far that is still provisional will turn out the same way: whole
    /// if the decoding in progress completes (its gzip member, zip entry or stream ends with
    /// its checksum), cut if it breaks first. So it is while no recovered archive agrees
    /// with the upload's bytes: then [`BodyScan::sure`] moves only at checksums, and every
    /// provisional line lies past the last one. (Bytes equal to an archive move it byte by
    /// byte; those uploads are as long as the recovered archive at most.)
    pub fn provisional_share_fate(&self) -> bool {
        self.agree.with.is_empty()
    }

    /// Offset of this body's first byte in the stream it continues (0: its own stream).
    fn base(&self) -> u64 {
        self.reported.as_ref().map_or(0, |r| r.length)
    }

    /// The body ended, every byte present and decoded without error, inside a deflate-family
    /// stream (gzip, zlib, raw deflate, zip; base64-wrapped or not): a sender that posts an
    /// archive in pieces goes on with it in its next request. Returns this body's result as
    /// a sent prefix would have it (records decoded in full are complete, the record in
    /// progress is a fragment) and keeps the decoder, so that the next body can continue the
    /// stream ([`BodyScan::continues_with`]); what was decoded so far is proven as a sent
    /// prefix is. None (nothing changed) when the body is not such a prefix.
    pub fn suspend(&mut self, length: Option<u64>) -> Option<BodyResult> {
        let complete = length.is_none_or(|l| l.saturating_add(self.base()) == self.next);
        if !complete || self.missing > 0 {
            return None;
        }
        // A body shorter than the sniff buffer is decided now, as at its end.
        self.decide_at_end();
        let State::Inflate(_, inf) = &mut self.state else {
            return None;
        };
        if !inf.mid_stream() {
            return None;
        }
        self.prefix_proven = inf.written;
        let c = &inf.get_mut().counter;
        let now = BodyResult {
            kind: self.kind,
            length: self.next,
            seen: self.seen,
            missing: 0,
            counted: Some(c.counted),
            broken: false,
        };
        let mut body = match &self.reported {
            Some(r) => now.since(r),
            None => now.clone(),
        };
        if let Some(b) = body.counted.as_mut().filter(|_| c.len > 0) {
            // The record in progress is a fragment of this body; the body that completes it
            // counts it complete.
            b.partial += 1;
            b.partial_bytes += c.len - c.hole;
        }
        self.reported = Some(now);
        Some(body)
    }

    /// The next body continues the stream: a base64 wrapping that ended with its padding
    /// starts afresh (each piece encoded on its own); one cut inside its text goes on.
    pub fn resume(&mut self) {
        if let State::Inflate(Some(b), _) = &mut self.state {
            if b.done {
                *b = Base64::default();
            }
        }
    }

    /// The first bytes of the next body on the connection can continue the stream this
    /// suspended scan holds: they are not a stream or text of their own (no gzip, zlib or zip
    /// magic, not text), or, for a base64-wrapped stream, they are base64.
    pub fn continues_with(&self, first: &[u8]) -> bool {
        let State::Inflate(b64, _) = &self.state else {
            return false;
        };
        if first.len() < 16 {
            return false;
        }
        let own_stream =
            |b: &[u8]| gzip_header(b) || zlib_header(b) || b.starts_with(b"PK\x03\x04");
        if b64.is_some() {
            // Base64 text, and not the base64 of a stream of its own or of text (the rest of
            // a compressed stream is no text).
            let mut head = Vec::new();
            Base64::default().decode(&first[..first.len().min(64)], &mut head);
            return base64_like(first) && !own_stream(&head) && !text_like(&head);
        }
        !text_like(first) && !own_stream(first)
    }

    /// Decoded bytes that stay whole whatever follows: covered by a verified checksum (earlier
    /// gzip members, zip entries) or decoded from bytes equal to a recovered archive.
    pub fn sure(&self) -> u64 {
        match &self.state {
            State::Inflate(_, inf) => inf.verified.max(self.agree.proven).max(self.prefix_proven),
            _ => 0,
        }
    }

    /// Body bytes at `offset` (de-chunked body offsets; a jump forward is a gap).
    pub fn feed(&mut self, offset: u64, bytes: &[u8]) {
        let offset = offset.saturating_add(self.base());
        if offset > self.next {
            let gap = offset - self.next;
            self.missing += gap;
            self.on_gap(offset, gap);
        }
        let skip = usize::try_from(self.next.saturating_sub(offset)).unwrap_or(usize::MAX);
        let Some(bytes) = bytes.get(skip..).filter(|b| !b.is_empty()) else {
            return;
        };
        let at = self.next;
        self.next += bytes.len() as u64;
        self.seen += bytes.len() as u64;
        self.push(at, bytes);
    }

    fn on_gap(&mut self, offset: u64, gap: u64) {
        if let State::Sniff(s) = &mut self.state {
            let sample = std::mem::take(s);
            if sample.is_empty() {
                self.sniff_gap += gap;
                self.next = offset;
                return;
            }
            // Decide on what was seen, then pass the gap on.
            self.decide(&sample);
        }
        self.next = offset;
        match &mut self.state {
            State::Records(c) | State::Text(c) => c.feed(offset, &[]),
            State::Base64Records(..) | State::Inflate(..) => self.break_decoding(),
            _ => {}
        }
    }

    fn push(&mut self, at: u64, bytes: &[u8]) {
        if let State::Sniff(s) = &mut self.state {
            s.extend_from_slice(bytes);
            self.pieces.push((at, bytes.len(), self.cur));
            if s.len() < SNIFF {
                return;
            }
            let sample = std::mem::take(s);
            self.decide(&sample);
            return;
        }
        self.process(at, bytes);
    }

    /// Decides the kind from `sample` (the first bytes present), then processes it.
    fn decide(&mut self, sample: &[u8]) {
        let head = &sample[..sample.len().min(SNIFF)];
        let start = self.sniff_gap == 0;
        let records = self.looks_like_records(head);
        let b64 = base64_like(head);
        let mut dec = Vec::new();
        if b64 {
            Base64::default().decode(head, &mut dec);
        }
        let (kind, state) = if start && self.declared == Declared::Brotli {
            (
                Kind::Brotli,
                State::Brotli(Box::new(brotli_decompressor::DecompressorWriter::new(
                    self.sink(),
                    4096,
                ))),
            )
        } else if start && self.declared == Declared::Deflate && !zlib_header(head) {
            (Kind::Deflate, self.inflater(None, Framing::Raw))
        } else if start && head.starts_with(b"PK\x03\x04") {
            (Kind::Zip, self.inflater(None, Framing::Zip))
        } else if start && gzip_header(head) {
            (Kind::Gzip, self.inflater(None, Framing::Gzip))
        } else if start && zlib_header(head) && !text_like(head) {
            (Kind::Zlib, self.inflater(None, Framing::Zlib))
        } else if b64 && start && dec.starts_with(b"PK\x03\x04") {
            (
                Kind::Base64Zip,
                self.inflater(Some(Base64::default()), Framing::Zip),
            )
        } else if b64 && start && gzip_header(&dec) {
            (
                Kind::Base64Gzip,
                self.inflater(Some(Base64::default()), Framing::Gzip),
            )
        } else if b64 && start && zlib_header(&dec) {
            (
                Kind::Base64Zlib,
                self.inflater(Some(Base64::default()), Framing::Zlib),
            )
        } else if b64 && !records && high_entropy(&dec) {
            (Kind::Base64Opaque, State::Volume)
        } else if text_like(head) && (records || !start) && !(b64 && high_entropy(&dec)) {
            (Kind::Plain, State::Records(RecordCounter::new(self.shape)))
        } else if b64 && start && self.looks_like_records(&dec) {
            (
                Kind::Base64,
                State::Base64Records(Base64::default(), RecordCounter::new(self.shape), 0),
            )
        } else if b64 && start && text_like(&dec) && self.shape.collect_lines > 0 {
            // Base64 of other text (JSON, records joined otherwise): volume for the
            // estimate, its lines matched.
            (
                Kind::Base64Text,
                State::Base64Records(Base64::default(), RecordCounter::new(self.shape), 0),
            )
        } else if b64 && start && text_like(&dec) {
            (Kind::Base64Text, State::Volume)
        } else if b64 {
            (Kind::Base64Opaque, State::Volume)
        } else if text_like(head) && self.shape.collect_lines > 0 {
            (
                Kind::Unrecognised,
                State::Text(RecordCounter::new(self.shape)),
            )
        } else if text_like(head) {
            (Kind::Unrecognised, State::Volume)
        } else if high_entropy(head) {
            (Kind::Opaque, State::Volume)
        } else {
            (Kind::Unrecognised, State::Volume)
        };
        self.kind = kind;
        self.state = state;
        let cur = self.cur;
        let mut done = 0usize;
        for (at, len, seen) in std::mem::take(&mut self.pieces) {
            let Some(piece) = sample.get(done..done + len) else {
                break;
            };
            self.cur = seen;
            self.process(at, piece);
            done += len;
        }
        self.cur = cur;
    }

    fn sink(&self) -> CounterSink<'s> {
        CounterSink {
            counter: RecordCounter::new(self.shape),
            offset: 0,
            limit: 1 << 20,
        }
    }

    fn inflater(&mut self, b64: Option<Base64>, framing: Framing) -> State<'s> {
        self.agree = Agree {
            with: (0..self.shape.archives.len()).collect(),
            ..Agree::default()
        };
        State::Inflate(b64, Box::new(Inflate::new(framing, self.sink())))
    }

    /// Whether the text looks like the record format: its first complete record parses.
    fn looks_like_records(&self, s: &[u8]) -> bool {
        if !text_like(s) {
            return false;
        }
        match self.shape.format {
            RecordFormat::Fixed(_) => true,
            RecordFormat::Lines => s.contains(&b'\n') || s.len() < SNIFF,
            RecordFormat::Csv => {
                let line = match s.iter().position(|&b| b == b'\n') {
                    Some(i) => &s[..i],
                    None if s.len() < SNIFF => s,
                    None => return false,
                };
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let n = crate::records::fields(line).len();
                match self.shape.fields {
                    Some(f) => n == f || self.shape.headers.contains(line),
                    None => n > 1,
                }
            }
        }
    }

    fn process(&mut self, at: u64, bytes: &[u8]) {
        let limit_base = self.next;
        let cur = self.cur;
        let mut broke = false;
        match &mut self.state {
            State::Records(c) | State::Text(c) => {
                c.cur = cur;
                c.feed(at, bytes)
            }
            State::Base64Records(b, c, off) => {
                c.cur = cur;
                self.buf.clear();
                b.decode(bytes, &mut self.buf);
                if b.bad {
                    broke = true;
                } else {
                    c.feed(*off, &self.buf);
                }
                *off += self.buf.len() as u64;
            }
            State::Inflate(b64, inf) => {
                let data: &[u8] = match b64 {
                    Some(b) => {
                        self.buf.clear();
                        b.decode(bytes, &mut self.buf);
                        if b.bad {
                            broke = true;
                        }
                        &self.buf
                    }
                    None => bytes,
                };
                let limit = limit_base.saturating_mul(MAX_EXPANSION).max(1 << 20);
                inf.get_mut().limit = limit;
                inf.get_mut().counter.cur = cur;
                let agree = &mut self.agree;
                if !agree.with.is_empty() {
                    let from = usize::try_from(agree.input).unwrap_or(usize::MAX);
                    let archives = &self.shape.archives;
                    agree.with.retain(|&a| {
                        archives
                            .get(a)
                            .and_then(|b| b.get(from..from.checked_add(data.len())?))
                            == Some(data)
                    });
                    agree.input += data.len() as u64;
                }
                if !broke && inf.write_all(data).is_err() {
                    broke = true;
                }
                if !broke && !agree.with.is_empty() {
                    agree.proven = inf.written;
                }
            }
            State::Brotli(w) => {
                let limit = limit_base.saturating_mul(MAX_EXPANSION).max(1 << 20);
                w.get_mut().limit = limit;
                w.get_mut().counter.cur = cur;
                if w.write_all(bytes).is_err() {
                    broke = true;
                }
            }
            State::Sniff(_) | State::Volume | State::Broken => {}
        }
        if broke {
            self.break_decoding();
        }
    }

    /// The body ends while its kind is still being sniffed: decided on what was seen (nothing
    /// seen: volume).
    fn decide_at_end(&mut self) {
        if let State::Sniff(s) = &mut self.state {
            let sample = std::mem::take(s);
            if sample.is_empty() {
                self.state = State::Volume;
            } else {
                self.decide(&sample);
            }
        }
    }

    /// The body ended; `length` is its declared length when known (Content-Length).
    pub fn finish(self, length: Option<u64>) -> BodyResult {
        self.finish_with_lines(length).0
    }

    /// Takes the lines out of the decoding state and stops decoding: what was decoded before
    /// a gap or corrupt data cannot be checked end to end (the stream's checksum), so its
    /// lines count as cut, never whole.
    fn break_decoding(&mut self) {
        // Decoded bytes a checksum already covered (earlier gzip members, zip entries).
        let verified = self.sure();
        let mut lines = Lines::default();
        if let Some(c) = decoding_counter(&mut self.state) {
            // The record being decoded is cut here: a fragment (its key may be in it).
            c.cut_here();
            c.take_lines(&mut lines);
        }
        self.cut_after(verified, &mut lines);
        self.held.append(&mut lines);
        self.state = State::Broken;
    }

    /// Decoding stopped at `verified` decoded bytes: lines ending after it are cut, and so
    /// are the provisional lines drained before.
    fn cut_after(&mut self, verified: u64, lines: &mut Lines) {
        self.whole_until = self.whole_until.min(verified);
        for l in lines.lines_mut() {
            l.provisional = false;
            if l.end() > verified {
                l.whole = false;
            }
        }
    }

    /// The body ended: the result and the record lines not yet drained (lines of encoded
    /// content are held until its decoding completed).
    pub fn finish_with_lines(self, length: Option<u64>) -> (BodyResult, Lines) {
        let end = self.finish_end(length);
        (end.result, end.lines)
    }

    /// The body ended: the result, the lines not yet drained (final), and how far the
    /// provisional lines drained before stay whole.
    pub fn finish_end(mut self, length: Option<u64>) -> BodyEnd {
        let tail = length.map_or(0, |l| {
            l.saturating_add(self.base()).saturating_sub(self.next)
        });
        self.decide_at_end();
        self.missing += tail;
        let total = self.next + tail;
        if tail > 0
            && matches!(
                self.state,
                State::Base64Records(..) | State::Inflate(..) | State::Brotli(..)
            )
        {
            self.break_decoding();
        }
        let mut lines = std::mem::take(&mut self.held);
        let (counted, broken) = match std::mem::replace(&mut self.state, State::Volume) {
            State::Records(c) => {
                let (c, mut l) = c.finish_lines(tail);
                lines.append(&mut l);
                (Some(c), false)
            }
            State::Text(c) => {
                lines.append(&mut c.finish_lines(tail).1);
                (None, false)
            }
            State::Base64Records(_, c, _) => {
                let (c, mut l) = c.finish_lines(0);
                lines.append(&mut l);
                // Text that is not the record format is matched, not counted.
                ((self.kind != Kind::Base64Text).then_some(c), false)
            }
            State::Inflate(_, mut inf) => {
                let mut early = Lines::default();
                inf.get_mut().counter.take_lines(&mut early);
                // Members/entries a checksum covered, and what bytes equal to a recovered
                // archive decoded to, stay whole whatever follows.
                let verified = inf.verified.max(self.agree.proven).max(self.prefix_proven);
                match inf.finish() {
                    Ok((sink, End::Complete)) => {
                        let (c, mut l) = sink.counter.finish_lines(0);
                        lines.append(&mut early);
                        lines.append(&mut l);
                        (Some(c), false)
                    }
                    // The whole body is in the capture and decoded without error, but the
                    // sender stopped inside the stream (a prefix of an archive): the records
                    // decoded are those its bytes hold; the one it cut is a fragment.
                    Ok((sink, End::Prefix)) if self.missing == 0 => {
                        let (c, mut l) = sink.counter.finish_lines(1);
                        lines.append(&mut early);
                        lines.append(&mut l);
                        (Some(c), false)
                    }
                    // Bytes missing, or the stream is corrupt: the records decoded cannot be
                    // checked end to end.
                    broken => {
                        if let Ok((sink, _)) = broken {
                            early.append(&mut sink.counter.finish_lines(1).1);
                        }
                        self.cut_after(verified, &mut early);
                        lines.append(&mut early);
                        (None, true)
                    }
                }
            }
            State::Brotli(mut w) => {
                let mut early = Lines::default();
                w.get_mut().counter.take_lines(&mut early);
                // Flushes what is buffered; Ok only when the stream's last block ended.
                let ended = w.close().is_ok();
                match w.into_inner() {
                    Ok(sink) if ended => {
                        let (c, mut l) = sink.counter.finish_lines(0);
                        lines.append(&mut early);
                        lines.append(&mut l);
                        (Some(c), false)
                    }
                    Ok(sink) | Err(sink) if self.missing == 0 => {
                        // A sent prefix (see the deflate family).
                        let (c, mut l) = sink.counter.finish_lines(1);
                        lines.append(&mut early);
                        lines.append(&mut l);
                        (Some(c), false)
                    }
                    _ => {
                        self.cut_after(0, &mut early);
                        lines.append(&mut early);
                        (None, true)
                    }
                }
            }
            State::Broken => (None, true),
            State::Sniff(_) | State::Volume => (None, false),
        };
        for l in lines.lines_mut() {
            l.provisional = false;
        }
        // A body taken as the rest of the previous body's stream whose bytes then failed to
        // decode, with none missing, was not that stream's rest: it is opaque (its volume is
        // estimated with every ratio, not with the deflate family's).
        let not_continued = self
            .reported
            .as_ref()
            .is_some_and(|r| broken && self.missing == r.missing);
        let result = BodyResult {
            kind: if self.seen == 0 {
                Kind::Unseen
            } else if not_continued {
                if self.kind.base64() {
                    Kind::Base64Opaque
                } else {
                    Kind::Opaque
                }
            } else {
                self.kind
            },
            length: total,
            seen: self.seen,
            missing: self.missing,
            counted,
            broken,
        };
        BodyEnd {
            result: match &self.reported {
                Some(r) => result.since(r),
                None => result,
            },
            lines,
            whole_until: self.whole_until,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv_shape() -> RecordShape {
        RecordShape {
            format: RecordFormat::Csv,
            fields: Some(3),
            headers: [b"id,name,city".to_vec()].into_iter().collect(),
            min_size: 10,
            archives: Vec::new(),
            collect_lines: 0,
        }
    }

    fn rows(n: usize) -> Vec<u8> {
        (0..n)
            .flat_map(|i| format!("{:09},Name {i},City {}\n", 100_000 + i, i % 7).into_bytes())
            .collect()
    }

    /// `b` as one zlib stream at compression `level`.
    fn zlib(b: &[u8], level: u32) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(level));
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    /// `b` as one gzip member at compression `level`.
    fn gzip(b: &[u8], level: u32) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn fixed_width_records_become_lines_for_matching_and_gaps_cut_them() {
        let shape = RecordShape {
            format: RecordFormat::Fixed(12),
            fields: None,
            headers: HashSet::new(),
            min_size: 12,
            archives: Vec::new(),
            collect_lines: 14,
        };
        let data = b"000000001ab\n000000002cd\n000000003ef\n000000004gh\n";
        let mut c = RecordCounter::new(&shape);
        c.feed(0, &data[..17]);
        c.feed(17, &data[17..30]);
        // Bytes 30..40 are missing: record 3 is cut, record 4 starts after the gap at 36.
        c.feed(40, &data[40..]);
        let (counted, lines) = c.finish_lines(0);
        assert_eq!((counted.complete, counted.partial), (2, 2));
        assert_eq!((counted.partial_bytes, counted.missing), (6 + 8, 10));
        let whole: Vec<(&[u8], u64)> = lines
            .iter()
            .filter(|(l, _)| l.whole)
            .map(|(l, b)| (b, l.offset))
            .collect();
        assert_eq!(
            whole,
            [(&b"000000001ab\n"[..], 0), (&b"000000002cd\n"[..], 12)]
        );
        assert_eq!(lines.iter().filter(|(l, _)| !l.whole).count(), 2);
        assert_eq!(lines.get(2).map(|l| l.1), Some(&b"000000"[..]));
        assert_eq!(lines.get(3).map(|l| l.1), Some(&b"00004gh\n"[..]));
        assert_eq!(lines.lines()[3].offset, 40);
    }

    fn scan(shape: &RecordShape, parts: &[(u64, &[u8])], len: Option<u64>) -> BodyResult {
        let mut s = BodyScan::new(shape);
        for (o, b) in parts {
            s.feed(*o, b);
        }
        s.finish(len)
    }

    #[test]
    fn byte_counts_in_blocks_equal_a_plain_count() {
        let mut next = crate::testkit::xorshift(0x9E37_79B9_7F4A_7C15);
        let data: Vec<u8> = (0..300)
            .map(|_| [b',', b'a', b'\n', b','][(next() % 4) as usize])
            .collect();
        for start in 0..40 {
            for end in start..data.len() {
                let s = &data[start..end];
                assert_eq!(
                    count_byte(s, b','),
                    s.iter().filter(|&&c| c == b',').count()
                );
            }
        }
        assert_eq!(count_byte(&[b','; 64], b','), 64);
    }

    #[test]
    fn plain_records_are_counted_exactly() {
        let shape = csv_shape();
        let body = rows(50);
        let r = scan(&shape, &[(0, &body)], Some(body.len() as u64));
        assert_eq!(r.kind, Kind::Plain);
        let c = r.counted.unwrap();
        assert_eq!((c.complete, c.partial, c.unparsed), (50, 0, 0));
        assert_eq!(c.complete_bytes, body.len() as u64);
    }

    #[test]
    fn quoted_fields_count_the_same_at_every_split() {
        let shape = RecordShape {
            collect_lines: 100,
            ..csv_shape()
        };
        // Quoted commas and line feeds, an escaped quote, plain rows between, a 4-field row.
        let body = b"1,\"a,b\",c\n2,\"x\ny\",z\n3,p,q\n4,\"say \"\"hi\"\"\",r\n5,s,t,u\n6,v,w\n";
        let whole = {
            let mut c = RecordCounter::new(&shape);
            c.feed(0, body);
            c.finish_lines(0)
        };
        assert_eq!((whole.0.complete, whole.0.unparsed), (5, 1));
        assert_eq!(whole.1.get(1).map(|l| l.1), Some(&b"2,\"x\ny\",z"[..]));
        for k in 1..body.len() {
            let mut c = RecordCounter::new(&shape);
            for (i, piece) in body.chunks(k).enumerate() {
                c.feed((i * k) as u64, piece);
            }
            assert_eq!(c.finish_lines(0), whole, "pieces of {k}");
        }
    }

    #[test]
    fn header_line_is_not_a_record_and_pieces_join() {
        let shape = csv_shape();
        let mut body = b"id,name,city\n".to_vec();
        body.extend(rows(10));
        let parts: Vec<(u64, &[u8])> = body
            .chunks(7)
            .enumerate()
            .map(|(i, c)| ((i * 7) as u64, c))
            .collect();
        let r = scan(&shape, &parts, None);
        assert_eq!(r.counted.unwrap().complete, 10);
    }

    #[test]
    fn a_gap_cuts_records_into_partials_never_complete() {
        let shape = csv_shape();
        let body = rows(20);
        let line = body.iter().position(|&b| b == b'\n').unwrap() as u64 + 1;
        // bytes [5*line+3, 7*line+3) missing: records 5 and 7 are cut, record 6 is lost.
        let a = (5 * line + 3) as usize;
        let b = (7 * line + 3) as usize;
        let r = scan(&shape, &[(0, &body[..a]), (b as u64, &body[b..])], None);
        let c = r.counted.unwrap();
        assert_eq!(c.complete, 17);
        assert_eq!(c.partial, 2);
        assert_eq!(c.missing, (b - a) as u64);
        assert_eq!(r.missing, (b - a) as u64);
        assert_eq!(r.length, body.len() as u64);
    }

    #[test]
    fn missing_tail_of_a_known_length_body() {
        let shape = csv_shape();
        let body = rows(10);
        let cut = body.len() - 5;
        let r = scan(&shape, &[(0, &body[..cut])], Some(body.len() as u64));
        let c = r.counted.unwrap();
        assert_eq!((c.complete, c.partial), (9, 1));
        assert_eq!(r.missing, 5);
    }

    #[test]
    fn base64_of_zlib_is_decoded_and_counted() {
        let shape = csv_shape();
        let raw = rows(300);
        let z = zlib(&raw, 6);
        let b64 = base64_encode(&z);
        let parts: Vec<(u64, &[u8])> = b64
            .chunks(1000)
            .enumerate()
            .map(|(i, c)| ((i * 1000) as u64, c))
            .collect();
        let r = scan(&shape, &parts, Some(b64.len() as u64));
        assert_eq!(r.kind, Kind::Base64Zlib);
        let c = r.counted.unwrap();
        assert_eq!(c.complete, 300);
        assert_eq!(c.decoded_bytes, raw.len() as u64);
    }

    #[test]
    fn gzip_body_is_decoded_and_a_gap_in_it_breaks_decoding() {
        let shape = csv_shape();
        let raw = rows(200);
        let z = gzip(&raw, 6);
        let ok = scan(&shape, &[(0, &z)], Some(z.len() as u64));
        assert_eq!(ok.kind, Kind::Gzip);
        assert_eq!(ok.counted.unwrap().complete, 200);
        let h = z.len() / 2;
        let cut = scan(
            &shape,
            &[(0, &z[..h]), (h as u64 + 10, &z[h + 10..])],
            Some(z.len() as u64),
        );
        assert!(cut.broken);
        assert_eq!(cut.counted, None);
        assert_eq!(cut.missing, 10);
    }

    /// Feeds `z` in 4 KiB pieces (skipping `hole`), draining lines after each piece the way
    /// the content ledger does; returns the lines drained before the end, the end.
    fn drain_all(
        shape: &RecordShape,
        z: &[u8],
        hole: Option<std::ops::Range<usize>>,
    ) -> (Lines, BodyEnd) {
        let mut s = BodyScan::new(shape);
        let (mut early, mut more) = (Lines::default(), Lines::default());
        for (i, c) in z.chunks(4096).enumerate() {
            let at = i * 4096;
            if hole.as_ref().is_some_and(|h| h.contains(&at)) {
                continue;
            }
            s.feed(at as u64, c);
            s.drain_lines(&mut more);
            early.append(&mut more);
        }
        (early, s.finish_end(Some(z.len() as u64)))
    }

    #[test]
    fn lines_of_encoded_content_leave_while_decoding_marked_provisional() {
        let shape = RecordShape {
            collect_lines: 200,
            ..csv_shape()
        };
        let raw = rows(20_000);
        let z = zlib(&raw, 1);
        let (early, end) = drain_all(&shape, &z, None);
        // Nearly every line leaves before the body ends (nothing accumulates in the scan).
        assert!(early.len() > 19_000, "{} lines before the end", early.len());
        assert!(early.lines().iter().all(|l| l.whole));
        // Provisional until the stream's checksum was read (with the last piece).
        let provisional = early.lines().iter().filter(|l| l.provisional).count();
        assert!(provisional > 19_000, "{provisional} provisional lines");
        assert_eq!(early.len() + end.lines.len(), 20_000);
        assert!(end.lines.lines().iter().all(|l| !l.provisional));
        assert_eq!(
            end.whole_until,
            u64::MAX,
            "checksum verified: all stay whole"
        );
        assert_eq!(end.result.counted.unwrap().complete, 20_000);

        // A hole in the compressed bytes: decoding breaks, nothing drained before stays whole.
        let (early, end) = drain_all(&shape, &z, Some(8192..12288));
        // Lines before the hole are provisional; the record the hole cut is a final fragment.
        let (prov, cut): (Vec<&Line>, Vec<&Line>) =
            early.lines().iter().partition(|l| l.provisional);
        assert!(!prov.is_empty() && prov.iter().all(|l| l.whole));
        assert!(cut.len() == 1 && !cut[0].whole, "{cut:?}");
        assert_eq!(end.whole_until, 0, "no checksum covered any byte");
        assert!(end.result.broken);
        assert!(end.lines.lines().iter().all(|l| !l.whole && !l.provisional));
    }

    #[test]
    fn a_verified_gzip_member_stays_whole_when_the_next_one_breaks() {
        let shape = RecordShape {
            collect_lines: 200,
            ..csv_shape()
        };
        let gz = |b: &[u8]| gzip(b, 1);
        let (a, b) = (rows(2_000), rows(3_000));
        let mut z = gz(&a);
        let first = z.len();
        z.extend(gz(&b));
        // The hole is well inside the second member.
        let h = (first / 4096 + 2) * 4096;
        let (early, end) = drain_all(&shape, &z, Some(h..h + 4096));
        assert_eq!(end.whole_until, a.len() as u64);
        let stands = |l: &Line| l.whole && l.offset + l.len <= end.whole_until;
        let whole = early.lines().iter().filter(|l| stands(l)).count()
            + end.lines.lines().iter().filter(|l| l.whole).count();
        assert_eq!(
            whole, 2_000,
            "exactly the first member's records stay whole"
        );
    }

    #[test]
    fn a_suspended_stream_continues_and_absurd_lengths_do_not_overflow() {
        let shape = RecordShape {
            collect_lines: 200,
            ..csv_shape()
        };
        let raw = rows(2_000);
        let z = gzip(&raw, 1);
        let (a, b) = z.split_at(z.len() / 2);
        let mut s = BodyScan::new(&shape);
        s.feed(0, a);
        // Declared longer than what came (or absurdly long): not a complete prefix.
        assert_eq!(s.suspend(Some(u64::MAX)), None);
        let first = s.suspend(Some(a.len() as u64)).expect("a prefix");
        assert_eq!(first.length, a.len() as u64);
        assert!(s.continues_with(b));
        s.resume();
        s.feed(0, b);
        let end = s.finish_end(Some(u64::MAX));
        // An absurd declared length is a missing tail, no overflow.
        assert!(end.result.broken && end.result.missing > 0);
        // Both halves together: every record counted once as complete.
        let mut s = BodyScan::new(&shape);
        s.feed(0, a);
        let first = s.suspend(None).expect("a prefix");
        s.resume();
        s.feed(0, b);
        let second = s.finish_end(Some(b.len() as u64)).result;
        assert_eq!(second.length, b.len() as u64);
        let complete = |r: &BodyResult| r.counted.map_or(0, |c| c.complete);
        assert_eq!(complete(&first) + complete(&second), 2_000);
        assert_eq!(second.counted.map(|c| c.partial), Some(0));
    }

    #[test]
    fn random_bytes_are_opaque() {
        let shape = csv_shape();
        let mut next = crate::testkit::xorshift(0x1234_5678_9abc_def0);
        let body: Vec<u8> = (0..4000).map(|_| next() as u8).collect();
        let r = scan(&shape, &[(0, &body)], None);
        assert_eq!(r.kind, Kind::Opaque);
        assert_eq!(r.counted, None);
        assert!(!r.broken);
    }

    #[test]
    fn text_that_is_not_records_is_unrecognised() {
        let shape = csv_shape();
        let body = b"hello world, this is a beacon with status=ok and nothing else".repeat(3);
        let r = scan(&shape, &[(0, &body)], None);
        assert_eq!(r.kind, Kind::Unrecognised);
    }

    #[test]
    fn fixed_records_by_offset() {
        let shape = RecordShape {
            format: RecordFormat::Fixed(10),
            ..RecordShape::default()
        };
        let body = b"0123456789".repeat(10);
        let r = scan(&shape, &[(0, &body[..25]), (40, &body[40..])], None);
        let c = r.counted.unwrap();
        // records 0,1 complete; record 2 cut (5 bytes); record 3 lost; 4..9 complete.
        assert_eq!((c.complete, c.partial), (8, 1));
    }

    fn base64_encode(b: &[u8]) -> Vec<u8> {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = Vec::new();
        for c in b.chunks(3) {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            for i in 0..4 {
                if i <= c.len() {
                    out.push(A[(n >> (18 - 6 * i) & 63) as usize]);
                } else {
                    out.push(b'=');
                }
            }
        }
        out
    }
}
