//! Record lines and their counting: where a byte was seen, the lines of decoded content kept
//! for matching (ranges of one reused buffer), what the recovered records look like
//! ([`RecordShape`]), and the streaming [`RecordCounter`] that counts complete and cut records
//! in content with gaps.

use crate::index::RecoveredIndex;
use crate::records::RecordFormat;
use exfilmeter_ingest::{FileId, FrameRef, Timestamp};
use std::collections::HashSet;

/// Where a byte was seen: capture time and frame.
pub type Seen = (Timestamp, FrameRef);

pub(crate) const NOWHERE: Seen = (
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

    pub(crate) fn lines_mut(&mut self) -> &mut [Line] {
        &mut self.list
    }
}

/// Longest record line kept for the header comparison (longer lines are never headers).
const LINE_KEEP: usize = 4096;

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
pub(crate) fn count_byte(s: &[u8], b: u8) -> usize {
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
    pub fn match_against(&mut self, index: &RecoveredIndex) {
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

/// Records found in decoded content.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    pub(crate) len: u64,
    /// Start of the current record (fixed-size records).
    rec_start: u64,
    /// Bytes of the current fixed-size record that a gap took (counted in `len`).
    pub(crate) hole: u64,
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
    pub(crate) fn take_lines(&mut self, into: &mut Lines) {
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
    pub(crate) fn cut_here(&mut self) {
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
