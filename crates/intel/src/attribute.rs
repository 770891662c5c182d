//! Per-flow verdicts: does this flow talk to an IOC host, and why (which indicator, via
//! which evidence, in which frame)?
//!
//! Decided as early as the evidence allows — server address and the capture's own DNS
//! answers when the flow opens, TLS SNI, HTTP Host and proxy CONNECT targets as they
//! appear — and kept as a cheap per-flow entry until the flow closes.

use crate::net::Internal;
use crate::pdns::PassiveDns;
use crate::set::{IocId, IocSet};
use exfilmeter_flow::app::dns::DnsData;
use exfilmeter_flow::{
    Direction, Endpoint, FlowId, FlowKey, FlowRecord, FlowSink, MetaEvent, Metadata,
};
use exfilmeter_ingest::{FrameRef, Timestamp, TunnelEnds};
use rustc_hash::FxHashMap;

/// What tied a flow to an indicator.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Via {
    /// The server address is in an IOC network.
    Ip,
    /// A DNS answer in the capture gave the server address for an IOC name.
    Dns,
    /// The TLS ClientHello named an IOC host.
    Sni,
    /// An HTTP Host header named an IOC host.
    Host,
    /// A proxy CONNECT request targeted an IOC host.
    Connect,
    /// The flow travelled in a tunnel (GRE, IP-in-IP, VXLAN, Geneve, GTP-U, Teredo, AYIYA,
    /// ERSPAN …) one of whose ends is in an IOC network.
    Tunnel,
}

impl Via {
    /// `ip`, `dns`, `sni`, `host`, `connect`, `tunnel`.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Ip => "ip",
            Via::Dns => "dns",
            Via::Sni => "sni",
            Via::Host => "host",
            Via::Connect => "connect",
            Via::Tunnel => "tunnel",
        }
    }
}

/// One reason a flow is attributed to an indicator.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reason {
    /// The indicator.
    pub ioc: IocId,
    /// The kind of evidence.
    pub via: Via,
    /// The frame that carried the evidence (for `ip`: the flow's first frame; for `tunnel`:
    /// the flow's first frame in that tunnel).
    pub frame: FrameRef,
    /// The name matched, for name-based reasons; for `tunnel`, the tunnel end's address.
    pub name: Option<String>,
}

/// A flow's verdict: empty when it talks to no IOC host.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Verdict {
    /// Every reason found, one per (indicator, via), first evidence kept.
    pub reasons: Vec<Reason>,
    /// Best name known for the server: CONNECT target, SNI, Host, then DNS.
    pub server_name: Option<String>,
    /// Internal client talking to an external server.
    pub outbound: bool,
}

impl Verdict {
    /// True when attributed to at least one indicator.
    pub fn is_ioc(&self) -> bool {
        !self.reasons.is_empty()
    }
}

/// Receives every flow event (forwarded unchanged) and each closed flow with its verdict.
pub trait VerdictSink: FlowSink {
    /// A flow ended, with its verdict.
    fn verdict(&mut self, record: FlowRecord, verdict: Verdict);
    /// The flow was attributed to an indicator for the first time (called once per flow,
    /// before the events that follow the evidence): sinks that do content work only for
    /// IOC flows start here.
    fn flagged(&mut self, _flow: FlowId) {}
}

/// What the attributor holds for a live flow until it closes: a [`Verdict`] in 32 bytes
/// (reasons behind one pointer: most flows have none; the name as a boxed `str`), since every
/// live flow has one in a table of twice as many slots (decision 0032).
struct Live {
    // One pointer in every live flow's slot (a vector is three words; most flows have no
    // reason, and those that have one pay the one allocation more).
    #[allow(clippy::box_collection)]
    reasons: Option<Box<Vec<Reason>>>,
    server_name: Option<Box<str>>,
    outbound: bool,
    /// Name priority of `server_name` so far (lower is better).
    name_rank: u8,
}

impl Live {
    fn is_ioc(&self) -> bool {
        self.reasons.is_some()
    }

    fn has(&self, ioc: IocId, via: Via) -> bool {
        self.reasons
            .as_ref()
            .is_some_and(|rs| rs.iter().any(|r| r.ioc == ioc && r.via == via))
    }

    fn add(&mut self, ioc: IocId, via: Via, frame: FrameRef, name: Option<String>) {
        if !self.has(ioc, via) {
            exfilmeter_flow::lean::push(
                self.reasons.get_or_insert_default(),
                Reason {
                    ioc,
                    via,
                    frame,
                    name,
                },
            );
        }
    }

    fn verdict(self) -> Verdict {
        Verdict {
            reasons: self.reasons.map(|r| *r).unwrap_or_default(),
            server_name: self.server_name.map(String::from),
            outbound: self.outbound,
        }
    }
}

/// Wraps a [`VerdictSink`] as a [`FlowSink`]: watches DNS answers and flow metadata,
/// attributes flows, and hands each closed flow on with its verdict.
pub struct Attributor<'a, S: VerdictSink> {
    set: &'a IocSet,
    internal: Internal,
    pdns: PassiveDns,
    live: FxHashMap<FlowId, Live>,
    /// DNS answers come from [`Attributor::learn`] only (a shard of a run whose answers are
    /// read once for every shard), not from the flows this attributor sees.
    shared_dns: bool,
    /// The wrapped sink.
    pub inner: S,
}

impl<'a, S: VerdictSink> Attributor<'a, S> {
    /// An attributor over `set`; DNS answers stay valid for TTL + `dns_grace_secs`.
    pub fn new(set: &'a IocSet, internal: Internal, dns_grace_secs: i64, inner: S) -> Self {
        Attributor {
            set,
            internal,
            pdns: PassiveDns::new(dns_grace_secs),
            live: FxHashMap::default(),
            shared_dns: false,
            inner,
        }
    }

    /// An attributor of one shard of a run: it learns DNS answers only from
    /// [`Attributor::learn`], which is given every answer of the run at the point where one
    /// attributor seeing every flow would have met it.
    pub fn shared_dns(mut self) -> Self {
        self.shared_dns = true;
        self
    }

    /// Learns the answers of a DNS response (other metadata is ignored).
    pub fn learn(&mut self, e: &MetaEvent) {
        if let Metadata::Dns(m) = &e.meta {
            if m.response {
                for a in &m.answers {
                    match &a.data {
                        DnsData::Addr(ip) => self.pdns.answer(&a.name, *ip, a.ttl, e.ts, e.frame),
                        DnsData::Cname(t) => self.pdns.cname(&a.name, t),
                    }
                }
            }
        }
    }

    fn name_evidence(
        &mut self,
        flow: FlowId,
        name: &str,
        via: Via,
        ts: Timestamp,
        frame: FrameRef,
        rank: u8,
    ) {
        let set = self.set;
        let Some(l) = self.live.get_mut(&flow) else {
            return;
        };
        if rank < l.name_rank || l.server_name.is_none() {
            l.server_name = Some(name.into());
            l.name_rank = rank;
        }
        if let Some(id) = set.match_name(name, ts) {
            let was = l.is_ioc();
            l.add(id, via, frame, Some(name.to_string()));
            if !was {
                self.inner.flagged(flow);
            }
        }
    }
}

impl<S: VerdictSink> FlowSink for Attributor<'_, S> {
    fn failed(&self) -> bool {
        self.inner.failed()
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
        self.inner.data(flow, dir, offset, ts, frame, bytes);
    }

    fn gap(
        &mut self,
        flow: FlowId,
        dir: Direction,
        offset: u64,
        len: u64,
        kind: exfilmeter_flow::GapKind,
    ) {
        self.inner.gap(flow, dir, offset, len, kind);
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
        self.inner
            .body(flow, dir, message, offset, ts, frame, bytes);
    }

    fn opened(&mut self, flow: FlowId, key: &FlowKey, client: Endpoint, ts: Timestamp) {
        self.inner.opened(flow, key, client, ts);
        let server = if key.lo == client { key.hi } else { key.lo };
        let mut l = Live {
            reasons: None,
            server_name: None,
            outbound: self.internal.is_outbound(client.ip, server.ip),
            name_rank: u8::MAX,
        };
        // The first frame is the one the flow id names.
        let first = FrameRef {
            file: exfilmeter_ingest::FileId((flow.0 >> 40) as u32),
            index: flow.0 & ((1 << 40) - 1),
            offset: 0,
        };
        if let Some(id) = self.set.match_ip(server.ip, ts) {
            l.add(id, Via::Ip, first, None);
        }
        // Names are copied only where they are kept (no list per flow).
        for r in self.pdns.names(server.ip, ts) {
            if l.server_name.is_none() {
                l.server_name = Some(r.name.as_str().into());
                l.name_rank = 3;
            }
            if let Some(id) = self.set.match_name(&r.name, ts) {
                l.add(id, Via::Dns, r.frame, Some(r.name.clone()));
            }
        }
        let ioc = l.is_ioc();
        self.live.insert(flow, l);
        if ioc {
            self.inner.flagged(flow);
        }
    }

    fn tunnel(&mut self, flow: FlowId, ends: &TunnelEnds, ts: Timestamp, frame: FrameRef) {
        let set = self.set;
        let Some(l) = self.live.get_mut(&flow) else {
            return;
        };
        let was = l.is_ioc();
        for ip in ends.addrs() {
            if let Some(id) = set.match_ip(ip, ts) {
                if !l.has(id, Via::Tunnel) {
                    l.add(id, Via::Tunnel, frame, Some(ip.to_string()));
                }
            }
        }
        if !was && l.is_ioc() {
            self.inner.flagged(flow);
        }
        self.inner.tunnel(flow, ends, ts, frame);
    }

    fn metadata(&mut self, flow: FlowId, e: &MetaEvent) {
        // Evidence first, so a flow flagged by this event sees the event itself.
        match &e.meta {
            Metadata::Dns(_) if !self.shared_dns => self.learn(e),
            Metadata::TlsClientHello(h) if e.dir == Direction::C2s => {
                if let Some(sni) = &h.sni {
                    // Inside a CONNECT tunnel the SNI names the real server: still evidence.
                    self.name_evidence(flow, sni, Via::Sni, e.ts, e.frame, 1);
                }
            }
            // QUIC: only the client's keys open an Initial, so the direction is the client's
            // whichever end the ports made the client. DTLS: only a client sends a ClientHello,
            // and a UDP flow's roles may come from its ports.
            Metadata::QuicClientHello(h) | Metadata::DtlsClientHello(h) => {
                if let Some(sni) = &h.sni {
                    self.name_evidence(flow, sni, Via::Sni, e.ts, e.frame, 1);
                }
            }
            Metadata::HttpRequest(r) if e.dir == Direction::C2s => {
                if let Some(target) = r.connect_host() {
                    self.name_evidence(flow, &target, Via::Connect, e.ts, e.frame, 0);
                } else if let Some(host) = &r.host {
                    self.name_evidence(flow, host, Via::Host, e.ts, e.frame, 2);
                }
            }
            _ => {}
        }
        self.inner.metadata(flow, e);
    }

    fn closed(&mut self, record: FlowRecord) {
        let verdict = self
            .live
            .remove(&record.id)
            .map(Live::verdict)
            .unwrap_or_default();
        self.inner.verdict(record, verdict);
    }
}

#[cfg(test)]
mod live_size {
    /// Every live flow has one: 40 bytes a slot with its id, not the 72 of a whole verdict.
    #[test]
    fn a_live_flow_costs_32_bytes() {
        assert_eq!(std::mem::size_of::<super::Live>(), 32);
    }
}
