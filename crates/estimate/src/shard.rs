//! The flow stage on several threads, with the same output as one (decision 0025).
//!
//! The reading thread reads and decodes every frame (IP fragments reassembled), and sends
//! each packet to the shard its flow hashes to ([`shard_of`]: both directions, every
//! fragment and the inner flow of a tunnel reach the same shard). Each shard owns its part
//! of the flow table, TCP reassembly, application layer, attribution and content ledger: no
//! lock on the per-packet path. Three things make the shards give what one pass gives:
//!
//! - **One clock.** Every packet carries the latest capture time over all packets so far,
//!   and the reading thread tells every shard when one pass would look for idle flows (every
//!   10 s of capture time), so flows end at the same points.
//! - **DNS answers in capture order.** The reading thread parses the DNS responses itself
//!   (UDP datagrams, and TCP DNS streams through a tracker of its own) and hands each
//!   answer to every shard right after the packet that carried it, so a flow on any shard
//!   sees exactly the answers that came before it.
//! - **One close order.** Each closed flow is tagged with the point where one pass would
//!   have closed it: the packet's ordinal, then idle flows before the packet's own (in
//!   flow-id order, as one tracker sweeps), and at the end every live flow in flow-id order.
//!   The merging thread puts the shards' closed flows back in that order before they reach
//!   the flow ledger and the run's content ledger.
//!
//! The flow cap and the memory caps are divided between the shards; a run that reaches a
//! cap can therefore end flows at other points than one pass (counted the same way).

use crate::collect::{Closed, ContentLedger};
use crate::ledger::Rows;
use crate::pipeline::{Feed, Pipeline, Progress, Read};
use exfilmeter_flow::app::dns;
use exfilmeter_flow::{
    shard_of, Direction, Endpoint, FlowId, FlowKey, FlowRecord, FlowSink, MetaEvent, Metadata,
    Tracker, TrackerStats,
};
use exfilmeter_ingest::{FrameRef, Input, Packet, Timestamp, Transport};
use exfilmeter_intel::{Attributor, Verdict, VerdictSink};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::Arc;

/// Where a closed flow falls in one pass's close order: the ordinal of the packet at which it
/// closed, 0 for the idle flows closed before that packet (then ordered by flow id) or 1 for
/// flows the packet itself closed (then in the order they closed), and the flow id or that
/// order. Flows still live at the end take ordinal `u64::MAX`, phase 0, by flow id.
pub type Tag = (u64, u8, u64);

/// A closed flow as a shard hands it on: its record, its verdict (with indicators) and what
/// it added to the shard's content ledger (in `analyze`).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct ClosedFlow {
    /// The flow.
    pub record: FlowRecord,
    /// Its verdict, when the run has indicators.
    pub verdict: Option<Verdict>,
    /// What it added to the content ledger.
    pub content: Option<Closed>,
}

/// The sink of one shard: the flow events of its flows go to its content ledger (when the
/// run has one), each closed flow is kept until the shard hands it on.
pub struct Collector<'s> {
    /// The shard's content ledger (`analyze`).
    pub content: Option<ContentLedger<'s>>,
    /// Whether the application layer is needed (indicators).
    app: bool,
    closed: Vec<ClosedFlow>,
}

impl<'s> Collector<'s> {
    /// A shard sink; `content`: the shard's content ledger (made with
    /// [`ContentLedger::for_shard`]); `app`: the run has indicators.
    pub fn new(content: Option<ContentLedger<'s>>, app: bool) -> Self {
        Collector {
            content,
            app,
            closed: Vec::new(),
        }
    }
}

impl FlowSink for Collector<'_> {
    fn wants_app(&self) -> bool {
        self.app
    }
    fn opened(&mut self, flow: FlowId, _key: &FlowKey, _client: Endpoint, _ts: Timestamp) {
        if let Some(c) = self.content.as_mut() {
            c.track(flow);
        }
    }
    fn metadata(&mut self, flow: FlowId, e: &MetaEvent) {
        if let Some(c) = self.content.as_mut() {
            c.meta(flow, e);
        }
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
        if let Some(c) = self.content.as_mut() {
            c.data(flow, dir, offset, (ts, frame), bytes);
        }
    }
    #[allow(clippy::too_many_arguments)]
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
        if let Some(c) = self.content.as_mut() {
            c.body(flow, dir, message, offset, ts, frame, bytes);
        }
    }
    fn closed(&mut self, record: FlowRecord) {
        self.closed.push(ClosedFlow {
            record,
            verdict: None,
            content: None,
        });
    }
}

impl VerdictSink for Collector<'_> {
    fn verdict(&mut self, record: FlowRecord, verdict: Verdict) {
        let content = self.content.as_mut().map(|c| {
            c.closed(&record, &verdict);
            c.take_closed()
        });
        self.closed.push(ClosedFlow {
            record,
            verdict: Some(verdict),
            content,
        });
    }
    fn flagged(&mut self, flow: FlowId) {
        if let Some(c) = self.content.as_mut() {
            c.flag(flow);
        }
    }
}

/// What a shard's worker needs of its sink beyond the flow events.
pub trait ShardSink: FlowSink {
    /// The flows closed since the last call, in close order.
    fn take(&mut self) -> std::vec::Drain<'_, ClosedFlow>;
    /// A DNS response of the run (from any shard), at the point of the run where it was seen.
    fn learn(&mut self, _e: &MetaEvent) {}
}

impl ShardSink for Collector<'_> {
    fn take(&mut self) -> std::vec::Drain<'_, ClosedFlow> {
        self.closed.drain(..)
    }
}

impl<'s> ShardSink for Attributor<'s, Collector<'s>> {
    fn take(&mut self) -> std::vec::Drain<'_, ClosedFlow> {
        self.inner.closed.drain(..)
    }
    fn learn(&mut self, e: &MetaEvent) {
        Attributor::learn(self, e);
    }
}

/// Where the merged closed flows go, in one pass's close order: the flow ledger's rows and
/// (in `analyze`) the run's content ledger.
pub struct Gather<'a> {
    /// The flow ledger.
    pub rows: Rows<'a>,
    /// The run's content ledger.
    pub content: Option<ContentLedger<'a>>,
}

impl Gather<'_> {
    /// An output failed: the flow ledger's table or the IOC flows' temporary files.
    pub fn failed(&self) -> bool {
        self.rows.failed() || self.content.as_ref().is_some_and(ContentLedger::failed)
    }

    /// Takes in the next closed flow in one pass's close order.
    pub fn apply(&mut self, c: ClosedFlow) {
        if let (Some(ledger), Some(closed)) = (self.content.as_mut(), c.content) {
            ledger.absorb(closed);
        }
        self.rows.push(c.record, c.verdict);
    }
}

/// One message of a batch, in the order one pass meets them.
#[derive(Clone, Copy)]
enum Msg {
    /// Look for idle flows before packet `.0`, at capture time `.1`.
    Tick(u64, Timestamp),
    /// The next packet of the batch: its ordinal, and the latest capture time so far.
    Packet(u64, Timestamp),
    /// DNS answer `.0` of the batch.
    Dns(u32),
}

/// What the reading thread sends one shard at a time.
#[derive(Default)]
struct Batch {
    msgs: Vec<Msg>,
    /// Packets, their transport payload in `arena` (start, length).
    packets: Vec<(Packet<'static>, u32, u32)>,
    arena: Vec<u8>,
    dns: Vec<Arc<MetaEvent>>,
    /// Every packet up to this ordinal has been handed to some shard.
    end: u64,
}

impl Batch {
    fn clear(&mut self) {
        self.msgs.clear();
        self.packets.clear();
        self.arena.clear();
        self.dns.clear();
    }

    fn push(&mut self, k: u64, now: Timestamp, p: &Packet<'_>) {
        let start = self.arena.len();
        self.arena.extend_from_slice(p.payload);
        self.packets
            .push((detach(p), start as u32, p.payload.len() as u32));
        self.msgs.push(Msg::Packet(k, now));
    }
}

/// A packet without its borrowed bytes (the TCP options, which the flow stage does not read,
/// are left out; the payload travels in the batch's arena).
fn detach(p: &Packet<'_>) -> Packet<'static> {
    attach(p, &[])
}

/// `p` with `payload` as its transport payload.
fn attach<'b>(p: &Packet<'_>, payload: &'b [u8]) -> Packet<'b> {
    Packet {
        ts: p.ts,
        frame: p.frame,
        link: p.link,
        vlan: p.vlan,
        vni: p.vni,
        tunnel: p.tunnel,
        carrier: p.carrier,
        orig_len: p.orig_len,
        cap_len: p.cap_len,
        l3_offset: p.l3_offset,
        wire: p.wire,
        ip: p.ip,
        transport: match p.transport {
            Transport::Tcp(t) => Transport::Tcp(exfilmeter_ingest::TcpView { options: &[], ..t }),
            Transport::Udp {
                src_port,
                dst_port,
                length,
            } => Transport::Udp {
                src_port,
                dst_port,
                length,
            },
            Transport::Icmp {
                v6,
                icmp_type,
                code,
            } => Transport::Icmp {
                v6,
                icmp_type,
                code,
            },
            Transport::Other => Transport::Other,
        },
        payload,
        payload_len: p.payload_len,
        truncated: p.truncated,
    }
}

/// Packets read between two hand-overs to the shards (bounds the lag between shards and
/// what the merging thread holds).
const BATCH_PACKETS: u64 = 4096;
/// Payload bytes per batch beyond which it is handed over early.
const BATCH_BYTES: usize = 2 << 20;
/// Batches in flight per shard.
const IN_FLIGHT: usize = 2;

/// A shard's output: its closed flows with their tags, and the tag below which it will
/// hand on nothing more.
type Out = (usize, Vec<(Tag, ClosedFlow)>, Tag);

/// The TCP DNS streams the reading thread follows for their DNS answers.
#[derive(Default)]
struct DnsAnswers {
    got: Vec<MetaEvent>,
}

impl FlowSink for DnsAnswers {
    fn metadata(&mut self, _flow: FlowId, e: &MetaEvent) {
        if matches!(&e.meta, Metadata::Dns(m) if m.response) {
            self.got.push(e.clone());
        }
    }
}

/// The DNS responses of a run, read in capture order apart from the flow stage: UDP
/// datagrams parsed one by one, TCP DNS streams through a tracker of its own. The
/// reading thread of a sharded run and a bucket task of a split run read them alike.
pub(crate) struct DnsReader {
    tracker: Tracker,
    answers: DnsAnswers,
}

impl DnsReader {
    /// A reader whose TCP tracker has the settings `cfg`.
    pub(crate) fn new(cfg: exfilmeter_flow::TrackerConfig) -> Self {
        DnsReader {
            tracker: Tracker::new(cfg),
            answers: DnsAnswers::default(),
        }
    }

    /// The run looks for idle flows at capture time `now`: the answers of the TCP streams
    /// that end there.
    pub(crate) fn tick(&mut self, now: Timestamp) -> Vec<MetaEvent> {
        self.tracker.tick(now, &mut self.answers);
        std::mem::take(&mut self.answers.got)
    }

    /// The answers packet `p` completes (`now`: the latest capture time so far); packets
    /// not to or from a DNS port ([`dns::is_dns_port`]) give none.
    pub(crate) fn packet(&mut self, p: &Packet<'_>, now: Timestamp) -> Vec<MetaEvent> {
        let (_, src, dst) = exfilmeter_flow::endpoints(p);
        let tcp = matches!(p.transport, Transport::Tcp(_));
        if !dns::is_dns_port(src.port, tcp) && !dns::is_dns_port(dst.port, tcp) {
            return Vec::new();
        }
        match p.transport {
            Transport::Udp { .. } if !p.payload.is_empty() => dns::parse(p.payload)
                .filter(|m| m.response)
                .map(|m| MetaEvent {
                    dir: Direction::S2c,
                    ts: p.ts,
                    frame: p.frame,
                    tunnelled: false,
                    meta: Metadata::Dns(m),
                })
                .into_iter()
                .collect(),
            Transport::Tcp(_) => {
                self.tracker.packet_at(p, now, &mut self.answers);
                std::mem::take(&mut self.answers.got)
            }
            _ => Vec::new(),
        }
    }
}

/// The reading thread's side of a sharded run.
struct Dispatch<'f> {
    shards: Vec<SyncSender<Batch>>,
    spare: Vec<Receiver<Batch>>,
    batches: Vec<Batch>,
    k: u64,
    now: Timestamp,
    last_sweep: Timestamp,
    /// DNS answers are read for the shards' attribution.
    dns: Option<DnsReader>,
    since_flush: u64,
    flows: &'f AtomicU64,
    /// A shard stopped (it panicked): the rest of the input is not read into it.
    broken: bool,
    /// Set by the merging thread when an output of the run failed: reading stops.
    failed: Option<&'f AtomicBool>,
}

impl<'f> Dispatch<'f> {
    /// The reading side of a run on `n` shards fed through `shards` (none: batches are
    /// dropped, for measuring); `dns`: the settings of the tracker that follows TCP DNS, when
    /// answers are read for attribution.
    fn new(
        n: usize,
        shards: Vec<SyncSender<Batch>>,
        spare: Vec<Receiver<Batch>>,
        dns: Option<exfilmeter_flow::TrackerConfig>,
        flows: &'f AtomicU64,
    ) -> Self {
        Dispatch {
            batches: (0..n).map(|_| Batch::default()).collect(),
            shards,
            spare,
            k: 0,
            now: Timestamp(i64::MIN),
            last_sweep: Timestamp(i64::MIN),
            dns: dns.map(DnsReader::new),
            since_flush: 0,
            flows,
            broken: false,
            failed: None,
        }
    }

    fn broadcast(&mut self, m: impl Fn(&mut Batch) -> Msg) {
        for b in &mut self.batches {
            let msg = m(b);
            b.msgs.push(msg);
        }
    }

    fn answer(&mut self, e: MetaEvent) {
        let e = Arc::new(e);
        self.broadcast(|b| {
            b.dns.push(Arc::clone(&e));
            Msg::Dns((b.dns.len() - 1) as u32)
        });
    }

    fn flush(&mut self) {
        self.since_flush = 0;
        if self.shards.is_empty() {
            // Measuring the reading thread alone: the batches are dropped.
            for b in &mut self.batches {
                b.clear();
            }
            return;
        }
        for (i, tx) in self.shards.iter().enumerate() {
            // A batch back from the shard keeps its room; a new one is made with room for a
            // whole batch (no growing while packets are appended).
            let fresh = self.spare[i].try_recv().unwrap_or_else(|_| Batch {
                msgs: Vec::with_capacity(BATCH_PACKETS as usize * 2),
                packets: Vec::with_capacity(BATCH_PACKETS as usize),
                arena: Vec::with_capacity(BATCH_BYTES + 65536),
                ..Batch::default()
            });
            let mut b = std::mem::replace(&mut self.batches[i], fresh);
            self.batches[i].clear();
            b.end = self.k;
            if tx.send(b).is_err() {
                self.broken = true;
            }
        }
    }
}

impl Feed for Dispatch<'_> {
    fn packet(&mut self, p: &Packet<'_>) {
        if self.broken {
            return;
        }
        self.k += 1;
        let k = self.k;
        self.now = self.now.max(p.ts);
        let now = self.now;
        if Tracker::sweep_due(now, &mut self.last_sweep) {
            self.broadcast(|_| Msg::Tick(k, now));
            let got = self.dns.as_mut().map(|d| d.tick(now)).unwrap_or_default();
            for e in got {
                self.answer(e);
            }
        }
        let s = shard_of(p, self.batches.len());
        self.batches[s].push(k, now, p);
        let got = self
            .dns
            .as_mut()
            .map(|d| d.packet(p, now))
            .unwrap_or_default();
        for e in got {
            self.answer(e);
        }
        self.since_flush += 1;
        if self.since_flush >= BATCH_PACKETS
            || self.batches.iter().any(|b| b.arena.len() >= BATCH_BYTES)
        {
            self.flush();
        }
    }

    fn flows(&self) -> u64 {
        self.flows.load(Ordering::Relaxed)
    }
    fn stopped(&self) -> bool {
        self.failed.is_some_and(|f| f.load(Ordering::Relaxed))
    }
}

/// The flow stage of one shard or bucket: a tracker and its sink, each closed flow tagged
/// with its place in one pass's close order.
pub(crate) struct Worker<'t, S> {
    pub(crate) tracker: &'t mut Tracker,
    pub(crate) sink: &'t mut S,
    seq: u64,
    /// Closed flows not handed on yet, in tag order.
    pub(crate) tagged: Vec<(Tag, ClosedFlow)>,
}

impl<'t, S: ShardSink> Worker<'t, S> {
    pub(crate) fn new(tracker: &'t mut Tracker, sink: &'t mut S) -> Self {
        Worker {
            tracker,
            sink,
            seq: 0,
            tagged: Vec::new(),
        }
    }

    /// The run looks for idle flows before packet `k`, at capture time `now`.
    pub(crate) fn tick(&mut self, k: u64, now: Timestamp) {
        self.tracker.tick(now, self.sink);
        self.tagged
            .extend(self.sink.take().map(|c| ((k, 0, c.record.id.0), c)));
    }

    /// Packet `k` of the run (`now`: the latest capture time so far).
    pub(crate) fn packet(&mut self, k: u64, p: &Packet<'_>, now: Timestamp) {
        self.tracker.packet_at(p, now, self.sink);
        for c in self.sink.take() {
            self.seq += 1;
            self.tagged.push(((k, 1, self.seq), c));
        }
    }

    /// A DNS answer of the run.
    pub(crate) fn learn(&mut self, e: &MetaEvent) {
        self.sink.learn(e);
    }

    /// The end of the input: every live flow ends.
    pub(crate) fn finish(&mut self) {
        self.tracker.finish(self.sink);
        self.tagged
            .extend(self.sink.take().map(|c| ((u64::MAX, 0, c.record.id.0), c)));
    }
}

/// One shard: runs its tracker over the batches it is given, tagging each closed flow.
fn work<S: ShardSink>(
    i: usize,
    tracker: &mut Tracker,
    sink: &mut S,
    rx: Receiver<Batch>,
    spare: Sender<Batch>,
    out: Sender<Out>,
    flows: &AtomicU64,
) {
    let mut counted = 0u64;
    let mut w = Worker::new(tracker, sink);
    for b in rx {
        let mut next = 0usize;
        for &m in &b.msgs {
            match m {
                Msg::Tick(k, now) => w.tick(k, now),
                Msg::Packet(k, now) => {
                    if let Some((p, start, len)) = b.packets.get(next) {
                        let (s, e) = (*start as usize, (*start + *len) as usize);
                        let payload = b.arena.get(s..e).unwrap_or_default();
                        w.packet(k, &attach(p, payload), now);
                    }
                    next += 1;
                }
                Msg::Dns(d) => {
                    if let Some(e) = b.dns.get(d as usize) {
                        w.learn(e);
                    }
                }
            }
        }
        let f = w.tracker.stats().flows;
        flows.fetch_add(f - counted, Ordering::Relaxed);
        counted = f;
        let end = b.end;
        let _ = spare.send(b);
        if out
            .send((i, std::mem::take(&mut w.tagged), (end + 1, 0, 0)))
            .is_err()
        {
            return;
        }
    }
    w.finish();
    let _ = out.send((i, std::mem::take(&mut w.tagged), (u64::MAX, 1, 0)));
}

/// Puts the shards' closed flows back in one pass's close order and hands them to `gather`.
/// `failed` is set when an output failed, so the reading thread stops.
fn merge(n: usize, rx: Receiver<Out>, gather: &mut Gather<'_>, failed: &AtomicBool) {
    let mut queues: Vec<VecDeque<(Tag, ClosedFlow)>> = (0..n).map(|_| VecDeque::new()).collect();
    let mut marks: Vec<Tag> = vec![(0, 0, 0); n];
    for (i, items, mark) in rx {
        if let (Some(q), Some(m)) = (queues.get_mut(i), marks.get_mut(i)) {
            q.extend(items);
            *m = mark;
        }
        // The smallest tag held may go when no shard can still hand on a smaller one.
        while let Some((s, tag)) = queues
            .iter()
            .enumerate()
            .filter_map(|(s, q)| q.front().map(|(t, _)| (s, *t)))
            .min_by_key(|(_, t)| *t)
        {
            let safe = queues
                .iter()
                .zip(&marks)
                .all(|(q, m)| !q.is_empty() || *m > tag);
            if !safe {
                break;
            }
            if let Some((_, c)) = queues.get_mut(s).and_then(VecDeque::pop_front) {
                gather.apply(c);
            }
        }
        if gather.failed() {
            failed.store(true, Ordering::Relaxed);
        }
    }
    // A shard that stopped early leaves what it handed on; it still goes out, in order.
    let mut rest: Vec<(Tag, ClosedFlow)> = queues.into_iter().flatten().collect();
    rest.sort_by_key(|(t, _)| *t);
    for (_, c) in rest {
        gather.apply(c);
    }
}

/// What the reading thread of a sharded run costs alone ([`Pipeline::dispatch_only`]).
#[derive(Debug, Clone, Copy)]
pub struct DispatchCost {
    /// Packets handed on.
    pub packets: u64,
    /// Seconds spent.
    pub secs: f64,
}

impl Pipeline {
    /// The reading thread's work of a run on `n` shards, without the shards (benchmarks):
    /// inputs read and decoded, and with `n` ≥ 1 each packet hashed and copied into its
    /// shard's batch (DNS answers parsed when `dns`), the batches then dropped. `n` = 0:
    /// reading and decoding only.
    pub fn dispatch_only(&mut self, inputs: &[Input], n: usize, dns: bool) -> DispatchCost {
        struct Nothing(u64);
        impl Feed for Nothing {
            fn packet(&mut self, _p: &Packet<'_>) {
                self.0 += 1;
            }
            fn flows(&self) -> u64 {
                0
            }
        }
        let flows = AtomicU64::new(0);
        let t = std::time::Instant::now();
        let packets = if n == 0 {
            let mut f = Nothing(0);
            self.front().read(inputs, &mut f, &mut ());
            f.0
        } else {
            let mut d = Dispatch::new(
                n,
                Vec::new(),
                Vec::new(),
                dns.then(|| self.cfg.clone()),
                &flows,
            );
            self.front().read(inputs, &mut d, &mut ());
            d.k
        };
        DispatchCost {
            packets,
            secs: t.elapsed().as_secs_f64(),
        }
    }

    /// Reads `inputs` like [`Pipeline::run`], with the flow stage on one thread per sink of
    /// `sinks` (a shard each), the closed flows merged into `gather` in the order one pass
    /// closes them. `dns`: the shards attribute (DNS answers are read for them). Returns the
    /// shards' sinks (their counters). The tracker settings of each shard are this
    /// pipeline's with the caps divided between the shards. Fails only when a thread cannot
    /// be started (before any input is read).
    pub fn run_sharded<S: ShardSink + Send>(
        &mut self,
        inputs: &[Input],
        sinks: Vec<S>,
        dns: bool,
        gather: &mut Gather<'_>,
        progress: &mut dyn Progress,
    ) -> std::io::Result<(Read, Vec<S>)> {
        let n = sinks.len().max(1);
        let cfg = self.cfg.shard(n);
        let flows = AtomicU64::new(0);
        let failed = AtomicBool::new(false);
        let mut stats = TrackerStats::default();
        let mut sinks_back = Vec::new();
        let read = std::thread::scope(|scope| -> std::io::Result<Read> {
            let (out_tx, out_rx) = channel::<Out>();
            let mut txs = Vec::new();
            let mut spares = Vec::new();
            let mut handles = Vec::new();
            for (i, mut sink) in sinks.into_iter().enumerate() {
                let (tx, rx) = sync_channel::<Batch>(IN_FLIGHT);
                let (spare_tx, spare_rx) = channel::<Batch>();
                txs.push(tx);
                spares.push(spare_rx);
                let out = out_tx.clone();
                let cfg = cfg.clone();
                let flows = &flows;
                handles.push(
                    std::thread::Builder::new()
                        .name(format!("shard-{i}"))
                        .spawn_scoped(scope, move || {
                            let mut tracker = Tracker::new(cfg);
                            work(i, &mut tracker, &mut sink, rx, spare_tx, out, flows);
                            (tracker.stats().clone(), sink)
                        })?,
                );
            }
            drop(out_tx);
            let _merger = std::thread::Builder::new()
                .name("merge".into())
                .spawn_scoped(scope, || merge(n, out_rx, gather, &failed))?;
            let mut d = Dispatch::new(n, txs, spares, dns.then(|| self.cfg.clone()), &flows);
            d.failed = Some(&failed);
            let read = self.front().read(inputs, &mut d, progress);
            d.flush();
            drop(d);
            for h in handles {
                match h.join() {
                    Ok((s, sink)) => {
                        stats.add(&s);
                        sinks_back.push(sink);
                    }
                    Err(e) => std::panic::resume_unwind(e),
                }
            }
            // The merging thread is joined when the scope ends (a panic there is raised then).
            Ok(read)
        })?;
        self.sharded = Some(stats);
        Ok((read, sinks_back))
    }
}
