//! The tables `analyze` writes: the daily table (volume per day × host with the record
//! estimate) and the periods table (the same columns summed over analyst-defined periods),
//! built with polars and written as CSV or Parquet.

use crate::collect::Unit;
use crate::daily::{daily_volume, FlowDay};
use crate::model::RecordModel;
use crate::periods::Period;
use crate::reckon::{estimate_day, DayEstimate};
use polars::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Columns of the daily table, in order (the estimate columns are null without a record
/// model).
pub const DAILY_COLUMNS: [&str; 31] = [
    "day",
    "indicator",
    "server_name",
    "server_ips",
    "flows",
    "frames",
    "frame_bytes",
    "ip_bytes",
    "payload_bytes",
    "stream_bytes",
    "retrans_bytes",
    "gap_bytes",
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
    "truncated_bytes",
    "decoded_bytes",
    "counted_records",
    "volume_bytes",
    "basis_layer",
    "excluded_control_bytes",
    "unexplained_missing_bytes",
    "capped_by_staged",
];

/// The daily table: [`daily_volume`] of the IOC flows' ledger rows, joined with the
/// estimate of each day and host from its units. `range` is the covered range of local
/// days (every day of it appears for every host).
pub fn daily_table(
    days: &[FlowDay],
    units: &[Unit],
    model: Option<&RecordModel>,
    staged: Option<u64>,
    range: Option<(i32, i32)>,
) -> PolarsResult<DataFrame> {
    let vol = daily_volume(days, range)?;
    let mut by: BTreeMap<(i32, &str), Vec<&Unit>> = BTreeMap::new();
    for u in units {
        by.entry((u.day, u.host.as_str())).or_default().push(u);
    }
    let n = vol.height();
    let day_col = vol.column("day")?.cast(&DataType::Int32)?;
    let day_i = day_col.i32()?;
    let host_s = vol.column("host")?.str()?;
    let num = |c: &str| -> PolarsResult<Vec<u64>> {
        Ok(vol.column(c)?.u64()?.into_no_null_iter().collect())
    };
    let gap = num("gap_bytes")?;
    let trunc = num("truncated_bytes")?;
    let mut est: Vec<Option<DayEstimate>> = Vec::with_capacity(n);
    let mut unexplained = Vec::with_capacity(n);
    let mut decoded = Vec::with_capacity(n);
    for i in 0..n {
        let key = (day_i.get(i).unwrap_or(0), host_s.get(i).unwrap_or(""));
        let us: Vec<&Unit> = by.get(&key).cloned().unwrap_or_default();
        let explained: u64 = us.iter().map(|u| u.body.missing).sum();
        let extra = (gap[i] + trunc[i]).saturating_sub(explained);
        unexplained.push(extra);
        decoded.push(
            us.iter()
                .filter_map(|u| u.body.counted.map(|c| c.decoded_bytes))
                .sum::<u64>(),
        );
        est.push(model.map(|m| estimate_day(&us, extra, m, staged)));
    }
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

/// Columns of the periods table, in order.
pub const PERIOD_SUMS: [&str; 19] = [
    "flows",
    "frames",
    "frame_bytes",
    "ip_bytes",
    "payload_bytes",
    "stream_bytes",
    "retrans_bytes",
    "gap_bytes",
    "app_bytes",
    "control_bytes",
    "basis_bytes",
    "records_low",
    "records_point",
    "records_high",
    "truncated_bytes",
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
pub fn periods_table(daily: &DataFrame, periods: &[Period]) -> PolarsResult<DataFrame> {
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
        let codec_of = |host: Option<&str>| -> PolarsResult<String> {
            let h = inside.column("host")?.str()?;
            let c = inside.column("codec")?.str()?;
            let mut set = BTreeSet::new();
            for i in 0..inside.height() {
                if host.is_none_or(|x| h.get(i) == Some(x)) {
                    if let Some(v) = c.get(i) {
                        set.extend(v.split(';').filter(|s| !s.is_empty()).map(str::to_string));
                    }
                }
            }
            Ok(set.into_iter().collect::<Vec<_>>().join(";"))
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
                codecs.push(codec_of((host != "(all)").then_some(host))?);
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
    cols.push(Column::new("codec".into(), codecs));
    cols.push(Column::new("r_min".into(), rmin));
    cols.push(Column::new("r_max".into(), rmax));
    cols.push(Column::new("mean_record_bytes".into(), mean));
    DataFrame::new(height, cols)
}

/// Writes `df` as CSV (header line, `YYYY-MM-DD` dates, floats with 4 decimals, empty
/// cells for nulls) — byte-identical for the same table.
pub fn write_csv(df: &mut DataFrame, path: &Path) -> PolarsResult<()> {
    let f = std::fs::File::create(path)?;
    CsvWriter::new(std::io::BufWriter::new(f))
        .include_header(true)
        .with_float_precision(Some(4))
        .finish(df)
}

/// Writes `df` as Parquet (zstd).
pub fn write_parquet(df: &mut DataFrame, path: &Path) -> PolarsResult<()> {
    let f = std::fs::File::create(path)?;
    ParquetWriter::new(f)
        .with_compression(ParquetCompression::Zstd(None))
        .finish(df)?;
    Ok(())
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
                AnyValue::Date(d) => (chrono::NaiveDate::default()
                    + chrono::TimeDelta::days(i64::from(d)))
                .to_string(),
                AnyValue::String(s) => s.to_string(),
                AnyValue::StringOwned(s) => s.to_string(),
                other => other.to_string(),
            });
        }
        out.push(row);
    }
    Ok(out)
}
