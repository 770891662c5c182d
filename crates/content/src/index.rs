//! The index of the recovered files (DESIGN §9): every row with its byte range and key, an
//! xxh3 hash of its content (without the line terminator) for exact matching, and the keys
//! for key-only hits. Files are read streaming while indexing. Rows are verified byte for
//! byte against the files kept in memory up to a budget ([`DEFAULT_MEMORY`]); files beyond it
//! are verified by positional reads, so recovered files larger than memory work: about 70
//! bytes per row and 60 per key.

use crate::records::{key_column, read_record, record_key, KeySpec, RecordFormat};
use crate::recovered::RecoveredFile;
use aho_corasick::AhoCorasick;
use rustc_hash::FxHashMap as HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A problem indexing a recovered file.
#[derive(Debug)]
pub struct IndexError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub message: String,
}

impl std::fmt::Display for IndexError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for IndexError {}

/// One indexed row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// File (index into [`RecoveredIndex::files`]).
    pub file: u32,
    /// 1-based line (record) number in the file, the header line included.
    pub line: u64,
    /// Byte offset of the record in the file.
    pub start: u64,
    /// Content length (without the line terminator).
    pub len: u32,
    /// Index of its key in [`RecoveredIndex::key`] (u32::MAX: no key).
    pub key: u32,
}

/// An indexed file.
#[derive(Debug)]
pub struct IndexedFile {
    /// Path.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// Records indexed.
    pub rows: u64,
    /// Records whose content occurs earlier in the recovered files (kept, matched by
    /// position).
    pub duplicate_rows: u64,
    handle: File,
    /// The file's bytes, when it fit in the memory budget (an archive's decoded bytes).
    data: Option<Held>,
    /// An archive's bytes as stored (matched as its own bytes too).
    raw: Option<std::sync::Arc<[u8]>>,
}

/// Words of the key filter (2^18 × 64 bits = 2 MiB).
const KEY_FILTER_WORDS: usize = 1 << 18;

/// Sets the bit of hash `h` in a filter of [`KEY_FILTER_WORDS`] words (an empty filter is
/// left empty).
fn filter_set(filter: &mut [u64], h: u64) {
    if let Some(w) = filter.get_mut((h as usize >> 6) & (KEY_FILTER_WORDS - 1)) {
        *w |= 1 << (h & 63);
    }
}

/// The bit of hash `h` is set (false in an empty filter).
fn filter_has(filter: &[u64], h: u64) -> bool {
    filter
        .get((h as usize >> 6) & (KEY_FILTER_WORDS - 1))
        .is_some_and(|w| w & (1 << (h & 63)) != 0)
}

/// Bytes of recovered files kept in memory for verification (1 GiB); larger sets are
/// verified by positional reads.
pub const DEFAULT_MEMORY: u64 = 1 << 30;

/// The index.
#[derive(Debug)]
pub struct RecoveredIndex {
    /// Files, in the order given.
    pub files: Vec<IndexedFile>,
    /// Rows, in file order.
    pub rows: Vec<Row>,
    /// Key bytes, one after the other; `key_pos[id]` = (start, length).
    key_data: Vec<u8>,
    key_pos: Vec<(u64, u32)>,
    /// Row hash → first row with that hash; further rows in `more_rows` (inline values:
    /// one memory access per probe on a million rows).
    by_hash: HashMap<u64, u32>,
    more_rows: HashMap<u64, Vec<u32>>,
    /// Key hash → key id; keys whose hash collides with another key's in `key_collide`.
    by_key: HashMap<u64, u32>,
    key_collide: HashMap<Box<[u8]>, u32>,
    /// One bit per key hash (2 MiB): tokens that are no key are rejected without touching
    /// the key table.
    key_filter: Vec<u64>,
    /// First row of each key (index = key id); further rows in `key_more`.
    key_first: Vec<u32>,
    key_more: HashMap<u32, Vec<u32>>,
    ac: Option<AhoCorasick>,
    /// All keys are ASCII letters and digits: keys are found as whole alphanumeric tokens
    /// by one table-driven pass and a hash lookup (much faster than the automaton on a
    /// million keys).
    alnum_keys: bool,
    key_len: (usize, usize),
    /// Longest row content (bytes).
    pub max_len: u32,
    /// Without keys, rows are anchored on their content: the hash of one 16-byte window of
    /// each row → (row, offset of the window in the row); further rows in `more_anchors`.
    anchors: HashMap<u64, (u32, u32)>,
    more_anchors: HashMap<u64, Vec<(u32, u32)>>,
    /// One bit per anchor hash (2 MiB; empty when rows have keys).
    anchor_filter: Vec<u64>,
    /// Rows too short for a content anchor (found only as whole lines).
    pub unanchored_rows: u64,
}

mod held;
mod tokens;

pub(crate) use held::Held;
pub(crate) use tokens::Roll;
use tokens::*;
pub use tokens::{KeyCarry, ANCHOR};

/// Content without its line terminator.
fn content(rec: &[u8]) -> &[u8] {
    let r = rec.strip_suffix(b"\n").unwrap_or(rec);
    r.strip_suffix(b"\r").unwrap_or(r)
}

/// The row hash.
pub fn row_hash(content: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(content)
}

impl RecoveredIndex {
    /// Indexes `paths`. `header` says which files start with a header line (as the record
    /// model decided); `key` locates each record's key.
    pub fn build(
        paths: &[PathBuf],
        format: &RecordFormat,
        header: &[bool],
        key: Option<&KeySpec>,
    ) -> Result<RecoveredIndex, IndexError> {
        Self::build_with(paths, format, header, key, DEFAULT_MEMORY)
    }

    /// As [`RecoveredIndex::build`], keeping at most `memory` bytes of files in memory.
    pub fn build_with(
        paths: &[PathBuf],
        format: &RecordFormat,
        header: &[bool],
        key: Option<&KeySpec>,
        memory: u64,
    ) -> Result<RecoveredIndex, IndexError> {
        let mut files =
            crate::recovered::open(paths, format, crate::Header::No, memory).map_err(|e| {
                IndexError {
                    path: e.path,
                    message: e.source.to_string(),
                }
            })?;
        for (f, h) in files.iter_mut().zip(header) {
            f.header = *h;
        }
        Self::from_files(files, format, key)
    }

    /// Indexes recovered files already read ([`crate::recovered::open`]); the index keeps
    /// their bytes.
    pub fn from_files(
        files: Vec<RecoveredFile>,
        format: &RecordFormat,
        key: Option<&KeySpec>,
    ) -> Result<RecoveredIndex, IndexError> {
        let mut idx = RecoveredIndex {
            files: Vec::new(),
            rows: Vec::new(),
            key_data: Vec::new(),
            key_pos: Vec::new(),
            by_hash: HashMap::default(),
            more_rows: HashMap::default(),
            by_key: HashMap::default(),
            key_collide: HashMap::default(),
            key_first: Vec::new(),
            key_more: HashMap::default(),
            key_filter: vec![0; KEY_FILTER_WORDS],
            ac: None,
            alnum_keys: false,
            key_len: (usize::MAX, 0),
            max_len: 0,
            anchors: HashMap::default(),
            more_anchors: HashMap::default(),
            anchor_filter: if key.is_none() {
                vec![0; KEY_FILTER_WORDS]
            } else {
                Vec::new()
            },
            unanchored_rows: 0,
        };
        for (fi, file) in files.into_iter().enumerate() {
            let path = &file.path;
            let err = |m: String| IndexError {
                path: path.clone(),
                message: m,
            };
            let mut source = file.reader().map_err(|e| err(e.to_string()))?;
            let has_header = file.header;
            let mut column: Option<usize> = match key {
                Some(k @ KeySpec::Column(_)) => key_column(k, None).map_err(err)?,
                _ => None,
            };
            let mut reader = &mut source;
            let mut pos = 0u64;
            let mut line_no = 0u64;
            let mut rows = 0u64;
            let mut dups = 0u64;
            let mut rec = Vec::new();
            loop {
                let n =
                    read_record(&mut reader, format, &mut rec).map_err(|e| err(e.to_string()))?;
                if n == 0 {
                    break;
                }
                line_no += 1;
                let start = pos;
                pos += n as u64;
                if line_no == 1 && has_header {
                    if let Some(k @ KeySpec::Name(_)) = key {
                        column = key_column(k, Some(&rec)).map_err(err)?;
                    }
                    continue;
                }
                let c = if matches!(format, RecordFormat::Fixed(_)) {
                    &rec[..]
                } else {
                    content(&rec)
                };
                if c.is_empty() {
                    continue;
                }
                let k = key.and_then(|k| record_key(c, k, column));
                let row_id = idx.rows.len() as u32;
                let key_id = match k {
                    Some(k) => idx.key_id_or_insert(&k, row_id),
                    None => u32::MAX,
                };
                let len = u32::try_from(c.len()).unwrap_or(u32::MAX);
                idx.max_len = idx.max_len.max(len);
                let h = row_hash(c);
                match idx.by_hash.entry(h) {
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(row_id);
                    }
                    std::collections::hash_map::Entry::Occupied(_) => {
                        dups += 1;
                        idx.more_rows.entry(h).or_default().push(row_id);
                    }
                }
                if key.is_none() {
                    idx.anchor(row_id, c);
                }
                idx.rows.push(Row {
                    file: fi as u32,
                    line: line_no,
                    start,
                    len,
                    key: key_id,
                });
                rows += 1;
            }
            drop(source);
            let RecoveredFile {
                path,
                handle,
                data,
                raw,
                ..
            } = file;
            idx.files.push(IndexedFile {
                path,
                size: pos,
                rows,
                duplicate_rows: dups,
                handle,
                data,
                raw,
            });
        }
        idx.alnum_keys =
            !idx.key_pos.is_empty() && idx.key_data.iter().all(u8::is_ascii_alphanumeric);
        for &(_, len) in &idx.key_pos {
            idx.key_len.0 = idx.key_len.0.min(len as usize);
            idx.key_len.1 = idx.key_len.1.max(len as usize);
        }
        if !idx.key_pos.is_empty() && !idx.alnum_keys {
            idx.ac = AhoCorasick::builder()
                .match_kind(aho_corasick::MatchKind::LeftmostLongest)
                .build((0..idx.key_pos.len() as u32).map(|k| idx.key(k).to_vec()))
                .ok();
        }
        Ok(idx)
    }

    /// Gives row `row` (content `c`) a content anchor: its first window (at offsets 0, 16,
    /// 32…) that fewer than [`ANCHOR_SHARE`] rows took already, else its first window.
    fn anchor(&mut self, row: u32, c: &[u8]) {
        if c.len() < ANCHOR {
            self.unanchored_rows += 1;
            return;
        }
        let taken = |s: &Self, h: u64| {
            usize::from(s.anchors.contains_key(&h)) + s.more_anchors.get(&h).map_or(0, Vec::len)
        };
        let mut pick = (window_hash(&c[..ANCHOR]), 0u32);
        let mut o = 0;
        while o + ANCHOR <= c.len() {
            let h = window_hash(&c[o..o + ANCHOR]);
            if taken(self, h) < ANCHOR_SHARE {
                pick = (h, o as u32);
                break;
            }
            o += ANCHOR;
        }
        let (h, off) = pick;
        match self.anchors.entry(h) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert((row, off));
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.more_anchors.entry(h).or_default().push((row, off));
            }
        }
        filter_set(&mut self.anchor_filter, h);
    }

    /// Rows are anchored on their content (the index has no keys).
    pub fn content_anchored(&self) -> bool {
        !self.anchor_filter.is_empty()
    }

    /// Rows (and the offset of the window in the row) whose anchor window hashes to `h`.
    pub(crate) fn anchored_rows(&self, h: u64) -> impl Iterator<Item = (u32, u32)> + '_ {
        filter_has(&self.anchor_filter, h)
            .then(|| {
                self.anchors
                    .get(&h)
                    .copied()
                    .into_iter()
                    .chain(self.more_anchors.get(&h).into_iter().flatten().copied())
            })
            .into_iter()
            .flatten()
    }

    fn key_lookup(&self, k: &[u8]) -> Option<u32> {
        self.key_lookup_hashed(k, row_hash(k))
    }

    fn key_lookup_hashed(&self, k: &[u8], h: u64) -> Option<u32> {
        let id = *self.by_key.get(&h)?;
        if self.key(id) == k {
            Some(id)
        } else {
            self.key_collide.get(k).copied()
        }
    }

    fn key_id_or_insert(&mut self, k: &[u8], row: u32) -> u32 {
        if let Some(id) = self.key_lookup(k) {
            self.key_more.entry(id).or_default().push(row);
            return id;
        }
        let id = self.key_pos.len() as u32;
        self.key_pos
            .push((self.key_data.len() as u64, k.len() as u32));
        self.key_data.extend_from_slice(k);
        self.key_first.push(row);
        let h = row_hash(k);
        filter_set(&mut self.key_filter, h);
        match self.by_key.entry(h) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(id);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.key_collide.insert(k.into(), id);
            }
        }
        id
    }

    fn candidates(&self, h: u64) -> impl Iterator<Item = u32> + '_ {
        self.by_hash
            .get(&h)
            .copied()
            .into_iter()
            .chain(self.more_rows.get(&h).into_iter().flatten().copied())
    }

    /// Rows whose content hashes like `content` and equals it byte for byte (read back
    /// from the file), in file order.
    pub fn exact(&self, content: &[u8], scratch: &mut Vec<u8>) -> Vec<u32> {
        self.candidates(row_hash(content))
            .filter(|&r| self.verify(r, content, scratch))
            .collect()
    }

    /// The row equal to `content`: `prefer` if it is one of them (a row staged twice is
    /// taken where the upload continues), else the first in file order.
    pub fn exact_one(
        &self,
        content: &[u8],
        prefer: Option<u32>,
        scratch: &mut Vec<u8>,
    ) -> Option<u32> {
        let h = row_hash(content);
        self.exact_one_probed(content, h, self.probe(h), prefer, scratch)
    }

    /// The first row whose content hashes to `h` (u32::MAX: none).
    pub fn probe(&self, h: u64) -> u32 {
        self.by_hash.get(&h).copied().unwrap_or(u32::MAX)
    }

    /// [`RecoveredIndex::exact_one`] with the hash of `content` and its [`probe`] done.
    ///
    /// [`probe`]: RecoveredIndex::probe
    pub fn exact_one_probed(
        &self,
        content: &[u8],
        h: u64,
        first: u32,
        prefer: Option<u32>,
        scratch: &mut Vec<u8>,
    ) -> Option<u32> {
        if first == u32::MAX {
            return None;
        }
        let Some(more) = self.more_rows.get(&h) else {
            return self.verify(first, content, scratch).then_some(first);
        };
        if let Some(p) = prefer.filter(|p| *p == first || more.contains(p)) {
            if self.verify(p, content, scratch) {
                return Some(p);
            }
        }
        self.candidates(h)
            .find(|&r| self.verify(r, content, scratch))
    }

    /// Loads the rows' entries, then every cache line of their bytes, each step for all
    /// rows at once, so that the cache misses of a batch overlap instead of following one
    /// another (an index of a million rows does not fit in the cache). Returns a value only
    /// to keep the loads.
    pub fn touch(&self, rows: &[u32]) -> u64 {
        let mut at = [(0usize, 0usize, u32::MAX); 64];
        let mut n = 0;
        for &r in rows.iter().take(64) {
            if let Some(row) = self.rows.get(r as usize) {
                at[n] = (
                    usize::try_from(row.start).unwrap_or(usize::MAX),
                    row.len as usize,
                    row.file,
                );
                n += 1;
            }
        }
        let mut acc = 0u64;
        for &(start, len, file) in &at[..n] {
            let Some(d) = self
                .files
                .get(file as usize)
                .and_then(|f| f.data.as_deref())
            else {
                continue;
            };
            let Some(b) = d.get(start..start.saturating_add(len)) else {
                continue;
            };
            // One byte of every cache line the row touches: every 64th byte and the last.
            for c in b.chunks(64) {
                acc = acc.wrapping_add(u64::from(c[0]));
            }
            acc = acc.wrapping_add(u64::from(b.last().copied().unwrap_or(0)));
        }
        std::hint::black_box(acc)
    }

    /// Reads row `r` back from its file and compares it with `content`.
    pub fn verify(&self, r: u32, content: &[u8], scratch: &mut Vec<u8>) -> bool {
        let Some(row) = self.rows.get(r as usize) else {
            return false;
        };
        if row.len as usize != content.len() {
            return false;
        }
        let Some(f) = self.files.get(row.file as usize) else {
            return false;
        };
        if let Some(d) = &f.data {
            let start = usize::try_from(row.start).unwrap_or(usize::MAX);
            return d.get(start..start.saturating_add(content.len())) == Some(content);
        }
        scratch.resize(content.len(), 0);
        read_at(&f.handle, scratch, row.start).is_ok() && scratch[..] == *content
    }

    /// Keys found in `hay` as whole tokens (not inside a longer run of letters and
    /// digits), as key ids (each once, in order of first occurrence).
    pub fn keys_in(&self, hay: &[u8]) -> Vec<u32> {
        if self.alnum_keys {
            let mut out: Vec<u32> = Vec::new();
            self.tokens(hay, false, &mut out);
            out.sort_unstable();
            out.dedup();
            return out;
        }
        let Some(ac) = &self.ac else {
            return Vec::new();
        };
        let mut out: Vec<u32> = Vec::new();
        for m in ac.find_iter(hay) {
            // A key must not be part of a longer token (e.g. inside a longer number).
            let before = m.start().checked_sub(1).and_then(|i| hay.get(i));
            let after = hay.get(m.end());
            let alnum = |b: Option<&u8>| b.is_some_and(u8::is_ascii_alphanumeric);
            if alnum(before) || alnum(after) {
                continue;
            }
            let id = m.pattern().as_u32();
            if !out.contains(&id) {
                out.push(id);
            }
        }
        out
    }

    /// The key equal to token `tok`, if any.
    fn token_key(&self, tok: &[u8]) -> Option<u32> {
        let (lo, hi) = self.key_len;
        if tok.len() < lo || tok.len() > hi {
            return None;
        }
        // A cache-resident filter first: most tokens of ordinary traffic are not keys and
        // never touch the key table.
        let h = row_hash(tok);
        if !filter_has(&self.key_filter, h) {
            return None;
        }
        self.key_lookup_hashed(tok, h)
    }

    /// Keys among the tokens of `hay` (alphanumeric keys only). With `open_end`, a token
    /// that reaches the end of `hay` may go on: it is not looked up, and its start is
    /// returned.
    ///
    /// Tokens are runs of ASCII letters and digits, even when every key is digits:
    /// `ORD100000001` is another identifier, not a sighting of key `100000001` (a key run
    /// together with letters is missed rather than claimed).
    fn tokens(&self, hay: &[u8], open_end: bool, out: &mut Vec<u32>) -> Option<usize> {
        let mut open = None;
        for_each_token(hay, |start, end| {
            if open_end && end == hay.len() {
                open = Some(start);
            } else {
                out.extend(self.token_key(&hay[start..end]));
            }
        });
        open
    }

    /// Keys in one more segment of a stream (as [`RecoveredIndex::keys_in`], appended to
    /// `out` unsorted): a token cut by the segment's end is carried into the next segment,
    /// so a key split across two segments is found and a longer number split across them
    /// is not taken for a key. Call [`KeyCarry::gap`] when bytes are missing before
    /// `bytes`, and [`RecoveredIndex::keys_end`] when the stream ends.
    pub fn keys_in_stream(&self, carry: &mut KeyCarry, bytes: &[u8], out: &mut Vec<u32>) {
        if !self.alnum_keys {
            // Any byte may be part of a key: look at the junction with the previous segment
            // (the last longest-key bytes of it and as many of this one), then this one.
            let keep = self.max_key_len();
            if !carry.tail.is_empty() {
                let mut j = std::mem::take(&mut carry.tail);
                j.extend_from_slice(&bytes[..bytes.len().min(keep)]);
                out.extend(self.keys_in(&j));
            }
            out.extend(self.keys_in(bytes));
            carry.tail = bytes[bytes.len().saturating_sub(keep)..].to_vec();
            return;
        }
        let class = |b: &u8| ALNUM[usize::from(*b)];
        let mut from = 0;
        if !carry.tail.is_empty() || carry.unknown {
            // The token the previous segment ended in goes on here.
            let e = bytes.iter().position(|b| !class(b)).unwrap_or(bytes.len());
            if !carry.unknown {
                carry.push(&bytes[..e], self.key_len.1);
            }
            if e == bytes.len() {
                return;
            }
            if !carry.unknown {
                out.extend(self.token_key(&carry.tail));
            }
            carry.tail.clear();
            carry.unknown = false;
            from = e;
        }
        let rest = &bytes[from..];
        if let Some(start) = self.tokens(rest, true, out) {
            carry.push(&rest[start..], self.key_len.1);
        }
    }

    /// The stream ended: the token it ended in is complete.
    pub fn keys_end(&self, carry: &mut KeyCarry, out: &mut Vec<u32>) {
        if self.alnum_keys && !carry.unknown && !carry.tail.is_empty() {
            out.extend(self.token_key(&carry.tail));
        }
        *carry = KeyCarry::default();
    }

    /// The key bytes of key id `k`.
    pub fn key(&self, k: u32) -> &[u8] {
        self.key_pos
            .get(k as usize)
            .and_then(|&(start, len)| {
                let start = usize::try_from(start).ok()?;
                self.key_data.get(start..start + len as usize)
            })
            .unwrap_or(&[])
    }

    /// The first row carrying key id `k`.
    pub fn first_row_of_key(&self, k: u32) -> Option<u32> {
        self.key_first.get(k as usize).copied()
    }

    /// Rows carrying key id `k`, in file order.
    pub fn rows_of_key(&self, k: u32) -> Vec<u32> {
        self.first_row_of_key(k)
            .into_iter()
            .chain(self.key_more.get(&k).into_iter().flatten().copied())
            .collect()
    }

    /// Bytes of each traffic line to keep for matching: whole rows are looked up directly,
    /// and up to three rows' worth around them lets a row be found inside a longer line
    /// (a prefix, a suffix, records joined by another separator).
    pub fn line_keep(&self) -> usize {
        4 * self.max_len as usize + 2
    }

    /// Row `r`'s content (without its terminator) into `out`.
    pub fn row_content(&self, r: u32, out: &mut Vec<u8>) -> bool {
        let Some(row) = self.rows.get(r as usize) else {
            return false;
        };
        let Some(f) = self.files.get(row.file as usize) else {
            return false;
        };
        out.clear();
        if let Some(d) = &f.data {
            let start = usize::try_from(row.start).unwrap_or(usize::MAX);
            match d.get(start..start.saturating_add(row.len as usize)) {
                Some(b) => {
                    out.extend_from_slice(b);
                    true
                }
                None => false,
            }
        } else {
            out.resize(row.len as usize, 0);
            read_at(&f.handle, out, row.start).is_ok()
        }
    }

    /// The recovered files that are archives, as stored (for [`RecordShape::archives`]).
    ///
    /// [`RecordShape::archives`]: crate::RecordShape::archives
    pub fn archives(&self) -> Vec<std::sync::Arc<[u8]>> {
        self.files.iter().filter_map(|f| f.raw.clone()).collect()
    }

    /// Length of the longest key.
    pub fn max_key_len(&self) -> usize {
        self.key_len.1
    }

    /// Number of distinct keys.
    pub fn key_count(&self) -> usize {
        self.key_pos.len()
    }
}

#[cfg(unix)]
pub(crate) fn read_at(f: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    f.read_exact_at(buf, offset)
}

#[cfg(not(unix))]
pub(crate) fn read_at(f: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom};
    let mut f = f.try_clone()?;
    f.seek(SeekFrom::Start(offset))?;
    f.read_exact(buf)
}

/// Which files start with a header line, decided the way the record model does.
pub fn headers_of(paths: &[PathBuf], format: &RecordFormat, header: crate::Header) -> Vec<bool> {
    paths.iter().map(|p| header_of(p, format, header)).collect()
}

pub(crate) fn header_of(p: &Path, format: &RecordFormat, header: crate::Header) -> bool {
    if matches!(header, crate::Header::Auto) && !matches!(format, RecordFormat::Fixed(_)) {
        let Ok(f) = File::open(p) else {
            return false;
        };
        let mut head = Vec::new();
        let _ = f.take(1 << 16).read_to_end(&mut head);
        if crate::inflate::sniff_archive(&head).is_some() {
            head = crate::inflate::recovered_bytes(p)
                .map(|(mut v, _)| {
                    v.truncate(1 << 16);
                    v
                })
                .unwrap_or_default();
        }
        return crate::recovered::header_in(&head, format, header);
    }
    crate::recovered::header_in(&[], format, header)
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
