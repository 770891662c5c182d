//! The flow table: keys packets to flows, decides client and server, drives TCP
//! reassembly, fills the ledger and expires flows — all by capture time.

use crate::app::{dns, App, AppOut, MetaEvent, Metadata};
use crate::day::DayClock;
use crate::key::{ends, is_group, server_by_port, Direction, Endpoint, FlowKey, Proto, RoleRule};
use crate::ledger::Ledger;
use crate::sink::{CloseReason, FlowAnomalies, FlowId, FlowRecord, FlowSink};
use crate::tcp::{Budget, Ctx, GapKind, Half, StreamOut};
use chrono_tz::Tz;
use exfilmeter_ingest::{FrameRef, Packet, TcpFlags, Timestamp, Transport, NANOS_PER_SEC};
use hashbrown::hash_map::Entry as Slot;
use rustc_hash::FxBuildHasher;

/// The flow table: hashbrown's map (the standard map's own), for `extract_if`, which takes the
/// expired flows out in the sweep's one walk of the table instead of looking each up again.
type FlowTable = hashbrown::HashMap<FlowKey, Entry, FxBuildHasher>;

/// Limits and timeouts (capture time).
#[derive(Debug, Clone)]
pub struct TrackerConfig {
    /// The case's time zone (local days).
    pub tz: Tz,
    /// TCP flows idle this long are closed (ns).
    pub tcp_idle_ns: i64,
    /// UDP flows idle this long are closed (ns).
    pub udp_idle_ns: i64,
    /// Other flows idle this long are closed (ns).
    pub other_idle_ns: i64,
    /// After both FINs or a RST, late packets are still absorbed this long (ns).
    pub linger_ns: i64,
    /// Flows held at once; beyond, the least recently active are evicted.
    pub max_flows: usize,
    /// Out-of-order bytes buffered per flow direction.
    pub ooo_per_flow: usize,
    /// Out-of-order bytes buffered over all flows.
    pub ooo_total: usize,
    /// Recently delivered bytes kept per direction to compare retransmissions.
    pub window: usize,
    /// Total memory for those windows.
    pub window_total: usize,
}

impl TrackerConfig {
    /// The settings of one of `n` shards that share these limits: the flow cap and the
    /// memory caps divided between them (rounded up), everything else the same.
    pub fn shard(&self, n: usize) -> TrackerConfig {
        let n = n.max(1);
        TrackerConfig {
            max_flows: self.max_flows.div_ceil(n).max(1),
            ooo_total: self.ooo_total.div_ceil(n),
            window_total: self.window_total.div_ceil(n),
            ..self.clone()
        }
    }
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            tz: chrono_tz::UTC,
            tcp_idle_ns: 3600 * NANOS_PER_SEC,
            udp_idle_ns: 120 * NANOS_PER_SEC,
            other_idle_ns: 60 * NANOS_PER_SEC,
            linger_ns: 30 * NANOS_PER_SEC,
            max_flows: 1_000_000,
            ooo_per_flow: 8 << 20,
            ooo_total: 128 << 20,
            window: 16 << 10,
            window_total: 64 << 20,
        }
    }
}

/// Tracker-wide counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TrackerStats {
    /// Packets seen.
    pub packets: u64,
    /// Flows opened.
    pub flows: u64,
    /// Flows evicted by the table cap.
    pub evicted: u64,
    /// Highest number of flows held at once.
    pub peak_flows: u64,
    /// Highest out-of-order bytes held at once.
    pub peak_ooo_bytes: u64,
    /// Gaps declared because a buffer cap was reached.
    pub cap_gaps: u64,
}

impl TrackerStats {
    /// Adds the counters of another shard of the same run; the peaks add up to what the
    /// shards held at most together.
    pub fn add(&mut self, o: &TrackerStats) {
        self.packets += o.packets;
        self.flows += o.flows;
        self.evicted += o.evicted;
        self.peak_flows += o.peak_flows;
        self.peak_ooo_bytes += o.peak_ooo_bytes;
        self.cap_gaps += o.cap_gaps;
    }
}

struct TcpState {
    half: [Half; 2],
    /// Application-layer state, created with the first payload (most half-open or
    /// ACK-only flows never need it).
    app: Option<Box<App>>,
    /// The application layer was dropped at close (late data is not parsed).
    app_done: bool,
    dns_port: bool,
    fin: [bool; 2],
    rst: bool,
    closing_since: Option<Timestamp>,
}

struct Flow {
    id: FlowId,
    key: FlowKey,
    client: Endpoint,
    server: Endpoint,
    rule: RoleRule,
    first_ts: Timestamp,
    last_ts: Timestamp,
    first_frame: FrameRef,
    last_frame: FrameRef,
    ledger: Ledger,
    history: History,
    tcp: Option<Box<TcpState>>,
    /// A UDP flow read as QUIC or DTLS for its ClientHello.
    hello: UdpHello,
    /// What few flows need: the tunnel ends they travelled in, their anomaly counters.
    rare: Option<Box<Rare>>,
}

/// The parts of a flow most flows never need, in a box allocated on first need (the flow
/// itself then fits mimalloc's 256-byte size class, not the 320-byte one: a fifth less per
/// live flow).
#[derive(Default)]
struct Rare {
    /// The tunnel ends reported to the sink so far (address-ordered).
    tunnel: SeenTunnels,
    incomplete_headers: u64,
    malformed_app: u64,
}

impl Rare {
    /// Counts malformed application data in a flow's `rare` part (nothing is allocated for
    /// none).
    fn malformed(rare: &mut Option<Box<Rare>>, n: u64) {
        if n > 0 {
            rare.get_or_insert_default().malformed_app += n;
        }
    }
}

/// Where a UDP flow stands with the ClientHello of QUIC (`app::quic`) or DTLS (`app::dtls`).
enum UdpHello {
    /// This many datagrams looked at, none of them starting a QUIC or DTLS handshake (a
    /// WebRTC flow sends STUN before its DTLS handshake).
    Looking(u8),
    /// Initial packets seen; the ClientHello not yet whole.
    Reading(Box<crate::app::quic::QuicInitial>),
    /// DTLS handshake records seen; the ClientHello not yet whole.
    Dtls(Box<crate::app::dtls::DtlsHello>),
    /// The ClientHello was read, or the flow is neither: nothing more to look at.
    Done,
}

/// The last few distinct tunnel ends a flow's packets travelled in (address-ordered), so a
/// flow whose two directions take two tunnels (a Teredo exchange through a relay) tells its
/// sink each once, not on every packet.
#[derive(Default)]
struct SeenTunnels {
    ends: [Option<exfilmeter_ingest::TunnelEnds>; 4],
    next: usize,
}

impl SeenTunnels {
    /// Whether `t` was not among them (it is now, in place of the oldest).
    fn first_sight(&mut self, t: &exfilmeter_ingest::TunnelEnds) -> bool {
        let t = t.unordered();
        if self.ends.iter().flatten().any(|e| *e == t) {
            return false;
        }
        self.ends[self.next] = Some(t);
        self.next = (self.next + 1) % self.ends.len();
        true
    }
}

/// Zeek-like history: each letter once, in order of first occurrence; upper case for
/// the client, lower case for the server. Held inline (at most 2 × 9 letters), so a flow
/// costs no allocation for it until its record is written.
#[derive(Default)]
struct History {
    letters: [u8; 18],
    len: u8,
}

impl History {
    fn mark(&mut self, dir: Direction, c: char) {
        let c = if dir == Direction::C2s {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        } as u8;
        let n = usize::from(self.len);
        if !self.letters[..n].contains(&c) && n < self.letters.len() {
            self.letters[n] = c;
            self.len += 1;
        }
    }

    fn text(&self) -> String {
        self.letters[..usize::from(self.len)]
            .iter()
            .map(|&b| char::from(b))
            .collect()
    }
}

/// Adapts a [`FlowSink`] to one flow's stream output, running the application layer on
/// the way.
struct Out<'a, S: FlowSink> {
    id: FlowId,
    sink: &'a mut S,
    gaps: &'a mut bool,
    app: Option<&'a mut App>,
}

fn app_out<S: FlowSink>(id: FlowId, sink: &mut S) -> impl FnMut(AppOut<'_>) + '_ {
    move |o| match o {
        AppOut::Meta(m) => sink.metadata(id, &m),
        AppOut::Body {
            dir,
            message,
            offset,
            ts,
            frame,
            bytes,
        } => sink.body(id, dir, message, offset, ts, frame, bytes),
    }
}

impl<S: FlowSink> StreamOut for Out<'_, S> {
    fn data(&mut self, dir: Direction, offset: u64, ts: Timestamp, frame: FrameRef, bytes: &[u8]) {
        if let Some(app) = self.app.as_deref_mut() {
            app.data(dir, ts, frame, bytes, &mut app_out(self.id, self.sink));
        }
        self.sink.data(self.id, dir, offset, ts, frame, bytes);
    }
    fn gap(&mut self, dir: Direction, offset: u64, len: u64, kind: GapKind) {
        if kind != GapKind::Truncated {
            *self.gaps = true;
        }
        if let Some(app) = self.app.as_deref_mut() {
            app.gap(dir, len);
        }
        self.sink.gap(self.id, dir, offset, len, kind);
    }
}

/// What one direction's reassembler needs around it (disjoint borrows of the flow and
/// the tracker).
struct StreamParts<'a> {
    id: FlowId,
    dir: Direction,
    app: Option<&'a mut App>,
    ledger: &'a mut Ledger,
    clock: &'a mut DayClock,
    budget: &'a mut Budget,
}

/// Runs `f` on a direction's reassembler with its output wired to the application layer
/// and the sink; returns whether a content gap was delivered.
fn on_stream<S: FlowSink>(
    parts: StreamParts<'_>,
    half: &mut Half,
    sink: &mut S,
    f: impl FnOnce(&mut Half, &mut Ctx<'_, Out<'_, S>>),
) -> bool {
    let mut gaps = false;
    let mut out = Out {
        id: parts.id,
        sink,
        gaps: &mut gaps,
        app: parts.app,
    };
    let mut ctx = Ctx {
        dir: parts.dir,
        ledger: parts.ledger,
        clock: parts.clock,
        out: &mut out,
        budget: parts.budget,
    };
    f(half, &mut ctx);
    gaps
}

/// A flow in the table, with the capture time after which it is expired held beside it: the
/// sweep reads the table's own memory and follows the pointer only to the flows it closes.
struct Entry {
    /// The flow is expired at any capture time after this one (ns; see [`Tracker::due`]).
    due: i64,
    /// The flow's id (the order flows are closed in), also held here so that ordering them
    /// reads no flow.
    id: FlowId,
    flow: Box<Flow>,
}

/// Tracks flows of one sensor's packets, in capture order.
pub struct Tracker {
    cfg: TrackerConfig,
    table: FlowTable,
    clock: DayClock,
    now: Timestamp,
    last_sweep: Timestamp,
    budget: Budget,
    stats: TrackerStats,
}

/// How often (capture time) idle flows are looked for.
const SWEEP_NS: i64 = 10 * NANOS_PER_SEC;

impl Tracker {
    /// A tracker with these limits.
    pub fn new(cfg: TrackerConfig) -> Tracker {
        let budget = Budget {
            ooo_cap: cfg.ooo_total,
            ooo_per_flow: cfg.ooo_per_flow,
            win_cap: cfg.window_total,
            win_size: cfg.window,
            ..Budget::default()
        };
        Tracker {
            clock: DayClock::new(cfg.tz),
            cfg,
            table: FlowTable::default(),
            now: Timestamp(i64::MIN),
            last_sweep: Timestamp(i64::MIN),
            budget,
            stats: TrackerStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> &TrackerStats {
        &self.stats
    }

    /// Flows currently held.
    pub fn live_flows(&self) -> usize {
        self.table.len()
    }

    fn idle_limit(cfg: &TrackerConfig, proto: Proto) -> i64 {
        match proto {
            Proto::Tcp => cfg.tcp_idle_ns,
            Proto::Udp => cfg.udp_idle_ns,
            _ => cfg.other_idle_ns,
        }
    }

    /// The capture time after which `f` is expired: [`Tracker::expired`] is `Some` at `now`
    /// exactly when `now` is later than this.
    fn due(cfg: &TrackerConfig, f: &Flow) -> i64 {
        let idle = Tracker::idle_limit(cfg, f.key.proto);
        let lingered = f
            .tcp
            .as_ref()
            .and_then(|t| t.closing_since)
            .map_or(i64::MAX, |since| since.0.saturating_add(cfg.linger_ns));
        f.last_ts.0.saturating_add(idle).min(lingered)
    }

    fn expired_by(cfg: &TrackerConfig, f: &Flow, now: Timestamp) -> Option<CloseReason> {
        if let Some(t) = &f.tcp {
            if let Some(since) = t.closing_since {
                if now.0.saturating_sub(since.0) > cfg.linger_ns {
                    return Some(if t.rst {
                        CloseReason::Rst
                    } else {
                        CloseReason::Fin
                    });
                }
            }
        }
        (now.0.saturating_sub(f.last_ts.0) > Tracker::idle_limit(cfg, f.key.proto))
            .then_some(CloseReason::Idle)
    }

    /// Accounts one packet.
    pub fn packet<S: FlowSink>(&mut self, p: &Packet<'_>, sink: &mut S) {
        if p.ts > self.now {
            self.now = p.ts;
        }
        if Tracker::sweep_due(self.now, &mut self.last_sweep) {
            self.sweep(sink);
        }
        self.account(p, sink);
    }

    /// Accounts one packet of a shard: `now` is the latest capture time over every shard's
    /// packets so far (this one's included), and idle flows are looked for only at
    /// [`Tracker::tick`] — so each shard ends flows at the same points as one tracker seeing
    /// every packet.
    pub fn packet_at<S: FlowSink>(&mut self, p: &Packet<'_>, now: Timestamp, sink: &mut S) {
        self.now = self.now.max(now);
        self.account(p, sink);
    }

    /// Whether a tracker that has seen capture time up to `now` looks for idle flows before
    /// its next packet; `last` is when it last did (updated when it is due). It does each
    /// time the capture clock enters a new 10-second slot of the epoch: a rule that needs
    /// only the clock, not the sweeps before, so a file's sweep points can be told from that
    /// file and the latest time of the files before it (`split`, decision 0027).
    pub fn sweep_due(now: Timestamp, last: &mut Timestamp) -> bool {
        let due = Tracker::sweep_slot(now) > Tracker::sweep_slot(*last);
        if due {
            *last = now;
        }
        due
    }

    /// The 10-second slot of capture time `t` (sweeps happen where it changes).
    pub fn sweep_slot(t: Timestamp) -> i64 {
        t.0.div_euclid(SWEEP_NS)
    }

    /// Closes, at capture time `now`, the flows that are idle or done lingering (in flow-id
    /// order): what [`Tracker::packet`] does every 10 s of capture time.
    pub fn tick<S: FlowSink>(&mut self, now: Timestamp, sink: &mut S) {
        self.now = self.now.max(now);
        self.last_sweep = self.now;
        self.sweep(sink);
    }

    /// Whether the flow of `entry` ends before packet `p` of it: idle or done lingering, or a
    /// new connection on the same ports (a SYN with another initial sequence number).
    fn ends_before(
        cfg: &TrackerConfig,
        entry: &Entry,
        p: &Packet<'_>,
        e: &crate::key::PacketEnds,
        tcp: Option<exfilmeter_ingest::TcpView<'_>>,
        pure_syn: bool,
    ) -> Option<CloseReason> {
        let f = &*entry.flow;
        if let Some(r) = (p.ts.0 > entry.due)
            .then(|| Tracker::expired_by(cfg, f, p.ts))
            .flatten()
        {
            return Some(r);
        }
        if !pure_syn {
            return None;
        }
        let t = f.tcp.as_ref()?;
        let dir = if e.src == f.client {
            Direction::C2s
        } else {
            Direction::S2c
        };
        let h = &t.half[dir.index()];
        let same_isn = h
            .space()
            .is_some_and(|s| s.base == crate::seq::SeqNumber(tcp.map_or(0, |t| t.seq)) + 1);
        (t.closing_since.is_some()
            || (h.has_syn() && !same_isn)
            || (!h.has_syn() && h.max_end() > 0))
            .then_some(CloseReason::Reused)
    }

    /// A new flow for packet `p`: client and server decided, the sink told.
    fn open<S: FlowSink>(
        cfg: &TrackerConfig,
        stats: &mut TrackerStats,
        p: &Packet<'_>,
        e: &crate::key::PacketEnds,
        tcp: Option<exfilmeter_ingest::TcpView<'_>>,
        sink: &mut S,
    ) -> Entry {
        let (client, server, rule) = match tcp {
            Some(t) if t.complete && t.flags.has(TcpFlags::SYN) && !t.flags.has(TcpFlags::ACK) => {
                (e.src, e.dst, RoleRule::Syn)
            }
            Some(t) if t.complete && t.flags.has(TcpFlags::SYN | TcpFlags::ACK) => {
                (e.dst, e.src, RoleRule::SynAck)
            }
            // Only a client sends a DTLS ClientHello, or a QUIC Initial that opens with the
            // client's keys, whatever the ports say.
            _ if e.key.proto == Proto::Udp
                && (crate::app::dtls::DtlsHello::starts(p.payload)
                    || crate::app::quic::from_client(p.payload)) =>
            {
                (e.src, e.dst, RoleRule::Content)
            }
            _ if e.key.proto == Proto::Udp && e.src.port == e.dst.port => {
                // Same port on both ends: the first datagram may say which end it is.
                match sender_is_server(e.src.port, p.payload) {
                    Some(true) => (e.dst, e.src, RoleRule::Content),
                    Some(false) => (e.src, e.dst, RoleRule::Content),
                    None => (e.src, e.dst, RoleRule::FirstPacket),
                }
            }
            _ if is_group(e.dst.ip) || e.src.port == e.dst.port => {
                // To a multicast/broadcast group, or the same port on both ends (NTP
                // 123↔123, mDNS, BACnet): ports say nothing; the first sender is the client.
                (e.src, e.dst, RoleRule::FirstPacket)
            }
            _ if e.key.proto == Proto::Tcp || e.key.proto == Proto::Udp => {
                if server_by_port(e.src.port, e.dst.port) {
                    (e.dst, e.src, RoleRule::Port)
                } else {
                    (e.src, e.dst, RoleRule::Port)
                }
            }
            _ => (e.src, e.dst, RoleRule::FirstPacket),
        };
        let id = FlowId::from_frame(p.wire.first_frame);
        sink.opened(id, &e.key, client, p.ts);
        stats.flows += 1;
        let flow = Box::new(Flow {
            id,
            key: e.key,
            client,
            server,
            rule,
            first_ts: p.ts,
            last_ts: p.ts,
            first_frame: p.wire.first_frame,
            last_frame: p.frame,
            ledger: Ledger::default(),
            history: History::default(),
            tcp: (e.key.proto == Proto::Tcp).then(|| {
                Box::new(TcpState {
                    half: [Half::default(), Half::default()],
                    app: None,
                    app_done: false,
                    dns_port: dns::is_dns_port(e.src.port, true)
                        || dns::is_dns_port(e.dst.port, true),
                    fin: [false; 2],
                    rst: false,
                    closing_since: None,
                })
            }),
            hello: UdpHello::Looking(0),
            rare: None,
        });
        let due = Tracker::due(cfg, &flow);
        Entry { due, id, flow }
    }

    fn account<S: FlowSink>(&mut self, p: &Packet<'_>, sink: &mut S) {
        self.stats.packets += 1;
        let e = ends(p);
        let tcp = match p.transport {
            Transport::Tcp(t) => Some(t),
            _ => None,
        };
        let pure_syn = tcp.is_some_and(|t| {
            t.complete && t.flags.has(TcpFlags::SYN) && !t.flags.has(TcpFlags::ACK)
        });
        // One lookup for a packet of a known flow: the flow's slot is found once, and only a
        // flow that has to end first (idle, or a new connection on the same ports) or a new
        // flow when the table is full looks again.
        let held = self.table.len();
        let room = held < self.cfg.max_flows.max(1);
        let slot = match self.table.entry(e.key) {
            Slot::Occupied(o) => {
                match Tracker::ends_before(&self.cfg, o.get(), p, &e, tcp, pure_syn) {
                    None => Some(o.into_mut()),
                    Some(reason) => {
                        let old = o.remove();
                        self.close(old.flow, reason, sink);
                        None
                    }
                }
            }
            Slot::Vacant(v) if room => {
                let entry = Tracker::open(&self.cfg, &mut self.stats, p, &e, tcp, sink);
                self.stats.peak_flows = self.stats.peak_flows.max(held as u64 + 1);
                Some(v.insert(entry))
            }
            Slot::Vacant(_) => None,
        };
        let entry = match slot {
            Some(entry) => entry,
            None => {
                if self.table.len() >= self.cfg.max_flows.max(1) {
                    self.evict(sink);
                }
                let entry = Tracker::open(&self.cfg, &mut self.stats, p, &e, tcp, sink);
                let held = self.table.len() as u64 + 1;
                self.stats.peak_flows = self.stats.peak_flows.max(held);
                self.table.entry(e.key).insert(entry).into_mut()
            }
        };
        let f = &mut *entry.flow;
        let dir = if e.src == f.client && (e.dst == f.server || e.src != e.dst) {
            Direction::C2s
        } else {
            Direction::S2c
        };
        if p.ts < f.first_ts {
            f.first_ts = p.ts;
        }
        if p.ts > f.last_ts {
            f.last_ts = p.ts;
            entry.due = Tracker::due(&self.cfg, f);
        }
        f.last_frame = p.frame;
        if !p.tunnel.is_empty() && f.rare.get_or_insert_default().tunnel.first_sight(&p.tunnel) {
            sink.tunnel(f.id, &p.tunnel, p.ts, p.frame);
        }
        let day = self.clock.day(p.ts);
        {
            let c = f.ledger.at(dir, day);
            c.frames += u64::from(p.wire.frames);
            c.frame_bytes += p.wire.orig_bytes;
            c.ip_bytes += p.wire.ip_bytes;
            c.payload_bytes += u64::from(p.payload_len);
        }
        match p.transport {
            Transport::Tcp(t) => {
                let Some(st) = f.tcp.as_deref_mut() else {
                    return;
                };
                if !t.complete {
                    f.rare.get_or_insert_default().incomplete_headers += 1;
                    return;
                }
                let flags = t.flags;
                let seq = crate::seq::SeqNumber(t.seq);
                let len = u64::from(p.payload_len);
                if flags.has(TcpFlags::SYN) {
                    f.history
                        .mark(dir, if flags.has(TcpFlags::ACK) { 'h' } else { 's' });
                    st.half[dir.index()].syn(seq);
                } else if flags.has(TcpFlags::ACK)
                    && len == 0
                    && !flags.has(TcpFlags::FIN)
                    && !flags.has(TcpFlags::RST)
                {
                    f.history.mark(dir, 'a');
                }
                let data_seq = if flags.has(TcpFlags::SYN) {
                    seq + 1
                } else {
                    seq
                };
                let before = f.ledger.total(dir).retrans_bytes;
                let TcpState {
                    half,
                    app,
                    app_done,
                    dns_port,
                    ..
                } = st;
                if len > 0 && app.is_none() && !*app_done && sink.wants_app() {
                    *app = Some(Box::new(App::tcp(*dns_port)));
                }
                let gaps = on_stream(
                    StreamParts {
                        id: f.id,
                        dir,
                        app: app.as_deref_mut(),
                        ledger: &mut f.ledger,
                        clock: &mut self.clock,
                        budget: &mut self.budget,
                    },
                    &mut half[dir.index()],
                    sink,
                    |h, ctx| {
                        if len > 0 {
                            h.segment(data_seq, p.payload, len, p.ts, p.frame, ctx);
                        }
                        if flags.has(TcpFlags::FIN) {
                            h.fin(data_seq, len, p.ts);
                        }
                        if flags.has(TcpFlags::RST) {
                            h.rst(data_seq, p.ts);
                        }
                    },
                );
                if len > 0 {
                    f.history.mark(dir, 'd');
                    if f.ledger.total(dir).retrans_bytes > before {
                        f.history.mark(dir, 't');
                    }
                }
                if gaps {
                    f.history.mark(dir, 'g');
                }
                if flags.has(TcpFlags::ACK) {
                    st.half[dir.flip().index()].acked(crate::seq::SeqNumber(t.ack), p.ts);
                }
                if t.window == 0 && !flags.has(TcpFlags::RST) {
                    f.history.mark(dir, 'w');
                }
                if flags.has(TcpFlags::FIN) {
                    f.history.mark(dir, 'f');
                    st.fin[dir.index()] = true;
                }
                if flags.has(TcpFlags::RST) {
                    f.history.mark(dir, 'r');
                    st.rst = true;
                }
                if st.closing_since.is_none() && (st.rst || (st.fin[0] && st.fin[1])) {
                    st.closing_since = Some(p.ts);
                    entry.due = entry.due.min(p.ts.0.saturating_add(self.cfg.linger_ns));
                    for h in &mut st.half {
                        h.release_window(&mut self.budget);
                    }
                    // Nothing is left for the application layer unless data waits behind a
                    // hole: its state goes now, not after the linger time (many short
                    // connections linger at once).
                    if st.half.iter().all(Half::ooo_empty) {
                        if let Some(a) = st.app.take() {
                            Rare::malformed(&mut f.rare, a.malformed);
                        }
                        st.app_done = true;
                    }
                }
            }
            _ => {
                if !p.payload.is_empty() {
                    if f.key.proto == Proto::Udp
                        && (dns::is_dns_port(e.src.port, false)
                            || dns::is_dns_port(e.dst.port, false))
                        && sink.wants_app()
                    {
                        match dns::parse(p.payload) {
                            Some(m) => sink.metadata(
                                f.id,
                                &MetaEvent {
                                    dir,
                                    ts: p.ts,
                                    frame: p.frame,
                                    tunnelled: false,
                                    meta: Metadata::Dns(m),
                                },
                            ),
                            None => Rare::malformed(&mut f.rare, 1),
                        }
                    }
                    if f.key.proto == Proto::Udp
                        && !matches!(f.hello, UdpHello::Done)
                        && !dns::is_dns_port(e.src.port, false)
                        && !dns::is_dns_port(e.dst.port, false)
                        && sink.wants_app()
                    {
                        if let Some(meta) = read_hello(&mut f.hello, p.payload) {
                            sink.metadata(
                                f.id,
                                &MetaEvent {
                                    dir,
                                    ts: p.ts,
                                    frame: p.frame,
                                    tunnelled: false,
                                    meta,
                                },
                            );
                        }
                    }
                    sink.data(f.id, dir, 0, p.ts, p.frame, p.payload);
                    f.history.mark(dir, 'd');
                }
            }
        }
        self.stats.peak_ooo_bytes = self.stats.peak_ooo_bytes.max(self.budget.ooo_peak as u64);
    }

    /// (The flow is worked on in its box: moving it out first was a copy per flow.)
    fn close<S: FlowSink>(&mut self, mut f: Box<Flow>, reason: CloseReason, sink: &mut S) {
        let mut anomalies = FlowAnomalies {
            incomplete_tcp_headers: f.rare.as_ref().map_or(0, |r| r.incomplete_headers),
            malformed_app: f.rare.as_ref().map_or(0, |r| r.malformed_app)
                + f.tcp
                    .as_ref()
                    .and_then(|t| t.app.as_ref())
                    .map_or(0, |a| a.malformed),
            ..FlowAnomalies::default()
        };
        let mut reason = reason;
        if let Some(st) = f.tcp.as_deref_mut() {
            if matches!(
                reason,
                CloseReason::Idle | CloseReason::EndOfCapture | CloseReason::Reused
            ) && st.closing_since.is_some()
            {
                reason = if st.rst {
                    CloseReason::Rst
                } else {
                    CloseReason::Fin
                };
            }
            for dir in [Direction::C2s, Direction::S2c] {
                let TcpState { half, app, .. } = &mut *st;
                let gaps = on_stream(
                    StreamParts {
                        id: f.id,
                        dir,
                        app: app.as_deref_mut(),
                        ledger: &mut f.ledger,
                        clock: &mut self.clock,
                        budget: &mut self.budget,
                    },
                    &mut half[dir.index()],
                    sink,
                    |h, ctx| h.flush(ctx),
                );
                if gaps {
                    f.history.mark(dir, 'g');
                }
                anomalies.tcp[dir.index()] = st.half[dir.index()].anomalies();
                self.stats.cap_gaps += st.half[dir.index()].anomalies().cap_gaps;
            }
        }
        sink.closed(FlowRecord {
            id: f.id,
            key: f.key,
            client: f.client,
            server: f.server,
            proto: f.key.proto,
            vlan: f.key.vlan,
            role_rule: f.rule,
            first_ts: f.first_ts,
            last_ts: f.last_ts,
            first_frame: f.first_frame,
            last_frame: f.last_frame,
            history: f.history.text(),
            close: reason,
            ledger: f.ledger,
            anomalies,
        });
    }

    /// Closes flows that are idle or done lingering, in flow-id order.
    ///
    /// The walk reads only the table's own memory (expiry time, id): a flow is first read
    /// when it is closed, once, in the order of closing. (Reading each expired flow to
    /// confirm it, and again to sort, had the sweep wait on memory two or three times per
    /// flow on captures of many short connections.)
    fn sweep<S: FlowSink>(&mut self, sink: &mut S) {
        let now = self.now;
        let mut due: Vec<Entry> = self
            .table
            .extract_if(|_, e| now.0 > e.due)
            .map(|(_, e)| e)
            .collect();
        // Ids are distinct (a flow's first frame), so the key (read from the flow) breaks no
        // tie in practice; it keeps the order total.
        due.sort_unstable_by(|a, b| a.id.cmp(&b.id).then_with(|| a.flow.key.cmp(&b.flow.key)));
        for entry in due {
            match Tracker::expired_by(&self.cfg, &entry.flow, now) {
                Some(reason) => self.close(entry.flow, reason, sink),
                // `due` says exactly when a flow expires (`check_due`): never reached, but a
                // flow it were wrong about would stay, not end early.
                None => {
                    self.table.insert(entry.flow.key, entry);
                }
            }
        }
    }

    /// At the flow cap: expire what is idle; if still full, evict the least recently
    /// active tenth of the table (amortised, counted).
    fn evict<S: FlowSink>(&mut self, sink: &mut S) {
        self.sweep(sink);
        if self.table.len() < self.cfg.max_flows.max(1) {
            return;
        }
        let mut by_age: Vec<(Timestamp, FlowId, FlowKey)> = self
            .table
            .values()
            .map(|e| (e.flow.last_ts, e.flow.id, e.flow.key))
            .collect();
        by_age.sort();
        let n = (self.cfg.max_flows / 10).max(1);
        for (_, _, key) in by_age.into_iter().take(n) {
            if let Some(entry) = self.table.remove(&key) {
                self.stats.evicted += 1;
                self.close(entry.flow, CloseReason::Evicted, sink);
            }
        }
    }

    /// Every flow's `due` is what [`Tracker::due`] says of it now, and at each of `times`
    /// the prefilter of the sweep (`now > due`) picks exactly the flows that are expired.
    #[cfg(test)]
    fn check_due(&self, times: &[Timestamp]) -> Result<(), String> {
        for (k, e) in &self.table {
            if e.due != Tracker::due(&self.cfg, &e.flow) {
                return Err(format!(
                    "{k:?}: due {} kept, {} now",
                    e.due,
                    Tracker::due(&self.cfg, &e.flow)
                ));
            }
            for &t in times {
                if (t.0 > e.due) != Tracker::expired_by(&self.cfg, &e.flow, t).is_some() {
                    return Err(format!(
                        "{k:?} at {t:?}: due {} disagrees with expired",
                        e.due
                    ));
                }
            }
        }
        Ok(())
    }

    /// End of input: closes every flow, in flow-id order.
    pub fn finish<S: FlowSink>(&mut self, sink: &mut S) {
        // The flows leave the table in one walk, and the table's memory goes before they are
        // closed (at the end of a capture whose connections are all open, it is a fifth of
        // the tracker's heap): what is left to sort is a pointer and an id per flow.
        let mut all: Vec<(FlowId, Box<Flow>)> =
            self.table.drain().map(|(_, e)| (e.id, e.flow)).collect();
        self.table = FlowTable::default();
        all.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.key.cmp(&b.1.key)));
        for (_, flow) in all {
            self.close(flow, CloseReason::EndOfCapture, sink);
        }
        self.stats.peak_ooo_bytes = self.stats.peak_ooo_bytes.max(self.budget.ooo_peak as u64);
    }
}

/// Reads a datagram of a UDP flow as QUIC or DTLS: the ClientHello once the client's Initial
/// packets (QUIC) or handshake fragments (DTLS) hold all of it. A flow none of whose first
/// `MAX_DATAGRAMS` datagrams starts either, or that has not given its ClientHello within
/// `MAX_DATAGRAMS` datagrams from the start of one, is not looked at again.
fn read_hello(state: &mut UdpHello, payload: &[u8]) -> Option<Metadata> {
    use crate::app::dtls::DtlsHello;
    use crate::app::quic::{QuicInitial, MAX_DATAGRAMS};
    if let UdpHello::Looking(n) = *state {
        *state = if QuicInitial::starts(payload) {
            UdpHello::Reading(Box::default())
        } else if DtlsHello::starts(payload) {
            UdpHello::Dtls(Box::default())
        } else if n + 1 >= MAX_DATAGRAMS {
            UdpHello::Done
        } else {
            UdpHello::Looking(n + 1)
        };
    }
    let (meta, datagrams) = match state {
        UdpHello::Reading(q) => (
            q.datagram(payload).map(Metadata::QuicClientHello),
            q.datagrams,
        ),
        UdpHello::Dtls(d) => (
            d.datagram(payload).map(Metadata::DtlsClientHello),
            d.datagrams,
        ),
        UdpHello::Looking(_) | UdpHello::Done => return None,
    };
    if meta.is_some() || datagrams >= MAX_DATAGRAMS {
        *state = UdpHello::Done;
    }
    meta
}

#[cfg(test)]
#[path = "tracker_tests.rs"]
mod tests;

/// Whether a UDP datagram between two equal ports was sent by the server, when its content
/// says so: NTP (port 123) by its mode (3 client, 4 server; RFC 5905 §7.3), DNS (53) by the
/// QR bit of its header (RFC 1035 §4.1.1). `None` when the content does not decide.
pub(crate) fn sender_is_server(port: u16, payload: &[u8]) -> Option<bool> {
    match (port, payload) {
        (123, [b, ..]) if payload.len() >= 48 && (1..=4).contains(&((b >> 3) & 0x07)) => {
            match b & 0x07 {
                3 => Some(false),
                4 => Some(true),
                _ => None,
            }
        }
        (53, [_, _, flags, ..]) if payload.len() >= 12 => Some(flags & 0x80 != 0),
        _ => None,
    }
}
