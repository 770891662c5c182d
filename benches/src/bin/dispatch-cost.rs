//! `dispatch-cost CAPTURE`: what the reading thread of a sharded run (`--threads N`, decision
//! 0025) costs alone, in one run, best of 3 passes each: reading and decoding only, then also
//! hashing each packet to one of 2 or 16 shards and copying it into that shard's batch (the
//! batches dropped), with and without DNS answers parsed for attribution. The reading thread is
//! serial, so one packet's total cost there bounds a sharded run on any number of cores:
//! the projected ceiling is 1 / that cost. Prints one `key value` per line.

use exfilmeter_estimate::Pipeline;
use exfilmeter_flow::TrackerConfig;
use exfilmeter_ingest::{HashAlgo, Input, InputOrigin};

fn best(input: &[Input], n: usize, dns: bool) -> (u64, f64) {
    (0..3)
        .map(|_| {
            let c = Pipeline::new(TrackerConfig::default(), HashAlgo::None)
                .dispatch_only(input, n, dns);
            (c.packets, c.secs)
        })
        .fold((0, f64::INFINITY), |a, b| (b.0, a.1.min(b.1)))
}

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: dispatch-cost CAPTURE");
        std::process::exit(2);
    };
    let input = vec![Input {
        path: path.clone().into(),
        origin: InputOrigin::Explicit,
    }];
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let (packets, read) = best(&input, 0, false);
    if packets == 0 {
        eprintln!("dispatch-cost: no packet in {path}");
        std::process::exit(1);
    }
    let ns = |s: f64| s * 1e9 / packets as f64;
    println!("packets {packets}");
    println!("read_decode_ns_per_packet {:.1}", ns(read));
    for (n, dns) in [(2, false), (16, false), (16, true)] {
        let (_, secs) = best(&input, n, dns);
        let tag = format!("{n}_shards{}", if dns { "_dns" } else { "" });
        println!(
            "dispatch_{tag}_ns_per_packet {:.1}",
            ns(secs - read).max(0.0)
        );
        println!("reader_total_{tag}_ns_per_packet {:.1}", ns(secs));
        println!(
            "ceiling_{tag} {:.2} Mpackets/s {:.2} GB/s",
            packets as f64 / secs / 1e6,
            bytes as f64 / secs / 1e9
        );
    }
}
