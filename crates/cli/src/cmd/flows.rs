//! `exfilmeter flows`: the per-day byte ledger of every flow, as CSV or Parquet.

use crate::table::{Col, Table, TableWriter};
use crate::tz::parse_zone;
use crate::Outcome;
use anyhow::{Context, Result};
use exfilmeter_flow::{Direction, FlowRecord, FlowSink, Tracker, TrackerConfig};
use exfilmeter_ingest::{
    expand_inputs, CaptureReader, DamageKind, Decoded, Decoder, FileId, FileSummary, FrameRef,
    HashAlgo, InputOrigin, NANOS_PER_SEC,
};
use exfilmeter_intel::{Attributor, Internal, IocSet, Net, Verdict, VerdictSink};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Arguments of `flows`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Rows are written in batches in the order flows end (deterministic for the same \
input; sort by flow_id for first-seen order). Memory: bounded by the live-flow table (about 770 \
bytes per live flow) and the reassembly caps, not by the capture size. At --max-flows idle flows \
are expired and then the least recently active tenth of the table is closed (close_reason \
'evicted'); at --ooo-per-flow/--ooo-total the hole in front of the buffered data becomes a \
recorded gap (gap_bytes, anomaly cap_gaps). Both are counted in the summary on stderr."
)]
pub struct Args {
    /// Capture files, directories or glob patterns, read in sorted order as one sensor.
    #[arg(required = true, value_name = "CAPTURES")]
    pub paths: Vec<String>,
    /// Time zone of the case (IANA name); local days split the ledger.
    #[arg(long, value_name = "ZONE", default_value = "UTC")]
    pub tz: String,
    /// Output file: .parquet or .csv (default: CSV on standard output).
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Digest of each input file: sha256 (default) or none.
    #[arg(long, value_name = "ALGO", default_value = "sha256", value_parser = ["sha256", "none"])]
    pub hash: String,
    /// Flows held at once before the least recently active are evicted.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub max_flows: usize,
    /// Out-of-order bytes buffered per flow direction (MiB).
    #[arg(long, value_name = "MIB", default_value_t = 8)]
    pub ooo_per_flow: usize,
    /// Out-of-order bytes buffered over all flows (MiB).
    #[arg(long, value_name = "MIB", default_value_t = 128)]
    pub ooo_total: usize,
    /// TCP idle timeout (seconds of capture time).
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    pub tcp_idle: i64,
    /// UDP idle timeout (seconds of capture time).
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    pub udp_idle: i64,
    /// Recently delivered bytes kept per flow direction to compare retransmissions with
    /// the first copy (conflict_bytes), in KiB; 0 turns the comparison off (faster; the
    /// retransmitted bytes are then counted as unverified).
    #[arg(long, value_name = "KIB", default_value_t = 16)]
    pub retrans_window: usize,
    /// IOC file (text, CSV or STIX 2.1 JSON; repeat for several): adds the columns ioc,
    /// ioc_via, ioc_source, evidence_frame and server_name.
    #[arg(long, value_name = "FILE")]
    pub iocs: Vec<PathBuf>,
    /// Skip malformed IOC entries with a warning instead of stopping.
    #[arg(long)]
    pub lenient: bool,
    /// Keep only flows attributed to an indicator.
    #[arg(long, requires = "iocs")]
    pub only_ioc: bool,
    /// Internal networks (CIDR, repeatable); default RFC 1918, 100.64/10, fc00::/7, link-local.
    #[arg(long, value_name = "CIDR")]
    pub internal: Vec<String>,
    /// Seconds a DNS answer stays usable after its TTL for attributing connections.
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    pub dns_grace: i64,
    /// No progress display.
    #[arg(long, short)]
    pub quiet: bool,
}

/// One ledger row before sorting.
struct Row {
    flow: u64,
    dir: Direction,
    day: i32,
    rec: usize,
    c: exfilmeter_flow::Counters,
}

/// The sink the tracker feeds: plain, or through the IOC attributor.
enum Sink<'a> {
    Plain(Box<Rows<'a>>),
    Attributed(Box<Attributor<'a, Rows<'a>>>),
}

impl<'a> Sink<'a> {
    fn rows(&mut self) -> &mut Rows<'a> {
        match self {
            Sink::Plain(r) => r,
            Sink::Attributed(a) => &mut a.inner,
        }
    }
}

/// Rows per batch written out (bounds the memory the ledger output needs).
const BATCH_ROWS: usize = 1 << 16;

/// Collects closed flows and writes their ledger rows in batches, in the (deterministic)
/// order flows end.
pub(crate) struct Rows<'a> {
    pub(crate) records: Vec<(FlowRecord, Option<Verdict>)>,
    pub(crate) iocs: Option<&'a IocSet>,
    pub(crate) only_ioc: bool,
    rows: Vec<Row>,
    pub(crate) names: Vec<String>,
    pub(crate) writer: Option<TableWriter>,
    pub(crate) written: u64,
    pub(crate) error: Option<anyhow::Error>,
}

impl<'a> Rows<'a> {
    /// Rows written to `writer`.
    pub(crate) fn new(iocs: Option<&'a IocSet>, only_ioc: bool, writer: TableWriter) -> Self {
        Rows {
            iocs,
            only_ioc,
            records: Vec::new(),
            rows: Vec::new(),
            names: Vec::new(),
            writer: Some(writer),
            written: 0,
            error: None,
        }
    }

    /// Writes what is left and closes the writer.
    pub(crate) fn close(&mut self) -> Result<()> {
        self.flush();
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if let Some(w) = self.writer.take() {
            w.finish(&ledger_table(&[], &[], &[], self.iocs)?)?;
        }
        Ok(())
    }
}

impl Rows<'_> {
    pub(crate) fn flush(&mut self) {
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
        if let Some(w) = self.writer.as_mut() {
            if let Err(e) = w.write(&table) {
                self.error = Some(e);
            }
        }
        self.written += self.rows.len() as u64;
        self.rows.clear();
        self.records.clear();
    }
}

impl FlowSink for Rows<'_> {
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
    pub(crate) fn push(&mut self, r: FlowRecord, verdict: Option<Verdict>) {
        if self.only_ioc && !verdict.as_ref().is_some_and(Verdict::is_ioc) {
            return;
        }
        let rec = self.records.len();
        for (dir, day, c) in r.ledger.rows() {
            self.rows.push(Row {
                flow: r.id.0,
                dir: *dir,
                day: (day.signed_duration_since(chrono::NaiveDate::default())).num_days() as i32,
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

/// Runs `flows`.
pub fn run(args: Args) -> Result<Outcome> {
    let tz = parse_zone(&args.tz)?;
    let hash = if args.hash == "none" {
        HashAlgo::None
    } else {
        HashAlgo::Sha256
    };
    let inputs = expand_inputs(&args.paths)?;
    let cfg = TrackerConfig {
        tz,
        tcp_idle_ns: args.tcp_idle.saturating_mul(NANOS_PER_SEC),
        udp_idle_ns: args.udp_idle.saturating_mul(NANOS_PER_SEC),
        max_flows: args.max_flows.max(1),
        ooo_per_flow: args.ooo_per_flow << 20,
        ooo_total: args.ooo_total << 20,
        window: args.retrans_window << 10,
        ..TrackerConfig::default()
    };
    let progress = !args.quiet && std::io::stderr().is_terminal();
    let mut tracker = Tracker::new(cfg);
    let mut decoder = Decoder::default();
    let iocs = if args.iocs.is_empty() {
        None
    } else {
        Some(load_iocs(&args.iocs, args.lenient)?)
    };
    let internal = internal_nets(&args.internal)?;
    let rows = Rows::new(
        iocs.as_ref(),
        args.only_ioc,
        TableWriter::create(args.out.as_deref())?,
    );
    let mut sink = match iocs.as_ref() {
        Some(set) => Sink::Attributed(Box::new(Attributor::new(
            set,
            internal,
            args.dns_grace,
            rows,
        ))),
        None => Sink::Plain(Box::new(rows)),
    };
    let mut partial = false;
    let mut summaries = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let shown = input.path.display().to_string();
        sink.rows().names.push(
            input
                .path
                .file_name()
                .map_or_else(|| shown.clone(), |n| n.to_string_lossy().to_string()),
        );
        let mut reader = match CaptureReader::open(&input.path, FileId(i as u32), hash) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("exfilmeter: {shown}: {e}");
                partial = true;
                continue;
            }
        };
        let mut summary = FileSummary::new(shown.clone());
        let mut last = Instant::now();
        while let Some(frame) = reader.next_frame() {
            summary.add_frame(&frame);
            if let Decoded::Packet(p) = decoder.decode(&frame) {
                match &mut sink {
                    Sink::Attributed(a) => tracker.packet(&p, a.as_mut()),
                    Sink::Plain(r) => tracker.packet(&p, r.as_mut()),
                }
            }
            if progress
                && summary.packets % 65_536 == 0
                && last.elapsed() > Duration::from_millis(250)
            {
                last = Instant::now();
                eprint!(
                    "\rreading {shown}: {} MB, {} flows",
                    frame.frame.offset / 1_000_000,
                    tracker.stats().flows
                );
            }
        }
        let outcome = reader.finish();
        let not_capture = summary.packets == 0
            && outcome
                .errors
                .first()
                .is_some_and(|e| matches!(e.kind, DamageKind::BadMagic | DamageKind::Empty));
        if input.origin == InputOrigin::Directory && not_capture {
            if !args.quiet {
                eprintln!("exfilmeter: {shown}: ignored (not a capture)");
            }
            continue;
        }
        for e in &outcome.errors {
            eprintln!("exfilmeter: {shown}: {e}");
        }
        if !outcome.errors.is_empty() {
            partial = true;
        }
        summaries.push(summary);
    }
    decoder.finish();
    match &mut sink {
        Sink::Attributed(a) => tracker.finish(a.as_mut()),
        Sink::Plain(r) => tracker.finish(r.as_mut()),
    }
    if progress {
        eprint!("\r\x1b[K");
    }
    let sink = sink.rows();
    sink.close()?;
    let st = tracker.stats();
    let d = decoder.stats();
    if !args.quiet {
        let skipped: u64 = d.skipped.values().sum();
        eprintln!(
            "exfilmeter flows: {} files, {} frames, {} packets, {} skipped frames, {} flows, {} ledger rows; \
             caps: {} flows evicted, {} gaps from out-of-order buffer caps (peak buffered {} bytes, peak flows {})",
            summaries.len(),
            summaries.iter().map(|s| s.packets).sum::<u64>(),
            st.packets,
            skipped,
            st.flows,
            sink.written,
            st.evicted,
            st.cap_gaps,
            st.peak_ooo_bytes,
            st.peak_flows
        );
    }
    Ok(if partial {
        Outcome::Partial
    } else {
        Outcome::Complete
    })
}

/// Loads IOC sources, printing each skipped entry (with `--lenient`) as a warning.
pub(crate) fn load_iocs(paths: &[PathBuf], lenient: bool) -> Result<IocSet> {
    let set = IocSet::load(paths, lenient)?;
    for w in set.warnings() {
        let src = set
            .sources()
            .get(w.origin.source as usize)
            .map_or_else(String::new, |p| p.display().to_string());
        eprintln!(
            "exfilmeter: warning: {src}:{}: {} (skipped)",
            w.origin.line, w.message
        );
    }
    Ok(set)
}

/// The internal networks: the given CIDRs, or the defaults.
pub(crate) fn internal_nets(cidrs: &[String]) -> Result<Internal> {
    if cidrs.is_empty() {
        return Ok(Internal::default());
    }
    let nets = cidrs
        .iter()
        .map(|s| {
            s.parse::<Net>()
                .map_err(|e| anyhow::anyhow!("--internal {s}: {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Internal::new(nets))
}

/// Non-zero anomaly counters of a flow direction as `name=value;…` (empty when none).
fn anomaly_text(dir: Direction, f: &FlowRecord) -> String {
    let a = f.anomalies.tcp[dir.index()];
    let mut parts = Vec::new();
    for (name, v) in [
        ("cap_gaps", a.cap_gaps),
        ("before_start_bytes", a.before_start_bytes),
        ("unverified_retrans_bytes", a.unverified_retrans_bytes),
        ("implausible_proofs", a.implausible_proofs),
        ("incomplete_tcp_headers", f.anomalies.incomplete_tcp_headers),
    ] {
        if v > 0 {
            parts.push(format!("{name}={v}"));
        }
    }
    parts.join(";")
}

fn frame_text(f: FrameRef, names: &[String]) -> String {
    let name = names.get(f.file.0 as usize).map_or("?", String::as_str);
    format!("{name}#{}", f.index)
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
    let s = |f: &dyn Fn(&Row, &FlowRecord) -> String| -> Col {
        Col::Str(rows.iter().map(|r| f(r, &recs[r.rec].0)).collect())
    };
    let v = |f: &dyn Fn(&Verdict) -> String| -> Col {
        Col::Str(
            rows.iter()
                .map(|r| recs[r.rec].1.as_ref().map(f).unwrap_or_default())
                .collect(),
        )
    };
    let u = |x: u64| i64::try_from(x).unwrap_or(i64::MAX);
    let mut cols = vec![
        ("flow_id", get(&|r, _| u(r.flow))),
        ("day", Col::Date(rows.iter().map(|r| r.day).collect())),
        ("direction", s(&|r, _| r.dir.as_str().to_string())),
        ("client_ip", s(&|_, f| f.client.ip.to_string())),
        ("client_port", get(&|_, f| i64::from(f.client.port))),
        ("server_ip", s(&|_, f| f.server.ip.to_string())),
        ("server_port", get(&|_, f| i64::from(f.server.port))),
        ("proto", s(&|_, f| f.proto.name())),
        (
            "vlan",
            Col::OptI64(
                rows.iter()
                    .map(|r| recs[r.rec].0.vlan.map(i64::from))
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
        ("frames", get(&|r, _| u(r.c.frames))),
        ("frame_bytes", get(&|r, _| u(r.c.frame_bytes))),
        ("ip_bytes", get(&|r, _| u(r.c.ip_bytes))),
        ("payload_bytes", get(&|r, _| u(r.c.payload_bytes))),
        ("stream_bytes", get(&|r, _| u(r.c.stream_bytes))),
        ("truncated_bytes", get(&|r, _| u(r.c.truncated_bytes))),
        ("retrans_bytes", get(&|r, _| u(r.c.retrans_bytes))),
        ("conflict_bytes", get(&|r, _| u(r.c.conflict_bytes))),
        ("gap_bytes", get(&|r, _| u(r.c.gap_bytes))),
        ("history", s(&|_, f| f.history.clone())),
        ("close_reason", s(&|_, f| f.close.as_str().to_string())),
        ("first_frame", s(&|_, f| frame_text(f.first_frame, names))),
        ("last_frame", s(&|_, f| frame_text(f.last_frame, names))),
        ("role_rule", s(&|_, f| f.role_rule.as_str().to_string())),
        ("anomalies", s(&|r, f| anomaly_text(r.dir, f))),
    ];
    if let Some(set) = iocs {
        let join = |v: &Verdict, f: &dyn Fn(&exfilmeter_intel::Reason) -> String| {
            v.reasons.iter().map(f).collect::<Vec<_>>().join(";")
        };
        cols.extend([
            (
                "ioc",
                v(&|x| {
                    join(x, &|r| {
                        set.get(r.ioc).map_or_else(String::new, |i| i.text.clone())
                    })
                }),
            ),
            ("ioc_via", v(&|x| join(x, &|r| r.via.as_str().to_string()))),
            ("ioc_source", v(&|x| join(x, &|r| set.origin_text(r.ioc)))),
            (
                "evidence_frame",
                v(&|x| {
                    x.reasons
                        .first()
                        .map_or_else(String::new, |r| frame_text(r.frame, names))
                }),
            ),
            (
                "server_name",
                v(&|x| x.server_name.clone().unwrap_or_default()),
            ),
        ]);
    }
    Table::new(cols).context("building the ledger table")
}
