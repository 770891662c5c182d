//! Passive TCP reassembly of one direction over wrapping sequence numbers.
//!
//! Read first: RFC 9293 §3.4 (sequence numbers) and §3.10.7.4 (segment arrival).
//!
//! Rules: data is delivered in order as soon as it is contiguous (never waiting for
//! ACKs, which the capture may lack); overlapping data keeps the bytes seen first and
//! counts differing bytes as conflicts; out-of-order data is buffered under a per-flow
//! and a global cap, and hitting a cap turns the hole in front of the buffer into a
//! recorded gap. Every payload byte is counted either as new stream bytes (credited to
//! the day of its first capture) or as retransmitted bytes (the day of the repeat).

use crate::day::DayClock;
use crate::key::Direction;
use crate::ledger::Ledger;
use crate::seq::{SeqNumber, SeqSpace};
use exfilmeter_ingest::{FrameRef, Timestamp};
use std::collections::{BTreeMap, VecDeque};

/// Why part of a stream has no content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GapKind {
    /// Sent (proven by later data, FIN/RST or the peer's ACK) but not in the capture.
    Missing,
    /// Captured, but the snapshot length cut the content off.
    Truncated,
    /// Declared a gap because the out-of-order buffer reached its cap.
    CapOverflow,
}

/// Receives a direction's reassembled stream.
pub trait StreamOut {
    /// Contiguous content at stream `offset`, first captured at `ts` in `frame`.
    fn data(&mut self, dir: Direction, offset: u64, ts: Timestamp, frame: FrameRef, bytes: &[u8]);
    /// `len` bytes at `offset` without content.
    fn gap(&mut self, dir: Direction, offset: u64, len: u64, kind: GapKind);
}

/// Shared memory budget for out-of-order buffers and retransmission windows.
#[derive(Debug, Clone, Default)]
pub struct Budget {
    /// Out-of-order bytes held now, all flows.
    pub ooo_used: usize,
    /// Cap on `ooo_used`.
    pub ooo_cap: usize,
    /// Per-direction cap on out-of-order bytes.
    pub ooo_per_flow: usize,
    /// Window bytes allocated now, all flows.
    pub win_used: usize,
    /// Cap on `win_used`.
    pub win_cap: usize,
    /// Size of one retransmission window.
    pub win_size: usize,
    /// Highest `ooo_used` seen.
    pub ooo_peak: usize,
    /// Released windows (empty, `win_size` capacity), reused by the next flows: a short
    /// flow costs no allocation for its window. Boxed: a half takes one over as it is.
    #[allow(clippy::vec_box)]
    pub(crate) spare_windows: Vec<Box<Window>>,
}

/// Released window buffers kept for reuse at most (16 MiB at the default window size).
const SPARE_WINDOWS: usize = 1024;

/// Per-direction anomaly counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HalfAnomalies {
    /// Gaps declared because a buffer cap was reached.
    pub cap_gaps: u64,
    /// Bytes before the stream's first offset (arrived after later data was delivered).
    pub before_start_bytes: u64,
    /// Retransmitted bytes that could not be compared with the first copy (outside the window).
    pub unverified_retrans_bytes: u64,
    /// FIN/RST/ACK proofs ignored because they lay implausibly far ahead (> 64 MiB).
    pub implausible_proofs: u64,
}

struct Seg {
    /// Stream length of the segment (content may be shorter: truncated).
    len: u64,
    data: Vec<u8>,
    ts: Timestamp,
    frame: FrameRef,
}

/// Recently delivered content, for comparing retransmissions with the first copy.
#[derive(Debug, Clone, Default)]
pub(crate) struct Window {
    buf: VecDeque<u8>,
    /// Stream offset just past `buf`'s last byte.
    end: u64,
    cap: usize,
}

/// How far beyond the highest captured byte a FIN/RST/ACK may prove data sent.
const MAX_PROOF_AHEAD: u64 = 64 << 20;

/// One direction of a TCP connection. Kept small (most flows never reorder): the
/// out-of-order buffer and the anomaly counters live in a box allocated on first need; the
/// retransmission window is taken from the budget's pool while there is room.
#[derive(Default)]
pub struct Half {
    space: Option<SeqSpace>,
    syn: bool,
    /// Everything below is delivered or declared a gap.
    next: u64,
    /// One past the highest offset captured.
    max_end: u64,
    fin: Option<u64>,
    proof_end: u64,
    proof_ts: Timestamp,
    /// The retransmission window: taken from [`Budget::spare_windows`] on the first data
    /// while the budget has room, given back when the connection closes.
    win: Option<Box<Window>>,
    extra: Option<Box<Extra>>,
}

#[derive(Default)]
struct Extra {
    ooo: BTreeMap<u64, Seg>,
    ooo_bytes: usize,
    anomalies: HalfAnomalies,
    /// Other initial sequence numbers announced by SYNs before any data (a retransmitted
    /// SYN-ACK with a new ISN): the peer's handshake ACK or the first data decides.
    isns: Vec<SeqNumber>,
}

/// At most this many alternative ISNs are remembered per direction.
const MAX_ISNS: usize = 4;

/// What a segment did to the ledger.
pub(crate) struct Ctx<'a, O: StreamOut> {
    pub(crate) dir: Direction,
    pub(crate) ledger: &'a mut Ledger,
    pub(crate) clock: &'a mut DayClock,
    pub(crate) out: &'a mut O,
    pub(crate) budget: &'a mut Budget,
}

impl<O: StreamOut> Ctx<'_, O> {
    fn credit(&mut self, ts: Timestamp, f: impl FnOnce(&mut crate::ledger::Counters)) {
        let day = self.clock.day(ts);
        f(self.ledger.at(self.dir, day));
    }
}

/// Compares `a` and `b` over their common length; returns differing bytes.
fn differing(a: &[u8], b: &[u8]) -> u64 {
    a.iter().zip(b).filter(|(x, y)| x != y).count() as u64
}

impl Window {
    fn push(&mut self, offset: u64, bytes: &[u8]) {
        if offset != self.end {
            self.buf.clear();
        }
        let take = bytes.len().min(self.cap);
        let drop = (self.buf.len() + take).saturating_sub(self.cap);
        self.buf.drain(..drop);
        self.buf.extend(&bytes[bytes.len() - take..]);
        self.end = offset + bytes.len() as u64;
    }

    fn reset(&mut self) {
        self.buf.clear();
    }

    /// Compares `bytes` at `offset` with the window; returns (compared, differing).
    fn compare(&self, offset: u64, bytes: &[u8]) -> (u64, u64) {
        let start = self.end - self.buf.len() as u64;
        let lo = offset.max(start);
        let hi = (offset + bytes.len() as u64).min(self.end);
        if lo >= hi {
            return (0, 0);
        }
        let (a, b) = self.buf.as_slices();
        let mut diff = 0;
        for i in lo..hi {
            let w = (i - start) as usize;
            let x = if w < a.len() { a[w] } else { b[w - a.len()] };
            if x != bytes[(i - offset) as usize] {
                diff += 1;
            }
        }
        (hi - lo, diff)
    }
}

impl Half {
    fn x(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// Counters of odd events.
    pub fn anomalies(&self) -> HalfAnomalies {
        self.extra.as_ref().map(|e| e.anomalies).unwrap_or_default()
    }

    pub(crate) fn ooo_empty(&self) -> bool {
        self.extra.as_ref().is_none_or(|e| e.ooo.is_empty())
    }

    /// Stream offset 0 is the byte after this SYN.
    pub(crate) fn syn(&mut self, seq: SeqNumber) {
        if self.untouched() {
            let base = seq + 1;
            if let Some(old) = self.space.filter(|s| self.syn && s.base != base) {
                let isns = &mut self.x().isns;
                if !isns.contains(&old.base) && isns.len() < MAX_ISNS {
                    isns.push(old.base);
                }
            }
            self.space = Some(SeqSpace { base });
            self.syn = true;
        }
    }

    /// Nothing captured or proven in this direction yet: the origin may still change.
    fn untouched(&self) -> bool {
        self.next == 0 && self.ooo_empty() && self.max_end == 0 && self.proof_end == 0
    }

    /// Several SYNs announced different ISNs: keep the one `seq` (data, or the byte the peer
    /// acknowledges) fits, the nearest at or before it, and forget the others.
    fn settle_isn(&mut self, seq: SeqNumber) {
        let Some(space) = self.space else { return };
        let Some(e) = self.extra.as_mut().filter(|e| !e.isns.is_empty()) else {
            return;
        };
        let best = e
            .isns
            .iter()
            .copied()
            .chain([space.base])
            .filter(|b| seq.dist(*b) >= 0)
            .min_by_key(|b| seq.dist(*b));
        e.isns.clear();
        if let Some(base) = best {
            self.space = Some(SeqSpace { base });
        }
    }

    /// The offset against which wrapped sequence numbers are unwrapped: the highest byte
    /// captured or delivered, which moves across holes (a sparse capture of a > 4 GiB stream
    /// steps less than 2^31 between captured segments, never from the start).
    fn reference(&self) -> u64 {
        self.next.max(self.max_end)
    }

    /// True once a SYN set the stream origin.
    pub(crate) fn has_syn(&self) -> bool {
        self.syn
    }

    /// The origin of the stream, once known.
    pub(crate) fn space(&self) -> Option<SeqSpace> {
        self.space
    }

    /// Highest offset captured (exclusive).
    pub(crate) fn max_end(&self) -> u64 {
        self.max_end
    }

    fn offset(&mut self, seq: SeqNumber) -> i64 {
        let reference = self.reference();
        let space = *self.space.get_or_insert(SeqSpace { base: seq });
        space.offset(seq, reference)
    }

    /// A data segment: `content` is what was captured of its `len` payload bytes.
    pub(crate) fn segment<O: StreamOut>(
        &mut self,
        seq: SeqNumber,
        content: &[u8],
        len: u64,
        ts: Timestamp,
        frame: FrameRef,
        ctx: &mut Ctx<'_, O>,
    ) {
        if len == 0 {
            return;
        }
        if self.untouched() {
            self.settle_isn(seq);
        }
        let mut off = self.offset(seq);
        if off < 0 && !self.syn && self.next == 0 && self.ooo_empty() {
            // Mid-stream pickup and an earlier segment arrives first: move the origin back.
            self.space = Some(SeqSpace { base: seq });
            off = 0;
        }
        let mut content = &content[..content.len().min(len as usize)];
        let mut a = off;
        let b = off + len as i64;
        if a < 0 {
            // Bytes before the stream origin: counted, never delivered.
            let before = (b.min(0) - a) as u64;
            self.x().anomalies.before_start_bytes += before;
            ctx.credit(ts, |c| c.retrans_bytes += before);
            if b <= 0 {
                return;
            }
            let skip = (-a) as usize;
            content = content.get(skip..).unwrap_or(&[]);
            a = 0;
        }
        let (a, b) = (a as u64, b as u64);
        self.max_end = self.max_end.max(b);
        // Below the frontier: already delivered (or declared a gap).
        if a < self.next {
            let hi = b.min(self.next);
            let n = hi - a;
            let have = &content[..content.len().min(n as usize)];
            let (compared, diff) = match &self.win {
                Some(w) => w.compare(a, have),
                None => (0, 0),
            };
            if compared < n {
                self.x().anomalies.unverified_retrans_bytes += n - compared;
            }
            ctx.credit(ts, |c| {
                c.retrans_bytes += n;
                c.conflict_bytes += diff;
            });
        }
        let s = a.max(self.next);
        if s >= b {
            return;
        }
        let content_end = a + content.len() as u64;
        if self.ooo_empty() && s == self.next {
            // Fast path: in order, nothing buffered. Deliver straight from the packet.
            let new = b - s;
            let trunc = b - s.max(content_end.min(b));
            ctx.credit(ts, |c| {
                c.stream_bytes += new;
                c.truncated_bytes += trunc;
            });
            self.deliver(
                s,
                b,
                &content[(s - a).min(content.len() as u64) as usize..],
                ts,
                frame,
                ctx,
            );
            return;
        }
        // General path: split [s, b) into parts already buffered and new parts.
        let mut cursor = s;
        let mut new_parts: Vec<(u64, u64)> = Vec::new();
        let ext = self.extra.get_or_insert_with(Box::default);
        let overlapping: Vec<u64> = ext
            .ooo
            .range(..b)
            .rev()
            .take_while(|(k, g)| **k + g.len > s)
            .map(|(k, _)| *k)
            .collect();
        for &k in overlapping.iter().rev() {
            let Some(g) = ext.ooo.get(&k) else { continue };
            let (gs, ge) = (k, k + g.len);
            if gs > cursor {
                new_parts.push((cursor, gs.min(b)));
            }
            let (lo, hi) = (gs.max(s), ge.min(b));
            if lo < hi {
                // Seen before: a retransmission; compare the content both copies have.
                let old = g.data.get((lo - gs) as usize..).unwrap_or(&[]);
                let new = content.get((lo - a) as usize..).unwrap_or(&[]);
                let n = ((hi - lo) as usize).min(old.len()).min(new.len());
                let diff = differing(&old[..n], &new[..n]);
                let len = hi - lo;
                ctx.credit(ts, |c| {
                    c.retrans_bytes += len;
                    c.conflict_bytes += diff;
                });
            }
            cursor = cursor.max(ge);
        }
        if cursor < b {
            new_parts.push((cursor, b));
        }
        for (x, y) in new_parts {
            let lo = (x - a) as usize;
            let hi = ((y - a) as usize).min(content.len());
            let data = if lo < hi {
                content[lo..hi].to_vec()
            } else {
                Vec::new()
            };
            let trunc = (y - x) - data.len() as u64;
            ctx.credit(ts, |c| {
                c.stream_bytes += y - x;
                c.truncated_bytes += trunc;
            });
            ctx.budget.ooo_used += data.len();
            ctx.budget.ooo_peak = ctx.budget.ooo_peak.max(ctx.budget.ooo_used);
            ext.ooo_bytes += data.len();
            ext.ooo.insert(
                x,
                Seg {
                    len: y - x,
                    data,
                    ts,
                    frame,
                },
            );
        }
        self.drain(ctx);
        // Caps: turn the hole in front of the buffer into a gap until under the cap.
        while !self.ooo_empty()
            && (self.extra.as_ref().map_or(0, |e| e.ooo_bytes) > ctx.budget.ooo_per_flow
                || ctx.budget.ooo_used > ctx.budget.ooo_cap)
        {
            self.x().anomalies.cap_gaps += 1;
            self.gap_to_first(GapKind::CapOverflow, ctx);
            self.drain(ctx);
        }
    }

    /// Delivers `[s, b)` whose available content starts at `content` (may be short).
    fn deliver<O: StreamOut>(
        &mut self,
        s: u64,
        b: u64,
        content: &[u8],
        ts: Timestamp,
        frame: FrameRef,
        ctx: &mut Ctx<'_, O>,
    ) {
        let n = ((b - s) as usize).min(content.len());
        if n > 0 {
            ctx.out.data(ctx.dir, s, ts, frame, &content[..n]);
            self.keep(s, &content[..n], ctx.budget);
        }
        if (n as u64) < b - s {
            ctx.out
                .gap(ctx.dir, s + n as u64, b - s - n as u64, GapKind::Truncated);
            if let Some(w) = self.win.as_mut() {
                w.reset();
            }
        }
        self.next = b;
    }

    /// Delivers buffered segments that have become contiguous.
    fn drain<O: StreamOut>(&mut self, ctx: &mut Ctx<'_, O>) {
        while let Some(x) = self.extra.as_mut() {
            let Some(entry) = x.ooo.first_entry() else {
                break;
            };
            if *entry.key() != self.next {
                break;
            }
            let (k, g) = entry.remove_entry();
            x.ooo_bytes -= g.data.len();
            ctx.budget.ooo_used -= g.data.len();
            self.deliver(k, k + g.len, &g.data, g.ts, g.frame, ctx);
        }
    }

    /// Declares the hole before the first buffered segment a gap, credited to the day
    /// of the segment that proved it.
    fn gap_to_first<O: StreamOut>(&mut self, kind: GapKind, ctx: &mut Ctx<'_, O>) {
        let Some((&k, g)) = self.extra.as_ref().and_then(|x| x.ooo.iter().next()) else {
            return;
        };
        let (len, ts) = (k - self.next, g.ts);
        if len > 0 {
            ctx.credit(ts, |c| c.gap_bytes += len);
            ctx.out.gap(ctx.dir, self.next, len, kind);
            if let Some(w) = self.win.as_mut() {
                w.reset();
            }
        }
        self.next = k;
    }

    /// Records that data up to stream offset `end` was sent (FIN, RST or peer ACK).
    fn prove(&mut self, end: i64, ts: Timestamp) {
        if end <= 0 {
            return;
        }
        let end = end as u64;
        if end > self.max_end.max(self.next) + MAX_PROOF_AHEAD {
            self.x().anomalies.implausible_proofs += 1;
            return;
        }
        if end > self.proof_end {
            self.proof_end = end;
            self.proof_ts = ts;
        }
    }

    /// A FIN after `len` payload bytes at `seq` (SYN already accounted).
    pub(crate) fn fin(&mut self, seq: SeqNumber, len: u64, ts: Timestamp) {
        let end = self.offset(seq) + len as i64;
        if end >= 0 && self.fin.is_none() {
            self.fin = Some(end as u64);
        }
        self.prove(end, ts);
    }

    /// A RST whose sequence number proves data before it.
    pub(crate) fn rst(&mut self, seq: SeqNumber, ts: Timestamp) {
        if self.space.is_some() {
            let mut end = self.offset(seq);
            if let Some(f) = self.fin {
                // After a FIN the RST's sequence number is one past it (RFC 9293 §3.10.7.4:
                // the FIN occupies a sequence number): no data byte is proven there.
                end = end.min(f as i64);
            }
            self.prove(end, ts);
        }
    }

    /// The peer acknowledged up to `ack` in this direction's sequence space.
    pub(crate) fn acked(&mut self, ack: SeqNumber, ts: Timestamp) {
        if self.space.is_none() {
            return;
        }
        if self.untouched() {
            // The handshake's ACK names the ISN the peer accepted.
            self.settle_isn(ack);
        }
        let Some(space) = self.space else {
            return;
        };
        let mut end = space.offset(ack, self.reference());
        match self.fin {
            // The FIN occupies one sequence number after the data.
            Some(f) => end = end.min(f as i64),
            // A FIN we did not capture looks like one byte past the data: not a gap.
            None if end == self.max_end.max(self.next) as i64 + 1 => end -= 1,
            None => {}
        }
        self.prove(end, ts);
    }

    /// The connection is closing (both FINs, or a RST): the retransmission window goes back
    /// to the budget for live flows. A retransmission after this is still counted in
    /// `retrans_bytes`, as unverified (`unverified_retrans_bytes`).
    pub(crate) fn release_window(&mut self, budget: &mut Budget) {
        self.give_back_window(budget);
        if let Some(e) = self.extra.as_mut() {
            // With nothing buffered and nothing odd to report, the box itself goes too.
            if e.ooo.is_empty() && e.isns.is_empty() && e.anomalies == HalfAnomalies::default() {
                self.extra = None;
            }
        }
    }

    /// Keeps delivered `bytes` at stream `offset` in the retransmission window, taking one
    /// from the pool (or making one) while the budget has room; without room they are not
    /// kept, and a retransmission of them is counted as unverified.
    fn keep(&mut self, offset: u64, bytes: &[u8], budget: &mut Budget) {
        if self.win.is_none() {
            if budget.win_size == 0 || budget.win_used + budget.win_size > budget.win_cap {
                return;
            }
            let size = budget.win_size;
            let w = budget.spare_windows.pop().unwrap_or_else(|| {
                Box::new(Window {
                    buf: VecDeque::with_capacity(size),
                    end: 0,
                    cap: size,
                })
            });
            // (Counted as given back: by the window's own size.)
            budget.win_used += w.cap;
            self.win = Some(w);
        }
        if let Some(w) = self.win.as_mut() {
            w.push(offset, bytes);
        }
    }

    /// The window goes back to the budget (and to the pool while it has room).
    fn give_back_window(&mut self, budget: &mut Budget) {
        let Some(mut w) = self.win.take() else {
            return;
        };
        budget.win_used -= w.cap;
        if w.cap == budget.win_size && budget.spare_windows.len() < SPARE_WINDOWS {
            w.buf.clear();
            w.end = 0;
            budget.spare_windows.push(w);
        }
    }

    /// End of the flow: buffered data behind holes is delivered, holes and proven
    /// unseen tails become gaps.
    pub(crate) fn flush<O: StreamOut>(&mut self, ctx: &mut Ctx<'_, O>) {
        while !self.ooo_empty() {
            self.gap_to_first(GapKind::Missing, ctx);
            self.drain(ctx);
        }
        if self.proof_end > self.next {
            let len = self.proof_end - self.next;
            let ts = self.proof_ts;
            ctx.credit(ts, |c| c.gap_bytes += len);
            ctx.out.gap(ctx.dir, self.next, len, GapKind::Missing);
            self.next = self.proof_end;
        }
        self.give_back_window(ctx.budget);
        // Done: release the buffers now (the flow record keeps only the counters).
        let anomalies = self.anomalies();
        self.extra = (anomalies != HalfAnomalies::default()).then(|| {
            Box::new(Extra {
                anomalies,
                ..Extra::default()
            })
        });
    }
}

#[cfg(test)]
#[path = "tcp_tests.rs"]
mod tests;
