//! Reassembler tests, one per edge case, grouped by TCP situation.

use super::*;
use crate::day::DayClock;
use crate::ledger::{Counters, Ledger};
use exfilmeter_ingest::{FileId, FrameRef, Timestamp};
use proptest::prelude::*;

/// What the reassembler delivered: content, or `None` for a gap byte. Gaps longer than
/// `HUGE` (sparse multi-gigabyte streams) are recorded in `gaps` only.
#[derive(Default)]
struct Rec {
    bytes: Vec<Option<u8>>,
    gaps: Vec<(u64, u64, GapKind)>,
    /// Stream offset after everything delivered so far.
    end: u64,
}

const HUGE: u64 = 1 << 20;

impl StreamOut for Rec {
    fn data(&mut self, _d: Direction, offset: u64, _ts: Timestamp, _f: FrameRef, bytes: &[u8]) {
        assert_eq!(offset, self.end, "data must be in order");
        self.end += bytes.len() as u64;
        self.bytes.extend(bytes.iter().map(|b| Some(*b)));
    }
    fn gap(&mut self, _d: Direction, offset: u64, len: u64, kind: GapKind) {
        assert_eq!(offset, self.end, "gaps must be in order");
        self.end += len;
        if len <= HUGE {
            self.bytes.extend(std::iter::repeat_n(None, len as usize));
        }
        self.gaps.push((offset, len, kind));
    }
}

struct Rig {
    half: Half,
    ledger: Ledger,
    clock: DayClock,
    out: Rec,
    budget: Budget,
    ts: i64,
}

const ISN: u32 = 1000;

impl Rig {
    fn new() -> Rig {
        Rig::with_caps(1 << 20, 1 << 20)
    }
    fn with_caps(per_flow: usize, total: usize) -> Rig {
        Rig {
            half: Half::default(),
            ledger: Ledger::default(),
            clock: DayClock::new(chrono_tz::UTC),
            out: Rec::default(),
            budget: Budget {
                ooo_cap: total,
                ooo_per_flow: per_flow,
                win_cap: 1 << 20,
                win_size: 4096,
                ..Budget::default()
            },
            ts: 1_000_000_000_000_000_000,
        }
    }
    fn ctx(&mut self) -> (&mut Half, Ctx<'_, Rec>) {
        (
            &mut self.half,
            Ctx {
                dir: Direction::C2s,
                ledger: &mut self.ledger,
                clock: &mut self.clock,
                out: &mut self.out,
                budget: &mut self.budget,
            },
        )
    }
    fn syn(&mut self) {
        self.half.syn(SeqNumber(ISN));
    }
    /// Data at stream offset `off` (relative to ISN + 1).
    fn seg(&mut self, off: u32, data: &[u8]) {
        self.seg_trunc(off, data, data.len() as u64);
    }
    fn seg_trunc(&mut self, off: u32, data: &[u8], len: u64) {
        self.ts += 1000;
        let ts = Timestamp(self.ts);
        let (h, mut ctx) = self.ctx();
        h.segment(
            SeqNumber(ISN) + 1 + off,
            data,
            len,
            ts,
            FrameRef {
                file: FileId(0),
                index: 1,
                offset: 0,
            },
            &mut ctx,
        );
    }
    fn raw_seg(&mut self, seq: u32, data: &[u8]) {
        self.ts += 1000;
        let ts = Timestamp(self.ts);
        let (h, mut ctx) = self.ctx();
        h.segment(
            SeqNumber(seq),
            data,
            data.len() as u64,
            ts,
            FrameRef::default(),
            &mut ctx,
        );
    }
    fn flush(&mut self) {
        let (h, mut ctx) = self.ctx();
        h.flush(&mut ctx);
    }
    fn total(&self) -> Counters {
        self.ledger.total(Direction::C2s)
    }
    fn content(&self) -> Vec<u8> {
        self.out.bytes.iter().map(|b| b.unwrap_or(b'?')).collect()
    }
}

// ── handshake ──────────────────────────────────────────────────────────────

#[test]
fn data_after_syn_starts_at_offset_zero() {
    let mut r = Rig::new();
    r.syn();
    r.seg(0, b"hello");
    assert_eq!(r.content(), b"hello");
    assert_eq!(r.total().stream_bytes, 5);
}

#[test]
fn retransmitted_syn_does_not_move_the_origin() {
    let mut r = Rig::new();
    r.syn();
    r.seg(0, b"ab");
    r.half.syn(SeqNumber(ISN + 7));
    r.seg(2, b"cd");
    assert_eq!(r.content(), b"abcd");
}

#[test]
fn retransmitted_syn_ack_with_a_new_isn_follows_the_one_the_peer_acknowledged() {
    // The server answers twice with different ISNs, then the first answer is retransmitted
    // late; the client's handshake ACK names the second.
    let (a, b) = (ISN, ISN.wrapping_add(1_180_000_000));
    let mut r = Rig::new();
    r.half.syn(SeqNumber(a));
    r.half.syn(SeqNumber(b));
    r.half.syn(SeqNumber(a));
    r.half.acked(SeqNumber(b) + 1, Timestamp(r.ts));
    r.raw_seg(b.wrapping_add(1), b"hello");
    r.flush();
    assert_eq!(r.content(), b"hello");
    let t = r.total();
    assert_eq!((t.stream_bytes, t.gap_bytes, t.retrans_bytes), (5, 0, 0));
    assert_eq!(r.half.anomalies().implausible_proofs, 0);
}

#[test]
fn without_the_handshake_ack_the_first_data_picks_the_isn_it_fits() {
    let (a, b) = (ISN, ISN.wrapping_add(900_000_000));
    let mut r = Rig::new();
    r.half.syn(SeqNumber(b));
    r.half.syn(SeqNumber(a));
    r.raw_seg(b.wrapping_add(1), b"abc");
    r.raw_seg(b.wrapping_add(4), b"def");
    r.flush();
    assert_eq!(r.content(), b"abcdef");
    assert_eq!(r.total().gap_bytes, 0);
}

// ── established, in order ──────────────────────────────────────────────────

#[test]
fn in_order_segments_are_delivered_immediately_without_acks() {
    let mut r = Rig::new();
    r.syn();
    r.seg(0, b"abc");
    assert_eq!(r.content(), b"abc", "delivered before any ACK");
    r.seg(3, b"def");
    assert_eq!(r.content(), b"abcdef");
    let t = r.total();
    assert_eq!((t.stream_bytes, t.retrans_bytes, t.gap_bytes), (6, 0, 0));
}

// ── retransmissions and overlaps ───────────────────────────────────────────

#[test]
fn exact_retransmission_counts_as_retrans_not_stream() {
    let mut r = Rig::new();
    r.syn();
    r.seg(0, b"abcdef");
    r.seg(0, b"abcdef");
    let t = r.total();
    assert_eq!(
        (t.stream_bytes, t.retrans_bytes, t.conflict_bytes),
        (6, 6, 0)
    );
    assert_eq!(r.content(), b"abcdef");
}

#[test]
fn overlap_with_different_content_keeps_first_and_counts_conflict() {
    let mut r = Rig::new();
    r.syn();
    r.seg(0, b"abcdef");
    r.seg(3, b"XYZghi"); // d e f differ; g h i new
    assert_eq!(r.content(), b"abcdefghi");
    let t = r.total();
    assert_eq!(
        (t.stream_bytes, t.retrans_bytes, t.conflict_bytes),
        (9, 3, 3)
    );
}

#[test]
fn overlap_with_buffered_out_of_order_data_keeps_first_seen() {
    let mut r = Rig::new();
    r.syn();
    r.seg(4, b"EFGH"); // buffered
    r.seg(0, b"abcdXFGHij"); // overlaps the buffered EFGH with one differing byte
    assert_eq!(r.content(), b"abcdEFGHij");
    let t = r.total();
    assert_eq!(
        (t.stream_bytes, t.retrans_bytes, t.conflict_bytes),
        (10, 4, 1)
    );
}

#[test]
fn resegmented_retransmission_spanning_old_and_new_data() {
    let mut r = Rig::new();
    r.syn();
    r.seg(0, b"aaaa");
    r.seg(4, b"bbbb");
    r.seg(2, b"aabbbbcc"); // starts earlier, extends into new data
    assert_eq!(r.content(), b"aaaabbbbcc");
    let t = r.total();
    assert_eq!((t.stream_bytes, t.retrans_bytes), (10, 6));
}

#[test]
fn keepalive_one_byte_behind_the_frontier_is_retrans() {
    let mut r = Rig::new();
    r.syn();
    r.seg(0, b"abc");
    r.seg(2, b"c"); // keep-alive probe with the last byte
    assert_eq!(r.total().stream_bytes, 3);
    assert_eq!(r.total().retrans_bytes, 1);
}

// ── holes ──────────────────────────────────────────────────────────────────

#[test]
fn out_of_order_segment_is_held_until_the_hole_fills() {
    let mut r = Rig::new();
    r.syn();
    r.seg(3, b"def");
    assert_eq!(r.content(), b"", "nothing delivered across a hole");
    assert_eq!(r.total().stream_bytes, 3, "but its bytes are evidenced");
    r.seg(0, b"abc");
    assert_eq!(r.content(), b"abcdef");
    assert_eq!(r.total().gap_bytes, 0);
}

#[test]
fn hole_never_filled_becomes_a_gap_at_flush() {
    let mut r = Rig::new();
    r.syn();
    r.seg(0, b"ab");
    r.seg(5, b"fg");
    r.flush();
    assert_eq!(r.content(), b"ab???fg");
    let t = r.total();
    assert_eq!((t.stream_bytes, t.gap_bytes), (4, 3));
    assert_eq!(r.out.gaps, vec![(2, 3, GapKind::Missing)]);
}

#[test]
fn fin_beyond_the_data_proves_a_missing_tail() {
    let mut r = Rig::new();
    r.syn();
    r.seg(0, b"abc");
    let ts = Timestamp(r.ts);
    r.half.fin(SeqNumber(ISN) + 1 + 10, 0, ts);
    r.flush();
    assert_eq!(r.total().gap_bytes, 7);
    assert_eq!(r.content(), b"abc???????");
}

#[test]
fn peer_ack_beyond_the_data_proves_a_gap_but_a_fin_sized_ack_does_not() {
    let mut r = Rig::new();
    r.syn();
    r.seg(0, b"abc");
    let ts = Timestamp(r.ts);
    // ACK of ISN+1+3+1: looks like the ACK of an uncaptured FIN, not a data gap.
    r.half.acked(SeqNumber(ISN) + 5, ts);
    r.flush();
    assert_eq!(r.total().gap_bytes, 0);

    let mut r = Rig::new();
    r.syn();
    r.seg(0, b"abc");
    r.half.acked(SeqNumber(ISN) + 1 + 100, ts);
    r.flush();
    assert_eq!(r.total().gap_bytes, 97);
}

#[test]
fn implausibly_far_ack_is_ignored_and_counted() {
    let mut r = Rig::new();
    r.syn();
    r.seg(0, b"abc");
    r.half
        .acked(SeqNumber(ISN) + 1 + (1 << 30), Timestamp(r.ts));
    r.flush();
    assert_eq!(r.total().gap_bytes, 0);
    assert_eq!(r.half.anomalies().implausible_proofs, 1);
}

#[test]
fn rst_one_past_the_fin_proves_no_data_byte() {
    let mut r = Rig::new();
    r.syn();
    r.seg(0, b"abc");
    let ts = Timestamp(r.ts);
    r.half.fin(SeqNumber(ISN) + 1 + 3, 0, ts);
    r.half.rst(SeqNumber(ISN) + 1 + 4, ts);
    r.flush();
    assert_eq!(r.total().gap_bytes, 0);
    assert_eq!(r.content(), b"abc");
}

#[test]
fn rst_beyond_the_data_without_fin_still_proves_a_gap() {
    let mut r = Rig::new();
    r.syn();
    r.seg(0, b"abc");
    r.half.rst(SeqNumber(ISN) + 1 + 10, Timestamp(r.ts));
    r.flush();
    assert_eq!(r.total().gap_bytes, 7);
}

// ── truncation (snaplen) ───────────────────────────────────────────────────

#[test]
fn truncated_segment_counts_as_stream_and_truncated_and_leaves_a_content_gap() {
    let mut r = Rig::new();
    r.syn();
    r.seg_trunc(0, b"ab", 5);
    r.seg(5, b"fg");
    let t = r.total();
    assert_eq!((t.stream_bytes, t.truncated_bytes, t.gap_bytes), (7, 3, 0));
    assert_eq!(r.content(), b"ab???fg");
    assert_eq!(r.out.gaps, vec![(2, 3, GapKind::Truncated)]);
}

// ── wraparound at 2^32 ─────────────────────────────────────────────────────

#[test]
fn stream_across_sequence_wraparound() {
    let mut r = Rig::new();
    let isn = u32::MAX - 4;
    r.half.syn(SeqNumber(isn));
    r.raw_seg(isn.wrapping_add(1), b"abcd");
    r.raw_seg(isn.wrapping_add(5), b"efgh"); // seq 0 after the wrap
    r.raw_seg(isn.wrapping_add(9), b"ijkl");
    assert_eq!(r.content(), b"abcdefghijkl");
    assert_eq!(r.total().stream_bytes, 12);
}

#[test]
fn sparse_capture_of_a_stream_longer_than_four_gibibytes_keeps_every_wrap() {
    // Captured segments 1.5 GB apart (each step < 2^31): sequence numbers wrap twice
    // between the first and the last, and the holes between them are proven by later data.
    let mut r = Rig::new();
    r.syn();
    let step: u64 = 1_500_000_000;
    let offsets: Vec<u64> = (0..4).map(|i| i * step).collect();
    for &o in &offsets {
        r.raw_seg(ISN.wrapping_add(1).wrapping_add(o as u32), b"xy");
    }
    let end = offsets[3] + 2;
    r.half
        .fin(SeqNumber(ISN) + 1 + (end as u32), 0, Timestamp(r.ts));
    r.flush();
    let t = r.total();
    assert_eq!(t.stream_bytes + t.gap_bytes, end);
    assert_eq!(t.stream_bytes, 8);
    assert_eq!(r.half.anomalies().before_start_bytes, 0);
    assert_eq!(r.out.gaps.len(), 3);
    assert_eq!(r.out.end, end);
}

// ── mid-stream pickup ──────────────────────────────────────────────────────

#[test]
fn midstream_pickup_starts_at_the_first_segment_seen() {
    let mut r = Rig::new();
    r.raw_seg(77_777, b"xyz");
    r.raw_seg(77_780, b"123");
    assert_eq!(r.content(), b"xyz123");
}

#[test]
fn midstream_earlier_segment_arriving_first_rebases_before_delivery() {
    let mut r = Rig::new();
    r.raw_seg(5000, b"later"); // first seen: origin 5000, delivered
    r.raw_seg(4995, b"early"); // before the origin, after delivery: counted, not delivered
    assert_eq!(r.content(), b"later");
    assert_eq!(r.half.anomalies().before_start_bytes, 5);
    let t = r.total();
    assert_eq!(
        t.stream_bytes + t.retrans_bytes,
        10,
        "every payload byte is accounted"
    );
}

// ── caps ───────────────────────────────────────────────────────────────────

#[test]
fn per_flow_cap_turns_the_hole_into_a_recorded_gap() {
    let mut r = Rig::with_caps(10, 1 << 20);
    r.syn();
    r.seg(0, b"ab");
    r.seg(5, b"0123456789"); // 10 bytes buffered: at the cap
    r.seg(15, b"X"); // 11 > 10: the hole 2..5 is declared a gap
    assert_eq!(r.content(), b"ab???0123456789X");
    assert_eq!(r.out.gaps, vec![(2, 3, GapKind::CapOverflow)]);
    assert_eq!(r.total().gap_bytes, 3);
    assert_eq!(r.half.anomalies().cap_gaps, 1);
    assert_eq!(r.budget.ooo_used, 0);
}

#[test]
fn global_cap_bounds_memory_across_flows() {
    let mut r = Rig::with_caps(1 << 20, 8);
    r.syn();
    r.seg(100, b"0123456789"); // 10 > 8 total: gap declared at once
    assert_eq!(r.budget.ooo_used, 0);
    assert_eq!(r.total().gap_bytes, 100);
    assert!(r.budget.ooo_peak <= 10);
}

// ── property: order and duplication do not matter ──────────────────────────

proptest! {
    #[test]
    fn any_permutation_and_duplication_reassembles_to_the_same_stream(
        cuts in proptest::collection::btree_set(1u32..400, 0..25),
        order in proptest::collection::vec(any::<u32>(), 1..60),
        dups in proptest::collection::vec(any::<u32>(), 0..20),
        isn in any::<u32>(),
    ) {
        let data: Vec<u8> = (0..400u32).map(|i| (i * 31 % 251) as u8).collect();
        let mut bounds = vec![0u32];
        bounds.extend(cuts.iter().copied());
        bounds.push(400);
        let segs: Vec<(u32, u32)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
        // A permutation of the segments (keyed by `order`), plus duplicates of some.
        let mut idx: Vec<usize> = (0..segs.len()).collect();
        idx.sort_by_key(|&i| order.get(i).copied().unwrap_or(i as u32));
        for d in &dups {
            idx.push((*d as usize) % segs.len());
        }
        let mut r = Rig::new();
        r.half.syn(SeqNumber(isn));
        for i in idx {
            let (a, b) = segs[i];
            r.raw_seg(isn.wrapping_add(1).wrapping_add(a), &data[a as usize..b as usize]);
        }
        r.flush();
        prop_assert_eq!(r.content(), data.clone());
        let t = r.total();
        prop_assert_eq!(t.stream_bytes, 400);
        prop_assert_eq!(t.gap_bytes, 0);
        prop_assert_eq!(t.conflict_bytes, 0);
    }
}
