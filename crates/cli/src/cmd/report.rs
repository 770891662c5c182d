//! `exfilmeter report --from DIR`: re-renders report.html, report.md, the charts and the
//! manifest's output digests from the tables of a previous `analyze` run, without reading
//! the captures again; with `--periods FILE`, first recomputes periods.csv for new analyst
//! periods from the run's daily table and record sightings.

use super::case::relative_to;
use super::case::Case;
use crate::Outcome;
use anyhow::{bail, Context, Result};
use exfilmeter_estimate::analysis::{periods_from_tables, read_sightings};
use exfilmeter_estimate::{load_periods, read_parquet, write_csv};
use exfilmeter_report::Manifest;
use std::path::{Path, PathBuf};

/// Arguments of `report`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Reads DIR/manifest.json, daily.csv, periods.csv, ioc_flows.csv and \
sweep_hosts.csv (when present); writes DIR/report.html, report.md, publication.csv, \
summary.json, charts/*.svg and rewrites manifest.json with the SHA-256 of every file in DIR. The numbers shown are the tables' own. \
With --periods, periods.csv is first recomputed for the new periods from daily.parquet and \
sightings.csv (exactly as `analyze --periods` would), and case.toml and the manifest name the \
new periods file."
)]
pub struct Args {
    /// Folder of a previous `analyze` run.
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    /// New analyst periods (CSV `name,start,end` or TOML), whole local days.
    #[arg(long, value_name = "FILE")]
    pub periods: Option<PathBuf>,
    /// Leave the wall-clock time and the literal command line out (byte-identical output).
    #[arg(long)]
    pub reproducible: bool,
    /// No summary on stderr (warnings are still printed).
    #[arg(long, short)]
    pub quiet: bool,
    /// Language of report.html and report.md: en or ja [default: the run's].
    #[arg(long, value_name = "LANG", value_parser = ["en", "ja"])]
    pub lang: Option<String>,
}

/// Recomputes DIR/periods.csv for `periods_file` and records the file in case.toml and the
/// manifest.
fn repartition(dir: &Path, periods_file: &Path) -> Result<()> {
    let (periods, warnings) = load_periods(periods_file)?;
    for w in &warnings {
        eprintln!("exfilmeter: warning: {w}");
    }
    let daily_path = dir.join("daily.parquet");
    let daily =
        read_parquet(&daily_path).with_context(|| format!("reading {}", daily_path.display()))?;
    let mut manifest = Manifest::read(dir)?;
    let sightings_path = dir.join("sightings.csv");
    let sightings = if manifest.recovered.is_empty() {
        None
    } else if sightings_path.is_file() {
        Some(read_sightings(&sightings_path)?)
    } else {
        bail!(
            "{}: missing; it is needed to reconcile new periods (re-run analyze)",
            sightings_path.display()
        );
    };
    let mut table = periods_from_tables(&daily, &periods, sightings.as_deref())?;
    write_csv(&mut table, &dir.join("periods.csv"))?;
    // The run's settings now name the new periods file.
    let dir_abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let rel = |p: &Path| relative_to(&dir_abs, p);
    let case_path = dir.join("case.toml");
    let mut case = Case::load(&case_path)?;
    case.periods = Some(periods_file.to_path_buf());
    std::fs::write(&case_path, case.to_toml(rel)?)
        .with_context(|| format!("writing {}", case_path.display()))?;
    manifest.case = serde_json::to_value(case.relative(rel))?;
    let warnings_counter = "period warnings";
    for c in &mut manifest.counters {
        if c.name == warnings_counter {
            c.value = warnings.len() as u64;
        }
    }
    manifest.write(dir)?;
    Ok(())
}

/// Runs `report`.
pub fn run(args: Args) -> Result<Outcome> {
    if !args.from.join(exfilmeter_report::MANIFEST).is_file() {
        bail!(
            "{}: no {} (not the output folder of `exfilmeter analyze`)",
            args.from.display(),
            exfilmeter_report::MANIFEST
        );
    }
    if let Some(p) = &args.periods {
        repartition(&args.from, p)?;
    }
    if let Some(l) = &args.lang {
        let mut m = Manifest::read(&args.from)?;
        m.lang = l
            .parse()
            .map_err(|e: String| anyhow::anyhow!("--lang {e}"))?;
        m.write(&args.from)?;
    }
    let stamp = (!args.reproducible)
        .then(|| chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let report = exfilmeter_report::render_dir(&args.from, stamp, false)?;
    // summary.json follows the re-rendered headline; the run's exit status stays its own.
    let status = std::fs::read_to_string(args.from.join(exfilmeter_report::SUMMARY))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["exit_status"].as_i64())
        .unwrap_or(0);
    exfilmeter_report::write_summary_of(&args.from, &report, i32::try_from(status).unwrap_or(0))?;
    if !args.quiet {
        eprintln!(
            "exfilmeter report: re-rendered from the tables → {}",
            args.from.join("report.html").display()
        );
    }
    Ok(Outcome::Complete)
}
