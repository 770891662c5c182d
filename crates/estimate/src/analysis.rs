//! What `analyze` writes after the captures are read: the tables of one run (daily, periods,
//! confirmed records, sightings, sweep hosts, IOC flows) from the content ledger, and the
//! run's counters for the report's data-quality section.

use crate::collect::{ContentLedger, ContentStats};
use crate::periods::Period;
use crate::pipeline::{Pipeline, Read};
use crate::reconcile::{recon_by_day, recon_of, records_seen, Recon, Sighting};
use crate::tables::{
    daily_table, periods_table, records_table, sightings_table, sweep_table, write_csv,
    write_ioc_flows_sorted, write_parquet,
};
use exfilmeter_content::{RecordModel, RecoveredIndex};
use exfilmeter_flow::{Day, DayClock, TrackerStats};
use exfilmeter_ingest::SkipReason;
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
    pub covered: Vec<(i32, i32)>,
    /// Time zone of the case.
    pub tz: chrono_tz::Tz,
    /// Each input's file name by file index.
    pub names: &'a [String],
    /// `--sweep` was asked for.
    pub sweep: bool,
    /// `--assume HOST=CODEC`: how the analyst knows a host's opaque channel packs records.
    pub assumed: BTreeMap<String, crate::estimator::Content>,
}

/// The local days the captures cover: each file's plausibly stamped frames (from 1990 on,
/// [`exfilmeter_ingest::PLAUSIBLE_FROM`]), first to last, cut where two days pass without a
/// frame and without the clock outliers of [`FileSummary::covered`](exfilmeter_ingest::FileSummary::covered),
/// merged into disjoint spans in day order. A file stamped 1970 beside 2008 traffic, or one
/// frame stamped 2037 in a file of 2008, adds no decades of empty days.
pub fn covered_days(read: &Read, tz: chrono_tz::Tz) -> Vec<(i32, i32)> {
    let mut clock = DayClock::new(tz);
    let mut spans: Vec<(i32, i32)> = read
        .files
        .iter()
        .flat_map(|f| f.summary.covered().0)
        .map(|(a, b)| (clock.local_day(a).0, clock.local_day(b).0))
        .collect();
    spans.sort_unstable();
    let mut merged: Vec<(i32, i32)> = Vec::with_capacity(spans.len());
    for (a, b) in spans {
        match merged.last_mut() {
            // Overlapping or on consecutive days: one span.
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    merged
}

/// The analyst's periods, or one period `capture` over the covered days when none was given.
pub fn periods_or_capture(periods: Option<Vec<Period>>, covered: &[(i32, i32)]) -> Vec<Period> {
    let range = covered.first().zip(covered.last()).map(|(a, b)| (a.0, b.1));
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
    /// sweep) into `out`; returns the number of day × host rows. `each_flow` sees every IOC
    /// flow as `ioc_flows.csv` is written (in its order, with its end-of-run host), so what
    /// else needs them (the STIX sightings) needs no second read of the spilled flows.
    pub fn write_tables(
        &self,
        out: &Path,
        periods: &[Period],
        each_flow: &mut dyn FnMut(&crate::collect::IocFlow),
    ) -> PolarsResult<usize> {
        let c = self.content;
        let recon = self.index.map(|ix| recon_by_day(ix, &c.sightings));
        let mut daily = daily_table(
            c.days(),
            &c.unit_table(),
            self.model,
            self.staged,
            &self.covered,
            recon.as_ref(),
            &self.assumed,
        )?;
        write_csv(&mut daily, &out.join("daily.csv"))?;
        write_parquet(&mut daily, &out.join("daily.parquet"))?;
        // Sightings by host, found once (a period is reconciled per host and for all).
        let mut sightings_of: std::collections::HashMap<&str, Vec<&Sighting>> =
            std::collections::HashMap::new();
        if self.index.is_some() {
            for x in c.sightings.iter() {
                sightings_of.entry(x.host.as_str()).or_default().push(x);
            }
        }
        let span = |lo: i32, hi: i32, host: Option<&str>| -> Recon {
            let Some(ix) = self.index else {
                return Recon::default();
            };
            let inside = |x: &&Sighting| x.day >= lo && x.day <= hi;
            match host {
                None => recon_of(ix, c.sightings.iter().filter(inside)),
                Some(h) => recon_of(
                    ix,
                    sightings_of
                        .get(h)
                        .into_iter()
                        .flatten()
                        .copied()
                        .filter(inside),
                ),
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
        write_ioc_flows_sorted(
            c.flows.sorted()?.inspect(|f| {
                if let Ok(f) = f {
                    each_flow(f);
                }
            }),
            self.tz,
            self.names,
            &out.join("ioc_flows.csv"),
        )?;
        Ok(daily.height())
    }

    /// The indicators each host was attributed by (`;`-joined, in order of first use).
    fn indicators(&self) -> BTreeMap<String, String> {
        let mut indicators: BTreeMap<String, String> = BTreeMap::new();
        for d in self.content.days() {
            if d.indicator.is_empty() {
                continue;
            }
            let e = indicators.entry(d.host.to_string()).or_default();
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

/// What the flow stage of a run counted: the tracker's counters (every shard's or bucket's
/// added up), the packets decoded and the frames that gave none, by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowCounts {
    /// The tracker's counters.
    pub tracker: TrackerStats,
    /// Packets decoded (a reassembled datagram counts once).
    pub decoded: u64,
    /// Frames that did not become packets, by reason.
    pub skipped: BTreeMap<SkipReason, u64>,
}

impl FlowCounts {
    /// The counters of a run read through `pipeline`.
    pub fn of(pipeline: &Pipeline) -> Self {
        let d = pipeline.decoder.stats();
        FlowCounts {
            tracker: pipeline.tracker_stats(),
            decoded: d.packets,
            skipped: d.skipped.iter().map(|(r, n)| (r.clone(), *n)).collect(),
        }
    }
}

/// The counters of a run, in the order the report lists them: what was read, decoded and
/// tracked, what the caps and damage cost, what the content ledger skipped.
/// `sweep`: `--sweep` was on (its bytes searched are counted).
pub fn counters(
    read: &Read,
    flow: &FlowCounts,
    content: &ContentLedger<'_>,
    sweep: bool,
) -> Vec<(String, u64)> {
    let st = &flow.tracker;
    let files = &read.files;
    let tunnels = read.tunnels();
    let mut out: Vec<(String, u64)> = vec![
        (
            "frames read".into(),
            files.iter().map(|f| f.summary.packets).sum(),
        ),
        ("packets decoded".into(), flow.decoded),
        ("flows".into(), st.flows),
        (
            "flows attributed to an indicator".into(),
            content.stats.ioc_flows,
        ),
        ("flows evicted at the flow cap".into(), st.evicted),
        ("tunnels (tunnels.csv)".into(), tunnels.rows().len() as u64),
        (
            "tunnel frames beyond the tunnel cap (not in tunnels.csv)".into(),
            tunnels.overflow.frames,
        ),
        (
            "frames stamped before 1990 (outside the covered days)".into(),
            files.iter().map(|f| f.summary.implausible_ts).sum(),
        ),
        (
            "frames stamped far from the rest of their file (outside the covered days)".into(),
            files.iter().map(|f| f.summary.covered().1).sum(),
        ),
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
    for (reason, n) in &flow.skipped {
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
    out.push((
        "bodies declared longer than their connection sent (only the sent bytes count)".into(),
        c.cut_bodies,
    ));
}

/// One row of `sightings.csv` read back: what reconciling other periods needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SightingRow {
    /// The record's identity (its key, else `file:line`).
    pub record: String,
    /// How it was seen.
    pub level: exfilmeter_content::Level,
    /// Local day.
    pub day: i32,
    /// Host.
    pub host: String,
    /// Bytes matched.
    pub bytes: u64,
    /// Sightings the row stands for.
    pub count: u64,
}

/// Reads a run's `sightings.csv` back (every cell as text); a row whose level or day does not
/// parse is an error naming the file and line.
pub fn read_sightings(path: &Path) -> PolarsResult<Vec<SightingRow>> {
    use polars::prelude::{CsvReadOptions, PolarsError, SerReader};
    let df = CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .try_into_reader_with_file_path(Some(path.to_path_buf()))?
        .finish()?;
    let col = |name: &str| -> PolarsResult<Vec<String>> {
        Ok(df
            .column(name)?
            .str()?
            .iter()
            .map(|v| v.unwrap_or_default().to_string())
            .collect())
    };
    let (record, level, day, host, bytes, count) = (
        col("record")?,
        col("level")?,
        col("day")?,
        col("host")?,
        col("matched_bytes")?,
        col("sightings")?,
    );
    let bad = |i: usize, what: &str, v: &str| {
        PolarsError::ComputeError(format!("{}:{}: {what} {v:?}", path.display(), i + 2).into())
    };
    let mut out = Vec::with_capacity(record.len());
    for (i, record) in record.into_iter().enumerate() {
        let lv = &level[i];
        let level =
            exfilmeter_content::Level::parse(lv).ok_or_else(|| bad(i, "unknown level", lv))?;
        let d = &day[i];
        let date =
            chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| bad(i, "day", d))?;
        out.push(SightingRow {
            record,
            level,
            day: Day::of(date).0,
            host: host[i].clone(),
            bytes: bytes[i].parse().unwrap_or(0),
            count: count[i]
                .parse()
                .map_err(|_| bad(i, "sightings", &count[i]))?,
        });
    }
    Ok(out)
}

/// The periods table for `periods` from a run's own tables: its daily table, and (with
/// recovered files) its sightings read back — what `analyze --periods` would have written.
pub fn periods_from_tables(
    daily: &polars::prelude::DataFrame,
    periods: &[Period],
    sightings: Option<&[SightingRow]>,
) -> PolarsResult<polars::prelude::DataFrame> {
    let span = |lo: i32, hi: i32, host: Option<&str>| -> Recon {
        crate::reconcile::recon_by_identity(
            sightings
                .into_iter()
                .flatten()
                .filter(|s| s.day >= lo && s.day <= hi && host.is_none_or(|h| s.host == h))
                .map(|s| (s.record.as_str(), s.level, s.bytes, s.count)),
        )
    };
    let span_ref: &dyn Fn(i32, i32, Option<&str>) -> Recon = &span;
    periods_table(daily, periods, sightings.map(|_| span_ref))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::FileRead;
    use exfilmeter_ingest::{FileSummary, Frame, FrameRef, LinkType, Timestamp};

    #[test]
    fn covered_days_merge_per_file_spans_and_ignore_epoch_stamps() {
        const DAY: i64 = 86_400 * 1_000_000_000;
        let file = |frames: &[i64]| {
            let mut summary = FileSummary::new("x.pcap");
            for &d in frames {
                summary.add_frame(&Frame {
                    ts: Timestamp(d * DAY + 3_600 * 1_000_000_000),
                    ts_known: true,
                    frame: FrameRef::default(),
                    interface: 0,
                    link: LinkType::ETHERNET,
                    orig_len: 0,
                    data: &[],
                });
            }
            FileRead {
                name: "x.pcap".into(),
                summary,
                tunnels: Default::default(),
            }
        };
        let read = Read {
            files: vec![
                file(&[14_000, 14_001]),
                file(&[0, 14_002]), // one frame stamped 1970-01-01
                file(&[0]),
                file(&[14_010]),
            ],
            partial: false,
            unreadable: Vec::new(),
        };
        assert_eq!(
            covered_days(&read, chrono_tz::UTC),
            vec![(14_000, 14_002), (14_010, 14_010)]
        );
        assert_eq!(read.files[1].summary.implausible_ts, 1);
        let p = periods_or_capture(None, &covered_days(&read, chrono_tz::UTC));
        assert_eq!(
            (p[0].start, p[0].end),
            (Day(14_000).date(), Day(14_010).date())
        );
    }

    #[test]
    fn sightings_read_back_and_a_bad_row_names_its_line() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let p = dir.path().join("sightings.csv");
        let head = "record,level,day,host,sightings,matched_bytes\n";
        std::fs::write(
            &p,
            format!("{head}100000001,confirmed,2014-09-22,\"a.example, b\",2,40\n"),
        )
        .expect("written");
        let rows = read_sightings(&p).expect("read");
        assert_eq!(
            rows,
            [SightingRow {
                record: "100000001".into(),
                level: exfilmeter_content::Level::Confirmed,
                day: 16_335,
                host: "a.example, b".into(),
                bytes: 40,
                count: 2,
            }]
        );
        std::fs::write(
            &p,
            format!("{head}1,confirmed,2014-09-22,h,1,4\n2,seen,2014-09-22,h,1,4\n"),
        )
        .expect("written");
        let e = read_sightings(&p).expect_err("bad level").to_string();
        assert!(e.contains("sightings.csv:3: unknown level \"seen\""), "{e}");
    }
}
