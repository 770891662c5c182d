//! Flow reconstruction for exfilmeter: packets → flows, passive TCP reassembly, and the
//! exact per-day byte ledger of DESIGN §3.
//!
//! - [`Tracker`] keys [`exfilmeter_ingest::Packet`]s to flows ([`FlowKey`]: 5-tuple +
//!   VLAN), decides client and server ([`RoleRule`]), reassembles TCP per direction over
//!   wrapping sequence numbers ([`SeqNumber`]) and fills a [`Ledger`] per direction and
//!   local day ([`DayClock`]).
//! - A [`FlowSink`] receives opened flows, in-order stream content, gaps and the closed
//!   [`FlowRecord`]s.
//!
//! ```no_run
//! use exfilmeter_flow::{Collect, Tracker, TrackerConfig};
//! use exfilmeter_ingest::{CaptureReader, Decoded, Decoder, FileId, HashAlgo};
//! let mut reader = CaptureReader::open("trace.pcap".as_ref(), FileId(0), HashAlgo::None)?;
//! let mut decoder = Decoder::default();
//! let mut tracker = Tracker::new(TrackerConfig::default());
//! let mut sink = Collect::default();
//! while let Some(frame) = reader.next_frame() {
//!     if let Decoded::Packet(p) = decoder.decode(&frame) {
//!         tracker.packet(&p, &mut sink);
//!     }
//! }
//! tracker.finish(&mut sink);
//! for f in &sink.records {
//!     println!("{} -> {}: {:?}", f.client, f.server, f.ledger.rows());
//! }
//! # Ok::<(), std::io::Error>(())
//! ```

pub mod app;
mod day;
mod key;
pub mod lean;
mod ledger;
mod seq;
mod sink;
mod tcp;
mod tracker;
pub mod tunnels;

pub use app::{MetaEvent, Metadata};
pub use day::{Day, DayClock};
pub use key::{endpoints, flow_hash, shard_of, Direction, Endpoint, FlowKey, Proto, RoleRule};
pub use ledger::{layer, Counters, Ledger};
pub use seq::{SeqNumber, SeqSpace};
pub use sink::{CloseReason, Collect, FlowAnomalies, FlowId, FlowRecord, FlowSink};
pub use tcp::{GapKind, HalfAnomalies};
pub use tracker::{Tracker, TrackerConfig, TrackerStats};
pub use tunnels::{TunnelCounts, TunnelRow, Tunnels};
