//! The daily volume table: per local day × IOC indicator, the flows and every ledger layer
//! summed (polars lazy group-by over the per-flow ledger rows), with days that saw no
//! traffic to that indicator inside the covered range present as zero rows.

use crate::collect::Name;
use exfilmeter_flow::layer;
use polars::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

/// One ledger row (flow × direction × day) of a flow attributed to an indicator, or the sum
/// of such rows that share their day, direction, host, indicator, server name and address
/// ([`DayRows`]).
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
    /// Flow id (of a sum: its first flow).
    pub flow_id: u64,
    /// Flows the row sums (one flow has at most one row per day and direction, so this
    /// counts distinct flows). Not in the partial folders' `flows.bin`, which holds each
    /// flow's own rows: 1 when read back.
    #[serde(skip, default = "one")]
    pub flows: u64,
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

fn one() -> u64 {
    1
}

impl FlowDay {
    /// Adds another row's flows and counters.
    fn add(&mut self, b: &FlowDay) {
        self.flows += b.flows;
        self.frames += b.frames;
        self.frame_bytes += b.frame_bytes;
        self.ip_bytes += b.ip_bytes;
        self.payload_bytes += b.payload_bytes;
        self.stream_bytes += b.stream_bytes;
        self.truncated_bytes += b.truncated_bytes;
        self.retrans_bytes += b.retrans_bytes;
        self.gap_bytes += b.gap_bytes;
        self.app_bytes += b.app_bytes;
        self.control_bytes += b.control_bytes;
        self.unsent_declared_bytes += b.unsent_declared_bytes;
    }
}

/// What a [`DayRows`] sums rows by.
type DayKey = (i32, bool, Name, Name, Name, Name);

fn key_of(r: &FlowDay) -> DayKey {
    (
        r.day,
        r.c2s,
        r.host.clone(),
        r.indicator.clone(),
        r.server_name.clone(),
        r.server_ip.clone(),
    )
}

/// Flow-day rows summed as flows close, per day, direction, host, indicator, server name
/// and server address: what the daily table, the end-of-run naming and the partial
/// folders need, held per distinct key (hosts × days × addresses), not per flow. Rows keep
/// the order their key was first seen.
#[derive(Debug, Clone, Default)]
pub struct DayRows {
    rows: Vec<FlowDay>,
    index: rustc_hash::FxHashMap<DayKey, usize>,
}

impl DayRows {
    /// Adds a row: summed into the row of its key, or a new row.
    pub fn add(&mut self, r: FlowDay) {
        match self.index.entry(key_of(&r)) {
            std::collections::hash_map::Entry::Occupied(e) => self.rows[*e.get()].add(&r),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(self.rows.len());
                self.rows.push(r);
            }
        }
    }

    /// The rows, in the order their key was first seen.
    pub fn rows(&self) -> &[FlowDay] {
        &self.rows
    }

    /// Takes the rows out, leaving none.
    pub fn take(&mut self) -> Vec<FlowDay> {
        self.index.clear();
        std::mem::take(&mut self.rows)
    }

    /// Gives each row for which `name` returns a host that host, then sums the rows whose
    /// keys became equal (into the first of them, in place).
    pub fn rename(&mut self, name: impl Fn(&FlowDay) -> Option<Name>) {
        let mut changed = false;
        for r in &mut self.rows {
            if let Some(h) = name(r) {
                if h != r.host {
                    r.host = h;
                    changed = true;
                }
            }
        }
        if changed {
            let rows = self.take();
            for r in rows {
                self.add(r);
            }
        }
    }
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
/// `;`-joined, sorted), `flows` (the rows' flow counts summed: a flow has one row per day
/// and direction), and the sums of [`SUMS`]. Every day of the `covered` spans
/// (first and last day, inclusive; empty: the host's own first to last day) without traffic
/// to a host appears with zeros, so gaps in the capture stay visible; a host's days outside
/// them (frames stamped before 1990) appear as they are, never spread into a grid.
pub fn daily_volume(rows: &[FlowDay], covered: &[(i32, i32)]) -> PolarsResult<DataFrame> {
    let out: Vec<&FlowDay> = rows.iter().filter(|r| r.c2s).collect();
    let u = |f: fn(&FlowDay) -> u64| -> Vec<u64> { out.iter().map(|r| f(r)).collect() };
    let df = df!(
        "day" => out.iter().map(|r| r.day).collect::<Vec<i32>>(),
        "host" => out.iter().map(|r| &*r.host).collect::<Vec<&str>>(),
        "flows" => u(|r| r.flows),
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
    let mut aggs = vec![col("flows").sum()];
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
            flows: 1,
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
            FlowDay {
                flows: 2, // a row summing two flows
                ..row(16_330, "a", 5, true, 50)
            },
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
        assert_eq!(flows, vec![4, 0, 1, 0, 1]);
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

    #[test]
    fn day_rows_sum_per_key_in_first_seen_order_and_rename_merges() {
        let mut d = DayRows::default();
        d.add(row(2, "b", 1, true, 10));
        d.add(row(1, "a", 2, true, 5));
        d.add(row(2, "b", 4, true, 7)); // same key as the first (203.0.113.1)
        d.add(row(2, "b", 4, false, 9)); // other direction: its own row
        d.add(row(2, "b", 3, true, 1)); // other address (203.0.113.0)
        let got: Vec<(i32, &str, bool, u64, u64, u64)> = d
            .rows()
            .iter()
            .map(|r| (r.day, &*r.host, r.c2s, r.flows, r.stream_bytes, r.flow_id))
            .collect();
        assert_eq!(
            got,
            vec![
                (2, "b", true, 2, 17, 1),
                (1, "a", true, 1, 5, 2),
                (2, "b", false, 1, 9, 4),
                (2, "b", true, 1, 1, 3),
            ]
        );
        // Naming the rows of 203.0.113.0 "b" as the first row's key: nothing merges (the
        // address differs); naming every row "b" merges day 2's c2s rows of one address.
        let mut e = DayRows::default();
        e.add(FlowDay {
            host: "x".into(),
            ..row(2, "b", 1, true, 10)
        });
        e.add(row(2, "b", 4, true, 7));
        e.add(row(3, "b", 7, true, 2));
        e.rename(|r| (&*r.host == "x").then(|| Name::from("b")));
        let got: Vec<(i32, &str, u64, u64)> = e
            .rows()
            .iter()
            .map(|r| (r.day, &*r.host, r.flows, r.stream_bytes))
            .collect();
        assert_eq!(got, vec![(2, "b", 2, 17), (3, "b", 1, 2)]);
        // The index follows the merge: a later row of the key adds to the merged row.
        e.add(row(2, "b", 10, true, 3));
        assert_eq!(e.rows().len(), 2);
        assert_eq!(e.rows()[0].stream_bytes, 20);
        assert_eq!(e.take().len(), 2);
        assert!(e.rows().is_empty());
        e.add(row(2, "b", 11, true, 1));
        assert_eq!(e.rows().len(), 1, "take clears the index");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        /// The daily table from rows summed as flows close equals the one from every
        /// flow's own rows.
        #[test]
        fn summed_rows_give_the_daily_table_of_the_flows_own_rows(
            flows in proptest::collection::vec(
                (0i32..4, 0usize..3, 0u64..6, proptest::bool::ANY, 0u64..1000, 0u64..3),
                0..60,
            )
        ) {
            let hosts = ["a", "b", "c"];
            let own: Vec<FlowDay> = flows
                .iter()
                .enumerate()
                .map(|(i, &(day, h, ip, c2s, stream, gap))| FlowDay {
                    server_ip: format!("203.0.113.{ip}").into(),
                    gap_bytes: gap,
                    ..row(16_330 + day, hosts[h], i as u64, c2s, stream)
                })
                .collect();
            let mut summed = DayRows::default();
            for r in &own {
                summed.add(r.clone());
            }
            proptest::prop_assert!(summed.rows().len() <= own.len());
            let a = daily_volume(&own, &[(16_330, 16_333)]).unwrap();
            let b = daily_volume(summed.rows(), &[(16_330, 16_333)]).unwrap();
            proptest::prop_assert!(a.equals(&b), "{a}\n{b}");
        }
    }
}
