//! What the tracker pushes out: flow events and the closed-flow record.

use crate::app::MetaEvent;
use crate::key::{Direction, Endpoint, FlowKey, Proto, RoleRule};
use crate::ledger::Ledger;
use crate::tcp::{GapKind, HalfAnomalies};
use exfilmeter_ingest::{FrameRef, Timestamp, TunnelEnds};

/// Deterministic flow identifier: the file index and frame number of the flow's first
/// frame, packed as `file << 40 | frame` (so it is the same whatever the thread count,
/// and it points at the frame in Wireshark).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct FlowId(pub u64);

impl FlowId {
    /// The id of a flow whose first frame is `f`.
    pub fn from_frame(f: FrameRef) -> FlowId {
        FlowId((u64::from(f.file.0) << 40) | (f.index & ((1 << 40) - 1)))
    }
}

/// Why a flow ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CloseReason {
    /// Both sides sent FIN.
    Fin,
    /// A RST was seen.
    Rst,
    /// No packet for the idle timeout (capture time).
    Idle,
    /// The capture ended with the flow open.
    EndOfCapture,
    /// A new SYN on the same ports after the flow closed (port reuse).
    Reused,
    /// Evicted because the flow table reached its cap.
    Evicted,
}

impl CloseReason {
    /// `fin`, `rst`, `idle`, `end_of_capture`, `reused`, `evicted`.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::Fin => "fin",
            CloseReason::Rst => "rst",
            CloseReason::Idle => "idle",
            CloseReason::EndOfCapture => "end_of_capture",
            CloseReason::Reused => "reused",
            CloseReason::Evicted => "evicted",
        }
    }
}

/// Odd things seen in a flow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FlowAnomalies {
    /// Per direction (c2s, s2c): reassembly anomalies.
    pub tcp: [HalfAnomalies; 2],
    /// TCP frames whose header the snapshot length cut (only frame counters updated).
    pub incomplete_tcp_headers: u64,
    /// Application data that did not parse as the protocol it started as.
    pub malformed_app: u64,
}

/// A finished flow with its ledger.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FlowRecord {
    /// Identifier.
    pub id: FlowId,
    /// Key.
    pub key: FlowKey,
    /// The client (initiator).
    pub client: Endpoint,
    /// The server.
    pub server: Endpoint,
    /// Protocol.
    pub proto: Proto,
    /// Outer VLAN.
    pub vlan: Option<u16>,
    /// How the client was decided.
    pub role_rule: RoleRule,
    /// First packet time.
    pub first_ts: Timestamp,
    /// Last packet time.
    pub last_ts: Timestamp,
    /// First frame.
    pub first_frame: FrameRef,
    /// Last frame.
    pub last_frame: FrameRef,
    /// Zeek-like history (see docs/flows.md).
    pub history: String,
    /// Why it ended.
    pub close: CloseReason,
    /// Per direction and local day.
    pub ledger: Ledger,
    /// Anomalies.
    pub anomalies: FlowAnomalies,
}

/// Receives the tracker's output. Every method has a no-op default.
pub trait FlowSink {
    /// Whether this sink uses the application layer ([`FlowSink::metadata`] and
    /// [`FlowSink::body`]). A sink that does not (the flow ledger alone) spares the tracker
    /// parsing DNS, HTTP and TLS; the ledger, history and anomalies are the same either way.
    fn wants_app(&self) -> bool {
        true
    }
    /// Whether this sink's output failed (a table or temporary file that could not be
    /// written, e.g. on a full disk): the run stops reading at its next check instead of
    /// reading the rest of its captures for nothing, and the sink's own error says why.
    fn failed(&self) -> bool {
        false
    }
    /// A new flow.
    fn opened(&mut self, _flow: FlowId, _key: &FlowKey, _client: Endpoint, _ts: Timestamp) {}
    /// Reassembled TCP content (in order), or a UDP datagram's payload.
    fn data(
        &mut self,
        _flow: FlowId,
        _dir: Direction,
        _offset: u64,
        _ts: Timestamp,
        _frame: FrameRef,
        _bytes: &[u8],
    ) {
    }
    /// The flow's packets travel in tunnels between these addresses (see
    /// [`TunnelEnds`]): called on the flow's first tunnelled packet and again whenever the
    /// tunnel ends change, with the frame that showed them.
    fn tunnel(&mut self, _flow: FlowId, _ends: &TunnelEnds, _ts: Timestamp, _frame: FrameRef) {}
    /// A stretch of the stream without content.
    fn gap(&mut self, _flow: FlowId, _dir: Direction, _offset: u64, _len: u64, _kind: GapKind) {}
    /// Application metadata (DNS, HTTP request head, CONNECT reply, TLS ClientHello).
    fn metadata(&mut self, _flow: FlowId, _event: &MetaEvent) {}
    /// HTTP body bytes (de-chunked) of message `message` of `dir`, at `offset` in that body.
    #[allow(clippy::too_many_arguments)]
    fn body(
        &mut self,
        _flow: FlowId,
        _dir: Direction,
        _message: u32,
        _offset: u64,
        _ts: Timestamp,
        _frame: FrameRef,
        _bytes: &[u8],
    ) {
    }
    /// A flow ended.
    fn closed(&mut self, _record: FlowRecord) {}
}

/// A sink that keeps the closed records (in close order).
#[derive(Debug, Default)]
pub struct Collect {
    /// Records collected.
    pub records: Vec<FlowRecord>,
}

impl FlowSink for Collect {
    fn closed(&mut self, record: FlowRecord) {
        self.records.push(record);
    }
}
