//! Per-flow content accounting for the flows attributed to an indicator: application bytes
//! per local day (HTTP request bodies, TLS application-data plaintext, raw payload), control
//! traffic, and one [`Unit`] per upload (an HTTP request body, or a flow-day of TLS records
//! or raw payload) with what its bytes turned out to hold.
//!
//! Only flagged flows (see `VerdictSink::flagged`) pay for any of this.

mod bodies;
mod iocflows;
mod small_map;
mod sweep;

pub use iocflows::IocFlows;
pub use sweep::SweepHit;

use crate::daily::{DayRows, FlowDay};
use crate::estimator::{UnitSums, UnitTable};
use crate::reconcile::Sighting;
use bodies::{finish_bodies, OpenBody, Req, Suspended};
use exfilmeter_content::RecoveredIndex;
use exfilmeter_content::{BodyResult, Kind, RecordShape};
use exfilmeter_content::{Cursor, Matcher, Pending, Sightings};
use exfilmeter_flow::{Day, DayClock, Direction, FlowId, FlowRecord, MetaEvent, Metadata};
use exfilmeter_ingest::{FrameRef, Timestamp};
use exfilmeter_intel::{IocSet, Verdict, Via};
use small_map::SmallMap;
use std::collections::{BTreeMap, HashMap};

/// The rules that separate control traffic from bulk transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Application units (HTTP request bodies, TLS records, raw flow payload) carrying
    /// fewer content bytes than this, and not holding a decoded record, are control
    /// traffic (beacons, keep-alives, TLS Finished/alerts): reported as `control_bytes`,
    /// excluded from the estimate's basis.
    pub control_max: u64,
    /// Bytes a TLS application-data record adds to its plaintext (17 for the AEAD ciphers
    /// of TLS 1.3: a 16-byte tag and the inner content type; 24 for TLS 1.2 AES-GCM).
    pub tls_overhead: u64,
    /// Plaintext bytes of each TLS record that may be inner protocol framing (an HTTP
    /// request head) rather than records: subtracted from the low basis only.
    pub tls_framing: u64,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            control_max: 128,
            tls_overhead: 17,
            tls_framing: 512,
        }
    }
}

/// Where a unit's bytes came from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Source {
    /// One HTTP request body (de-chunked).
    HttpBody,
    /// The TLS application-data records of one flow and day.
    Tls,
    /// The raw client→server payload of one flow and day (no HTTP or TLS seen).
    Raw,
}

impl Source {
    /// Name used in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::HttpBody => "http_body",
            Source::Tls => "tls",
            Source::Raw => "raw",
        }
    }
}

/// A host, indicator or server name shared by every row that names it (a run with 100,000
/// flows to one host holds the name once, not once per flow, day and upload).
pub type Name = std::sync::Arc<str>;

/// The names of a run, each held once.
#[derive(Debug, Default)]
struct Names(
    rustc_hash::FxHashSet<Name>,
    /// Server addresses as text, by address.
    rustc_hash::FxHashMap<std::net::IpAddr, Name>,
);

impl Names {
    fn get(&mut self, s: &str) -> Name {
        if let Some(n) = self.0.get(s) {
            return n.clone();
        }
        let n: Name = Name::from(s);
        self.0.insert(n.clone());
        n
    }

    /// An address as text (written once per address).
    fn ip(&mut self, a: std::net::IpAddr) -> Name {
        if let Some(n) = self.1.get(&a) {
            return n.clone();
        }
        let mut text = String::new();
        crate::flowtable::push_ip(a, &mut text);
        let n = self.get(&text);
        self.1.insert(a, n.clone());
        n
    }
}

/// One upload of a flow to an indicator.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Unit {
    /// Local day (days since 1970-01-01) of its last byte: records count on the day their
    /// upload completed.
    pub day: i32,
    /// Capture time of its last byte.
    pub ts: Timestamp,
    /// Flow.
    pub flow: FlowId,
    /// Host the flow talked to (server name, else the indicator).
    pub host: Name,
    /// Source.
    pub source: Source,
    /// What the content was, how long, what was missing, what it held.
    pub body: BodyResult,
    /// Counted as control traffic.
    pub control: bool,
    /// Bytes of the unit that may be inner framing, not content (TLS): the low basis
    /// leaves them out.
    pub framing: u64,
    /// First and last frame that carried it.
    pub frames: (FrameRef, FrameRef),
}

/// Up to the first eight bytes of a stream.
#[derive(Default)]
struct FirstBytes {
    bytes: [u8; 8],
    len: u8,
}

impl FirstBytes {
    fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Takes the bytes at stream `offset` that continue those held (none after a hole).
    fn extend(&mut self, offset: u64, bytes: &[u8]) {
        let have = usize::from(self.len);
        if have as u64 == offset {
            let take = bytes.len().min(self.bytes.len() - have);
            self.bytes[have..have + take].copy_from_slice(&bytes[..take]);
            self.len += take as u8;
        }
    }
}

#[derive(Default)]
struct FlowContent<'s> {
    reqs: [Vec<Req>; 2],
    connect: bool,
    bodies: SmallMap<u32, OpenBody<'s>>,
    units: Vec<Unit>,
    /// Per day: plaintext bytes, framing allowance, last time, first and last frame.
    tls: SmallMap<i32, (u64, u64, Timestamp, FrameRef, FrameRef)>,
    app: SmallMap<i32, u64>,
    control: SmallMap<i32, u64>,
    /// Per day: declared body bytes the client never sent (the flow ended first).
    unsent: SmallMap<i32, u64>,
    saw_app: bool,
    /// Client→server stream bytes accounted for by parsed heads, bodies and TLS records.
    accounted: u64,
    /// Rows seen, with their day.
    sightings: Sightings<(i32, Pending)>,
    /// First client→server bytes (up to 8), to recognise bodiless requests in flows whose
    /// parser never started (heads cut by snaplen, connections picked up mid-stream).
    /// (Held inline: a vector was an allocation per IOC flow for eight bytes.)
    first_bytes: FirstBytes,
    /// Tracked for the sweep only (not attributed to an indicator so far).
    sweep_only: bool,
    /// Sweep: the key scan of the client→server stream, from its first bytes scanned (a box:
    /// most flows are never scanned, and every live IOC flow has this struct).
    sweep_scan: Option<Box<sweep::KeyScan>>,
    /// The last request body finished on this connection: its message number and where the
    /// matching of each of its parts ended (a row it ended in may go on in the next
    /// request's body).
    before: Option<(u32, Vec<Cursor>)>,
    /// The last request body, if it ended inside a compressed stream.
    suspended: Option<Box<Suspended<'s>>>,
    /// The client→server stream scanned as one upload, for a flow whose first bytes are
    /// neither an HTTP request nor TLS (a raw socket, an FTP data connection); used when no
    /// HTTP or TLS was parsed in it.
    raw: Option<Box<RawScan<'s>>>,
}

/// A raw client→server stream scanned like an upload body.
struct RawScan<'s> {
    scan: exfilmeter_content::BodyScan<'s>,
    prev: Cursor,
    pending: Sightings<Pending>,
    first_frame: FrameRef,
    last_frame: FrameRef,
    last_ts: Timestamp,
}

/// Whether a stream's first bytes start an HTTP request or a TLS record (parsed by the app
/// layer, not scanned raw).
fn parsed_start(first: &[u8]) -> bool {
    const METHODS: [&[u8]; 9] = [
        b"GET ",
        b"POST ",
        b"PUT ",
        b"HEAD ",
        b"OPTIONS ",
        b"DELETE ",
        b"PATCH ",
        b"CONNECT ",
        b"TRACE ",
    ];
    METHODS
        .iter()
        .any(|m| first.starts_with(m) || m.starts_with(first))
        || (first.first() == Some(&0x16) && first.get(1).is_none_or(|&b| b == 3))
}

/// Request methods that carry no body: a raw flow starting with one is control traffic.
const BODILESS: [&[u8]; 4] = [b"GET ", b"HEAD ", b"OPTIONS ", b"DELETE "];

/// Client→server bytes of a parsed flow that no HTTP message or TLS record accounts for
/// (handshakes, chunk-size lines, content after the parser stopped at a gap) become a raw
/// unit above this size, so nothing large is silently left out of the estimate.
pub const RESIDUAL_MIN: u64 = 4096;

/// Counters of the content accounting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContentStats {
    /// Flows attributed to an indicator.
    pub ioc_flows: u64,
    /// HTTP bodies scanned.
    pub bodies: u64,
    /// Bodies whose decoding stopped (gap in encoded content, corrupt data, size limit).
    pub broken_bodies: u64,
    /// Bodies seen before their flow was attributed (not scanned).
    pub unflagged_bodies: u64,
    /// Bodies decoded as the continuation of the compressed stream the previous request's
    /// body ended in (an archive posted in pieces).
    pub continued_bodies: u64,
    /// Bodies (seen or not) declared longer than what their flow sent before it ended (a
    /// reset, FIN or the capture's end): only the sent bytes count.
    pub cut_bodies: u64,
}

impl ContentStats {
    /// Adds another shard's or bucket's counters.
    pub fn add(&mut self, b: &ContentStats) {
        self.ioc_flows += b.ioc_flows;
        self.bodies += b.bodies;
        self.broken_bodies += b.broken_bodies;
        self.unflagged_bodies += b.unflagged_bodies;
        self.continued_bodies += b.continued_bodies;
        self.cut_bodies += b.cut_bodies;
    }
}

/// The content ledger of IOC flows.
pub struct ContentLedger<'s> {
    shape: &'s RecordShape,
    rules: Rules,
    clock: DayClock,
    set: &'s IocSet,
    live: HashMap<FlowId, Box<FlowContent<'s>>>,
    /// Units of closed IOC flows, in close order.
    pub units: Vec<Unit>,
    /// With [`ContentLedger::summing_units`]: the uploads of closed IOC flows summed per day,
    /// host and (for a flow that learnt no server name, which the end of the run may name)
    /// server address, instead of listed in `units`; per day and host after
    /// [`ContentLedger::finish`].
    unit_sums: Option<UnitGroups>,
    /// Ledger rows of closed IOC flows summed per day, direction, host, indicator, server
    /// name and address, in the order first seen: client→server, and server→client only for
    /// flows that sent nothing client→server.
    days: DayRows,
    /// Closed IOC flows that learnt no server name, and their server address, while uploads
    /// are kept one by one (not summed: a shard's ledger, the library's): the end-of-run naming
    /// applies to their units. Flow facts and sightings carry the address themselves, and
    /// summed uploads are keyed by it, so a run that sums keeps no list that grows with flows.
    unnamed: Vec<(FlowId, Name)>,
    /// Counters.
    pub stats: ContentStats,
    matcher: Option<Matcher<'s>>,
    /// Recovered rows seen in uploads of closed IOC flows, in close order.
    pub sightings: Sightings<Sighting>,
    sweep: bool,
    /// `--sweep` findings: outbound flows to no indicator that carried recovered keys or rows.
    pub sweep_hits: Vec<SweepHit>,
    /// Client→server bytes the sweep scanned for keys.
    pub sweep_bytes: u64,
    /// One fact per closed IOC flow (how it was identified, when, how much left).
    pub flows: IocFlows,
    names: Names,
}

/// What closed flows added to a shard's ledger ([`ContentLedger::take_closed`]).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Closed {
    units: Vec<Unit>,
    days: Vec<FlowDay>,
    flows: Vec<IocFlow>,
    sightings: Vec<Sighting>,
    sweep_hits: Vec<SweepHit>,
}

impl Closed {
    /// The flow-day rows it added.
    pub fn days(&self) -> &[FlowDay] {
        &self.days
    }

    /// Nothing was added.
    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
            && self.days.is_empty()
            && self.flows.is_empty()
            && self.sightings.is_empty()
            && self.sweep_hits.is_empty()
    }
}

/// Uploads summed per day, host and — for a flow that learnt no server name — server address
/// ([`ContentLedger::summing_units`]).
#[derive(Debug, Default)]
struct UnitGroups {
    sums: rustc_hash::FxHashMap<(i32, Name, Option<Name>), UnitSums>,
    /// Uploads added so far (each one's order).
    added: u64,
    /// Per day and host, once the run ended.
    table: Option<UnitTable>,
}

impl UnitGroups {
    fn add(&mut self, u: &Unit, unnamed_ip: Option<&Name>) {
        self.sums
            .entry((u.day, u.host.clone(), unnamed_ip.cloned()))
            .or_default()
            .add(u, self.added);
        self.added += 1;
    }

    /// Sums per day and host, an unnamed flow's uploads under the name `name_of` gives its
    /// server address (when it gives one).
    fn collapse(&self, name_of: impl Fn(&Name) -> Option<Name>) -> UnitTable {
        let mut t = UnitTable::new();
        for ((day, host, ip), s) in &self.sums {
            let host = ip
                .as_ref()
                .and_then(&name_of)
                .unwrap_or_else(|| host.clone());
            t.entry(*day)
                .or_default()
                .entry(host)
                .or_default()
                .merge(s.clone());
        }
        t
    }

    fn finish(&mut self, name_of: impl Fn(&Name) -> Option<Name>) {
        if self.table.is_none() {
            self.table = Some(self.collapse(name_of));
            self.sums.clear();
        }
    }
}

/// How an IOC flow was identified and what it carried out: one line of the report's host
/// section and timeline.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IocFlow {
    /// Flow id.
    pub flow: FlowId,
    /// Host (as in the daily table).
    pub host: Name,
    /// Indicators matched, `;`-joined.
    pub indicator: Name,
    /// The matched indicators by id, sorted, distinct.
    pub iocs: Vec<exfilmeter_intel::IocId>,
    /// Every reason: kind of evidence and the frame that carried it, in the order found.
    pub evidence: Vec<(Via, FrameRef)>,
    /// Server address and port.
    pub server: Name,
    /// Server port.
    pub port: u16,
    /// First and last frame time.
    pub first_ts: Timestamp,
    /// See `first_ts`.
    pub last_ts: Timestamp,
    /// First and last frame.
    pub frames: (FrameRef, FrameRef),
    /// Client→server totals.
    pub c2s: exfilmeter_flow::Counters,
    /// The server address the end of the run may name the flow by, when it learnt no server
    /// name (the tunnel's end for a host reached only through one; see
    /// [`ContentLedger::finish`]).
    pub unnamed: Option<Name>,
}

/// The host a verdict names and the indicators it matched: the server name when one is
/// known (CONNECT target, SNI, Host, DNS), else the first matching indicator; the indicator
/// when only a tunnel's end matched.
pub fn host_of(v: &Verdict, set: &IocSet) -> (String, String) {
    let mut inds: Vec<String> = v
        .reasons
        .iter()
        .filter_map(|r| set.get(r.ioc).map(|i| i.text.clone()))
        .collect();
    inds.dedup();
    // Only a tunnel's end is an indicator: the flow's own server names only where the tunnel
    // led, so the host is the indicator (the tunnel end).
    if !v.reasons.is_empty() && v.reasons.iter().all(|r| r.via == Via::Tunnel) {
        return (inds.first().cloned().unwrap_or_default(), inds.join(";"));
    }
    let named = v
        .reasons
        .iter()
        .filter(|r| r.via != Via::Ip && r.via != Via::Tunnel)
        .find_map(|r| r.name.clone());
    let host = v
        .server_name
        .clone()
        .or(named)
        .or_else(|| inds.first().cloned())
        .unwrap_or_default();
    (host, inds.join(";"))
}

impl<'s> ContentLedger<'s> {
    /// A ledger recognising records of `shape`, splitting days in `clock`'s zone.
    pub fn new(shape: &'s RecordShape, rules: Rules, clock: DayClock, set: &'s IocSet) -> Self {
        ContentLedger {
            shape,
            rules,
            clock,
            set,
            live: HashMap::new(),
            units: Vec::new(),
            unit_sums: None,
            days: DayRows::default(),
            unnamed: Vec::new(),
            stats: ContentStats::default(),
            matcher: None,
            sightings: Sightings::default(),
            sweep: false,
            sweep_hits: Vec::new(),
            sweep_bytes: 0,
            flows: IocFlows::default(),
            names: Names::default(),
        }
    }

    /// Writes the closed IOC flows' facts out to unnamed temporary files in `dir` as they
    /// close (sorted runs, merged when read: [`IocFlows`]), so they do not stay in memory.
    pub fn with_spill(mut self, dir: &std::path::Path) -> Self {
        self.flows = IocFlows::spilled_in(dir);
        self
    }

    /// Sums the uploads of closed IOC flows per day and host as flows close
    /// ([`UnitSums`]) instead of listing them in `units`: memory per day and host, not per
    /// upload. Read them with [`ContentLedger::unit_table`].
    pub fn summing_units(mut self) -> Self {
        self.unit_sums = Some(UnitGroups::default());
        self
    }

    /// The uploads of closed IOC flows per day and host (after [`ContentLedger::finish`],
    /// with the end-of-run names).
    pub fn unit_table(&self) -> std::borrow::Cow<'_, UnitTable> {
        match &self.unit_sums {
            Some(UnitGroups { table: Some(t), .. }) => std::borrow::Cow::Borrowed(t),
            Some(g) => std::borrow::Cow::Owned(g.collapse(|_| None)),
            None => std::borrow::Cow::Owned(crate::estimator::unit_table(&self.units)),
        }
    }

    fn keep_unit(&mut self, u: Unit, unnamed_ip: Option<&Name>) {
        match self.unit_sums.as_mut() {
            Some(g) => g.add(&u, unnamed_ip),
            None => self.units.push(u),
        }
    }

    /// Also searches every flow (not only IOC flows) for recovered keys and rows: call
    /// [`ContentLedger::track`] for each new flow. Needs an index.
    pub fn with_sweep(mut self) -> Self {
        self.sweep = self.matcher.is_some();
        self
    }

    /// A new flow: tracked for the sweep when it is on.
    pub fn track(&mut self, flow: FlowId) {
        if self.sweep {
            self.live.entry(flow).or_insert_with(|| {
                Box::new(FlowContent {
                    sweep_only: true,
                    ..FlowContent::default()
                })
            });
        }
    }

    /// Also matches record lines against the recovered rows of `index` (the shape must
    /// collect lines: `RecordShape::collect_lines`).
    pub fn with_index(mut self, index: &'s RecoveredIndex) -> Self {
        self.matcher = Some(Matcher::new(index));
        self
    }

    fn day(&mut self, ts: Timestamp) -> i32 {
        self.clock.local_day(ts).0
    }

    /// Starts accounting for `flow` (it was attributed to an indicator).
    pub fn flag(&mut self, flow: FlowId) {
        self.live.entry(flow).or_default().sweep_only = false;
    }

    /// Application metadata of a flow.
    pub fn meta(&mut self, flow: FlowId, e: &MetaEvent) {
        if e.dir != Direction::C2s || !self.live.contains_key(&flow) {
            return;
        }
        let day = self.day(e.ts);
        let (rules, shape) = (self.rules, self.shape);
        let Some(f) = self.live.get_mut(&flow) else {
            return;
        };
        match &e.meta {
            Metadata::HttpRequest(r) => {
                f.saw_app = true;
                if r.connect_host().is_some() && !e.tunnelled {
                    f.connect = true;
                }
                let list = usize::from(e.tunnelled);
                if list == usize::from(f.connect) {
                    finish_bodies(
                        f,
                        shape,
                        rules,
                        flow,
                        &mut self.stats,
                        self.matcher.as_mut(),
                        None,
                    );
                }
                f.accounted += r.head_bytes;
                exfilmeter_flow::lean::push(
                    &mut f.reqs[list],
                    Req {
                        content_length: r.content_length,
                        head_bytes: r.head_bytes,
                        day,
                        ts: e.ts,
                        frame: e.frame,
                        has_body: false,
                        boundary: r.boundary.clone(),
                        encoding: r.content_encoding.clone(),
                        form: r.content_type.as_deref().is_some_and(|t| {
                            t.trim_start()
                                .to_ascii_lowercase()
                                .starts_with("application/x-www-form-urlencoded")
                        }),
                    },
                );
            }
            Metadata::TlsRecord {
                content_type: 23,
                length,
            } => {
                f.saw_app = true;
                f.accounted += 5 + u64::from(*length);
                let plain = u64::from(*length).saturating_sub(rules.tls_overhead);
                *f.app.entry(day).or_default() += plain;
                if plain < rules.control_max {
                    *f.control.entry(day).or_default() += 5 + u64::from(*length);
                } else {
                    let t = f.tls.entry(day).or_insert((0, 0, e.ts, e.frame, e.frame));
                    t.0 += plain;
                    t.1 += plain.min(rules.tls_framing);
                    t.2 = e.ts;
                    t.4 = e.frame;
                }
            }
            Metadata::TlsRecord { .. } | Metadata::TlsClientHello(_) => f.saw_app = true,
            _ => {}
        }
    }

    /// Reassembled stream content of a flow: its first client bytes are kept, and the
    /// client→server stream of an attributed flow that starts as neither HTTP nor TLS is
    /// scanned as one upload.
    pub fn data(
        &mut self,
        flow: FlowId,
        dir: Direction,
        offset: u64,
        seen: exfilmeter_content::Seen,
        bytes: &[u8],
    ) {
        if dir != Direction::C2s {
            return;
        }
        let shape = self.shape;
        if let Some(f) = self.live.get_mut(&flow) {
            if !f.sweep_only && !f.saw_app {
                if f.raw.is_none() && offset == 0 && !bytes.is_empty() && !parsed_start(bytes) {
                    f.raw = Some(Box::new(RawScan {
                        scan: exfilmeter_content::BodyScan::new(shape),
                        prev: Cursor::default(),
                        pending: Sightings::default(),
                        first_frame: seen.1,
                        last_frame: seen.1,
                        last_ts: seen.0,
                    }));
                }
                if let Some(r) = f.raw.as_mut() {
                    r.scan.feed_at(offset, bytes, seen);
                    r.last_frame = seen.1;
                    r.last_ts = seen.0;
                    if let Some(m) = self.matcher.as_mut() {
                        m.drain(&mut r.scan, &mut r.prev, &mut r.pending.list);
                        Matcher::settle_ready(&mut r.prev, &r.scan, &mut r.pending.list);
                        r.pending.check();
                    }
                }
            } else if f.saw_app {
                // Parsed after all: not a raw upload.
                f.raw = None;
            }
        }
        if self.sweep {
            if let (Some(f), Some(m)) = (self.live.get_mut(&flow), self.matcher.as_ref()) {
                if f.sweep_only {
                    self.sweep_bytes += sweep::scan_keys(f, m.index(), offset, bytes);
                }
            }
        }
        if offset >= 8 {
            return;
        }
        if let Some(f) = self.live.get_mut(&flow) {
            f.first_bytes.extend(offset, bytes);
        }
    }

    /// A flow ended: its units and ledger rows are kept when it was attributed.
    pub fn closed(&mut self, r: &FlowRecord, v: &Verdict) {
        let Some(mut f) = self.live.remove(&r.id) else {
            return;
        };
        if !v.is_ioc() {
            if self.sweep {
                self.sweep_close(r, v, f);
            }
            return;
        }
        self.stats.ioc_flows += 1;
        let total_out = r.ledger.total(Direction::C2s);
        let sent = total_out.stream_bytes + total_out.gap_bytes;
        // In message order: the unseen bodies of requests before the open ones were sent
        // before them (a body lost in a gap), then the open bodies, then the unseen after.
        let first_open = f.bodies.keys().next().copied().unwrap_or(u32::MAX);
        self.unseen_bodies(&mut f, r.id, sent, 0..first_open);
        self.end_bodies(&mut f, r.id, sent);
        self.unseen_bodies(&mut f, r.id, sent, first_open..u32::MAX);
        let (host, indicators) = host_of(v, self.set);
        let (host, indicators) = (self.names.get(&host), self.names.get(&indicators));
        // A host reached only through a tunnel is the tunnel's end: its rows name that address
        // as their server (the end-of-run naming goes by it, not by the inner server's address,
        // which tunnels often repeat).
        let tunnel_end = v
            .reasons
            .iter()
            .all(|x| x.via == Via::Tunnel)
            .then(|| v.reasons.first().and_then(|x| x.name.clone()))
            .flatten();
        let flow_server = self.names.ip(r.server.ip);
        let server_ip = match tunnel_end {
            Some(end) => self.names.get(&end),
            None => flow_server.clone(),
        };
        let server_name = self.names.get(v.server_name.as_deref().unwrap_or_default());
        // A flow that learnt no server name: the end of the run may name it by its address.
        let unnamed_ip = server_name.is_empty().then(|| server_ip.clone());
        if let (Some(ip), None) = (&unnamed_ip, &self.unit_sums) {
            self.unnamed.push((r.id, ip.clone()));
        }
        if f.connect {
            // The CONNECT itself is control traffic.
            for q in &f.reqs[0] {
                *f.control.entry(q.day).or_default() += q.head_bytes;
            }
        }
        for (day, (bytes, framing, ts, first, last)) in &f.tls {
            f.units.push(Unit {
                day: *day,
                ts: *ts,
                flow: r.id,
                host: Name::from(""),
                source: Source::Tls,
                body: BodyResult {
                    kind: Kind::Opaque,
                    length: *bytes,
                    seen: *bytes,
                    missing: 0,
                    counted: None,
                    broken: false,
                },
                control: false,
                framing: *framing,
                frames: (*first, *last),
            });
        }
        let raw = !f.saw_app;
        self.flows.push(IocFlow {
            flow: r.id,
            host: host.clone(),
            indicator: indicators.clone(),
            iocs: {
                let mut ids: Vec<_> = v.reasons.iter().map(|x| x.ioc).collect();
                ids.sort_unstable();
                ids.dedup();
                ids
            },
            evidence: v.reasons.iter().map(|x| (x.via, x.frame)).collect(),
            server: flow_server,
            port: r.server.port,
            first_ts: r.first_ts,
            last_ts: r.last_ts,
            frames: (r.first_frame, r.last_frame),
            c2s: total_out,
            unnamed: unnamed_ip.clone(),
        });
        // A raw stream that decoded to records is one upload, counted (on the day of its last
        // byte); one that did not stays opaque volume, per day, below.
        let mut raw_decoded = false;
        if let Some(rs) = f.raw.take().filter(|_| raw) {
            let RawScan {
                scan,
                prev,
                mut pending,
                first_frame,
                last_frame,
                last_ts,
            } = *rs;
            let last_day = self.clock.local_day(last_ts).0;
            let result = match bodies::end_scan(
                scan,
                prev,
                None,
                (0, last_day, None),
                self.matcher.as_mut(),
                &mut pending,
            ) {
                bodies::ScanEnd::Finished(result, _) => Some(result),
                // Ended inside a compressed stream (the sender stopped there): its sent
                // prefix counts, and the rows it decoded to in full are matched.
                bodies::ScanEnd::Suspended(result, s) => {
                    bodies::finish_suspended(*s, self.matcher.as_mut(), &mut pending);
                    Some(result)
                }
            };
            if let Some(result) = result {
                if result.counted.is_some_and(|c| c.complete + c.partial > 0) {
                    raw_decoded = true;
                    f.sightings
                        .extend(pending.list.drain(..).map(|p| (last_day, p)));
                    f.units.push(Unit {
                        day: last_day,
                        ts: last_ts,
                        flow: r.id,
                        host: Name::from(""),
                        source: Source::Raw,
                        body: result,
                        control: false,
                        framing: 0,
                        frames: (first_frame, last_frame),
                    });
                }
            }
        }
        let residual = (total_out.stream_bytes + total_out.gap_bytes).saturating_sub(f.accounted);
        if !raw && residual > RESIDUAL_MIN {
            let day = r
                .ledger
                .rows()
                .iter()
                .filter(|(d, _, _)| *d == Direction::C2s)
                .map(|(_, d, _)| Day::of(*d).0)
                .next_back()
                .unwrap_or_default();
            self.units_raw(&mut f, r, day, residual, 0);
        }
        // Server→client rows are kept only for a flow that sent nothing the other way (its
        // host and server name still count for the end-of-run naming): the daily volume is
        // client→server, and a row per direction doubled what many short flows held.
        let has_c2s = r.ledger.rows().iter().any(|(d, _, _)| *d == Direction::C2s);
        for (dir, d, c) in r.ledger.rows() {
            let day = Day::of(*d).0;
            let c2s = *dir == Direction::C2s;
            if !c2s && has_c2s {
                continue;
            }
            let mut app = f.app.get(&day).copied().unwrap_or(0);
            let mut control = f.control.get(&day).copied().unwrap_or(0);
            if c2s && raw {
                let content = if c.stream_bytes + c.gap_bytes > 0 {
                    c.stream_bytes + c.gap_bytes
                } else {
                    c.payload_bytes
                };
                let bodiless = BODILESS
                    .iter()
                    .any(|m| f.first_bytes.as_slice().starts_with(m));
                // Requests without a body carry no application content, like parsed GETs.
                app = if bodiless { 0 } else { content };
                if !raw_decoded
                    && (bodiless
                        || total_out.stream_bytes + total_out.payload_bytes
                            < self.rules.control_max)
                {
                    control = content;
                } else if content > 0 && !raw_decoded {
                    self.units_raw(&mut f, r, day, content, c.gap_bytes + c.truncated_bytes);
                }
            }
            self.days.add(FlowDay {
                day,
                host: host.clone(),
                indicator: indicators.clone(),
                server_name: server_name.clone(),
                server_ip: server_ip.clone(),
                flow_id: r.id.0,
                flows: 1,
                c2s,
                frames: c.frames,
                frame_bytes: c.frame_bytes,
                ip_bytes: c.ip_bytes,
                payload_bytes: c.payload_bytes,
                stream_bytes: c.stream_bytes,
                truncated_bytes: c.truncated_bytes,
                retrans_bytes: c.retrans_bytes,
                gap_bytes: c.gap_bytes,
                app_bytes: if c2s { app } else { 0 },
                control_bytes: if c2s { control } else { 0 },
                unsent_declared_bytes: if c2s {
                    f.unsent.get(&day).copied().unwrap_or(0)
                } else {
                    0
                },
            });
        }
        for mut u in f.units {
            u.host = host.clone();
            self.keep_unit(u, unnamed_ip.as_ref());
        }
        self.sightings
            .extend(f.sightings.list.into_iter().map(|(day, seen)| Sighting {
                seen,
                day,
                host: host.to_string(),
                flow: r.id,
                unnamed: unnamed_ip.as_deref().map(str::to_string),
            }));
    }

    /// Requests of `messages` whose body never showed (known length, nothing captured):
    /// unseen bodies, as long as what the flow sent after the heads and bodies before them.
    fn unseen_bodies(
        &mut self,
        f: &mut FlowContent<'s>,
        flow: FlowId,
        sent: u64,
        messages: std::ops::Range<u32>,
    ) {
        let list = usize::from(f.connect);
        let (lo, hi) = (messages.start as usize, messages.end as usize);
        let reqs: Vec<Req> = f.reqs[list]
            .iter()
            .enumerate()
            .filter(|(i, q)| *i >= lo && *i < hi && !q.has_body)
            .map(|(_, q)| q.clone())
            .collect();
        for q in &reqs {
            let declared = q.content_length.unwrap_or(0);
            let left = sent.saturating_sub(f.accounted);
            if declared > left {
                *f.unsent.entry(q.day).or_default() += declared - left;
                self.stats.cut_bodies += 1;
            }
            match q.content_length.map(|n| n.min(left)) {
                Some(n) if n > 0 => {
                    *f.app.entry(q.day).or_default() += n;
                    f.accounted += n;
                    f.units.push(Unit {
                        day: q.day,
                        ts: q.ts,
                        flow,
                        host: Name::from(""),
                        source: Source::HttpBody,
                        body: BodyResult {
                            kind: Kind::Unseen,
                            length: n,
                            seen: 0,
                            missing: n,
                            counted: None,
                            broken: false,
                        },
                        control: n < self.rules.control_max,
                        framing: 0,
                        frames: (q.frame, q.frame),
                    });
                }
                _ => *f.control.entry(q.day).or_default() += q.head_bytes,
            }
        }
    }

    /// A ledger of one shard of a run: what each closed flow adds is taken with
    /// [`ContentLedger::take_closed`] and handed to the run's ledger
    /// ([`ContentLedger::absorb`]) in the order one pass would have closed the flows.
    pub fn for_shard(mut self) -> Self {
        self.sightings = Sightings::unmerged();
        self
    }

    /// What the flows closed since the last call added (a shard's ledger; called after each
    /// flow, so its rows are that flow's own).
    pub fn take_closed(&mut self) -> Closed {
        self.unnamed.clear();
        Closed {
            units: std::mem::take(&mut self.units),
            days: self.days.take(),
            flows: self.flows.take_pending(),
            sightings: std::mem::take(&mut self.sightings.list),
            sweep_hits: std::mem::take(&mut self.sweep_hits),
        }
    }

    /// Adds what a shard's closed flows added, in close order.
    pub fn absorb(&mut self, c: Closed) {
        // One flow's: its rows share its server name and address.
        let unnamed_ip = c
            .days
            .iter()
            .find(|d| d.server_name.is_empty())
            .map(|d| d.server_ip.clone());
        for u in c.units {
            self.keep_unit(u, unnamed_ip.as_ref());
        }
        if let (Some(ip), Some(d), None) = (&unnamed_ip, c.days.first(), &self.unit_sums) {
            self.unnamed.push((FlowId(d.flow_id), ip.clone()));
        }
        for d in c.days {
            self.days.add(d);
        }
        for f in c.flows {
            self.flows.push(f);
        }
        self.sightings.extend(c.sightings);
        self.sweep_hits.extend(c.sweep_hits);
    }

    /// Ledger rows of closed IOC flows summed per day, direction, host, indicator, server
    /// name and address, in the order first seen: client→server, and server→client only for
    /// flows that sent nothing client→server.
    pub fn days(&self) -> &[FlowDay] {
        self.days.rows()
    }

    /// Takes the summed ledger rows out ([`ContentLedger::days`]).
    pub fn take_days(&mut self) -> Vec<FlowDay> {
        self.days.take()
    }

    /// Writing the IOC flows out failed ([`IocFlows::failed`]; the error comes when they are
    /// read).
    pub fn failed(&self) -> bool {
        self.flows.failed()
    }

    /// Adds a shard's counters (at the end of the run).
    pub fn add_counts(&mut self, shard: &ContentLedger<'_>) {
        self.stats.add(&shard.stats);
        self.sweep_bytes += shard.sweep_bytes;
    }

    /// Ends the run: a flow that was attributed without learning a server name (e.g. a
    /// connection already open when the capture started, or one whose head the snapshot
    /// length cut) takes the name other attributed flows to the same server address
    /// learned, when there is exactly one. The rule reads only a row's server name and
    /// address, so it is applied to the summed rows as it would be to each flow's.
    pub fn finish(&mut self) {
        let mut names: BTreeMap<Name, std::collections::BTreeSet<Name>> = BTreeMap::new();
        for d in self.days.rows() {
            if !d.server_name.is_empty() {
                names
                    .entry(d.server_ip.clone())
                    .or_default()
                    .insert(d.host.clone());
            }
        }
        let name_of = |server_ip: &str| -> Option<Name> {
            let set = names.get(server_ip)?;
            if set.len() == 1 {
                set.iter().next().cloned()
            } else {
                None
            }
        };
        // The flow facts are named by the address they carry: one entry per address.
        self.flows.rename(
            names
                .keys()
                .filter_map(|ip| Some((ip.clone(), name_of(ip)?)))
                .collect(),
        );
        self.days.rename(|d| {
            if d.server_name.is_empty() {
                name_of(&d.server_ip)
            } else {
                None
            }
        });
        let renamed: HashMap<u64, Name> = self
            .unnamed
            .iter()
            .filter_map(|(f, ip)| Some((f.0, name_of(ip)?)))
            .collect();
        if let Some(g) = self.unit_sums.as_mut() {
            g.finish(|ip| name_of(ip));
        }
        // A sighting names its unnamed flow's address (sightings of several flows merged).
        for s in &mut self.sightings.list {
            if let Some(h) = s.unnamed.as_deref().and_then(name_of) {
                s.host = h.to_string();
            }
        }
        for u in &mut self.units {
            if let Some(h) = renamed.get(&u.flow.0) {
                u.host = h.clone();
            }
        }
    }

    fn units_raw(&self, f: &mut FlowContent<'s>, r: &FlowRecord, day: i32, len: u64, miss: u64) {
        f.units.push(Unit {
            day,
            ts: r.last_ts,
            flow: r.id,
            host: Name::from(""),
            source: Source::Raw,
            body: BodyResult {
                kind: Kind::Opaque,
                length: len,
                seen: len.saturating_sub(miss),
                missing: miss.min(len),
                counted: None,
                broken: false,
            },
            control: false,
            // Unparsed bytes: their framing is unknown, so none of them counts towards
            // the low basis.
            framing: len,
            frames: (r.first_frame, r.last_frame),
        });
    }
}

#[cfg(test)]
mod first_bytes_tests {
    use super::FirstBytes;

    #[test]
    fn first_bytes_keep_the_stream_start_and_stop_at_a_hole_or_eight_bytes() {
        let mut f = FirstBytes::default();
        f.extend(0, b"PO");
        f.extend(2, b"ST /up");
        assert_eq!(f.as_slice(), b"POST /up");
        f.extend(8, b"load");
        assert_eq!(f.as_slice(), b"POST /up");
        let mut g = FirstBytes::default();
        g.extend(0, b"GET");
        g.extend(5, b"xx"); // after a hole: not the stream's next bytes
        g.extend(3, b" /");
        assert_eq!(g.as_slice(), b"GET /");
        let mut h = FirstBytes::default();
        h.extend(1, b"late start");
        assert_eq!(h.as_slice(), b"");
    }

    /// Every live IOC flow has one: within the 320-byte size class.
    #[test]
    fn a_flow_s_content_state_stays_within_its_size_class() {
        let n = std::mem::size_of::<super::FlowContent<'static>>();
        assert!(n <= 320, "FlowContent is {n} bytes");
    }
}
