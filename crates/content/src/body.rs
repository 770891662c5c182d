//! What an uploaded body is, decided from its bytes, and the records it holds.
//!
//! A body is fed in order with its offsets (a jump is a capture gap). The first bytes
//! decide the content kind: records as stored (plain), base64 and/or zlib/gzip wrapped
//! around them (decoded on the fly and counted), an archive, or opaque (high entropy:
//! encrypted or compressed with an unknown codec). Decoded records are **counted**, not
//! divided; only what stays opaque is left to the volume estimate. Memory per body is
//! bounded (a sniff buffer, one record line, the inflater's window).

use crate::base64::Base64;
use crate::inflate::{End, Framing, Inflate};
pub use crate::kind::Kind;
use crate::lines::{Counted, Lines, RecordCounter, RecordShape, Seen, NOWHERE};
use crate::records::RecordFormat;
use crate::sniff::{base64_like, gzip_header, high_entropy, text_like, zlib_header};
use std::io::Write;

/// Bytes looked at before the kind is decided.
const SNIFF: usize = 512;
/// Decoded bytes allowed per encoded byte before decoding stops (decompression bombs).
const MAX_EXPANSION: u64 = 1024;

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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
#[path = "body_tests.rs"]
mod tests;
