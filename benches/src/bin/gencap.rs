//! `gencap OUT.pcap SIZE_MB [SEED]`: writes a deterministic synthetic capture.
//! `gencap --many-flows OUT.pcap SIZE_MB [SEED]`: many short connections (HTTP, TLS, DNS).
//! `gencap --many-flows-live OUT.pcap SIZE_MB [SEED]`: the same in a twentieth of the capture
//! time, so that every connection is still held (lingering after its FIN) at the end.
//! `gencap --synflood OUT.pcap N`: N half-open flows.
//! `gencap --hole OUT.pcap SIZE_MB`: one flow with SIZE_MB of data behind a missing segment.
//! `gencap --iocs OUT.txt N`: N synthetic indicators.
//! `gencap --records OUT.csv N [SEED]`: N member records of the model case's shape.

use exfilmeter_benches::{
    write_capture, write_hole, write_iocs, write_many_flows, write_member_records, write_synflood,
    GenConfig,
};
use std::io::BufWriter;

const START: u32 = 1_411_084_800; // 2014-09-19 00:00:00 UTC

/// `SIZE_MB [SEED]` (after the output path) as a capture to generate.
fn capture_config(rest: &[String]) -> GenConfig {
    let mb: f64 = rest[1].parse().unwrap_or(1.0);
    let seed: u64 = rest.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    GenConfig {
        target_bytes: (mb * 1_000_000.0) as u64,
        seed,
        start_secs: START,
        time_div: 1,
    }
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = || {
        eprintln!("usage: gencap OUT.pcap SIZE_MB [SEED] | gencap --many-flows[-live] OUT.pcap SIZE_MB [SEED] | gencap --synflood OUT.pcap N | gencap --hole OUT.pcap SIZE_MB | gencap --iocs OUT.txt N | gencap --records OUT.csv N [SEED]");
        std::process::exit(2);
    };
    if args.len() < 3 {
        usage();
    }
    let (mode, rest) = if args[1].starts_with("--") {
        (args[1].as_str(), &args[2..])
    } else {
        ("", &args[1..])
    };
    if rest.len() < 2 {
        usage();
    }
    let file = BufWriter::with_capacity(1 << 20, std::fs::File::create(&rest[0])?);
    let n = match mode {
        "--synflood" => write_synflood(file, rest[1].parse().unwrap_or(1_000_000), START)?,
        "--hole" => write_hole(
            file,
            (rest[1].parse::<f64>().unwrap_or(1.0) * 1e6) as u64,
            START,
        )?,
        "--many-flows" | "--many-flows-live" => {
            let mut flows = 0;
            let mut cfg = capture_config(rest);
            if mode == "--many-flows-live" {
                cfg.time_div = 20;
            }
            let n = write_many_flows(file, &cfg, &mut flows)?;
            eprintln!(
                "{flows} TCP connections ({:.0} per GB)",
                flows as f64 * 1e9 / n.max(1) as f64
            );
            n
        }
        "--records" => {
            let seed = rest.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
            write_member_records(file, rest[1].parse().unwrap_or(36_082), seed)?
        }
        "--iocs" => {
            write_iocs(file, rest[1].parse().unwrap_or(10_000), 7)?;
            0
        }
        "" => write_capture(file, &capture_config(rest))?,
        _ => {
            usage();
            0
        }
    };
    eprintln!("wrote {n} bytes to {}", rest[0]);
    Ok(())
}
