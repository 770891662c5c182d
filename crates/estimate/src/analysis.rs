//! What `analyze` writes after the captures are read: the tables of one run (daily, periods,
//! confirmed records, sightings, sweep hosts, IOC flows) from the content ledger, and the
//! run's counters for the report's data-quality section.

use crate::collect::{ContentLedger, ContentStats};
use crate::periods::Period;
use crate::pipeline::{Pipeline, Read};
use crate::reconcile::{recon_by_day, recon_of, records_seen, Recon};
use crate::tables::{
    daily_table, ioc_flows_table, periods_table, records_table, sightings_table, sweep_table,
    write_csv, write_parquet,
};
use exfilmeter_content::{RecordModel, RecoveredIndex};
use exfilmeter_flow::{Day, DayClock};
use polars::prelude::PolarsResult;
use std::collections::BTreeMap;
use std::path::Path;

/// What the tables of a run are made from.
pub struct Run<'a> {
    /// The content ledger after every flow ended.
    pub content: &'a ContentLedger<'a>,
    /// The recovered rows, when there are recovered files.
    pub index: Option<&'a RecoveredIndex>,
    /// The record model of the recovered files.
    pub model: Option<&'a RecordModel>,
    /// Records staged in total, when known (caps `records_high`).
    pub staged: Option<u64>,
    /// The local days covered by the captures ([`covered_days`]).
    pub range: Option<(i32, i32)>,
    /// Time zone of the case.
    pub tz: chrono_tz::Tz,
    /// Each input's file name by file index.
    pub names: &'a [String],
    /// `--sweep` was asked for.
    pub sweep: bool,
}

/// The local days from the first to the last frame of all inputs.
pub fn covered_days(read: &Read, tz: chrono_tz::Tz) -> Option<(i32, i32)> {
    let mut clock = DayClock::new(tz);
    read.span()
        .map(|(a, b)| (clock.local_day(a).0, clock.local_day(b).0))
}

/// The analyst's periods, or one period `capture` over the covered days when none was given.
pub fn periods_or_capture(periods: Option<Vec<Period>>, range: Option<(i32, i32)>) -> Vec<Period> {
    match periods {
        Some(p) => p,
        None => match range {
            Some((a, b)) => vec![Period {
                name: "capture".into(),
                start: Day(a).date(),
                end: Day(b).date(),
            }],
            None => Vec::new(),
        },
    }
}

impl Run<'_> {
    /// Writes `daily.csv`, `daily.parquet`, `periods.csv`, `ioc_flows.csv` and, with recovered
    /// files, `confirmed_records.csv` and `sightings.csv` (and `sweep_hosts.csv` with the
    /// sweep) into `out`; returns the number of day × host rows.
    pub fn write_tables(&self, out: &Path, periods: &[Period]) -> PolarsResult<usize> {
        let c = self.content;
        let recon = self.index.map(|ix| recon_by_day(ix, &c.sightings));
        let mut daily = daily_table(
            &c.days,
            &c.units,
            self.model,
            self.staged,
            self.range,
            recon.as_ref(),
        )?;
        write_csv(&mut daily, &out.join("daily.csv"))?;
        write_parquet(&mut daily, &out.join("daily.parquet"))?;
        let span = |lo: i32, hi: i32, host: Option<&str>| -> Recon {
            match self.index {
                Some(ix) => recon_of(
                    ix,
                    c.sightings
                        .iter()
                        .filter(|x| x.day >= lo && x.day <= hi && host.is_none_or(|h| x.host == h)),
                ),
                None => Recon::default(),
            }
        };
        let span_ref: &dyn Fn(i32, i32, Option<&str>) -> Recon = &span;
        let mut ptable = periods_table(&daily, periods, self.index.map(|_| span_ref))?;
        write_csv(&mut ptable, &out.join("periods.csv"))?;
        if let Some(ix) = self.index {
            let seen = records_seen(ix, &c.sightings);
            let mut t = records_table(&seen, ix, self.tz, self.names, &self.indicators())?;
            write_csv(&mut t, &out.join("confirmed_records.csv"))?;
            let mut t = sightings_table(ix, &c.sightings)?;
            write_csv(&mut t, &out.join("sightings.csv"))?;
            if self.sweep {
                let mut t = sweep_table(&c.sweep_hits, ix, self.tz)?;
                write_csv(&mut t, &out.join("sweep_hosts.csv"))?;
            }
        }
        let mut t = ioc_flows_table(&c.flows, self.tz, self.names)?;
        write_csv(&mut t, &out.join("ioc_flows.csv"))?;
        Ok(daily.height())
    }

    /// The indicators each host was attributed by (`;`-joined, in order of first use).
    fn indicators(&self) -> BTreeMap<String, String> {
        let mut indicators: BTreeMap<String, String> = BTreeMap::new();
        for d in &self.content.days {
            if d.indicator.is_empty() {
                continue;
            }
            let e = indicators.entry(d.host.clone()).or_default();
            for i in d.indicator.split(';') {
                if !e.split(';').any(|x| x == i) {
                    if !e.is_empty() {
                        e.push(';');
                    }
                    e.push_str(i);
                }
            }
        }
        indicators
    }
}

/// The counters of a run, in the order the report lists them: what was read, decoded and
/// tracked, what the caps and damage cost, what the content ledger skipped.
/// `sweep`: `--sweep` was on (its bytes searched are counted).
pub fn counters(
    read: &Read,
    pipeline: &Pipeline,
    content: &ContentLedger<'_>,
    sweep: bool,
) -> Vec<(String, u64)> {
    let st = pipeline.tracker.stats();
    let dstats = pipeline.decoder.stats();
    let files = &read.files;
    let mut out: Vec<(String, u64)> = vec![
        (
            "frames read".into(),
            files.iter().map(|f| f.summary.packets).sum(),
        ),
        ("packets decoded".into(), dstats.packets),
        ("flows".into(), st.flows),
        (
            "flows attributed to an indicator".into(),
            content.stats.ioc_flows,
        ),
        ("flows evicted at the flow cap".into(), st.evicted),
        ("gaps from out-of-order buffer caps".into(), st.cap_gaps),
        (
            "input files with damage".into(),
            files
                .iter()
                .filter(|f| !f.summary.errors.is_empty())
                .count() as u64,
        ),
        (
            "bytes skipped behind damage".into(),
            files.iter().map(|f| f.summary.bytes_skipped).sum(),
        ),
        (
            "frames cut by the snapshot length".into(),
            files.iter().map(|f| f.summary.truncated).sum(),
        ),
    ];
    for (reason, n) in &dstats.skipped {
        out.push((format!("frames skipped: {reason}"), *n));
    }
    content_counters(&content.stats, &mut out);
    if sweep {
        out.push(("bytes searched by --sweep".into(), content.sweep_bytes));
    }
    out
}

fn content_counters(c: &ContentStats, out: &mut Vec<(String, u64)>) {
    out.push(("HTTP bodies scanned".into(), c.bodies));
    out.push((
        "bodies whose decoding stopped (gap, corrupt, size limit)".into(),
        c.broken_bodies,
    ));
    out.push((
        "bodies sent before their flow was attributed (not scanned)".into(),
        c.unflagged_bodies,
    ));
    out.push((
        "bodies decoded as the continuation of the previous request's compressed stream".into(),
        c.continued_bodies,
    ));
}
