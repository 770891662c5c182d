//! On every capture of the peer suites (`../shared/peer-suites`: Zeek's and Suricata's own test
//! traces, traffic nobody here wrote), with every flow attributed to an indicator: no flow-day
//! counts more application bytes than the flow sent (`app_bytes ≤ stream_bytes + gap_bytes`;
//! the payload for UDP and ICMP),
//! and the declared-but-unsent bytes are never part of them.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use exfilmeter_estimate::{
    Collector, ContentLedger, Pipeline, RecordFormat, RecordShape, Rules, ShardSink,
};
use exfilmeter_flow::{DayClock, TrackerConfig};
use exfilmeter_ingest::{expand_inputs, HashAlgo};
use exfilmeter_intel::{Attributor, Internal, IocSet};

#[test]
fn no_flow_day_of_any_peer_capture_counts_more_app_bytes_than_were_sent() {
    let Some(root) = exfilmeter_testkit::shared("peer-suites") else {
        return;
    };
    let files = exfilmeter_testkit::capture_files(&root);
    assert!(files.len() > 600, "{} captures", files.len());
    let dir = tempfile::tempdir().unwrap();
    let iocs = dir.path().join("all.txt");
    std::fs::write(&iocs, "0.0.0.0/0\n::/0\n").unwrap();
    let set = IocSet::load(&[&iocs], false).unwrap();
    let shape = RecordShape {
        format: RecordFormat::Csv,
        ..RecordShape::default()
    };
    let (mut flow_days, mut with_app, mut cut) = (0u64, 0u64, 0u64);
    for f in &files {
        let Ok(inputs) = expand_inputs(&[f.display().to_string()]) else {
            continue;
        };
        let ledger = ContentLedger::new(
            &shape,
            Rules::default(),
            DayClock::new(chrono_tz::UTC),
            &set,
        );
        // A shard's sink keeps what each closed flow added: every flow's own rows (the run's
        // ledger sums them per day and host).
        let sink = Collector::new(Some(ledger.for_shard()), true);
        let mut a = Attributor::new(&set, Internal::default(), 3600, sink);
        let _ =
            Pipeline::new(TrackerConfig::default(), HashAlgo::None).run(&inputs, &mut a, &mut ());
        let closed: Vec<_> = a.take().filter_map(|c| c.content).collect();
        for r in closed.iter().flat_map(|c| c.days()).filter(|r| r.c2s) {
            flow_days += 1;
            with_app += u64::from(r.app_bytes > 0);
            cut += u64::from(r.unsent_declared_bytes > 0);
            // (UDP and ICMP flows have no stream: what they sent is their payload.)
            let sent = match r.stream_bytes + r.gap_bytes {
                0 => r.payload_bytes,
                n => n,
            };
            assert!(
                r.app_bytes <= sent,
                "{}: flow {} day {}: app {} > stream {} + gap {} (unsent declared {})",
                f.display(),
                r.flow_id,
                r.day,
                r.app_bytes,
                r.stream_bytes,
                r.gap_bytes,
                r.unsent_declared_bytes
            );
        }
    }
    // The check saw real traffic: thousands of flow-days, many with application bytes, and
    // bodies cut by their connection's end.
    assert!(flow_days > 5_000, "{flow_days} flow-days");
    assert!(with_app > 500, "{with_app} flow-days with app bytes");
    eprintln!("{flow_days} flow-days, {with_app} with app bytes, {cut} with unsent declared bytes");
}
