//! The flow ledger as a table: one row per flow × direction × local day with the byte
//! ledger at every layer, the flow's history and close reason, and (with indicators) its
//! verdict — `flows.parquet` of `analyze`, and the output of `flows`. Rows are written in
//! batches in the order flows end, so memory stays bounded on any capture.

use crate::flowtable::{
    push_frame, push_ip as ip, BackgroundWriter, Col, Table, TableWriter, Text,
};
use exfilmeter_flow::{Counters, Day, Direction, FlowRecord, FlowSink, Proto};
use exfilmeter_intel::{IocSet, Verdict, VerdictSink};
use std::io::Result;

/// One ledger row before sorting.
struct Row {
    flow: u64,
    dir: Direction,
    day: i32,
    rec: usize,
    c: exfilmeter_flow::Counters,
}

/// Where batches go: encoded on a thread of their own, or here when none could be started.
enum Out {
    Thread(BackgroundWriter),
    Here(TableWriter),
}

/// Rows per batch written out (bounds the memory the ledger output needs).
const BATCH_ROWS: usize = 1 << 16;

/// Collects closed flows and writes their ledger rows in batches, in the (deterministic)
/// order flows end.
pub struct Rows<'a> {
    records: Vec<(FlowRecord, Option<Verdict>)>,
    iocs: Option<&'a IocSet>,
    only_ioc: bool,
    rows: Vec<Row>,
    names: Vec<String>,
    writer: Option<Out>,
    /// Ledger rows written so far.
    pub written: u64,
    error: Option<std::io::Error>,
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
        Rows {
            iocs,
            only_ioc,
            records: Vec::new(),
            rows: Vec::new(),
            names,
            writer: Some(match BackgroundWriter::spawn(writer) {
                Ok(b) => Out::Thread(b),
                Err(w) => Out::Here(*w),
            }),
            written: 0,
            error: None,
        }
    }

    /// Writes what is left and closes the writer.
    pub fn close(&mut self) -> Result<()> {
        self.flush();
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let empty = ledger_table(&[], &[], &[], self.iocs)?;
        match self.writer.take() {
            Some(Out::Thread(w)) => w.finish(empty)?,
            Some(Out::Here(w)) => w.finish(&empty)?,
            None => {}
        }
        Ok(())
    }
}

impl Rows<'_> {
    fn flush(&mut self) {
        if self.error.is_some() {
            return;
        }
        let table = match ledger_table(&self.rows, &self.records, &self.names, self.iocs) {
            Ok(t) => t,
            Err(e) => {
                self.error = Some(e);
                return;
            }
        };
        let written = match self.writer.as_mut() {
            Some(Out::Thread(w)) => w.write(table),
            Some(Out::Here(w)) => w.write(&table),
            None => Ok(()),
        };
        if let Err(e) = written {
            self.error = Some(e);
        }
        self.written += self.rows.len() as u64;
        self.rows.clear();
        self.records.clear();
    }
}

impl FlowSink for Rows<'_> {
    /// The ledger alone (no indicators) needs no application layer.
    fn wants_app(&self) -> bool {
        false
    }
    /// A batch could not be written (its error is returned by [`Rows::close`]).
    fn failed(&self) -> bool {
        self.error.is_some()
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
    /// Takes a closed flow with its verdict (none without indicators); writes a batch when
    /// enough rows are held.
    pub fn push(&mut self, r: FlowRecord, verdict: Option<Verdict>) {
        if self.only_ioc && !verdict.as_ref().is_some_and(Verdict::is_ioc) {
            return;
        }
        let rec = self.records.len();
        if self.rows.capacity() == 0 {
            self.rows.reserve(BATCH_ROWS);
            self.records.reserve(BATCH_ROWS / 2);
        }
        for (dir, day, c) in r.ledger.rows() {
            self.rows.push(Row {
                flow: r.id.0,
                dir: *dir,
                day: Day::of(*day).0,
                rec,
                c: *c,
            });
        }
        self.records.push((r, verdict));
        if self.rows.len() >= BATCH_ROWS {
            self.flush();
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

/// The batch's columns, filled in one pass over its rows (each flow's record is read once
/// for all its cells, not once a column).
fn ledger_table(
    rows: &[Row],
    recs: &[(FlowRecord, Option<Verdict>)],
    names: &[String],
    iocs: Option<&IocSet>,
) -> Result<Table> {
    let n = rows.len();
    let u = |x: u64| i64::try_from(x).unwrap_or(i64::MAX);
    let ints = || Vec::<i64>::with_capacity(n);
    let text = |avg: usize| Text::with_capacity(n, avg);
    let (mut flow_id, mut client_port, mut server_port) = (ints(), ints(), ints());
    let (mut first_ts, mut last_ts) = (ints(), ints());
    let mut day = Vec::with_capacity(n);
    let (mut vlan, mut vni) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut layers: [Vec<i64>; 9] = std::array::from_fn(|_| ints());
    let (mut direction, mut client_ip, mut server_ip, mut proto) =
        (text(3), text(12), text(12), text(3));
    let (mut history, mut close_reason, mut first_frame, mut last_frame) =
        (text(8), text(3), text(24), text(24));
    let (mut role_rule, mut anomalies) = (text(3), text(0));
    let mut ioc = iocs.map(|set| (set, [text(16), text(3), text(16), text(16), text(8)]));
    for r in rows {
        let (f, verdict) = &recs[r.rec];
        flow_id.push(u(r.flow));
        day.push(r.day);
        direction.push(r.dir.as_str());
        ip(f.client.ip, client_ip.buf());
        client_ip.end();
        client_port.push(i64::from(f.client.port));
        ip(f.server.ip, server_ip.buf());
        server_ip.end();
        server_port.push(i64::from(f.server.port));
        match f.proto {
            Proto::Tcp => proto.push("tcp"),
            Proto::Udp => proto.push("udp"),
            p => proto.push(&p.name()),
        }
        vlan.push(f.vlan.map(i64::from));
        vni.push(f.key.vni.map(i64::from));
        first_ts.push(f.first_ts.0);
        last_ts.push(f.last_ts.0);
        for (col, v) in layers.iter_mut().zip(r.c.values()) {
            col.push(u(v));
        }
        history.push(&f.history);
        close_reason.push(f.close.as_str());
        push_frame(f.first_frame, names, first_frame.buf());
        first_frame.end();
        push_frame(f.last_frame, names, last_frame.buf());
        last_frame.end();
        role_rule.push(f.role_rule.as_str());
        anomaly_text(r.dir, f, anomalies.buf());
        anomalies.end();
        if let Some((set, [ioc, via, source, evidence, server_name])) = ioc.as_mut() {
            if let Some(x) = verdict {
                verdict_cells(x, set, names, [ioc, via, source, evidence, server_name]);
            }
            for t in [ioc, via, source, evidence, server_name] {
                t.end();
            }
        }
    }
    let mut cols = vec![
        ("flow_id", Col::I64(flow_id)),
        ("day", Col::Date(day)),
        ("direction", Col::Text(direction)),
        ("client_ip", Col::Text(client_ip)),
        ("client_port", Col::I64(client_port)),
        ("server_ip", Col::Text(server_ip)),
        ("server_port", Col::I64(server_port)),
        ("proto", Col::Text(proto)),
        ("vlan", Col::OptI64(vlan)),
        ("vni", Col::OptI64(vni)),
        ("first_ts", Col::TsNs(first_ts)),
        ("last_ts", Col::TsNs(last_ts)),
    ];
    cols.extend(Counters::LAYERS.into_iter().zip(layers.map(Col::I64)));
    cols.extend([
        ("history", Col::Text(history)),
        ("close_reason", Col::Text(close_reason)),
        ("first_frame", Col::Text(first_frame)),
        ("last_frame", Col::Text(last_frame)),
        ("role_rule", Col::Text(role_rule)),
        ("anomalies", Col::Text(anomalies)),
    ]);
    if let Some((_, [ioc, via, source, evidence, server_name])) = ioc {
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

/// Writes a verdict's cells (not yet ended) into the columns `ioc`, `ioc_via`,
/// `ioc_source`, `evidence_frame` and `server_name`: the reasons joined with `;`.
fn verdict_cells(x: &Verdict, set: &IocSet, names: &[String], cols: [&mut Text; 5]) {
    let [ioc, via, source, evidence, server_name] = cols;
    for (i, r) in x.reasons.iter().enumerate() {
        if i > 0 {
            ioc.buf().push(';');
            via.buf().push(';');
            source.buf().push(';');
        }
        if let Some(i) = set.get(r.ioc) {
            ioc.buf().push_str(&i.text);
        }
        via.buf().push_str(r.via.as_str());
        set.write_origin(r.ioc, source.buf());
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
