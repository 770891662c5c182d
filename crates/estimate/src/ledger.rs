//! The flow ledger as a table: one row per flow × direction × local day with the byte
//! ledger at every layer, the flow's history and close reason, and (with indicators) its
//! verdict — `flows.parquet` of `analyze`, and the output of `flows`. Rows are written in
//! batches in the order flows end, so memory stays bounded on any capture.

use crate::flowtable::{
    push_frame, push_ip as ip, Batches, Col, Encode, Stage, Table, TableWriter, Text,
};
use exfilmeter_flow::{Counters, Day, Direction, FlowRecord, FlowSink, Proto};
use exfilmeter_intel::{IocId, IocSet, Verdict, VerdictSink};
use rustc_hash::{FxHashMap, FxHashSet};
use std::io::Result;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Rows per batch written out (one Parquet row group; bounds the memory the output needs).
const BATCH_ROWS: usize = 1 << 16;

/// Closed flows handed to the cells thread at once.
const HAND_FLOWS: usize = 1024;

/// Hand-overs that may wait. The cells thread builds a batch in about a third of the time
/// the table-writer thread takes to encode one, then waits for it: the flows that end
/// meanwhile on many short connections (~12,000) fit here, so the flow stage does not wait
/// for zstd. With the hand being filled and the one being taken, at most 18 × 1,024 closed
/// flows are held (their records, about 7 MB, and what they own: ledger rows, history,
/// verdict).
const HAND_DEPTH: usize = 16;

/// Collects closed flows and writes their ledger rows in batches, in the (deterministic)
/// order flows end. The rows' cells are built on a thread of their own (`ledger-cells`) and
/// each full batch is encoded on another (`table-writer`; decision 0024, item 13): the flow
/// stage only hands each closed flow over, with the label of any indicator it is the first
/// to name.
pub struct Rows<'a> {
    iocs: Option<&'a IocSet>,
    only_ioc: bool,
    /// Indicators whose labels were handed over.
    labelled: FxHashSet<IocId>,
    hand: Handed,
    /// The cells thread (or the cells built here).
    out: Option<Stage<Build>>,
    /// Raised by either thread when it stops on an error.
    stopped: Arc<AtomicBool>,
    /// Ledger rows taken so far (all written once [`Rows::close`] returns `Ok`).
    pub written: u64,
    error: Option<std::io::Error>,
}

/// What a verdict's cells say of an indicator: its text and where it was read.
#[derive(Debug, Default)]
struct Label {
    text: String,
    origin: String,
}

/// Closed flows handed over, in the order they ended, with the labels of the indicators
/// they are the first to name.
#[derive(Default)]
struct Handed {
    flows: Vec<(FlowRecord, Option<Verdict>)>,
    labels: Vec<(IocId, Label)>,
}

/// The rows being built, and where they go: the cells thread's state.
struct Build {
    batch: Columns,
    with_ioc: bool,
    names: Vec<String>,
    labels: FxHashMap<IocId, Label>,
    /// Where full batches are encoded: the table-writer thread, so that the cells of the next
    /// batch are built meanwhile (as when every flow still live closes at the end of the
    /// capture).
    out: Stage<Encode>,
}

impl Build {
    fn flush(&mut self) -> Result<()> {
        if self.batch.rows() == 0 {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.batch, Columns::new(0, self.with_ioc));
        self.out.take(batch.table()?)
    }
}

impl Batches for Build {
    type Batch = Handed;

    fn take(&mut self, h: Handed) -> Result<()> {
        // A batch that could not be written stops the cells too.
        self.out.check()?;
        self.labels.extend(h.labels);
        for (r, v) in &h.flows {
            if self.batch.rows() == 0 {
                self.batch = Columns::new(BATCH_ROWS, self.with_ioc);
            }
            self.batch.push(r, v.as_ref(), &self.names, &self.labels);
            if self.batch.rows() >= BATCH_ROWS {
                self.flush()?;
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Result<()> {
        self.flush()?;
        self.out.finish()
    }
}

impl<'a> Rows<'a> {
    /// Rows written to `writer`; frames are named by `names` (each input's file name, by
    /// file index: [`input_names`](crate::input_names)).
    pub fn new(
        iocs: Option<&'a IocSet>,
        only_ioc: bool,
        names: Vec<String>,
        writer: TableWriter,
    ) -> Self {
        let with_ioc = iocs.is_some();
        // (Empty columns always make a table; an error here would be returned by `close`.)
        let (empty, error) = match Columns::new(0, with_ioc).table() {
            Ok(t) => (t, None),
            Err(e) => (Table::default(), Some(e)),
        };
        let stopped = Arc::new(AtomicBool::new(false));
        let encode = Encode { writer, empty };
        let build = Build {
            batch: Columns::new(0, with_ioc),
            with_ioc,
            names,
            labels: FxHashMap::default(),
            // (No batch waits between the two threads: the cells thread hands the next one
            // over when the encoder takes it, so at most two batches are held.)
            out: Stage::start(encode, 0, "table-writer", &stopped),
        };
        Rows {
            iocs,
            only_ioc,
            labelled: FxHashSet::default(),
            hand: Handed::default(),
            out: Some(Stage::start(build, HAND_DEPTH, "ledger-cells", &stopped)),
            stopped,
            written: 0,
            error,
        }
    }

    /// Writes what is left and closes the writer.
    pub fn close(&mut self) -> Result<()> {
        self.hand_over();
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.take().map_or(Ok(()), Stage::finish)
    }
}

impl Rows<'_> {
    fn hand_over(&mut self) {
        if self.error.is_some() || self.hand.flows.is_empty() {
            return;
        }
        let h = std::mem::take(&mut self.hand);
        let taken = self.out.as_mut().map_or(Ok(()), |o| o.take(h));
        if let Err(e) = taken {
            self.error = Some(e);
        }
    }
}

impl FlowSink for Rows<'_> {
    /// The ledger alone (no indicators) needs no application layer.
    fn wants_app(&self) -> bool {
        false
    }
    /// A batch could not be written (its error is returned by [`Rows::close`]): known as soon
    /// as the cells or the table-writer thread stops on it, so a run stops reading without
    /// handing more flows over.
    fn failed(&self) -> bool {
        self.error.is_some() || self.stopped.load(Ordering::Acquire)
    }
    fn closed(&mut self, r: FlowRecord) {
        self.push(r, None);
    }
}

impl VerdictSink for Rows<'_> {
    fn verdict(&mut self, r: FlowRecord, v: Verdict) {
        self.push(r, Some(v));
    }
}

impl Rows<'_> {
    /// Takes a closed flow with its verdict (none without indicators); hands flows over to
    /// the writing thread a thousand at a time.
    pub fn push(&mut self, r: FlowRecord, verdict: Option<Verdict>) {
        if self.error.is_some() || (self.only_ioc && !verdict.as_ref().is_some_and(Verdict::is_ioc))
        {
            // (After a failure nothing more is handed over.)
            return;
        }
        if let (Some(set), Some(v)) = (self.iocs, verdict.as_ref()) {
            for x in &v.reasons {
                if self.labelled.insert(x.ioc) {
                    let mut origin = String::new();
                    set.write_origin(x.ioc, &mut origin);
                    let text = set.get(x.ioc).map(|i| i.text.clone()).unwrap_or_default();
                    self.hand.labels.push((x.ioc, Label { text, origin }));
                }
            }
        }
        self.written += r.ledger.rows().len() as u64;
        if self.hand.flows.capacity() == 0 {
            self.hand.flows.reserve_exact(HAND_FLOWS);
        }
        self.hand.flows.push((r, verdict));
        if self.hand.flows.len() >= HAND_FLOWS {
            self.hand_over();
        }
    }
}

/// Non-zero anomaly counters of a flow direction as `name=value;…` (empty when none).
fn anomaly_text(dir: Direction, f: &FlowRecord, out: &mut String) {
    use std::fmt::Write as _;
    let a = f.anomalies.tcp[dir.index()];
    let mut first = true;
    for (name, v) in [
        ("cap_gaps", a.cap_gaps),
        ("before_start_bytes", a.before_start_bytes),
        ("unverified_retrans_bytes", a.unverified_retrans_bytes),
        ("implausible_proofs", a.implausible_proofs),
        ("incomplete_tcp_headers", f.anomalies.incomplete_tcp_headers),
    ] {
        if v > 0 {
            if !first {
                out.push(';');
            }
            first = false;
            let _ = write!(out, "{name}={v}");
        }
    }
}

/// A batch's columns, filled a flow at a time: each flow's record is read once, for all the
/// cells of its rows (before session 23 the records were kept until the batch was full: 24 MB
/// for a batch of 65,536 rows, read again column by column).
struct Columns {
    flow_id: Vec<i64>,
    day: Vec<i32>,
    direction: Text,
    client_ip: Text,
    client_port: Vec<i64>,
    server_ip: Text,
    server_port: Vec<i64>,
    proto: Text,
    vlan: Vec<Option<i64>>,
    vni: Vec<Option<i64>>,
    first_ts: Vec<i64>,
    last_ts: Vec<i64>,
    layers: [Vec<i64>; 9],
    history: Text,
    close_reason: Text,
    first_frame: Text,
    last_frame: Text,
    role_rule: Text,
    anomalies: Text,
    /// With indicators: `ioc`, `ioc_via`, `ioc_source`, `evidence_frame`, `server_name`.
    ioc: Option<[Text; 5]>,
}

impl Columns {
    /// Empty columns with room for `n` rows (and the verdict's columns `with_ioc`).
    fn new(n: usize, with_ioc: bool) -> Columns {
        let ints = || Vec::<i64>::with_capacity(n);
        let text = |avg: usize| Text::with_capacity(n, avg);
        Columns {
            flow_id: ints(),
            day: Vec::with_capacity(n),
            direction: text(3),
            client_ip: text(12),
            client_port: ints(),
            server_ip: text(12),
            server_port: ints(),
            proto: text(3),
            vlan: Vec::with_capacity(n),
            vni: Vec::with_capacity(n),
            first_ts: ints(),
            last_ts: ints(),
            layers: std::array::from_fn(|_| ints()),
            history: text(8),
            close_reason: text(3),
            first_frame: text(24),
            last_frame: text(24),
            role_rule: text(3),
            anomalies: text(0),
            ioc: with_ioc.then(|| [text(16), text(3), text(16), text(16), text(8)]),
        }
    }

    /// Rows held.
    fn rows(&self) -> usize {
        self.flow_id.len()
    }

    /// Appends the rows of a closed flow (one per direction and day of its ledger).
    fn push(
        &mut self,
        f: &FlowRecord,
        verdict: Option<&Verdict>,
        names: &[String],
        labels: &FxHashMap<IocId, Label>,
    ) {
        let u = |x: u64| i64::try_from(x).unwrap_or(i64::MAX);
        for (dir, day, c) in f.ledger.rows() {
            self.flow_id.push(u(f.id.0));
            self.day.push(Day::of(*day).0);
            self.direction.push(dir.as_str());
            ip(f.client.ip, self.client_ip.buf());
            self.client_ip.end();
            self.client_port.push(i64::from(f.client.port));
            ip(f.server.ip, self.server_ip.buf());
            self.server_ip.end();
            self.server_port.push(i64::from(f.server.port));
            match f.proto {
                Proto::Tcp => self.proto.push("tcp"),
                Proto::Udp => self.proto.push("udp"),
                p => self.proto.push(&p.name()),
            }
            self.vlan.push(f.vlan.map(i64::from));
            self.vni.push(f.key.vni.map(i64::from));
            self.first_ts.push(f.first_ts.0);
            self.last_ts.push(f.last_ts.0);
            for (col, v) in self.layers.iter_mut().zip(c.values()) {
                col.push(u(v));
            }
            self.history.push(&f.history);
            self.close_reason.push(f.close.as_str());
            push_frame(f.first_frame, names, self.first_frame.buf());
            self.first_frame.end();
            push_frame(f.last_frame, names, self.last_frame.buf());
            self.last_frame.end();
            self.role_rule.push(f.role_rule.as_str());
            anomaly_text(*dir, f, self.anomalies.buf());
            self.anomalies.end();
            if let Some([ioc, via, source, evidence, server_name]) = self.ioc.as_mut() {
                if let Some(x) = verdict {
                    verdict_cells(x, labels, names, [ioc, via, source, evidence, server_name]);
                }
                for t in [ioc, via, source, evidence, server_name] {
                    t.end();
                }
            }
        }
    }

    /// The batch as a table.
    fn table(self) -> Result<Table> {
        let mut cols = vec![
            ("flow_id", Col::I64(self.flow_id)),
            ("day", Col::Date(self.day)),
            ("direction", Col::Text(self.direction)),
            ("client_ip", Col::Text(self.client_ip)),
            ("client_port", Col::I64(self.client_port)),
            ("server_ip", Col::Text(self.server_ip)),
            ("server_port", Col::I64(self.server_port)),
            ("proto", Col::Text(self.proto)),
            ("vlan", Col::OptI64(self.vlan)),
            ("vni", Col::OptI64(self.vni)),
            ("first_ts", Col::TsNs(self.first_ts)),
            ("last_ts", Col::TsNs(self.last_ts)),
        ];
        cols.extend(Counters::LAYERS.into_iter().zip(self.layers.map(Col::I64)));
        cols.extend([
            ("history", Col::Text(self.history)),
            ("close_reason", Col::Text(self.close_reason)),
            ("first_frame", Col::Text(self.first_frame)),
            ("last_frame", Col::Text(self.last_frame)),
            ("role_rule", Col::Text(self.role_rule)),
            ("anomalies", Col::Text(self.anomalies)),
        ]);
        if let Some([ioc, via, source, evidence, server_name]) = self.ioc {
            cols.extend([
                ("ioc", Col::Text(ioc)),
                ("ioc_via", Col::Text(via)),
                ("ioc_source", Col::Text(source)),
                ("evidence_frame", Col::Text(evidence)),
                ("server_name", Col::Text(server_name)),
            ]);
        }
        Ok(Table::new(cols)?.distinct(&[
            "flow_id",
            "first_ts",
            "last_ts",
            "first_frame",
            "last_frame",
        ]))
    }
}

/// Writes a verdict's cells (not yet ended) into the columns `ioc`, `ioc_via`,
/// `ioc_source`, `evidence_frame` and `server_name`: the reasons joined with `;`.
fn verdict_cells(
    x: &Verdict,
    labels: &FxHashMap<IocId, Label>,
    names: &[String],
    cols: [&mut Text; 5],
) {
    let [ioc, via, source, evidence, server_name] = cols;
    for (i, r) in x.reasons.iter().enumerate() {
        if i > 0 {
            ioc.buf().push(';');
            via.buf().push(';');
            source.buf().push(';');
        }
        let l = labels.get(&r.ioc);
        ioc.buf().push_str(l.map_or("", |l| &l.text));
        via.buf().push_str(r.via.as_str());
        // (Every indicator a reason names has its label; `?` as for an unknown one.)
        source.buf().push_str(l.map_or("?", |l| &l.origin));
    }
    if let Some(r) = x.reasons.first() {
        push_frame(r.frame, names, evidence.buf());
    }
    server_name
        .buf()
        .push_str(x.server_name.as_deref().unwrap_or_default());
}

/// The tunnels table (`tunnels.csv`, decision 0031): one row per tunnel, in the order the
/// run first saw them, with what each direction carried. `names` are the inputs' file names
/// (frames are named `name#frame`).
pub fn tunnel_table(t: &exfilmeter_flow::Tunnels, names: &[String]) -> Result<Table> {
    use exfilmeter_flow::{TunnelCounts, TunnelRow};
    let rows = t.rows();
    let u = |x: u64| i64::try_from(x).unwrap_or(i64::MAX);
    let get = |f: &dyn Fn(&TunnelRow) -> i64| Col::I64(rows.iter().map(f).collect());
    let s = |avg: usize, f: &dyn Fn(&TunnelRow, &mut String)| {
        let mut x = Text::with_capacity(rows.len(), avg);
        for r in rows {
            f(r, x.buf());
            x.end();
        }
        Col::Text(x)
    };
    let mut cols: Vec<(String, Col)> = vec![
        (
            "tunnel_id".into(),
            Col::I64((1..=rows.len() as i64).collect()),
        ),
        ("kind".into(), s(5, &|r, o| o.push_str(r.kind.name()))),
        ("proto".into(), s(3, &|r, o| o.push_str(&r.proto.name()))),
        ("client_ip".into(), s(12, &|r, o| ip(r.client.ip, o))),
        ("client_port".into(), get(&|r| i64::from(r.client.port))),
        ("server_ip".into(), s(12, &|r, o| ip(r.server.ip, o))),
        ("server_port".into(), get(&|r| i64::from(r.server.port))),
        (
            "role_rule".into(),
            s(4, &|r, o| o.push_str(r.role_rule.as_str())),
        ),
        (
            "first_ts".into(),
            Col::TsNs(rows.iter().map(|r| r.first_ts.0).collect()),
        ),
        (
            "last_ts".into(),
            Col::TsNs(rows.iter().map(|r| r.last_ts.0).collect()),
        ),
    ];
    type Field = fn(&TunnelCounts) -> u64;
    let fields: [(&str, Field); 4] = [
        ("frames", |c| c.frames),
        ("frame_bytes", |c| c.frame_bytes),
        ("ip_bytes", |c| c.ip_bytes),
        ("payload_bytes", |c| c.payload_bytes),
    ];
    for (dir, side) in [
        (
            "c2s",
            (|r: &TunnelRow| r.c2s) as fn(&TunnelRow) -> TunnelCounts,
        ),
        ("s2c", |r: &TunnelRow| r.s2c),
    ] {
        for (name, f) in fields {
            cols.push((format!("{dir}_{name}"), get(&|r| u(f(&side(r))))));
        }
    }
    cols.extend([
        (
            "first_frame".into(),
            s(24, &|r, o| push_frame(r.first_frame, names, o)),
        ),
        (
            "last_frame".into(),
            s(24, &|r, o| push_frame(r.last_frame, names, o)),
        ),
    ]);
    Table::named(cols)
}

/// Writes the tunnels of `read` to `w`: a header only when there were none.
pub fn write_tunnels(
    read: &crate::pipeline::Read,
    names: &[String],
    mut w: TableWriter,
) -> Result<()> {
    let t = tunnel_table(&read.tunnels(), names)?;
    if t.rows() > 0 {
        w.write(&t)?;
    }
    w.finish(&t)
}
