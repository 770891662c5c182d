//! `flow-cost CAPTURE`: the cost of flow tracking per packet and per flow, with heap
//! allocations counted, in one run: pass 1 reads and decodes only, pass 2 also tracks flows
//! (TCP reassembly, application layer, ledger) into a sink that drops the records. The
//! difference of the two passes is the tracker's cost. Prints one `key value` per line.

use exfilmeter_flow::{FlowRecord, FlowSink, Tracker, TrackerConfig};
use exfilmeter_ingest::{CaptureReader, Decoded, Decoder, FileId, HashAlgo};
use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;
use std::time::Instant;

/// The system allocator, counted (the `exfilmeter` binary itself runs on mimalloc, decision
/// 0024: its times are the bench script's).
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Drops what the tracker emits; counts closed flows.
#[derive(Default)]
struct Drop {
    closed: u64,
}

impl FlowSink for Drop {
    fn closed(&mut self, _record: FlowRecord) {
        self.closed += 1;
    }
}

struct Pass {
    secs: f64,
    packets: u64,
    bytes: u64,
    allocs: u64,
    alloc_bytes: u64,
    flows: u64,
    /// Most heap bytes held at once (sampled every 1,024 packets), beyond those held at the start.
    peak_heap: u64,
    peak_flows: u64,
}

fn pass(path: &str, track: bool) -> std::io::Result<Pass> {
    let mut reader = CaptureReader::open(std::path::Path::new(path), FileId(0), HashAlgo::None)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut decoder = Decoder::default();
    let mut tracker = Tracker::new(TrackerConfig::default());
    let mut sink = Drop::default();
    let s0 = GLOBAL.stats();
    let t = Instant::now();
    let held = |s: &stats_alloc::Stats| s.bytes_allocated.saturating_sub(s.bytes_deallocated);
    let base = held(&s0);
    let mut peak_heap = 0usize;
    let (mut packets, mut bytes) = (0u64, 0u64);
    while let Some(frame) = reader.next_frame() {
        bytes += frame.data.len() as u64;
        if let Decoded::Packet(p) = decoder.decode(&frame) {
            packets += 1;
            if track {
                tracker.packet(&p, &mut sink);
            }
            if packets % 1_024 == 0 {
                peak_heap = peak_heap.max(held(&GLOBAL.stats()).saturating_sub(base));
            }
        }
    }
    peak_heap = peak_heap.max(held(&GLOBAL.stats()).saturating_sub(base));
    tracker.finish(&mut sink);
    let s1 = GLOBAL.stats();
    Ok(Pass {
        secs: t.elapsed().as_secs_f64(),
        packets,
        bytes,
        allocs: (s1.allocations + s1.reallocations) as u64
            - (s0.allocations + s0.reallocations) as u64,
        alloc_bytes: (s1.bytes_allocated - s0.bytes_allocated) as u64,
        flows: tracker.stats().flows,
        peak_heap: peak_heap as u64,
        peak_flows: tracker.stats().peak_flows,
    })
}

fn main() -> std::io::Result<()> {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: flow-cost CAPTURE");
        std::process::exit(2);
    };
    let read = pass(&path, false)?;
    let tracked = pass(&path, true)?;
    let flows = tracked.flows.max(1) as f64;
    let pk = tracked.packets.max(1) as f64;
    let cost = (tracked.secs - read.secs).max(0.0);
    println!("packets {}", tracked.packets);
    println!("flows {}", tracked.flows);
    println!("read_decode_s {:.3}", read.secs);
    println!("tracked_s {:.3}", tracked.secs);
    println!(
        "tracked_mb_s {:.0}",
        tracked.bytes as f64 / 1e6 / tracked.secs
    );
    println!("tracker_ns_per_packet {:.0}", cost * 1e9 / pk);
    println!("tracker_us_per_flow {:.2}", cost * 1e6 / flows);
    let allocs = tracked.allocs.saturating_sub(read.allocs) as f64;
    println!("tracker_allocs_per_flow {:.2}", allocs / flows);
    println!("tracker_allocs_per_packet {:.3}", allocs / pk);
    println!(
        "tracker_alloc_bytes_per_flow {:.0}",
        tracked.alloc_bytes.saturating_sub(read.alloc_bytes) as f64 / flows
    );
    println!("peak_flows {}", tracked.peak_flows);
    println!(
        "peak_heap_mib {:.1}",
        tracked.peak_heap as f64 / f64::from(1u32 << 20)
    );
    println!(
        "peak_heap_bytes_per_live_flow {:.0}",
        tracked.peak_heap.saturating_sub(read.peak_heap) as f64 / tracked.peak_flows.max(1) as f64
    );
    Ok(())
}
