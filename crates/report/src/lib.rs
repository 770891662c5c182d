//! The report responders publish, rendered from the tables of a run folder: `report.html`
//! (one self-contained file: inline CSS and SVG charts, no script, nothing fetched),
//! `report.md` (the same blocks as Markdown, charts linked under `charts/`), `charts/*.svg`,
//! and `manifest.json` (inputs' and outputs' SHA-256, settings, counters).
//!
//! The report reads its numbers back from `daily.csv` and `periods.csv` — it never computes
//! them a second way — so every number it shows is in those tables. Output is deterministic:
//! fixed formatting, sorted rows, and the only wall-clock time (`generated_at`) is left out
//! with `reproducible`.

pub mod csv;
pub mod doc;
pub mod error;
pub mod fmt;
pub mod lang;
pub mod layout;
pub mod manifest;
pub mod model;
pub mod summary;
pub mod svg;

pub use lang::Lang;
pub use manifest::{
    files_under, sha256_file, Capture, Counter, HeaderLine, InputFile, Manifest, Model, OutputFile,
    Ratio, RatiosFrom, Rules, Span, Unreadable, MANIFEST,
};
pub use model::Report;
pub use summary::{write_summary_of, SUMMARY};

use error::io;
pub use error::{ReportError, Result};
use std::path::Path;

/// Files the report writes into the run folder (besides `manifest.json`).
pub const REPORT_FILES: [&str; 2] = ["report.html", "report.md"];

/// Renders `report.html`, `report.md` and `charts/*.svg` into `dir` from its
/// `manifest.json`, `daily.csv`, `periods.csv` (and `ioc_flows.csv`, `sweep_hosts.csv` when
/// present), then rewrites `manifest.json` with the digest of every output. `generated_at`
/// (UTC, RFC 3339) is written into the report and the manifest; `None` is the reproducible
/// mode: no wall-clock time and no literal command line anywhere. Returns the report, with
/// the manifest as written (for [`write_summary_of`], without reading the tables again).
///
/// `fresh`: this process has just written the manifest of `dir` (`analyze`), so only the files
/// rendered here are hashed again; otherwise (`report --from`) every output is.
pub fn render_dir(dir: &Path, generated_at: Option<String>, fresh: bool) -> Result<Report> {
    let mut report = Report::load(dir)?;
    let reproducible = generated_at.is_none();
    report.manifest.generated_at = generated_at;
    if reproducible {
        report.manifest.invocation = None;
    }
    let mut manifest = report.manifest.clone();
    let charts = svg::charts(&report);
    let blocks = doc::blocks(&report, reproducible, charts.len());
    let chart_dir = dir.join("charts");
    std::fs::create_dir_all(&chart_dir).map_err(io("creating", &chart_dir))?;
    let mut written = Vec::new();
    for c in &charts {
        let p = chart_dir.join(&c.file);
        std::fs::write(&p, &c.svg).map_err(io("writing", &p))?;
        written.push(format!("charts/{}", c.file));
    }
    for (name, text) in [
        (
            "report.html",
            layout::html(&blocks, &charts, report.manifest.lang.code()),
        ),
        ("report.md", layout::markdown(&blocks, &charts)),
        ("publication.csv", model::publication_csv(&report)),
    ] {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(io("writing", &p))?;
        written.push(name.to_string());
    }
    if fresh {
        manifest.rewrite(dir, &written)?;
    } else {
        manifest.write(dir)?;
    }
    report.manifest = Manifest::read(dir)?;
    Ok(report)
}
