//! Matching decoded record lines of uploads against the recovered rows (DESIGN §9).
//!
//! A row is **confirmed** when a whole line of decoded outbound content (every byte present,
//! the encoded stream's checksum verified where there is one) equals it byte for byte;
//! **partial** when a line cut by a capture gap, snaplen or a broken decoding carries its
//! key; **key-only** when only its key was seen in a line that is not the row. The
//! sightings ([`Pending`]) are placed on a day, host and flow by the content ledger.

use crate::body::BodyScan;
use crate::index::RecoveredIndex;
use crate::lines::{Line, Lines, Seen};
use exfilmeter_ingest::{FrameRef, Timestamp};

/// How a row was seen.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Level {
    /// All its bytes inside verified matched content.
    Confirmed,
    /// Cut by a gap, a stream edge, truncation or a broken decoding.
    Partial,
    /// Only its key seen.
    KeyOnly,
}

impl Level {
    /// `confirmed`, `partial`, `key_only`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Confirmed => "confirmed",
            Level::Partial => "partial",
            Level::KeyOnly => "key_only",
        }
    }

    /// The level named by [`Level::as_str`].
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "confirmed" => Some(Level::Confirmed),
            "partial" => Some(Level::Partial),
            "key_only" => Some(Level::KeyOnly),
            _ => None,
        }
    }
}

/// A sighting of a row in an upload, before the upload's day and host are known.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pending {
    /// Row (index into the recovered index).
    pub row: u32,
    /// Level.
    pub level: Level,
    /// Time its last byte was seen.
    pub ts: Timestamp,
    /// Frames that carried its first and last byte.
    pub frames: (FrameRef, FrameRef),
    /// Bytes matched (the row's length for confirmed sightings, else 0; summed over merged
    /// sightings).
    pub bytes: u64,
    /// Sightings this one stands for (1, more once repeated sightings of the same row at
    /// the same level are merged: the earliest keeps its time and frames).
    pub count: u64,
}

impl Pending {
    /// Takes in a repeated sighting of the same row at the same level.
    pub fn absorb(&mut self, o: Pending) {
        if o.ts < self.ts {
            self.ts = o.ts;
            self.frames = o.frames;
        }
        self.count += o.count;
        self.bytes += o.bytes;
    }
}

/// Sightings that can be merged ([`compact`]).
pub trait Merge {
    /// What identifies sightings to merge.
    type Key: Eq + std::hash::Hash;
    /// This sighting's key.
    fn key(&self) -> Self::Key;
    /// Takes in `o`, which has the same key.
    fn absorb(&mut self, o: Self);
}

impl Merge for Pending {
    type Key = (u32, Level);
    fn key(&self) -> Self::Key {
        (self.row, self.level)
    }
    fn absorb(&mut self, o: Self) {
        Pending::absorb(self, o);
    }
}

impl Merge for (i32, Pending) {
    type Key = (u32, Level, i32);
    fn key(&self) -> Self::Key {
        (self.1.row, self.1.level, self.0)
    }
    fn absorb(&mut self, o: Self) {
        self.1.absorb(o.1);
    }
}

/// A list of sightings that merges repeats once it has grown to twice what it held after
/// the last merge (amortised linear time): memory follows the distinct rows seen, not how
/// often an upload repeats them. The order of first occurrence is kept.
#[derive(Debug, Clone)]
pub struct Sightings<T> {
    /// The sightings.
    pub list: Vec<T>,
    mark: usize,
}

impl<T> Default for Sightings<T> {
    fn default() -> Self {
        Sightings {
            list: Vec::new(),
            mark: MERGE_AT,
        }
    }
}

impl<T> Sightings<T> {
    /// A list that never merges repeats: the sightings exactly as added, to be added to a
    /// merging list later in one order (a shard's, handed to the run's list in the order one
    /// pass would have added them).
    pub fn unmerged() -> Self {
        Sightings {
            list: Vec::new(),
            mark: usize::MAX,
        }
    }
}

impl<T> std::ops::Deref for Sightings<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.list
    }
}

/// Sightings held before the first merge.
const MERGE_AT: usize = 4096;

impl<T: Merge> Sightings<T> {
    /// Adds sightings.
    pub fn extend(&mut self, it: impl IntoIterator<Item = T>) {
        for x in it {
            self.list.push(x);
            if self.list.len() >= self.mark {
                self.compact();
            }
        }
    }

    /// Merges repeats if the list has grown enough since the last merge (after sightings
    /// were pushed to [`Sightings::list`] directly).
    pub fn check(&mut self) {
        if self.list.len() >= self.mark {
            self.compact();
        }
    }

    /// Merges repeats now.
    pub fn compact(&mut self) {
        compact(&mut self.list);
        self.mark = 2 * self.list.len() + MERGE_AT;
    }
}

/// Merges sightings with the same key, in order of first occurrence.
pub fn compact<T: Merge>(v: &mut Vec<T>) {
    let mut at: std::collections::HashMap<T::Key, usize> =
        std::collections::HashMap::with_capacity(v.len());
    let mut out: Vec<T> = Vec::with_capacity(v.len());
    for x in v.drain(..) {
        match at.entry(x.key()) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(out.len());
                out.push(x);
            }
            std::collections::hash_map::Entry::Occupied(e) => {
                if let Some(kept) = out.get_mut(*e.get()) {
                    kept.absorb(x);
                }
            }
        }
    }
    *v = out;
}

/// Matches lines against the index.
#[derive(Debug)]
pub struct Matcher<'i> {
    index: &'i RecoveredIndex,
    scratch: Vec<u8>,
    /// Sightings of one provisional line, before they are held.
    tmp: Vec<Pending>,
    /// Lines matched as the row after the previous line's (speed only: a batch of lines
    /// that mostly continue the staged file in order is not probed ahead).
    continued: usize,
    /// Line buffers reused by [`Matcher::drain`].
    buf: Lines,
}

impl<'i> Matcher<'i> {
    /// A matcher over `index`.
    pub fn new(index: &'i RecoveredIndex) -> Self {
        Matcher {
            index,
            scratch: Vec::new(),
            tmp: Vec::new(),
            continued: 0,
            buf: Lines::default(),
        }
    }

    /// The index.
    pub fn index(&self) -> &'i RecoveredIndex {
        self.index
    }

    /// Classifies lines in order (as [`Matcher::line`]), a batch at a time: the hash
    /// table is probed for the whole batch, then the candidate rows are loaded, then the
    /// lines are classified, so that the cache misses of a batch overlap.
    pub fn lines(&mut self, ls: &Lines, cur: &mut Cursor, out: &mut Vec<Pending>) {
        const BATCH: usize = 32;
        let mut probes = [(0u64, u32::MAX); BATCH];
        let mut rows = [u32::MAX; BATCH];
        let mut in_order = cur.in_order;
        for batch in ls.lines().chunks(BATCH) {
            let before = self.continued;
            if in_order {
                // The upload follows the staged file: rows come in order, from the cache.
                for l in batch {
                    self.line_probed(l, ls.bytes(l), None, cur, out);
                }
                in_order = 2 * (self.continued - before) >= batch.len();
                continue;
            }
            // Hashes first, then the table probes: a probe loop without the hashing in it is
            // short enough for the processor to have all of its cache misses in flight at once.
            for (p, l) in probes.iter_mut().zip(batch) {
                *p = (0, u32::MAX);
                if l.whole && !l.overlong {
                    p.0 = crate::index::row_hash(ls.bytes(l));
                }
            }
            let mut n = 0;
            for (p, l) in probes.iter_mut().zip(batch) {
                if l.whole && !l.overlong {
                    p.1 = self.index.probe(p.0);
                    if p.1 != u32::MAX {
                        rows[n] = p.1;
                        n += 1;
                    }
                }
            }
            self.index.touch(&rows[..n]);
            for (l, p) in batch.iter().zip(probes) {
                self.line_probed(l, ls.bytes(l), Some(p), cur, out);
            }
            in_order = 2 * (self.continued - before) >= batch.len();
        }
        cur.in_order = in_order;
    }

    /// Takes the lines `scan` has ready and classifies them ([`Matcher::lines`]); the line
    /// buffers are reused from one call to the next.
    pub fn drain(&mut self, scan: &mut BodyScan<'_>, cur: &mut Cursor, out: &mut Vec<Pending>) {
        let mut ls = std::mem::take(&mut self.buf);
        scan.drain_lines(&mut ls);
        self.lines(&ls, cur, out);
        ls.clear();
        // Buffers go round between the matcher and the scans: one that held a large batch
        // (a decompression burst) is not kept.
        if !ls.small() {
            ls = Lines::default();
        }
        self.buf = ls;
    }

    /// Classifies one line of an upload (its content `bytes`). A whole line equal to a row
    /// confirms it (a row staged twice is taken at the position that continues the upload).
    /// Otherwise, in a whole line, rows are looked for anchored on the keys it carries: a row
    /// whose every byte is in the line (or, for content without line terminators such as
    /// fixed-width records, across the junction with the previous whole line) is confirmed.
    /// The other keys found make their rows key-only (whole line) or partial (cut line).
    ///
    /// A provisional line (encoded content still decoding) is classified both ways, whole
    /// and cut; both outcomes are held in the cursor until [`Matcher::settle`] says which
    /// one stands. Later lines of the upload are held too, so sightings keep their order.
    pub fn line(&mut self, l: &Line, bytes: &[u8], cur: &mut Cursor, out: &mut Vec<Pending>) {
        self.line_probed(l, bytes, None, cur, out);
    }

    /// [`Matcher::line`] with the line's hash and probe done when `probe` is given.
    fn line_probed(
        &mut self,
        l: &Line,
        bytes: &[u8],
        probe: Option<(u64, u32)>,
        cur: &mut Cursor,
        out: &mut Vec<Pending>,
    ) {
        if l.provisional && l.whole {
            let end = l.end();
            let mut tmp = std::mem::take(&mut self.tmp);
            tmp.clear();
            self.classify(l, bytes, probe, cur, &mut tmp);
            cur.held
                .list
                .extend(tmp.drain(..).map(|p| (end, Branch::IfWhole, p)));
            // Cut, every key it carries would be a partial sighting.
            for k in self.index.keys_in(bytes) {
                if let Some(row) = self.index.first_row_of_key(k) {
                    cur.held
                        .list
                        .push((end, Branch::IfCut, sighting(row, Level::Partial, l, 0)));
                }
            }
            self.tmp = tmp;
        } else if !cur.held.is_empty() {
            let mut tmp = std::mem::take(&mut self.tmp);
            tmp.clear();
            self.classify(l, bytes, probe, cur, &mut tmp);
            cur.held
                .list
                .extend(tmp.drain(..).map(|p| (0, Branch::Always, p)));
            self.tmp = tmp;
        } else {
            self.classify(l, bytes, probe, cur, out);
        }
    }

    /// The upload's decoding ended: the held outcome of each provisional line that stands
    /// (whole when the line ends within `whole_until` decoded bytes, else cut) goes to `out`.
    pub fn settle(cur: &mut Cursor, whole_until: u64, out: &mut Vec<Pending>) {
        // The first and last lines, kept to join rows across requests, only if they stayed
        // whole.
        if cur.tail.as_ref().is_some_and(|t| t.1 > whole_until) {
            cur.tail = None;
        }
        if cur.first.as_ref().is_some_and(|f| f.0.end() > whole_until) {
            cur.first = None;
        }
        for (end, branch, p) in cur.held.list.drain(..) {
            let stands = match branch {
                Branch::Always => true,
                Branch::IfWhole => end <= whole_until,
                Branch::IfCut => end > whole_until,
            };
            if stands {
                out.push(p);
            }
        }
    }

    /// Decoded content up to `sure` bytes stays whole whatever follows (a checksum, or a
    /// recovered archive's own bytes, covered it: [`BodyScan::sure`]): the held outcomes of the
    /// lines ending there are decided now, in order, so an upload of many gzip members or zip
    /// entries does not hold them to its end.
    ///
    /// [`BodyScan::sure`]: crate::BodyScan::sure
    pub fn settle_sure(cur: &mut Cursor, sure: u64, out: &mut Vec<Pending>) {
        let n = cur
            .held
            .iter()
            .take_while(|(end, branch, _)| *branch == Branch::Always || *end <= sure)
            .count();
        for (_, branch, p) in cur.held.list.drain(..n) {
            if branch != Branch::IfCut {
                out.push(p);
            }
        }
    }

    /// After lines of `scan` were matched: decides the held sightings its checksums now cover
    /// ([`Matcher::settle_sure`]), and merges the repeats among those still held when they
    /// share their fate ([`BodyScan::provisional_share_fate`]), so that one long gzip member
    /// or zip entry holds memory for the distinct rows it carries, not for every line.
    pub fn settle_ready(cur: &mut Cursor, scan: &BodyScan<'_>, out: &mut Vec<Pending>) {
        Matcher::settle_sure(cur, scan.sure(), out);
        if scan.provisional_share_fate() {
            cur.held.check();
        }
    }

    /// Rows that begin in the last line of one request (`prev`, ended) and end in the first
    /// line of the next request on the same connection (`next`): the sender cut its data into
    /// requests without regard to records. Both lines must be whole (every byte present, the
    /// first request complete); a row is confirmed when every byte of it is there across the
    /// junction, found by its key or content anchor and compared byte for byte.
    pub fn across(&mut self, prev: &Cursor, next: &Cursor, out: &mut Vec<Pending>) {
        let (Some((bytes, _, seen)), Some(first)) = (&prev.tail, &next.first) else {
            return;
        };
        let (first, first_bytes) = &**first;
        let join = Cursor {
            tail: Some((bytes.clone(), first.offset, *seen)),
            across: true,
            ..Cursor::default()
        };
        self.anchored(first, first_bytes, &[], &join, out);
    }

    fn classify(
        &mut self,
        l: &Line,
        bytes: &[u8],
        probe: Option<(u64, u32)>,
        cur: &mut Cursor,
        out: &mut Vec<Pending>,
    ) {
        // (A provisional first line is dropped at the end if it did not stay whole.)
        if l.offset == 0 && l.whole && !l.overlong {
            cur.first = Some(Box::new((l.clone(), bytes.to_vec())));
        }
        if l.whole && !l.overlong {
            let next = cur.prev.map(|p| p + 1);
            // An upload that sends the staged file in order continues with the next row:
            // compared directly, without a hash (the same answer: a row equal to the line is
            // one of the hash's candidates, and the next row is preferred among them).
            // When the batch probed the table already, the next row is one of the probe's
            // candidates if it is the line: not read separately (a cache miss for nothing
            // when the upload is not in order).
            let row = match probe {
                Some((h, first)) => {
                    self.index
                        .exact_one_probed(bytes, h, first, next, &mut self.scratch)
                }
                None => next
                    .filter(|&n| self.index.verify(n, bytes, &mut self.scratch))
                    .or_else(|| {
                        let h = crate::index::row_hash(bytes);
                        let first = self.index.probe(h);
                        self.index
                            .exact_one_probed(bytes, h, first, next, &mut self.scratch)
                    }),
            };
            if row.is_some() && row == next {
                self.continued += 1;
            }
            if let Some(row) = row {
                cur.prev = Some(row);
                cur.tail = None;
                out.push(sighting(row, Level::Confirmed, l, bytes.len() as u64));
                return;
            }
        }
        cur.prev = None;
        let keys = self.index.keys_in(bytes);
        // Only whole lines: a line cut by a gap or a broken decoding confirms nothing.
        let confirmed = if l.whole {
            self.anchored(l, bytes, &keys, cur, out)
        } else {
            Vec::new()
        };
        let level = if l.whole {
            Level::KeyOnly
        } else {
            Level::Partial
        };
        for k in keys {
            if confirmed.contains(&k) {
                continue;
            }
            if let Some(row) = self.index.first_row_of_key(k) {
                out.push(sighting(row, level, l, 0));
            }
        }
        // Content whose lines keep every byte (no terminator stripped) can carry a row across
        // the junction of two lines: keep this one for the next.
        cur.tail = (l.whole && bytes.len() as u64 == l.len && !l.overlong)
            .then(|| (bytes.to_vec(), l.end(), l.first));
    }

    /// Rows found whole inside `l` (and the junction with the previous line), anchored on
    /// their keys; returns the keys confirmed.
    fn anchored(
        &mut self,
        l: &Line,
        bytes: &[u8],
        line_keys: &[u32],
        cur: &Cursor,
        out: &mut Vec<Pending>,
    ) -> Vec<u32> {
        let mut confirmed = Vec::new();
        let (ctx, j): (std::borrow::Cow<'_, [u8]>, Junction) = match &cur.tail {
            Some((b, end, seen))
                if *end == l.offset && (cur.across || bytes.len() as u64 == l.len) =>
            {
                let mut v = b.clone();
                v.extend_from_slice(bytes);
                let j = Junction {
                    prev_len: b.len(),
                    prev_seen: Some(*seen),
                    across: cur.across,
                };
                (v.into(), j)
            }
            _ => (bytes.into(), Junction::default()),
        };
        // Keys of the line alone were found already; with the previous line, scan again.
        let keys = if j.prev_len == 0 {
            line_keys.to_vec()
        } else {
            self.index.keys_in(&ctx)
        };
        if keys.is_empty() {
            if self.index.content_anchored() {
                self.content_anchored(&ctx, &j, l, out);
            }
            return Vec::new();
        }
        let mut row = Vec::new();
        for k in keys {
            let key = self.index.key(k).to_vec();
            if key.is_empty() {
                continue;
            }
            let hits: Vec<usize> = find_all(&ctx, &key);
            'rows: for r in self.index.rows_of_key(k).into_iter().take(16) {
                if !self.index.row_content(r, &mut row) || row.len() > ctx.len() {
                    continue;
                }
                let Some(kp) = find_all(&row, &key).first().copied() else {
                    continue;
                };
                for &p in &hits {
                    let Some(s) = p.checked_sub(kp) else {
                        continue;
                    };
                    if confirm_at(&ctx, s, r, &row, &j, l, out).is_some() {
                        confirmed.push(k);
                        break 'rows;
                    }
                }
            }
        }
        confirmed
    }

    /// Without keys: rows found whole inside `ctx` (a line, or the previous line and this
    /// one) by their content anchors. Every window of the line is hashed as it rolls; where
    /// a row's anchor window matches, the row must lie around it byte for byte.
    fn content_anchored(&mut self, ctx: &[u8], j: &Junction, l: &Line, out: &mut Vec<Pending>) {
        use crate::index::{Roll, ANCHOR};
        if ctx.len() < ANCHOR {
            return;
        }
        let mut roll = Roll::default();
        let mut row = Vec::new();
        let mut found: Vec<u32> = Vec::new();
        // Where the window being rolled starts (after a confirmed row the scan goes on behind
        // it: rows sent do not overlap).
        let mut from = 0;
        let mut i = 0;
        while i < ctx.len() {
            let gone = if i >= from + ANCHOR {
                ctx[i - ANCHOR]
            } else {
                0
            };
            roll.push(ctx[i], gone);
            i += 1;
            if i < from + ANCHOR {
                continue;
            }
            let at = i - ANCHOR;
            let mut next = None;
            for (r, off) in self.index.anchored_rows(roll.hash()).take(16) {
                let Some(s) = at.checked_sub(off as usize) else {
                    continue;
                };
                if found.contains(&r) || !self.index.row_content(r, &mut row) {
                    continue;
                }
                if let Some(e) = confirm_at(ctx, s, r, &row, j, l, out) {
                    found.push(r);
                    next = Some(next.map_or(e, |n: usize| n.max(e)));
                }
            }
            if let Some(e) = next {
                if e > i {
                    from = e;
                    i = e;
                    roll = Roll::default();
                }
            }
        }
    }
}

/// How the text searched for rows inside a line is made: the previous line's bytes (when
/// joined) then the line's.
#[derive(Debug, Clone, Copy, Default)]
struct Junction {
    /// Bytes of the previous line in front (0: the line alone).
    prev_len: usize,
    /// Where the previous line's first byte was seen.
    prev_seen: Option<Seen>,
    /// The previous line ended the previous request: only rows crossing the junction count.
    across: bool,
}

/// Confirms row `r` (content `row`) placed at `s` in `ctx` when all its bytes are there, byte
/// for byte, and it was not looked for already (rows wholly inside the previous line were
/// looked for with it; across requests only rows crossing the junction count); returns where
/// it ends.
fn confirm_at(
    ctx: &[u8],
    s: usize,
    r: u32,
    row: &[u8],
    j: &Junction,
    l: &Line,
    out: &mut Vec<Pending>,
) -> Option<usize> {
    let e = s + row.len();
    if e > ctx.len() || e <= j.prev_len || (j.across && s >= j.prev_len) || ctx[s..e] != *row {
        return None;
    }
    let first = match j.prev_seen {
        Some(seen) if s < j.prev_len => seen.1,
        _ => l.first.1,
    };
    out.push(Pending {
        frames: (first, l.last.1),
        ..sighting(r, Level::Confirmed, l, row.len() as u64)
    });
    Some(e)
}

/// Where matching stands in one upload.
#[derive(Debug, Clone, Default)]
pub struct Cursor {
    /// Row the previous whole line matched.
    prev: Option<u32>,
    /// The previous line, when it kept every byte of its content: bytes, end offset, where
    /// its first byte was seen.
    tail: Option<(Vec<u8>, u64, Seen)>,
    /// Sightings waiting for the decoding's end: line end offset, which outcome, sighting.
    held: Sightings<Held>,
    /// The upload's first line, when whole (for rows that began in the previous request:
    /// [`Matcher::across`]; dropped by [`Matcher::settle`] if its decoding did not hold).
    first: Option<Box<(Line, Vec<u8>)>>,
    /// `tail` is the end of the previous request: only rows crossing into this one count.
    across: bool,
    /// The last batch of lines mostly continued the staged file in order (speed only: the
    /// next batch is compared row after row before any hash is probed).
    in_order: bool,
}

/// A sighting held until the decoding's end: the end offset of its line, which outcome of
/// the line it belongs to, the sighting.
type Held = (u64, Branch, Pending);

/// Held sightings merge only when they share their fate ([`Matcher::settle_ready`]): the
/// later line end is kept.
impl Merge for Held {
    type Key = (Branch, u32, Level);
    fn key(&self) -> Self::Key {
        (self.1, self.2.row, self.2.level)
    }
    fn absorb(&mut self, o: Self) {
        self.0 = self.0.max(o.0);
        self.2.absorb(o.2);
    }
}

impl Cursor {
    /// Where matching stands when the upload goes on in the next request's body (an archive
    /// posted in pieces): that body's lines continue these, so there is no first line of a
    /// body of its own to join with an earlier request.
    pub fn carried(mut self) -> Cursor {
        self.first = None;
        self
    }
}

/// Which outcome of a provisional line a held sighting belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Branch {
    /// Not provisional (a later line of the same upload).
    Always,
    /// Stands if the line stays whole.
    IfWhole,
    /// Stands if the line turns out cut.
    IfCut,
}

fn sighting(row: u32, level: Level, l: &Line, bytes: u64) -> Pending {
    Pending {
        row,
        level,
        ts: l.last.0,
        frames: (l.first.1, l.last.1),
        bytes,
        count: 1,
    }
}

/// Start offsets of `needle` in `hay`.
fn find_all(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return Vec::new();
    }
    hay.windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

#[cfg(test)]
#[path = "matcher_tests.rs"]
mod tests;
