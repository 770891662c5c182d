//! `exfilmeter flows`: the per-day byte ledger of every flow, as CSV or Parquet.

use crate::progress::{total_size, Display};
use crate::tz::parse_zone;
use crate::Outcome;
use anyhow::{Context, Result};
use exfilmeter_estimate::{input_names, Collector, Gather, Pipeline, Rows, TableWriter};
use exfilmeter_flow::TrackerConfig;
use exfilmeter_ingest::{expand_inputs, HashAlgo, NANOS_PER_SEC};
use exfilmeter_intel::{Attributor, Internal, IocSet, Net};
use std::path::PathBuf;

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
    /// Also write the tunnels the packets came out of (one row per tunnel as the link
    /// carried it: kind, outer ends, frames and bytes each way) to this file: .parquet or
    /// .csv.
    #[arg(long, value_name = "FILE")]
    pub tunnels: Option<PathBuf>,
    /// Digest of each input file: sha256 (default) or none.
    #[arg(long, value_name = "ALGO", default_value = "sha256", value_parser = super::hash_parser())]
    pub hash: HashAlgo,
    /// Flows held at once before the least recently active are evicted (over all threads).
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub max_flows: usize,
    /// Threads for the flow stage: flows are spread over them by a hash of their addresses
    /// and ports, and the output is the same for any number (the caps are divided between
    /// them) [default: every core from 4 cores, else 1].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
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
    /// Internal networks (CIDR, repeatable); default RFC 1918, 100.64/10, 169.254/16, 127/8,
    /// fc00::/7, fe80::/10, ::1.
    #[arg(long, value_name = "CIDR")]
    pub internal: Vec<String>,
    /// Seconds a DNS answer stays usable after its TTL for attributing connections.
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    pub dns_grace: i64,
    /// No progress display.
    #[arg(long, short)]
    pub quiet: bool,
    /// Only packets from this time on: RFC 3339, or a local date/time in --tz (2014-09-18,
    /// "2014-09-18 09:30"); packets before are counted, flows crossing it cut there.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only packets before this time (a bare date: through the end of that local day).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only packets matching this capture filter, in tcpdump's syntax (host, net, port,
    /// portrange, src/dst, tcp/udp/icmp/ip/ip6, proto, and/or/not, parentheses).
    #[arg(long, short = 'f', value_name = "EXPR")]
    pub filter: Option<String>,
}

/// The capture-time window of `--since`/`--until` in zone `tz`; an empty window is an error.
pub(crate) fn window(
    since: Option<&str>,
    until: Option<&str>,
    tz: chrono_tz::Tz,
) -> Result<exfilmeter_estimate::Window> {
    let w = exfilmeter_estimate::Window {
        since: since
            .map(|s| crate::tz::parse_instant(s, tz, false))
            .transpose()
            .map_err(|e| anyhow::anyhow!("--since {e}"))?,
        until: until
            .map(|s| crate::tz::parse_instant(s, tz, true))
            .transpose()
            .map_err(|e| anyhow::anyhow!("--until {e}"))?,
    };
    if let (Some(a), Some(b)) = (w.since, w.until) {
        if b <= a {
            anyhow::bail!("--until is not after --since: the window is empty");
        }
    }
    Ok(w)
}

/// The covered days, clipped to the window's days.
pub(crate) fn clip_covered(
    covered: Vec<(i32, i32)>,
    w: exfilmeter_estimate::Window,
    tz: chrono_tz::Tz,
) -> Vec<(i32, i32)> {
    let mut clock = exfilmeter_flow::DayClock::new(tz);
    let lo = w.since.map(|t| clock.local_day(t).0);
    // `until` is exclusive: the last day is the one of the instant before it.
    let hi = w
        .until
        .map(|t| clock.local_day(exfilmeter_ingest::Timestamp(t.0 - 1)).0);
    covered
        .into_iter()
        .filter_map(|(a, b)| {
            let (a, b) = (lo.map_or(a, |l| a.max(l)), hi.map_or(b, |h| b.min(h)));
            (a <= b).then_some((a, b))
        })
        .collect()
}

/// The compiled `--filter`.
pub(crate) fn filter(expr: Option<&str>) -> Result<Option<exfilmeter_ingest::Filter>> {
    expr.map(|e| {
        exfilmeter_ingest::Filter::parse(e).map_err(|m| anyhow::anyhow!("--filter {e:?}: {m}"))
    })
    .transpose()
}

/// What the filter left out, as a report counter (none without a filter).
pub(crate) fn filter_counters(filter: bool, filtered: u64) -> Vec<(String, u64)> {
    if filter {
        vec![(
            "packets not matching --filter (not analysed)".into(),
            filtered,
        )]
    } else {
        Vec::new()
    }
}

/// What the window and the filter left out, as report counters (none without them).
pub(crate) fn window_counters(p: &Pipeline) -> Vec<(String, u64)> {
    let mut out = filter_counters(p.filter.is_some(), p.filtered);
    if p.window.is_open() {
        return out;
    }
    let w = &p.windowed;
    out.extend([
        ("packets before --since (not analysed)".into(), w.before),
        ("packets at or after --until (not analysed)".into(), w.after),
        (
            "flows cut at --since (their earlier packets left out)".into(),
            w.cut_since,
        ),
        (
            "flows cut at --until (their later packets left out)".into(),
            w.cut_until,
        ),
        (
            "window packets whose flow crossing was not tracked (key cap)".into(),
            w.untracked,
        ),
    ]);
    out
}

/// Runs `flows`.
pub fn run(args: Args) -> Result<Outcome> {
    let inputs = expand_inputs(&args.paths)?;
    exfilmeter_estimate::readable_inputs(&args.paths, &inputs).map_err(|e| anyhow::anyhow!(e))?;
    let tz = parse_zone(&args.tz)?;
    let win = window(args.since.as_deref(), args.until.as_deref(), tz)?;
    let compiled = filter(args.filter.as_deref())?;
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
    let iocs = if args.iocs.is_empty() {
        None
    } else {
        Some(load_iocs(&args.iocs, args.lenient)?)
    };
    let rows = Rows::new(
        iocs.as_ref(),
        args.only_ioc,
        input_names(&inputs),
        TableWriter::create(args.out.as_deref())?,
    );
    // Created before the run, so a name it cannot write stops the run before it starts.
    let tunnels = args
        .tunnels
        .as_deref()
        .map(|p| TableWriter::create(Some(p)))
        .transpose()?;
    let mut display = Display::new(args.quiet, total_size(&inputs));
    let mut pipeline = Pipeline::new(cfg, args.hash);
    pipeline.window = win;
    pipeline.filter = compiled;
    let shards = super::flow_shards(args.threads)?;
    let (read, mut rows) = match iocs.as_ref() {
        Some(set) if shards > 1 => {
            let internal = internal_nets(&args.internal)?;
            let sinks: Vec<_> = (0..shards)
                .map(|_| {
                    Attributor::new(
                        set,
                        internal.clone(),
                        args.dns_grace,
                        Collector::new(None, true),
                    )
                    .shared_dns()
                })
                .collect();
            let mut gather = Gather {
                rows,
                content: None,
            };
            let (read, _) =
                pipeline.run_sharded(&inputs, sinks, true, &mut gather, &mut display)?;
            (read, gather.rows)
        }
        Some(set) => {
            let internal = internal_nets(&args.internal)?;
            let mut a = Attributor::new(set, internal, args.dns_grace, rows);
            (pipeline.run(&inputs, &mut a, &mut display), a.inner)
        }
        None if shards > 1 => {
            let sinks: Vec<_> = (0..shards).map(|_| Collector::new(None, false)).collect();
            let mut gather = Gather {
                rows,
                content: None,
            };
            let (read, _) =
                pipeline.run_sharded(&inputs, sinks, false, &mut gather, &mut display)?;
            (read, gather.rows)
        }
        None => {
            let mut rows = rows;
            (pipeline.run(&inputs, &mut rows, &mut display), rows)
        }
    };
    display.done();
    rows.close().with_context(|| match args.out.as_deref() {
        Some(p) => format!("writing {}", p.display()),
        None => "writing the flow ledger to standard output".to_string(),
    })?;
    if let Some(w) = tunnels {
        exfilmeter_estimate::write_tunnels(&read, &input_names(&inputs), w)?;
    }
    if !args.quiet {
        let st = pipeline.tracker_stats();
        let skipped: u64 = pipeline.decoder.stats().skipped.values().sum();
        eprintln!(
            "exfilmeter flows: {} files, {} frames, {} packets, {} skipped frames, {} flows, {} ledger rows; \
             caps: {} flows evicted, {} gaps from out-of-order buffer caps (peak buffered {} bytes, peak flows {})",
            read.files.len(),
            read.files.iter().map(|f| f.summary.packets).sum::<u64>(),
            st.packets,
            skipped,
            st.flows,
            rows.written,
            st.evicted,
            st.cap_gaps,
            st.peak_ooo_bytes,
            st.peak_flows
        );
        for (name, v) in window_counters(&pipeline) {
            eprintln!("exfilmeter flows: {name}: {v}");
        }
    }
    Ok(if read.partial {
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
