//! HTTP request bodies of IOC flows demultiplexed into uploads: each body (or each part of
//! a multipart/form body) scanned with its own `BodyScan` and matched with its own cursor; a
//! body that ends inside a compressed stream suspended for the next request to continue; rows
//! cut between consecutive requests joined; one `Unit` per body or part when the flow ends.

use super::{ContentLedger, ContentStats, FlowContent, Rules, Source, Unit};
use exfilmeter_content::{form_like, multipart_like, Form, Multipart, PartEvent, LEAD};
use exfilmeter_content::{BodyResult, BodyScan, Cursor, Matcher};
use exfilmeter_content::{Pending, RecordShape, Sightings};
use exfilmeter_flow::{Direction, FlowId};
use exfilmeter_ingest::{FrameRef, Timestamp};
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub(super) struct Req {
    pub(super) content_length: Option<u64>,
    pub(super) head_bytes: u64,
    pub(super) day: i32,
    pub(super) ts: Timestamp,
    pub(super) frame: FrameRef,
    pub(super) has_body: bool,
    /// multipart boundary, or form-urlencoded.
    pub(super) boundary: Option<String>,
    pub(super) form: bool,
    /// Content-Encoding.
    pub(super) encoding: Option<String>,
}

/// A body that carries several contents.
enum Split {
    Multipart(Multipart),
    Form(Form),
}

/// The split a request's headers declare.
#[derive(Clone)]
enum Declared {
    Multipart(String),
    Form,
}

impl Declared {
    fn of(r: &Req) -> Option<Self> {
        match (&r.boundary, r.form) {
            (Some(b), _) => Some(Declared::Multipart(b.clone())),
            (None, true) => Some(Declared::Form),
            _ => None,
        }
    }

    /// The splitter, when the body's first bytes (`lead`, `None` when they were not
    /// captured) agree with the declaration: the bytes decide first.
    fn split(self, lead: Option<&[u8]>) -> Option<Split> {
        match self {
            Declared::Multipart(b) if lead.is_none_or(multipart_like) => {
                Some(Split::Multipart(Multipart::new(&b)))
            }
            Declared::Form if lead.is_none_or(form_like) => Some(Split::Form(Form::default())),
            _ => None,
        }
    }
}

/// A body whose declared split waits for its first bytes.
struct Lead {
    declared: Declared,
    bytes: Vec<u8>,
    seen: exfilmeter_content::Seen,
    /// It declared a Content-Encoding (then it never continues a previous stream).
    encoded: bool,
}

impl Split {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<PartEvent>) {
        match self {
            Split::Multipart(m) => m.feed(bytes, out),
            Split::Form(f) => f.feed(bytes, out),
        }
    }
    fn gap(&mut self, len: u64, out: &mut Vec<PartEvent>) {
        match self {
            Split::Multipart(m) => m.gap(len, out),
            Split::Form(f) => f.gap(len, out),
        }
    }
    fn finish(&mut self, out: &mut Vec<PartEvent>) {
        if let Split::Multipart(m) = self {
            m.finish(out);
        }
    }
}

/// Parts of a split body by number, each with its scan and its matching cursor.
type Parts<'s> = BTreeMap<u32, (BodyScan<'s>, Cursor)>;

pub(super) struct OpenBody<'s> {
    scan: BodyScan<'s>,
    /// Parts of a multipart or form body, each scanned (and matched) on its own.
    split: Option<(Split, Parts<'s>)>,
    /// Body bytes given to the splitter so far.
    split_end: u64,
    /// A declared split waiting for the body's first bytes to confirm it.
    lead: Option<Lead>,
    end: u64,
    last_ts: Timestamp,
    last_day: i32,
    first_frame: FrameRef,
    last_frame: FrameRef,
    /// Rows seen in it, day not yet known.
    pending: Sightings<Pending>,
    /// Where matching stands in this upload.
    prev: Cursor,
}

/// A request body that ended inside a compressed stream, kept for the next request's body
/// to continue ([`BodyScan::suspend`]).
pub(super) struct Suspended<'s> {
    /// Its message number.
    m: u32,
    scan: BodyScan<'s>,
    prev: Cursor,
    /// Its day (for the sightings of the record it ended in, if nothing continues it).
    day: i32,
}

impl<'s> ContentLedger<'s> {
    /// The flow ended: every open body ends (a suspended one too: nothing continues it now).
    /// `sent`: the client→server bytes the flow is known to have sent (stream bytes and
    /// proven gaps); a body declared longer than what is left of them was cut short.
    pub(super) fn end_bodies(&mut self, f: &mut FlowContent<'s>, flow: FlowId, sent: u64) {
        finish_bodies(
            f,
            self.shape,
            self.rules,
            flow,
            &mut self.stats,
            self.matcher.as_mut(),
            Some(sent),
        );
        if let Some(s) = f.suspended.take() {
            end_suspended(f, s, self.matcher.as_mut());
        }
    }

    /// HTTP body bytes of a flow.
    #[allow(clippy::too_many_arguments)]
    pub fn body(
        &mut self,
        flow: FlowId,
        dir: Direction,
        message: u32,
        offset: u64,
        ts: Timestamp,
        frame: FrameRef,
        bytes: &[u8],
    ) {
        if dir != Direction::C2s {
            return;
        }
        if !self.live.contains_key(&flow) {
            self.stats.unflagged_bodies += u64::from(offset == 0);
            return;
        }
        let day = self.day(ts);
        let shape = self.shape;
        let Some(f) = self.live.get_mut(&flow) else {
            return;
        };
        let list = usize::from(f.connect);
        let mut declared = None;
        let mut encoding = None;
        if let Some(r) = f.reqs[list].get_mut(message as usize) {
            r.has_body = true;
            encoding.clone_from(&r.encoding);
            declared = Declared::of(r);
        }
        if !f.bodies.contains_key(&message) {
            // The previous request's body ended inside a compressed stream: this one goes on
            // with it when it is the next request's, a body of its own kind, and its first
            // bytes are no stream or text of their own.
            let mut go_on = None;
            if let Some(s) = f.suspended.take() {
                if s.m + 1 == message
                    && declared.is_none()
                    && encoding.is_none()
                    && offset == 0
                    && s.scan.continues_with(bytes)
                {
                    self.stats.continued_bodies += 1;
                    let mut scan = s.scan;
                    scan.resume();
                    go_on = Some((scan, s.prev.carried()));
                } else if s.m + 1 == message && declared.is_some() {
                    // One of its parts may go on with the stream.
                    f.suspended = Some(s);
                } else {
                    end_suspended(f, s, self.matcher.as_mut());
                }
            }
            let (scan, prev) = go_on.unwrap_or_else(|| {
                (
                    BodyScan::new(shape).with_content_encoding(encoding.as_deref()),
                    Cursor::default(),
                )
            });
            // A declared split is believed once the first bytes agree; without them (the
            // body's start not captured) as declared.
            let (split, lead) = match declared {
                Some(d) if offset == 0 => (
                    None,
                    Some(Lead {
                        declared: d,
                        bytes: Vec::new(),
                        seen: (ts, frame),
                        encoded: encoding.is_some(),
                    }),
                ),
                Some(d) => (d.split(None).map(|s| (s, BTreeMap::new())), None),
                None => (None, None),
            };
            f.bodies.insert(
                message,
                OpenBody {
                    scan,
                    split,
                    split_end: 0,
                    lead,
                    end: 0,
                    last_ts: ts,
                    last_day: day,
                    first_frame: frame,
                    last_frame: frame,
                    pending: Sightings::default(),
                    prev,
                },
            );
        }
        let Some(b) = f.bodies.get_mut(&message) else {
            return;
        };
        let new_end = offset + bytes.len() as u64;
        if new_end > b.end {
            *f.app.entry(day).or_default() += new_end - b.end;
            b.end = new_end;
        }
        b.last_ts = ts;
        b.last_day = day;
        b.last_frame = frame;
        let cont = (&mut f.suspended, message, &mut self.stats.continued_bodies);
        if let Some(lead) = b.lead.as_mut() {
            let have = lead.bytes.len() as u64;
            if offset <= have {
                let skip = usize::try_from(have - offset).unwrap_or(usize::MAX);
                lead.bytes
                    .extend_from_slice(bytes.get(skip..).unwrap_or_default());
                if lead.bytes.len() < LEAD {
                    return;
                }
                b.decide(shape, cont, self.matcher.as_mut());
                return;
            }
            // A gap before enough bytes: decided on what there is; the bytes after the gap
            // are fed below.
            b.decide(
                shape,
                (&mut *cont.0, cont.1, &mut *cont.2),
                self.matcher.as_mut(),
            );
        }
        b.feed(
            shape,
            offset,
            bytes,
            (ts, frame),
            cont,
            self.matcher.as_mut(),
        );
    }
}

/// The suspended body a part may continue: the slot, the message the part belongs to, and
/// the counter of continued bodies.
type Cont<'a, 's> = (&'a mut Option<Box<Suspended<'s>>>, u32, &'a mut u64);

impl<'s> OpenBody<'s> {
    /// Decides a declared split from the first bytes held, and feeds them.
    fn decide(&mut self, shape: &'s RecordShape, cont: Cont<'_, 's>, m: Option<&mut Matcher<'_>>) {
        let Some(lead) = self.lead.take() else {
            return;
        };
        self.split = lead
            .declared
            .split(Some(lead.bytes.get(..LEAD).unwrap_or(&lead.bytes)))
            .map(|s| (s, BTreeMap::new()));
        if self.split.is_none() && !lead.encoded {
            // Not split after all: it may go on with the previous request's stream.
            if let Some(s) = cont.0.take_if(|s| s.m + 1 == cont.1) {
                if s.scan.continues_with(&lead.bytes) {
                    *cont.2 += 1;
                    let mut scan = s.scan;
                    scan.resume();
                    self.scan = scan;
                    self.prev = s.prev.carried();
                } else {
                    *cont.0 = Some(s);
                }
            }
        }
        self.feed(shape, 0, &lead.bytes, lead.seen, cont, m);
    }

    /// Feeds body bytes at `offset` to the body's scan, or to its splitter and parts.
    fn feed(
        &mut self,
        shape: &'s RecordShape,
        offset: u64,
        bytes: &[u8],
        seen: exfilmeter_content::Seen,
        cont: Cont<'_, 's>,
        matcher: Option<&mut Matcher<'_>>,
    ) {
        if let Some((sp, parts)) = self.split.as_mut() {
            let mut ev = Vec::new();
            let old_end = self.split_end;
            if offset > old_end {
                sp.gap(offset - old_end, &mut ev);
            }
            let skip = usize::try_from(old_end.saturating_sub(offset)).unwrap_or(usize::MAX);
            if let Some(fresh) = bytes.get(skip..) {
                sp.feed(fresh, &mut ev);
            }
            self.split_end = self.split_end.max(offset + bytes.len() as u64);
            feed_parts(parts, shape, ev, seen, cont);
            if let Some(m) = matcher {
                for (scan, cur) in parts.values_mut() {
                    m.drain(scan, cur, &mut self.pending.list);
                    Matcher::settle_ready(cur, scan, &mut self.pending.list);
                    self.pending.check();
                }
            }
            return;
        }
        self.scan.feed_at(offset, bytes, seen);
        if let Some(m) = matcher {
            m.drain(&mut self.scan, &mut self.prev, &mut self.pending.list);
            Matcher::settle_ready(&mut self.prev, &self.scan, &mut self.pending.list);
            self.pending.check();
        }
    }
}

/// Ends the open bodies of a flow: at the next request's head (`sent` None: each body is
/// as long as declared), or at the flow's end (`sent`: the client→server bytes known sent;
/// a body declared longer than what is left of them after the heads and bodies before it
/// counts only what was sent, the rest as `unsent_declared_bytes`).
pub(super) fn finish_bodies<'s>(
    f: &mut FlowContent<'s>,
    _shape: &'s RecordShape,
    rules: Rules,
    flow: FlowId,
    stats: &mut ContentStats,
    mut matcher: Option<&mut Matcher<'_>>,
    sent: Option<u64>,
) {
    let list = usize::from(f.connect);
    for (m, mut b) in std::mem::take(&mut f.bodies) {
        // A body shorter than the lead: decided on all of it.
        let cont = (&mut f.suspended, m, &mut stats.continued_bodies);
        b.decide(_shape, cont, matcher.as_deref_mut());
        let req = f.reqs[list].get(m as usize);
        let mut declared = req.and_then(|q| q.content_length);
        let head = req.map_or(0, |q| q.head_bytes);
        if let (Some(d), Some(sent)) = (declared, sent) {
            let left = b.end.max(sent.saturating_sub(f.accounted));
            if d > left {
                *f.unsent.entry(b.last_day).or_default() += d - left;
                stats.cut_bodies += 1;
                declared = Some(left);
            }
        }
        if let Some((mut sp, mut parts)) = b.split.take() {
            let mut ev = Vec::new();
            let total = declared.unwrap_or(b.end).max(b.end);
            if total > b.end {
                sp.gap(total - b.end, &mut ev);
                *f.app.entry(b.last_day).or_default() += total - b.end;
            }
            sp.finish(&mut ev);
            feed_parts(
                &mut parts,
                _shape,
                ev,
                (b.last_ts, b.last_frame),
                (&mut f.suspended, m, &mut stats.continued_bodies),
            );
            end_unclaimed(f, m, matcher.as_deref_mut());
            f.accounted += total;
            stats.bodies += 1;
            let mut ended = Vec::new();
            let mut keep: Option<Box<Suspended<'s>>> = None;
            for (_, (scan, cur)) in parts {
                let ctx = (m, b.last_day, f.before.as_ref());
                match end_scan(scan, cur, None, ctx, matcher.as_deref_mut(), &mut b.pending) {
                    ScanEnd::Suspended(result, s) => {
                        push_body_unit(f, b.place(), flow, result, rules, 0);
                        if let Some(older) = keep.replace(s) {
                            end_suspended(f, older, matcher.as_deref_mut());
                        }
                    }
                    ScanEnd::Finished(result, cur) => {
                        ended.push(cur);
                        stats.broken_bodies += u64::from(result.broken);
                        push_body_unit(f, b.place(), flow, result, rules, 0);
                    }
                }
            }
            f.before = Some((m, ended));
            f.sightings
                .extend(b.pending.list.drain(..).map(|p| (b.last_day, p)));
            if keep.is_some() {
                f.suspended = keep;
            }
            continue;
        }
        end_unclaimed(f, m, matcher.as_deref_mut());
        let place = b.place();
        let ctx = (m, b.last_day, f.before.as_ref());
        let (result, cur) = match end_scan(
            b.scan,
            b.prev,
            declared,
            ctx,
            matcher.as_deref_mut(),
            &mut b.pending,
        ) {
            ScanEnd::Suspended(result, s) => {
                f.before = None;
                f.sightings
                    .extend(b.pending.list.drain(..).map(|p| (b.last_day, p)));
                stats.bodies += 1;
                f.accounted += result.length;
                push_body_unit(f, place, flow, result, rules, head);
                f.suspended = Some(s);
                continue;
            }
            ScanEnd::Finished(result, cur) => (result, cur),
        };
        f.before = Some((m, vec![cur]));
        f.sightings
            .extend(b.pending.list.drain(..).map(|p| (b.last_day, p)));
        let tail = result.length.saturating_sub(b.end);
        if tail > 0 {
            *f.app.entry(b.last_day).or_default() += tail;
        }
        stats.bodies += 1;
        stats.broken_bodies += u64::from(result.broken);
        f.accounted += result.length;
        push_body_unit(f, place, flow, result, rules, head);
    }
}

/// Where a body ended and which frames carried it.
#[derive(Clone, Copy)]
pub(super) struct BodyPlace {
    last_day: i32,
    last_ts: Timestamp,
    first_frame: FrameRef,
    last_frame: FrameRef,
}

impl OpenBody<'_> {
    fn place(&self) -> BodyPlace {
        BodyPlace {
            last_day: self.last_day,
            last_ts: self.last_ts,
            first_frame: self.first_frame,
            last_frame: self.last_frame,
        }
    }
}

/// Keeps one scanned body (or body part) as a unit; one that holds no record and carries
/// fewer content bytes than the control rule is control traffic, its `head` bytes included.
fn push_body_unit(
    f: &mut FlowContent<'_>,
    b: BodyPlace,
    flow: FlowId,
    result: BodyResult,
    rules: Rules,
    head: u64,
) {
    let holds_records = result.counted.is_some_and(|c| c.complete + c.partial > 0);
    let control = !holds_records && result.length < rules.control_max;
    if control {
        *f.control.entry(b.last_day).or_default() += head + result.length;
    }
    f.units.push(Unit {
        day: b.last_day,
        ts: b.last_ts,
        flow,
        host: crate::collect::Name::from(""),
        source: Source::HttpBody,
        body: result,
        control,
        framing: 0,
        frames: (b.first_frame, b.last_frame),
    });
}

/// How the scan of a body (or of one of its parts) ended.
pub(super) enum ScanEnd<'s> {
    /// Inside a compressed stream: counted as a sent prefix and kept for the next request's
    /// body to continue ([`BodyScan::suspend`]).
    Suspended(BodyResult, Box<Suspended<'s>>),
    /// For good: the result, and where matching stands (for rows across requests).
    Finished(BodyResult, Cursor),
}

/// Ends the scan of message `m`'s body or part (`declared`: its declared length), matches its
/// last lines and the rows it may continue from the previous request (`before`); sightings go
/// to `pending`.
pub(super) fn end_scan<'s>(
    mut scan: BodyScan<'s>,
    mut cur: Cursor,
    declared: Option<u64>,
    (m, day, before): (u32, i32, Option<&(u32, Vec<Cursor>)>),
    matcher: Option<&mut Matcher<'_>>,
    pending: &mut Sightings<Pending>,
) -> ScanEnd<'s> {
    if let Some(result) = scan.suspend(declared) {
        if let Some(mt) = matcher {
            // (Deciding a short body's kind may have made lines.)
            mt.drain(&mut scan, &mut cur, &mut pending.list);
            Matcher::settle_ready(&mut cur, &scan, &mut pending.list);
            across(mt, before, m, &cur, &mut pending.list);
        }
        let prev = cur;
        return ScanEnd::Suspended(result, Box::new(Suspended { m, scan, prev, day }));
    }
    let end = scan.finish_end(declared);
    if let Some(mt) = matcher {
        mt.lines(&end.lines, &mut cur, &mut pending.list);
        Matcher::settle(&mut cur, end.whole_until, &mut pending.list);
        across(mt, before, m, &cur, &mut pending.list);
    }
    ScanEnd::Finished(end.result, cur)
}

/// Ends a suspended body that nothing continued: the record it ended in is a fragment (its
/// counts were reported when it was suspended; its key may still be seen).
fn end_suspended(
    f: &mut FlowContent<'_>,
    s: Box<Suspended<'_>>,
    matcher: Option<&mut Matcher<'_>>,
) {
    let Suspended {
        scan,
        mut prev,
        day,
        ..
    } = *s;
    let end = scan.finish_end(None);
    if let Some(mt) = matcher {
        let mut out = Vec::new();
        mt.lines(&end.lines, &mut prev, &mut out);
        Matcher::settle(&mut prev, end.whole_until, &mut out);
        f.sightings.extend(out.into_iter().map(|p| (day, p)));
    }
}

/// Ends a suspended scan that nothing will continue, its sightings into `out` (the day is
/// the caller's).
pub(super) fn finish_suspended(
    s: Suspended<'_>,
    matcher: Option<&mut Matcher<'_>>,
    out: &mut Sightings<Pending>,
) {
    let Suspended { scan, mut prev, .. } = s;
    let end = scan.finish_end(None);
    if let Some(mt) = matcher {
        mt.lines(&end.lines, &mut prev, &mut out.list);
        Matcher::settle(&mut prev, end.whole_until, &mut out.list);
    }
}

/// Rows the previous request's body (message `m - 1`) ended in and request `m`'s body, or
/// one of its parts (`next`), goes on with. Every part of the previous body is tried: a file
/// posted in pieces is one part among form fields, and a row is confirmed only when every
/// byte of it is there across the junction.
fn across(
    mt: &mut Matcher<'_>,
    before: Option<&(u32, Vec<Cursor>)>,
    m: u32,
    next: &Cursor,
    out: &mut Vec<exfilmeter_content::Pending>,
) {
    if let Some((_, prev)) = before.filter(|(pm, _)| pm + 1 == m) {
        for p in prev {
            mt.across(p, next, out);
        }
    }
}

/// Feeds split-body events to the scan of each part.
/// A part that begins where the previous request's body ended inside a compressed stream
/// (`cont`, message `message - 1`) continues that stream when its first bytes can
/// ([`BodyScan::continues_with`]): an archive posted in pieces as file parts.
fn feed_parts<'s>(
    parts: &mut Parts<'s>,
    shape: &'s RecordShape,
    events: Vec<PartEvent>,
    seen: exfilmeter_content::Seen,
    (cont, message, continued): (&mut Option<Box<Suspended<'s>>>, u32, &mut u64),
) {
    for e in events {
        if let PartEvent::Data {
            part,
            offset,
            bytes,
        } = e
        {
            let slot = parts.entry(part).or_insert_with(|| {
                let claim = cont.as_ref().is_some_and(|s| {
                    s.m + 1 == message && offset == 0 && s.scan.continues_with(&bytes)
                });
                match cont.take_if(|_| claim) {
                    Some(s) => {
                        *continued += 1;
                        let mut scan = s.scan;
                        scan.resume();
                        (scan, s.prev.carried())
                    }
                    None => (BodyScan::new(shape), Cursor::default()),
                }
            });
            slot.0.feed_at(offset, &bytes, seen);
        }
    }
}

/// Ends the suspended body of the flow if a body after it (message `m`) was reached without
/// continuing it.
fn end_unclaimed(f: &mut FlowContent<'_>, m: u32, matcher: Option<&mut Matcher<'_>>) {
    if let Some(s) = f.suspended.take_if(|s| s.m < m) {
        end_suspended(f, s, matcher);
    }
}

#[cfg(test)]
#[path = "bodies_tests.rs"]
mod tests;
