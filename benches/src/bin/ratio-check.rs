//! `ratio-check FORMAT FILE…`: the record model's compression ratios (sampled, decision 0023)
//! beside the reference measurement they replace — every codec on all the records up to
//! 32 MiB, beyond that on the first and the last 16 MiB (decision 0018) — and the difference.
//! The files are taken as records without header lines (as `--header no`).

use exfilmeter_content::{whole_ratios, Header, RecordFormat, RecordModel};
use std::time::Instant;

/// The reference sample of decision 0018.
const WHOLE: usize = 32 << 20;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(format), files) = (args.next(), args.collect::<Vec<_>>()) else {
        eprintln!("usage: ratio-check lines|csv|fixed:N FILE…");
        std::process::exit(2);
    };
    if files.is_empty() {
        eprintln!("usage: ratio-check lines|csv|fixed:N FILE…");
        std::process::exit(2);
    }
    let format: RecordFormat = format.parse()?;
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let t = Instant::now();
    let model = RecordModel::build(&files, &format, Header::No, None)?;
    let sampled_s = t.elapsed().as_secs_f64();
    let mut all = Vec::new();
    for f in &files {
        all.extend_from_slice(&std::fs::read(f)?);
    }
    let t = Instant::now();
    let reference = if all.len() <= WHOLE {
        whole_ratios(&all, threads)
    } else {
        // Two blocks: the ratio of the sums of their raw and compressed sizes.
        let h = WHOLE / 2;
        let a = whole_ratios(&all[..h], threads);
        let b = whole_ratios(&all[all.len() - h..], threads);
        a.iter()
            .zip(&b)
            .map(|((c, ra), (_, rb))| {
                let z = h as f64 / ra + h as f64 / rb;
                (c.clone(), 2.0 * h as f64 / z)
            })
            .collect()
    };
    let reference_s = t.elapsed().as_secs_f64();
    println!(
        "{} bytes of records; sampled model {sampled_s:.2} s, reference {reference_s:.2} s ({threads} threads)",
        all.len()
    );
    println!(
        "{:<10} {:>9} {:>9} {:>9} {:>8}  measured on",
        "codec", "sampled", "±95 %", "reference", "diff %"
    );
    let mut worst: f64 = 0.0;
    for (codec, want) in &reference {
        let Some(r) = model.ratios.iter().find(|r| &r.codec == codec) else {
            println!("{codec:<10} missing from the model");
            continue;
        };
        let diff = (r.ratio / want - 1.0) * 100.0;
        worst = worst.max(diff.abs());
        let on = if r.blocks == 0 {
            "all records".to_string()
        } else {
            format!("{} blocks, {} bytes", r.blocks, r.measured)
        };
        println!(
            "{codec:<10} {:>9.4} {:>8.2}% {want:>9.4} {diff:>+8.3}  {on}",
            r.ratio,
            r.half_width * 100.0
        );
    }
    println!("largest difference {worst:.3} %");
    Ok(())
}
