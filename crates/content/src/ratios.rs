//! Compression ratios of the recovered records (decision 0023): every codec's ratio measured
//! on blocks taken from across the records, on all cores, until its 95 % interval is within
//! ±0.5 % — or on all the records where that is cheap — and cached by the records' SHA-256.
//!
//! - Codecs with a short history (deflate and gzip: 32 KiB; zstd-1: 512 KiB; zstd-3: 2 MiB)
//!   are measured on blocks that each carry the history they would have in the whole stream:
//!   the bytes before the block are compressed first, the stream flushed, and only what the
//!   block adds is counted. Without that, a 256 KiB block of deflate-6 reads 2.4 % low.
//! - Codecs with an 8 MiB window (zstd-19, xz-6) keep decision 0018: all records up to
//!   32 MiB, beyond that the first and the last 16 MiB.
//!
//! The blocks, their order and the rounds of growth are fixed by the records' size alone, so
//! the result does not depend on the number of threads.

use crate::recovered::RecoveredFile;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Version of the measurement rules: a cache entry of another version is not used.
pub const RATIO_RULES: u32 = 1;

/// Relative half-width of the 95 % interval at which a codec's sampling stops.
pub const TARGET_HALF_WIDTH: f64 = 0.005;

/// How one codec is measured.
#[derive(Debug, Clone, Copy)]
struct Rule {
    codec: &'static str,
    /// Bytes before a block compressed with it as its history (0: blocks stand alone).
    history: usize,
    /// Block size.
    block: usize,
    /// Records up to this size are compressed whole.
    whole_max: u64,
    /// Blocks of the first round.
    min_blocks: usize,
    /// At most this many blocks.
    max_blocks: usize,
    /// Rough cost per byte relative to deflate (the slowest tasks are started first).
    weight: usize,
}

const fn deflate(codec: &'static str) -> Rule {
    Rule {
        codec,
        history: 32 << 10,
        block: 256 << 10,
        whole_max: 2 << 20,
        min_blocks: 8,
        max_blocks: usize::MAX,
        weight: 10,
    }
}

const fn zstd_fast(codec: &'static str, history: usize) -> Rule {
    Rule {
        codec,
        history,
        block: 4 << 20,
        whole_max: 64 << 20,
        min_blocks: 4,
        max_blocks: usize::MAX,
        weight: 1,
    }
}

const fn large(codec: &'static str) -> Rule {
    Rule {
        codec,
        history: 0,
        block: 16 << 20,
        whole_max: 32 << 20,
        min_blocks: 2,
        max_blocks: 2,
        weight: 300,
    }
}

/// The codecs measured (gzip-6 is derived from deflate-6: the same deflate stream with an
/// 18-byte gzip header and trailer), in report order.
const RULES: [Rule; 13] = [
    deflate("deflate-1"),
    deflate("deflate-2"),
    deflate("deflate-3"),
    deflate("deflate-4"),
    deflate("deflate-5"),
    deflate("deflate-6"),
    deflate("deflate-7"),
    deflate("deflate-8"),
    deflate("deflate-9"),
    zstd_fast("zstd-1", 512 << 10),
    zstd_fast("zstd-3", 2 << 20),
    large("zstd-19"),
    // xz stands in for rar (LZMA-family archivers).
    large("xz-6"),
];

/// gzip's header (10 bytes, as written by the encoder used here) and trailer (8 bytes).
pub(crate) const GZIP_FRAMING: u64 = 18;

/// One codec's ratio on the recovered records (`raw / compressed`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CodecRatio {
    /// e.g. `deflate-6`, `gzip-6`, `zstd-3`, `xz-6`.
    pub codec: String,
    /// Compressed bytes of what was measured (the whole, or the blocks).
    pub compressed: u64,
    /// Raw bytes measured (the records' bytes, or the blocks').
    pub measured: u64,
    /// Blocks measured (0: the records compressed whole).
    pub blocks: u32,
    /// raw / compressed.
    pub ratio: f64,
    /// Relative half-width of the ratio's 95 % interval from the blocks (0 when measured
    /// whole, or on every block).
    pub half_width: f64,
}

/// Where the ratios came from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RatioSource {
    /// The cache entry (read, or written by this run); None without a cache.
    pub cache: Option<PathBuf>,
    /// The entry was there: nothing was compressed.
    pub hit: bool,
    /// The cache key (SHA-256 of the records' files, the format, the header decisions and
    /// the rules' version).
    pub key: String,
    /// SHA-256 of the cache entry's bytes.
    pub entry_sha256: Option<String>,
    /// Why the cache could not be used or written (the ratios were measured all the same).
    pub warning: Option<String>,
}

/// Measured (raw, compressed) pairs of one codec: one pair for the whole, else per block.
#[derive(Debug, Clone, PartialEq)]
struct Measured {
    codec: &'static str,
    whole: bool,
    /// Blocks available (the population the blocks are drawn from).
    slots: usize,
    pairs: Vec<(u64, u64)>,
}

/// The records of the recovered files as one stream of bytes (their header lines left out).
pub(crate) struct Stream<'a> {
    segs: Vec<(&'a RecoveredFile, u64, u64)>,
    pub(crate) total: u64,
}

impl<'a> Stream<'a> {
    /// `regions[i]`: the (start, length) of file i's records.
    pub(crate) fn new(files: &'a [RecoveredFile], regions: &[(u64, u64)]) -> Stream<'a> {
        let segs: Vec<_> = files
            .iter()
            .zip(regions)
            .filter(|(_, r)| r.1 > 0)
            .map(|(f, &(s, l))| (f, s, l))
            .collect();
        let total = segs.iter().map(|s| s.2).sum();
        Stream { segs, total }
    }

    /// `len` bytes from `offset` of the stream.
    fn read(&self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(len);
        let mut base = 0u64;
        for &(f, start, seg) in &self.segs {
            let want = offset + out.len() as u64;
            if out.len() == len {
                break;
            }
            if want >= base + seg {
                base += seg;
                continue;
            }
            let at = want - base;
            let n = ((seg - at) as usize).min(len - out.len());
            match f.bytes() {
                Some(d) => {
                    let s = usize::try_from(start + at).unwrap_or(usize::MAX);
                    out.extend_from_slice(d.get(s..s + n).unwrap_or(&[]));
                }
                None => {
                    let from = out.len();
                    out.resize(from + n, 0);
                    crate::index::read_at(&f.handle, &mut out[from..], start + at)?;
                }
            }
            base += seg;
        }
        Ok(out)
    }
}

/// What `block` adds to `codec`'s output when `history` was compressed before it in the
/// same stream: the history is written and the stream flushed (the codec's window keeps it),
/// then only the bytes the block adds are counted (0: the codec failed). The flush ends an
/// entropy-coded block early, which costs each measured block about one table (~100 bytes
/// for deflate: −0.15 % on the ratio of 256 KiB blocks).
fn primed_size(codec: &str, history: &[u8], block: &[u8]) -> u64 {
    let (name, level) = codec.split_once('-').unwrap_or((codec, "6"));
    let level: u32 = level.parse().unwrap_or(6);
    let sizes = match name {
        "deflate" => {
            let mut e =
                flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(level));
            measure(&mut e, history, block, |e| e.get_ref().len())
                .and_then(|mark| e.finish().ok().map(|v| (mark, v.len())))
        }
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
            measure(&mut e, history, block, |e| e.get_ref().len())
                .and_then(|mark| e.finish().ok().map(|v| (mark, v.len())))
        }
        "zstd" => i32::try_from(level)
            .ok()
            .and_then(|l| zstd::stream::write::Encoder::new(Vec::new(), l).ok())
            .and_then(|mut e| {
                measure(&mut e, history, block, |e| e.get_ref().len())
                    .and_then(|mark| e.finish().ok().map(|v| (mark, v.len())))
            }),
        "xz" => {
            let mut e = xz2::write::XzEncoder::new(Vec::new(), level);
            measure(&mut e, history, block, |e| e.get_ref().len())
                .and_then(|mark| e.finish().ok().map(|v| (mark, v.len())))
        }
        _ => None,
    };
    sizes.map_or(0, |(mark, end)| end.saturating_sub(mark) as u64)
}

/// Writes `history`, flushes, notes the output length, writes `block`.
fn measure<W: Write>(
    e: &mut W,
    history: &[u8],
    block: &[u8],
    len: impl Fn(&W) -> usize,
) -> Option<usize> {
    let mut mark = 0;
    if !history.is_empty() {
        e.write_all(history).ok()?;
        e.flush().ok()?;
        mark = len(e);
    }
    e.write_all(block).ok()?;
    Some(mark)
}

/// Start offsets of the `k` blocks of `block` bytes evenly spaced over `total` bytes (the
/// first at 0, the last ending at `total`).
fn slots(total: u64, block: usize) -> Vec<u64> {
    let b = block as u64;
    let k = (total / b).max(1);
    if k == 1 {
        return vec![0];
    }
    (0..k)
        .map(|i| ((u128::from(i) * u128::from(total - b)) / u128::from(k - 1)) as u64)
        .collect()
}

/// The order blocks are taken in: the first, the last, then by halving the gaps (1/2, 1/4,
/// 3/4, 1/8 …), so every prefix of the order is spread across the records.
fn order(k: usize) -> Vec<usize> {
    if k <= 1 {
        return (0..k).collect();
    }
    let mut seen = vec![false; k];
    let mut out = Vec::with_capacity(k);
    let mut push = |i: usize, out: &mut Vec<usize>| {
        if !seen[i] {
            seen[i] = true;
            out.push(i);
        }
    };
    push(0, &mut out);
    push(k - 1, &mut out);
    let mut den = 2u64;
    while out.len() < k {
        for num in (1..den).step_by(2) {
            let i = ((num as f64 / den as f64) * (k - 1) as f64).round() as usize;
            push(i.min(k - 1), &mut out);
        }
        den *= 2;
        if den > (k as u64) * 4 {
            for i in 0..k {
                push(i, &mut out);
            }
        }
    }
    out
}

/// 97.5 % quantile of Student's t with `df` degrees of freedom.
fn t975(df: usize) -> f64 {
    const T: [f64; 10] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    ];
    if df == 0 {
        return f64::INFINITY;
    }
    if df <= T.len() {
        return T[df - 1];
    }
    // Cornish–Fisher expansion (within 0.001 from 10 degrees of freedom on).
    let z: f64 = 1.959_964;
    let d = df as f64;
    z + (z.powi(3) + z) / (4.0 * d)
        + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * d * d)
}

impl Measured {
    /// Ratio of the sums, and the relative half-width of its 95 % interval (the ratio
    /// estimator's linearised variance, with the finite-population correction).
    fn ratio(&self) -> (f64, f64) {
        let x: u64 = self.pairs.iter().map(|p| p.0).sum();
        let y: u64 = self.pairs.iter().map(|p| p.1).sum();
        if y == 0 {
            return (0.0, 0.0);
        }
        let r = x as f64 / y as f64;
        let k = self.pairs.len();
        if self.whole || k < 2 || k >= self.slots {
            return (r, 0.0);
        }
        let ybar = y as f64 / k as f64;
        let s2 = self
            .pairs
            .iter()
            .map(|&(a, b)| (a as f64 - r * b as f64).powi(2))
            .sum::<f64>()
            / (k - 1) as f64;
        let fpc = 1.0 - k as f64 / self.slots as f64;
        let se = (fpc * s2 / k as f64).sqrt() / ybar;
        (r, t975(k - 1) * se / r)
    }

    /// The ratio of `codec`; `extra` bytes of framing (gzip's) added once to the records'
    /// (`total` bytes) estimated compressed size.
    fn to_ratio(&self, codec: &str, extra: u64, total: u64) -> Option<CodecRatio> {
        let measured: u64 = self.pairs.iter().map(|p| p.0).sum();
        let compressed: u64 = self.pairs.iter().map(|p| p.1).sum();
        if compressed == 0 || self.pairs.iter().any(|p| p.1 == 0) {
            return None;
        }
        let (r, half) = self.ratio();
        let ratio = if extra == 0 {
            r
        } else if self.whole {
            measured as f64 / (compressed + extra) as f64
        } else {
            total as f64 / (total as f64 / r + extra as f64)
        };
        Some(CodecRatio {
            codec: codec.to_string(),
            compressed: compressed + if self.whole { extra } else { 0 },
            measured,
            blocks: if self.whole {
                0
            } else {
                self.pairs.len() as u32
            },
            ratio,
            half_width: half,
        })
    }
}

/// Measures every codec on `stream` with `threads` threads.
fn measure_all(stream: &Stream<'_>, threads: usize) -> std::io::Result<Vec<Measured>> {
    measure_with(stream, threads, &RULES)
}

/// One codec's progress through its blocks.
struct Progress {
    rule: Rule,
    m: Measured,
    /// Start of every block available.
    starts: Vec<u64>,
    /// The order they are taken in.
    order: Vec<usize>,
    /// Blocks handed out so far.
    taken: usize,
}

/// One compression to do: codec, block start, block length, history length before it.
#[derive(Debug, Clone, Copy)]
struct Task {
    codec: usize,
    start: u64,
    len: usize,
    history: usize,
}

/// (task, (raw, compressed)) pairs computed by one thread.
type Done = Vec<(usize, (u64, u64))>;

/// Measures the codecs of `rules` on `stream` with `threads` threads.
fn measure_with(
    stream: &Stream<'_>,
    threads: usize,
    rules: &[Rule],
) -> std::io::Result<Vec<Measured>> {
    let n = stream.total;
    let mut state: Vec<Progress> = rules
        .iter()
        .map(|&rule| {
            let whole = n <= rule.whole_max;
            let starts = if whole { vec![0] } else { slots(n, rule.block) };
            Progress {
                rule,
                order: order(starts.len()),
                m: Measured {
                    codec: rule.codec,
                    whole,
                    slots: starts.len(),
                    pairs: Vec::new(),
                },
                starts,
                taken: 0,
            }
        })
        .collect();
    // A round takes, for every codec not yet converged, its next blocks: the first round its
    // minimum, every later one as many again as it has (doubling).
    loop {
        let mut tasks: Vec<Task> = Vec::new();
        for (ci, p) in state.iter_mut().enumerate() {
            if p.m.whole {
                if p.taken == 0 {
                    tasks.push(Task {
                        codec: ci,
                        start: 0,
                        len: usize::try_from(n).unwrap_or(usize::MAX),
                        history: 0,
                    });
                    p.taken = 1;
                }
                continue;
            }
            let done = p.taken >= p.starts.len()
                || p.taken >= p.rule.max_blocks
                || (p.taken >= p.rule.min_blocks && p.m.ratio().1 <= TARGET_HALF_WIDTH);
            if done {
                continue;
            }
            let want = if p.taken == 0 {
                p.rule.min_blocks
            } else {
                p.taken * 2
            };
            let upto = want.min(p.starts.len()).min(p.rule.max_blocks);
            for &slot in &p.order[p.taken..upto] {
                let start = p.starts[slot];
                tasks.push(Task {
                    codec: ci,
                    start,
                    len: p.rule.block.min(usize::try_from(n).unwrap_or(usize::MAX)),
                    history: (p.rule.history as u64).min(start) as usize,
                });
            }
            p.taken = upto;
        }
        if tasks.is_empty() {
            break;
        }
        // Largest first, so the slow codecs' blocks start at once.
        let mut idx: Vec<usize> = (0..tasks.len()).collect();
        idx.sort_by_key(|&i| {
            let t = &tasks[i];
            std::cmp::Reverse((t.len + t.history) * state[t.codec].rule.weight)
        });
        let next = AtomicUsize::new(0);
        let codecs: Vec<&str> = state.iter().map(|p| p.rule.codec).collect();
        let results: Vec<std::io::Result<Done>> = std::thread::scope(|s| {
            let work = || -> std::io::Result<Done> {
                let mut done = Vec::new();
                loop {
                    let j = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&ti) = idx.get(j) else {
                        return Ok(done);
                    };
                    let t = tasks[ti];
                    let bytes = stream.read(t.start - t.history as u64, t.len + t.history)?;
                    let (hist, block) = bytes.split_at(t.history.min(bytes.len()));
                    let z = primed_size(codecs[t.codec], hist, block);
                    done.push((ti, (block.len() as u64, z)));
                }
            };
            let handles: Vec<_> = (1..threads.max(1)).map(|_| s.spawn(work)).collect();
            let mut all = vec![work()];
            for h in handles {
                all.push(h.join().unwrap_or_else(|_| {
                    Err(std::io::Error::other("a compression thread panicked"))
                }));
            }
            all
        });
        let mut got: Vec<Option<(u64, u64)>> = vec![None; tasks.len()];
        for r in results {
            for (ti, p) in r? {
                got[ti] = Some(p);
            }
        }
        // In task order (codec, then block order): the same whatever thread did what.
        for (t, p) in tasks.iter().zip(got) {
            if let Some(p) = p {
                state[t.codec].m.pairs.push(p);
            }
        }
    }
    Ok(state.into_iter().map(|p| p.m).collect())
}

/// The ratios from measured pairs (gzip-6 derived from deflate-6), in report order.
fn ratios_of(measured: &[Measured], total: u64) -> Vec<CodecRatio> {
    let mut out = Vec::new();
    for m in measured {
        if let Some(r) = m.to_ratio(m.codec, 0, total) {
            out.push(r);
        }
        if m.codec == "deflate-9" {
            if let Some(r) = measured
                .iter()
                .find(|m| m.codec == "deflate-6")
                .and_then(|m| m.to_ratio("gzip-6", GZIP_FRAMING, total))
            {
                out.push(r);
            }
        }
    }
    out
}

/// Every codec's ratio on all of `raw` (no sampling, no history rule), on `threads`
/// threads, in report order: the reference the sampled measurement is checked against.
pub fn whole_ratios(raw: &[u8], threads: usize) -> Vec<(String, f64)> {
    let mut codecs: Vec<&str> = RULES.iter().map(|r| r.codec).collect();
    let at = codecs
        .iter()
        .position(|c| *c == "deflate-9")
        .map_or(0, |i| i + 1);
    codecs.insert(at, "gzip-6");
    let next = AtomicUsize::new(0);
    let mut sizes: Vec<(usize, u64)> = std::thread::scope(|s| {
        let work = || {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(c) = codecs.get(i) else {
                    return out;
                };
                out.push((i, primed_size(c, &[], raw)));
            }
        };
        let hs: Vec<_> = (1..threads.max(1)).map(|_| s.spawn(work)).collect();
        let mut all = work();
        for h in hs {
            all.extend(h.join().unwrap_or_default());
        }
        all
    });
    sizes.sort_unstable();
    sizes
        .into_iter()
        .filter(|(_, z)| *z > 0)
        .map(|(i, z)| (codecs[i].to_string(), raw.len() as f64 / z as f64))
        .collect()
}

/// The cache key of the records of `files` as `format` with their header decisions.
pub(crate) fn cache_key(files: &[RecoveredFile], format: &str) -> String {
    let mut h = Sha256::new();
    h.update(format!("exfilmeter ratios, rules {RATIO_RULES}\nformat {format}\n").as_bytes());
    for f in files {
        h.update(
            format!(
                "file {} {} header {}\n",
                f.sha256_hex(),
                f.stored_size,
                f.header
            )
            .as_bytes(),
        );
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn to_json(key: &str, total: u64, measured: &[Measured]) -> serde_json::Value {
    serde_json::json!({
        "rules": RATIO_RULES,
        "key": key,
        "record_bytes": total,
        "codecs": measured.iter().map(|m| serde_json::json!({
            "codec": m.codec,
            "whole": m.whole,
            "slots": m.slots,
            "pairs": m.pairs.iter().map(|p| [p.0, p.1]).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

fn from_json(v: &serde_json::Value, key: &str, total: u64) -> Option<Vec<Measured>> {
    if v.get("rules")?.as_u64()? != u64::from(RATIO_RULES)
        || v.get("key")?.as_str()? != key
        || v.get("record_bytes")?.as_u64()? != total
    {
        return None;
    }
    let codecs = v.get("codecs")?.as_array()?;
    if codecs.len() != RULES.len() {
        return None;
    }
    RULES
        .iter()
        .zip(codecs)
        .map(|(rule, c)| {
            if c.get("codec")?.as_str()? != rule.codec {
                return None;
            }
            let pairs = c
                .get("pairs")?
                .as_array()?
                .iter()
                .map(|p| Some((p.get(0)?.as_u64()?, p.get(1)?.as_u64()?)))
                .collect::<Option<Vec<_>>>()?;
            Some(Measured {
                codec: rule.codec,
                whole: c.get("whole")?.as_bool()?,
                slots: usize::try_from(c.get("slots")?.as_u64()?).ok()?,
                pairs,
            })
        })
        .collect()
}

fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// The ratios of the records: from the cache entry in `cache` when there is one for these
/// records, else measured on `threads` threads (and written to the cache).
pub(crate) fn ratios(
    files: &[RecoveredFile],
    stream: &Stream<'_>,
    format: &str,
    threads: usize,
    cache: Option<&Path>,
) -> std::io::Result<(Vec<CodecRatio>, RatioSource)> {
    let key = cache_key(files, format);
    let mut source = RatioSource {
        cache: None,
        hit: false,
        key: key.clone(),
        entry_sha256: None,
        warning: None,
    };
    if stream.total == 0 {
        return Ok((Vec::new(), source));
    }
    let entry = cache.map(|d| d.join(format!("ratios-{key}.json")));
    if let Some(p) = &entry {
        if let Ok(bytes) = std::fs::read(p) {
            let parsed = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| from_json(&v, &key, stream.total));
            match parsed {
                Some(m) => {
                    source.cache = Some(p.clone());
                    source.hit = true;
                    source.entry_sha256 = Some(sha256_hex(&bytes));
                    return Ok((ratios_of(&m, stream.total), source));
                }
                None => {
                    source.warning = Some(format!(
                        "{}: a cache entry that does not read as this version's; measured anew",
                        p.display()
                    ))
                }
            }
        }
    }
    let measured = measure_all(stream, threads)?;
    if let (Some(p), Some(dir)) = (&entry, cache) {
        let doc = to_json(&key, stream.total, &measured);
        let bytes = serde_json::to_vec_pretty(&doc).unwrap_or_default();
        let tmp = dir.join(format!(".ratios-{key}.{}.tmp", std::process::id()));
        let written = std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&tmp, &bytes))
            .and_then(|()| std::fs::rename(&tmp, p));
        match written {
            Ok(()) => {
                source.cache = Some(p.clone());
                source.entry_sha256 = Some(sha256_hex(&bytes));
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                source.warning = Some(format!(
                    "{}: the model cache could not be written ({e}); the ratios were measured",
                    dir.display()
                ));
            }
        }
    }
    Ok((ratios_of(&measured, stream.total), source))
}

/// The platform's cache folder for exfilmeter: `$XDG_CACHE_HOME/exfilmeter`, else
/// `~/.cache/exfilmeter` (`%LOCALAPPDATA%\exfilmeter` on Windows); None when neither is known.
pub fn default_cache_dir() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if cfg!(windows) {
        return env("LOCALAPPDATA").map(|d| d.join("exfilmeter"));
    }
    env("XDG_CACHE_HOME")
        .filter(|d| d.is_absolute())
        .or_else(|| env("HOME").map(|h| h.join(".cache")))
        .map(|d| d.join("exfilmeter"))
}

#[cfg(test)]
#[path = "ratios_tests.rs"]
mod tests;
