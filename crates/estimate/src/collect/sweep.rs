//! `--sweep`: every outbound flow, not only IOC flows, searched for recovered keys (in its
//! client→server stream) and rows (in its HTTP bodies); the servers on no IOC list that
//! received them become `SweepHit`s.

use super::{ContentLedger, FlowContent};
use exfilmeter_content::RecoveredIndex;
use exfilmeter_flow::{FlowId, FlowRecord};
use exfilmeter_ingest::Timestamp;
use exfilmeter_intel::Verdict;

/// A host on no IOC list that received recovered records (the `--sweep` finding), one per
/// flow; internal servers are kept too (a staging share is a finding as well).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SweepHit {
    /// Flow.
    pub flow: FlowId,
    /// Server address.
    pub server_ip: String,
    /// Server name, when known.
    pub server_name: String,
    /// Internal client talking to an external server.
    pub outbound: bool,
    /// Local day of the flow's first packet.
    pub day: i32,
    /// First packet time.
    pub first_ts: Timestamp,
    /// Distinct keys seen in its client→server stream.
    pub keys: Vec<u32>,
    /// Rows it carried whole (confirmed), from its HTTP bodies.
    pub rows: Vec<u32>,
}

impl<'s> ContentLedger<'s> {
    pub(super) fn sweep_close(&mut self, r: &FlowRecord, v: &Verdict, mut f: Box<FlowContent<'s>>) {
        let c2s = r.ledger.total(exfilmeter_flow::Direction::C2s);
        // (Not an IOC flow: its bodies are not counted in the content counters.)
        let stats = self.stats;
        self.end_bodies(&mut f, r.id, c2s.stream_bytes + c2s.gap_bytes);
        self.stats = stats;
        let mut rows: Vec<u32> = f
            .sightings
            .list
            .iter()
            .filter(|(_, p)| p.level == exfilmeter_content::Level::Confirmed)
            .map(|(_, p)| p.row)
            .collect();
        rows.sort_unstable();
        rows.dedup();
        let KeyScan {
            mut keys,
            mut carry,
            ..
        } = f.sweep_scan.take().map(|s| *s).unwrap_or_default();
        if let Some(m) = &self.matcher {
            m.index().keys_end(&mut carry, &mut keys);
            keys.extend(
                rows.iter()
                    .filter_map(|&row| m.index().rows.get(row as usize))
                    .filter(|row| row.key != u32::MAX)
                    .map(|row| row.key),
            );
        }
        keys.sort_unstable();
        keys.dedup();
        if keys.is_empty() && rows.is_empty() {
            return;
        }
        let day = self.day(r.first_ts);
        self.sweep_hits.push(SweepHit {
            flow: r.id,
            server_ip: r.server.ip.to_string(),
            server_name: v.server_name.clone().unwrap_or_default(),
            outbound: v.outbound,
            day,
            first_ts: r.first_ts,
            keys,
            rows,
        });
    }
}

/// Scans `bytes` (client→server, at stream `offset`) of a flow tracked for the sweep only for
/// recovered keys; a jump in offsets is a gap no key straddles. Returns the bytes searched.
pub(super) fn scan_keys(
    f: &mut FlowContent<'_>,
    ix: &RecoveredIndex,
    offset: u64,
    bytes: &[u8],
) -> u64 {
    let s = f.sweep_scan.get_or_insert_default();
    if offset != s.next {
        s.carry.gap();
    }
    ix.keys_in_stream(&mut s.carry, bytes, &mut s.keys);
    s.next = offset + bytes.len() as u64;
    if s.keys.len() > 64 {
        s.keys.sort_unstable();
        s.keys.dedup();
    }
    bytes.len() as u64
}

/// The sweep's key scan of one flow's client→server stream.
#[derive(Default)]
pub(super) struct KeyScan {
    /// Keys seen so far.
    pub(super) keys: Vec<u32>,
    /// The stream offset expected next (a jump is a gap no key straddles).
    pub(super) next: u64,
    /// The last bytes of the previous segment (keys may straddle segments).
    pub(super) carry: exfilmeter_content::KeyCarry,
}

#[cfg(test)]
#[path = "sweep_tests.rs"]
mod tests;
