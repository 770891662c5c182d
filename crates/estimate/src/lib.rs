//! Estimation for exfilmeter. This first part is the record model of the recovered files
//! (DESIGN §8): records as stored, their size distribution, compression ratios per codec,
//! and a moving-block bootstrap of the mean record size. The daily volume table and the
//! low/point/high estimates build on it.
//!
//! ```no_run
//! use exfilmeter_estimate::{Header, RecordFormat, RecordModel};
//! let m = RecordModel::build(&["stage.csv"], &RecordFormat::Csv, Header::Auto, None)?;
//! let (r_min, r_max) = m.r_range();
//! println!("{} records, mean {:.1} B, r {r_min:.2}..{r_max:.2}", m.count(), m.mean);
//! # Ok::<(), exfilmeter_estimate::ModelError>(())
//! ```

mod collect;
mod content;
mod daily;
mod estimator;
mod index;
pub mod inflate;
mod model;
mod parts;
mod periods;
mod reckon;
mod reconcile;
mod records;
mod tables;
#[cfg(test)]
mod testkit;

pub use collect::{
    host_of, ContentLedger, ContentStats, IocFlow, Rules, Source, SweepHit, Unit, RESIDUAL_MIN,
};
pub use content::{
    entropy, BodyEnd, BodyResult, BodyScan, Counted, Kind, Line, Lines, RecordCounter, RecordShape,
    Seen,
};
pub use daily::{daily_volume, FlowDay, SUMS};
pub use estimator::{estimate, Basis, Content, Estimate};
pub use index::{headers_of, row_hash, IndexError, IndexedFile, KeyCarry, RecoveredIndex, Row};
pub use model::{CodecRatio, FileModel, ModelError, RecordModel};
pub use parts::{Form, Multipart, PartEvent};
pub use periods::{day_number, load_periods, Period, PeriodError};
pub use polars::prelude::DataFrame;
pub use reckon::{estimate_day, has_volume_part, DayEstimate};
pub use reconcile::{
    compact, identity_text, recon_by_day, recon_by_identity, recon_of, records_seen, Cursor, Level,
    Matcher, Merge, Pending, Recon, RecordSeen, Sighting, Sightings,
};
pub use records::{fields, split, Header, KeySpec, RecordFormat};
pub use tables::{
    cells, daily_table, ioc_flows_table, periods_table, read_parquet, records_table,
    sightings_table, status, sweep_table, write_csv, write_parquet, SpanRecon, DAILY_COLUMNS,
    IOC_FLOW_COLUMNS, PERIOD_SUMS, RECORD_COLUMNS, SIGHTING_COLUMNS,
};
