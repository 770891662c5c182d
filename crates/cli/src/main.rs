//! `exfilmeter`: network-traffic forensics — how much data left, on which days, and whose.
//!
//! `main` only parses arguments, dispatches to a subcommand and maps the outcome to an
//! exit status: 0 complete, 1 partial (some input damaged; results still written),
//! 2 usage or fatal error.

mod cmd;
mod progress;
mod tz;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// What a subcommand achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything read cleanly.
    Complete,
    /// Results were produced, but some input was damaged or unreadable.
    Partial,
}

#[derive(Parser, Debug)]
#[command(
    name = "exfilmeter",
    version,
    about = "Network-traffic forensics: how much data left, on which days, and whose",
    long_about = None
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Summarise capture files: format, interfaces, packets, bytes, time span, hashes, damage
    Inspect(cmd::inspect::Args),
    /// Reconstruct flows and write the per-day byte ledger (CSV or Parquet)
    Flows(cmd::flows::Args),
    /// Record model of recovered files: record sizes, compression ratios per codec
    Calibrate(cmd::calibrate::Args),
    /// Everything: flows, IOC attribution, daily volume and record estimates, periods, report
    Analyze(cmd::analyze::Args),
    /// Re-render report.html, report.md and the manifest from a previous analyze folder
    Report(cmd::report::Args),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Inspect(args) => cmd::inspect::run(args),
        Command::Flows(args) => cmd::flows::run(args),
        Command::Calibrate(args) => cmd::calibrate::run(args),
        Command::Analyze(args) => cmd::analyze::run(args),
        Command::Report(args) => cmd::report::run(args),
    };
    match result {
        Ok(Outcome::Complete) => ExitCode::SUCCESS,
        Ok(Outcome::Partial) => ExitCode::from(1),
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("exfilmeter: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
