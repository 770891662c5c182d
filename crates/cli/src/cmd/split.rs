//! `exfilmeter split`: capture files cut into bucket files by flow, for a run spread over
//! many machines (docs/scale-out.md, decision 0027).

use crate::Outcome;
use anyhow::{bail, Context, Result};
use exfilmeter_estimate::input_names;
use exfilmeter_estimate::split::{split_file, SplitConfig, SplitProgress, MAX_BUCKETS};
use exfilmeter_estimate::Progress as _;
use exfilmeter_ingest::{expand_inputs, HashAlgo};
use std::path::PathBuf;

/// Arguments of `split`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Writes OUT/file=<index>/ per capture: bucket=<b>.pcapng for each bucket (the \
frames of the flows that hash to it, unchanged, each with a comment naming its original file, \
frame number and byte offset), dns.pcapng (every DNS-port packet: the bucket tasks learn the \
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
    #[arg(long, short = 'b', value_name = "N", required_unless_present = "list")]
    pub buckets: Option<usize>,
    /// Output folder (a file=<index> folder is written in it per capture).
    #[arg(long, short, value_name = "DIR", required_unless_present = "list")]
    pub out: Option<PathBuf>,
    /// Split only the captures with these indices in the run (comma-separated or repeated):
    /// CAPTURES are then the whole run's, so every task gives its files the run's indices and
    /// names, and a folder's non-capture files are left out as one run leaves them.
    #[arg(long, value_name = "I", value_delimiter = ',', num_args = 1..)]
    pub only: Vec<u32>,
    /// Print the run's captures as CAPTURES expand (one JSON object per line: index, path,
    /// name, in_folder) and split nothing: a driver plans its split tasks from it.
    #[arg(long, conflicts_with_all = ["only", "buckets", "out"])]
    pub list: bool,
    /// Index in the run of the first capture given (when the run's files are split by
    /// several tasks, each is given its files' place in the whole list).
    #[arg(long, value_name = "I")]
    pub index: Option<u32>,
    /// Digest of each input file: sha256 (default) or none.
    #[arg(long, value_name = "ALGO", default_value = "sha256", value_parser = super::hash_parser())]
    pub hash: HashAlgo,
    /// Only packets matching this capture filter, in tcpdump's syntax (the rest are counted).
    #[arg(long, short = 'f', value_name = "EXPR")]
    pub filter: Option<String>,
    /// No line per file and no progress bar on standard error (damage is still printed).
    #[arg(long, short)]
    pub quiet: bool,
}

/// Runs `split`.
pub fn run(args: Args) -> Result<Outcome> {
    let inputs = expand_inputs(&args.paths)?;
    let names = input_names(&inputs);
    let first = args.index.unwrap_or(0);
    if args.list {
        for (j, (input, name)) in inputs.iter().zip(&names).enumerate() {
            let index = first.saturating_add(u32::try_from(j).unwrap_or(u32::MAX));
            let line = serde_json::json!({
                "index": index,
                "path": input.path.display().to_string(),
                "name": name,
                "in_folder": input.origin == exfilmeter_ingest::InputOrigin::Directory,
            });
            println!("{line}");
        }
        return Ok(Outcome::Complete);
    }
    let (Some(buckets), Some(out)) = (args.buckets, args.out.clone()) else {
        bail!("--buckets and --out are required");
    };
    if buckets == 0 || buckets > MAX_BUCKETS {
        bail!("--buckets must be between 1 and {MAX_BUCKETS}");
    }
    let last = first
        .checked_add(u32::try_from(inputs.len()).unwrap_or(u32::MAX))
        .context("--index too large")?;
    if let Some(i) = args.only.iter().find(|&&i| i < first || i >= last) {
        bail!(
            "--only {i}: the run has captures {} to {} ({} given)",
            first,
            last.saturating_sub(1),
            inputs.len()
        );
    }
    exfilmeter_estimate::readable_inputs(&args.paths, &inputs).map_err(|e| anyhow::anyhow!(e))?;
    let cfg = SplitConfig {
        buckets,
        hash: args.hash,
        filter: super::flows::filter(args.filter.as_deref())?,
        expr: args.filter.clone(),
        // Without --index the captures given are the whole run (with --only too); with it,
        // the run's size is the caller's to know.
        run_files: if args.index.is_none() {
            u32::try_from(inputs.len()).ok()
        } else {
            None
        },
    };
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut partial = false;
    let chosen = |j: usize| {
        let index = first.saturating_add(u32::try_from(j).unwrap_or(u32::MAX));
        args.only.is_empty() || args.only.contains(&index)
    };
    // Sizes of the chosen inputs (0 for the others), for the progress display.
    let sizes: Vec<u64> = inputs
        .iter()
        .enumerate()
        .map(|(j, i)| {
            if chosen(j) {
                std::fs::metadata(&i.path).map_or(0, |m| m.len())
            } else {
                0
            }
        })
        .collect();
    let total: u64 = sizes.iter().sum();
    let mut display = crate::progress::Display::new(args.quiet, total);
    let mut done = 0u64;
    for (j, input) in inputs.iter().enumerate() {
        let index = first
            .checked_add(u32::try_from(j).unwrap_or(u32::MAX))
            .context("--index too large")?;
        if !args.only.is_empty() && !args.only.contains(&index) {
            continue;
        }
        let name = names.get(j).cloned().unwrap_or_default();
        let at = SplitProgress { before: done };
        let sf = split_file(input, index, &name, &cfg, &out, &mut display, at)?;
        done += sizes.get(j).copied().unwrap_or(0);
        let shown = input.path.display();
        if input.origin == exfilmeter_ingest::InputOrigin::Directory
            && sf.summary.as_ref().is_some_and(|s| s.not_a_capture())
        {
            // One run leaves such a file out without a word against the run; so does split
            // (its split.json says so, and the bucket task and merge leave it out too).
            display.ignored(&shown.to_string());
            continue;
        }
        if let Some(p) = &sf.problem {
            display.problem(&format!("exfilmeter: {shown}: {p}"));
            partial = true;
        }
        if let Some(s) = &sf.summary {
            for e in &s.errors {
                display.problem(&format!("exfilmeter: {shown}: {e}"));
            }
            partial |= !s.errors.is_empty();
        }
        if !args.quiet {
            let frames: u64 = sf.written.iter().map(|w| w.frames).sum();
            display.say(&format!(
                "exfilmeter split: {shown} (file {index}): {} packets → {} buckets ({} frames, {} held fragments), {} to dns.pcapng",
                sf.packets, sf.buckets, frames, sf.held, sf.dns.packets
            ));
        }
    }
    display.done();
    Ok(if partial {
        Outcome::Partial
    } else {
        Outcome::Complete
    })
}
