//! The tables `analyze` writes: the daily table (volume per day × host with the record
//! estimate) and the periods table (the same columns summed over analyst-defined periods),
//! built with polars and written as CSV or Parquet.

use crate::daily::{daily_volume, FlowDay};
use crate::estimator::{estimate_sums, DayEstimate, UnitSums, UnitTable};
use crate::periods::Period;
use crate::reconcile::Recon;
use exfilmeter_content::RecordModel;
use exfilmeter_flow::layer;
use exfilmeter_flow::Day;
use polars::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Columns of the daily table, in order (the estimate columns are null without a record
/// model).
pub const DAILY_COLUMNS: [&str; 39] = [
    "day",
    "indicator",
    "server_name",
    "server_ips",
    "flows",
    layer::FRAMES,
    layer::FRAME_BYTES,
    layer::IP_BYTES,
    layer::PAYLOAD_BYTES,
    layer::STREAM_BYTES,
    layer::RETRANS_BYTES,
    layer::GAP_BYTES,
    "app_bytes",
    "control_bytes",
    "basis_bytes",
    "records_low",
    "records_point",
    "records_high",
    "codec",
    "r_min",
    "r_max",
    "mean_record_bytes",
    "host",
    layer::TRUNCATED_BYTES,
    "decoded_bytes",
    "counted_records",
    "volume_bytes",
    "basis_layer",
    "excluded_control_bytes",
    "unexplained_missing_bytes",
    "capped_by_staged",
    "confirmed",
    "partial",
    "key_only",
    "residual",
    "matched_bytes",
    "status",
    "unsent_declared_bytes",
    "explained",
];

/// The reconciliation status of a row: `no_recovered_file` (no index), `confirmed_exceeds_high`
/// (more records confirmed than the volume allows: an assumption of the model is wrong),
/// `incomplete` (volume but nothing decoded because part of the content is missing from the
/// capture: snaplen, capture gaps, bodies never captured — see [`incomplete`]), `opaque`
/// (volume but nothing decodable), `consistent`.
pub fn status(
    recon: Option<&Recon>,
    high: Option<u64>,
    decoded: u64,
    volume: u64,
    incomplete: bool,
) -> &'static str {
    match recon {
        None => "no_recovered_file",
        Some(r) if high.is_some_and(|h| r.confirmed > h) => "confirmed_exceeds_high",
        Some(r) if r.confirmed == 0 && decoded == 0 && volume > 0 && incomplete => "incomplete",
        Some(r) if r.confirmed == 0 && decoded == 0 && volume > 0 => "opaque",
        Some(_) => "consistent",
    }
}

/// Whether a row's content was cut in the capture rather than opaque: some of its bytes are
/// missing (`missing`: truncated and gap bytes) or a body was never captured, and it is of a
/// kind that decodes (plain, base64, zlib, gzip, zip, deflate, br).
pub fn incomplete(codec: &str, missing: u64) -> bool {
    let kinds = || codec.split(';');
    let decodable = kinds().any(|k| {
        matches!(
            k,
            "plain"
                | "base64"
                | "zlib"
                | "base64+zlib"
                | "gzip"
                | "base64+gzip"
                | "zip"
                | "base64+zip"
                | "deflate"
                | "br"
                | "unseen"
        )
    });
    decodable && (missing > 0 || kinds().any(|k| k == "unseen"))
}

/// The daily table: [`daily_volume`] of the IOC flows' ledger rows, joined with the
/// estimate of each day and host from its units. `covered` holds the covered spans of local
/// days (every day of them appears for every host; empty: each host's own first to last day).
///
/// `recon` (present when recovered files were indexed) adds the reconciliation: records
/// `confirmed`, `partial` and `key_only` that day, `residual = max(0, point − explained)`
/// (sent by volume, not attributable to a record), `matched_bytes` and the [`status`].
pub fn daily_table(
    days: &[FlowDay],
    units: &UnitTable,
    model: Option<&RecordModel>,
    staged: Option<u64>,
    covered: &[(i32, i32)],
    recon: Option<&BTreeMap<(i32, String), Recon>>,
    assumed: &BTreeMap<String, crate::estimator::Content>,
) -> PolarsResult<DataFrame> {
    let vol = daily_volume(days, covered)?;
    let none = UnitSums::default();
    let n = vol.height();
    let day_col = vol.column("day")?.cast(&DataType::Int32)?;
    let day_i = day_col.i32()?;
    let host_s = vol.column("host")?.str()?;
    let num = |c: &str| -> PolarsResult<Vec<u64>> {
        Ok(vol.column(c)?.u64()?.into_no_null_iter().collect())
    };
    let gap = num(layer::GAP_BYTES)?;
    let trunc = num(layer::TRUNCATED_BYTES)?;
    let mut est: Vec<Option<DayEstimate>> = Vec::with_capacity(n);
    let mut rec: Vec<Option<Recon>> = Vec::with_capacity(n);
    let mut unexplained = Vec::with_capacity(n);
    let mut decoded = Vec::with_capacity(n);
    for i in 0..n {
        let key = (day_i.get(i).unwrap_or(0), host_s.get(i).unwrap_or(""));
        let us = units
            .get(&key.0)
            .and_then(|h| h.get(key.1))
            .unwrap_or(&none);
        let extra = (gap[i] + trunc[i]).saturating_sub(us.missing);
        unexplained.push(extra);
        decoded.push(us.decoded_all);
        let a = assumed.get(key.1);
        est.push(model.map(|m| estimate_sums(us, extra, m, staged, a)));
        rec.push(recon.map(|r| {
            r.get(&(key.0, key.1.to_string()))
                .copied()
                .unwrap_or_default()
        }));
    }
    let volume_of = |i: usize| est[i].as_ref().map_or(0, |e| e.volume_bytes);
    let statuses: Vec<&str> = (0..n)
        .map(|i| {
            status(
                rec[i].as_ref(),
                est[i].as_ref().map(|e| e.high),
                decoded[i],
                volume_of(i),
                est[i]
                    .as_ref()
                    .is_some_and(|e| incomplete(&e.codec, gap[i] + trunc[i])),
            )
        })
        .collect();
    let rec_u = |f: fn(&Recon) -> u64| -> Vec<Option<u64>> {
        rec.iter().map(|r| r.as_ref().map(f)).collect()
    };
    let residual: Vec<Option<u64>> = (0..n)
        .map(|i| match (&est[i], &rec[i]) {
            (Some(e), Some(r)) => Some(e.point.saturating_sub(r.explained)),
            (Some(e), None) => Some(e.point),
            _ => None,
        })
        .collect();
    let opt_u = |f: fn(&DayEstimate) -> u64| -> Vec<Option<u64>> {
        est.iter().map(|e| e.as_ref().map(f)).collect()
    };
    let opt_f = |f: fn(&DayEstimate) -> Option<f64>| -> Vec<Option<f64>> {
        est.iter().map(|e| e.as_ref().and_then(f)).collect()
    };
    let opt_s = |f: fn(&DayEstimate) -> String| -> Vec<Option<String>> {
        est.iter().map(|e| e.as_ref().map(f)).collect()
    };
    let mut cols: Vec<Column> = Vec::new();
    for name in DAILY_COLUMNS {
        let c = match name {
            "basis_bytes" => Column::new(name.into(), opt_u(|e| e.basis_bytes)),
            "records_low" => Column::new(name.into(), opt_u(|e| e.low)),
            "records_point" => Column::new(name.into(), opt_u(|e| e.point)),
            "records_high" => Column::new(name.into(), opt_u(|e| e.high)),
            "codec" => Column::new(name.into(), opt_s(|e| e.codec.clone())),
            "r_min" => Column::new(name.into(), opt_f(|e| e.r_min)),
            "r_max" => Column::new(name.into(), opt_f(|e| e.r_max)),
            "mean_record_bytes" => Column::new(name.into(), opt_f(|e| Some(e.mean_record_bytes))),
            "decoded_bytes" => Column::new(name.into(), decoded.clone()),
            "counted_records" => Column::new(name.into(), opt_u(|e| e.counted)),
            "volume_bytes" => Column::new(name.into(), opt_u(|e| e.volume_bytes)),
            "basis_layer" => Column::new(name.into(), opt_s(|e| e.basis_layer.clone())),
            "excluded_control_bytes" => {
                Column::new(name.into(), opt_u(|e| e.excluded_control_bytes))
            }
            "unexplained_missing_bytes" => Column::new(name.into(), unexplained.clone()),
            "confirmed" => Column::new(name.into(), rec_u(|r| r.confirmed)),
            "partial" => Column::new(name.into(), rec_u(|r| r.partial)),
            "key_only" => Column::new(name.into(), rec_u(|r| r.key_only)),
            "residual" => Column::new(name.into(), residual.clone()),
            "matched_bytes" => Column::new(name.into(), rec_u(|r| r.matched_bytes)),
            "explained" => Column::new(name.into(), rec_u(|r| r.explained)),
            "status" => Column::new(name.into(), statuses.clone()),
            "capped_by_staged" => Column::new(
                name.into(),
                est.iter()
                    .map(|e| e.as_ref().map(|e| e.capped_by_staged))
                    .collect::<Vec<Option<bool>>>(),
            ),
            other => vol.column(other)?.clone(),
        };
        cols.push(c);
    }
    DataFrame::new(n, cols)
}

/// The reconciliation of a span of days (first, last) for one host (None: all hosts).
pub type SpanRecon<'a> = &'a dyn Fn(i32, i32, Option<&str>) -> Recon;

/// Columns of the periods table, in order.
pub const PERIOD_SUMS: [&str; 20] = [
    "flows",
    layer::FRAMES,
    layer::FRAME_BYTES,
    layer::IP_BYTES,
    layer::PAYLOAD_BYTES,
    layer::STREAM_BYTES,
    layer::RETRANS_BYTES,
    layer::GAP_BYTES,
    "app_bytes",
    "control_bytes",
    "unsent_declared_bytes",
    "basis_bytes",
    "records_low",
    "records_point",
    "records_high",
    layer::TRUNCATED_BYTES,
    "decoded_bytes",
    "counted_records",
    "volume_bytes",
    "excluded_control_bytes",
];

/// The periods table: for each period, one row per host and one row `(all)` over all
/// hosts, with the sums of [`PERIOD_SUMS`] over the period's days (record bounds add up:
/// the sum of daily lows is a low), `days` covered, the union of codecs, the widest
/// `r_min..r_max` and the mean record size. `flows` sums flows per day: a flow active on
/// two days counts twice.
///
/// `recon(first_day, last_day, host)` (None: all hosts) gives the reconciliation of a span,
/// counting each record once in it; it adds `confirmed, partial, key_only, residual,
/// matched_bytes, status`.
pub fn periods_table(
    daily: &DataFrame,
    periods: &[Period],
    recon: Option<SpanRecon<'_>>,
) -> PolarsResult<DataFrame> {
    let mut frames = Vec::new();
    let day_i = daily.column("day")?.cast(&DataType::Int32)?;
    let base = daily
        .clone()
        .with_column(day_i.with_name("day_n".into()))?
        .clone();
    let (mut names, mut starts, mut ends, mut hosts, mut ndays) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut codecs: Vec<String> = Vec::new();
    let mut rmin: Vec<Option<f64>> = Vec::new();
    let mut rmax: Vec<Option<f64>> = Vec::new();
    let mut mean: Vec<Option<f64>> = Vec::new();
    let mut recs: Vec<Option<Recon>> = Vec::new();
    for p in periods {
        let (lo, hi) = p.range();
        let inside = base
            .clone()
            .lazy()
            .filter(col("day_n").gt_eq(lit(lo)).and(col("day_n").lt_eq(lit(hi))))
            .collect()?;
        let mut aggs: Vec<Expr> = PERIOD_SUMS
            .iter()
            .map(|c| col(*c).cast(DataType::UInt64).sum())
            .collect();
        aggs.push(col("r_min").min());
        aggs.push(col("r_max").max());
        aggs.push(col("mean_record_bytes").first());
        let per_host = inside
            .clone()
            .lazy()
            .group_by([col("host")])
            .agg(aggs.clone())
            .sort(["host"], SortMultipleOptions::default())
            .collect()?;
        let all = inside
            .clone()
            .lazy()
            .select(aggs)
            .with_column(lit("(all)").alias("host"))
            .collect()?;
        // The codecs of each host and of all, in one pass over the period's rows.
        let mut codec_sets: BTreeMap<Option<&str>, BTreeSet<&str>> = BTreeMap::new();
        let (h, c) = (
            inside.column("host")?.str()?,
            inside.column("codec")?.str()?,
        );
        for i in 0..inside.height() {
            if let Some(v) = c.get(i) {
                for codec in v.split(';').filter(|s| !s.is_empty()) {
                    codec_sets.entry(h.get(i)).or_default().insert(codec);
                    codec_sets.entry(None).or_default().insert(codec);
                }
            }
        }
        let codec_of = |host: Option<&str>| -> PolarsResult<String> {
            Ok(codec_sets
                .get(&host)
                .map(|set| set.iter().copied().collect::<Vec<_>>().join(";"))
                .unwrap_or_default())
        };
        for part in [&per_host, &all] {
            let hs = part.column("host")?.str()?;
            let rmin_c = part.column("r_min")?.f64()?;
            let rmax_c = part.column("r_max")?.f64()?;
            let mean_c = part.column("mean_record_bytes")?.f64()?;
            for i in 0..part.height() {
                let host = hs.get(i).unwrap_or("");
                names.push(p.name.clone());
                starts.push(p.start.to_string());
                ends.push(p.end.to_string());
                hosts.push(host.to_string());
                ndays.push(u64::try_from(hi - lo + 1).unwrap_or(0));
                let h = (host != "(all)").then_some(host);
                codecs.push(codec_of(h)?);
                recs.push(recon.map(|f| f(lo, hi, h)));
                rmin.push(rmin_c.get(i));
                rmax.push(rmax_c.get(i));
                mean.push(mean_c.get(i));
            }
            frames.push(part.select(PERIOD_SUMS)?);
        }
    }
    let height = names.len();
    let mut cols = vec![
        Column::new("period".into(), names),
        Column::new("start".into(), starts),
        Column::new("end".into(), ends),
        Column::new("days".into(), ndays),
        Column::new("host".into(), hosts),
    ];
    for c in PERIOD_SUMS {
        let mut v: Vec<Option<u64>> = Vec::with_capacity(height);
        for f in &frames {
            v.extend(f.column(c)?.u64()?.iter());
        }
        cols.push(Column::new(c.into(), v));
    }
    let missing = {
        let (mut g, mut t) = (Vec::with_capacity(height), Vec::with_capacity(height));
        for f in &frames {
            g.extend(f.column(layer::GAP_BYTES)?.u64()?.iter());
            t.extend(f.column(layer::TRUNCATED_BYTES)?.u64()?.iter());
        }
        g.into_iter()
            .zip(t)
            .map(|(a, b)| a.unwrap_or(0) + b.unwrap_or(0))
            .collect::<Vec<u64>>()
    };
    let cut: Vec<bool> = codecs
        .iter()
        .zip(&missing)
        .map(|(c, m)| incomplete(c, *m))
        .collect();
    cols.push(Column::new("codec".into(), codecs));
    cols.push(Column::new("r_min".into(), rmin));
    cols.push(Column::new("r_max".into(), rmax));
    cols.push(Column::new("mean_record_bytes".into(), mean));
    let col_u64 = |c: &str| -> PolarsResult<Vec<Option<u64>>> {
        let mut v = Vec::with_capacity(height);
        for f in &frames {
            v.extend(f.column(c)?.u64()?.iter());
        }
        Ok(v)
    };
    let point = col_u64("records_point")?;
    let high = col_u64("records_high")?;
    let dec = col_u64("decoded_bytes")?;
    let vol = col_u64("volume_bytes")?;
    let ru = |f: fn(&Recon) -> u64| -> Vec<Option<u64>> {
        recs.iter().map(|r| r.as_ref().map(f)).collect()
    };
    cols.push(Column::new("confirmed".into(), ru(|r| r.confirmed)));
    cols.push(Column::new("partial".into(), ru(|r| r.partial)));
    cols.push(Column::new("key_only".into(), ru(|r| r.key_only)));
    let residual: Vec<Option<u64>> = (0..height)
        .map(|i| match (point[i], &recs[i]) {
            (Some(p), Some(r)) => Some(p.saturating_sub(r.explained)),
            (Some(p), None) => Some(p),
            _ => None,
        })
        .collect();
    cols.push(Column::new("residual".into(), residual));
    cols.push(Column::new("matched_bytes".into(), ru(|r| r.matched_bytes)));
    cols.push(Column::new("explained".into(), ru(|r| r.explained)));
    let st: Vec<&str> = (0..height)
        .map(|i| {
            status(
                recs[i].as_ref(),
                high[i],
                dec[i].unwrap_or(0),
                vol[i].unwrap_or(0),
                cut[i],
            )
        })
        .collect();
    cols.push(Column::new("status".into(), st));
    DataFrame::new(height, cols)
}

/// Writes `df` as CSV (header line, `YYYY-MM-DD` dates, floats with 4 decimals, empty
/// cells for nulls) — byte-identical for the same table.
pub fn write_csv(df: &mut DataFrame, path: &Path) -> PolarsResult<()> {
    // An empty text cell is written as an empty field, like a null: one way for every
    // empty cell (polars would quote empty strings).
    let mut cols = Vec::with_capacity(df.width());
    for c in df.columns() {
        if c.dtype() == &DataType::String {
            let s = c.as_materialized_series();
            let v: Vec<Option<&str>> = s
                .str()?
                .iter()
                .map(|x| x.filter(|t| !t.is_empty()))
                .collect();
            cols.push(Column::new(s.name().clone(), v));
        } else {
            cols.push(c.clone());
        }
    }
    let mut out = DataFrame::new(df.height(), cols)?;
    let f = std::fs::File::create(path)?;
    CsvWriter::new(std::io::BufWriter::new(f))
        .include_header(true)
        .with_float_precision(Some(4))
        .finish(&mut out)
}

/// Writes `df` as Parquet (zstd) with the types every reader takes the same way (pandas,
/// polars, Spark, DuckDB, Excel's Power Query): integers as signed 64-bit, text as plain
/// UTF-8 strings, dates as DATE, nulls where the CSV has empty cells — the same writer as
/// `flows.parquet`.
pub fn write_parquet(df: &mut DataFrame, path: &Path) -> PolarsResult<()> {
    use crate::flowtable::{Col, Table, TableWriter};
    let mut cols = Vec::with_capacity(df.width());
    for c in df.columns() {
        let s = c.as_materialized_series();
        let name = s.name().to_string();
        let col = match s.dtype() {
            DataType::Date => {
                let v = s.cast(&DataType::Int32)?;
                let v = v.i32()?;
                if v.null_count() > 0 {
                    Col::OptI64(v.iter().map(|x| x.map(i64::from)).collect())
                } else {
                    Col::Date(v.into_no_null_iter().collect())
                }
            }
            DataType::UInt64 => Col::OptI64(
                s.u64()?
                    .iter()
                    .map(|x| x.map(|u| i64::try_from(u).unwrap_or(i64::MAX)))
                    .collect(),
            ),
            DataType::UInt32 | DataType::Int32 | DataType::Int64 | DataType::UInt16 => {
                Col::OptI64(s.cast(&DataType::Int64)?.i64()?.iter().collect())
            }
            DataType::Float64 | DataType::Float32 => {
                Col::OptF64(s.cast(&DataType::Float64)?.f64()?.iter().collect())
            }
            DataType::Boolean => Col::OptBool(s.bool()?.iter().collect()),
            DataType::String => {
                Col::OptStr(s.str()?.iter().map(|x| x.map(str::to_string)).collect())
            }
            other => {
                return Err(PolarsError::ComputeError(
                    format!("column {name}: no Parquet mapping for {other}").into(),
                ))
            }
        };
        cols.push((name, col));
    }
    let io = |e: std::io::Error| PolarsError::IO {
        error: std::sync::Arc::new(e),
        msg: None,
    };
    let t = Table::named(cols).map_err(io)?;
    let mut w = TableWriter::create(Some(path)).map_err(io)?;
    w.write(&t).map_err(io)?;
    w.finish(&t).map_err(io)
}

/// Display cells of `columns` of `df`, row by row: integers as digits, floats with two
/// decimals, dates `YYYY-MM-DD`, booleans `yes`/`no`, nulls empty.
pub fn cells(df: &DataFrame, columns: &[&str]) -> PolarsResult<Vec<Vec<String>>> {
    let series: Vec<Series> = columns
        .iter()
        .map(|c| df.column(c).map(|c| c.as_materialized_series().clone()))
        .collect::<PolarsResult<_>>()?;
    let mut out = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let mut row = Vec::with_capacity(series.len());
        for s in &series {
            let v = s.get(i)?;
            row.push(match v {
                AnyValue::Null => String::new(),
                AnyValue::Float64(f) => format!("{f:.2}"),
                AnyValue::Float32(f) => format!("{f:.2}"),
                AnyValue::Boolean(b) => (if b { "yes" } else { "no" }).to_string(),
                AnyValue::Date(d) => Day(d).to_string(),
                AnyValue::String(s) => s.to_string(),
                AnyValue::StringOwned(s) => s.to_string(),
                other => other.to_string(),
            });
        }
        out.push(row);
    }
    Ok(out)
}

/// Columns of `confirmed_records.csv`.
pub const RECORD_COLUMNS: [&str; 14] = [
    "key",
    "row",
    "file",
    "first_seen_utc",
    "first_seen_local",
    "day",
    "indicator",
    "host",
    "flow_id",
    "first_frame",
    "last_frame",
    "level",
    "sightings",
    "days",
];

/// chrono's format of the tables' local times.
const LOCAL_TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.9f%:z";

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnn±HH:MM` in `tz`, as chrono writes it with
/// [`LOCAL_TIME_FORMAT`]. The common case (years 0–9999, an offset of whole
/// minutes) is written digit by digit, the rest through chrono: a row of `ioc_flows.csv` has
/// two of these, and the format machinery was most of the table's cost on many flows.
fn rfc3339(ts: exfilmeter_ingest::Timestamp, tz: chrono_tz::Tz) -> String {
    use chrono::{Datelike, Offset, TimeZone, Timelike};
    let utc = chrono::DateTime::from_timestamp(ts.secs(), ts.subsec_nanos())
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
    let local = tz.from_utc_datetime(&utc.naive_utc());
    let off = local.offset().fix().local_minus_utc();
    let (y, nanos) = (local.year(), local.nanosecond());
    if !(0..=9999).contains(&y) || off % 60 != 0 || nanos >= 1_000_000_000 {
        return local.format(LOCAL_TIME_FORMAT).to_string();
    }
    let mut out = String::with_capacity(35);
    let num = |out: &mut String, v: u32, width: u32| {
        for k in (0..width).rev() {
            out.push(char::from(b'0' + (v / 10u32.pow(k) % 10) as u8));
        }
    };
    let m = off.unsigned_abs() / 60;
    num(&mut out, y.unsigned_abs(), 4);
    for (sep, v, width) in [
        ('-', local.month(), 2),
        ('-', local.day(), 2),
        ('T', local.hour(), 2),
        (':', local.minute(), 2),
        (':', local.second(), 2),
        ('.', nanos, 9),
        (if off < 0 { '-' } else { '+' }, m / 60, 2),
        (':', m % 60, 2),
    ] {
        out.push(sep);
        num(&mut out, v, width);
    }
    out
}

/// `confirmed_records.csv`: every recovered record seen in the traffic, one line per record
/// (key) at the best level it reached, with its first sighting at that level. `row` is the
/// 1-based line in its recovered file (header included), `file` that file's name; times are
/// the capture time of the frame that carried the record's last byte; `day` is the local day
/// its upload completed; frames are `capture-file#frame-number` (1-based, as Wireshark);
/// `days` lists every day with a sighting at that level.
pub fn records_table(
    seen: &[crate::reconcile::RecordSeen],
    index: &exfilmeter_content::RecoveredIndex,
    tz: chrono_tz::Tz,
    capture_names: &[String],
    indicators: &BTreeMap<String, String>,
) -> PolarsResult<DataFrame> {
    let frame = |f: exfilmeter_ingest::FrameRef| {
        let mut s = String::new();
        crate::flowtable::push_frame(f, capture_names, &mut s);
        s
    };
    let mut c: Vec<Vec<String>> = vec![Vec::with_capacity(seen.len()); RECORD_COLUMNS.len()];
    for s in seen {
        let row = index.rows.get(s.row as usize);
        let file = row
            .and_then(|r| index.files.get(r.file as usize))
            .and_then(|f| f.path.file_name())
            .map_or_else(String::new, |n| n.to_string_lossy().to_string());
        let key = row.map_or_else(String::new, |r| {
            String::from_utf8_lossy(index.key(r.key)).to_string()
        });
        let vals = [
            key,
            row.map_or(0, |r| r.line).to_string(),
            file,
            rfc3339(s.first.seen.ts, chrono_tz::UTC).replace("+00:00", "Z"),
            rfc3339(s.first.seen.ts, tz),
            Day(s.first.day).to_string(),
            indicators.get(&s.first.host).cloned().unwrap_or_default(),
            s.first.host.clone(),
            s.first.flow.0.to_string(),
            frame(s.first.seen.frames.0),
            frame(s.first.seen.frames.1),
            s.level.as_str().to_string(),
            s.sightings.to_string(),
            s.days
                .iter()
                .map(|d| Day(*d).to_string())
                .collect::<Vec<_>>()
                .join(";"),
        ];
        for (col, v) in c.iter_mut().zip(vals) {
            col.push(v);
        }
    }
    let cols: Vec<Column> = RECORD_COLUMNS
        .iter()
        .zip(c)
        .map(|(n, v)| Column::new((*n).into(), v))
        .collect();
    DataFrame::new(seen.len(), cols)
}

/// `sweep_hosts.csv`: outbound servers on no IOC list that received recovered records (the
/// `--sweep` finding), one row per server address and name: flows, first and last day, the
/// distinct keys seen in their client→server streams, the rows carried whole, and up to five
/// example keys.
pub fn sweep_table(
    hits: &[crate::collect::SweepHit],
    index: &exfilmeter_content::RecoveredIndex,
    tz: chrono_tz::Tz,
) -> PolarsResult<DataFrame> {
    #[derive(Default)]
    struct Agg {
        outbound: bool,
        flows: u64,
        first: Option<exfilmeter_ingest::Timestamp>,
        days: BTreeSet<i32>,
        keys: BTreeSet<u32>,
        rows: BTreeSet<u32>,
    }
    let mut by: BTreeMap<(String, String), Agg> = BTreeMap::new();
    for h in hits {
        let a = by
            .entry((h.server_ip.clone(), h.server_name.clone()))
            .or_default();
        a.flows += 1;
        a.outbound |= h.outbound;
        a.first = Some(a.first.map_or(h.first_ts, |t| t.min(h.first_ts)));
        a.days.insert(h.day);
        a.keys.extend(h.keys.iter().copied());
        a.rows.extend(h.rows.iter().copied());
    }
    let mut cols: Vec<Vec<String>> = vec![Vec::new(); 10];
    for ((ip, name), a) in &by {
        let vals = [
            ip.clone(),
            name.clone(),
            a.outbound.to_string(),
            a.flows.to_string(),
            a.first.map_or_else(String::new, |t| rfc3339(t, tz)),
            a.days
                .first()
                .map_or_else(String::new, |d| Day(*d).to_string()),
            a.days
                .last()
                .map_or_else(String::new, |d| Day(*d).to_string()),
            a.keys.len().to_string(),
            a.rows.len().to_string(),
            a.keys
                .iter()
                .take(5)
                .map(|k| String::from_utf8_lossy(index.key(*k)).to_string())
                .collect::<Vec<_>>()
                .join(";"),
        ];
        for (c, v) in cols.iter_mut().zip(vals) {
            c.push(v);
        }
    }
    let names = [
        "server_ip",
        "server_name",
        "outbound",
        "flows",
        "first_seen_local",
        "first_day",
        "last_day",
        "keys_seen",
        "rows_confirmed",
        "example_keys",
    ];
    let height = by.len();
    DataFrame::new(
        height,
        names
            .iter()
            .zip(cols)
            .map(|(n, v)| Column::new((*n).into(), v))
            .collect(),
    )
}

/// Columns of `ioc_flows.csv`.
pub const IOC_FLOW_COLUMNS: [&str; 16] = [
    "flow_id",
    "host",
    "indicator",
    "via",
    "evidence",
    "server_ip",
    "server_port",
    "first_seen_utc",
    "first_seen_local",
    "last_seen_local",
    "first_frame",
    "last_frame",
    layer::FRAMES,
    layer::STREAM_BYTES,
    layer::GAP_BYTES,
    layer::TRUNCATED_BYTES,
];

/// `ioc_flows.csv`: every flow attributed to an indicator, in order of its first frame, with
/// how it was identified — `via` the kinds of evidence (`ip`, `dns`, `sni`, `host`,
/// `connect`), `evidence` each kind with the frame that carried it
/// (`kind:capture-file#frame`) — and its client→server totals (frames, unique stream bytes,
/// gap bytes, bytes whose content the snapshot length cut).
pub fn ioc_flows_table(
    flows: &[crate::collect::IocFlow],
    tz: chrono_tz::Tz,
    capture_names: &[String],
) -> PolarsResult<DataFrame> {
    let frame = |f: exfilmeter_ingest::FrameRef| {
        let mut s = String::new();
        crate::flowtable::push_frame(f, capture_names, &mut s);
        s
    };
    let mut order: Vec<&crate::collect::IocFlow> = flows.iter().collect();
    order.sort_by_key(|f| (f.first_ts, f.flow.0));
    let mut s: Vec<Vec<String>> = (0..12).map(|_| Vec::with_capacity(order.len())).collect();
    let mut n: Vec<Vec<u64>> = (0..4).map(|_| Vec::with_capacity(order.len())).collect();
    for f in &order {
        let mut via: Vec<&str> = Vec::new();
        for (v, _) in &f.evidence {
            if !via.contains(&v.as_str()) {
                via.push(v.as_str());
            }
        }
        let vals = [
            f.flow.0.to_string(),
            f.host.to_string(),
            f.indicator.to_string(),
            via.join(";"),
            f.evidence
                .iter()
                .map(|(v, fr)| format!("{}:{}", v.as_str(), frame(*fr)))
                .collect::<Vec<_>>()
                .join(";"),
            f.server.to_string(),
            f.port.to_string(),
            rfc3339(f.first_ts, chrono_tz::UTC).replace("+00:00", "Z"),
            rfc3339(f.first_ts, tz),
            rfc3339(f.last_ts, tz),
            frame(f.frames.0),
            frame(f.frames.1),
        ];
        for (col, v) in s.iter_mut().zip(vals) {
            col.push(v);
        }
        for (col, v) in n.iter_mut().zip([
            f.c2s.frames,
            f.c2s.stream_bytes,
            f.c2s.gap_bytes,
            f.c2s.truncated_bytes,
        ]) {
            col.push(v);
        }
    }
    let mut cols: Vec<Column> = Vec::with_capacity(IOC_FLOW_COLUMNS.len());
    for (i, name) in IOC_FLOW_COLUMNS.iter().enumerate() {
        let c = if i < 12 {
            Column::new((*name).into(), std::mem::take(&mut s[i]))
        } else {
            Column::new((*name).into(), std::mem::take(&mut n[i - 12]))
        };
        cols.push(c);
    }
    DataFrame::new(order.len(), cols)
}

/// Writes `ioc_flows.csv` (the rows and order of [`ioc_flows_table`], the same bytes as
/// [`write_csv`] of it) in batches of text columns, without a data frame of the whole table:
/// on 100,000 IOC flows that frame and its CSV copy were the run's peak memory.
pub fn write_ioc_flows(
    flows: &[crate::collect::IocFlow],
    tz: chrono_tz::Tz,
    capture_names: &[String],
    path: &Path,
) -> std::io::Result<()> {
    let mut order: Vec<&crate::collect::IocFlow> = flows.iter().collect();
    order.sort_by_key(|f| (f.first_ts, f.flow.0));
    write_ioc_flows_sorted(order.into_iter().cloned().map(Ok), tz, capture_names, path)
}

/// [`write_ioc_flows`] of flows given in its order (first frame, then flow id), e.g.
/// [`crate::IocFlows::sorted`]: holds one batch of them at a time.
pub fn write_ioc_flows_sorted(
    flows: impl Iterator<Item = std::io::Result<crate::collect::IocFlow>>,
    tz: chrono_tz::Tz,
    capture_names: &[String],
    path: &Path,
) -> std::io::Result<()> {
    use crate::flowtable::{push_frame, push_u64, Col, Table, TableWriter, Text};
    const BATCH: usize = 1 << 16;
    let frame = |f: exfilmeter_ingest::FrameRef, o: &mut String| push_frame(f, capture_names, o);
    let mut writer = TableWriter::create(Some(path))?;
    let table = |batch: &[crate::collect::IocFlow]| -> std::io::Result<Table> {
        let mut t: Vec<Text> = (0..12)
            .map(|_| Text::with_capacity(batch.len(), 24))
            .collect();
        let mut n: Vec<Vec<i64>> = (0..4).map(|_| Vec::with_capacity(batch.len())).collect();
        for f in batch {
            push_u64(f.flow.0, t[0].buf());
            t[1].buf().push_str(&f.host);
            t[2].buf().push_str(&f.indicator);
            let mut via: Vec<&str> = Vec::new();
            for (v, _) in &f.evidence {
                if !via.contains(&v.as_str()) {
                    via.push(v.as_str());
                }
            }
            t[3].buf().push_str(&via.join(";"));
            for (i, (v, fr)) in f.evidence.iter().enumerate() {
                let o = t[4].buf();
                if i > 0 {
                    o.push(';');
                }
                o.push_str(v.as_str());
                o.push(':');
                frame(*fr, o);
            }
            t[5].buf().push_str(&f.server);
            push_u64(u64::from(f.port), t[6].buf());
            t[7].buf()
                .push_str(&rfc3339(f.first_ts, chrono_tz::UTC).replace("+00:00", "Z"));
            t[8].buf().push_str(&rfc3339(f.first_ts, tz));
            t[9].buf().push_str(&rfc3339(f.last_ts, tz));
            frame(f.frames.0, t[10].buf());
            frame(f.frames.1, t[11].buf());
            for col in &mut t {
                col.end();
            }
            for (col, v) in n.iter_mut().zip([
                f.c2s.frames,
                f.c2s.stream_bytes,
                f.c2s.gap_bytes,
                f.c2s.truncated_bytes,
            ]) {
                col.push(i64::try_from(v).unwrap_or(i64::MAX));
            }
        }
        let mut cols: Vec<(&'static str, Col)> = Vec::with_capacity(16);
        let mut t = t.into_iter();
        let mut n = n.into_iter();
        for (i, name) in IOC_FLOW_COLUMNS.iter().enumerate() {
            let c = if i < 12 {
                t.next().map(Col::Text)
            } else {
                n.next().map(Col::I64)
            };
            if let Some(c) = c {
                cols.push((name, c));
            }
        }
        Table::new(cols)
    };
    let mut batch = Vec::with_capacity(BATCH);
    for f in flows {
        batch.push(f?);
        if batch.len() == BATCH {
            writer.write(&table(&batch)?)?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        writer.write(&table(&batch)?)?;
    }
    writer.finish(&table(&[])?)
}

/// Columns of `sightings.csv`.
pub const SIGHTING_COLUMNS: [&str; 6] = [
    "record",
    "level",
    "day",
    "host",
    "sightings",
    "matched_bytes",
];

/// `sightings.csv`: every (record, level, local day, host) the traffic showed, with the number
/// of sightings and the bytes matched — what the reconciliation of any span of days is
/// computed from (`report --from DIR --periods FILE` re-aggregates periods with it). `record`
/// is the record's key, else `file:line`.
pub fn sightings_table(
    index: &exfilmeter_content::RecoveredIndex,
    sightings: &[crate::reconcile::Sighting],
) -> PolarsResult<DataFrame> {
    let mut by: BTreeMap<(i32, String, u8, String), (u64, u64)> = BTreeMap::new();
    for s in sightings {
        let level = s.seen.level as u8;
        let e = by
            .entry((
                s.day,
                s.host.clone(),
                level,
                crate::reconcile::identity_text(index, s.seen.row),
            ))
            .or_default();
        e.0 += s.seen.count;
        e.1 += s.seen.bytes;
    }
    let levels = [
        exfilmeter_content::Level::Confirmed,
        exfilmeter_content::Level::Partial,
        exfilmeter_content::Level::KeyOnly,
    ];
    let n = by.len();
    let (mut rec, mut lev, mut day, mut host, mut cnt, mut bytes) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for ((d, h, l, r), (c, b)) in by {
        rec.push(r);
        lev.push(levels.get(usize::from(l)).map_or("?", |x| x.as_str()));
        day.push(Day(d).to_string());
        host.push(h);
        cnt.push(c);
        bytes.push(b);
    }
    DataFrame::new(
        n,
        vec![
            Column::new("record".into(), rec),
            Column::new("level".into(), lev),
            Column::new("day".into(), day),
            Column::new("host".into(), host),
            Column::new("sightings".into(), cnt),
            Column::new("matched_bytes".into(), bytes),
        ],
    )
}

/// Reads a Parquet table written by [`write_parquet`].
pub fn read_parquet(path: &Path) -> PolarsResult<DataFrame> {
    let f = std::fs::File::open(path)?;
    ParquetReader::new(f).finish()
}

#[cfg(test)]
mod rfc3339_tests {
    use super::{rfc3339, LOCAL_TIME_FORMAT};
    use chrono::TimeZone;
    use exfilmeter_ingest::Timestamp;
    use proptest::prelude::*;

    fn chrono_text(ts: Timestamp, tz: chrono_tz::Tz) -> String {
        let utc = chrono::DateTime::from_timestamp(ts.secs(), ts.subsec_nanos())
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        tz.from_utc_datetime(&utc.naive_utc())
            .format(LOCAL_TIME_FORMAT)
            .to_string()
    }

    const ZONES: [chrono_tz::Tz; 6] = [
        chrono_tz::UTC,
        chrono_tz::Asia::Tokyo,
        chrono_tz::America::New_York,
        chrono_tz::Asia::Kolkata,
        chrono_tz::America::St_Johns,
        chrono_tz::Pacific::Chatham,
    ];

    proptest! {
        /// Any time from before 1900 (local mean time offsets, with seconds) to after 2100:
        /// the same text as chrono's format.
        #[test]
        fn same_text_as_chrono(ns in -3_000_000_000_000_000_000i64..5_000_000_000_000_000_000i64) {
            let ts = Timestamp(ns);
            for tz in ZONES {
                prop_assert_eq!(rfc3339(ts, tz), chrono_text(ts, tz));
            }
        }
    }

    #[test]
    fn edges_as_chrono() {
        for ns in [
            0,
            -1,
            1,
            999_999_999,
            i64::MIN,
            i64::MAX,
            1_400_000_000_123_456_789,
        ] {
            for tz in ZONES {
                let ts = Timestamp(ns);
                assert_eq!(rfc3339(ts, tz), chrono_text(ts, tz), "{ns} {tz}");
            }
        }
        assert_eq!(
            rfc3339(Timestamp(1_400_000_000_123_456_789), chrono_tz::Asia::Tokyo),
            "2014-05-14T01:53:20.123456789+09:00"
        );
    }
}
