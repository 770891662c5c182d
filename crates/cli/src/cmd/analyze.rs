//! `exfilmeter analyze`: ingest → flows → IOC attribution → content accounting → daily
//! volume and record estimates, written into one output folder.

use super::case::{relative_to, Case};
use super::flows::{internal_nets, load_iocs};
use crate::progress::{total_size, Display};
use crate::tz::{format_in, parse_zone};
use crate::Outcome;
use anyhow::{anyhow, bail, Context, Result};
use exfilmeter_estimate::analysis::{counters, covered_days, periods_or_capture, FlowCounts, Run};
use exfilmeter_estimate::partial::{
    check_partials, merge_partials, partial_file, run_bucket, PartialWriter, SplitSet,
};
use exfilmeter_estimate::{
    input_names, load_periods, Collector, ContentLedger, Gather, Header, KeySpec, ModelOptions,
    Pipeline, Read, RecordFormat, RecordModel, RecordShape, RecoveredIndex, Rows, Rules,
    TableWriter, Tee,
};
use exfilmeter_flow::{DayClock, TrackerConfig};
use exfilmeter_ingest::{expand_inputs, HashAlgo};
use exfilmeter_intel::{Attributor, IocSet};
use exfilmeter_report::{
    Capture, Counter, InputFile, Manifest, Model as ReportModel, Ratio, Rules as ReportRules, Span,
};
use std::path::{Path, PathBuf};

/// Arguments of `analyze`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Writes into --out: daily.csv and daily.parquet (per local day × \
malicious host: bytes at every layer, control traffic, basis, records low/point/high with \
their assumptions), periods.csv (the same summed per period; the whole capture when no \
--periods), flows.parquet (the ledger of every flow with its verdict), with --recovered \
confirmed_records.csv (every recovered record seen: confirmed, partial or key-only, with its \
frames), sightings.csv and reconciliation columns, ioc_flows.csv, tunnels.csv (every \
tunnel the packets came out of, as the link carried it), with --sweep sweep_hosts.csv, \
report.html and report.md (charts in charts/), manifest.json (SHA-256 of \
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
    /// Internal networks (CIDR, repeatable); default RFC 1918, 100.64/10, 169.254/16, 127/8,
    /// fc00::/7, fe80::/10, ::1.
    #[arg(long, value_name = "CIDR")]
    pub internal: Vec<String>,
    /// Analyst periods: CSV `name,start,end` or TOML `[[period]]`, whole local days.
    #[arg(long, value_name = "FILE")]
    pub periods: Option<PathBuf>,
    /// Output folder [default: ./exfilmeter-report].
    #[arg(long, short, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Case file (TOML) with these settings; the command line overrides it.
    #[arg(long, value_name = "FILE")]
    pub case: Option<PathBuf>,
    /// Threads for the flow stage (shards by flow; the caps are divided between them), the
    /// record model's compression ratios and the table stage (results are identical for any
    /// value) [default: every core; the flow stage is sharded from 4 cores].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub cache: super::CacheArgs,
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
    #[arg(long, value_name = "ALGO", default_value = "sha256", value_parser = super::hash_parser())]
    pub hash: HashAlgo,
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
    /// The analyst's knowledge of how a host's opaque channel (TLS, an unknown codec) packs
    /// records, as HOST=CODEC (repeatable): plain, deflate, zlib, gzip, zstd, xz, or a
    /// measured ratio such as 3.2. Replaces r in [1, r_max] for that host; stated in the
    /// report.
    #[arg(long, value_name = "HOST=CODEC")]
    pub assume: Vec<String>,
    /// Show the confirmed records' contents (the recovered rows) in the report's list of
    /// whose records, not only their keys and lines: personal data in report.html.
    #[arg(long)]
    pub report_rows: bool,
    /// Analyse only packets matching this capture filter, in tcpdump's syntax (host, net,
    /// port, portrange, src/dst, tcp/udp/icmp/ip/ip6, proto, and/or/not, parentheses);
    /// the others are counted.
    #[arg(long, short = 'f', value_name = "EXPR")]
    pub filter: Option<String>,
    /// Analyse only packets from this time on: RFC 3339, or a local date/time in --tz
    /// (2014-09-18, "2014-09-18 09:30"). Packets before are counted, not analysed; flows
    /// crossing it are cut there (counted).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Analyse only packets before this time (a bare date: through the end of that local
    /// day). Same forms and counting as --since.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Also print summary.json (the headline per period and day, hosts, counters, exit
    /// status, outputs) on standard output, for automation.
    #[arg(long)]
    pub json: bool,
    /// Language of report.html and report.md: en or ja [default: en].
    #[arg(long, value_name = "LANG", value_parser = ["en", "ja"])]
    pub lang: Option<String>,
    /// Write into an --out folder that holds files no earlier run wrote (they are left in
    /// place and kept out of the manifest's outputs). An earlier run's outputs, as its
    /// manifest lists them, are always removed first.
    #[arg(long)]
    pub force: bool,
    /// Analyse one bucket of split captures and write its partial results into DIR, for
    /// `exfilmeter merge`: CAPTURES are then `exfilmeter split` output folders (every file of
    /// the run), the settings those of the whole run (docs/scale-out.md).
    #[arg(long, value_name = "DIR", requires = "bucket")]
    pub partial: Option<PathBuf>,
    /// The bucket --partial analyses (0 to the splits' bucket count − 1).
    #[arg(long, value_name = "B", requires = "partial")]
    pub bucket: Option<usize>,
}

/// Where `analyze` takes its packets from.
pub(crate) enum Mode {
    /// The capture files (CAPTURES).
    Captures,
    /// One bucket of split captures (CAPTURES: split folders), written as a partial.
    Partial {
        /// The partial folder.
        out: PathBuf,
        /// The bucket.
        bucket: usize,
    },
    /// The partials of every bucket (CAPTURES: partial folders), merged into one run.
    Merge {
        /// The split folders of the run.
        splits: Vec<PathBuf>,
        /// The captures as the run was given them (`merge --captures`), else none.
        captures: Vec<String>,
    },
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

fn resolve(args: &Args, mode: &Mode) -> Result<Settings> {
    let from_cli = Case {
        // Split or partial folders are not the run's captures: those come from the case
        // file, else from the splits.
        captures: match mode {
            Mode::Captures => args.paths.clone(),
            Mode::Merge { captures, .. } => captures.clone(),
            Mode::Partial { .. } => Vec::new(),
        },
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
        lang: args.lang.clone(),
        assume: args.assume.clone(),
        since: args.since.clone(),
        until: args.until.clone(),
        filter: args.filter.clone(),
        out: args.out.clone(),
    };
    let case = match &args.case {
        Some(p) => Case::load(p)?.overridden_by(from_cli),
        None => from_cli,
    };
    if case.captures.is_empty() && matches!(mode, Mode::Captures) {
        bail!("no capture files given (CAPTURES or `captures` in the case file)");
    }
    if case.iocs.is_empty() {
        bail!("no IOC source given (--iocs FILE or `iocs` in the case file)");
    }
    let mut case = case;
    case.recovered = recovered_files(&case.recovered)?;
    let format: RecordFormat = case
        .record_format
        .as_deref()
        .unwrap_or("lines")
        .parse()
        .map_err(|e| anyhow!("--record-format {e}"))?;
    let header: Header = case
        .header
        .as_deref()
        .unwrap_or("auto")
        .parse()
        .map_err(|e| anyhow!("--header {e}"))?;
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

/// What `sightings.stix.json` says of each indicator seen (by its id), gathered flow by flow:
/// the sighting, and its hosts as a set (an indicator of a /25 can name a thousand hosts, each
/// looked up for every flow).
#[derive(Default)]
struct Sighted(
    std::collections::BTreeMap<usize, (exfilmeter_intel::Seen, std::collections::BTreeSet<String>)>,
);

impl Sighted {
    /// Adds an IOC flow (with its end-of-run host).
    fn add(&mut self, f: &exfilmeter_estimate::IocFlow) {
        for &ioc in &f.iocs {
            let (e, hosts) = self.0.entry(ioc).or_insert_with(|| {
                (
                    exfilmeter_intel::Seen {
                        ioc,
                        first: f.first_ts,
                        last: f.last_ts,
                        flows: 0,
                        hosts: Vec::new(),
                    },
                    Default::default(),
                )
            });
            e.first = e.first.min(f.first_ts);
            e.last = e.last.max(f.last_ts);
            e.flows += 1;
            if !hosts.contains(&*f.host) {
                hosts.insert(f.host.to_string());
            }
        }
    }

    /// `sightings.stix.json`: the indicators seen, each with its sighting (flows, first and
    /// last seen, hosts), as a STIX 2.1 bundle.
    fn write(self, out: &Path, set: &IocSet) -> Result<()> {
        // Sorted by byte order, as the set holds them.
        let seen: Vec<exfilmeter_intel::Seen> = self
            .0
            .into_values()
            .map(|(mut s, hosts)| {
                s.hosts = hosts.into_iter().collect();
                s
            })
            .collect();
        let bundle = exfilmeter_intel::sightings_bundle(set, &seen);
        let p = out.join("sightings.stix.json");
        let mut text = serde_json::to_string_pretty(&bundle)?;
        text.push('\n');
        std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
        Ok(())
    }
}

/// `--assume HOST=CODEC` entries by host.
fn assumptions(
    given: &[String],
) -> Result<std::collections::BTreeMap<String, exfilmeter_estimate::Content>> {
    let mut out = std::collections::BTreeMap::new();
    for a in given {
        let (host, codec) = a.split_once('=').ok_or_else(|| {
            anyhow!("--assume {a:?}: expected HOST=CODEC (e.g. api.example.net=zstd)")
        })?;
        let c = exfilmeter_estimate::Content::assumed(codec)
            .map_err(|e| anyhow!("--assume {a:?}: {e}"))?;
        if out.insert(host.trim().to_string(), c).is_some() {
            bail!("--assume {host}: given twice");
        }
    }
    Ok(out)
}

/// The recovered files: folders (and glob patterns) taken like capture folders, every file
/// in them in sorted order; a path that does not exist is an error.
fn recovered_files(given: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in given {
        let spec = p.display().to_string();
        let found =
            expand_inputs(std::slice::from_ref(&spec)).map_err(|e| anyhow!("--recovered {e}"))?;
        if found.is_empty() {
            bail!("--recovered {spec}: no file found in it");
        }
        for i in found {
            if !i.path.exists() {
                bail!("--recovered {}: no such file", i.path.display());
            }
            if !out.contains(&i.path) {
                out.push(i.path);
            }
        }
    }
    Ok(out)
}

/// Makes the output folder ready: the earlier run's outputs — the files its manifest lists,
/// still with the size and SHA-256 it recorded — are removed, so no stale file is ever listed
/// as this run's; any other file (one no run wrote, an output edited since, a symbolic link)
/// refuses the run unless `force`, and is then left in place and returned, to be kept out of
/// the new manifest's outputs unless this run writes it anew.
fn prepare_out(out: &Path, force: bool) -> Result<Vec<String>> {
    if !out.exists() {
        std::fs::create_dir_all(out)
            .with_context(|| format!("creating the output folder {}", out.display()))?;
        return Ok(Vec::new());
    }
    if !out.is_dir() {
        bail!("--out {}: not a folder", out.display());
    }
    let manifest = out.join(exfilmeter_report::MANIFEST);
    let mut earlier: std::collections::BTreeMap<String, (u64, String)> = Default::default();
    if manifest.exists() {
        let m = exfilmeter_report::Manifest::read(out).map_err(|e| {
            anyhow!("{e}: an earlier run's manifest that does not read; remove it or choose another --out")
        })?;
        for o in m.outputs {
            earlier.insert(o.file, (o.size, o.sha256));
        }
    }
    let files = exfilmeter_report::files_under(out)?;
    let ours = |f: &String| -> bool {
        if f == exfilmeter_report::MANIFEST {
            return manifest.exists();
        }
        let p = out.join(f);
        let plain = std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_file());
        plain
            && earlier.get(f).is_some_and(|(size, sha)| {
                exfilmeter_report::sha256_file(&p).is_ok_and(|(s, h)| s == *size && h == *sha)
            })
    };
    let (mine, foreign): (Vec<String>, Vec<String>) = files.into_iter().partition(|f| ours(f));
    if !foreign.is_empty() && !force {
        let shown: Vec<&str> = foreign.iter().take(5).map(String::as_str).collect();
        bail!(
            "--out {}: holds {} file(s) no earlier exfilmeter run wrote, or changed since ({}{}); \
             choose a new or empty folder, or add --force to write there anyway",
            out.display(),
            foreign.len(),
            shown.join(", "),
            if foreign.len() > 5 { ", …" } else { "" }
        );
    }
    for f in &mine {
        let p = out.join(f);
        std::fs::remove_file(&p)
            .with_context(|| format!("removing the earlier run's {}", p.display()))?;
    }
    Ok(foreign)
}

/// The recovered files read: the record model, the index of their rows, what a record
/// looks like in traffic, and each file's size and SHA-256 for the manifest.
struct Recovered {
    model: Option<RecordModel>,
    index: Option<RecoveredIndex>,
    shape: RecordShape,
    inputs: Vec<InputFile>,
}

/// Reads each recovered file once: model, header decisions, index and digests from the same
/// bytes.
fn load_recovered(s: &Settings, opts: &ModelOptions) -> Result<Recovered> {
    let files = &s.case.recovered;
    if files.is_empty() {
        return Ok(Recovered {
            model: None,
            index: None,
            shape: RecordShape::default(),
            inputs: Vec::new(),
        });
    }
    let read = exfilmeter_estimate::recovered::open(
        files,
        &s.format,
        s.header,
        exfilmeter_estimate::DEFAULT_MEMORY,
    )?;
    let inputs = read
        .iter()
        .map(|f| InputFile {
            path: f.path.display().to_string(),
            size: f.stored_size,
            sha256: f.sha256_hex(),
        })
        .collect();
    let model = RecordModel::of(&read, &s.format, s.key.as_ref(), opts)?;
    if let Some(w) = &model.ratio_source.warning {
        eprintln!("exfilmeter: warning: {w}");
    }
    for f in &model.files {
        if f.missing_keys > 0 {
            eprintln!(
                "exfilmeter: warning: {}: {} of {} records have no key",
                f.path.display(),
                f.missing_keys,
                f.records
            );
        }
    }
    let index = RecoveredIndex::from_files(read, &s.format, s.key.as_ref())?;
    let mut shape = model.shape(&s.format);
    shape.match_against(&index);
    Ok(Recovered {
        model: Some(model),
        index: Some(index),
        shape,
        inputs,
    })
}

/// Runs `analyze`.
pub fn run(args: Args) -> Result<Outcome> {
    let mode = match (&args.partial, args.bucket) {
        (Some(out), Some(bucket)) => Mode::Partial {
            out: out.clone(),
            bucket,
        },
        _ => Mode::Captures,
    };
    run_mode(args, mode)
}

/// The settings that decide what a bucket task's flow stage gives: a merge refuses partials
/// made with others than its own.
fn bucket_settings(
    s: &Settings,
    args: &Args,
    rec: &Recovered,
    tz: chrono_tz::Tz,
) -> Result<serde_json::Value> {
    let iocs: Vec<(String, String)> = s
        .case
        .iocs
        .iter()
        .map(|p| {
            InputFile::of(p).map(|f| {
                let name = p
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().to_string());
                (name, f.sha256)
            })
        })
        .collect::<exfilmeter_report::Result<_>>()?;
    let recovered: Vec<(String, String)> = rec
        .inputs
        .iter()
        .map(|f| {
            let name = Path::new(&f.path)
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().to_string());
            (name, f.sha256.clone())
        })
        .collect();
    Ok(serde_json::json!({
        "iocs": iocs,
        "lenient": s.case.lenient.unwrap_or(false),
        "recovered": recovered,
        "record_format": s.case.record_format.as_deref().unwrap_or("lines"),
        "key": s.case.key,
        "header": s.case.header.as_deref().unwrap_or("auto"),
        "tz": tz.name(),
        "internal": s.case.internal,
        "control_max": s.rules.control_max,
        "tls_overhead": s.rules.tls_overhead,
        "dns_grace": s.case.dns_grace.unwrap_or(3600),
        "sweep": s.case.sweep.unwrap_or(false),
        "max_flows": args.max_flows.max(1),
        "filter": s.case.filter,
    }))
}

/// Folders given as CAPTURES (split or partial folders).
fn given_dirs(paths: &[String]) -> Vec<PathBuf> {
    paths.iter().map(PathBuf::from).collect()
}

/// Empties a partial folder of an earlier bucket task (its `partial.json`, `flows.bin` and
/// `daily/`); a folder that holds anything else is refused.
fn prepare_partial(out: &Path) -> Result<()> {
    if !out.exists() {
        return std::fs::create_dir_all(out)
            .with_context(|| format!("creating the partial folder {}", out.display()));
    }
    let ours = ["partial.json", "flows.bin", "daily"];
    let entries = std::fs::read_dir(out).with_context(|| format!("--partial {}", out.display()))?;
    for e in entries {
        let e = e?;
        let name = e.file_name().to_string_lossy().to_string();
        if !ours.contains(&name.as_str()) {
            bail!(
                "--partial {}: holds {name}, which no bucket task wrote; choose a new or empty folder",
                out.display()
            );
        }
    }
    for name in ours {
        let p = out.join(name);
        if p.is_dir() {
            std::fs::remove_dir_all(&p)?;
        } else if p.exists() {
            std::fs::remove_file(&p)?;
        }
    }
    Ok(())
}

/// Runs `analyze` on captures, on one bucket of split captures, or as the merge of every
/// bucket's partial.
pub(crate) fn run_mode(args: Args, mode: Mode) -> Result<Outcome> {
    let mut s = resolve(&args, &mode)?;
    let assumed = assumptions(&s.case.assume)?;
    if let Some(n) = args.threads {
        if n == 0 {
            bail!("--threads must be at least 1");
        }
        // Read by polars when its thread pool starts (first table operation, below).
        std::env::set_var("POLARS_MAX_THREADS", n.to_string());
    }
    let tz = parse_zone(s.case.tz.as_deref().unwrap_or("UTC"))?;
    let window = super::flows::window(s.case.since.as_deref(), s.case.until.as_deref(), tz)?;
    let compiled = super::flows::filter(s.case.filter.as_deref())?;
    let (periods, period_warnings) = match &s.case.periods {
        Some(p) => load_periods(p).map(|(p, w)| (Some(p), w))?,
        None => (None, Vec::new()),
    };
    for w in &period_warnings {
        eprintln!("exfilmeter: warning: {w}");
    }
    let opts = ModelOptions {
        threads: super::model_threads(args.threads)?,
        cache: args.cache.dir(),
    };
    let rec = load_recovered(&s, &opts)?;
    let set = load_iocs(&s.case.iocs, s.case.lenient.unwrap_or(false))?;
    let internal = internal_nets(&s.case.internal)?;
    let splits = match &mode {
        Mode::Captures => None,
        Mode::Partial { .. } => Some(SplitSet::load(&given_dirs(&args.paths))?),
        Mode::Merge { splits, .. } => Some(SplitSet::load(splits)?),
    };
    if let Some(sp) = &splits {
        if s.case.since.is_some() || s.case.until.is_some() {
            bail!("--since/--until: not available for split runs yet (analyze the window on one machine, or split only the files it needs)");
        }
        if sp.filter() != s.case.filter.as_deref() {
            bail!(
                "the splits were made with --filter {:?}, this run has {:?}: give the same filter to split, analyze --partial and merge",
                sp.filter().unwrap_or(""),
                s.case.filter.as_deref().unwrap_or("")
            );
        }
    }
    let cfg = TrackerConfig {
        tz,
        max_flows: args.max_flows.max(1),
        ..TrackerConfig::default()
    };
    let sweep = s.case.sweep.unwrap_or(false);
    let grace = s.case.dns_grace.unwrap_or(3600);
    let rules = s.rules;
    let ledger = || {
        let content = ContentLedger::new(&rec.shape, rules, DayClock::new(tz), &set);
        match &rec.index {
            Some(ix) if sweep => content.with_index(ix).with_sweep(),
            Some(ix) => content.with_index(ix),
            None => content,
        }
    };
    // The run's own ledger (not a shard's): its IOC flows' facts are written out to the output
    // folder's unnamed temporary files as flows close, their uploads summed per day and host.
    let run_ledger = || ledger().with_spill(&s.out).summing_units();
    if let (Mode::Partial { out, bucket }, Some(sp)) = (&mode, &splits) {
        prepare_partial(out)?;
        let c = Collector::new(Some(ledger().for_shard()), true);
        let mut sink = Attributor::new(&set, internal.clone(), grace, c).shared_dns();
        let mut w = PartialWriter::create(out)?;
        let mut display = Display::new(args.quiet, sp.bucket_bytes(*bucket));
        let (tracker, got) = run_bucket(
            sp,
            *bucket,
            cfg,
            true,
            &mut sink,
            &mut |items| w.write(items),
            &mut display,
        )?;
        display.done();
        let content = sink.inner.content.as_ref();
        let stats = content.map(|c| c.stats).unwrap_or_default();
        let sweep_bytes = content.map_or(0, |c| c.sweep_bytes);
        let settings = bucket_settings(&s, &args, &rec, tz)?;
        let flows = w.flows;
        let meta = partial_file(
            sp,
            *bucket,
            settings,
            tracker,
            (&stats, sweep_bytes),
            flows,
            got,
        );
        w.finish(out, *bucket, &meta)?;
        if !args.quiet {
            eprintln!(
                "exfilmeter analyze --partial: bucket {bucket} of {}: {} packets, {} flows ({} to indicators) → {}",
                sp.buckets,
                meta.read.packets,
                meta.tracker.flows,
                stats.ioc_flows,
                out.display()
            );
        }
        return Ok(if sp.read().partial {
            Outcome::Partial
        } else {
            Outcome::Complete
        });
    }
    let inputs = match &splits {
        None => {
            let inputs = expand_inputs(&s.case.captures)?;
            exfilmeter_estimate::readable_inputs(&s.case.captures, &inputs)
                .map_err(|e| anyhow!(e))?;
            inputs
        }
        Some(_) => Vec::new(),
    };
    let partials = match (&splits, &mode) {
        (Some(sp), Mode::Merge { .. }) => {
            let settings = bucket_settings(&s, &args, &rec, tz)?;
            check_partials(sp, &given_dirs(&args.paths), &settings)?
        }
        _ => Vec::new(),
    };
    if let Some(sp) = &splits {
        // The run's captures are those the splits read; the case file's specs (a folder, a
        // pattern) are kept when they name exactly those files here.
        let split_paths: Vec<String> = sp.files.iter().map(|(_, sf)| sf.path.clone()).collect();
        let same = expand_inputs(&s.case.captures).is_ok_and(|found| {
            found
                .iter()
                .map(|i| i.path.display().to_string())
                .eq(split_paths.iter().cloned())
        });
        if !same {
            s.case.captures = split_paths;
        }
    }
    let started = std::time::SystemTime::now();
    let foreign = prepare_out(&s.out, args.force)?;
    let names = match &splits {
        Some(sp) => sp.names(),
        None => input_names(&inputs),
    };
    let rows = Rows::new(
        Some(&set),
        false,
        names.clone(),
        TableWriter::create(Some(&s.out.join("flows.parquet")))?,
    );
    let mut pipeline = Pipeline::new(cfg, args.hash);
    pipeline.window = window;
    pipeline.filter = compiled;
    let mut display = Display::new(args.quiet, total_size(&inputs));
    let shards = super::flow_shards(args.threads)?;
    let (read, mut rows, mut content, flow_counts, extra) = if let Some(sp) = &splits {
        let mut gather = Gather {
            rows,
            content: Some(run_ledger()),
        };
        let (tracker, stats, sweep_bytes) = match merge_partials(&partials, &mut gather) {
            Ok(v) => v,
            Err(e) => {
                // No half-written ledger left behind for a run that wrote no report.
                drop(gather);
                let _ = std::fs::remove_file(s.out.join("flows.parquet"));
                return Err(e.into());
            }
        };
        let Gather { rows, content } = gather;
        let mut content = content.unwrap_or_else(run_ledger);
        content.stats.add(&stats);
        content.sweep_bytes += sweep_bytes;
        for line in sp.problems() {
            eprintln!("{line}");
        }
        let extra = super::flows::filter_counters(s.case.filter.is_some(), sp.filtered());
        (sp.read(), rows, content, sp.counts(tracker), extra)
    } else if shards > 1 {
        let sinks: Vec<_> = (0..shards)
            .map(|_| {
                let c = Collector::new(Some(ledger().for_shard()), true);
                Attributor::new(&set, internal.clone(), grace, c).shared_dns()
            })
            .collect();
        let mut gather = Gather {
            rows,
            content: Some(run_ledger()),
        };
        let (read, sinks) =
            pipeline.run_sharded(&inputs, sinks, true, &mut gather, &mut display)?;
        let Gather { rows, content } = gather;
        let mut content = content.unwrap_or_else(run_ledger);
        for s in &sinks {
            if let Some(c) = s.inner.content.as_ref() {
                content.add_counts(c);
            }
        }
        let extra = super::flows::window_counters(&pipeline);
        (read, rows, content, FlowCounts::of(&pipeline), extra)
    } else {
        let tee = Tee {
            rows,
            content: run_ledger(),
        };
        let mut attr = Attributor::new(&set, internal, grace, tee);
        let read = pipeline.run(&inputs, &mut attr, &mut display);
        let Tee { rows, content } = attr.inner;
        let extra = super::flows::window_counters(&pipeline);
        (read, rows, content, FlowCounts::of(&pipeline), extra)
    };
    display.done();
    content.finish();
    let ledger_path = s.out.join("flows.parquet");
    rows.close()
        .with_context(|| format!("writing {}", ledger_path.display()))?;
    let covered = super::flows::clip_covered(covered_days(&read, tz), window, tz);
    let tables = Run {
        content: &content,
        index: rec.index.as_ref(),
        model: rec.model.as_ref(),
        staged: s.case.staged,
        covered: covered.clone(),
        tz,
        names: &names,
        sweep,
        assumed: assumed.clone(),
    };
    let mut sighted = Sighted::default();
    let day_rows =
        tables.write_tables(&s.out, &periods_or_capture(periods, &covered), &mut |f| {
            sighted.add(f)
        })?;
    for h in assumed.keys() {
        if !content.days().iter().any(|d| *d.host == **h) {
            eprintln!(
                "exfilmeter: warning: --assume {h}: no traffic to a host of that name in this run \
                 (hosts are named as in daily.csv's host column)"
            );
        }
    }
    sighted.write(&s.out, &set)?;
    exfilmeter_estimate::write_tunnels(
        &read,
        &names,
        TableWriter::create(Some(&s.out.join("tunnels.csv")))?,
    )?;
    let mut counters = counters(&read, &flow_counts, &content, sweep);
    // The ledger's per-flow lists are written out: freed before the report reads the tables
    // back, so the two peaks do not add up.
    let ioc_flows = content.stats.ioc_flows;
    drop(content);
    counters.push((
        "IOC entries skipped (--lenient)".into(),
        set.warnings().len() as u64,
    ));
    counters.push(("period warnings".into(), period_warnings.len() as u64));
    counters.extend(extra);
    counters.push((
        "IOC entries not used (not network indicators, or not for detection)".into(),
        set.ignored().len() as u64,
    ));
    let out_abs = std::path::absolute(&s.out).unwrap_or_else(|_| s.out.clone());
    let rel = |p: &Path| relative_to(&out_abs, p);
    std::fs::write(s.out.join("case.toml"), s.case.to_toml(rel)?)?;
    let stamp = (!args.reproducible)
        .then(|| chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let facts = Facts {
        read: &read,
        set: &set,
        model: rec.model.as_ref(),
        recovered: &rec.inputs,
        counters,
        tz,
    };
    let mut m = manifest(&args, &s, &facts, rel)?;
    // A foreign file this run wrote over (same name as an output) is this run's now.
    m.foreign = foreign
        .into_iter()
        .filter(|f| {
            std::fs::symlink_metadata(s.out.join(f))
                .and_then(|md| md.modified())
                .is_ok_and(|t| t < started)
        })
        .collect();
    m.report_rows = args.report_rows;
    m.lang = s
        .case
        .lang
        .as_deref()
        .unwrap_or("en")
        .parse()
        .map_err(|e: String| anyhow!("--lang {e}"))?;
    if let (Some(md), Some(model)) = (m.model.as_mut(), rec.model.as_ref()) {
        let setting = s.case.header.clone().unwrap_or_else(|| "auto".into());
        md.headers = model
            .files
            .iter()
            .map(|f| exfilmeter_report::HeaderLine {
                file: f
                    .path
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().to_string()),
                header: f.header,
                setting: setting.clone(),
            })
            .collect();
    }
    m.write(&s.out)?;
    let report = exfilmeter_report::render_dir(&s.out, stamp, true)?;
    let summary = exfilmeter_report::write_summary_of(&s.out, &report, i32::from(read.partial))?;
    drop(report);
    let mut m = exfilmeter_report::Manifest::read(&s.out)?;
    if !m.foreign.is_empty() {
        // The report files were written after the manifest: the same rule once more.
        m.foreign.retain(|f| {
            std::fs::symlink_metadata(s.out.join(f))
                .and_then(|md| md.modified())
                .is_ok_and(|t| t < started)
        });
        m.rewrite(&s.out, &[])?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    }
    if !args.quiet {
        eprintln!(
            "exfilmeter analyze: {} files, {} flows ({} to indicators), {} day×host rows → {}",
            read.files.len(),
            flow_counts.tracker.flows,
            ioc_flows,
            day_rows,
            s.out.join("report.html").display()
        );
    }
    Ok(if read.partial {
        Outcome::Partial
    } else {
        Outcome::Complete
    })
}

/// What the manifest records of a run beside its settings.
struct Facts<'a> {
    read: &'a Read,
    set: &'a IocSet,
    model: Option<&'a RecordModel>,
    recovered: &'a [InputFile],
    counters: Vec<(String, u64)>,
    tz: chrono_tz::Tz,
}

/// The manifest of a run (its outputs are listed when it is written).
fn manifest(
    args: &Args,
    s: &Settings,
    f: &Facts<'_>,
    rel: impl Fn(&Path) -> PathBuf,
) -> Result<Manifest> {
    let tz = f.tz;
    let files = |paths: &[PathBuf]| -> Result<Vec<InputFile>> {
        Ok(paths
            .iter()
            .map(|p| InputFile::of(p))
            .collect::<exfilmeter_report::Result<_>>()?)
    };
    Ok(Manifest {
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
        span: f.read.span().map(|(a, b)| Span {
            first_local: format_in(a, tz),
            last_local: format_in(b, tz),
        }),
        captures: f.read.files.iter().map(|f| capture(f, tz)).collect(),
        unreadable: f
            .read
            .unreadable
            .iter()
            .map(|(path, problem)| exfilmeter_report::Unreadable {
                path: path.clone(),
                problem: problem.clone(),
            })
            .collect(),
        iocs: files(&s.case.iocs)?,
        indicators: f.set.len() as u64,
        recovered: f.recovered.to_vec(),
        model: f.model.map(|m| {
            let mut r = report_model(m);
            if let (Some(from), false) = (r.ratios_from.as_mut(), args.reproducible) {
                from.cached = Some(m.ratio_source.hit);
                from.entry = m
                    .ratio_source
                    .cache
                    .as_ref()
                    .map(|p| p.display().to_string());
                from.entry_sha256 = m.ratio_source.entry_sha256.clone();
            }
            r
        }),
        rules: ReportRules {
            control_max: s.rules.control_max,
            tls_overhead: s.rules.tls_overhead,
            tls_framing: s.rules.tls_framing,
            staged: s.case.staged,
            assumed: s.case.assume.clone(),
        },
        counters: f
            .counters
            .iter()
            .map(|(name, value)| Counter {
                name: name.clone(),
                value: *value,
            })
            .collect(),
        outputs: Vec::new(),
        foreign: Vec::new(),
        lang: exfilmeter_report::Lang::En,
        report_rows: false,
    })
}

fn capture(f: &exfilmeter_estimate::FileRead, tz: chrono_tz::Tz) -> Capture {
    let s = &f.summary;
    Capture {
        path: s.path.clone(),
        name: f.name.clone(),
        format: s.format.clone(),
        size: s.size.unwrap_or(0),
        sha256: s.sha256.clone(),
        frames: s.packets,
        first_local: s.first_ts.map(|t| format_in(t, tz)),
        last_local: s.last_ts.map(|t| format_in(t, tz)),
        bytes_skipped: s.bytes_skipped,
        truncated_frames: s.truncated,
        errors: s.errors.iter().map(ToString::to_string).collect(),
    }
}

fn report_model(m: &RecordModel) -> ReportModel {
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
        headers: Vec::new(),
        ratios_from: Some(exfilmeter_report::RatiosFrom {
            key: m.ratio_source.key.clone(),
            ..exfilmeter_report::RatiosFrom::default()
        }),
    }
}
