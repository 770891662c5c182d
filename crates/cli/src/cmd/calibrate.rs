//! `exfilmeter calibrate`: the record model of recovered files — how many records, how
//! big as stored, how well they compress — as a table or JSON.

use crate::Outcome;
use anyhow::{anyhow, Result};
use exfilmeter_estimate::{Header, KeySpec, ModelOptions, RecordFormat, RecordModel};
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `calibrate`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Recovered files (staging files found on the compromised machines).
    #[arg(long, required = true, num_args = 1.., value_name = "FILE")]
    pub recovered: Vec<PathBuf>,
    /// Record layout: lines, csv (quoted newlines stay inside a record) or fixed:N.
    #[arg(long, value_name = "FORMAT", default_value = "lines")]
    pub record_format: String,
    /// Key of a record (e.g. the member number): 1-based column, header name, or a regex
    /// with one capture group.
    #[arg(long, value_name = "COLUMN|REGEX")]
    pub key: Option<String>,
    /// Whether the first line is a header: yes, no or auto.
    #[arg(long, value_name = "YES|NO|AUTO", default_value = "auto", value_parser = ["yes", "no", "auto"])]
    pub header: String,
    /// Write JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Threads the compression ratios are measured on [default: every core]; the result is
    /// the same for any value.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub cache: super::CacheArgs,
}

/// Bytes of recovered files `calibrate` holds in memory: it builds no index, so larger files
/// are streamed (read once for the hash, once for the model) instead of held.
const CALIBRATE_MEMORY: u64 = 64 << 20;

/// Sample sizes for which the bootstrap interval of the mean record size is shown.
const SAMPLES: [u64; 4] = [10, 100, 1_000, 10_000];

/// Runs `calibrate`.
pub fn run(args: Args) -> Result<Outcome> {
    let format: RecordFormat = args
        .record_format
        .parse()
        .map_err(|e| anyhow!("--record-format {e}"))?;
    let header: Header = args.header.parse().map_err(|e| anyhow!("--header {e}"))?;
    let key = args
        .key
        .as_deref()
        .map(KeySpec::parse)
        .transpose()
        .map_err(|e| anyhow!("--key {e}"))?;
    let files =
        exfilmeter_estimate::recovered::open(&args.recovered, &format, header, CALIBRATE_MEMORY)?;
    let opts = ModelOptions {
        threads: super::model_threads(args.threads)?,
        cache: args.cache.dir(),
    };
    let m = RecordModel::of(&files, &format, key.as_ref(), &opts)?;
    if let Some(w) = &m.ratio_source.warning {
        eprintln!("exfilmeter: warning: {w}");
    }
    let intervals: Vec<(u64, (f64, f64))> = SAMPLES
        .iter()
        .map(|&n| (n, m.mean_interval(n, 1000)))
        .collect();
    let missing: u64 = m.files.iter().map(|f| f.missing_keys).sum();
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &json_doc(&m, &intervals))?;
        writeln!(out)?;
    } else {
        write_text(&mut out, &m, &intervals)?;
    }
    if missing > 0 {
        eprintln!("exfilmeter: warning: {missing} records have no key");
    }
    Ok(Outcome::Complete)
}

/// The record model as one JSON document.
fn json_doc(m: &RecordModel, intervals: &[(u64, (f64, f64))]) -> serde_json::Value {
    let (r_min, r_max) = m.r_range();
    json!({
        "format": m.format,
        "files": m.files.iter().map(|f| json!({
            "path": f.path.display().to_string(),
            "size": f.size,
            "records": f.records,
            "header": f.header,
            "missing_keys": f.missing_keys,
        })).collect::<Vec<_>>(),
        "records": m.count(),
        "record_bytes": {
            "mean": m.mean, "sd": m.sd, "min": m.min, "max": m.max,
            "quantiles": m.quantiles.iter().map(|(q, v)| json!({"q": q, "bytes": v})).collect::<Vec<_>>(),
        },
        "compression": m.ratios.iter().map(|r| json!({
            "codec": r.codec,
            "ratio": r.ratio,
            "half_width_95": r.half_width,
            "measured_bytes": r.measured,
            "compressed": r.compressed,
            "blocks": r.blocks,
        })).collect::<Vec<_>>(),
        "compression_source": {
            "cached": m.ratio_source.hit,
            "cache_entry": m.ratio_source.cache.as_ref().map(|p| p.display().to_string()),
            "cache_key": m.ratio_source.key,
            "entry_sha256": m.ratio_source.entry_sha256,
        },
        "r_min": r_min,
        "r_max": r_max,
        "mean_interval_95": intervals.iter().map(|(n, (lo, hi))| json!({"records": n, "low": lo, "high": hi})).collect::<Vec<_>>(),
    })
}

/// The record model as text.
fn write_text(
    out: &mut impl Write,
    m: &RecordModel,
    intervals: &[(u64, (f64, f64))],
) -> std::io::Result<()> {
    let (r_min, r_max) = m.r_range();
    writeln!(
        out,
        "record model ({} records, format {})",
        m.count(),
        m.format
    )?;
    for f in &m.files {
        writeln!(
            out,
            "  {}  {} bytes, {} records{}{}",
            f.path.display(),
            f.size,
            f.records,
            if f.header {
                ", header line excluded"
            } else {
                ""
            },
            if f.missing_keys > 0 {
                format!(", {} without a key", f.missing_keys)
            } else {
                String::new()
            }
        )?;
    }
    writeln!(
        out,
        "record size (bytes as stored): mean {:.2}, sd {:.2}, min {}, max {}",
        m.mean, m.sd, m.min, m.max
    )?;
    let q: Vec<String> = m
        .quantiles
        .iter()
        .map(|(q, v)| format!("p{}={v:.1}", (q * 100.0).round()))
        .collect();
    writeln!(out, "  quantiles: {}", q.join(" "))?;
    writeln!(
        out,
        "compression ratio (raw / compressed){}:",
        if m.ratio_source.hit {
            ", from the model cache"
        } else {
            ""
        }
    )?;
    for r in &m.ratios {
        let how = if r.blocks == 0 {
            "all records".to_string()
        } else {
            format!(
                "{} blocks, {} bytes, 95 % ±{:.2} %",
                r.blocks,
                r.measured,
                r.half_width * 100.0
            )
        };
        writeln!(out, "  {:<10} r = {:.3}  ({how})", r.codec, r.ratio)?;
    }
    writeln!(out, "  r range {r_min:.3} .. {r_max:.3}")?;
    writeln!(
        out,
        "mean size of n consecutive records, 95 % interval (moving-block bootstrap):"
    )?;
    for (n, (lo, hi)) in intervals {
        writeln!(out, "  n = {n:<6} {lo:.2} .. {hi:.2}")?;
    }
    Ok(())
}
