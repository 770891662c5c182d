//! Acceptance against Zeek's own test expectations (`../shared/peer-suites/zeek`): every
//! `conn.log` baseline with address columns (and the `.cut` ones that name them), compared per
//! connection with what the tracker reports on the same trace. A connection is Zeek's rows of
//! one 5-tuple summed (Zeek splits one connection into several rows after an unanswered SYN,
//! after a RST, or per ICMP type; we split on port reuse), each endpoint's counts being what
//! that endpoint sent.
//!
//! Per field (found, client, pkts ↔ frames, ip_bytes, bytes ↔ stream+gap for TCP, payload
//! otherwise) a connection agrees, or differs for one of the reasons of
//! `docs/peer-differences.md` — each reason with its own check on the packets (below) — or the
//! test fails and lists it.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::shared;
use exfilmeter_flow::{
    endpoints, Collect, Direction, Endpoint, FlowRecord, Proto, RoleRule, Tracker, TrackerConfig,
    Tunnels,
};
use exfilmeter_ingest::{CaptureReader, Decoded, Decoder, FileId, HashAlgo};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;

type Dir = (Proto, Endpoint, Endpoint);

/// What the packets of one direction (sender → receiver) amounted to, read from the decoder
/// beside the tracker: the evidence each difference's check uses.
#[derive(Debug, Default, Clone, Copy)]
struct Facts {
    packets: u64,
    /// IP bytes as we count them (the outermost IP header: what the link carried).
    wire_ip: u64,
    /// The innermost IP packets' total lengths.
    inner_ip: u64,
    /// Packets inside a tunnel.
    tunnelled: u64,
    /// Frames cut by the snapshot length inside their headers or payload.
    truncated: u64,
    /// IP bytes of packets longer than 1,500 bytes.
    over_1500: u64,
    /// The outermost IPv4 headers' own total length (before the link layer bounded it).
    declared_ip: u64,
    /// Index of the first frame of this direction.
    first_frame: u64,
}

struct Trace {
    records: Vec<FlowRecord>,
    /// The tunnels table of the trace (what we report of the outer flows).
    tunnels: Tunnels,
    facts: HashMap<Dir, Facts>,
    /// What tunnelled packets amounted to as their outer UDP/IP flow (sender → receiver):
    /// packets, outer IP bytes, outer UDP payload bytes.
    outer: HashMap<Dir, Sent>,
    /// The index of the first frame of each direction of those outer flows.
    outer_first: HashMap<Dir, u64>,
    /// Frames skipped, by reason.
    skipped: BTreeMap<String, u64>,
}

/// The outermost IP header of a frame (from the packet's layer-3 offset): its UDP/IP ends and
/// IPv4 total length.
fn outer_header(data: &[u8]) -> Option<(Dir, Option<u64>)> {
    let v = data.first()? >> 4;
    let (proto, src, dst, l4, total): (u8, IpAddr, IpAddr, usize, Option<u64>) = match v {
        4 => {
            let ihl = usize::from(data[0] & 0x0F) * 4;
            let a: [u8; 4] = data.get(12..16)?.try_into().ok()?;
            let b: [u8; 4] = data.get(16..20)?.try_into().ok()?;
            let total = u64::from(u16::from_be_bytes([*data.get(2)?, *data.get(3)?]));
            (*data.get(9)?, a.into(), b.into(), ihl, Some(total))
        }
        6 => {
            let a: [u8; 16] = data.get(8..24)?.try_into().ok()?;
            let b: [u8; 16] = data.get(24..40)?.try_into().ok()?;
            (*data.get(6)?, a.into(), b.into(), 40, None)
        }
        _ => return None,
    };
    let port = |at: usize| {
        data.get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .unwrap_or(0)
    };
    let (pr, sp, dp) = match proto {
        17 => (Proto::Udp, port(l4), port(l4 + 2)),
        6 => (Proto::Tcp, port(l4), port(l4 + 2)),
        n => (Proto::Other(n), 0, 0),
    };
    Some((
        (
            pr,
            Endpoint { ip: src, port: sp },
            Endpoint { ip: dst, port: dp },
        ),
        total,
    ))
}

fn read_trace(path: &Path) -> Trace {
    let mut sink = Collect::default();
    let mut tracker = Tracker::new(TrackerConfig::default());
    let mut decoder = Decoder::default();
    let mut facts: HashMap<Dir, Facts> = HashMap::new();
    let mut outer: HashMap<Dir, Sent> = HashMap::new();
    let mut outer_first: HashMap<Dir, u64> = HashMap::new();
    let mut tunnels = Tunnels::default();
    let mut skipped = BTreeMap::new();
    let mut r = CaptureReader::open(path, FileId(0), HashAlgo::None).unwrap();
    while let Some(frame) = r.next_frame() {
        match decoder.decode(&frame) {
            Decoded::Packet(p) => {
                let d = endpoints(&p);
                let f = facts.entry(d).or_insert(Facts {
                    first_frame: p.frame.index,
                    ..Facts::default()
                });
                f.packets += 1;
                f.wire_ip += p.wire.ip_bytes;
                f.inner_ip += u64::from(p.ip.total_len);
                f.truncated += u64::from(p.truncated);
                if p.ip.total_len > 1500 {
                    f.over_1500 += p.wire.ip_bytes;
                }
                let l3 = frame.data.get(p.l3_offset as usize..).unwrap_or(&[]);
                let head = outer_header(l3);
                f.declared_ip += match head {
                    Some((_, Some(t))) if p.wire.frames == 1 => t,
                    _ => p.wire.ip_bytes,
                };
                if p.ip.tunnel_depth > 0 {
                    f.tunnelled += 1;
                    if let Some((o, total)) = head {
                        let hl = match l3.first() {
                            Some(b) if b >> 4 == 4 => u64::from(b & 0x0F) * 4,
                            _ => 40,
                        };
                        let ip = total.unwrap_or(p.wire.ip_bytes);
                        outer_first.entry(o).or_insert(p.frame.index);
                        let s = outer.entry(o).or_default();
                        s.pkts += 1;
                        s.ip += p.wire.ip_bytes;
                        s.bytes += ip.saturating_sub(hl + 8);
                    }
                }
                tunnels.packet(&p);
                tracker.packet(&p, &mut sink);
            }
            Decoded::Skipped(why) => *skipped.entry(why.to_string()).or_insert(0) += 1,
            _ => {}
        }
    }
    decoder.finish();
    tracker.finish(&mut sink);
    // The tunnels table against the outer headers read here: every tunnel in UDP is a row
    // whose counts are those headers' (and nothing else is a row).
    let mut rows = 0;
    for r in tunnels.rows() {
        if r.proto != Proto::Udp {
            continue;
        }
        rows += 1;
        for (from, to, c) in [(r.client, r.server, r.c2s), (r.server, r.client, r.s2c)] {
            let x = outer
                .get(&(Proto::Udp, from, to))
                .copied()
                .unwrap_or_default();
            assert_eq!(
                (c.frames, c.ip_bytes, c.payload_bytes),
                (x.pkts, x.ip, x.bytes),
                "{}: tunnel {from} → {to}",
                path.display()
            );
        }
    }
    assert_eq!(
        rows * 2,
        outer
            .keys()
            .filter(|(p, _, _)| *p == Proto::Udp)
            .map(|(_, a, b)| if outer.contains_key(&(Proto::Udp, *b, *a)) {
                1
            } else {
                2
            })
            .sum::<usize>(),
        "{}: one tunnel row per outer UDP flow",
        path.display()
    );
    Trace {
        records: sink.records,
        tunnels,
        facts,
        outer,
        outer_first,
        skipped,
    }
}

impl Trace {
    /// Whether `a` sent packets to `b` and its first came before `b`'s first to `a`.
    fn sent_first(&self, proto: Proto, a: Endpoint, b: Endpoint) -> bool {
        // Over the packets of the 5-tuple and the tunnelled packets it carried.
        let first = |x: Endpoint, y: Endpoint| {
            let d = (proto, x, y);
            let plain = self.facts.get(&d).map(|f| f.first_frame);
            let outer = self.outer_first.get(&d).copied();
            plain.into_iter().chain(outer).min()
        };
        match (first(a, b), first(b, a)) {
            (Some(x), Some(y)) => x < y,
            (Some(_), None) => true,
            _ => false,
        }
    }
}

/// One Zeek log: its column names and rows.
fn read_log(path: &Path) -> Option<(Vec<String>, Vec<Vec<String>>)> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut cols: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with("###")) {
        if let Some(f) = line.strip_prefix("#fields\t") {
            cols = Some(f.split('\t').map(str::to_string).collect());
        } else if line.starts_with('#') {
            continue;
        } else if cols.is_none() {
            // A zeek-cut file: a plain header line naming the columns, or none at all.
            if line.split('\t').any(|c| c == "id.orig_h") {
                cols = Some(line.split('\t').map(str::to_string).collect());
            } else {
                return None;
            }
        } else {
            rows.push(line.split('\t').map(str::to_string).collect());
        }
    }
    Some((cols?, rows))
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Sent {
    pkts: u64,
    ip: u64,
    bytes: u64,
    /// Frame bytes (ours only: Zeek does not log them, Suricata's `bytes_to*` are these).
    frame: u64,
}

/// Zeek's rows of one connection (5-tuple), summed per sending endpoint.
#[derive(Debug, Default)]
struct ZConn {
    proto: Option<Proto>,
    sent: BTreeMap<Endpoint, Sent>,
    origs: BTreeSet<Endpoint>,
    has_pkts: bool,
    has_ip: bool,
    has_bytes: bool,
    service: String,
    history: String,
    rows: usize,
}

fn proto_of(s: &str) -> Option<Proto> {
    match s {
        "tcp" => Some(Proto::Tcp),
        "udp" => Some(Proto::Udp),
        "icmp" => Some(Proto::Icmp),
        _ => None,
    }
}

/// Reasons a field may differ; each has its check in `explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Why {
    /// Zeek's ip_bytes are the inner IP lengths; ours the outer (what the link carried). Check:
    /// ours = the outer lengths, Zeek's = the inner lengths, every packet tunnelled.
    TunnelIpBytes,
    /// Zeek leaves IP packets over 1,500 bytes (offloaded segments) out of ip_bytes but counts
    /// them in pkts. Check: Zeek's = ours − those packets' bytes.
    ZeekIpBytesOver1500,
    /// An IPv4 header claims more than the PPPoE payload carried: we count what the link
    /// carried (decision 0004). Check: Zeek's = the headers' own total lengths.
    PppoeBoundsIp,
    /// Zeek counts nothing of a connection whose only frames were cut inside their headers.
    /// Check: Zeek's counts are all zero and every one of our packets is truncated.
    ZeekCountedTruncatedNothing,
    /// No handshake and both ports ≥ 1024: we take the lower port as the server, Zeek the first
    /// sender as the originator. Check: our rule is `port` and Zeek's originator sent first.
    PortRuleVersusFirstSender,
    /// Zeek's GridFTP script stops analysing a data channel once detected
    /// (`skip_further_processing`): its counts stop there. Check: service `gridftp-data`, and
    /// Zeek's counts are at most ours.
    ZeekStoppedProcessing,
    /// Zeek verifies checksums in this test and ignored packets with a bad one (history `C`,
    /// no packet counted); we count every packet. Check: Zeek's history has `C` and zero
    /// packets, and we decapsulated the packets of that outer flow.
    ZeekDroppedBadChecksum,
    /// Zeek flipped the originator after the first packet (history `^`) and credited that
    /// packet to the wrong end. Check: Zeek's totals over both ends equal ours, and ours per end
    /// equal the packets each end sent.
    ZeekFlipMiscount,
    /// No handshake: we take the well-known (or lower) port as the server, Suricata the first
    /// packet's sender as the client (`to_server`). Check: our rule is `port`, Suricata's client
    /// sent first, and the counts agree once the directions are swapped.
    SuricataFirstSender,
    /// Suricata decodes Teredo on port 3544 only; we also between a client and its relay (any
    /// port, decision 0004), so we see packets of the inner connection Suricata does not. Check:
    /// every packet of ours on the connection is tunnelled and Suricata's packet counts are at
    /// most ours.
    SuricataTeredoByPort,
    /// One 802.11 frame carrying several A-MSDU subframes is one frame to us: skipped and
    /// counted (`802.11 A-MSDU of several subframes`); Zeek decodes each subframe. Check: the
    /// trace has such skips.
    AmsduSkipped,
}

impl Why {
    fn name(self) -> &'static str {
        match self {
            Why::TunnelIpBytes => "tunnelled: outer vs inner ip_bytes",
            Why::ZeekIpBytesOver1500 => "Zeek leaves IP packets > 1500 bytes out of ip_bytes",
            Why::PppoeBoundsIp => "PPPoE length bounds the IP packet",
            Why::ZeekCountedTruncatedNothing => "Zeek counts nothing of truncated frames",
            Why::PortRuleVersusFirstSender => "both ports ≥ 1024: lower port vs first sender",
            Why::ZeekStoppedProcessing => "Zeek stops counting a GridFTP data channel",
            Why::AmsduSkipped => "802.11 A-MSDU of several subframes skipped",
            Why::SuricataTeredoByPort => "Suricata decodes Teredo on port 3544 only",
            Why::SuricataFirstSender => "no handshake: port rule vs Suricata's first sender",
            Why::ZeekDroppedBadChecksum => "Zeek ignored packets with bad checksums",
            Why::ZeekFlipMiscount => "Zeek's role flip credited a packet to the wrong end",
        }
    }
}

#[derive(Default)]
struct Tally {
    total: u64,
    agree: u64,
    explained: BTreeMap<Why, u64>,
    unexplained: Vec<String>,
}

impl Tally {
    fn add(&mut self, ok: bool, why: Option<Why>, what: impl FnOnce() -> String) {
        self.total += 1;
        if ok {
            self.agree += 1;
        } else if let Some(w) = why {
            *self.explained.entry(w).or_insert(0) += 1;
        } else {
            self.unexplained.push(what());
        }
    }
}

/// Our flows of one connection (5-tuple, whatever the VLAN or VNI), summed per sender.
#[derive(Debug, Default)]
struct Ours {
    sent: BTreeMap<Endpoint, Sent>,
    clients: BTreeSet<Endpoint>,
    rules: Vec<RoleRule>,
}

/// Our flows of every connection (5-tuple), and our tunnel rows as the outer flows.
fn ours(t: &Trace) -> HashMap<(Proto, Endpoint, Endpoint), Ours> {
    let mut m = flows_of(&t.records);
    for r in t.tunnels.rows() {
        let o = m.entry(key_of(r.proto, r.client, r.server)).or_default();
        o.clients.insert(r.client);
        o.rules.push(r.role_rule);
        for (from, c) in [(r.client, r.c2s), (r.server, r.s2c)] {
            let s = o.sent.entry(from).or_default();
            s.pkts += c.frames;
            s.ip += c.ip_bytes;
            s.frame += c.frame_bytes;
            s.bytes += c.payload_bytes;
        }
    }
    m
}

fn flows_of(records: &[FlowRecord]) -> HashMap<(Proto, Endpoint, Endpoint), Ours> {
    let mut m: HashMap<(Proto, Endpoint, Endpoint), Ours> = HashMap::new();
    for r in records {
        let (lo, hi) = (r.key.lo, r.key.hi);
        let o = m.entry((r.proto, lo, hi)).or_default();
        o.clients.insert(r.client);
        o.rules.push(r.role_rule);
        for (dir, from) in [(Direction::C2s, r.client), (Direction::S2c, r.server)] {
            let c = r.ledger.total(dir);
            let s = o.sent.entry(from).or_default();
            s.pkts += c.frames;
            s.ip += c.ip_bytes;
            s.frame += c.frame_bytes;
            s.bytes += if r.proto == Proto::Tcp {
                c.stream_bytes + c.gap_bytes
            } else {
                c.payload_bytes
            };
        }
    }
    m
}

fn key_of(proto: Proto, a: Endpoint, b: Endpoint) -> (Proto, Endpoint, Endpoint) {
    if a <= b {
        (proto, a, b)
    } else {
        (proto, b, a)
    }
}

#[test]
fn connections_agree_with_zeek_conn_log_or_differ_for_a_documented_reason() {
    let Some(root) = shared("peer-suites") else {
        return;
    };
    let z = root.join("zeek");
    let tests = std::fs::read_to_string(z.join("tests.tsv")).unwrap();
    let mut traces: HashMap<String, Trace> = HashMap::new();
    let fields = ["found", "client", "pkts", "ip_bytes", "bytes"];
    let mut tally: BTreeMap<&str, Tally> = fields.iter().map(|f| (*f, Tally::default())).collect();
    let mut logs = 0;
    for line in tests.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (test, trace, baselines) = (cols[0], cols[1], cols[2]);
        let Some(log) = ["conn.log", "conn.log.cut", "conn.cut"]
            .into_iter()
            .find(|b| baselines.split(',').any(|x| x == *b))
        else {
            continue;
        };
        let Some((names, rows)) = read_log(&z.join("baselines").join(test).join(log)) else {
            continue;
        };
        let col = |n: &str| names.iter().position(|c| c == n);
        let (Some(oh), Some(op), Some(rh), Some(rp)) = (
            col("id.orig_h"),
            col("id.orig_p"),
            col("id.resp_h"),
            col("id.resp_p"),
        ) else {
            continue;
        };
        logs += 1;
        let t = traces
            .entry(trace.to_string())
            .or_insert_with(|| read_trace(&z.join("traces").join(trace)));
        // Zeek's connections.
        let mut conns: BTreeMap<(Proto, Endpoint, Endpoint), ZConn> = BTreeMap::new();
        for r in &rows {
            let Some(proto) = col("proto").and_then(|i| proto_of(&r[i])).or_else(|| {
                // `.cut` files without a proto column: the trace's flow with these ends.
                let ip = |i: usize| r[i].parse::<IpAddr>().ok();
                let (a, b) = (ip(oh)?, ip(rh)?);
                let (pa, pb) = (r[op].parse().ok()?, r[rp].parse().ok()?);
                let a = Endpoint { ip: a, port: pa };
                let b = Endpoint { ip: b, port: pb };
                [Proto::Tcp, Proto::Udp].into_iter().find(|p| {
                    t.facts.contains_key(&(*p, a, b)) || t.facts.contains_key(&(*p, b, a))
                })
            }) else {
                continue;
            };
            let (Ok(a), Ok(b)) = (r[oh].parse::<IpAddr>(), r[rh].parse::<IpAddr>()) else {
                continue;
            };
            let port = |i: usize| -> u16 {
                if proto == Proto::Icmp {
                    0
                } else {
                    r[i].parse().unwrap_or(0)
                }
            };
            let orig = Endpoint {
                ip: a,
                port: port(op),
            };
            let resp = Endpoint {
                ip: b,
                port: port(rp),
            };
            let c = conns.entry(key_of(proto, orig, resp)).or_default();
            c.proto = Some(proto);
            c.rows += 1;
            c.origs.insert(orig);
            let num = |n: &str| col(n).and_then(|i| r[i].parse::<u64>().ok());
            for (ep, pk, ipb, by) in [
                (orig, "orig_pkts", "orig_ip_bytes", "orig_bytes"),
                (resp, "resp_pkts", "resp_ip_bytes", "resp_bytes"),
            ] {
                let s = c.sent.entry(ep).or_default();
                if let Some(v) = num(pk) {
                    s.pkts += v;
                    c.has_pkts = true;
                }
                if let Some(v) = num(ipb) {
                    s.ip += v;
                    c.has_ip = true;
                }
                if let Some(v) = num(by) {
                    s.bytes += v;
                    c.has_bytes = true;
                }
            }
            if let Some(i) = col("service") {
                c.service.push_str(&r[i]);
            }
            if let Some(i) = col("history") {
                c.history.push_str(&r[i]);
            }
        }
        let mine = ours(t);
        for (key, zc) in &conns {
            let (proto, lo, hi) = *key;
            let label = || format!("{test}: {} {lo} {hi}", proto.name());
            let facts = |from: Endpoint, to: Endpoint| {
                t.facts.get(&(proto, from, to)).copied().unwrap_or_default()
            };
            // The outer flow of a tunnel whose packets we decapsulated (the test's own reading
            // of the outer headers).
            let outer_side = |a: Endpoint, b: Endpoint| t.outer.get(&(proto, a, b)).copied();
            let is_outer = outer_side(lo, hi).is_some() || outer_side(hi, lo).is_some();
            let bad_checksum =
                zc.history.contains('C') && zc.has_pkts && zc.sent.values().all(|s| s.pkts == 0);
            let Some(o) = mine.get(key) else {
                let why = if t.skipped.contains_key("802.11 A-MSDU of several subframes") {
                    Some(Why::AmsduSkipped)
                } else {
                    None
                };
                tally.get_mut("found").unwrap().add(false, why, label);
                continue;
            };
            let flipped = zc.history.contains('^')
                && [|s: &Sent| s.pkts, |s: &Sent| s.ip, |s: &Sent| s.bytes]
                    .iter()
                    .all(|f| {
                        zc.sent.values().map(f).sum::<u64>() == o.sent.values().map(f).sum::<u64>()
                    })
                && [(lo, hi), (hi, lo)].iter().all(|(a, b)| {
                    o.sent.get(a).map_or(0, |s| s.pkts)
                        == t.facts.get(&(proto, *a, *b)).map_or(0, |f| f.packets)
                });
            tally.get_mut("found").unwrap().add(true, None, label);
            let zsent = |e: Endpoint| zc.sent.get(&e).copied().unwrap_or_default();
            let osent = |e: Endpoint| o.sent.get(&e).copied().unwrap_or_default();
            let both = [(lo, hi), (hi, lo)];
            let zeek_nothing = zc.has_pkts
                && both.iter().all(|(a, _)| zsent(*a).pkts == 0)
                && both.iter().any(|(a, b)| facts(*a, *b).packets > 0)
                && both
                    .iter()
                    .all(|(a, b)| facts(*a, *b).truncated == facts(*a, *b).packets);
            let stopped = zc.service.contains("gridftp-data")
                && both.iter().all(|(a, _)| {
                    let (zs, os) = (zsent(*a), osent(*a));
                    zs.pkts <= os.pkts && zs.ip <= os.ip && zs.bytes <= os.bytes
                });
            // The reasons that hold for every counted field of the connection, in order.
            let counts_why = if zeek_nothing {
                Some(Why::ZeekCountedTruncatedNothing)
            } else if stopped {
                Some(Why::ZeekStoppedProcessing)
            } else if is_outer && bad_checksum {
                Some(Why::ZeekDroppedBadChecksum)
            } else if flipped {
                Some(Why::ZeekFlipMiscount)
            } else {
                None
            };
            // client
            if zc.origs.len() == 1 && o.clients.len() == 1 {
                let zo = *zc.origs.iter().next().unwrap();
                let oc = *o.clients.iter().next().unwrap();
                let why = if zeek_nothing {
                    Some(Why::ZeekCountedTruncatedNothing)
                } else {
                    let other = if zo == lo { hi } else { lo };
                    let zeek_first = t.sent_first(proto, zo, other);
                    (o.rules.contains(&RoleRule::Port)
                        && lo.port >= 1024
                        && hi.port >= 1024
                        && zeek_first)
                        .then_some(Why::PortRuleVersusFirstSender)
                };
                tally.get_mut("client").unwrap().add(zo == oc, why, || {
                    format!("{}: Zeek {zo}, ours {oc}", label())
                });
            }
            if zc.has_pkts {
                let ok = both.iter().all(|(a, _)| zsent(*a).pkts == osent(*a).pkts);
                tally.get_mut("pkts").unwrap().add(ok, counts_why, || {
                    format!("{}: Zeek {:?}, ours {:?}", label(), zc.sent, o.sent)
                });
            }
            if zc.has_ip {
                let ok = both.iter().all(|(a, _)| zsent(*a).ip == osent(*a).ip);
                let each =
                    |f: &dyn Fn(Endpoint, Endpoint) -> bool| both.iter().all(|(a, b)| f(*a, *b));
                let why = if counts_why.is_some() {
                    counts_why
                } else if each(&|a, b| {
                    let f = facts(a, b);
                    f.tunnelled == f.packets
                        && zsent(a).ip == f.inner_ip
                        && osent(a).ip == f.wire_ip
                }) {
                    Some(Why::TunnelIpBytes)
                } else if each(&|a, b| zsent(a).ip + facts(a, b).over_1500 == osent(a).ip) {
                    Some(Why::ZeekIpBytesOver1500)
                } else if each(&|a, b| zsent(a).ip == facts(a, b).declared_ip) {
                    Some(Why::PppoeBoundsIp)
                } else {
                    None
                };
                tally.get_mut("ip_bytes").unwrap().add(ok, why, || {
                    format!("{}: Zeek {:?}, ours {:?}", label(), zc.sent, o.sent)
                });
            }
            if zc.has_bytes {
                let ok = both.iter().all(|(a, _)| zsent(*a).bytes == osent(*a).bytes);
                tally.get_mut("bytes").unwrap().add(ok, counts_why, || {
                    format!("{}: Zeek {:?}, ours {:?}", label(), zc.sent, o.sent)
                });
            }
        }
    }
    let mut report = format!("Zeek conn baselines compared: {logs}\n");
    let mut unexplained = Vec::new();
    for (f, t) in &tally {
        let _ = writeln!(
            report,
            "{f:9} agree {}/{} ({:.1} %); explained {}",
            t.agree,
            t.total,
            100.0 * t.agree as f64 / t.total.max(1) as f64,
            t.explained
                .iter()
                .map(|(w, n)| format!("{n} {}", w.name()))
                .collect::<Vec<_>>()
                .join("; ")
        );
        for u in &t.unexplained {
            unexplained.push(format!("{f}: {u}"));
        }
    }
    eprintln!("{report}");
    assert!(logs >= 80, "{logs} conn baselines");
    // Raw agreement, before the documented differences (a floor against regressions; see
    // docs/peer-differences.md for why ip_bytes cannot reach 99 % by definition).
    for (f, floor) in [
        ("found", 0.99),
        ("client", 0.98),
        ("pkts", 0.97),
        ("ip_bytes", 0.83),
        ("bytes", 0.99),
    ] {
        let t = &tally[f];
        assert!(
            t.agree as f64 >= floor * t.total as f64,
            "{f}: {}/{} agree, below {floor}",
            t.agree,
            t.total
        );
    }
    assert!(
        unexplained.is_empty(),
        "{} differences with no documented reason:\n{}",
        unexplained.len(),
        unexplained.join("\n")
    );
}

/// Suricata's `pkts_toserver`, `pkts_toclient`, `bytes_toserver`, `bytes_toclient`.
type SuricataCounts = [Option<u64>; 4];

/// The `match:` maps of a suricata-verify `test.yaml`'s checks (the plain subset its checks use:
/// `- filter:` blocks, `match:` with one `key: value` per line).
fn suricata_matches(yaml: &str) -> Vec<HashMap<String, String>> {
    let mut out = Vec::new();
    let mut cur: Option<(usize, HashMap<String, String>)> = None;
    for line in yaml.lines() {
        let indent = line.len() - line.trim_start().len();
        let t = line.trim();
        if let Some((ind, m)) = &mut cur {
            if indent > *ind && !t.is_empty() {
                if let Some((k, v)) = t.split_once(": ") {
                    m.insert(
                        k.to_string(),
                        v.trim_matches(|c| c == '"' || c == '\'').to_string(),
                    );
                }
                continue;
            }
            out.push(std::mem::take(m));
            cur = None;
        }
        if t == "match:" {
            cur = Some((indent, HashMap::new()));
        }
    }
    if let Some((_, m)) = cur {
        out.push(m);
    }
    out
}

#[test]
fn flows_agree_with_suricata_verify_flow_checks_or_differ_for_a_documented_reason() {
    let Some(root) = shared("peer-suites") else {
        return;
    };
    let s = root.join("suricata-verify");
    let tests = std::fs::read_to_string(s.join("tests.tsv")).unwrap();
    let mut tally = Tally::default();
    let mut checked_tests = 0u64;
    let mut traces: HashMap<std::path::PathBuf, Trace> = HashMap::new();
    for line in tests.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (name, pcap) = (cols[0], cols[1]);
        let dir = s.join("tests").join(name);
        let Ok(yaml) = std::fs::read_to_string(dir.join("test.yaml")) else {
            continue;
        };
        // Suricata's flow events of this test, summed per 5-tuple and direction (it keys ESP
        // by SPI and ICMP by type: several events, one flow of ours).
        let mut conns: BTreeMap<Dir, (Endpoint, SuricataCounts)> = BTreeMap::new();
        for m in suricata_matches(&yaml) {
            if m.get("event_type").map(String::as_str) != Some("flow")
                || !m.contains_key("flow.pkts_toserver")
            {
                continue;
            }
            let proto = match m.get("proto").map(String::as_str) {
                Some("TCP") => Proto::Tcp,
                Some("UDP") => Proto::Udp,
                Some(p) if p.to_ascii_uppercase().contains("ICMP") => Proto::Icmp,
                _ if m.contains_key("icmp_type") => Proto::Icmp,
                _ => match m.get("proto").and_then(|p| p.parse::<u8>().ok()) {
                    Some(n) => Proto::Other(n),
                    None => Proto::Other(50),
                },
            };
            let ep = |ip: &str, port: &str| -> Option<Endpoint> {
                Some(Endpoint {
                    ip: m.get(ip)?.parse().ok()?,
                    port: match proto {
                        Proto::Tcp | Proto::Udp => m.get(port).and_then(|p| p.parse().ok())?,
                        _ => 0,
                    },
                })
            };
            let (Some(src), Some(dst)) = (ep("src_ip", "src_port"), ep("dest_ip", "dest_port"))
            else {
                continue;
            };
            let c = conns
                .entry(key_of(proto, src, dst))
                .or_insert((src, [None; 4]));
            let flipped = c.0 != src;
            for (i, k) in [
                "flow.pkts_toserver",
                "flow.pkts_toclient",
                "flow.bytes_toserver",
                "flow.bytes_toclient",
            ]
            .iter()
            .enumerate()
            {
                if let Some(v) = m.get(*k).and_then(|v| v.parse::<u64>().ok()) {
                    let j = if flipped { i ^ 1 } else { i };
                    c.1[j] = Some(c.1[j].unwrap_or(0) + v);
                }
            }
        }
        if conns.is_empty() {
            continue;
        }
        checked_tests += 1;
        let path = dir.join(pcap);
        let t = traces
            .entry(path.clone())
            .or_insert_with(|| read_trace(&path));
        let mine = ours(t);
        for (key, (src, v)) in &conns {
            let (proto, lo, hi) = *key;
            let dst = if *src == lo { hi } else { lo };
            let label = || format!("{name}: {} {src} → {dst} {v:?}", proto.name());
            let facts =
                |a: Endpoint, b: Endpoint| t.facts.get(&(proto, a, b)).copied().unwrap_or_default();
            let o = mine.get(key);
            let sent = |e: Endpoint| o.and_then(|o| o.sent.get(&e)).copied().unwrap_or_default();
            let pk = |e: Endpoint| sent(e).pkts;
            let ours_v = [
                Some(pk(*src)),
                Some(pk(dst)),
                Some(sent(*src).frame),
                Some(sent(dst).frame),
            ];
            let same = |a: &[Option<u64>; 4]| v.iter().zip(a).all(|(x, y)| x.is_none() || x == y);
            let client_ok = o.is_some_and(|o| o.clients.len() == 1 && o.clients.contains(src));
            if client_ok && same(&ours_v) {
                tally.add(true, None, label);
                continue;
            }
            let why = if o.is_some_and(|o| o.rules.contains(&RoleRule::Port))
                && t.sent_first(proto, *src, dst)
                && same(&ours_v)
            {
                Some(Why::SuricataFirstSender)
            } else if facts(*src, dst).packets + facts(dst, *src).packets > 0
                && [(*src, dst), (dst, *src)].iter().all(|(a, b)| {
                    let f = facts(*a, *b);
                    f.tunnelled == f.packets
                })
                && v[0].is_some_and(|x| x <= pk(*src))
                && v[1].is_none_or(|x| x <= pk(dst))
            {
                Some(Why::SuricataTeredoByPort)
            } else {
                None
            };
            tally.add(false, why, || {
                format!(
                    "{}; ours {:?} clients {:?}",
                    label(),
                    ours_v,
                    o.map(|o| &o.clients)
                )
            });
        }
    }
    eprintln!(
        "suricata-verify flow checks ({checked_tests} tests): agree {}/{}; explained {}",
        tally.agree,
        tally.total,
        tally
            .explained
            .iter()
            .map(|(w, n)| format!("{n} {}", w.name()))
            .collect::<Vec<_>>()
            .join("; ")
    );
    assert!(
        checked_tests >= 20,
        "{checked_tests} tests with flow checks"
    );
    assert!(
        tally.unexplained.is_empty(),
        "{} flow checks differ with no documented reason:\n{}",
        tally.unexplained.len(),
        tally.unexplained.join("\n")
    );
}
