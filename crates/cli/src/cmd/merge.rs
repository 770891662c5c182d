//! `exfilmeter merge`: the partials of every bucket of a split run merged into the outputs
//! of one run (docs/scale-out.md, decision 0028).

use crate::Outcome;
use anyhow::{bail, Result};
use std::path::PathBuf;

/// Arguments of `merge`: those of `analyze` (the run's settings, which every partial must
/// have been made with), the split folders, and the partial folders as CAPTURES.
#[derive(clap::Args, Debug)]
#[command(
    mut_arg("paths", |a| a
        .value_name("PARTIALS")
        .help("The partial folders `analyze --partial` wrote, one per bucket")),
    mut_arg("partial", |a| a.hide(true)),
    mut_arg("bucket", |a| a.hide(true)),
    mut_arg("since", |a| a.hide(true)),
    mut_arg("until", |a| a.hide(true)),
    after_help = "PARTIALS are the folders `analyze --partial DIR --bucket B` wrote, one per \
bucket; --splits names the `split` output (the file=<index> folders, or the folders that hold \
them). Every bucket must be there once, made from the same captures (SHA-256) with the same \
settings as this merge (IOC and recovered files by SHA-256, time zone, rules, filter, caps): \
a mismatch is refused with the settings that differ. The closed flows of the buckets are put \
back in the order one run closes them, so the outputs (report, tables, manifest) are those of \
`analyze` on the same captures; with --reproducible, byte for byte. See docs/scale-out.md."
)]
pub struct MergeArgs {
    /// The folders `split` wrote for the run, or their file=<index> folders.
    #[arg(long, required = true, num_args = 1.., value_name = "DIR")]
    pub splits: Vec<PathBuf>,
    /// The captures as the run was given them (files, folders, globs): case.toml and the
    /// manifest name them when they expand to the split inputs (else the inputs themselves).
    #[arg(long, num_args = 1.., value_name = "CAPTURES")]
    pub captures: Vec<String>,
    #[command(flatten)]
    pub analyze: super::analyze::Args,
}

/// Runs `merge`.
pub fn run(args: MergeArgs) -> Result<Outcome> {
    if args.analyze.partial.is_some() {
        bail!("--partial belongs to `analyze`; merge takes the partial folders as arguments");
    }
    if args.analyze.paths.is_empty() {
        bail!("no partial folders given (PARTIALS: the folders `analyze --partial` wrote)");
    }
    super::analyze::run_mode(
        args.analyze,
        super::analyze::Mode::Merge {
            splits: args.splits,
            captures: args.captures,
        },
    )
}
