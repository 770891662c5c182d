//! `exfilmeter report --from DIR`: re-renders report.html, report.md, the charts and the
//! manifest's output digests from the tables of a previous `analyze` run, without reading
//! the captures again (after an analyst edited a table's wording, or to regenerate the
//! report with a newer renderer).

use crate::Outcome;
use anyhow::{bail, Result};
use std::path::PathBuf;

/// Arguments of `report`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Reads DIR/manifest.json, daily.csv, periods.csv, ioc_flows.csv and \
sweep_hosts.csv (when present); writes DIR/report.html, report.md, charts/*.svg and rewrites \
manifest.json with the SHA-256 of every file in DIR. The numbers shown are the tables' own."
)]
pub struct Args {
    /// Folder of a previous `analyze` run.
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    /// Leave the wall-clock time and the literal command line out (byte-identical output).
    #[arg(long)]
    pub reproducible: bool,
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
    let stamp = (!args.reproducible)
        .then(|| chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    exfilmeter_report::render_dir(&args.from, stamp)?;
    Ok(Outcome::Complete)
}
