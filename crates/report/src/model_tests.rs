//! Report model tests: many hosts are shown as the top ones and one "other hosts" entry,
//! with every byte still accounted for; the rendered report stays small.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::csv::Table;

/// `hosts` hosts over `days` days: host `i` sends `(i + 1) * 1000` bytes a day in
/// `flows_per_day` flows; daily.csv, periods.csv (one period) and ioc_flows.csv.
fn tables(hosts: usize, days: usize, flows_per_day: usize) -> (Table, Table, Table) {
    let mut daily = String::from(
        "day,host,stream_bytes,gap_bytes,records_low,records_point,records_high,status\n",
    );
    let mut periods = String::from("period,start,end,host,stream_bytes,gap_bytes,records_low,records_point,records_high,status\n");
    let mut flows =
        String::from("flow_id,host,evidence,first_seen_local,last_seen_local,stream_bytes\n");
    let mut all = 0u64;
    for d in 0..days {
        for i in 0..hosts {
            let b = (i as u64 + 1) * 1000;
            daily.push_str(&format!(
                "2014-09-{:02},h{i:04}.example,{b},0,1,2,3,ok\n",
                d + 1
            ));
            for f in 0..flows_per_day {
                flows.push_str(&format!(
                    "{d}{i}{f},h{i:04}.example,ip:f#1,2014-09-{:02}T10:{:02}:00+09:00,2014-09-{:02}T10:{:02}:30+09:00,{}\n",
                    d + 1,
                    f % 60,
                    d + 1,
                    f % 60,
                    b / flows_per_day as u64
                ));
            }
        }
    }
    for i in 0..hosts {
        let b = (i as u64 + 1) * 1000 * days as u64;
        all += b;
        periods.push_str(&format!(
            "capture,2014-09-01,2014-09-{days:02},h{i:04}.example,{b},0,{days},{},{},ok\n",
            2 * days,
            3 * days
        ));
    }
    periods.push_str(&format!(
        "capture,2014-09-01,2014-09-{days:02},(all),{all},0,0,0,0,ok\n"
    ));
    (
        Table::parse(&daily).unwrap(),
        Table::parse(&periods).unwrap(),
        Table::parse(&flows).unwrap(),
    )
}

#[test]
fn beyond_the_top_hosts_the_rest_are_summed_in_one_entry_with_every_byte_kept() {
    let (daily, periods, flows) = tables(40, 2, 3);
    let r = Report::build(
        Manifest::default(),
        daily,
        periods,
        &FlowSummary::of(&flows),
        None,
    )
    .unwrap();
    assert_eq!(r.hosts.len(), TOP_HOSTS + 1);
    assert_eq!(r.other_hosts.len(), 40 - TOP_HOSTS);
    // The top host first (by bytes), the other entry last and grey in the charts.
    assert_eq!(r.hosts[0].host, "h0039.example");
    assert_eq!(r.hosts[TOP_HOSTS - 1].host, "h0015.example");
    let other = &r.hosts[TOP_HOSTS];
    assert_eq!(other.host, "other hosts (15)");
    assert!(r.other_hosts.contains(&"h0000.example".to_string()));
    // h0000..h0014 send 1..15 kB a day for two days.
    let stream = LAYERS.iter().position(|c| *c == "stream_bytes").unwrap();
    assert_eq!(other.layers[stream], (1..=15).sum::<u64>() * 1000 * 2);
    assert_eq!(other.flows, 15 * 2 * 3);
    assert_eq!(other.active_days, 2);
    let total: u64 = r.hosts.iter().map(|h| h.layers[stream]).sum();
    assert_eq!(total, (1..=40).sum::<u64>() * 1000 * 2);
    for (_, per_host) in &r.bytes_by_day {
        assert_eq!(per_host.len(), r.hosts.len());
        assert_eq!(per_host.iter().sum::<u64>(), (1..=40).sum::<u64>() * 1000);
    }
    // Timeline rows: one per entry, the other hosts' flows on the last.
    assert_eq!(r.timeline.lanes.len(), r.hosts.len());
    let flows_of = |lane: &[crate::model::Mark]| lane.iter().map(|m| m.flows).sum::<u64>();
    assert_eq!(flows_of(&r.timeline.lanes[TOP_HOSTS]), 90);
    assert_eq!(
        r.timeline.lanes.iter().map(|l| flows_of(l)).sum::<u64>(),
        r.timeline.flows
    );
    // The report's per-day table: the top hosts and one summed row per day.
    let md = crate::layout::markdown(&crate::doc::blocks(&r, true, 0), &[]);
    assert!(!md.contains("| h0000.example"), "a hidden host has no row");
    let rows: Vec<&str> = md
        .lines()
        .filter(|l| l.starts_with("| 2014-09-01 | other hosts (15) |"))
        .collect();
    assert_eq!(rows.len(), 1, "{md}");
    assert!(rows[0].contains("| 120,000 |"), "{}", rows[0]);
    assert!(md.contains("| capture | other hosts (15) | 240,000 |"));
    assert!(md.contains("40 hosts received traffic"));
}

#[test]
fn up_to_the_top_hosts_every_host_is_shown_by_name() {
    let (daily, periods, flows) = tables(TOP_HOSTS, 1, 1);
    let r = Report::build(
        Manifest::default(),
        daily,
        periods,
        &FlowSummary::of(&flows),
        None,
    )
    .unwrap();
    assert_eq!(r.hosts.len(), TOP_HOSTS);
    assert!(r.other_hosts.is_empty());
    assert_eq!(r.hosts[0].host, "h0000.example", "sorted by name");
}

#[test]
fn the_report_of_thousands_of_hosts_stays_small() {
    let (daily, periods, flows) = tables(3_000, 3, 10);
    let r = Report::build(
        Manifest::default(),
        daily,
        periods,
        &FlowSummary::of(&flows),
        None,
    )
    .unwrap();
    let charts = crate::svg::charts(&r);
    let blocks = crate::doc::blocks(&r, true, charts.len());
    let html = crate::layout::html(&blocks, &charts, "en");
    assert!(html.len() < 3 << 20, "report.html {} bytes", html.len());
    assert!(html.contains("other hosts (2,975)"));
}

/// The timeline read from ioc_flows.csv in its own time order, from a file whose rows are out
/// of that order (sorted in memory), each with its flows kept from the first read and read
/// again (two passes, nothing kept per flow), and from a table in memory: the same marks.
#[test]
fn the_timeline_is_the_same_however_its_flows_are_read() {
    let (daily, periods, _) = tables(30, 1, 1);
    let mut rows: Vec<(i64, String)> = Vec::new();
    for k in 0..3_000u64 {
        // Bursts and gaps over a day, hosts interleaved; some flows of one second.
        let t = (k * 7_919) % 85_000;
        let (h, m, s) = (t / 3600, t % 3600 / 60, t % 60);
        let len = if k % 5 == 0 { 0 } else { k % 900 };
        let e = t + len;
        let (eh, em, es) = (e / 3600, e % 3600 / 60, e % 60);
        rows.push((
            t as i64,
            format!(
                "{k},h{:04}.example,ip:f#1,2014-09-01T{h:02}:{m:02}:{s:02}+09:00,2014-09-01T{eh:02}:{em:02}:{es:02}+09:00,{}\n",
                k % 30,
                k * 3
            ),
        ));
    }
    let header = "flow_id,host,evidence,first_seen_local,last_seen_local,stream_bytes\n";
    let text = |rows: &[(i64, String)]| {
        let mut s = header.to_string();
        for (_, r) in rows {
            s.push_str(r);
        }
        s
    };
    let shuffled = text(&rows);
    rows.sort_by_key(|(t, r)| (*t, r.split(',').next().unwrap().parse::<u64>().unwrap()));
    let sorted = text(&rows);
    let dir = tempfile::tempdir().unwrap();
    let timeline_of = |f: &FlowSummary| {
        Report::build(Manifest::default(), daily.clone(), periods.clone(), f, None)
            .unwrap()
            .timeline
    };
    let mut got = Vec::new();
    for (name, body) in [("sorted.csv", &sorted), ("shuffled.csv", &shuffled)] {
        let p = dir.path().join(name);
        std::fs::write(&p, body).unwrap();
        let kept = FlowSummary::read(&p).unwrap();
        assert!(matches!(kept.source, FlowSource::Kept(_)), "{name}: kept");
        got.push(timeline_of(&kept));
        let again = FlowSummary::read_keeping(&p, 2_999).unwrap();
        assert!(
            matches!(again.source, FlowSource::File(..)),
            "{name}: read again"
        );
        got.push(timeline_of(&again));
    }
    got.push(timeline_of(&FlowSummary::of(
        &Table::parse(&shuffled).unwrap(),
    )));
    assert_eq!(got[0].flows, 3_000);
    assert!(
        got[0].lanes.iter().map(Vec::len).sum::<usize>() > 30,
        "marks drawn"
    );
    for (i, how) in [
        "read again",
        "out of time order, kept",
        "out of time order, read again",
        "in memory",
    ]
    .iter()
    .enumerate()
    {
        assert!(got[0] == got[i + 1], "{how}: not the same marks");
    }
}
