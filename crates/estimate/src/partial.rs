//! One bucket of a split run (`analyze --partial`) and the merge of every bucket's partial
//! output into one run's (`merge`), DESIGN §12, decision 0028.
//!
//! A bucket task reads its bucket file of every split capture in the run's order, with the
//! run's DNS packets from the splits' `dns.pcapng`, and replays what the shard of a sharded
//! run would have seen: at each packet's global ordinal (the packets of the earlier files
//! plus its `packet=` ordinal) it looks for idle flows where the run's clock entered a new
//! sweep slot, hands the packet to its tracker at the run's clock, and learns each DNS
//! answer right after the packet that carried it. Each closed flow is written to
//! `flows.bin` with its tag, the point where one pass would have closed it, so `merge` puts
//! every bucket's closed flows back in one pass's order, exactly as the merging thread of a
//! sharded run does.

use crate::analysis::FlowCounts;
use crate::collect::ContentStats;
use crate::daily::{DayRows, FlowDay, SUMS};
use crate::flowtable::{Col, Table, TableWriter};
use crate::pipeline::{FileRead, Read};
use crate::shard::{ClosedFlow, DnsReader, Gather, ShardSink, Tag, Worker};
use crate::split::{bucket_file, read_split, Provenance, SplitFile};
use exfilmeter_flow::{Day, Tracker, TrackerConfig, TrackerStats};
use exfilmeter_ingest::{Decoded, Decoder, FileId, Frame, FrameRef, LinkType, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BinaryHeap;
use std::io::{self, BufRead, BufReader, BufWriter, Read as _, Write};
use std::path::{Path, PathBuf};

/// Format version of a partial folder (`partial.json`, `flows.bin`).
pub const PARTIAL_VERSION: u32 = 3;

/// The split captures of a run, in the run's order.
#[derive(Debug, Clone)]
pub struct SplitSet {
    /// Each capture's split folder and `split.json`, by index.
    pub files: Vec<(PathBuf, SplitFile)>,
    /// Buckets of every split.
    pub buckets: usize,
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

impl SplitSet {
    /// Reads the splits under `dirs`: each is a split folder (`file=<index>`, with its
    /// `split.json`) or a folder of them. Every capture of the run must be there once
    /// (indices 0 to n−1), split into the same number of buckets.
    pub fn load(dirs: &[PathBuf]) -> io::Result<SplitSet> {
        let mut found: Vec<PathBuf> = Vec::new();
        for d in dirs {
            if d.join("split.json").is_file() {
                found.push(d.clone());
                continue;
            }
            let entries = std::fs::read_dir(d)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", d.display())))?;
            let mut sub: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("file="))
                        && p.join("split.json").is_file()
                })
                .collect();
            if sub.is_empty() {
                return Err(invalid(format!(
                    "{}: no split.json in it nor in a file=<index> folder under it",
                    d.display()
                )));
            }
            sub.sort();
            found.extend(sub);
        }
        let mut files = Vec::with_capacity(found.len());
        for dir in found {
            let sf = read_split(&dir)?;
            files.push((dir, sf));
        }
        files.sort_by_key(|(_, sf)| sf.index);
        for (i, (dir, sf)) in files.iter().enumerate() {
            if sf.index as usize != i {
                let what = if (sf.index as usize) < i {
                    format!("file {} is given twice ({})", sf.index, dir.display())
                } else {
                    format!("the split of file {i} of the run is missing")
                };
                return Err(invalid(format!("splits: {what}")));
            }
        }
        if let Some((dir, n)) = files
            .iter()
            .find_map(|(d, sf)| sf.run_files.map(|n| (d, n)))
            .filter(|(_, n)| *n as usize != files.len())
        {
            return Err(invalid(format!(
                "splits: {} says the run has {n} capture(s), {} are given (a split folder \
                 holding files of another run? split each run into a folder of its own)",
                dir.display(),
                files.len()
            )));
        }
        let buckets = files.first().map_or(0, |(_, sf)| sf.buckets);
        if let Some((dir, sf)) = files.iter().find(|(_, sf)| sf.buckets != buckets) {
            return Err(invalid(format!(
                "{}: split into {} buckets, the others into {buckets}",
                dir.display(),
                sf.buckets
            )));
        }
        let filter = files.first().and_then(|(_, sf)| sf.filter.clone());
        if let Some((dir, _)) = files.iter().find(|(_, sf)| sf.filter != filter) {
            return Err(invalid(format!(
                "{}: split with another --filter than the first file's",
                dir.display()
            )));
        }
        Ok(SplitSet { files, buckets })
    }

    /// What the run read, as one pass reports it: every file that could be opened (a file
    /// found in a folder that is not a capture is left out), and whether any input could not
    /// be opened or is damaged.
    pub fn read(&self) -> Read {
        let mut read = Read::default();
        for (_, sf) in &self.files {
            let Some(summary) = sf.summary.as_ref().filter(|_| sf.opened) else {
                read.partial = true;
                let why = sf.problem.clone().unwrap_or_else(|| "not opened".into());
                read.unreadable.push((sf.path.clone(), why));
                continue;
            };
            if sf.problem.is_some() {
                read.partial = true;
            }
            if sf.in_folder && summary.not_a_capture() {
                continue;
            }
            read.partial |= !summary.errors.is_empty();
            read.files.push(FileRead {
                name: sf.name.clone(),
                summary: summary.clone(),
                tunnels: sf.tunnels.clone(),
            });
        }
        read
    }

    /// Bytes a bucket task reads: the bucket's files and the DNS files of every opened split.
    pub fn bucket_bytes(&self, bucket: usize) -> u64 {
        let size = |p: PathBuf| std::fs::metadata(p).map_or(0, |m| m.len());
        self.files
            .iter()
            .filter(|(_, sf)| sf.opened)
            .map(|(d, _)| size(d.join(bucket_file(bucket))) + size(d.join("dns.pcapng")))
            .sum()
    }

    /// The problems to report, one line per input and problem, as a run reports them.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (_, sf) in &self.files {
            // Named by its path, as one run names it (also a capture that could not be opened).
            let shown = sf
                .summary
                .as_ref()
                .map_or_else(|| sf.path.clone(), |s| s.path.clone());
            if let Some(p) = &sf.problem {
                out.push(format!("exfilmeter: {shown}: {p}"));
            }
            if let Some(s) = &sf.summary {
                if sf.in_folder && s.not_a_capture() {
                    continue;
                }
                for e in &s.errors {
                    out.push(format!("exfilmeter: {shown}: {e}"));
                }
            }
        }
        out
    }

    /// Each input's file name by its index (how the tables name frames).
    pub fn names(&self) -> Vec<String> {
        self.files.iter().map(|(_, sf)| sf.name.clone()).collect()
    }

    /// The flow-stage counters of the run: `tracker` (every bucket's added up), and the
    /// decoder's counters of every split.
    pub fn counts(&self, tracker: TrackerStats) -> FlowCounts {
        let mut c = FlowCounts {
            tracker,
            ..FlowCounts::default()
        };
        for (_, sf) in &self.files {
            c.decoded += sf.decoded;
            for (r, n) in &sf.skipped {
                *c.skipped.entry(r.clone()).or_insert(0) += n;
            }
        }
        c
    }

    /// Packets the splits' filter left out.
    pub fn filtered(&self) -> u64 {
        self.files.iter().map(|(_, sf)| sf.filtered).sum()
    }

    /// The filter the splits applied, as given.
    pub fn filter(&self) -> Option<&str> {
        self.files.first().and_then(|(_, sf)| sf.filter.as_deref())
    }

    /// Each input as the partials record it: index, name and SHA-256.
    fn inputs(&self) -> Vec<(u32, String, Option<String>)> {
        self.files
            .iter()
            .map(|(_, sf)| {
                (
                    sf.index,
                    sf.name.clone(),
                    sf.summary.as_ref().and_then(|s| s.sha256.clone()),
                )
            })
            .collect()
    }
}

/// A frame read back from a bucket or DNS file of a split.
struct Rec {
    ts: Timestamp,
    link: LinkType,
    orig_len: u32,
    prov: Provenance,
    data: Vec<u8>,
}

impl Rec {
    /// The frame as the run read it from its original file.
    fn frame(&self) -> Frame<'_> {
        Frame {
            ts: self.ts,
            ts_known: !self.prov.untimed,
            frame: FrameRef {
                file: FileId(self.prov.file),
                index: self.prov.frame,
                offset: self.prov.offset,
            },
            interface: 0,
            link: self.link,
            orig_len: self.orig_len,
            data: &self.data,
        }
    }
}

/// Reads the pcapng files `split` writes (little-endian, one comment per frame).
struct SplitReader {
    r: BufReader<std::fs::File>,
    path: PathBuf,
    offset: u64,
    links: Vec<LinkType>,
    body: Vec<u8>,
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_le_bytes)
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2)
        .and_then(|s| s.try_into().ok())
        .map(u16::from_le_bytes)
}

impl SplitReader {
    fn open(path: &Path) -> io::Result<SplitReader> {
        let f = std::fs::File::open(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        Ok(SplitReader {
            r: BufReader::with_capacity(1 << 20, f),
            path: path.to_path_buf(),
            offset: 0,
            links: Vec::new(),
            body: Vec::new(),
        })
    }

    fn bad(&self, what: &str) -> io::Error {
        invalid(format!(
            "{}: at byte offset {}: {what} (not a file written by exfilmeter split)",
            self.path.display(),
            self.offset
        ))
    }

    /// The next frame, `None` at the end of the file.
    fn next(&mut self) -> io::Result<Option<Rec>> {
        loop {
            let mut head = [0u8; 8];
            if self.r.fill_buf()?.is_empty() {
                return Ok(None);
            }
            self.r
                .read_exact(&mut head)
                .map_err(|_| self.bad("the file ends inside a block header"))?;
            let kind = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
            let total = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
            if total < 12 || total % 4 != 0 {
                return Err(self.bad("impossible block length"));
            }
            self.body.resize(total - 8, 0);
            self.r
                .read_exact(&mut self.body)
                .map_err(|_| self.bad("the file ends inside a block"))?;
            let at = self.offset;
            self.offset += total as u64;
            let b = &self.body[..total - 12];
            match kind {
                0x0A0D_0D0A if le32(b, 0) != Some(0x1A2B_3C4D) => {
                    self.offset = at;
                    return Err(self.bad("not a little-endian section"));
                }
                0x0000_0001 => {
                    let link = le16(b, 0).ok_or_else(|| self.bad("short interface block"))?;
                    self.links.push(LinkType(link));
                }
                0x0000_0006 => {
                    self.offset = at;
                    let rec = self.packet()?;
                    self.offset = at + total as u64;
                    return Ok(Some(rec));
                }
                _ => {}
            }
        }
    }

    fn packet(&self) -> io::Result<Rec> {
        let b = &self.body[..self.body.len() - 4];
        let field = |i: usize| le32(b, i * 4).ok_or_else(|| self.bad("short packet block"));
        let (iface, hi, lo, cap, orig) = (field(0)?, field(1)?, field(2)?, field(3)?, field(4)?);
        let link = *self
            .links
            .get(iface as usize)
            .ok_or_else(|| self.bad("packet of an undeclared interface"))?;
        let cap = cap as usize;
        let data = b
            .get(20..20 + cap)
            .ok_or_else(|| self.bad("packet longer than its block"))?
            .to_vec();
        let mut at = 20 + cap + (4 - cap % 4) % 4;
        let mut prov = None;
        while let (Some(code), Some(len)) = (le16(b, at), le16(b, at + 2)) {
            let len = usize::from(len);
            if code == 0 {
                break;
            }
            let value = b
                .get(at + 4..at + 4 + len)
                .ok_or_else(|| self.bad("option longer than its block"))?;
            if code == 1 {
                prov = std::str::from_utf8(value).ok().and_then(Provenance::parse);
            }
            at += 4 + len + (4 - len % 4) % 4;
        }
        let prov = prov.ok_or_else(|| self.bad("packet without its provenance comment"))?;
        Ok(Rec {
            ts: Timestamp(((u64::from(hi) << 32) | u64::from(lo)) as i64),
            link,
            orig_len: orig,
            prov,
            data,
        })
    }
}

/// One stream of a split file (bucket or DNS): its decoder, and the next packet's frame
/// (the held fragments before it are decoded as they are read).
struct Stream {
    reader: SplitReader,
    decoder: Decoder,
    next: Option<Rec>,
}

impl Stream {
    fn open(path: &Path) -> io::Result<Stream> {
        let mut s = Stream {
            reader: SplitReader::open(path)?,
            decoder: Decoder::default(),
            next: None,
        };
        s.advance()?;
        Ok(s)
    }

    /// Reads up to the next packet's frame.
    fn advance(&mut self) -> io::Result<()> {
        self.next = None;
        while let Some(rec) = self.reader.next()? {
            if rec.prov.packet.is_some() {
                self.next = Some(rec);
                break;
            }
            // A fragment held for reassembly: into the decoder now, in file order.
            let _ = self.decoder.decode(&rec.frame());
        }
        Ok(())
    }

    fn next_k(&self) -> u64 {
        self.next
            .as_ref()
            .and_then(|r| r.prov.packet)
            .unwrap_or(u64::MAX)
    }
}

/// What a bucket task read (its `partial.json` besides the closed flows).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BucketRead {
    /// Packets of the bucket handed to the tracker.
    pub packets: u64,
    /// DNS packets read for the run's answers.
    pub dns_packets: u64,
    /// Frames of the bucket whose packet did not decode again as `split` decoded it.
    pub undecoded: u64,
}

/// Runs bucket `bucket` of the splits `set` through `sink` (an attributing shard sink),
/// with a tracker of settings `cfg`; `dns`: learn the run's DNS answers (attribution).
/// Every closed flow goes to `out` with its tag, in tag order.
pub fn run_bucket<S: ShardSink>(
    set: &SplitSet,
    bucket: usize,
    cfg: TrackerConfig,
    dns: bool,
    sink: &mut S,
    out: &mut dyn FnMut(Vec<(Tag, ClosedFlow)>) -> io::Result<()>,
    progress: &mut dyn crate::pipeline::Progress,
) -> io::Result<(TrackerStats, BucketRead)> {
    if bucket >= set.buckets {
        return Err(invalid(format!(
            "--bucket {bucket}: the splits have buckets 0 to {}",
            set.buckets.saturating_sub(1)
        )));
    }
    let mut tracker = Tracker::new(cfg.clone());
    let mut answers = dns.then(|| DnsReader::new(cfg));
    let mut got = BucketRead::default();
    let mut w = Worker::new(&mut tracker, sink);
    // Packets of the files before, and the latest capture time over them.
    let mut before = 0u64;
    let mut clock_before = Timestamp(i64::MIN);
    // Bytes of the bucket and DNS files read in the files before (progress).
    let mut bytes_before = 0u64;
    let mut steps = 0u64;
    for (dir, sf) in &set.files {
        if !sf.opened {
            continue;
        }
        progress.file(&dir.display().to_string(), &sf.name);
        let mut own = Stream::open(&dir.join(bucket_file(bucket)))?;
        let mut side = match answers {
            Some(_) => Some(Stream::open(&dir.join("dns.pcapng"))?),
            None => None,
        };
        let mut slots = sf.slots.iter().peekable();
        loop {
            let ks = slots.peek().map_or(u64::MAX, |s| s.0);
            let kb = own.next_k();
            let kd = side.as_ref().map_or(u64::MAX, Stream::next_k);
            let k = ks.min(kb).min(kd);
            if k == u64::MAX {
                break;
            }
            if ks == k {
                if let Some(&(_, clock)) = slots.next() {
                    // The run's clock enters a new slot here only if this file's clock
                    // passes the earlier files' latest time.
                    if Tracker::sweep_slot(clock) > Tracker::sweep_slot(clock_before) {
                        w.tick(before + k, clock);
                        for e in answers.as_mut().map(|a| a.tick(clock)).unwrap_or_default() {
                            w.learn(&e);
                        }
                    }
                }
                continue;
            }
            if kb == k {
                if let Some(rec) = own.next.take() {
                    let now = rec.prov.clock.max(clock_before);
                    match own.decoder.decode(&rec.frame()) {
                        Decoded::Packet(p) => {
                            got.packets += 1;
                            w.packet(before + k, &p, now);
                        }
                        _ => got.undecoded += 1,
                    }
                }
                own.advance()?;
            }
            if kd == k {
                if let (Some(s), Some(a)) = (side.as_mut(), answers.as_mut()) {
                    if let Some(rec) = s.next.take() {
                        let now = rec.prov.clock.max(clock_before);
                        if let Decoded::Packet(p) = s.decoder.decode(&rec.frame()) {
                            got.dns_packets += 1;
                            for e in a.packet(&p, now) {
                                w.learn(&e);
                            }
                        }
                    }
                    s.advance()?;
                }
            }
            if w.tagged.len() >= 1024 {
                out(std::mem::take(&mut w.tagged))?;
            }
            steps += 1;
            if steps % crate::pipeline::TICK == 0 {
                let side_at = side.as_ref().map_or(0, |s| s.reader.offset);
                progress.advanced(bytes_before + own.reader.offset + side_at, 0);
            }
        }
        bytes_before += own.reader.offset + side.as_ref().map_or(0, |s| s.reader.offset);
        before += sf.packets;
        if let Some(c) = sf.clock_max {
            clock_before = clock_before.max(c);
        }
    }
    w.finish();
    out(std::mem::take(&mut w.tagged))?;
    Ok((tracker.stats().clone(), got))
}

/// `partial.json`: what a bucket task wrote beside its closed flows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartialFile {
    /// [`PARTIAL_VERSION`].
    pub version: u32,
    /// exfilmeter's version that wrote it.
    pub tool_version: String,
    /// The bucket.
    pub bucket: usize,
    /// Buckets of the run.
    pub buckets: usize,
    /// The inputs of the run: index, name, SHA-256.
    pub inputs: Vec<(u32, String, Option<String>)>,
    /// The settings that decide the flow stage's output (a merge refuses partials made with
    /// other settings than its own).
    pub settings: serde_json::Value,
    /// The bucket's tracker counters.
    pub tracker: TrackerStats,
    /// The bucket's content counters.
    pub content: ContentStats,
    /// Client→server bytes the sweep scanned.
    pub sweep_bytes: u64,
    /// Closed flows written to `flows.bin`.
    pub flows: u64,
    /// What was read.
    pub read: BucketRead,
}

/// Writes a bucket's closed flows (`flows.bin`: MessagePack, one (tag, closed flow) after the
/// other, in tag order) and its day × host volume (`daily/day=YYYY-MM-DD/part-<bucket>.parquet`).
pub struct PartialWriter {
    w: BufWriter<std::fs::File>,
    path: PathBuf,
    /// Closed flows written.
    pub flows: u64,
    /// The bucket's flow-day rows, summed as they come (held per day × host × address, not
    /// per flow).
    days: DayRows,
}

impl PartialWriter {
    /// Starts the partial folder `out` (created).
    pub fn create(out: &Path) -> io::Result<PartialWriter> {
        std::fs::create_dir_all(out)?;
        let path = out.join("flows.bin");
        let f = std::fs::File::create(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        Ok(PartialWriter {
            w: BufWriter::with_capacity(1 << 20, f),
            path,
            flows: 0,
            days: DayRows::default(),
        })
    }

    /// Writes closed flows, in tag order.
    pub fn write(&mut self, items: Vec<(Tag, ClosedFlow)>) -> io::Result<()> {
        for item in items {
            if let Some(c) = &item.1.content {
                for d in c.days() {
                    self.days.add(d.clone());
                }
            }
            rmp_serde::encode::write(&mut self.w, &item)
                .map_err(|e| io::Error::other(format!("{}: {e}", self.path.display())))?;
            self.flows += 1;
        }
        Ok(())
    }

    /// Ends `flows.bin` and writes the daily partitions under `out`, and `meta` as
    /// `partial.json`.
    pub fn finish(mut self, out: &Path, bucket: usize, meta: &PartialFile) -> io::Result<()> {
        self.w.flush()?;
        write_daily(&self.days, &out.join("daily"), bucket)?;
        let text = serde_json::to_string_pretty(meta).map_err(io::Error::other)?;
        std::fs::write(out.join("partial.json"), text + "\n")
    }
}

/// The columns of a partial daily table (each file is one day's, under `day=YYYY-MM-DD/`).
pub const PARTIAL_DAILY_COLUMNS: [&str; 6] = [
    "direction",
    "host",
    "indicator",
    "server_name",
    "server_ip",
    "flows",
];

/// One bucket's flow-day rows summed per day, direction, host, indicator, server name and
/// address: additive across buckets (a flow is in one bucket only).
fn write_daily(rows: &DayRows, dir: &Path, bucket: usize) -> io::Result<()> {
    // One row per key already (summed as the flows closed): sorted by day, direction, host,
    // indicator, server name and address.
    let key = |r: &FlowDay| {
        (
            r.day,
            !r.c2s,
            r.host.clone(),
            r.indicator.clone(),
            r.server_name.clone(),
            r.server_ip.clone(),
        )
    };
    let mut sorted: Vec<&FlowDay> = rows.rows().iter().collect();
    sorted.sort_by_cached_key(|r| key(r));
    for rows in sorted.chunk_by(|a, b| a.day == b.day) {
        let Some(first) = rows.first() else {
            continue;
        };
        let d = dir.join(format!("day={}", Day(first.day).date().format("%Y-%m-%d")));
        std::fs::create_dir_all(&d)?;
        let strs = |f: fn(&FlowDay) -> &str| -> Col {
            Col::Str(rows.iter().map(|r| f(r).to_string()).collect())
        };
        let mut cols: Vec<(String, Col)> = vec![
            (
                "direction".into(),
                strs(|r| if r.c2s { "c2s" } else { "s2c" }),
            ),
            ("host".into(), strs(|r| &r.host)),
            ("indicator".into(), strs(|r| &r.indicator)),
            ("server_name".into(), strs(|r| &r.server_name)),
            ("server_ip".into(), strs(|r| &r.server_ip)),
        ];
        type Field = fn(&FlowDay) -> u64;
        let fields: [Field; 12] = [
            |r| r.flows,
            |r| r.frames,
            |r| r.frame_bytes,
            |r| r.ip_bytes,
            |r| r.payload_bytes,
            |r| r.stream_bytes,
            |r| r.truncated_bytes,
            |r| r.retrans_bytes,
            |r| r.gap_bytes,
            |r| r.app_bytes,
            |r| r.control_bytes,
            |r| r.unsent_declared_bytes,
        ];
        for (name, f) in std::iter::once("flows").chain(SUMS).zip(fields) {
            cols.push((
                name.to_string(),
                Col::I64(
                    rows.iter()
                        .map(|r| i64::try_from(f(r)).unwrap_or(i64::MAX))
                        .collect(),
                ),
            ));
        }
        let t = Table::named(cols)?;
        let mut w = TableWriter::create(Some(&d.join(format!("part-{bucket:05}.parquet"))))?;
        w.write(&t)?;
        w.finish(&t)?;
    }
    Ok(())
}

/// The settings-independent description of a bucket's partial, for `partial.json`.
pub fn partial_file(
    set: &SplitSet,
    bucket: usize,
    settings: serde_json::Value,
    tracker: TrackerStats,
    content: (&ContentStats, u64),
    flows: u64,
    read: BucketRead,
) -> PartialFile {
    PartialFile {
        version: PARTIAL_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").into(),
        bucket,
        buckets: set.buckets,
        inputs: set.inputs(),
        settings,
        tracker,
        content: *content.0,
        sweep_bytes: content.1,
        flows,
        read,
    }
}

/// Reads a partial folder's `partial.json`.
pub fn read_partial(dir: &Path) -> io::Result<PartialFile> {
    let path = dir.join("partial.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let p: PartialFile =
        serde_json::from_str(&text).map_err(|e| invalid(format!("{}: {e}", path.display())))?;
    if p.version != PARTIAL_VERSION {
        return Err(invalid(format!(
            "{}: partial format {} (this exfilmeter reads {PARTIAL_VERSION})",
            path.display(),
            p.version
        )));
    }
    Ok(p)
}

/// Checks that `partials` are every bucket of the run `set` once, made with `settings`;
/// returns them in bucket order with their folders.
pub fn check_partials(
    set: &SplitSet,
    dirs: &[PathBuf],
    settings: &serde_json::Value,
) -> io::Result<Vec<(PathBuf, PartialFile)>> {
    let mut got: Vec<(PathBuf, PartialFile)> = Vec::new();
    for d in dirs {
        got.push((d.clone(), read_partial(d)?));
    }
    got.sort_by_key(|(_, p)| p.bucket);
    let inputs = set.inputs();
    for (i, (d, p)) in got.iter().enumerate() {
        let shown = d.display();
        if p.buckets != set.buckets {
            return Err(invalid(format!(
                "{shown}: a partial of a run of {} buckets; the splits have {}",
                p.buckets, set.buckets
            )));
        }
        if p.tool_version != env!("CARGO_PKG_VERSION") {
            return Err(invalid(format!(
                "{shown}: written by exfilmeter {}; this merge is {} (run every task with one version)",
                p.tool_version,
                env!("CARGO_PKG_VERSION")
            )));
        }
        if p.bucket != i {
            let what = if p.bucket < i {
                format!("bucket {} is given twice ({shown})", p.bucket)
            } else {
                format!("the partial of bucket {i} is missing")
            };
            return Err(invalid(format!("partials: {what}")));
        }
        if p.inputs != inputs {
            return Err(invalid(format!(
                "{shown}: made from other captures than the splits given (names or SHA-256 differ)"
            )));
        }
        if p.settings != *settings {
            let differ = differing(&p.settings, settings);
            return Err(invalid(format!(
                "{shown}: made with other settings than this merge ({})",
                differ.join(", ")
            )));
        }
    }
    if got.len() != set.buckets {
        return Err(invalid(format!(
            "partials: {} of the {} buckets given",
            got.len(),
            set.buckets
        )));
    }
    Ok(got)
}

/// The top-level keys whose values differ.
fn differing(a: &serde_json::Value, b: &serde_json::Value) -> Vec<String> {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return vec!["settings".into()];
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| k.to_string())
        .collect()
}

/// The closed flows of one partial, read in order.
/// Counts the bytes read through it (the byte offset of a record in `flows.bin`).
struct Counted<R> {
    inner: R,
    n: u64,
}

impl<R: io::Read> io::Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n += k as u64;
        Ok(k)
    }
}

struct FlowsIn {
    r: Counted<BufReader<std::fs::File>>,
    path: PathBuf,
}

impl FlowsIn {
    fn open(dir: &Path) -> io::Result<FlowsIn> {
        let path = dir.join("flows.bin");
        let f = std::fs::File::open(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        Ok(FlowsIn {
            r: Counted {
                inner: BufReader::with_capacity(1 << 20, f),
                n: 0,
            },
            path,
        })
    }

    fn next(&mut self) -> io::Result<Option<(Tag, ClosedFlow)>> {
        let at = self.r.n;
        let end = self
            .r
            .inner
            .fill_buf()
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.path.display())))?
            .is_empty();
        if end {
            return Ok(None);
        }
        rmp_serde::decode::from_read(&mut self.r)
            .map(Some)
            .map_err(|e| invalid(format!("{}: at byte offset {at}: {e}", self.path.display())))
    }
}

/// The closed flows of every partial in tag order (a k-way merge of the partials' streams,
/// each in tag order), in batches to `send` (which returns false to stop).
fn merged(
    partials: &[(PathBuf, PartialFile)],
    send: &mut dyn FnMut(Vec<ClosedFlow>) -> bool,
) -> io::Result<()> {
    let mut ins = Vec::with_capacity(partials.len());
    let mut heap = BinaryHeap::new();
    let mut held: Vec<Option<ClosedFlow>> = Vec::new();
    for (i, (d, _)) in partials.iter().enumerate() {
        let mut fin = FlowsIn::open(d)?;
        let first = fin.next()?;
        held.push(first.map(|(tag, c)| {
            heap.push(std::cmp::Reverse((tag, i)));
            c
        }));
        ins.push(fin);
    }
    let mut last: Option<Tag> = None;
    let mut batch = Vec::with_capacity(MERGE_BATCH);
    while let Some(std::cmp::Reverse((tag, i))) = heap.pop() {
        if last.is_some_and(|l| l >= tag) {
            return Err(invalid(format!(
                "{}: closed flows out of order (tag {tag:?} after {last:?})",
                ins[i].path.display()
            )));
        }
        last = Some(tag);
        if let Some(c) = held.get_mut(i).and_then(Option::take) {
            batch.push(c);
            if batch.len() == MERGE_BATCH && !send(std::mem::take(&mut batch)) {
                return Ok(());
            }
        }
        if let Some((t, c)) = ins[i].next()? {
            heap.push(std::cmp::Reverse((t, i)));
            held[i] = Some(c);
        }
    }
    if !batch.is_empty() {
        send(batch);
    }
    Ok(())
}

/// Closed flows merged before they are applied.
const MERGE_BATCH: usize = 256;

/// Merges the closed flows of `partials` into `gather` in one pass's close order (each
/// partial's are in tag order; tags are distinct across buckets). Returns the buckets'
/// tracker counters and content counters added up. (Decoding on a thread of its own, with
/// the flows handed over in batches, measured no faster on two cores: the table writer
/// already has the second one.)
pub fn merge_partials(
    partials: &[(PathBuf, PartialFile)],
    gather: &mut Gather<'_>,
) -> io::Result<(TrackerStats, ContentStats, u64)> {
    merged(partials, &mut |batch| {
        for c in batch {
            gather.apply(c);
        }
        true
    })?;
    let mut tracker = TrackerStats::default();
    let mut content = ContentStats::default();
    let mut sweep = 0;
    for (_, p) in partials {
        tracker.add(&p.tracker);
        content.add(&p.content);
        sweep += p.sweep_bytes;
    }
    Ok((tracker, content, sweep))
}
