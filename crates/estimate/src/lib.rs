//! Accounting and estimation for exfilmeter: the content ledger of every attributed flow per
//! local day (uploads split, decoded and counted with [`exfilmeter_content`], their record
//! lines matched against the recovered rows), the daily volume table per day × malicious host,
//! the low/point/high record estimates (DESIGN §8), the reconciliation with the records
//! confirmed by matching (DESIGN §9), and the output tables.
//!
//! [`pipeline`] is the one place packets enter the flow stage: `flows`, `analyze` and the
//! tests read their inputs through it.

pub mod analysis;
mod collect;
mod daily;
mod estimator;
pub mod flowtable;
mod ledger;
pub mod partial;
mod periods;
pub mod pipeline;
mod reconcile;
pub mod shard;
pub mod split;
mod tables;

pub use collect::{
    host_of, Closed, ContentLedger, ContentStats, IocFlow, IocFlows, Rules, Source, SweepHit, Unit,
    RESIDUAL_MIN,
};
pub use daily::{daily_volume, FlowDay, SUMS};
pub use estimator::{estimate, Basis, Content, Estimate};
pub use estimator::{
    estimate_day, estimate_sums, has_volume_part, unit_table, DayEstimate, UnitSums, UnitTable,
};
pub use exfilmeter_content::{
    compact, entropy, fields, headers_of, inflate, row_hash, split, BodyEnd, BodyResult, BodyScan,
    CodecRatio, Counted, Cursor, FileModel, Form, Header, IndexError, IndexedFile, KeyCarry,
    KeySpec, Kind, Level, Line, Lines, Matcher, Merge, ModelError, Multipart, PartEvent, Pending,
    RecordCounter, RecordFormat, RecordModel, RecordShape, RecoveredIndex, Row, Seen, Sightings,
};
pub use exfilmeter_content::{
    default_cache_dir, index::DEFAULT_MEMORY, recovered, ModelOptions, RatioSource, RecoveredFile,
};
pub use exfilmeter_flow::Day;
pub use flowtable::{Col, Table, TableWriter};
pub use ledger::{tunnel_table, write_tunnels, Rows};
pub use periods::{load_periods, Period, PeriodError};
pub use pipeline::{
    input_names, probe, readable_inputs, FileRead, NoRows, Pipeline, Progress, Read, Tee, Window,
    Windowed,
};
pub use polars::prelude::DataFrame;
pub use reconcile::{
    identity_text, recon_by_day, recon_by_identity, recon_of, records_seen, Recon, RecordSeen,
    Sighting,
};
pub use shard::{ClosedFlow, Collector, Gather, ShardSink};
pub use tables::{
    cells, daily_table, ioc_flows_table, periods_table, read_parquet, records_table,
    sightings_table, status, sweep_table, write_csv, write_ioc_flows, write_ioc_flows_sorted,
    write_parquet, SpanRecon, DAILY_COLUMNS, IOC_FLOW_COLUMNS, PERIOD_SUMS, RECORD_COLUMNS,
    SIGHTING_COLUMNS,
};
