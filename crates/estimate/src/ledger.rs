//! The flow ledger as a table: one row per flow × direction × local day with the byte
//! ledger at every layer, the flow's history and close reason, and (with indicators) its
//! verdict — `flows.parquet` of `analyze`, and the output of `flows`. Rows are written in
//! batches in the order flows end, so memory stays bounded on any capture.

use crate::flowtable::{push_ip as ip, push_u64, BackgroundWriter, Col, Table, TableWriter, Text};
use exfilmeter_flow::{Counters, Day, Direction, FlowRecord, FlowSink, Proto};
use exfilmeter_ingest::FrameRef;
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

fn frame_text(f: FrameRef, names: &[String], out: &mut String) {
    out.push_str(names.get(f.file.0 as usize).map_or("?", String::as_str));
    out.push('#');
    push_u64(f.index, out);
}

fn ledger_table(
    rows: &[Row],
    recs: &[(FlowRecord, Option<Verdict>)],
    names: &[String],
    iocs: Option<&IocSet>,
) -> Result<Table> {
    let get = |f: &dyn Fn(&Row, &FlowRecord) -> i64| -> Col {
        Col::I64(rows.iter().map(|r| f(r, &recs[r.rec].0)).collect())
    };
    // Text columns are written end to end into one buffer each (no allocation per value).
    let s = |avg: usize, f: &dyn Fn(&Row, &FlowRecord, &mut String)| -> Col {
        let mut t = Text::with_capacity(rows.len(), avg);
        for r in rows {
            f(r, &recs[r.rec].0, t.buf());
            t.end();
        }
        Col::Text(t)
    };
    let v = |avg: usize, f: &dyn Fn(&Verdict, &mut String)| -> Col {
        let mut t = Text::with_capacity(rows.len(), avg);
        for r in rows {
            if let Some(x) = recs[r.rec].1.as_ref() {
                f(x, t.buf());
            }
            t.end();
        }
        Col::Text(t)
    };
    let u = |x: u64| i64::try_from(x).unwrap_or(i64::MAX);
    let mut cols = vec![
        ("flow_id", get(&|r, _| u(r.flow))),
        ("day", Col::Date(rows.iter().map(|r| r.day).collect())),
        ("direction", s(3, &|r, _, o| o.push_str(r.dir.as_str()))),
        ("client_ip", s(12, &|_, f, o| ip(f.client.ip, o))),
        ("client_port", get(&|_, f| i64::from(f.client.port))),
        ("server_ip", s(12, &|_, f, o| ip(f.server.ip, o))),
        ("server_port", get(&|_, f| i64::from(f.server.port))),
        (
            "proto",
            s(3, &|_, f, o| match f.proto {
                Proto::Tcp => o.push_str("tcp"),
                Proto::Udp => o.push_str("udp"),
                p => o.push_str(&p.name()),
            }),
        ),
        (
            "vlan",
            Col::OptI64(
                rows.iter()
                    .map(|r| recs[r.rec].0.vlan.map(i64::from))
                    .collect(),
            ),
        ),
        (
            "vni",
            Col::OptI64(
                rows.iter()
                    .map(|r| recs[r.rec].0.key.vni.map(i64::from))
                    .collect(),
            ),
        ),
        (
            "first_ts",
            Col::TsNs(rows.iter().map(|r| recs[r.rec].0.first_ts.0).collect()),
        ),
        (
            "last_ts",
            Col::TsNs(rows.iter().map(|r| recs[r.rec].0.last_ts.0).collect()),
        ),
    ];
    for (i, name) in Counters::LAYERS.into_iter().enumerate() {
        cols.push((name, get(&|r, _| u(r.c.values()[i]))));
    }
    cols.extend([
        ("history", s(8, &|_, f, o| o.push_str(&f.history))),
        (
            "close_reason",
            s(3, &|_, f, o| o.push_str(f.close.as_str())),
        ),
        (
            "first_frame",
            s(24, &|_, f, o| frame_text(f.first_frame, names, o)),
        ),
        (
            "last_frame",
            s(24, &|_, f, o| frame_text(f.last_frame, names, o)),
        ),
        (
            "role_rule",
            s(3, &|_, f, o| o.push_str(f.role_rule.as_str())),
        ),
        ("anomalies", s(0, &|r, f, o| anomaly_text(r.dir, f, o))),
    ]);
    if let Some(set) = iocs {
        let join =
            |x: &Verdict, o: &mut String, f: &dyn Fn(&exfilmeter_intel::Reason, &mut String)| {
                for (i, r) in x.reasons.iter().enumerate() {
                    if i > 0 {
                        o.push(';');
                    }
                    f(r, o);
                }
            };
        cols.extend([
            (
                "ioc",
                v(16, &|x, o| {
                    join(x, o, &|r, o| {
                        if let Some(i) = set.get(r.ioc) {
                            o.push_str(&i.text);
                        }
                    })
                }),
            ),
            (
                "ioc_via",
                v(3, &|x, o| join(x, o, &|r, o| o.push_str(r.via.as_str()))),
            ),
            (
                "ioc_source",
                v(16, &|x, o| join(x, o, &|r, o| set.write_origin(r.ioc, o))),
            ),
            (
                "evidence_frame",
                v(16, &|x, o| {
                    if let Some(r) = x.reasons.first() {
                        frame_text(r.frame, names, o);
                    }
                }),
            ),
            (
                "server_name",
                v(8, &|x, o| {
                    o.push_str(x.server_name.as_deref().unwrap_or_default())
                }),
            ),
        ]);
    }
    Table::new(cols)
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
            s(24, &|r, o| frame_text(r.first_frame, names, o)),
        ),
        (
            "last_frame".into(),
            s(24, &|r, o| frame_text(r.last_frame, names, o)),
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
