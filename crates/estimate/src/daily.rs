//! The daily volume table: per local day × IOC indicator, the flows and every ledger layer
//! summed (polars lazy group-by over the per-flow ledger rows), with days that saw no
//! traffic to that indicator inside the covered range present as zero rows.

use exfilmeter_flow::layer;
use polars::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

/// One ledger row (flow × direction × day) of a flow attributed to an indicator.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FlowDay {
    /// Local day as days since 1970-01-01.
    pub day: i32,
    /// The host the flow talked to: its server name, else the indicator.
    pub host: crate::collect::Name,
    /// The indicators the flow matched (as written in the IOC source, `;`-joined).
    pub indicator: crate::collect::Name,
    /// Best server name known for the flow.
    pub server_name: crate::collect::Name,
    /// Server address.
    pub server_ip: crate::collect::Name,
    /// Flow id.
    pub flow_id: u64,
    /// Client→server direction (the volume that left).
    pub c2s: bool,
    /// Counters (see the ledger).
    pub frames: u64,
    /// Wire bytes.
    pub frame_bytes: u64,
    /// IP bytes.
    pub ip_bytes: u64,
    /// TCP/UDP payload bytes.
    pub payload_bytes: u64,
    /// Unique stream bytes.
    pub stream_bytes: u64,
    /// Stream bytes whose content the snapshot length cut.
    pub truncated_bytes: u64,
    /// Retransmitted bytes.
    pub retrans_bytes: u64,
    /// Gap bytes.
    pub gap_bytes: u64,
    /// Application bytes (HTTP bodies, TLS application-data plaintext).
    pub app_bytes: u64,
    /// Bytes of control traffic (see `Rules`).
    pub control_bytes: u64,
    /// Bytes of HTTP bodies declared (Content-Length) but never sent: the flow ended first
    /// (reset, FIN, capture end). Not in `app_bytes`, never counted as missing content.
    pub unsent_declared_bytes: u64,
}

/// The summed columns, in output order.
pub const SUMS: [&str; 11] = [
    layer::FRAMES,
    layer::FRAME_BYTES,
    layer::IP_BYTES,
    layer::PAYLOAD_BYTES,
    layer::STREAM_BYTES,
    layer::TRUNCATED_BYTES,
    layer::RETRANS_BYTES,
    layer::GAP_BYTES,
    "app_bytes",
    "control_bytes",
    "unsent_declared_bytes",
];

/// Client→server volume per day and host, sorted by day then host. Columns: `day` (date),
/// `host`, `indicator`, `server_name` and `server_ips` (over all the host's flows,
/// `;`-joined, sorted), `flows`, and the sums of [`SUMS`]. Every day of the `covered` spans
/// (first and last day, inclusive; empty: the host's own first to last day) without traffic
/// to a host appears with zeros, so gaps in the capture stay visible; a host's days outside
/// them (frames stamped before 1990) appear as they are, never spread into a grid.
pub fn daily_volume(rows: &[FlowDay], covered: &[(i32, i32)]) -> PolarsResult<DataFrame> {
    let out: Vec<&FlowDay> = rows.iter().filter(|r| r.c2s).collect();
    let u = |f: fn(&FlowDay) -> u64| -> Vec<u64> { out.iter().map(|r| f(r)).collect() };
    let df = df!(
        "day" => out.iter().map(|r| r.day).collect::<Vec<i32>>(),
        "host" => out.iter().map(|r| &*r.host).collect::<Vec<&str>>(),
        "flow_id" => u(|r| r.flow_id),
        layer::FRAMES => u(|r| r.frames),
        layer::FRAME_BYTES => u(|r| r.frame_bytes),
        layer::IP_BYTES => u(|r| r.ip_bytes),
        layer::PAYLOAD_BYTES => u(|r| r.payload_bytes),
        layer::STREAM_BYTES => u(|r| r.stream_bytes),
        layer::TRUNCATED_BYTES => u(|r| r.truncated_bytes),
        layer::RETRANS_BYTES => u(|r| r.retrans_bytes),
        layer::GAP_BYTES => u(|r| r.gap_bytes),
        "app_bytes" => u(|r| r.app_bytes),
        "control_bytes" => u(|r| r.control_bytes),
        "unsent_declared_bytes" => u(|r| r.unsent_declared_bytes),
    )?;
    let mut aggs = vec![col("flow_id")
        .n_unique()
        .cast(DataType::UInt64)
        .alias("flows")];
    aggs.extend(SUMS.iter().map(|c| col(*c).sum()));
    let grouped = df
        .lazy()
        .group_by([col("day"), col("host")])
        .agg(aggs)
        .sort(["day", "host"], SortMultipleOptions::default())
        .collect()?;
    // Indicators, names and addresses per host (kept out of the group-by: string sets).
    type Sets<'a> = (BTreeSet<&'a str>, BTreeSet<&'a str>, BTreeSet<&'a str>);
    let mut names: BTreeMap<&str, Sets> = BTreeMap::new();
    let mut own: BTreeMap<&str, BTreeSet<i32>> = BTreeMap::new();
    for r in &out {
        let e = names.entry(&*r.host).or_default();
        e.0.extend(r.indicator.split(';').filter(|s| !s.is_empty()));
        if !r.server_name.is_empty() {
            e.1.insert(&*r.server_name);
        }
        e.2.insert(&*r.server_ip);
        own.entry(&*r.host).or_default().insert(r.day);
    }
    // Fill the zero days, then rebuild in order.
    let days = grouped.column("day")?.i32()?.clone();
    let inds = grouped.column("host")?.str()?.clone();
    let mut have: BTreeMap<(i32, String), usize> = BTreeMap::new();
    for i in 0..grouped.height() {
        if let (Some(d), Some(n)) = (days.get(i), inds.get(i)) {
            have.insert((d, n.to_string()), i);
        }
    }
    let covered_days: BTreeSet<i32> = covered.iter().flat_map(|&(a, b)| a..=b).collect();
    let mut keys: Vec<(i32, String)> = Vec::new();
    for (ind, seen) in &own {
        let days: BTreeSet<i32> = match (seen.first(), seen.last()) {
            (Some(&lo), Some(&hi)) if covered.is_empty() => (lo..=hi).collect(),
            _ => covered_days.union(seen).copied().collect(),
        };
        keys.extend(days.into_iter().map(|d| (d, ind.to_string())));
    }
    keys.sort();
    let sums: Vec<&UInt64Chunked> = std::iter::once("flows")
        .chain(SUMS.iter().copied())
        .map(|c| grouped.column(c).and_then(|s| s.u64()))
        .collect::<PolarsResult<_>>()?;
    let mut cols: Vec<Vec<u64>> = vec![Vec::with_capacity(keys.len()); sums.len()];
    let (mut day_col, mut host_col, mut ind_col, mut name_col, mut ip_col) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let join = |s: &BTreeSet<&str>| s.iter().copied().collect::<Vec<_>>().join(";");
    for (d, ind) in &keys {
        day_col.push(*d);
        let (i, n, ips) = &names[ind.as_str()];
        ind_col.push(join(i));
        name_col.push(join(n));
        ip_col.push(join(ips));
        host_col.push(ind.clone());
        let row = have.get(&(*d, ind.clone())).copied();
        for (k, s) in sums.iter().enumerate() {
            cols[k].push(row.and_then(|i| s.get(i)).unwrap_or(0));
        }
    }
    let mut series = vec![
        Column::new("day".into(), day_col).cast(&DataType::Date)?,
        Column::new("host".into(), host_col),
        Column::new("indicator".into(), ind_col),
        Column::new("server_name".into(), name_col),
        Column::new("server_ips".into(), ip_col),
    ];
    for (name, v) in std::iter::once("flows")
        .chain(SUMS.iter().copied())
        .zip(cols)
    {
        series.push(Column::new(name.into(), v));
    }
    let height = keys.len();
    DataFrame::new(height, series)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(day: i32, ind: &str, flow: u64, c2s: bool, stream: u64) -> FlowDay {
        FlowDay {
            day,
            host: ind.into(),
            indicator: ind.into(),
            server_name: format!("{ind}.name").into(),
            server_ip: format!("203.0.113.{}", flow % 3).into(),
            flow_id: flow,
            c2s,
            frames: 1,
            frame_bytes: stream + 54,
            ip_bytes: stream + 40,
            payload_bytes: stream,
            stream_bytes: stream,
            truncated_bytes: 0,
            retrans_bytes: 0,
            gap_bytes: 0,
            app_bytes: stream / 2,
            control_bytes: 0,
            unsent_declared_bytes: 0,
        }
    }

    /// A u64 column of `df` as a vector.
    fn u64s(df: &DataFrame, name: &str) -> Vec<u64> {
        df.column(name)
            .unwrap()
            .u64()
            .unwrap()
            .into_no_null_iter()
            .collect()
    }

    #[test]
    fn zero_days_only_inside_covered_spans_and_early_days_kept_as_they_are() {
        // Covered: days 16,330–16,331 and 16,340 (two sensors' files); the host also has
        // traffic stamped 1970-01-02 (day 1) from a clock that was never set.
        let rows = vec![
            row(1, "a", 1, true, 5),
            row(16_330, "a", 2, true, 100),
            row(16_340, "a", 3, true, 7),
        ];
        let df = daily_volume(&rows, &[(16_330, 16_331), (16_340, 16_340)]).unwrap();
        let days: Vec<i32> = df
            .column("day")
            .unwrap()
            .cast(&DataType::Int32)
            .unwrap()
            .i32()
            .unwrap()
            .into_no_null_iter()
            .collect();
        assert_eq!(days, vec![1, 16_330, 16_331, 16_340]);
        let stream = u64s(&df, layer::STREAM_BYTES);
        assert_eq!(
            stream,
            vec![5, 100, 0, 7],
            "nothing dropped, nothing spread"
        );
    }

    #[test]
    fn sums_per_day_and_indicator_with_zero_days_filled() {
        let rows = vec![
            row(16_330, "a", 1, true, 100),
            row(16_330, "a", 1, true, 50), // same flow, second row: one flow
            row(16_330, "a", 2, true, 10),
            row(16_330, "a", 2, false, 999), // s2c: not volume that left
            row(16_333, "a", 3, true, 7),
            row(16_331, "b", 4, true, 1),
        ];
        let df = daily_volume(&rows, &[]).unwrap();
        let s = df.column("host").unwrap().str().unwrap();
        let ind: Vec<String> = (0..df.height())
            .map(|i| s.get(i).unwrap().to_string())
            .collect();
        assert_eq!(
            ind,
            vec!["a", "a", "b", "a", "a"],
            "sorted by day then indicator"
        );
        let stream = u64s(&df, layer::STREAM_BYTES);
        assert_eq!(stream, vec![160, 0, 1, 0, 7]);
        let flows = u64s(&df, "flows");
        assert_eq!(flows, vec![2, 0, 1, 0, 1]);
        let app = u64s(&df, "app_bytes");
        assert_eq!(app, vec![80, 0, 0, 0, 3]);
        assert_eq!(df.column("day").unwrap().dtype(), &DataType::Date);
        let ips = df
            .column("server_ips")
            .unwrap()
            .str()
            .unwrap()
            .get(0)
            .unwrap()
            .to_string();
        assert_eq!(ips, "203.0.113.0;203.0.113.1;203.0.113.2");
    }
}
