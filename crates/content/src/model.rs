//! The record model of the recovered files (DESIGN §8): how many records, how big as
//! stored, and how well they compress with the codecs an attacker would have used.

use crate::records::{
    field_count, key_column, read_record, record_key, Header, KeySpec, RecordFormat,
};
use crate::recovered::RecoveredFile;
use std::fmt;
use std::path::{Path, PathBuf};

/// A problem with a recovered file.
#[derive(Debug)]
#[non_exhaustive]
pub enum ModelError {
    /// Could not read it.
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It holds no records.
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The key cannot be found (e.g. a header name in a file without header).
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// It is not text records of the record format (binary data, or CSV whose records do
    /// not share a field count).
    NotRecords {
        /// The file.
        path: PathBuf,
        /// Byte offset (in the decoded content, for an archive) where it shows.
        offset: u64,
        /// Why.
        message: String,
    },
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            ModelError::Empty { path } => write!(f, "{}: no records found", path.display()),
            ModelError::Key { path, message } => write!(f, "{}: {message}", path.display()),
            ModelError::NotRecords {
                path,
                offset,
                message,
            } => write!(f, "{}: at byte offset {offset}: {message}", path.display()),
        }
    }
}

impl std::error::Error for ModelError {}

pub use crate::ratios::{CodecRatio, RatioSource};

/// Per-file facts.
#[derive(Debug, Clone, PartialEq)]
pub struct FileModel {
    /// The file.
    pub path: PathBuf,
    /// Bytes in the file.
    pub size: u64,
    /// Records (header excluded).
    pub records: u64,
    /// Whether a header line was found and excluded.
    pub header: bool,
    /// Records without a key (when a key is configured).
    pub missing_keys: u64,
}

/// The record model.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordModel {
    /// Record layout used.
    pub format: String,
    /// Per file.
    pub files: Vec<FileModel>,
    /// Record sizes as stored (bytes), in file order.
    pub sizes: Vec<u32>,
    /// Mean record size (bytes).
    pub mean: f64,
    /// Standard deviation (bytes).
    pub sd: f64,
    /// Smallest record.
    pub min: u32,
    /// Largest record.
    pub max: u32,
    /// Quantiles of the record size at 1, 5, 25, 50, 75, 95, 99 %.
    pub quantiles: Vec<(f64, f64)>,
    /// Compression ratios by codec.
    pub ratios: Vec<CodecRatio>,
    /// Where the ratios came from (measured, or the cache).
    pub ratio_source: RatioSource,
    /// Most common number of CSV fields per record (csv format only).
    pub fields: Option<usize>,
    /// Header lines of the files that have one (without terminator).
    pub headers: Vec<Vec<u8>>,
    /// [`RecordModel::mean_interval`]s computed so far (an estimate per day × host asks for
    /// the same few sample sizes again and again).
    pub intervals: IntervalMemo,
}

/// Remembered results of [`RecordModel::mean_interval`] by (records, iterations): the same
/// values as computing them again (the resampling is seeded by the sample size). Never part
/// of a comparison of models.
#[derive(Debug, Default)]
pub struct IntervalMemo(std::sync::Mutex<std::collections::HashMap<(u64, u32), (f64, f64)>>);

impl Clone for IntervalMemo {
    fn clone(&self) -> Self {
        IntervalMemo(std::sync::Mutex::new(
            self.0.lock().map(|m| m.clone()).unwrap_or_default(),
        ))
    }
}

impl PartialEq for IntervalMemo {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

fn quantile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let w = pos - lo as f64;
    f64::from(sorted[lo]) * (1.0 - w) + f64::from(sorted[hi]) * w
}

/// A record without its line terminator.
fn content(rec: &[u8]) -> &[u8] {
    let r = rec.strip_suffix(b"\n").unwrap_or(rec);
    r.strip_suffix(b"\r").unwrap_or(r)
}

/// How the model is built.
#[derive(Debug, Clone)]
pub struct ModelOptions {
    /// Threads the compression ratios are measured on (the result is the same for any).
    pub threads: usize,
    /// Folder of the ratio cache (None: no cache).
    pub cache: Option<PathBuf>,
}

impl Default for ModelOptions {
    fn default() -> Self {
        ModelOptions {
            threads: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            cache: None,
        }
    }
}

/// Decoded bytes of each recovered file checked for binary data.
const BINARY_CHECK: u64 = 1 << 20;

impl RecordModel {
    /// Builds the model from recovered files (read here; no cache).
    pub fn build<P: AsRef<Path>>(
        paths: &[P],
        format: &RecordFormat,
        header: Header,
        key: Option<&KeySpec>,
    ) -> Result<RecordModel, ModelError> {
        let paths: Vec<PathBuf> = paths.iter().map(|p| p.as_ref().to_path_buf()).collect();
        let files = crate::recovered::open(&paths, format, header, crate::index::DEFAULT_MEMORY)
            .map_err(|e| ModelError::Io {
                path: e.path,
                source: e.source,
            })?;
        Self::of(&files, format, key, &ModelOptions::default())
    }

    /// Builds the model from recovered files already read ([`crate::recovered::open`]).
    pub fn of(
        recovered: &[RecoveredFile],
        format: &RecordFormat,
        key: Option<&KeySpec>,
        opts: &ModelOptions,
    ) -> Result<RecordModel, ModelError> {
        let mut files = Vec::new();
        let mut sizes = Vec::new();
        let mut regions = Vec::new();
        let mut headers = Vec::new();
        let mut field_counts: std::collections::BTreeMap<usize, u64> = Default::default();
        for file in recovered {
            let path = file.path.as_path();
            let io = |source| ModelError::Io {
                path: path.to_path_buf(),
                source,
            };
            let key_err = |message| ModelError::Key {
                path: path.to_path_buf(),
                message,
            };
            let hdr = file.header;
            let mut reader = file.reader().map_err(io)?;
            let mut column = match key {
                Some(KeySpec::Name(_)) if hdr => None,
                Some(k) => key_column(k, None).map_err(key_err)?,
                None => None,
            };
            let (mut size, mut records, mut missing) = (0u64, 0u64, 0u64);
            let mut header_len = 0u64;
            let mut rec = Vec::new();
            let mut counts: std::collections::BTreeMap<usize, u64> = Default::default();
            let text = !matches!(format, RecordFormat::Fixed(_));
            loop {
                let n = read_record(&mut reader, format, &mut rec).map_err(io)?;
                if n == 0 {
                    break;
                }
                let utf16 = rec.starts_with(&[0xff, 0xfe]) || rec.starts_with(&[0xfe, 0xff]);
                if text && size == 0 && utf16 {
                    return Err(ModelError::NotRecords {
                        path: path.to_path_buf(),
                        offset: 0,
                        message: "UTF-16 text (a byte-order mark): convert it to UTF-8 first \
                                  (iconv -f UTF-16 -t UTF-8)"
                            .into(),
                    });
                }
                if text && size < BINARY_CHECK {
                    // Tab, line ends, vertical tab and form feed (in-field breaks of some
                    // exports) and a DOS end-of-file mark are text.
                    let binary =
                        |b: u8| b == 0 || (b < 0x20 && !b"\t\r\n\x0b\x0c\x1a".contains(&b));
                    if let Some(i) = rec.iter().position(|&b| binary(b)) {
                        return Err(ModelError::NotRecords {
                            path: path.to_path_buf(),
                            offset: size + i as u64,
                            message: format!(
                                "binary data (byte 0x{:02x}), not text records of the {format} \
                                 format (an archive of them — zip, gzip, zlib — is decoded; fixed:N \
                                 takes binary records)",
                                rec[i]
                            ),
                        });
                    }
                }
                size += n as u64;
                if hdr && size == n as u64 {
                    if let Some(k @ KeySpec::Name(_)) = key {
                        column = key_column(k, Some(&rec)).map_err(key_err)?;
                    }
                    headers.push(content(&rec).to_vec());
                    header_len = n as u64;
                    continue;
                }
                records += 1;
                if *format == RecordFormat::Csv {
                    let c = field_count(&rec);
                    *field_counts.entry(c).or_default() += 1;
                    *counts.entry(c).or_default() += 1;
                }
                sizes.push(u32::try_from(n).unwrap_or(u32::MAX));
                if let Some(k) = key {
                    let c = if matches!(format, RecordFormat::Fixed(_)) {
                        &rec[..]
                    } else {
                        content(&rec)
                    };
                    missing += u64::from(record_key(c, k, column).is_none());
                }
            }
            if records == 0 {
                return Err(ModelError::Empty {
                    path: path.to_path_buf(),
                });
            }
            if let Some((&fields, &most)) = counts.iter().max_by_key(|(_, c)| **c) {
                if records >= 20 && most * 2 < records {
                    return Err(ModelError::NotRecords {
                        path: path.to_path_buf(),
                        offset: 0,
                        message: format!(
                            "not CSV records: only {most} of {records} records have the most \
                             common field count ({fields}); give the record format (--record-format \
                             lines or fixed:N)"
                        ),
                    });
                }
            }
            if let (Some(k), true) = (key, records > 0 && missing == records) {
                let why = match k {
                    KeySpec::Column(c) => {
                        let widest = counts.keys().next_back().copied().unwrap_or(1);
                        format!(
                            "--key {c}: no record has a value in that column (its records have \
                             up to {widest} field(s))"
                        )
                    }
                    _ => "--key: no record has the key".to_string(),
                };
                return Err(ModelError::Key {
                    path: path.to_path_buf(),
                    message: why,
                });
            }
            regions.push((header_len, size - header_len));
            files.push(FileModel {
                path: path.to_path_buf(),
                size,
                records,
                header: hdr,
                missing_keys: missing,
            });
        }
        let stream = crate::ratios::Stream::new(recovered, &regions);
        let (ratios, ratio_source) = crate::ratios::ratios(
            recovered,
            &stream,
            &format.to_string(),
            opts.threads,
            opts.cache.as_deref(),
        )
        .map_err(|source| ModelError::Io {
            path: recovered
                .first()
                .map_or_else(PathBuf::new, |f| f.path.clone()),
            source,
        })?;
        let n = sizes.len() as f64;
        let mean = sizes.iter().map(|&s| f64::from(s)).sum::<f64>() / n;
        let var = sizes
            .iter()
            .map(|&s| (f64::from(s) - mean).powi(2))
            .sum::<f64>()
            / (n - 1.0).max(1.0);
        let mut sorted = sizes.clone();
        sorted.sort_unstable();
        let quantiles = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99]
            .iter()
            .map(|&q| (q, quantile(&sorted, q)))
            .collect();
        Ok(RecordModel {
            format: format.to_string(),
            files,
            mean,
            sd: var.sqrt(),
            min: sorted.first().copied().unwrap_or(0),
            max: sorted.last().copied().unwrap_or(0),
            quantiles,
            ratios,
            ratio_source,
            sizes,
            fields: field_counts
                .iter()
                .max_by_key(|(n, c)| (**c, std::cmp::Reverse(**n)))
                .map(|(n, _)| *n),
            headers,
            intervals: IntervalMemo::default(),
        })
    }

    /// What the records look like, for recognising them in traffic.
    pub fn shape(&self, format: &RecordFormat) -> crate::lines::RecordShape {
        crate::lines::RecordShape {
            format: format.clone(),
            fields: self.fields,
            headers: self.headers.iter().cloned().collect(),
            min_size: self.min.max(1),
            collect_lines: 0,
            archives: Vec::new(),
        }
    }

    /// Number of records.
    pub fn count(&self) -> u64 {
        self.sizes.len() as u64
    }

    /// Some ratio was measured on blocks of the records, not all of them.
    pub fn ratios_sampled(&self) -> bool {
        self.ratios.iter().any(|r| r.blocks > 0)
    }

    /// Smallest and largest compression ratio over the codecs (1.0 when none).
    pub fn r_range(&self) -> (f64, f64) {
        let it = self.ratios.iter().map(|r| r.ratio);
        let lo = it.clone().fold(f64::INFINITY, f64::min);
        let hi = it.fold(0.0, f64::max);
        if self.ratios.is_empty() {
            (1.0, 1.0)
        } else {
            (lo, hi)
        }
    }

    /// 2.5 % and 97.5 % quantiles of the mean size of `n` consecutive records, by a
    /// moving-block bootstrap over the recovered records (blocks of ⌈√n⌉ records, fixed
    /// seed, `iterations` resamples): a 10-record day gets a wide interval, a 10,000-record
    /// day a narrow one.
    ///
    /// Above [`BOOTSTRAP_MAX_N`] records the resampling is done at that size and the spread
    /// around the mean scaled by √(BOOTSTRAP_MAX_N / n) (the central limit theorem), so the
    /// cost stays bounded on days of millions of records.
    pub fn mean_interval(&self, n: u64, iterations: u32) -> (f64, f64) {
        if let Some(v) = self
            .intervals
            .0
            .lock()
            .ok()
            .and_then(|m| m.get(&(n, iterations)).copied())
        {
            return v;
        }
        let v = self.resampled_interval(n, iterations);
        if let Ok(mut m) = self.intervals.0.lock() {
            m.insert((n, iterations), v);
        }
        v
    }

    fn resampled_interval(&self, n: u64, iterations: u32) -> (f64, f64) {
        let len = self.sizes.len();
        if len == 0 || n == 0 {
            return (self.mean, self.mean);
        }
        if n > BOOTSTRAP_MAX_N {
            let (lo, hi) = self.mean_interval(BOOTSTRAP_MAX_N, iterations);
            let f = (BOOTSTRAP_MAX_N as f64 / n as f64).sqrt();
            return (
                self.mean - (self.mean - lo) * f,
                self.mean + (hi - self.mean) * f,
            );
        }
        let block = ((n as f64).sqrt().ceil() as usize).clamp(1, len);
        let mut rng = Rng(0x5EED_0000_0000_0001 ^ n);
        let mut means: Vec<f64> = (0..iterations.max(1))
            .map(|_| {
                let mut total = 0u64;
                let mut taken = 0u64;
                while taken < n {
                    let start = (rng.next() % (len - block + 1) as u64) as usize;
                    for &s in &self.sizes[start..start + block] {
                        if taken == n {
                            break;
                        }
                        total += u64::from(s);
                        taken += 1;
                    }
                }
                total as f64 / n as f64
            })
            .collect();
        means.sort_by(f64::total_cmp);
        let at = |q: f64| means[((means.len() - 1) as f64 * q).round() as usize];
        (at(0.025), at(0.975))
    }
}

/// Largest sample size resampled directly by [`RecordModel::mean_interval`].
pub const BOOTSTRAP_MAX_N: u64 = 10_000;

/// xorshift64*: deterministic resampling.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &tempfile::TempDir, name: &str, content: &str) -> PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    #[test]
    fn sizes_stats_and_keys_by_column_name_and_regex() {
        let dir = tempfile::tempdir().unwrap();
        let p = file(
            &dir,
            "s.csv",
            "member_no,name\n100000001,Ann\n100000002,Bob Brown\n,NoKey\n",
        );
        let m = RecordModel::build(
            &[&p],
            &RecordFormat::Csv,
            Header::Auto,
            Some(&KeySpec::parse("member_no").unwrap()),
        )
        .unwrap();
        assert_eq!(m.sizes, vec![14, 20, 7]);
        assert_eq!(m.count(), 3);
        assert!((m.mean - 41.0 / 3.0).abs() < 1e-9);
        assert_eq!((m.min, m.max), (7, 20));
        assert_eq!(m.files[0].missing_keys, 1);
        let m = RecordModel::build(
            &[&p],
            &RecordFormat::Lines,
            Header::Yes,
            Some(&KeySpec::parse("^(\\d{9}),").unwrap()),
        )
        .unwrap();
        assert_eq!(
            m.files[0].missing_keys, 1,
            "the record without a member number"
        );
        // A header name in a file without header is an error naming what is missing.
        let e = RecordModel::build(
            &[&p],
            &RecordFormat::Csv,
            Header::No,
            Some(&KeySpec::parse("member_no").unwrap()),
        );
        assert!(matches!(e, Err(ModelError::Key { .. })));
    }

    #[test]
    fn ratios_cover_the_codecs_and_compressible_text_compresses() {
        let dir = tempfile::tempdir().unwrap();
        let body: String = (0..500)
            .map(|i| {
                format!(
                    "{:09},2014-07-01,Name {i},Tokyo,03-0000-{i:04}\n",
                    100_000_000 + i
                )
            })
            .collect();
        let p = file(&dir, "r.txt", &body);
        let m = RecordModel::build(&[&p], &RecordFormat::Lines, Header::No, None).unwrap();
        let names: Vec<_> = m.ratios.iter().map(|r| r.codec.as_str()).collect();
        for c in ["deflate-1", "deflate-9", "gzip-6", "zstd-3", "xz-6"] {
            assert!(names.contains(&c), "{c}");
        }
        let (lo, hi) = m.r_range();
        assert!(lo > 2.0 && hi >= lo, "{lo} {hi}");
    }

    #[test]
    fn huge_samples_scale_the_interval_instead_of_resampling() {
        let sizes: Vec<u32> = (0..5000).map(|i| 100 + (i * 37 % 90)).collect();
        let n = sizes.len() as f64;
        let mean = sizes.iter().map(|&s| f64::from(s)).sum::<f64>() / n;
        let m = RecordModel {
            format: "lines".into(),
            files: vec![],
            min: 100,
            max: 189,
            sd: 0.0,
            quantiles: vec![],
            mean,
            ratios: vec![],
            ratio_source: RatioSource::default(),
            sizes,
            fields: None,
            headers: vec![],
            intervals: Default::default(),
        };
        let (lo, hi) = m.mean_interval(100_000_000, 1000);
        let (lo1, hi1) = m.mean_interval(BOOTSTRAP_MAX_N, 1000);
        assert!(lo < mean && mean < hi);
        // 10^8 records: the spread is 1/100 of the spread at 10^4.
        let r = (hi - lo) / (hi1 - lo1);
        assert!((r - 0.01).abs() < 1e-9, "{r}");
    }

    #[test]
    fn bootstrap_interval_narrows_with_more_records_and_is_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let body: String = (0..2000)
            .map(|i| format!("{}\n", "x".repeat(100 + (i * 37 % 200))))
            .collect();
        let p = file(&dir, "b.txt", &body);
        let m = RecordModel::build(&[&p], &RecordFormat::Lines, Header::No, None).unwrap();
        let (a, b) = m.mean_interval(10, 500);
        let (c, d) = m.mean_interval(1000, 500);
        assert!(a < m.mean && m.mean < b);
        assert!(d - c < (b - a) / 3.0, "{a}..{b} vs {c}..{d}");
        assert_eq!(m.mean_interval(10, 500), (a, b));
    }

    #[test]
    fn empty_file_and_missing_header_name_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let e = file(&dir, "e.csv", "");
        assert!(matches!(
            RecordModel::build(&[&e], &RecordFormat::Csv, Header::Auto, None),
            Err(ModelError::Empty { .. })
        ));
        let p = file(&dir, "n.csv", "100000001,A\n100000002,B\n");
        let k = KeySpec::parse("member_no").unwrap();
        assert!(matches!(
            RecordModel::build(&[&p], &RecordFormat::Csv, Header::Auto, Some(&k)),
            Err(ModelError::Key { .. })
        ));
    }

    #[test]
    fn binary_files_ragged_csv_and_a_key_beyond_the_columns_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let csv = RecordFormat::Csv;
        // A capture (or any binary file) given as a recovered file: named with its offset.
        let mut bin = b"100000001,A\n".to_vec();
        bin.extend_from_slice(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0]);
        let b = dir.path().join("b.csv");
        std::fs::write(&b, &bin).unwrap();
        let e = RecordModel::build(&[&b], &csv, Header::No, None).unwrap_err();
        assert!(
            matches!(e, ModelError::NotRecords { offset: 16, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("b.csv: at byte offset 16"), "{e}");
        // The same bytes as fixed-width records are accepted.
        assert!(RecordModel::build(&[&b], &RecordFormat::Fixed(11), Header::No, None).is_ok());
        // Prose given as CSV: field counts all over the place.
        let prose: String = (0..40)
            .map(|i| format!("{}\n", vec!["word"; i % 7 + 1].join(", ")))
            .collect();
        let p = file(&dir, "p.csv", &prose);
        let e = RecordModel::build(&[&p], &csv, Header::No, None).unwrap_err();
        assert!(e.to_string().contains("not CSV records"), "{e}");
        // 40 records of 3 fields with a few ragged ones: accepted.
        let ok: String = (0..40)
            .map(|i| {
                if i % 10 == 0 {
                    format!("{i},a\n")
                } else {
                    format!("{i},a,b\n")
                }
            })
            .collect();
        let o = file(&dir, "o.csv", &ok);
        assert!(RecordModel::build(&[&o], &csv, Header::No, None).is_ok());
        // --key 42 on 3 columns: an error naming the column count, not a warning.
        let k = KeySpec::parse("42").unwrap();
        let e = RecordModel::build(&[&o], &csv, Header::No, Some(&k)).unwrap_err();
        assert!(matches!(e, ModelError::Key { .. }), "{e}");
        assert!(e.to_string().contains("--key 42"), "{e}");
        // A key some records lack stays a warning (counted per file).
        let k = KeySpec::parse("3").unwrap();
        let m = RecordModel::build(&[&o], &csv, Header::No, Some(&k)).unwrap();
        assert_eq!(m.files[0].missing_keys, 4);
    }
}
