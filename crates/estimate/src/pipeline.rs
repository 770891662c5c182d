//! The one place packets enter the flow stage: capture files read in order as one sensor,
//! each frame decoded and handed to the flow tracker, whose events go to one sink — for an
//! attributed run the [`Attributor`](exfilmeter_intel::Attributor) in front of a [`Tee`] that
//! feeds the flow-ledger rows and the content ledger alike. `flows`, `analyze` and the
//! library tests all read their inputs through [`Pipeline::run`], so they see the same
//! packets in the same order with the same wiring.

use crate::collect::ContentLedger;
use exfilmeter_flow::{
    flow_hash, Direction, Endpoint, FlowId, FlowKey, FlowRecord, FlowSink, MetaEvent, Tracker,
    TrackerConfig, TrackerStats, Tunnels,
};
use exfilmeter_ingest::{
    CaptureReader, Decoded, Decoder, FileDigest, FileId, FileSummary, FrameRef, HashAlgo, Input,
    InputOrigin, Side, Timestamp,
};
use exfilmeter_intel::{Verdict, VerdictSink};

/// What the reader loop tells its caller while it runs (a progress display, warnings).
pub trait Progress {
    /// Input `shown` (its path as given; `name` its file name) is about to be read.
    fn file(&mut self, _shown: &str, _name: &str) {}
    /// Input bytes read so far over all files (every [`TICK`] frames), and flows so far.
    fn advanced(&mut self, _bytes: u64, _flows: u64) {}
    /// A problem with an input, as a line to show: it could not be opened, or it is damaged
    /// (the error names the byte offset).
    fn problem(&mut self, _line: &str) {}
    /// A file found in a folder is not a capture and was left out.
    fn ignored(&mut self, _shown: &str) {}
}

/// No progress display.
impl Progress for () {}

/// Frames between two [`Progress::advanced`] calls.
pub const TICK: u64 = 16_384;

/// One input that was read.
#[derive(Debug, Clone)]
pub struct FileRead {
    /// Its file name (how frames are named in the tables: `name#frame`).
    pub name: String,
    /// What was read.
    pub summary: FileSummary,
    /// The tunnels its packets came out of (packets the filter or the time window left out
    /// not counted).
    pub tunnels: Tunnels,
}

/// What [`Pipeline::run`] read.
#[derive(Debug, Clone, Default)]
pub struct Read {
    /// The inputs read, in order (not those that could not be opened, nor the files of a
    /// folder that are not captures).
    pub files: Vec<FileRead>,
    /// Some input could not be opened or is damaged.
    pub partial: bool,
    /// The inputs that could not be opened: path as given, and why (left out of every number).
    pub unreadable: Vec<(String, String)>,
}

impl Read {
    /// The tunnels of every input, joined in the run's order.
    pub fn tunnels(&self) -> Tunnels {
        let mut t = Tunnels::default();
        for f in &self.files {
            t.join(&f.tunnels);
        }
        t
    }

    /// Capture time of the first and the last frame over every input.
    pub fn span(&self) -> Option<(Timestamp, Timestamp)> {
        let first = self.files.iter().filter_map(|f| f.summary.first_ts).min();
        let last = self.files.iter().filter_map(|f| f.summary.last_ts).max();
        first.zip(last)
    }
}

/// Checks before a run that `input` can be read as a capture: it opens, and it starts as
/// pcap or pcapng (compressed or not). `Err` says why not. Standard input (`-`) is not probed
/// (it can be read only once). A capture damaged later on is not an error here: the run
/// reads what comes before the damage.
pub fn probe(input: &Input) -> Result<(), String> {
    if input.path.as_os_str() == "-" {
        return Ok(());
    }
    let mut r =
        CaptureReader::open(&input.path, FileId(0), HashAlgo::None).map_err(|e| e.to_string())?;
    if r.next_frame().is_some() {
        return Ok(());
    }
    match r.errors().first() {
        Some(e)
            if matches!(
                e.kind,
                exfilmeter_ingest::DamageKind::BadMagic | exfilmeter_ingest::DamageKind::Empty
            ) =>
        {
            Err(format!("not a capture ({e})"))
        }
        _ => Ok(()),
    }
}

/// The capture inputs of a run that can be read, or an error naming every input and why
/// none can: no file found, none opens, none is a capture. Inputs that cannot be read beside
/// readable ones are left to the run, which reports them and goes on.
pub fn readable_inputs(specs: &[String], inputs: &[Input]) -> Result<(), String> {
    if inputs.is_empty() {
        return Err(format!("no capture file found in {}", specs.join(", ")));
    }
    let problems: Vec<String> = inputs
        .iter()
        .filter_map(|i| probe(i).err().map(|e| format!("{}: {e}", i.path.display())))
        .collect();
    if problems.len() == inputs.len() {
        return Err(format!("no readable capture:\n  {}", problems.join("\n  ")));
    }
    Ok(())
}

/// The file name of every input, indexed by its [`FileId`] (frames refer to their file by
/// that index, whether the file could be read or not).
pub fn input_names(inputs: &[Input]) -> Vec<String> {
    inputs
        .iter()
        .map(|i| {
            i.path.file_name().map_or_else(
                || i.path.display().to_string(),
                |n| n.to_string_lossy().to_string(),
            )
        })
        .collect()
}

/// Decoder and flow tracker of one sensor's captures.
pub struct Pipeline {
    /// Frame decoding (link layers, tunnels, IP defragmentation).
    pub decoder: Decoder,
    /// Flows and TCP reassembly.
    pub tracker: Tracker,
    hash: HashAlgo,
    /// `--since`/`--until`: packets outside are left out (counted), flows crossing an edge
    /// are cut there (counted).
    pub window: Window,
    /// What the window left out.
    pub windowed: Windowed,
    /// `-f/--filter`: only matching packets are analysed.
    pub filter: Option<exfilmeter_ingest::Filter>,
    /// Packets the filter left out.
    pub filtered: u64,
    /// The tracker settings (each shard's are derived from them).
    pub(crate) cfg: TrackerConfig,
    /// The shards' counters added up, after a sharded run.
    pub(crate) sharded: Option<TrackerStats>,
}

/// A capture-time window: packets at or after `since` and before `until` are analysed.
pub use exfilmeter_ingest::Window;

/// Counters of what a [`Window`] left out.
#[derive(Debug, Clone, Default)]
pub struct Windowed {
    /// Packets before `since` / at or after `until`.
    pub before: u64,
    /// See `before`.
    pub after: u64,
    /// Flows with packets before `since` and inside the window: cut at `since`.
    pub cut_since: u64,
    /// Flows with packets inside the window and at or after `until`: cut at `until`.
    pub cut_until: u64,
    /// Flows whose crossing could not be told because the sets of keys were full.
    pub untracked: u64,
    outside: std::collections::HashSet<u64>,
    inside: std::collections::HashSet<u64>,
    counted: std::collections::HashSet<u64>,
}

/// Distinct flow keys remembered per side of a window edge (beyond: counted as untracked).
const WINDOW_KEYS: usize = 1 << 20;

impl Windowed {
    fn remember(set: &mut std::collections::HashSet<u64>, k: u64, untracked: &mut u64) {
        if set.len() < WINDOW_KEYS {
            set.insert(k);
        } else if !set.contains(&k) {
            *untracked += 1;
        }
    }

    /// A packet outside the window (`before`: ahead of `since`).
    fn outside(&mut self, k: u64, before: bool) {
        if before {
            self.before += 1;
            Windowed::remember(&mut self.outside, k, &mut self.untracked);
        } else {
            self.after += 1;
            if self.inside.contains(&k)
                && self.counted.len() < WINDOW_KEYS
                && self.counted.insert(k)
            {
                self.cut_until += 1;
            }
        }
    }

    /// A packet inside the window.
    fn inside(&mut self, k: u64) {
        if self.inside.len() < WINDOW_KEYS || self.inside.contains(&k) {
            if self.inside.insert(k) && self.outside.contains(&k) {
                self.cut_since += 1;
            }
        } else {
            self.untracked += 1;
        }
    }
}

impl Pipeline {
    /// A pipeline with the tracker settings `cfg`, hashing each input with `hash`.
    pub fn new(cfg: TrackerConfig, hash: HashAlgo) -> Self {
        Pipeline {
            decoder: Decoder::default(),
            tracker: Tracker::new(cfg.clone()),
            cfg,
            sharded: None,
            hash,
            window: Window::default(),
            windowed: Windowed::default(),
            filter: None,
            filtered: 0,
        }
    }

    /// Reads `inputs` in order as one sensor into `sink`, then ends every flow still live.
    /// An input that cannot be opened or is damaged is reported to `progress` and the run
    /// goes on with the rest (everything before the damage counts); a file of a folder that
    /// is not a capture is left out.
    pub fn run<S: FlowSink>(
        &mut self,
        inputs: &[Input],
        sink: &mut S,
        progress: &mut dyn Progress,
    ) -> Read {
        struct Inline<'t, S> {
            tracker: &'t mut Tracker,
            sink: &'t mut S,
        }
        impl<S: FlowSink> Feed for Inline<'_, S> {
            fn packet(&mut self, p: &exfilmeter_ingest::Packet<'_>) {
                self.tracker.packet(p, self.sink);
            }
            fn flows(&self) -> u64 {
                self.tracker.stats().flows
            }
            fn stopped(&self) -> bool {
                self.sink.failed()
            }
        }
        let mut feed = Inline {
            tracker: &mut self.tracker,
            sink,
        };
        let mut front = Front {
            decoder: &mut self.decoder,
            hash: self.hash,
            window: self.window,
            windowed: &mut self.windowed,
            filter: self.filter.as_ref(),
            filtered: &mut self.filtered,
        };
        let read = front.read(inputs, &mut feed, progress);
        self.tracker.finish(sink);
        read
    }

    /// The reading half of the pipeline (inputs, decoding, window and filter), apart from
    /// the flow stage it feeds.
    pub(crate) fn front(&mut self) -> Front<'_> {
        Front {
            decoder: &mut self.decoder,
            hash: self.hash,
            window: self.window,
            windowed: &mut self.windowed,
            filter: self.filter.as_ref(),
            filtered: &mut self.filtered,
        }
    }

    /// The tracker's counters over the run: the tracker's own, or every shard's added up
    /// after [`Pipeline::run_sharded`](crate::shard).
    pub fn tracker_stats(&self) -> TrackerStats {
        self.sharded
            .clone()
            .unwrap_or_else(|| self.tracker.stats().clone())
    }
}

/// Where the reader loop hands each packet that passed the filter and window.
pub(crate) trait Feed {
    /// A packet, in capture order.
    fn packet(&mut self, p: &exfilmeter_ingest::Packet<'_>);
    /// Flows so far (for the progress display).
    fn flows(&self) -> u64;
    /// An output of the run failed ([`FlowSink::failed`]): reading stops.
    fn stopped(&self) -> bool {
        false
    }
}

/// The reading half of a [`Pipeline`].
pub(crate) struct Front<'p> {
    decoder: &'p mut Decoder,
    hash: HashAlgo,
    window: Window,
    windowed: &'p mut Windowed,
    filter: Option<&'p exfilmeter_ingest::Filter>,
    filtered: &'p mut u64,
}

/// SHA-256 of the files of a run of several, each on a thread of its own while the files
/// before it are read — the one file being read and the next ones up to one per core
/// (decision 0025). Each is read once more for its digest; the parse follows it through the
/// page cache. A run of one file (or from standard input) hashes while it reads instead.
struct HashAhead {
    on: bool,
    width: usize,
    started: usize,
    running:
        std::collections::BTreeMap<usize, std::thread::JoinHandle<std::io::Result<FileDigest>>>,
    /// Set when the run stops early: the hashing threads give up at their next read.
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl HashAhead {
    fn new(inputs: &[Input], hash: HashAlgo) -> HashAhead {
        HashAhead {
            on: matches!(hash, HashAlgo::Sha256)
                && inputs.len() > 1
                && inputs.iter().all(|i| i.path.as_os_str() != "-"),
            width: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            started: 0,
            running: std::collections::BTreeMap::new(),
            stop: std::sync::Arc::default(),
        }
    }

    /// The run stops: the digests being computed are given up (not waited for).
    fn give_up(&self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// File `i` is about to be read: its digest and the next ones' are being computed.
    fn start(&mut self, inputs: &[Input], i: usize) {
        if !self.on {
            return;
        }
        let until = (i + self.width).min(inputs.len());
        while self.started < until {
            let j = self.started;
            self.started += 1;
            let Some(path) = inputs.get(j).map(|x| x.path.clone()) else {
                continue;
            };
            let stop = std::sync::Arc::clone(&self.stop);
            let spawned = std::thread::Builder::new()
                .name(format!("sha256-{j}"))
                .spawn(move || exfilmeter_ingest::digest_file_unless(&path, &stop));
            // Without a thread the file is hashed while it is read, as a run of one file is.
            if let Ok(h) = spawned {
                self.running.insert(j, h);
            }
        }
    }

    /// Whether file `i`'s digest is computed on a thread of its own (else it is hashed while
    /// it is read).
    fn hashing(&self, i: usize) -> bool {
        self.running.contains_key(&i)
    }

    /// File `i` was read: its digest goes into `outcome`. A problem (the file could not be
    /// hashed, or it changed size between the two reads) is returned as a line to report.
    fn digest(
        &mut self,
        i: usize,
        outcome: &mut exfilmeter_ingest::ReaderOutcome,
    ) -> Option<String> {
        let got = match self.running.remove(&i)?.join() {
            Ok(r) => r,
            Err(_) => Err(std::io::Error::other("the hashing thread panicked")),
        };
        match (got, outcome.digest.as_mut()) {
            (Ok(d), Some(mine)) if d.size == mine.size => {
                mine.sha256 = d.sha256;
                None
            }
            (Ok(d), Some(mine)) => Some(format!(
                "the file changed while it was read ({} bytes hashed, {} bytes read): no SHA-256 recorded",
                d.size, mine.size
            )),
            (Ok(_), None) => None,
            (Err(e), _) => Some(format!("cannot compute its SHA-256: {e}")),
        }
    }
}

impl Drop for HashAhead {
    fn drop(&mut self) {
        // Digests of files that could not be opened are not waited for by the run, but
        // their threads are not left behind.
        for (_, h) in std::mem::take(&mut self.running) {
            let _ = h.join();
        }
    }
}

impl Front<'_> {
    /// Reads `inputs` in order as one sensor, handing each packet to `feed`.
    pub(crate) fn read(
        &mut self,
        inputs: &[Input],
        feed: &mut dyn Feed,
        progress: &mut dyn Progress,
    ) -> Read {
        let names = input_names(inputs);
        let mut read = Read::default();
        let mut done = 0u64;
        let mut ahead = HashAhead::new(inputs, self.hash);
        let mut stopped = false;
        for (i, input) in inputs.iter().enumerate() {
            let shown = input.path.display().to_string();
            let name = names.get(i).cloned().unwrap_or_default();
            ahead.start(inputs, i);
            let hash = if ahead.hashing(i) {
                HashAlgo::None
            } else {
                self.hash
            };
            let mut reader = match CaptureReader::open(&input.path, FileId(i as u32), hash) {
                Ok(r) => r,
                Err(e) => {
                    progress.problem(&format!("exfilmeter: {shown}: {e}"));
                    read.partial = true;
                    read.unreadable.push((shown, e.to_string()));
                    continue;
                }
            };
            progress.file(&shown, &name);
            let mut summary = FileSummary::new(shown.clone());
            let mut tunnels = Tunnels::default();
            let mut offset = 0;
            while let Some(frame) = reader.next_frame() {
                summary.add_frame(&frame);
                if let Decoded::Packet(p) = &self.decoder.decode(&frame) {
                    let w = self.window;
                    if self.filter.is_some_and(|f| !f.matches(p)) {
                        *self.filtered += 1;
                    } else if w.is_open() {
                        tunnels.packet(p);
                        feed.packet(p);
                    } else {
                        match w.side(p.ts) {
                            Side::Before => self.windowed.outside(flow_hash(p), true),
                            Side::After => self.windowed.outside(flow_hash(p), false),
                            Side::Inside => {
                                self.windowed.inside(flow_hash(p));
                                tunnels.packet(p);
                                feed.packet(p);
                            }
                        }
                    }
                }
                offset = frame.frame.offset;
                if summary.packets % TICK == 0 {
                    progress.advanced(done + offset, feed.flows());
                    if feed.stopped() {
                        stopped = true;
                        break;
                    }
                }
            }
            if stopped {
                // An output failed: the rest is not read (nor hashed); the caller reports
                // the output's error and the run fails.
                progress.problem(&format!(
                    "exfilmeter: {shown}: reading stopped at byte {offset}: an output could not be written"
                ));
                read.partial = true;
                ahead.give_up();
                break;
            }
            done += offset;
            let mut outcome = reader.finish();
            if let Some(problem) = ahead.digest(i, &mut outcome) {
                progress.problem(&format!("exfilmeter: {shown}: {problem}"));
                read.partial = true;
            }
            summary.finish(outcome, self.decoder);
            if input.origin == InputOrigin::Directory && summary.not_a_capture() {
                progress.ignored(&shown);
                continue;
            }
            for e in &summary.errors {
                progress.problem(&format!("exfilmeter: {shown}: {e}"));
            }
            read.partial |= !summary.errors.is_empty();
            read.files.push(FileRead {
                name,
                summary,
                tunnels,
            });
        }
        self.decoder.finish();
        read
    }
}

/// The sink of an attributed run, behind the attributor: every flow event goes to the
/// content ledger, every verdict to the content ledger and then to the flow-ledger rows `R`.
pub struct Tee<'a, R> {
    /// Where closed flows go with their verdicts (the flow ledger's rows).
    pub rows: R,
    /// The content ledger.
    pub content: ContentLedger<'a>,
}

impl<R: VerdictSink> FlowSink for Tee<'_, R> {
    fn failed(&self) -> bool {
        self.rows.failed() || self.content.failed()
    }
    fn opened(&mut self, flow: FlowId, _key: &FlowKey, _client: Endpoint, _ts: Timestamp) {
        self.content.track(flow);
    }
    fn metadata(&mut self, flow: FlowId, e: &MetaEvent) {
        self.content.meta(flow, e);
    }
    fn data(
        &mut self,
        flow: FlowId,
        dir: Direction,
        offset: u64,
        ts: Timestamp,
        frame: FrameRef,
        bytes: &[u8],
    ) {
        self.content.data(flow, dir, offset, (ts, frame), bytes);
    }
    fn body(
        &mut self,
        flow: FlowId,
        dir: Direction,
        message: u32,
        offset: u64,
        ts: Timestamp,
        frame: FrameRef,
        bytes: &[u8],
    ) {
        self.content
            .body(flow, dir, message, offset, ts, frame, bytes);
    }
}

impl<R: VerdictSink> VerdictSink for Tee<'_, R> {
    fn verdict(&mut self, record: FlowRecord, verdict: Verdict) {
        self.content.closed(&record, &verdict);
        self.rows.verdict(record, verdict);
    }
    fn flagged(&mut self, flow: FlowId) {
        self.content.flag(flow);
        self.rows.flagged(flow);
    }
}

/// Closed flows dropped (a [`Tee`] that keeps only the content ledger).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRows;

impl FlowSink for NoRows {}

impl VerdictSink for NoRows {
    fn verdict(&mut self, _record: FlowRecord, _verdict: Verdict) {}
}
