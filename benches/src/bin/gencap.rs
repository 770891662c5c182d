//! `gencap OUT.pcap SIZE_MB [SEED]`: writes a deterministic synthetic capture.

use exfilmeter_benches::{write_capture, GenConfig};
use std::io::BufWriter;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: gencap OUT.pcap SIZE_MB [SEED]");
        std::process::exit(2);
    }
    let mb: f64 = args[2].parse().unwrap_or(1.0);
    let seed: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
    let file = std::fs::File::create(&args[1])?;
    let cfg = GenConfig {
        target_bytes: (mb * 1_000_000.0) as u64,
        seed,
        // 2014-09-19 00:00:00 UTC
        start_secs: 1_411_084_800,
    };
    let n = write_capture(BufWriter::with_capacity(1 << 20, file), &cfg)?;
    eprintln!("wrote {n} bytes to {}", args[1]);
    Ok(())
}
