//! `exfilmeter split`: capture files cut into bucket files by flow, for a run spread over
//! many machines (docs/scale-out.md, decision 0027).

use crate::Outcome;
use anyhow::{bail, Context, Result};
use exfilmeter_estimate::input_names;
use exfilmeter_estimate::split::{split_file, SplitConfig, MAX_BUCKETS};
use exfilmeter_ingest::{expand_inputs, HashAlgo};
use std::path::PathBuf;

/// Arguments of `split`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Writes OUT/file=<index>/ per capture: bucket=<b>.pcapng for each bucket (the \
frames of the flows that hash to it, unchanged, each with a comment naming its original file, \
frame number and byte offset), dns.pcapng (every port-53 packet: the bucket tasks learn the \
run's DNS answers from it) and split.json (the file's summary and SHA-256, packet count, clock, \
what each bucket got). The hash of a flow is the one of the thread shards (both directions, \
inner flow of a tunnel). IP fragments held for reassembly go to every bucket. See \
docs/scale-out.md."
)]
pub struct Args {
    /// Capture files, directories or glob patterns, in the run's order (sorted, as one sensor).
    #[arg(required = true, value_name = "CAPTURES")]
    pub paths: Vec<String>,
    /// Number of buckets (1 to 4096); every split of a run must use the same number.
    #[arg(long, short = 'b', value_name = "N")]
    pub buckets: usize,
    /// Output folder (a file=<index> folder is written in it per capture).
    #[arg(long, short, value_name = "DIR")]
    pub out: PathBuf,
    /// Index in the run of the first capture given (when the run's files are split by
    /// several tasks, each is given its files' place in the whole list).
    #[arg(long, value_name = "I", default_value_t = 0)]
    pub index: u32,
    /// Digest of each input file: sha256 (default) or none.
    #[arg(long, value_name = "ALGO", default_value = "sha256", value_parser = super::hash_parser())]
    pub hash: HashAlgo,
    /// Only packets matching this capture filter, in tcpdump's syntax (the rest are counted).
    #[arg(long, short = 'f', value_name = "EXPR")]
    pub filter: Option<String>,
    /// No line per file on standard error.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Runs `split`.
pub fn run(args: Args) -> Result<Outcome> {
    if args.buckets == 0 || args.buckets > MAX_BUCKETS {
        bail!("--buckets must be between 1 and {MAX_BUCKETS}");
    }
    let inputs = expand_inputs(&args.paths)?;
    exfilmeter_estimate::readable_inputs(&args.paths, &inputs).map_err(|e| anyhow::anyhow!(e))?;
    let cfg = SplitConfig {
        buckets: args.buckets,
        hash: args.hash,
        filter: super::flows::filter(args.filter.as_deref())?,
        expr: args.filter.clone(),
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let names = input_names(&inputs);
    let mut partial = false;
    for (j, input) in inputs.iter().enumerate() {
        let index = args
            .index
            .checked_add(u32::try_from(j).unwrap_or(u32::MAX))
            .context("--index too large")?;
        let name = names.get(j).cloned().unwrap_or_default();
        let sf = split_file(input, index, &name, &cfg, &args.out)?;
        let shown = input.path.display();
        if let Some(p) = &sf.problem {
            eprintln!("exfilmeter: {shown}: {p}");
            partial = true;
        }
        if let Some(s) = &sf.summary {
            for e in &s.errors {
                eprintln!("exfilmeter: {shown}: {e}");
            }
            partial |= !s.errors.is_empty();
        }
        if !args.quiet {
            let frames: u64 = sf.written.iter().map(|w| w.frames).sum();
            eprintln!(
                "exfilmeter split: {shown} (file {index}): {} packets → {} buckets ({} frames, {} held fragments), {} to dns.pcapng",
                sf.packets, sf.buckets, frames, sf.held, sf.dns.packets
            );
        }
    }
    Ok(if partial {
        Outcome::Partial
    } else {
        Outcome::Complete
    })
}
