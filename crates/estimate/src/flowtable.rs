//! Column-oriented output tables, written as CSV or Parquet from the same columns, so
//! both formats always carry identical values (and load in pandas, polars, Excel).

use exfilmeter_ingest::Timestamp;
use parquet::basic::{Compression, ZstdLevel};
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int32Type, Int64Type};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use parquet::schema::types::ColumnPath;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

/// Table errors are I/O errors (a file that cannot be created or written; a Parquet
/// encoding failure carried as one), each naming the file where there is one.
type Result<T> = io::Result<T>;

fn pq(e: parquet::errors::ParquetError) -> io::Error {
    io::Error::other(e)
}

fn creating(path: &Path) -> impl FnOnce(io::Error) -> io::Error + '_ {
    move |e| io::Error::new(e.kind(), format!("creating {}: {e}", path.display()))
}

/// Appends `n` in decimal, as `Display` writes it, without the formatting machinery (frame
/// numbers and flow ids: several per ledger row).
pub fn push_u64(n: u64, out: &mut String) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(char::from(d));
    }
}

/// Appends a frame as the tables name it: its capture's file name (`names` by file index; `?`
/// for an index without one), `#` and the frame number.
pub fn push_frame(f: exfilmeter_ingest::FrameRef, names: &[String], out: &mut String) {
    out.push_str(names.get(f.file.0 as usize).map_or("?", String::as_str));
    out.push('#');
    push_u64(f.index, out);
}

/// Appends an address as `std` writes it (dotted decimal; IPv6 in RFC 5952 form through
/// `Display`). IPv4, most of the rows, skips the formatting machinery: it was a sixth of the
/// flow ledger's column building on many short flows.
pub fn push_ip(a: std::net::IpAddr, out: &mut String) {
    match a {
        std::net::IpAddr::V4(v4) => {
            for (i, o) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                if o >= 100 {
                    out.push(char::from(b'0' + o / 100));
                }
                if o >= 10 {
                    out.push(char::from(b'0' + o / 10 % 10));
                }
                out.push(char::from(b'0' + o % 10));
            }
        }
        std::net::IpAddr::V6(_) => {
            use std::fmt::Write as _;
            let _ = write!(out, "{a}");
        }
    }
}

/// UTF-8 strings stored end to end: one allocation per column instead of one per value
/// (the flow ledger writes ten text columns per row).
#[derive(Debug, Clone, Default)]
pub struct Text {
    data: String,
    ends: Vec<usize>,
}

impl Text {
    /// Room for `n` values of about `avg` bytes.
    pub fn with_capacity(n: usize, avg: usize) -> Text {
        Text {
            data: String::with_capacity(n * avg),
            ends: Vec::with_capacity(n),
        }
    }
    /// Appends a value.
    pub fn push(&mut self, s: &str) {
        self.data.push_str(s);
        self.ends.push(self.data.len());
    }
    /// The buffer to write the next value into; [`Text::end`] closes it.
    pub fn buf(&mut self) -> &mut String {
        &mut self.data
    }
    /// Closes the value written into [`Text::buf`] since the last one.
    pub fn end(&mut self) {
        self.ends.push(self.data.len());
    }
    /// Values held.
    pub fn len(&self) -> usize {
        self.ends.len()
    }
    /// No value held.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
    /// Value `i`.
    pub fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.data[start..self.ends[i]]
    }
}

/// One column's values.
pub enum Col {
    /// 64-bit integers.
    I64(Vec<i64>),
    /// Nullable 64-bit integers.
    OptI64(Vec<Option<i64>>),
    /// UTF-8 strings.
    Str(Vec<String>),
    /// UTF-8 strings, stored end to end (same output as `Str`).
    Text(Text),
    /// Calendar dates as days since 1970-01-01 (CSV: `YYYY-MM-DD`).
    Date(Vec<i32>),
    /// UTC timestamps in nanoseconds (CSV: RFC 3339 with 9 fractional digits).
    TsNs(Vec<i64>),
    /// Nullable UTF-8 strings.
    OptStr(Vec<Option<String>>),
    /// Nullable 64-bit floats.
    OptF64(Vec<Option<f64>>),
    /// Nullable booleans.
    OptBool(Vec<Option<bool>>),
}

impl Col {
    fn len(&self) -> usize {
        match self {
            Col::I64(v) | Col::TsNs(v) => v.len(),
            Col::OptI64(v) => v.len(),
            Col::Str(v) => v.len(),
            Col::Text(t) => t.len(),
            Col::Date(v) => v.len(),
            Col::OptStr(v) => v.len(),
            Col::OptF64(v) => v.len(),
            Col::OptBool(v) => v.len(),
        }
    }

    fn parquet_type(&self, name: &str) -> String {
        match self {
            Col::I64(_) => format!("REQUIRED INT64 {name};"),
            Col::OptI64(_) => format!("OPTIONAL INT64 {name};"),
            Col::Str(_) | Col::Text(_) => format!("REQUIRED BYTE_ARRAY {name} (STRING);"),
            Col::Date(_) => format!("REQUIRED INT32 {name} (DATE);"),
            Col::TsNs(_) => format!("REQUIRED INT64 {name} (TIMESTAMP(NANOS,true));"),
            Col::OptStr(_) => format!("OPTIONAL BYTE_ARRAY {name} (STRING);"),
            Col::OptF64(_) => format!("OPTIONAL DOUBLE {name};"),
            Col::OptBool(_) => format!("OPTIONAL BOOLEAN {name};"),
        }
    }

    fn csv_cell(&self, i: usize, out: &mut String) {
        use std::fmt::Write as _;
        match self {
            Col::I64(v) => {
                let _ = write!(out, "{}", v[i]);
            }
            Col::OptI64(v) => {
                if let Some(x) = v[i] {
                    let _ = write!(out, "{x}");
                }
            }
            Col::Str(v) => csv_text(&v[i], out),
            Col::Text(t) => csv_text(t.get(i), out),
            Col::Date(v) => {
                let _ = write!(out, "{}", exfilmeter_flow::Day(v[i]));
            }
            Col::TsNs(v) => {
                let _ = write!(out, "{}", Timestamp(v[i]));
            }
            // (Polars tables are written as CSV by polars; these cells are for completeness.)
            Col::OptStr(v) => {
                if let Some(s) = &v[i] {
                    csv_text(s, out);
                }
            }
            Col::OptF64(v) => {
                if let Some(x) = v[i] {
                    let _ = write!(out, "{x:.4}");
                }
            }
            Col::OptBool(v) => {
                if let Some(x) = v[i] {
                    let _ = write!(out, "{x}");
                }
            }
        }
    }
}

/// A CSV cell for a string: quoted when it holds a comma, quote or line break.
fn csv_text(s: &str, out: &mut String) {
    if s.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

/// Definition levels of a nullable column: 1 present, 0 null.
fn defs<T>(v: &[Option<T>]) -> Vec<i16> {
    v.iter().map(|x| i16::from(x.is_some())).collect()
}

/// A table: named columns of equal length.
#[derive(Default)]
pub struct Table {
    names: Vec<String>,
    cols: Vec<Col>,
    /// Columns whose values are all or nearly all distinct (see [`Table::distinct`]).
    distinct: Vec<&'static str>,
}

impl Table {
    /// A table from (name, column) pairs.
    pub fn new(cols: Vec<(&'static str, Col)>) -> Result<Table> {
        Table::named(cols.into_iter().map(|(n, c)| (n.to_string(), c)).collect())
    }

    /// A table from (name, column) pairs with names made at run time.
    pub fn named(cols: Vec<(String, Col)>) -> Result<Table> {
        let n = cols.first().map_or(0, |c| c.1.len());
        if cols.iter().any(|c| c.1.len() != n) {
            return Err(io::Error::other(
                "internal error: table columns of different lengths",
            ));
        }
        let (names, cols) = cols.into_iter().unzip();
        Ok(Table {
            names,
            cols,
            distinct: Vec::new(),
        })
    }

    /// Marks columns whose values are all or nearly all distinct (a flow's id, its first and
    /// last frame): Parquet writes them without a dictionary, which could only grow past its
    /// size limit and fall back to plain values after hashing every one (decision 0024).
    /// Same values either way; CSV is unchanged.
    pub fn distinct(mut self, names: &[&'static str]) -> Table {
        self.distinct.extend_from_slice(names);
        self
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.cols.first().map_or(0, Col::len)
    }

    fn schema(&self) -> Result<Arc<parquet::schema::types::Type>> {
        let fields: String = self
            .names
            .iter()
            .zip(&self.cols)
            .map(|(n, c)| c.parquet_type(n))
            .collect::<Vec<_>>()
            .join("\n");
        Ok(Arc::new(
            parse_message_type(&format!("message table {{\n{fields}\n}}")).map_err(pq)?,
        ))
    }

    fn write_row_group(&self, writer: &mut SerializedFileWriter<std::fs::File>) -> Result<()> {
        let mut rg = writer.next_row_group().map_err(pq)?;
        let mut j = 0;
        while let Some(mut col) = rg.next_column().map_err(pq)? {
            match &self.cols[j] {
                Col::I64(v) | Col::TsNs(v) => {
                    col.typed::<Int64Type>()
                        .write_batch(v, None, None)
                        .map_err(pq)?;
                }
                Col::OptI64(v) => {
                    let vals: Vec<i64> = v.iter().flatten().copied().collect();
                    let defs: Vec<i16> = v.iter().map(|x| i16::from(x.is_some())).collect();
                    col.typed::<Int64Type>()
                        .write_batch(&vals, Some(&defs), None)
                        .map_err(pq)?;
                }
                Col::Str(v) => {
                    let vals: Vec<ByteArray> =
                        v.iter().map(|s| ByteArray::from(s.as_str())).collect();
                    col.typed::<ByteArrayType>()
                        .write_batch(&vals, None, None)
                        .map_err(pq)?;
                }
                Col::Text(t) => {
                    // One copy of the column's bytes; every value is a slice of it.
                    let all = bytes::Bytes::copy_from_slice(t.data.as_bytes());
                    let mut start = 0;
                    let vals: Vec<ByteArray> = t
                        .ends
                        .iter()
                        .map(|&end| {
                            let v = ByteArray::from(all.slice(start..end));
                            start = end;
                            v
                        })
                        .collect();
                    col.typed::<ByteArrayType>()
                        .write_batch(&vals, None, None)
                        .map_err(pq)?;
                }
                Col::Date(v) => {
                    col.typed::<Int32Type>()
                        .write_batch(v, None, None)
                        .map_err(pq)?;
                }
                Col::OptStr(v) => {
                    let vals: Vec<ByteArray> = v
                        .iter()
                        .flatten()
                        .map(|s| ByteArray::from(s.as_str()))
                        .collect();
                    col.typed::<ByteArrayType>()
                        .write_batch(&vals, Some(&defs(v)), None)
                        .map_err(pq)?;
                }
                Col::OptF64(v) => {
                    let vals: Vec<f64> = v.iter().flatten().copied().collect();
                    col.typed::<DoubleType>()
                        .write_batch(&vals, Some(&defs(v)), None)
                        .map_err(pq)?;
                }
                Col::OptBool(v) => {
                    let vals: Vec<bool> = v.iter().flatten().copied().collect();
                    col.typed::<BoolType>()
                        .write_batch(&vals, Some(&defs(v)), None)
                        .map_err(pq)?;
                }
            }
            col.close().map_err(pq)?;
            j += 1;
        }
        rg.close().map_err(pq)?;
        Ok(())
    }
}

/// Writes a table batch by batch (so memory stays bounded), as CSV or Parquet chosen by
/// the output's extension; standard output is CSV. Deterministic bytes.
pub enum TableWriter {
    /// CSV with one header line.
    Csv {
        /// Destination.
        out: Box<dyn Write + Send>,
        /// Header written yet.
        header: bool,
    },
    /// Parquet (zstd), one row group per batch.
    Parquet {
        /// Destination path.
        path: std::path::PathBuf,
        /// Created at the first batch (the schema comes from it).
        writer: Option<SerializedFileWriter<std::fs::File>>,
    },
}

impl TableWriter {
    /// A writer for `path` (`.csv` or `.parquet`), or CSV on stdout for `None`.
    pub fn create(path: Option<&Path>) -> Result<TableWriter> {
        let Some(path) = path else {
            return Ok(TableWriter::Csv {
                out: Box::new(std::io::BufWriter::with_capacity(
                    1 << 20,
                    std::io::stdout(),
                )),
                header: false,
            });
        };
        match path.extension().and_then(|e| e.to_str()) {
            Some("parquet") => Ok(TableWriter::Parquet {
                path: path.to_path_buf(),
                writer: None,
            }),
            Some("csv") => {
                let f = std::fs::File::create(path).map_err(creating(path))?;
                Ok(TableWriter::Csv {
                    out: Box::new(std::io::BufWriter::with_capacity(1 << 20, f)),
                    header: false,
                })
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{}: the output format is chosen by extension: .csv or .parquet",
                    path.display()
                ),
            )),
        }
    }

    /// Appends a batch (all batches must have the same columns).
    pub fn write(&mut self, t: &Table) -> Result<()> {
        match self {
            TableWriter::Csv { out, header } => {
                let mut line = String::new();
                if !*header {
                    line.push_str(&t.names.join(","));
                    line.push('\n');
                    *header = true;
                }
                for i in 0..t.rows() {
                    for (j, c) in t.cols.iter().enumerate() {
                        if j > 0 {
                            line.push(',');
                        }
                        c.csv_cell(i, &mut line);
                    }
                    line.push('\n');
                    if line.len() > 1 << 16 {
                        out.write_all(line.as_bytes())?;
                        line.clear();
                    }
                }
                out.write_all(line.as_bytes())?;
            }
            TableWriter::Parquet { path, writer } => {
                if writer.is_none() {
                    let mut builder = WriterProperties::builder()
                        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).map_err(pq)?))
                        .set_created_by(format!("exfilmeter {}", env!("CARGO_PKG_VERSION")));
                    // The flow ledger's text columns (addresses, frames, history, reasons)
                    // carry no min/max statistics: no query prunes on the byte order of
                    // `capture.pcap#123`, and computing them was a sixth of `flows` on many
                    // small flows (decision 0024). Numbers and dates keep theirs.
                    for (name, col) in t.names.iter().zip(&t.cols) {
                        if matches!(col, Col::Text(_)) {
                            builder = builder.set_column_statistics_enabled(
                                ColumnPath::from(name.as_str()),
                                EnabledStatistics::None,
                            );
                        }
                    }
                    for name in &t.distinct {
                        builder =
                            builder.set_column_dictionary_enabled(ColumnPath::from(*name), false);
                    }
                    let props = Arc::new(builder.build());
                    let f = std::fs::File::create(&*path).map_err(creating(path))?;
                    *writer = Some(SerializedFileWriter::new(f, t.schema()?, props).map_err(pq)?);
                }
                if let Some(w) = writer.as_mut() {
                    if t.rows() > 0 {
                        t.write_row_group(w)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Flushes and closes; `empty` supplies the columns when no batch was written.
    pub fn finish(mut self, empty: &Table) -> Result<()> {
        match &mut self {
            TableWriter::Csv { header: false, .. } | TableWriter::Parquet { writer: None, .. } => {
                self.write(empty)?;
            }
            _ => {}
        }
        match self {
            TableWriter::Csv { mut out, .. } => out.flush()?,
            TableWriter::Parquet { writer, .. } => {
                if let Some(w) = writer {
                    w.close().map_err(pq)?;
                }
            }
        }
        Ok(())
    }
}

/// A [`TableWriter`] as [`Batches`]: each table is appended; at the end the output is
/// closed, with `empty`'s columns when no table was written.
pub struct Encode {
    /// Where the tables go.
    pub writer: TableWriter,
    /// The columns of an output without rows.
    pub empty: Table,
}

impl Batches for Encode {
    type Batch = Table;
    fn take(&mut self, t: Table) -> Result<()> {
        self.writer.write(&t)
    }
    fn finish(self) -> Result<()> {
        self.writer.finish(&self.empty)
    }
}

/// What a [`Background`] thread does with each batch handed to it, and at the end.
pub trait Batches: Send + 'static {
    /// What is handed over.
    type Batch: Send + 'static;
    /// Takes a batch (encodes it, writes it out).
    fn take(&mut self, b: Self::Batch) -> Result<()>;
    /// The last batch was taken: flush and close.
    fn finish(self) -> Result<()>;
}

/// A [`Batches`] on a thread of its own, so that its work (for the flow ledger: building the
/// rows' cells, then Parquet's dictionaries and zstd) runs beside the flow stage. At most
/// `depth` batches wait, which bounds memory. Errors come back at the next hand-over or at
/// the end, and the thread raises a shared flag as soon as it stops on one.
pub struct Background<W: Batches> {
    /// Batches, then `None` to finish.
    tx: Option<std::sync::mpsc::SyncSender<Option<W::Batch>>>,
    handle: Option<std::thread::JoinHandle<Result<()>>>,
    /// Set when dropped without [`Background::finish`]: the batches still waiting are not
    /// taken.
    abandoned: Arc<std::sync::atomic::AtomicBool>,
    /// The thread's name, for its errors.
    name: String,
}

impl<W: Batches> Background<W> {
    /// Starts thread `name` working for `w`, with at most `depth` batches waiting; the thread
    /// sets `failed` when a batch or the finish fails. `Err` (with `w` back) when no thread
    /// can be started.
    pub fn spawn(
        w: W,
        depth: usize,
        name: &str,
        failed: &Arc<std::sync::atomic::AtomicBool>,
    ) -> std::result::Result<Background<W>, Box<W>> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Option<W::Batch>>(depth);
        // `w` goes to the thread only when it starts; if it cannot, it is taken back.
        let slot = Arc::new(std::sync::Mutex::new(Some(w)));
        let theirs = Arc::clone(&slot);
        let abandoned = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let given_up = Arc::clone(&abandoned);
        let failed = Arc::clone(failed);
        let run = move || -> Result<()> {
            let taken = theirs.lock().ok().and_then(|mut s| s.take());
            let Some(mut w) = taken else {
                return Ok(());
            };
            for b in rx {
                if given_up.load(std::sync::atomic::Ordering::Acquire) {
                    break;
                }
                match b {
                    Some(b) => w.take(b)?,
                    None => return w.finish(),
                }
            }
            // Dropped without `finish` (the run gave up): the output is not finished.
            Ok(())
        };
        let spawned = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let r = run();
                if r.is_err() {
                    failed.store(true, std::sync::atomic::Ordering::Release);
                }
                r
            });
        let name = name.to_string();
        match spawned {
            Ok(handle) => Ok(Background {
                tx: Some(tx),
                handle: Some(handle),
                abandoned,
                name,
            }),
            // The thread never ran: `w` is still in the slot.
            Err(_) => match slot.lock().ok().and_then(|mut s| s.take()) {
                Some(w) => Err(Box::new(w)),
                None => Ok(Background {
                    tx: None,
                    handle: None,
                    abandoned,
                    name,
                }),
            },
        }
    }

    fn joined(&mut self) -> Result<()> {
        self.tx = None;
        match self.handle.take().map(std::thread::JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(io::Error::other(format!(
                "the {} thread panicked",
                self.name
            ))),
            None => Ok(()),
        }
    }

    fn gone(&self) -> io::Error {
        io::Error::other(format!("the {} thread stopped", self.name))
    }

    /// The thread has ended before [`Background::finish`]: a batch could not be taken (the
    /// next [`Background::write`] returns why). Callers outside watch the shared flag.
    fn stopped(&self) -> bool {
        self.handle
            .as_ref()
            .is_some_and(std::thread::JoinHandle::is_finished)
    }

    /// `Err` (why) once the thread has stopped before [`Background::finish`].
    pub fn check(&mut self) -> Result<()> {
        if !self.stopped() {
            return Ok(());
        }
        self.joined()?;
        Err(self.gone())
    }

    /// Hands a batch over (waits while `depth` batches wait).
    pub fn write(&mut self, b: W::Batch) -> Result<()> {
        let sent = self.tx.as_ref().is_some_and(|tx| tx.send(Some(b)).is_ok());
        if sent {
            return Ok(());
        }
        // The thread stopped: its error says why.
        self.joined()?;
        Err(self.gone())
    }

    /// Waits for every batch handed over to be taken, then for [`Batches::finish`].
    pub fn finish(mut self) -> Result<()> {
        if let Some(tx) = self.tx.take() {
            // A failed send means the thread stopped with an error, returned by the join.
            let _ = tx.send(None);
        }
        self.joined()
    }
}

impl<W: Batches> Drop for Background<W> {
    /// A run that gives up drops its writer: the thread takes no batch still waiting and
    /// does not finish the output, and it is waited for. The batch it is taking is still
    /// written (and may start the output), but nothing is written once the drop returns, so
    /// the caller may then remove a half-written output.
    fn drop(&mut self) {
        self.abandoned
            .store(true, std::sync::atomic::Ordering::Release);
        self.tx = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// [`Batches`] taken on a thread of their own ([`Background`]), or here, one by one, when no
/// thread could be started.
pub enum Stage<W: Batches> {
    /// On a thread.
    Thread(Background<W>),
    /// Here.
    Here(Box<W>),
}

impl<W: Batches> Stage<W> {
    /// `w` on thread `name` ([`Background::spawn`]), else here.
    pub fn start(
        w: W,
        depth: usize,
        name: &str,
        failed: &Arc<std::sync::atomic::AtomicBool>,
    ) -> Stage<W> {
        match Background::spawn(w, depth, name, failed) {
            Ok(b) => Stage::Thread(b),
            Err(w) => Stage::Here(w),
        }
    }

    /// Hands a batch over, or takes it here.
    pub fn take(&mut self, b: W::Batch) -> Result<()> {
        match self {
            Stage::Thread(t) => t.write(b),
            Stage::Here(w) => w.take(b),
        }
    }

    /// `Err` (why) once the thread has stopped on an error.
    pub fn check(&mut self) -> Result<()> {
        match self {
            Stage::Thread(t) => t.check(),
            Stage::Here(_) => Ok(()),
        }
    }

    /// Every batch taken, then [`Batches::finish`].
    pub fn finish(self) -> Result<()> {
        match self {
            Stage::Thread(t) => t.finish(),
            Stage::Here(w) => w.finish(),
        }
    }
}

#[cfg(test)]
mod background_tests {
    use super::{Background, Batches};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    /// Takes numbers into a shared log; `finish` logs `-1`; the batch equal to `.1` fails.
    struct Log(Arc<Mutex<Vec<i64>>>, i64);
    impl Batches for Log {
        type Batch = i64;
        fn take(&mut self, b: i64) -> std::io::Result<()> {
            if b == self.1 {
                return Err(std::io::Error::other("no space left"));
            }
            self.0.lock().unwrap().push(b);
            Ok(())
        }
        fn finish(self) -> std::io::Result<()> {
            self.0.lock().unwrap().push(-1);
            Ok(())
        }
    }

    fn spawn(
        fail_at: i64,
        depth: usize,
    ) -> (Background<Log>, Arc<Mutex<Vec<i64>>>, Arc<AtomicBool>) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let failed = Arc::new(AtomicBool::new(false));
        let w = Background::spawn(Log(Arc::clone(&log), fail_at), depth, "t", &failed)
            .ok()
            .unwrap();
        (w, log, failed)
    }

    #[test]
    fn finish_takes_every_batch_in_order_then_finishes() {
        let (mut w, log, failed) = spawn(0, 2);
        for b in 1..=20 {
            w.write(b).unwrap();
        }
        w.finish().unwrap();
        let want: Vec<i64> = (1..=20).chain([-1]).collect();
        assert_eq!(*log.lock().unwrap(), want);
        assert!(!failed.load(Ordering::Acquire));
    }

    #[test]
    fn a_dropped_writer_does_not_finish() {
        let (mut w, log, _) = spawn(0, 4);
        for b in 1..=3 {
            w.write(b).unwrap();
        }
        drop(w);
        let got = log.lock().unwrap().clone();
        assert!(!got.contains(&-1), "{got:?}");
        assert!(got.iter().zip(1..).all(|(&g, want)| g == want), "{got:?}");
    }

    #[test]
    fn a_failed_batch_stops_the_thread_raises_the_flag_and_its_error_comes_back() {
        let (mut w, log, failed) = spawn(2, 1);
        let mut err = None;
        for b in 1..=50 {
            if let Err(e) = w.write(b) {
                err = Some(e);
                break;
            }
        }
        assert!(failed.load(Ordering::Acquire));
        let e = err.unwrap_or_else(|| w.finish().unwrap_err());
        assert!(e.to_string().contains("no space"), "{e}");
        assert_eq!(*log.lock().unwrap(), vec![1]);
    }
}

#[cfg(test)]
mod tests {
    use super::push_ip;
    use proptest::prelude::*;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    proptest! {
        #[test]
        fn numbers_are_written_as_std_writes_them(n in any::<u64>(), small in 0u64..1000) {
            for x in [n, small, 0, u64::MAX] {
                let mut s = String::from("x");
                super::push_u64(x, &mut s);
                prop_assert_eq!(s, format!("x{x}"));
            }
        }

        #[test]
        fn ip_text_is_what_std_writes(v4 in any::<u32>(), v6 in any::<u128>()) {
            for a in [IpAddr::V4(Ipv4Addr::from(v4)), IpAddr::V6(Ipv6Addr::from(v6))] {
                let mut s = String::from("x");
                push_ip(a, &mut s);
                prop_assert_eq!(s, format!("x{a}"));
            }
        }
    }

    #[test]
    fn ip_text_edges() {
        for a in [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.100.9",
            "::",
            "::ffff:1.2.3.4",
        ] {
            let ip: IpAddr = a.parse().unwrap();
            let mut s = String::new();
            push_ip(ip, &mut s);
            assert_eq!(s, a);
        }
    }
}
