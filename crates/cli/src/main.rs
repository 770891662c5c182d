//! `exfilmeter`: network-traffic forensics — how much data left, on which days, and whose.
//!
//! `main` only parses arguments, dispatches to a subcommand and maps the outcome to an
//! exit status: 0 complete, 1 partial (some input damaged; results still written),
//! 2 usage or fatal error.

mod cmd;
mod progress;
mod tz;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::process::ExitCode;

/// mimalloc instead of the system allocator: many short flows allocate and free small
/// objects in bursts (flow state at close, report cells), where it costs a fraction of
/// glibc's (decision 0024).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (the 16th entry of v3's `mi_option_t`; checked by
/// a unit test against its default of 1,000 ms).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// Freed memory goes back to the system after this many milliseconds. mimalloc 3 keeps it
/// for 1,000 ms, so the bursts of flows closing at each sweep left a run's peak RSS 80–100 MB
/// above its heap (345–368 MiB against 265 MiB at 10 ms, same time; decision 0030).
const PURGE_DELAY_MS: std::ffi::c_long = 10;

/// Sets the allocator's options; called first thing in `main`, before any other thread.
/// `MIMALLOC_PURGE_DELAY` in the environment still wins (mimalloc read it at load, and a
/// default does not replace an option the environment set).
#[allow(unsafe_code)]
fn tune_allocator() {
    // SAFETY: `mi_option_set_default` stores an integer in mimalloc's option table (a plain
    // store, made before any other thread of the process runs); any value is valid for this
    // option.
    unsafe { libmimalloc_sys::mi_option_set_default(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
    no_huge_pages();
}

/// Asks Linux for no transparent huge pages in this process (`PR_SET_THP_DISABLE`). mimalloc
/// advises huge pages on its arenas, and a purged 2 MiB page is zeroed whole when touched
/// again: on many short flows that kept the peak RSS 25–45 MB higher (decision 0030). Best
/// effort: a kernel that refuses leaves the run as it was.
#[cfg(target_os = "linux")]
fn no_huge_pages() {
    let _ = rustix::thread::disable_transparent_huge_pages(true);
}

#[cfg(not(target_os = "linux"))]
fn no_huge_pages() {}

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
    Analyze(Box<cmd::analyze::Args>),
    /// Cut captures into bucket files by flow, for a run spread over many machines
    Split(cmd::split::Args),
    /// Merge the partials of every bucket of a split run into the outputs of one analyze
    Merge(Box<cmd::merge::MergeArgs>),
    /// Re-render report.html, report.md and the manifest from a previous analyze folder
    Report(cmd::report::Args),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish)
    Completions(cmd::shell::CompletionArgs),
    /// Write man pages (exfilmeter.1 and one per subcommand) into a folder
    Man(cmd::shell::ManArgs),
}

/// The exit status every command uses, shown at the end of every `--help`.
const EXIT_STATUS: &str = "Exit status: 0 everything read cleanly; 1 partial (some input damaged \
or unreadable: everything before the damage, and what could be recovered after it, is still \
used and reported); 2 usage or fatal error.";

/// The command line definition, with the exit status at the end of every command's help.
fn command() -> clap::Command {
    let mut cmd = Cli::command().after_help(EXIT_STATUS);
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in names {
        cmd = cmd.mut_subcommand(name, |s| {
            let text = match s.get_after_help() {
                Some(h) => format!("{h}\n\n{EXIT_STATUS}"),
                None => EXIT_STATUS.to_string(),
            };
            s.after_help(text)
        });
    }
    cmd
}

fn main() -> ExitCode {
    tune_allocator();
    let parsed = command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
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
        Command::Analyze(args) => cmd::analyze::run(*args),
        Command::Split(args) => cmd::split::run(args),
        Command::Merge(args) => cmd::merge::run(*args),
        Command::Report(args) => cmd::report::run(args),
        Command::Completions(args) => cmd::shell::completions(&args, command()),
        Command::Man(args) => cmd::shell::man(&args, command()),
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

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// clap's own consistency checks (unique argument and group ids, valid requirements) for
    /// every subcommand at once. clap runs them only in debug builds (as CI's tests are): a
    /// flattened `Args` struct beside another of the same name once passed release tests and
    /// failed every `merge` in a debug build.
    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// The process asks for no transparent huge pages (the flag is per process, so setting it
    /// in the test process is what `main` does).
    #[cfg(target_os = "linux")]
    #[test]
    fn transparent_huge_pages_are_off() {
        super::no_huge_pages();
        assert_eq!(
            rustix::thread::transparent_huge_pages_are_disabled().ok(),
            Some(true)
        );
    }

    /// The option index is mimalloc's purge delay: its default is v3's 1,000 ms (no other
    /// option of the enum before the guarded ones has that default), and setting it reads back.
    /// (The test harness's threads are running: the store is benign here, and `main` makes it
    /// before any thread.)
    #[test]
    #[allow(unsafe_code)]
    fn the_allocator_option_set_is_the_purge_delay() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // SAFETY: reads an integer from mimalloc's option table.
        let get = || unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) };
        assert_eq!(
            get(),
            1000,
            "mimalloc's purge delay default (the option index moved?)"
        );
        super::tune_allocator();
        assert_eq!(get(), super::PURGE_DELAY_MS);
    }
}
