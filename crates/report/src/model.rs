//! The report's content, computed once from the run folder's tables and manifest; the HTML
//! and Markdown writers only lay it out, so both show the same numbers.

use crate::csv::Table;
use crate::error::{format, Result};
use crate::fmt::{bytes, group};
use crate::lang::Lang;
use crate::manifest::Manifest;
use std::collections::HashMap;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// One row of the headline table: a period or a day, all malicious hosts together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Line {
    /// Period name or day (`YYYY-MM-DD`).
    pub label: String,
    /// First and last day of a period (equal to `label` for a day).
    pub start: String,
    /// See `start`.
    pub end: String,
    /// Client→server unique stream bytes to malicious hosts.
    pub bytes: u64,
    /// Records estimated from traffic volume (absent without a record model).
    pub low: Option<u64>,
    /// See `low`.
    pub point: Option<u64>,
    /// See `low`.
    pub high: Option<u64>,
    /// Record transmissions counted in decoded content (part of `low`, `point`, `high`).
    pub counted: Option<u64>,
    /// Distinct records confirmed by content (absent without recovered files).
    pub confirmed: Option<u64>,
    /// Record transmissions the confirmed records explain (every confirmed sighting).
    pub explained: Option<u64>,
    /// Transmissions not explained by confirmed records: point − explained, never below
    /// zero, per host.
    pub residual: Option<u64>,
    /// Reconciliation statuses of the hosts with traffic, `;`-joined.
    pub status: String,
    /// The row in one plain sentence.
    pub reading: String,
}

/// What the report says about one malicious host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Host {
    /// Host name (server name, else indicator).
    pub host: String,
    /// Indicators it matched.
    pub indicators: Vec<String>,
    /// Server addresses.
    pub ips: Vec<String>,
    /// Kind of evidence → the first frame that carried it.
    pub evidence: Vec<(String, String)>,
    /// Flows attributed.
    pub flows: u64,
    /// First and last frame time of its flows (local).
    pub first: String,
    /// See `first`.
    pub last: String,
    /// Summed daily columns, in `LAYERS` order.
    pub layers: Vec<u64>,
    /// Days with client→server bytes.
    pub active_days: u64,
}

/// The byte layers shown per host, as named in daily.csv.
pub const LAYERS: [&str; 11] = [
    "frames",
    "frame_bytes",
    "ip_bytes",
    "payload_bytes",
    "stream_bytes",
    "retrans_bytes",
    "gap_bytes",
    "truncated_bytes",
    "app_bytes",
    "control_bytes",
    "basis_bytes",
];

/// One mark of the timeline: flows of one host whose marks would touch on screen, drawn as one
/// (its title says how many flows and bytes).
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    /// Left and right edge, in the chart's coordinates.
    pub a: f64,
    /// See `a`.
    pub b: f64,
    /// Flows drawn in it.
    pub flows: u64,
    /// Their client→server stream bytes.
    pub bytes: u64,
    /// The first flow's id (named in the title of a mark of one flow).
    pub flow: Box<str>,
}

/// The timeline: from the first frame of the first flow (`t0`) to the last frame of the flow
/// that ended last (`t1`), seconds since the epoch, and each host entry's marks. Flows are
/// added in time order and merged into marks as they come, so the report holds a few hundred
/// marks a host, not a span per flow (decision 0032).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    /// Time of the left edge.
    pub t0: i64,
    /// Time of the right edge (later than `t0`).
    pub t1: i64,
    /// Marks per entry of [`Report::hosts`], left to right.
    pub lanes: Vec<Vec<Mark>>,
    /// Flows drawn.
    pub flows: u64,
}

impl Timeline {
    /// An empty timeline from `t0` to `t1` with `lanes` host entries.
    pub fn new(t0: i64, t1: i64, lanes: usize) -> Timeline {
        Timeline {
            t0,
            t1: t1.max(t0 + 1),
            lanes: vec![Vec::new(); lanes],
            flows: 0,
        }
    }

    /// Adds a flow of host entry `lane` (flows in order of start, per lane).
    pub fn add(&mut self, lane: usize, start: i64, end: i64, bytes: u64, flow: &str) {
        let x = |t: i64| crate::svg::timeline_x(self.t0, self.t1, t);
        let (a, b) = (x(start), x(end).max(x(start) + 1.5));
        let Some(marks) = self.lanes.get_mut(lane) else {
            return;
        };
        self.flows += 1;
        match marks.last_mut() {
            Some(m) if a <= m.b + 1.0 => {
                m.b = m.b.max(b);
                m.flows += 1;
                m.bytes += bytes;
            }
            _ => marks.push(Mark {
                a,
                b,
                flows: 1,
                bytes,
                flow: flow.into(),
            }),
        }
    }
}

/// A flow of ioc_flows.csv as the timeline needs it (host by number).
#[derive(Debug, Clone)]
pub(crate) struct FlowSpan {
    host: u32,
    start: i64,
    end: i64,
    bytes: u64,
    flow: Box<str>,
}

/// What the report needs of one host's flows, summed as ioc_flows.csv is read.
#[derive(Debug, Clone, Default)]
struct HostFlows {
    flows: u64,
    /// Each kind of evidence, with the frame of its first flow, in the order first seen.
    evidence: Vec<(String, String)>,
    /// The earliest first frame and how it is written.
    first: Option<(i64, String)>,
    /// The latest last frame (a flow whose time does not parse counts as earliest), the
    /// later row on a tie, and how it is written.
    last: Option<(Option<i64>, String)>,
    /// Of the flows on the timeline: the first one in time order (start, then flow id) and
    /// its start as written; the one ending last (the later in time order on a tie) and its
    /// end as written.
    span_first: Option<((i64, Box<str>), String)>,
    span_last: Option<(LastKey, String)>,
}

/// A flow's order for "ended last": end, then start and flow id (time order).
type LastKey = (i64, i64, Box<str>);

/// The flows of ioc_flows.csv summed per host: read block by block. The timeline's flows are
/// kept from that read up to [`KEPT_SPANS`] of them; past that, they are read a second time
/// once the timeline's time range and host entries are known, so a run with millions of
/// flows holds nothing per flow (a table given in memory keeps its spans).
#[derive(Debug, Clone, Default)]
pub struct FlowSummary {
    index: HashMap<String, u32>,
    hosts: Vec<HostFlows>,
    /// Where the timeline's flows come from: the file read again, or the spans kept (from
    /// the first read, or of a table given in memory).
    source: FlowSource,
}

#[derive(Debug, Clone, Default)]
enum FlowSource {
    #[default]
    None,
    /// ioc_flows.csv, and whether its flows came in time order (start), as it is written.
    File(std::path::PathBuf, bool),
    /// The spans, in the order the timeline takes them.
    Kept(Vec<FlowSpan>),
}

/// The timeline's flows kept from the first read of ioc_flows.csv, at most (about 60 bytes
/// each, so 16 MB).
const KEPT_SPANS: usize = 1 << 18;

/// Spans sorted by start, then flow id.
fn in_time_order(mut spans: Vec<FlowSpan>) -> Vec<FlowSpan> {
    spans.sort_by(|a, b| (a.start, &a.flow).cmp(&(b.start, &b.flow)));
    spans
}

impl FlowSummary {
    /// Reads ioc_flows.csv.
    pub fn read(path: &Path) -> Result<FlowSummary> {
        FlowSummary::read_keeping(path, KEPT_SPANS)
    }

    /// Reads ioc_flows.csv, keeping the timeline's flows when there are at most `keep`.
    fn read_keeping(path: &Path, keep: usize) -> Result<FlowSummary> {
        let mut f = FlowSummary::default();
        let (mut in_order, mut last) = (true, i64::MIN);
        let mut kept = Some(Vec::new());
        crate::csv::each_row(path, &FLOW_COLUMNS, |c| {
            if let Some((host, start)) = f.add(c) {
                in_order &= start >= last;
                last = start;
                if let Some(k) = kept.as_mut() {
                    if k.len() < keep {
                        k.extend(span_of(c, host));
                    } else {
                        kept = None;
                    }
                }
            }
        })?;
        f.source = match kept {
            // Read in time order, they are sent in the order read, as from the file.
            Some(k) if in_order => FlowSource::Kept(k),
            Some(k) => FlowSource::Kept(in_time_order(k)),
            None => FlowSource::File(path.to_path_buf(), in_order),
        };
        Ok(f)
    }

    /// The flows of a table with ioc_flows.csv's columns.
    pub fn of(t: &Table) -> FlowSummary {
        let mut f = FlowSummary::default();
        let mut kept = Vec::new();
        let cols: Vec<Option<usize>> = FLOW_COLUMNS.iter().map(|c| t.col(c)).collect();
        for r in &t.rows {
            let cells: Vec<&str> = cols
                .iter()
                .map(|i| i.and_then(|i| r.get(i)).map_or("", String::as_str))
                .collect();
            if let Some((host, _)) = f.add(&cells) {
                kept.extend(span_of(&cells, host));
            }
        }
        f.source = FlowSource::Kept(in_time_order(kept));
        f
    }

    /// Every flow with a start and an end, in time order (start, then flow id) when the
    /// source is (ioc_flows.csv is written so); a source out of that order is sorted in
    /// memory first.
    fn each_span(&self, mut f: impl FnMut(&FlowSpan)) -> Result<()> {
        match &self.source {
            FlowSource::None => Ok(()),
            FlowSource::Kept(spans) => {
                spans.iter().for_each(&mut f);
                Ok(())
            }
            FlowSource::File(path, in_order) => {
                let index = &self.index;
                let host_of = |c: &[&str]| {
                    let host = c.get(1).copied().unwrap_or("");
                    index.get(host).copied()
                };
                if *in_order {
                    crate::csv::each_row(path, &FLOW_COLUMNS, |c| {
                        if let Some(s) = host_of(c).and_then(|h| span_of(c, h)) {
                            f(&s);
                        }
                    })
                } else {
                    let mut spans = Vec::new();
                    crate::csv::each_row(path, &FLOW_COLUMNS, |c| {
                        spans.extend(host_of(c).and_then(|h| span_of(c, h)));
                    })?;
                    in_time_order(spans).iter().for_each(&mut f);
                    Ok(())
                }
            }
        }
    }

    /// Adds one flow: its cells in [`FLOW_COLUMNS`] order. Returns its host's number and its
    /// start when the timeline draws it (it has a start and an end).
    fn add(&mut self, c: &[&str]) -> Option<(u32, i64)> {
        let cell = |i: usize| c.get(i).copied().unwrap_or("");
        let (flow, host, evidence) = (cell(0), cell(1), cell(2));
        let (first_local, last_local) = (cell(3), cell(4));
        let id = match self.index.get(host) {
            Some(&i) => i,
            None => {
                let i = self.hosts.len() as u32;
                self.index.insert(host.to_string(), i);
                self.hosts.push(HostFlows::default());
                i
            }
        };
        let h = &mut self.hosts[id as usize];
        h.flows += 1;
        for e in evidence.split(';').filter(|s| !s.is_empty()) {
            let (kind, frame) = e.split_once(':').unwrap_or((e, ""));
            if !h.evidence.iter().any(|(k, _)| k == kind) {
                h.evidence.push((kind.to_string(), frame.to_string()));
            }
        }
        let (start, end) = (parse_time(first_local), parse_time(last_local));
        if let Some(t) = start {
            if h.first.as_ref().is_none_or(|(m, _)| t < *m) {
                h.first = Some((t, first_local.to_string()));
            }
        }
        if h.last.as_ref().is_none_or(|(m, _)| end >= *m) {
            h.last = Some((end, last_local.to_string()));
        }
        if let (Some(start), Some(end)) = (start, end) {
            if h.span_first
                .as_ref()
                .is_none_or(|((s, f), _)| (start, flow) < (*s, &**f))
            {
                h.span_first = Some(((start, flow.into()), first_local.to_string()));
            }
            if h.span_last
                .as_ref()
                .is_none_or(|((e, s, f), _)| (end, start, flow) >= (*e, *s, &**f))
            {
                h.span_last = Some(((end, start, flow.into()), last_local.to_string()));
            }
        }
        start.zip(end).map(|(s, _)| (id, s))
    }

    fn host(&self, name: &str) -> Option<&HostFlows> {
        self.index.get(name).map(|&i| &self.hosts[i as usize])
    }
}

/// A flow of ioc_flows.csv (cells in [`FLOW_COLUMNS`] order) as the timeline draws it, for
/// host entry `host`: none without a start and an end.
fn span_of(c: &[&str], host: u32) -> Option<FlowSpan> {
    let cell = |i: usize| c.get(i).copied().unwrap_or("");
    Some(FlowSpan {
        host,
        start: parse_time(cell(3))?,
        end: parse_time(cell(4))?,
        bytes: cell(5).parse::<u64>().unwrap_or(0),
        flow: cell(0).into(),
    })
}

/// Everything the report shows.
#[derive(Debug, Clone)]
pub struct Report {
    /// The run's manifest.
    pub manifest: Manifest,
    /// daily.csv.
    pub daily: Table,
    /// periods.csv.
    pub periods: Table,
    /// sweep_hosts.csv, when the run swept.
    pub sweep: Option<Table>,
    /// True when records were reconciled with recovered files.
    pub reconciled: bool,
    /// Headline rows per period.
    pub period_lines: Vec<Line>,
    /// Headline rows per day.
    pub day_lines: Vec<Line>,
    /// Hosts shown: all of them sorted by name, or — beyond [`TOP_HOSTS`] — the top hosts
    /// by bytes sent followed by one "other hosts" entry that sums the rest.
    pub hosts: Vec<Host>,
    /// Hosts summed in the "other hosts" entry (by name; empty when every host is shown).
    pub other_hosts: Vec<String>,
    /// Flows to malicious hosts drawn on the timeline, merged into marks per host entry.
    pub timeline: Timeline,
    /// The first flow's first frame as written (local RFC 3339; its zone is the timeline's).
    pub first_local: String,
    /// The last frame of the flow that ended last, as written.
    pub last_local: String,
    /// Per day and host: stream bytes (days in order, hosts in `hosts` order).
    pub bytes_by_day: Vec<(String, Vec<u64>)>,
    /// Per host over the whole capture: host, content kinds (codec), r range, mean record
    /// size, excluded control bytes, basis bytes, the records range (low–high) they give.
    pub assumptions: Vec<Vec<String>>,
    /// `confirmed_records.csv`, when the run had recovered files.
    pub records: Option<Table>,
}

fn opt_sum(t: &Table, rows: &[&Vec<String>], col: &str) -> Option<u64> {
    let mut any = false;
    let mut s = 0u64;
    for r in rows {
        let v = t.get(r, col);
        if !v.is_empty() {
            any = true;
            s += v.parse::<u64>().unwrap_or(0);
        }
    }
    any.then_some(s)
}

/// The columns of ioc_flows.csv the report reads.
const FLOW_COLUMNS: [&str; 6] = [
    "flow_id",
    "host",
    "evidence",
    "first_seen_local",
    "last_seen_local",
    "stream_bytes",
];

/// Hosts the report names one by one; beyond, the rest are summed in one "other hosts" row
/// (the CSV and Parquet tables always have every host).
pub const TOP_HOSTS: usize = 25;

/// The label of the "other hosts" entry summing `n` hosts.
pub fn other_label(lang: crate::lang::Lang, n: usize) -> String {
    match lang {
        crate::lang::Lang::En => format!("other hosts ({})", group(n as u64)),
        crate::lang::Lang::Ja => format!("その他のホスト（{} 件）", group(n as u64)),
    }
}

/// At most `n` entries of a list, then how many there are in all.
fn capped(list: Vec<String>, n: usize, lang: crate::lang::Lang) -> Vec<String> {
    if list.len() <= n {
        return list;
    }
    let total = list.len();
    let mut v: Vec<String> = list.into_iter().take(n).collect();
    v.push(match lang {
        crate::lang::Lang::En => format!("… ({} in all)", group(total as u64)),
        crate::lang::Lang::Ja => format!("…（全 {} 件）", group(total as u64)),
    });
    v
}

/// One period of the publication table (and of `publication.csv`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicationRow {
    /// Period name.
    pub period: String,
    /// First and last day.
    pub start: String,
    /// See `start`.
    pub end: String,
    /// Records that may have been taken: `--staged`, else the records in the recovered files.
    pub taken: Option<u64>,
    /// `staged` or `recovered`.
    pub taken_source: &'static str,
    /// Record transmissions low / point / high.
    pub low: Option<u64>,
    /// See `low`.
    pub point: Option<u64>,
    /// See `low`.
    pub high: Option<u64>,
    /// Transmissions counted in decoded content.
    pub counted: Option<u64>,
    /// Distinct records confirmed by content.
    pub confirmed: Option<u64>,
    /// Transmissions the confirmed records explain.
    pub explained: Option<u64>,
    /// Transmissions not explained by a confirmed record.
    pub not_explained: Option<u64>,
}

/// The publication rows: one per period of the headline.
pub fn publication_rows(r: &Report) -> Vec<PublicationRow> {
    let m = &r.manifest;
    let (taken, source) = match (m.rules.staged, &m.model) {
        (Some(s), _) => (Some(s), "staged"),
        (None, Some(md)) => (Some(md.records), "recovered"),
        (None, None) => (None, "recovered"),
    };
    r.period_lines
        .iter()
        .map(|l| PublicationRow {
            period: l.label.clone(),
            start: l.start.clone(),
            end: l.end.clone(),
            taken,
            taken_source: source,
            low: l.low,
            point: l.point,
            high: l.high,
            counted: l.counted,
            confirmed: l.confirmed,
            explained: l.explained,
            not_explained: l.residual,
        })
        .collect()
}

/// `publication.csv`: the publication rows as a table.
pub fn publication_csv(r: &Report) -> String {
    let mut out = String::from(
        "period,start,end,records_possibly_taken,possibly_taken_source,transmissions_low,\
         transmissions_point,transmissions_high,counted,confirmed_distinct,explained,\
         not_explained\n",
    );
    let cell = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_default();
    for p in publication_rows(r) {
        let name = if p.period.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", p.period.replace('"', "\"\""))
        } else {
            p.period.clone()
        };
        out.push_str(&format!(
            "{name},{},{},{},{},{},{},{},{},{},{},{}\n",
            p.start,
            p.end,
            cell(p.taken),
            p.taken_source,
            cell(p.low),
            cell(p.point),
            cell(p.high),
            cell(p.counted),
            cell(p.confirmed),
            cell(p.explained),
            cell(p.not_explained)
        ));
    }
    out
}

/// One plain-language sentence for a headline row, in `lang`.
pub fn reading(l: &Line, period: bool, lang: Lang) -> String {
    match lang {
        Lang::En => reading_en(l, period),
        Lang::Ja => reading_ja(l, period),
    }
}

/// What a headline row's reconciliation says when nothing was confirmed because the content
/// could not be read: encrypted/undecodable, missing from the capture, or both.
fn unreadable(l: &Line) -> Option<&'static str> {
    let all = |w: &[&str]| l.status.split(';').all(|x| w.contains(&x));
    match l.confirmed {
        Some(0) if all(&["opaque"]) => Some("opaque"),
        Some(0) if all(&["incomplete"]) => Some("incomplete"),
        Some(0) if all(&["incomplete", "opaque"]) => Some("both"),
        _ => None,
    }
}

fn reading_en(l: &Line, period: bool) -> String {
    let when = if period {
        if l.start == l.end {
            format!("In “{}” ({})", l.label, l.start)
        } else {
            format!("In “{}” ({} to {})", l.label, l.start, l.end)
        }
    } else {
        format!("On {}", l.label)
    };
    if l.bytes == 0 {
        return format!("{when} no data was sent to a malicious host.");
    }
    let mut s = format!(
        "{when} {} ({} bytes) went to malicious hosts",
        bytes(l.bytes),
        group(l.bytes)
    );
    match (l.low, l.point, l.high) {
        (Some(lo), Some(p), Some(hi)) => {
            let counted = l.counted.unwrap_or(0).min(lo);
            if lo == hi && counted == p {
                s.push_str(&format!(
                    "; {} record transmissions, all counted in the decoded content",
                    group(p)
                ));
            } else if counted > 0 {
                s.push_str(&format!(
                    "; about {} record transmissions (between {} and {}): {} counted in the \
                     decoded content and about {} estimated from traffic volume (between {} \
                     and {})",
                    group(p),
                    group(lo),
                    group(hi),
                    group(counted),
                    group(p - counted),
                    group(lo - counted),
                    group(hi - counted)
                ));
            } else {
                s.push_str(&format!(
                    "; about {} record transmissions estimated from traffic volume (between \
                     {} and {})",
                    group(p),
                    group(lo),
                    group(hi)
                ));
            }
            if let (Some(c), Some(r)) = (l.confirmed, l.residual) {
                match unreadable(l) {
                    Some("opaque") => {
                        s.push_str("; none confirmable: the content was encrypted or undecodable")
                    }
                    Some("incomplete") => s.push_str(
                        "; none confirmable: part of the content is missing from the capture \
                         (cut by the snapshot length, capture gaps, or bodies never captured), \
                         so it could not be decoded",
                    ),
                    Some(_) => s.push_str(
                        "; none confirmable: the content was encrypted, undecodable, or partly \
                         missing from the capture",
                    ),
                    None => s.push_str(&format!(
                        "; {} distinct records confirmed by content, which explain {} of the \
                         transmissions (repeats included); {} transmissions not explained by a \
                         confirmed record",
                        group(c),
                        group(l.explained.unwrap_or(0)),
                        group(r)
                    )),
                }
            }
            if l.status.contains("confirmed_exceeds_high") {
                s.push_str(" — more records were confirmed than the estimate allows, so an assumption of the record model is wrong (see Assumptions)");
            }
        }
        _ => s.push_str("; no record estimate (no recovered file gave a record model)"),
    }
    s.push('.');
    s
}

fn reading_ja(l: &Line, period: bool) -> String {
    let lang = Lang::Ja;
    let when = if period {
        if l.start == l.end {
            format!("期間「{}」（{}）", l.label, lang.day(&l.start))
        } else {
            format!(
                "期間「{}」（{}～{}）",
                l.label,
                lang.day(&l.start),
                lang.day(&l.end)
            )
        }
    } else {
        lang.day(&l.label)
    };
    if l.bytes == 0 {
        return format!("{when}、不正なサーバーへ送信されたデータはありません。");
    }
    let mut s = format!(
        "{when}、不正なサーバーへ {}（{} バイト）が送信されました。",
        bytes(l.bytes),
        group(l.bytes)
    );
    match (l.low, l.point, l.high) {
        (Some(lo), Some(p), Some(hi)) => {
            let counted = l.counted.unwrap_or(0).min(lo);
            if lo == hi && counted == p {
                s.push_str(&format!(
                    "送信件数は {} 件で、すべて復号した通信内容で数えました。",
                    group(p)
                ));
            } else if counted > 0 {
                s.push_str(&format!(
                    "送信件数は約 {} 件（{}～{} 件）で、うち {} 件は復号した通信内容で数え、約 {} \
                     件（{}～{} 件）は通信量から推定しました。",
                    group(p),
                    group(lo),
                    group(hi),
                    group(counted),
                    group(p - counted),
                    group(lo - counted),
                    group(hi - counted)
                ));
            } else {
                s.push_str(&format!(
                    "通信量から推定した送信件数は約 {} 件（{}～{} 件）です。",
                    group(p),
                    group(lo),
                    group(hi)
                ));
            }
            if let (Some(c), Some(r)) = (l.confirmed, l.residual) {
                match unreadable(l) {
                    Some("opaque") => s.push_str(
                        "内容は暗号化されているか復号できなかったため、確認できた件数はありません。",
                    ),
                    Some("incomplete") => s.push_str(
                        "内容の一部がキャプチャにない（スナップ長による切り詰め、捕捉の欠落、捕捉\
                         されなかった本文）ため復号できず、確認できた件数はありません。",
                    ),
                    Some(_) => s.push_str(
                        "内容が暗号化されている、復号できない、または一部がキャプチャにないため、確\
                         認できた件数はありません。",
                    ),
                    None => s.push_str(&format!(
                        "ファイル内容との一致により確認できたのは {} 件（重複なし）で、重複を含め \
                         {} 件の送信を説明します。確認済みレコードで説明されない送信は {} 件です。",
                        group(c),
                        group(l.explained.unwrap_or(0)),
                        group(r)
                    )),
                }
            }
            if l.status.contains("confirmed_exceeds_high") {
                s.push_str(
                    "確認できた件数が推定の上限を超えています。レコードモデルの前提が誤っています\
                     （前提条件を参照）。",
                );
            }
        }
        _ => s.push_str("回収ファイルがないため、件数の推定はありません。"),
    }
    s
}

fn parse_time(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp())
}

impl Report {
    /// Reads the run folder: manifest.json, daily.csv, periods.csv, and when present
    /// ioc_flows.csv and sweep_hosts.csv.
    pub fn load(dir: &Path) -> Result<Report> {
        let manifest = Manifest::read(dir)?;
        let daily = Table::read(&dir.join("daily.csv"))?;
        let periods = Table::read(&dir.join("periods.csv"))?;
        let flows_path = dir.join("ioc_flows.csv");
        let flows = if flows_path.exists() {
            // One row per flow: summed per host as it is read.
            FlowSummary::read(&flows_path)?
        } else {
            FlowSummary::default()
        };
        let sweep_path = dir.join("sweep_hosts.csv");
        let sweep = if sweep_path.exists() {
            Some(Table::read(&sweep_path)?)
        } else {
            None
        };
        let records_path = dir.join("confirmed_records.csv");
        let records = if records_path.exists() {
            Some(Table::read(&records_path)?)
        } else {
            None
        };
        let mut r = Report::build(manifest, daily, periods, &flows, sweep)?;
        r.records = records;
        Ok(r)
    }

    /// Computes the report's content from the tables.
    pub fn build(
        manifest: Manifest,
        daily: Table,
        periods: Table,
        flows: &FlowSummary,
        sweep: Option<Table>,
    ) -> Result<Report> {
        for (t, name, cols) in [
            (&daily, "daily.csv", ["day", "host", "stream_bytes"]),
            (&periods, "periods.csv", ["period", "host", "stream_bytes"]),
        ] {
            for c in cols {
                if t.col(c).is_none() {
                    return Err(format(Path::new(name), format_args!("no column {c:?}")));
                }
            }
        }
        let reconciled = daily.col("confirmed").is_some() && !manifest.recovered.is_empty();
        let modelled = manifest.model.is_some();
        // Days in order, each with its host rows.
        let mut by_day: BTreeMap<String, Vec<&Vec<String>>> = BTreeMap::new();
        // Rows of each host, found once (a report may name thousands of hosts).
        let mut daily_of: BTreeMap<&str, Vec<&Vec<String>>> = BTreeMap::new();
        for r in &daily.rows {
            by_day
                .entry(daily.get(r, "day").to_string())
                .or_default()
                .push(r);
            daily_of.entry(daily.get(r, "host")).or_default().push(r);
        }
        // Hosts shown: all, or the top ones by bytes sent and one entry for the rest.
        let sent = |h: &str| -> u64 {
            daily_of.get(h).map_or(0, |rows| {
                rows.iter().map(|r| daily.u64(r, "stream_bytes")).sum()
            })
        };
        let mut names: Vec<&str> = daily_of.keys().copied().collect();
        let mut other_hosts: Vec<String> = Vec::new();
        let mut groups: Vec<(String, Vec<&str>)> = if names.len() > TOP_HOSTS {
            names.sort_by(|a, b| sent(b).cmp(&sent(a)).then_with(|| a.cmp(b)));
            let mut rest: Vec<&str> = names.split_off(TOP_HOSTS);
            rest.sort_unstable();
            other_hosts = rest.iter().map(|h| h.to_string()).collect();
            let mut g: Vec<(String, Vec<&str>)> =
                names.iter().map(|h| (h.to_string(), vec![*h])).collect();
            g.push((other_label(manifest.lang, rest.len()), rest));
            g
        } else {
            names.iter().map(|h| (h.to_string(), vec![*h])).collect()
        };
        groups.retain(|(_, members)| !members.is_empty());
        let group_of: HashMap<&str, usize> = groups
            .iter()
            .enumerate()
            .flat_map(|(i, (_, members))| members.iter().map(move |h| (*h, i)))
            .collect();
        let rows_of = |members: &[&str]| -> Vec<&Vec<String>> {
            let mut rows: Vec<&Vec<String>> = members
                .iter()
                .flat_map(|h| daily_of.get(h).into_iter().flatten().copied())
                .collect();
            if members.len() > 1 {
                rows.sort_by(|a, b| daily.get(a, "day").cmp(daily.get(b, "day")));
            }
            rows
        };
        let line = |t: &Table, label: String, start: String, end: String, rows: &[&Vec<String>]| {
            let active: Vec<&Vec<String>> = rows
                .iter()
                .copied()
                .filter(|r| t.u64(r, "stream_bytes") + t.u64(r, "gap_bytes") > 0)
                .collect();
            let mut statuses: Vec<String> = Vec::new();
            for r in &active {
                let s = t.get(r, "status").to_string();
                if !s.is_empty() && !statuses.contains(&s) {
                    statuses.push(s);
                }
            }
            Line {
                label,
                start,
                end,
                bytes: rows.iter().map(|r| t.u64(r, "stream_bytes")).sum(),
                // Without a record model there are no record estimates, whatever a sum of
                // empty cells would say.
                low: modelled.then(|| opt_sum(t, rows, "records_low")).flatten(),
                point: modelled
                    .then(|| opt_sum(t, rows, "records_point"))
                    .flatten(),
                high: modelled.then(|| opt_sum(t, rows, "records_high")).flatten(),
                counted: modelled
                    .then(|| opt_sum(t, rows, "counted_records"))
                    .flatten(),
                confirmed: if reconciled {
                    opt_sum(t, rows, "confirmed")
                } else {
                    None
                },
                explained: if reconciled {
                    opt_sum(t, rows, "explained")
                } else {
                    None
                },
                residual: if reconciled {
                    opt_sum(t, rows, "residual")
                } else {
                    None
                },
                status: statuses.join(";"),
                reading: String::new(),
            }
        };
        let mut day_lines = Vec::new();
        let mut bytes_by_day = Vec::new();
        for (day, rows) in &by_day {
            let mut l = line(&daily, day.clone(), day.clone(), day.clone(), rows);
            l.reading = reading(&l, false, manifest.lang);
            day_lines.push(l);
            let mut per_host = vec![0u64; groups.len()];
            for r in rows {
                if let Some(&g) = group_of.get(daily.get(r, "host")) {
                    per_host[g] += daily.u64(r, "stream_bytes");
                }
            }
            bytes_by_day.push((day.clone(), per_host));
        }
        // Periods: the `(all)` row of each period; confirmed counts there are distinct records
        // over the period (a record sent on two days is one), so they are taken as written.
        let mut period_lines = Vec::new();
        for r in periods
            .rows
            .iter()
            .filter(|r| periods.get(r, "host") == "(all)")
        {
            let mut l = line(
                &periods,
                periods.get(r, "period").to_string(),
                periods.get(r, "start").to_string(),
                periods.get(r, "end").to_string(),
                &[r],
            );
            l.reading = reading(&l, true, manifest.lang);
            period_lines.push(l);
        }
        // Hosts.
        let mut hosts = Vec::new();
        let lang = manifest.lang;
        for (label, members) in &groups {
            let rows = rows_of(members);
            let mut indicators: BTreeSet<String> = BTreeSet::new();
            let mut ips: BTreeSet<String> = BTreeSet::new();
            for r in &rows {
                for i in daily
                    .get(r, "indicator")
                    .split(';')
                    .filter(|s| !s.is_empty())
                {
                    indicators.insert(i.to_string());
                }
                for i in daily
                    .get(r, "server_ips")
                    .split(';')
                    .filter(|s| !s.is_empty())
                {
                    ips.insert(i.to_string());
                }
            }
            // The members' flows, host after host (each in file order).
            let fl: Vec<&HostFlows> = members.iter().filter_map(|h| flows.host(h)).collect();
            let mut evidence: Vec<(String, String)> = Vec::new();
            for (kind, frame) in fl.iter().flat_map(|h| &h.evidence) {
                if !evidence.iter().any(|(k, _)| k == kind) {
                    evidence.push((kind.clone(), frame.clone()));
                }
            }
            let mut first: Option<&(i64, String)> = None;
            let mut last: Option<&(Option<i64>, String)> = None;
            for h in &fl {
                if let Some(f) = &h.first {
                    if first.is_none_or(|m| f.0 < m.0) {
                        first = Some(f);
                    }
                }
                if let Some(l) = &h.last {
                    if last.is_none_or(|m| l.0 >= m.0) {
                        last = Some(l);
                    }
                }
            }
            let days: BTreeSet<&str> = rows
                .iter()
                .filter(|r| daily.u64(r, "stream_bytes") > 0)
                .map(|r| daily.get(r, "day"))
                .collect();
            let list_cap = if members.len() > 1 { 5 } else { usize::MAX };
            hosts.push(Host {
                host: label.clone(),
                indicators: capped(indicators.into_iter().collect(), list_cap, lang),
                ips: capped(ips.into_iter().collect(), list_cap, lang),
                evidence,
                flows: fl.iter().map(|h| h.flows).sum(),
                first: first.map_or_else(String::new, |f| f.1.clone()),
                last: last.map_or_else(String::new, |l| l.1.clone()),
                layers: LAYERS
                    .iter()
                    .map(|c| rows.iter().map(|r| daily.u64(r, c)).sum())
                    .collect(),
                active_days: days.len() as u64,
            });
        }
        // Each summed host's entry (none for a host daily.csv lacks).
        let mut entry_of: Vec<Option<usize>> = vec![None; flows.hosts.len()];
        for (name, &i) in &flows.index {
            entry_of[i as usize] = group_of.get(name.as_str()).copied();
        }
        // The timeline's first and last times as written, from the hosts on it.
        let (mut first_local, mut last_local) = (None, None);
        for (h, _) in flows
            .hosts
            .iter()
            .zip(&entry_of)
            .filter(|(_, e)| e.is_some())
        {
            if let Some((k, t)) = &h.span_first {
                if first_local.is_none_or(|(m, _)| k < m) {
                    first_local = Some((k, t));
                }
            }
            if let Some((k, t)) = &h.span_last {
                if last_local.is_none_or(|(m, _)| k >= m) {
                    last_local = Some((k, t));
                }
            }
        }
        // From the first frame of the first flow to the last frame of the flow that ended
        // last, over the hosts on it; the flows (kept, or read again) in time order into its
        // marks.
        let t0 = first_local.map_or(0, |(k, _)| k.0);
        let t1 = last_local.map_or(1, |(k, _)| k.0);
        let mut timeline = Timeline::new(t0, t1, hosts.len());
        flows.each_span(|s| {
            if let Some(&Some(e)) = entry_of.get(s.host as usize) {
                timeline.add(e, s.start, s.end, s.bytes, &s.flow);
            }
        })?;
        let first_local = first_local.map_or_else(String::new, |(_, t)| t.clone());
        let last_local = last_local.map_or_else(String::new, |(_, t)| t.clone());
        // Assumptions per host over the whole capture, from the daily rows.
        let assumptions = groups
            .iter()
            .map(|(h, members)| {
                let rows = rows_of(members);
                let mut codecs: Vec<&str> = Vec::new();
                for r in &rows {
                    let c = daily.get(r, "codec");
                    if !c.is_empty() && !codecs.contains(&c) {
                        codecs.push(c);
                    }
                }
                let fold = |col: &str, pick: fn(f64, f64) -> f64| {
                    rows.iter()
                        .filter_map(|r| daily.get(r, col).parse::<f64>().ok())
                        .reduce(pick)
                        .map_or_else(String::new, |v| format!("{v:.2}"))
                };
                vec![
                    h.clone(),
                    codecs.join(", "),
                    fold("r_min", f64::min),
                    fold("r_max", f64::max),
                    fold("mean_record_bytes", f64::max),
                    rows.iter()
                        .map(|r| daily.u64(r, "control_bytes"))
                        .sum::<u64>()
                        .to_string(),
                    rows.iter()
                        .map(|r| daily.u64(r, "basis_bytes"))
                        .sum::<u64>()
                        .to_string(),
                    match (
                        modelled
                            .then(|| opt_sum(&daily, &rows, "records_low"))
                            .flatten(),
                        modelled
                            .then(|| opt_sum(&daily, &rows, "records_high"))
                            .flatten(),
                    ) {
                        (Some(lo), Some(hi)) => format!("{}–{}", group(lo), group(hi)),
                        _ => String::new(),
                    },
                ]
            })
            .collect();
        Ok(Report {
            manifest,
            daily,
            periods,
            sweep,
            reconciled,
            period_lines,
            day_lines,
            hosts,
            other_hosts,
            timeline,
            first_local,
            last_local,
            bytes_by_day,
            assumptions,
            records: None,
        })
    }
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
