//! Content for exfilmeter: what an upload's bytes hold, and which recovered records they are.
//!
//! Everything here needs only the captured bytes and the recovered files (DESIGN §8–§9), not
//! flows, indicators or tables:
//! - [`sniff`]: what bytes look like (base64 text, zlib/gzip headers, entropy, text);
//! - [`lines`]: record lines of decoded content and the streaming [`RecordCounter`];
//! - [`body`]: one upload body scanned ([`BodyScan`]): its kind decided from its first bytes,
//!   base64 and the deflate family decoded on the fly ([`inflate`]), records counted;
//! - [`parts`]: multipart/form-data and form-urlencoded bodies split into their parts;
//! - [`records`], [`index`]: the recovered files' records and the index of their rows;
//! - [`model`]: the record model (sizes, compression ratios) behind the volume estimate;
//! - [`matcher`]: decoded lines matched against the recovered rows ([`Matcher`]).
//!
//! The module graph has no loop: `sniff`, `base64`, `records` → `inflate` → `index` →
//! `lines` → `kind`, `body` → `matcher`, and `model` beside them.
//!
//! ```no_run
//! use exfilmeter_content::{Header, RecordFormat, RecordModel};
//! let m = RecordModel::build(&["stage.csv"], &RecordFormat::Csv, Header::Auto, None)?;
//! let (r_min, r_max) = m.r_range();
//! println!("{} records, mean {:.1} B, r {r_min:.2}..{r_max:.2}", m.count(), m.mean);
//! # Ok::<(), exfilmeter_content::ModelError>(())
//! ```

mod base64;
pub mod body;
pub mod index;
pub mod inflate;
mod kind;
pub mod lines;
pub mod matcher;
pub mod model;
pub mod parts;
pub mod ratios;
pub mod records;
pub mod recovered;
pub mod sniff;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

pub use body::{BodyEnd, BodyResult, BodyScan, Kind};
pub use index::{headers_of, row_hash, IndexError, IndexedFile, KeyCarry, RecoveredIndex, Row};
pub use lines::{Counted, Line, Lines, RecordCounter, RecordShape, Seen};
pub use matcher::{compact, Cursor, Level, Matcher, Merge, Pending, Sightings};
pub use model::{
    CodecRatio, FileModel, IntervalMemo, ModelError, ModelOptions, RatioSource, RecordModel,
};
pub use parts::{form_like, multipart_like, Form, Multipart, PartEvent, LEAD};
pub use ratios::{default_cache_dir, whole_ratios};
pub use records::{fields, split, Header, KeySpec, RecordFormat};
pub use recovered::RecoveredFile;
pub use sniff::entropy;
