//! `exfilmeter analyze`: ingest → flows → IOC attribution → content accounting → daily
//! volume and record estimates, written into one output folder.

use super::case::Case;
use super::flows::{internal_nets, load_iocs, Rows};
use crate::table::TableWriter;
use crate::tz::{format_in, parse_zone};
use crate::Outcome;
use anyhow::{anyhow, bail, Context, Result};
use exfilmeter_estimate::{
    daily_table, day_number, headers_of, ioc_flows_table, load_periods, periods_table,
    recon_by_day, recon_of, records_seen, records_table, sightings_table, sweep_table, write_csv,
    write_parquet, ContentLedger, ContentStats, Header, KeySpec, Period, Recon, RecordFormat,
    RecordModel, RecordShape, RecoveredIndex, Rules,
};
use exfilmeter_flow::{
    DayClock, Direction, FlowId, FlowRecord, FlowSink, MetaEvent, Tracker, TrackerConfig,
};
use exfilmeter_ingest::{
    expand_inputs, CaptureReader, DamageKind, Decoded, Decoder, FileId, FileSummary, FrameRef,
    HashAlgo, InputOrigin, Timestamp,
};
use exfilmeter_intel::{Attributor, Verdict, VerdictSink};
use exfilmeter_report::{
    Capture, Counter, InputFile, Manifest, Model as ReportModel, Ratio, Rules as ReportRules, Span,
};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Arguments of `analyze`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Writes into --out: daily.csv and daily.parquet (per local day × \
malicious host: bytes at every layer, control traffic, basis, records low/point/high with \
their assumptions), periods.csv (the same summed per period; the whole capture when no \
--periods), flows.parquet (the ledger of every flow with its verdict), with --recovered \
confirmed_records.csv (every recovered record seen: confirmed, partial or key-only, with its \
frames), sightings.csv and reconciliation columns, ioc_flows.csv, with --sweep \
sweep_hosts.csv, report.html and report.md (charts in charts/), manifest.json (SHA-256 of \
every input and output), and case.toml (the resolved settings: `analyze --case \
OUT/case.toml` repeats the run). \
Settings come from --case, then the command line overrides them. Memory: bounded by the \
live-flow table and reassembly caps (see `flows --help`), plus the record model of the \
recovered files (read streaming: 4 bytes per record, up to 64 MiB of sampled records and the \
compressors' own memory, ~200 MiB, while measuring ratios) and the index of recovered rows \
(about 70 bytes per row, 60 more per key, and a 2 MiB filter; the files \
themselves up to 1 GiB in memory, read back from disk beyond that; a recovered archive is \
held both decoded and as stored). Matching holds the sightings of rows, not the uploads' \
content."
)]
pub struct Args {
    /// Capture files, directories or glob patterns, read in sorted order as one sensor.
    #[arg(value_name = "CAPTURES")]
    pub paths: Vec<String>,
    /// IOC file (text, CSV or STIX 2.1 JSON); repeat for several.
    #[arg(long, value_name = "FILE")]
    pub iocs: Vec<PathBuf>,
    /// Recovered files (staging files found on the compromised machines): the record model.
    #[arg(long, num_args = 1.., value_name = "FILE")]
    pub recovered: Vec<PathBuf>,
    /// Record layout of the recovered files: lines, csv or fixed:N [default: lines].
    #[arg(long, value_name = "FORMAT")]
    pub record_format: Option<String>,
    /// Key of a record (e.g. the member number): 1-based column, header name, or a regex
    /// with one capture group.
    #[arg(long, value_name = "COLUMN|REGEX")]
    pub key: Option<String>,
    /// Whether the recovered files start with a header line: yes, no or auto [default: auto].
    #[arg(long, value_name = "YES|NO|AUTO", value_parser = ["yes", "no", "auto"])]
    pub header: Option<String>,
    /// Time zone of the case (IANA name); local days split every table [default: UTC].
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
    /// Internal networks (CIDR, repeatable); default RFC 1918, 100.64/10, fc00::/7, link-local.
    #[arg(long, value_name = "CIDR")]
    pub internal: Vec<String>,
    /// Analyst periods: CSV `name,start,end` or TOML `[[period]]`, whole local days.
    #[arg(long, value_name = "FILE")]
    pub periods: Option<PathBuf>,
    /// Output folder [default: ./exfilmeter-report].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Case file (TOML) with these settings; the command line overrides it.
    #[arg(long, value_name = "FILE")]
    pub case: Option<PathBuf>,
    /// Worker threads for the table stage (results are identical for any value).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Records staged in total, when known: caps every `records_high`.
    #[arg(long, value_name = "N")]
    pub staged: Option<u64>,
    /// Uploads (HTTP bodies, TLS records, raw flows) with fewer content bytes than this and
    /// no decoded record are control traffic, excluded from the basis [default: 128].
    #[arg(long, value_name = "BYTES")]
    pub control_max: Option<u64>,
    /// Bytes a TLS application-data record adds to its plaintext [default: 17, TLS 1.3 AEAD].
    #[arg(long, value_name = "BYTES")]
    pub tls_overhead: Option<u64>,
    /// Seconds a DNS answer stays usable after its TTL [default: 3600].
    #[arg(long, value_name = "SECS")]
    pub dns_grace: Option<i64>,
    /// Skip malformed IOC entries with a warning instead of stopping.
    #[arg(long)]
    pub lenient: bool,
    /// Also search every outbound flow (not only IOC flows) for recovered keys and rows, and
    /// list the servers on no IOC list that received them (sweep_hosts.csv). Needs
    /// --recovered. Cost: a key scan of all client→server bytes (~470 MB/s per core on a
    /// million keys) and content state for every live flow.
    #[arg(long)]
    pub sweep: bool,
    /// Digest of each input file: sha256 (default) or none.
    #[arg(long, value_name = "ALGO", default_value = "sha256", value_parser = ["sha256", "none"])]
    pub hash: String,
    /// Flows held at once before the least recently active are evicted.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub max_flows: usize,
    /// No progress display and no summary on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// Leave every wall-clock time and the literal command line out of the outputs, so the
    /// same inputs give byte-identical files (report, manifest, tables).
    #[arg(long)]
    pub reproducible: bool,
}

/// The sink `analyze` feeds: the flow ledger writer and the content ledger.
struct Analyze<'a> {
    rows: Rows<'a>,
    content: ContentLedger<'a>,
}

impl FlowSink for Analyze<'_> {
    fn opened(
        &mut self,
        flow: FlowId,
        _key: &exfilmeter_flow::FlowKey,
        _client: exfilmeter_flow::Endpoint,
        _ts: Timestamp,
    ) {
        self.content.track(flow);
    }
    fn metadata(&mut self, flow: FlowId, e: &MetaEvent) {
        self.content.meta(flow, e);
    }
    fn data(
        &mut self,
        flow: FlowId,
        dir: Direction,
        offset: u64,
        _ts: Timestamp,
        _frame: FrameRef,
        bytes: &[u8],
    ) {
        self.content.data(flow, dir, offset, bytes);
    }
    fn body(
        &mut self,
        flow: FlowId,
        dir: Direction,
        message: u32,
        offset: u64,
        ts: Timestamp,
        frame: FrameRef,
        bytes: &[u8],
    ) {
        self.content
            .body(flow, dir, message, offset, ts, frame, bytes);
    }
}

impl VerdictSink for Analyze<'_> {
    fn verdict(&mut self, record: FlowRecord, verdict: Verdict) {
        self.content.closed(&record, &verdict);
        self.rows.push(record, Some(verdict));
    }
    fn flagged(&mut self, flow: FlowId) {
        self.content.flag(flow);
    }
}

/// Everything resolved from the case and the command line.
struct Settings {
    case: Case,
    format: RecordFormat,
    header: Header,
    key: Option<KeySpec>,
    out: PathBuf,
    rules: Rules,
}

fn resolve(args: &Args) -> Result<Settings> {
    let from_cli = Case {
        captures: args.paths.clone(),
        iocs: args.iocs.clone(),
        recovered: args.recovered.clone(),
        record_format: args.record_format.clone(),
        key: args.key.clone(),
        header: args.header.clone(),
        tz: args.tz.clone(),
        internal: args.internal.clone(),
        periods: args.periods.clone(),
        staged: args.staged,
        control_max: args.control_max,
        tls_overhead: args.tls_overhead,
        dns_grace: args.dns_grace,
        lenient: args.lenient.then_some(true),
        sweep: args.sweep.then_some(true),
        out: args.out.clone(),
    };
    let case = match &args.case {
        Some(p) => Case::load(p)?.overridden_by(from_cli),
        None => from_cli,
    };
    if case.captures.is_empty() {
        bail!("no capture files given (CAPTURES or `captures` in the case file)");
    }
    if case.iocs.is_empty() {
        bail!("no IOC source given (--iocs FILE or `iocs` in the case file)");
    }
    let format: RecordFormat = case
        .record_format
        .as_deref()
        .unwrap_or("lines")
        .parse()
        .map_err(|e| anyhow!("--record-format {e}"))?;
    let header = match case.header.as_deref().unwrap_or("auto") {
        "yes" => Header::Yes,
        "no" => Header::No,
        "auto" => Header::Auto,
        other => bail!("--header {other:?}: expected yes, no or auto"),
    };
    let key = case
        .key
        .as_deref()
        .map(KeySpec::parse)
        .transpose()
        .map_err(|e| anyhow!("--key {e}"))?;
    let defaults = Rules::default();
    let rules = Rules {
        control_max: case.control_max.unwrap_or(defaults.control_max),
        tls_overhead: case.tls_overhead.unwrap_or(defaults.tls_overhead),
        ..defaults
    };
    let out = case
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("exfilmeter-report"));
    Ok(Settings {
        case,
        format,
        header,
        key,
        out,
        rules,
    })
}

/// One input's facts for the summary.
struct InputFact {
    name: String,
    summary: FileSummary,
}

/// Runs `analyze`.
pub fn run(args: Args) -> Result<Outcome> {
    let s = resolve(&args)?;
    if let Some(n) = args.threads {
        if n == 0 {
            bail!("--threads must be at least 1");
        }
        // Read by polars when its thread pool starts (first table operation, below).
        std::env::set_var("POLARS_MAX_THREADS", n.to_string());
    }
    let tz = parse_zone(s.case.tz.as_deref().unwrap_or("UTC"))?;
    let (periods, period_warnings) = match &s.case.periods {
        Some(p) => load_periods(p).map(|(p, w)| (Some(p), w))?,
        None => (None, Vec::new()),
    };
    for w in &period_warnings {
        eprintln!("exfilmeter: warning: {w}");
    }
    let model = if s.case.recovered.is_empty() {
        None
    } else {
        let m = RecordModel::build(&s.case.recovered, &s.format, s.header, s.key.as_ref())?;
        for f in &m.files {
            if f.missing_keys > 0 {
                eprintln!(
                    "exfilmeter: warning: {}: {} of {} records have no key",
                    f.path.display(),
                    f.missing_keys,
                    f.records
                );
            }
        }
        Some(m)
    };
    let index = if s.case.recovered.is_empty() {
        None
    } else {
        Some(RecoveredIndex::build(
            &s.case.recovered,
            &s.format,
            &headers_of(&s.case.recovered, &s.format, s.header),
            s.key.as_ref(),
        )?)
    };
    let mut shape = model
        .as_ref()
        .map_or_else(RecordShape::default, |m| m.shape(&s.format));
    if let Some(ix) = &index {
        shape.match_against(ix);
    }
    let set = load_iocs(&s.case.iocs, s.case.lenient.unwrap_or(false))?;
    let internal = internal_nets(&s.case.internal)?;
    let inputs = expand_inputs(&s.case.captures)?;
    std::fs::create_dir_all(&s.out)
        .with_context(|| format!("creating the output folder {}", s.out.display()))?;
    let hash = if args.hash == "none" {
        HashAlgo::None
    } else {
        HashAlgo::Sha256
    };
    let cfg = TrackerConfig {
        tz,
        max_flows: args.max_flows.max(1),
        ..TrackerConfig::default()
    };
    let mut tracker = Tracker::new(cfg);
    let mut decoder = Decoder::default();
    let flows_path = s.out.join("flows.parquet");
    let sink = Analyze {
        rows: Rows::new(Some(&set), false, TableWriter::create(Some(&flows_path))?),
        content: {
            let c = ContentLedger::new(&shape, s.rules, DayClock::new(tz), &set);
            match &index {
                Some(ix) if s.case.sweep.unwrap_or(false) => c.with_index(ix).with_sweep(),
                Some(ix) => c.with_index(ix),
                None => c,
            }
        },
    };
    let mut attr = Attributor::new(&set, internal, s.case.dns_grace.unwrap_or(3600), sink);
    let total: u64 = inputs
        .iter()
        .filter_map(|i| std::fs::metadata(&i.path).ok().map(|m| m.len()))
        .sum();
    let bar = progress_bar(!args.quiet && std::io::stderr().is_terminal(), total);
    let mut done = 0u64;
    let mut partial = false;
    let mut facts: Vec<InputFact> = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let shown = input.path.display().to_string();
        let name = input
            .path
            .file_name()
            .map_or_else(|| shown.clone(), |n| n.to_string_lossy().to_string());
        attr.inner.rows.names.push(name.clone());
        let mut reader = match CaptureReader::open(&input.path, FileId(i as u32), hash) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("exfilmeter: {shown}: {e}");
                partial = true;
                continue;
            }
        };
        if let Some(b) = &bar {
            b.set_message(name.clone());
        }
        let mut summary = FileSummary::new(shown.clone());
        while let Some(frame) = reader.next_frame() {
            summary.add_frame(&frame);
            if let Decoded::Packet(p) = decoder.decode(&frame) {
                tracker.packet(&p, &mut attr);
            }
            if summary.packets % 16_384 == 0 {
                if let Some(b) = &bar {
                    b.set_position(done + frame.frame.offset);
                }
            }
        }
        let outcome = reader.finish();
        done += outcome.digest.as_ref().map_or(0, |d| d.size);
        let not_capture = summary.packets == 0
            && outcome
                .errors
                .first()
                .is_some_and(|e| matches!(e.kind, DamageKind::BadMagic | DamageKind::Empty));
        if input.origin == InputOrigin::Directory && not_capture {
            continue;
        }
        for e in &outcome.errors {
            let line = format!("exfilmeter: {shown}: {e}");
            match &bar {
                Some(b) => b.println(line),
                None => eprintln!("{line}"),
            }
        }
        partial |= !outcome.errors.is_empty();
        summary.finish(outcome, &decoder);
        facts.push(InputFact { name, summary });
    }
    decoder.finish();
    tracker.finish(&mut attr);
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let Analyze {
        mut rows,
        mut content,
    } = attr.inner;
    content.finish();
    rows.close()?;
    // Covered range: the local days from the first to the last frame of all inputs.
    let mut clock = DayClock::new(tz);
    let first = facts.iter().filter_map(|f| f.summary.first_ts).min();
    let last = facts.iter().filter_map(|f| f.summary.last_ts).max();
    let range = match (first, last) {
        (Some(a), Some(b)) => Some((day_number(clock.day(a)), day_number(clock.day(b)))),
        _ => None,
    };
    let recon = index
        .as_ref()
        .map(|ix| recon_by_day(ix, &content.sightings));
    let mut daily = daily_table(
        &content.days,
        &content.units,
        model.as_ref(),
        s.case.staged,
        range,
        recon.as_ref(),
    )?;
    write_csv(&mut daily, &s.out.join("daily.csv"))?;
    write_parquet(&mut daily, &s.out.join("daily.parquet"))?;
    let periods = match periods {
        Some(p) => p,
        None => match range {
            Some((a, b)) => vec![Period {
                name: "capture".into(),
                start: to_date(a),
                end: to_date(b),
            }],
            None => Vec::new(),
        },
    };
    let span = |lo: i32, hi: i32, host: Option<&str>| -> Recon {
        match &index {
            Some(ix) => recon_of(
                ix,
                content
                    .sightings
                    .iter()
                    .filter(|x| x.day >= lo && x.day <= hi && host.is_none_or(|h| x.host == h)),
            ),
            None => Recon::default(),
        }
    };
    let span_ref: &dyn Fn(i32, i32, Option<&str>) -> Recon = &span;
    let mut ptable = periods_table(&daily, &periods, index.as_ref().map(|_| span_ref))?;
    write_csv(&mut ptable, &s.out.join("periods.csv"))?;
    if let Some(ix) = &index {
        let seen = records_seen(ix, &content.sightings);
        let mut indicators: BTreeMap<String, String> = BTreeMap::new();
        for d in &content.days {
            if !d.indicator.is_empty() {
                let e = indicators.entry(d.host.clone()).or_default();
                for i in d.indicator.split(';') {
                    if !e.split(';').any(|x| x == i) {
                        if !e.is_empty() {
                            e.push(';');
                        }
                        e.push_str(i);
                    }
                }
            }
        }
        let names = rows.names.clone();
        let mut t = records_table(&seen, ix, tz, &names, &indicators)?;
        write_csv(&mut t, &s.out.join("confirmed_records.csv"))?;
        let mut t = sightings_table(ix, &content.sightings)?;
        write_csv(&mut t, &s.out.join("sightings.csv"))?;
        if s.case.sweep.unwrap_or(false) {
            let mut t = sweep_table(&content.sweep_hits, ix, tz)?;
            write_csv(&mut t, &s.out.join("sweep_hosts.csv"))?;
        }
    }
    let st = tracker.stats();
    let dstats = decoder.stats();
    let mut counters: Vec<(String, u64)> = vec![
        (
            "frames read".into(),
            facts.iter().map(|f| f.summary.packets).sum(),
        ),
        ("packets decoded".into(), dstats.packets),
        ("flows".into(), st.flows),
        (
            "flows attributed to an indicator".into(),
            content.stats.ioc_flows,
        ),
        ("flows evicted at the flow cap".into(), st.evicted),
        ("gaps from out-of-order buffer caps".into(), st.cap_gaps),
        (
            "input files with damage".into(),
            facts
                .iter()
                .filter(|f| !f.summary.errors.is_empty())
                .count() as u64,
        ),
        (
            "bytes skipped behind damage".into(),
            facts.iter().map(|f| f.summary.bytes_skipped).sum(),
        ),
        (
            "frames cut by the snapshot length".into(),
            facts.iter().map(|f| f.summary.truncated).sum(),
        ),
    ];
    for (reason, n) in &dstats.skipped {
        counters.push((format!("frames skipped: {reason}"), *n));
    }
    content_counters(&content.stats, &mut counters);
    if s.case.sweep.unwrap_or(false) {
        counters.push(("bytes searched by --sweep".into(), content.sweep_bytes));
    }
    counters.push((
        "IOC entries skipped (--lenient)".into(),
        set.warnings().len() as u64,
    ));
    counters.push(("period warnings".into(), period_warnings.len() as u64));
    let out_abs = std::path::absolute(&s.out).unwrap_or_else(|_| s.out.clone());
    let rel = |p: &Path| relative_to(&out_abs, p);
    std::fs::write(s.out.join("case.toml"), s.case.to_toml(rel)?)?;
    let mut t = ioc_flows_table(&content.flows, tz, &rows.names)?;
    write_csv(&mut t, &s.out.join("ioc_flows.csv"))?;
    let stamp = (!args.reproducible)
        .then(|| chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let mut manifest = Manifest {
        tool: "exfilmeter".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        command: format!(
            "exfilmeter analyze --case case.toml --out rerun{}",
            if args.reproducible {
                " --reproducible"
            } else {
                ""
            }
        ),
        invocation: (!args.reproducible).then(|| std::env::args().collect()),
        generated_at: None,
        time_zone: tz.name().to_string(),
        case: serde_json::to_value(s.case.relative(rel))?,
        span: first.zip(last).map(|(a, b)| Span {
            first_local: format_in(a, tz),
            last_local: format_in(b, tz),
        }),
        captures: facts
            .iter()
            .map(|f| Capture {
                path: f.summary.path.clone(),
                name: f.name.clone(),
                format: f.summary.format.clone(),
                size: f.summary.size.unwrap_or(0),
                sha256: f.summary.sha256.clone(),
                frames: f.summary.packets,
                first_local: f.summary.first_ts.map(|t| format_in(t, tz)),
                last_local: f.summary.last_ts.map(|t| format_in(t, tz)),
                bytes_skipped: f.summary.bytes_skipped,
                truncated_frames: f.summary.truncated,
                errors: f.summary.errors.iter().map(ToString::to_string).collect(),
            })
            .collect(),
        iocs: s
            .case
            .iocs
            .iter()
            .map(|p| InputFile::of(p))
            .collect::<exfilmeter_report::Result<_>>()?,
        indicators: set.len() as u64,
        recovered: s
            .case
            .recovered
            .iter()
            .map(|p| InputFile::of(p))
            .collect::<exfilmeter_report::Result<_>>()?,
        model: model.as_ref().map(|m| {
            let (r_min, r_max) = m.r_range();
            ReportModel {
                records: m.count(),
                format: m.format.clone(),
                mean: m.mean,
                sd: m.sd,
                min: u64::from(m.min),
                max: u64::from(m.max),
                r_min,
                r_max,
                ratios: m
                    .ratios
                    .iter()
                    .map(|r| Ratio {
                        codec: r.codec.clone(),
                        ratio: r.ratio,
                    })
                    .collect(),
            }
        }),
        rules: ReportRules {
            control_max: s.rules.control_max,
            tls_overhead: s.rules.tls_overhead,
            tls_framing: s.rules.tls_framing,
            staged: s.case.staged,
        },
        counters: counters
            .iter()
            .map(|(name, value)| Counter {
                name: name.clone(),
                value: *value,
            })
            .collect(),
        outputs: Vec::new(),
    };
    manifest.write(&s.out)?;
    exfilmeter_report::render_dir(&s.out, stamp)?;
    if !args.quiet {
        eprintln!(
            "exfilmeter analyze: {} files, {} flows ({} to indicators), {} day×host rows → {}",
            facts.len(),
            st.flows,
            content.stats.ioc_flows,
            daily.height(),
            s.out.join("report.html").display()
        );
    }
    Ok(if partial {
        Outcome::Partial
    } else {
        Outcome::Complete
    })
}

fn content_counters(c: &ContentStats, out: &mut Vec<(String, u64)>) {
    out.push(("HTTP bodies scanned".into(), c.bodies));
    out.push((
        "bodies whose decoding stopped (gap, corrupt, size limit)".into(),
        c.broken_bodies,
    ));
    out.push((
        "bodies sent before their flow was attributed (not scanned)".into(),
        c.unflagged_bodies,
    ));
    out.push((
        "bodies decoded as the continuation of the previous request's compressed stream".into(),
        c.continued_bodies,
    ));
}

fn to_date(d: i32) -> chrono::NaiveDate {
    chrono::NaiveDate::default() + chrono::TimeDelta::days(i64::from(d))
}

/// `p` relative to `base` when both are absolute and share a prefix; else `p` absolute.
pub(crate) fn relative_to(base: &Path, p: &Path) -> PathBuf {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let (b, a): (Vec<_>, Vec<_>) = (base.components().collect(), abs.components().collect());
    let common = b.iter().zip(&a).take_while(|(x, y)| x == y).count();
    if common == 0 {
        return abs;
    }
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &a[common..] {
        out.push(c);
    }
    out
}

fn progress_bar(show: bool, total: u64) -> Option<indicatif::ProgressBar> {
    if !show {
        return None;
    }
    let b = indicatif::ProgressBar::new(total);
    let style = indicatif::ProgressStyle::with_template(
        "{msg:20!} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
    )
    .ok()?
    .progress_chars("=> ");
    b.set_style(style);
    b.enable_steady_tick(std::time::Duration::from_millis(250));
    Some(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_between_folders() {
        assert_eq!(
            relative_to(Path::new("/a/b/out"), Path::new("/a/b/c/x.pcap")),
            PathBuf::from("../c/x.pcap")
        );
        assert_eq!(
            relative_to(Path::new("/a/out"), Path::new("/a/out/x")),
            PathBuf::from("x")
        );
    }
}
