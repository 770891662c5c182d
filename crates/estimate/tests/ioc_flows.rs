//! `ioc_flows.csv` written in batches without a data frame gives the same bytes as the data
//! frame written by polars, for values that need quoting, empty cells and many rows.

#![allow(clippy::unwrap_used)]

use exfilmeter_estimate::{ioc_flows_table, write_csv, write_ioc_flows, IocFlow};
use exfilmeter_flow::{Counters, FlowId};
use exfilmeter_ingest::{FileId, FrameRef, Timestamp};
use exfilmeter_intel::Via;

fn frame(file: u32, index: u64) -> FrameRef {
    FrameRef {
        file: FileId(file),
        index,
        offset: index * 100,
    }
}

#[test]
fn batched_ioc_flows_are_byte_identical_to_the_data_frame_written_by_polars() {
    let hosts = [
        "c2.example",
        "a,b.example",
        "q\"uote.example",
        "",
        "日本.example",
    ];
    let flows: Vec<IocFlow> = (0..70_000u64)
        .map(|i| IocFlow {
            flow: FlowId(i * 7 % 70_001),
            host: hosts[(i % 5) as usize].into(),
            indicator: if i % 3 == 0 {
                "".into()
            } else {
                "203.0.113.0/24;bad.example".into()
            },
            iocs: Vec::new(),
            evidence: match i % 4 {
                0 => vec![],
                1 => vec![(Via::Ip, frame(0, i))],
                _ => vec![
                    (Via::Dns, frame(1, i)),
                    (Via::Sni, frame(0, i + 1)),
                    (Via::Dns, frame(1, 2)),
                ],
            },
            server: format!("203.0.113.{}", i % 250).into(),
            port: 443,
            first_ts: Timestamp(1_411_084_800_000_000_000 + (i as i64 % 5_000) * 1_000_000_007),
            last_ts: Timestamp(1_411_084_800_000_000_000 + (i as i64 % 5_000) * 1_000_000_007 + 5),
            frames: (frame(0, i), frame(1, i + 3)),
            c2s: Counters {
                frames: i,
                stream_bytes: i * 1_000,
                gap_bytes: i % 2,
                truncated_bytes: 0,
                ..Counters::default()
            },
            unnamed: None,
        })
        .collect();
    let names = vec!["a.pcap".to_string(), "b,c.pcap".to_string()];
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
    let tz = chrono_tz::Asia::Tokyo;
    let mut df = ioc_flows_table(&flows, tz, &names).unwrap();
    write_csv(&mut df, &a).unwrap();
    write_ioc_flows(&flows, tz, &names, &b).unwrap();
    let (a, b) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    assert!(a.len() > 1_000_000);
    assert!(
        a == b,
        "first difference at byte {:?}",
        a.iter().zip(&b).position(|(x, y)| x != y)
    );
    // No flow: the header alone, both ways.
    let (c, d) = (dir.path().join("c.csv"), dir.path().join("d.csv"));
    write_csv(&mut ioc_flows_table(&[], tz, &names).unwrap(), &c).unwrap();
    write_ioc_flows(&[], tz, &names, &d).unwrap();
    assert_eq!(std::fs::read(c).unwrap(), std::fs::read(d).unwrap());
}
