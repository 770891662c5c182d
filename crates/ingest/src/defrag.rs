//! IPv4 and IPv6 fragment reassembly with a memory cap, a datagram cap and a timeout,
//! all driven by capture time.
//!
//! Overlapping fragments keep the bytes seen first (what most stacks do, and what keeps
//! the result independent of later injected data); overlaps and differing overlaps
//! ("conflicts") are counted. Datagrams that never complete are counted as expired
//! with their frames and bytes, so nothing disappears silently.
//!
//! Read first: RFC 791 §3.2 (IPv4 reassembly) and RFC 8200 §4.5 (IPv6 fragments).

use crate::decode::{IpVersion, IpView, Wire};
use crate::frame::FrameRef;
use crate::Timestamp;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

/// Limits of the reassembler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefragConfig {
    /// Bytes buffered across all incomplete datagrams before the oldest are dropped.
    pub max_bytes: usize,
    /// Incomplete datagrams held at once.
    pub max_datagrams: usize,
    /// A datagram still incomplete this long (capture time, ns) after its first
    /// fragment is dropped.
    pub timeout_ns: i64,
}

impl Default for DefragConfig {
    fn default() -> Self {
        DefragConfig {
            max_bytes: 64 << 20,
            max_datagrams: 16_384,
            timeout_ns: 30 * crate::NANOS_PER_SEC,
        }
    }
}

/// Reassembly counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DefragStats {
    /// Fragments received.
    pub fragments: u64,
    /// Datagrams reassembled.
    pub reassembled: u64,
    /// Fragments overlapping bytes already held.
    pub overlapping_fragments: u64,
    /// Fragments whose overlapping bytes differed from those held (first kept).
    pub conflicting_fragments: u64,
    /// Overlapping bytes that differed.
    pub conflict_bytes: u64,
    /// Fragments that repeat the datagram's end at a different length (first kept).
    pub inconsistent_end: u64,
    /// Fragments cut by the snapshot length (their datagram cannot be rebuilt).
    pub truncated_fragments: u64,
    /// Fragments reaching beyond the 65 535-byte datagram limit.
    pub oversized_fragments: u64,
    /// Datagrams dropped incomplete after the timeout or at the end of input.
    pub expired_datagrams: u64,
    /// Fragments in those datagrams.
    pub expired_fragments: u64,
    /// Original (wire) bytes of those fragments.
    pub expired_bytes: u64,
    /// Datagrams dropped because a memory or count cap was reached.
    pub evicted_datagrams: u64,
    /// Fragments in those datagrams.
    pub evicted_fragments: u64,
    /// Original (wire) bytes of those fragments.
    pub evicted_bytes: u64,
    /// Highest number of bytes held at once.
    pub peak_bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FragKey {
    pub(crate) version: IpVersion,
    pub(crate) src: IpAddr,
    pub(crate) dst: IpAddr,
    pub(crate) proto: u8,
    pub(crate) id: u32,
    pub(crate) vlan: u16,
}

pub(crate) struct FragPiece<'a> {
    /// Offset of the fragment's data in the datagram payload (bytes).
    pub(crate) offset: u32,
    pub(crate) more: bool,
    /// Captured fragment data.
    pub(crate) data: &'a [u8],
    /// Fragment data length according to its header.
    pub(crate) declared: u32,
    pub(crate) ts: Timestamp,
    pub(crate) frame: FrameRef,
    pub(crate) orig_len: u32,
    pub(crate) ip_total_len: u32,
    pub(crate) header: IpView,
}

pub(crate) struct Reassembled<'a> {
    pub(crate) payload: &'a [u8],
    pub(crate) header: IpView,
    pub(crate) wire: Wire,
}

pub(crate) enum Push<'a> {
    Held,
    Rejected,
    Complete(Reassembled<'a>),
}

struct Datagram {
    buf: Vec<u8>,
    /// Covered byte ranges, sorted, disjoint, not adjacent.
    ranges: Vec<(u32, u32)>,
    total: Option<u32>,
    header: Option<IpView>,
    any_header: IpView,
    first_ts: Timestamp,
    seq: u64,
    frames: u32,
    orig_bytes: u64,
    ip_bytes: u64,
    first_frame: FrameRef,
}

/// The reassembler.
#[derive(Default)]
pub(crate) struct Defragmenter {
    config: DefragConfig,
    table: HashMap<FragKey, Datagram>,
    by_age: BTreeMap<(Timestamp, u64), FragKey>,
    held: usize,
    seq: u64,
    out: Vec<u8>,
    stats: DefragStats,
}

impl std::fmt::Debug for Defragmenter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Defragmenter")
            .field("datagrams", &self.table.len())
            .field("held", &self.held)
            .finish()
    }
}

const MAX_DATAGRAM: u32 = 65_535;

impl Defragmenter {
    pub(crate) fn new(config: DefragConfig) -> Defragmenter {
        Defragmenter {
            config,
            ..Defragmenter::default()
        }
    }

    pub(crate) fn stats(&self) -> &DefragStats {
        &self.stats
    }

    fn remove(&mut self, key: &FragKey) -> Option<Datagram> {
        let d = self.table.remove(key)?;
        self.by_age.remove(&(d.first_ts, d.seq));
        self.held -= d.buf.capacity();
        Some(d)
    }

    fn drop_oldest(&mut self, evicted: bool) -> bool {
        let Some((_, key)) = self.by_age.iter().next().map(|(k, v)| (*k, *v)) else {
            return false;
        };
        if let Some(d) = self.remove(&key) {
            let s = &mut self.stats;
            if evicted {
                s.evicted_datagrams += 1;
                s.evicted_fragments += u64::from(d.frames);
                s.evicted_bytes += d.orig_bytes;
            } else {
                s.expired_datagrams += 1;
                s.expired_fragments += u64::from(d.frames);
                s.expired_bytes += d.orig_bytes;
            }
        }
        true
    }

    fn expire(&mut self, now: Timestamp) {
        let limit = now.0.saturating_sub(self.config.timeout_ns);
        while let Some((&(ts, _), _)) = self.by_age.iter().next() {
            if ts.0 >= limit {
                break;
            }
            self.drop_oldest(false);
        }
    }

    /// Drops every incomplete datagram (end of input), counting them as expired.
    pub(crate) fn expire_all(&mut self) {
        while self.drop_oldest(false) {}
    }

    pub(crate) fn push<'a>(&'a mut self, key: FragKey, piece: FragPiece<'_>) -> Push<'a> {
        self.stats.fragments += 1;
        self.expire(piece.ts);
        if (piece.data.len() as u64) < u64::from(piece.declared) {
            self.stats.truncated_fragments += 1;
            return Push::Rejected;
        }
        let start = piece.offset;
        let end = start + piece.declared;
        if end > MAX_DATAGRAM {
            self.stats.oversized_fragments += 1;
            return Push::Rejected;
        }
        if !self.table.contains_key(&key) {
            while self.table.len() >= self.config.max_datagrams.max(1) {
                self.drop_oldest(true);
            }
            self.seq += 1;
            self.by_age.insert((piece.ts, self.seq), key);
            self.table.insert(
                key,
                Datagram {
                    buf: Vec::new(),
                    ranges: Vec::new(),
                    total: None,
                    header: None,
                    any_header: piece.header,
                    first_ts: piece.ts,
                    seq: self.seq,
                    frames: 0,
                    orig_bytes: 0,
                    ip_bytes: 0,
                    first_frame: piece.frame,
                },
            );
        }
        // Room for this fragment under the memory cap (the datagram itself may be evicted
        // if it is the oldest; then it starts afresh).
        let grow =
            (end as usize).saturating_sub(self.table.get(&key).map_or(0, |d| d.buf.capacity()));
        while self.held + grow > self.config.max_bytes && !self.by_age.is_empty() {
            self.drop_oldest(true);
        }
        if !self.table.contains_key(&key) {
            // Our own datagram was the oldest and went; this fragment alone cannot fit.
            if grow > self.config.max_bytes {
                self.stats.evicted_datagrams += 1;
                self.stats.evicted_fragments += 1;
                self.stats.evicted_bytes += u64::from(piece.orig_len);
                return Push::Rejected;
            }
            return self.push_again(key, piece);
        }
        let Some(d) = self.table.get_mut(&key) else {
            return Push::Rejected;
        };
        d.frames += 1;
        d.orig_bytes += u64::from(piece.orig_len);
        d.ip_bytes += u64::from(piece.ip_total_len);
        if piece.frame < d.first_frame {
            d.first_frame = piece.frame;
        }
        if start == 0 && d.header.is_none() {
            d.header = Some(piece.header);
        }
        if !piece.more {
            match d.total {
                Some(t) if t != end => self.stats.inconsistent_end += 1,
                Some(_) => {}
                None => d.total = Some(end),
            }
        }
        let before = d.buf.capacity();
        if d.buf.len() < end as usize {
            d.buf.reserve_exact(end as usize - d.buf.len());
            d.buf.resize(end as usize, 0);
        }
        let data = &piece.data[..piece.declared as usize];
        // Compare with bytes already held, then write only the uncovered parts.
        let mut overlapped = false;
        let mut differing = 0u64;
        for &(a, b) in &d.ranges {
            let (lo, hi) = (a.max(start), b.min(end));
            if lo < hi {
                overlapped = true;
                let held = &d.buf[lo as usize..hi as usize];
                let new = &data[(lo - start) as usize..(hi - start) as usize];
                differing += held.iter().zip(new).filter(|(x, y)| x != y).count() as u64;
            }
        }
        let mut cursor = start;
        let mut gaps: Vec<(u32, u32)> = Vec::new();
        for &(a, b) in &d.ranges {
            if b <= cursor {
                continue;
            }
            if a >= end {
                break;
            }
            if a > cursor {
                gaps.push((cursor, a.min(end)));
            }
            cursor = cursor.max(b);
        }
        if cursor < end {
            gaps.push((cursor, end));
        }
        for (a, b) in gaps {
            d.buf[a as usize..b as usize]
                .copy_from_slice(&data[(a - start) as usize..(b - start) as usize]);
        }
        insert_range(&mut d.ranges, start, end);
        self.held = self.held + d.buf.capacity() - before;
        self.stats.peak_bytes = self.stats.peak_bytes.max(self.held as u64);
        if overlapped {
            self.stats.overlapping_fragments += 1;
        }
        if differing > 0 {
            self.stats.conflicting_fragments += 1;
            self.stats.conflict_bytes += differing;
        }
        let complete = matches!((d.total, d.ranges.as_slice()), (Some(t), [(0, e)]) if *e >= t);
        if !complete {
            return Push::Held;
        }
        let Some(d) = self.remove(&key) else {
            return Push::Rejected;
        };
        self.stats.reassembled += 1;
        let total = d.total.unwrap_or(0) as usize;
        let header = d.header.unwrap_or(d.any_header);
        self.out = d.buf;
        self.out.truncate(total);
        Push::Complete(Reassembled {
            payload: &self.out,
            header,
            wire: Wire {
                frames: d.frames,
                orig_bytes: d.orig_bytes,
                ip_bytes: d.ip_bytes,
                first_frame: d.first_frame,
            },
        })
    }

    fn push_again<'a>(&'a mut self, key: FragKey, piece: FragPiece<'_>) -> Push<'a> {
        // Undo the double count of this fragment; `push` counts it again.
        self.stats.fragments -= 1;
        self.push(key, piece)
    }
}

fn insert_range(ranges: &mut Vec<(u32, u32)>, start: u32, end: u32) {
    let (mut s, mut e) = (start, end);
    let mut out = Vec::with_capacity(ranges.len() + 1);
    let mut placed = false;
    for &(a, b) in ranges.iter() {
        if b < s {
            out.push((a, b));
        } else if a > e {
            if !placed {
                out.push((s, e));
                placed = true;
            }
            out.push((a, b));
        } else {
            s = s.min(a);
            e = e.max(b);
        }
    }
    if !placed {
        out.push((s, e));
    }
    *ranges = out;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::FileId;
    use std::net::Ipv4Addr;

    fn header() -> IpView {
        IpView {
            version: IpVersion::V4,
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            protocol: 17,
            ttl: 64,
            ident: 7,
            total_len: 0,
            header_len: 20,
            reassembled: false,
            tunnel_depth: 0,
            ext_header_error: false,
            length_clamped: false,
        }
    }

    fn key(id: u32) -> FragKey {
        let h = header();
        FragKey {
            version: h.version,
            src: h.src,
            dst: h.dst,
            proto: 17,
            id,
            vlan: 0,
        }
    }

    fn piece(n: u64, ts_s: i64, offset: u32, more: bool, data: &[u8]) -> FragPiece<'_> {
        FragPiece {
            offset,
            more,
            data,
            declared: data.len() as u32,
            ts: Timestamp(ts_s * crate::NANOS_PER_SEC),
            frame: FrameRef {
                file: FileId(0),
                index: n,
                offset: n * 100,
            },
            orig_len: data.len() as u32 + 34,
            ip_total_len: data.len() as u32 + 20,
            header: header(),
        }
    }

    fn body(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 251) as u8).collect()
    }

    fn complete(p: Push<'_>) -> (Vec<u8>, Wire) {
        match p {
            Push::Complete(r) => (r.payload.to_vec(), r.wire),
            Push::Held => panic!("held, expected complete"),
            Push::Rejected => panic!("rejected, expected complete"),
        }
    }

    #[test]
    fn in_order_fragments_reassemble_with_wire_totals() {
        let b = body(3000);
        let mut d = Defragmenter::default();
        assert!(matches!(
            d.push(key(1), piece(1, 0, 0, true, &b[..1480])),
            Push::Held
        ));
        assert!(matches!(
            d.push(key(1), piece(2, 0, 1480, true, &b[1480..2960])),
            Push::Held
        ));
        let (out, wire) = complete(d.push(key(1), piece(3, 0, 2960, false, &b[2960..])));
        assert_eq!(out, b);
        assert_eq!(wire.frames, 3);
        assert_eq!(wire.orig_bytes, 3000 + 3 * 34);
        assert_eq!(wire.ip_bytes, 3000 + 3 * 20);
        assert_eq!(wire.first_frame.index, 1);
        assert_eq!(d.stats().reassembled, 1);
        assert_eq!(d.held, 0);
    }

    #[test]
    fn out_of_order_fragments_reassemble() {
        let b = body(2000);
        let mut d = Defragmenter::default();
        assert!(matches!(
            d.push(key(2), piece(1, 0, 1000, false, &b[1000..])),
            Push::Held
        ));
        assert!(matches!(
            d.push(key(2), piece(2, 0, 504, true, &b[504..1000])),
            Push::Held
        ));
        let (out, wire) = complete(d.push(key(2), piece(3, 0, 0, true, &b[..504])));
        assert_eq!(out, b);
        assert_eq!(wire.first_frame.index, 1);
    }

    #[test]
    fn overlapping_identical_bytes_are_counted_not_conflicts() {
        let b = body(1600);
        let mut d = Defragmenter::default();
        d.push(key(3), piece(1, 0, 0, true, &b[..1000]));
        let (out, _) = complete(d.push(key(3), piece(2, 0, 800, false, &b[800..])));
        assert_eq!(out, b);
        assert_eq!(d.stats().overlapping_fragments, 1);
        assert_eq!(d.stats().conflicting_fragments, 0);
    }

    #[test]
    fn conflicting_overlap_keeps_first_bytes_and_counts_differences() {
        let b = body(1600);
        let mut evil = b[800..].to_vec();
        for x in &mut evil[..100] {
            *x ^= 0xFF;
        }
        let mut d = Defragmenter::default();
        d.push(key(4), piece(1, 0, 0, true, &b[..1000]));
        let (out, _) = complete(d.push(key(4), piece(2, 0, 800, false, &evil)));
        assert_eq!(out, b, "first-seen bytes win");
        assert_eq!(d.stats().conflicting_fragments, 1);
        assert_eq!(d.stats().conflict_bytes, 100);
    }

    #[test]
    fn missing_piece_never_completes_and_expires_at_end() {
        let b = body(3000);
        let mut d = Defragmenter::default();
        d.push(key(5), piece(1, 0, 0, true, &b[..1000]));
        d.push(key(5), piece(2, 0, 2000, false, &b[2000..]));
        d.expire_all();
        let s = d.stats();
        assert_eq!(s.reassembled, 0);
        assert_eq!(s.expired_datagrams, 1);
        assert_eq!(s.expired_fragments, 2);
        assert_eq!(s.expired_bytes, 1000 + 34 + 1000 + 34);
        assert_eq!(d.held, 0);
    }

    #[test]
    fn timeout_is_driven_by_capture_time() {
        let b = body(2000);
        let mut d = Defragmenter::default();
        d.push(key(6), piece(1, 0, 0, true, &b[..1000]));
        // 31 s later (default timeout 30 s) the rest arrives: too late.
        assert!(matches!(
            d.push(key(6), piece(2, 31, 1000, false, &b[1000..])),
            Push::Held
        ));
        assert_eq!(d.stats().expired_datagrams, 1);
        assert_eq!(d.stats().reassembled, 0);
        // Within the timeout it completes.
        let mut d = Defragmenter::default();
        d.push(key(6), piece(1, 0, 0, true, &b[..1000]));
        complete(d.push(key(6), piece(2, 29, 1000, false, &b[1000..])));
    }

    #[test]
    fn memory_cap_evicts_oldest_datagram_and_counts_it() {
        let b = body(4000);
        let cfg = DefragConfig {
            max_bytes: 6000,
            ..DefragConfig::default()
        };
        let mut d = Defragmenter::new(cfg);
        d.push(key(7), piece(1, 0, 0, true, &b[..1000]));
        d.push(key(7), piece(2, 0, 2000, true, &b[2000..4000])); // holds 4000 bytes
        d.push(key(8), piece(3, 1, 0, true, &b[..3000])); // needs 3000 more: evicts id 7
        let s = d.stats();
        assert_eq!(s.evicted_datagrams, 1);
        assert_eq!(s.evicted_fragments, 2);
        assert!(d.held <= 6000);
        assert!(s.peak_bytes <= 6000);
        // The survivor still completes.
        complete(d.push(key(8), piece(4, 1, 3000, false, &b[3000..])));
    }

    #[test]
    fn datagram_count_cap_evicts_oldest() {
        let b = body(100);
        let cfg = DefragConfig {
            max_datagrams: 2,
            ..DefragConfig::default()
        };
        let mut d = Defragmenter::new(cfg);
        for id in 0..5 {
            d.push(key(id), piece(u64::from(id), 0, 0, true, &b[..8]));
        }
        assert_eq!(d.table.len(), 2);
        assert_eq!(d.stats().evicted_datagrams, 3);
    }

    #[test]
    fn truncated_and_oversized_fragments_are_rejected() {
        let b = body(100);
        let mut d = Defragmenter::default();
        let mut p = piece(1, 0, 0, true, &b[..50]);
        p.declared = 80;
        assert!(matches!(d.push(key(9), p), Push::Rejected));
        assert!(matches!(
            d.push(key(9), piece(2, 0, 65_500, false, &b)),
            Push::Rejected
        ));
        assert_eq!(d.stats().truncated_fragments, 1);
        assert_eq!(d.stats().oversized_fragments, 1);
    }

    #[test]
    fn range_merging() {
        let mut r = vec![(0, 10), (20, 30)];
        insert_range(&mut r, 10, 20);
        assert_eq!(r, vec![(0, 30)]);
        let mut r = vec![(10, 20)];
        insert_range(&mut r, 0, 5);
        insert_range(&mut r, 25, 30);
        assert_eq!(r, vec![(0, 5), (10, 20), (25, 30)]);
    }
}
