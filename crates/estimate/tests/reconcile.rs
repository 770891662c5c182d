//! Sightings merged as they accumulate give the same outputs as the raw sightings: the records
//! seen, the reconciliation per day and host, and `sightings.csv`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use exfilmeter_content::testkit::{at, csv_index};
use exfilmeter_estimate::{
    recon_by_day, records_seen, sightings_table, Level, Pending, RecordSeen, Sighting, Sightings,
};
use exfilmeter_flow::FlowId;

#[test]
fn repeated_sightings_merge_into_one_per_row_level_day_and_host() {
    let text: String = (0..10)
        .map(|i| format!("{},x{i}\n", 100_000_000 + i))
        .collect();
    let (_dir, idx) = csv_index(&text, true);
    // The 10 rows sent 10,000 times over, at falling times (the last is the earliest),
    // on two days and to two hosts; some cut.
    let raw: Vec<Sighting> = (0..100_000u64)
        .map(|i| {
            let (ts, frame) = at(1_000_000 - i);
            Sighting {
                seen: Pending {
                    row: (i % 10) as u32,
                    level: if i % 7 == 0 {
                        Level::Partial
                    } else {
                        Level::Confirmed
                    },
                    ts,
                    frames: (frame, frame),
                    bytes: 12,
                    count: 1,
                },
                day: (i % 2) as i32,
                host: ["a", "b"][(i / 2 % 2) as usize].into(),
                flow: FlowId(i),
                unnamed: None,
            }
        })
        .collect();
    let mut merged: Sightings<Sighting> = Sightings::default();
    let mut most = 0;
    for s in raw.iter().cloned() {
        merged.extend([s]);
        most = most.max(merged.list.len());
    }
    merged.compact();
    // 10 rows × 2 levels × 2 days × 2 hosts at most, and never much more held.
    assert!(merged.list.len() <= 80, "{}", merged.list.len());
    assert!(most <= 4096 + 2 * 80, "held {most}");
    let total: u64 = merged.list.iter().map(|s| s.seen.count).sum();
    assert_eq!(total, 100_000);
    // Every output is the same as from the raw sightings.
    // (What confirmed_records.csv shows of each record: its first sighting, how many.)
    let shown = |v: Vec<RecordSeen>| -> Vec<_> {
        v.into_iter()
            .map(|r| {
                let f = r.first;
                let seen = (f.seen.ts, f.seen.frames, f.day, f.host, f.flow);
                (r.row, r.level, seen, r.sightings, r.days)
            })
            .collect()
    };
    assert_eq!(
        shown(records_seen(&idx, &merged.list)),
        shown(records_seen(&idx, &raw))
    );
    assert_eq!(recon_by_day(&idx, &merged.list), recon_by_day(&idx, &raw));
    let (m, r) = (
        sightings_table(&idx, &merged.list).unwrap(),
        sightings_table(&idx, &raw).unwrap(),
    );
    assert!(m.equals(&r));
}
