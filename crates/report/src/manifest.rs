//! `manifest.json`: what a run read, how, and what it wrote — enough for anyone to re-derive
//! every number (re-run the command on files with these SHA-256 digests and compare the
//! outputs' digests).

use crate::error::{format, io, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// File name of the manifest inside a run folder.
pub const MANIFEST: &str = "manifest.json";

/// The manifest of one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// `exfilmeter`.
    pub tool: String,
    /// Tool version.
    pub version: String,
    /// The command that repeats the run from the run folder's `case.toml`.
    pub command: String,
    /// The command line as typed (absent with `--reproducible`: it names the output folder
    /// and thread count, which do not change the results).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation: Option<Vec<String>>,
    /// Wall-clock time the run ended, UTC (absent with `--reproducible`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_at: Option<String>,
    /// IANA zone of the case; every day is a local day in it.
    pub time_zone: String,
    /// The report lists the confirmed records' contents, not only their keys
    /// (`--report-rows`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub report_rows: bool,
    /// Language of report.html and report.md (absent: English).
    #[serde(default, skip_serializing_if = "crate::lang::is_en")]
    pub lang: crate::lang::Lang,
    /// The resolved case settings (as in `case.toml`).
    pub case: serde_json::Value,
    /// First and last frame of all captures, local time.
    pub span: Option<Span>,
    /// Capture files read.
    pub captures: Vec<Capture>,
    /// Capture files that could not be opened (left out of every number), with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<Unreadable>,
    /// IOC sources.
    pub iocs: Vec<InputFile>,
    /// Indicators loaded from them.
    pub indicators: u64,
    /// Recovered files.
    pub recovered: Vec<InputFile>,
    /// The record model built from the recovered files.
    pub model: Option<Model>,
    /// Rules applied to the traffic.
    pub rules: Rules,
    /// Counters of everything read, skipped, truncated, damaged, capped or gapped.
    pub counters: Vec<Counter>,
    /// Every other file of the run folder with its size and SHA-256 (filled last).
    pub outputs: Vec<OutputFile>,
    /// Files that were in the run folder before the run and are not its outputs (kept with
    /// `analyze --force`), never listed in `outputs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub foreign: Vec<String>,
}

/// First and last frame time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    /// First frame, local RFC 3339.
    pub first_local: String,
    /// Last frame, local RFC 3339.
    pub last_local: String,
}

/// One capture file and what reading it found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capture {
    /// Path as given.
    pub path: String,
    /// File name (the prefix of every `file#frame` reference).
    pub name: String,
    /// Container format.
    pub format: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the file's bytes (absent with `--hash none`).
    pub sha256: Option<String>,
    /// Frames read.
    pub frames: u64,
    /// First frame, local RFC 3339.
    pub first_local: Option<String>,
    /// Last frame, local RFC 3339.
    pub last_local: Option<String>,
    /// Bytes skipped behind damage.
    pub bytes_skipped: u64,
    /// Frames cut by the snapshot length.
    pub truncated_frames: u64,
    /// Damage found, each naming its byte offset.
    pub errors: Vec<String>,
}

/// A capture file that could not be opened.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unreadable {
    /// Path as given.
    pub path: String,
    /// Why it could not be opened.
    pub problem: String,
}

/// An input file with its digest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputFile {
    /// Path as given.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256.
    pub sha256: String,
}

impl InputFile {
    /// Reads and hashes a file.
    pub fn of(path: &Path) -> Result<InputFile> {
        let (size, sha256) = sha256_file(path)?;
        Ok(InputFile {
            path: path.display().to_string(),
            size,
            sha256,
        })
    }
}

/// The record model, as used by the estimates.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// Records in the recovered files.
    pub records: u64,
    /// Record format.
    pub format: String,
    /// Mean record size as stored, bytes.
    pub mean: f64,
    /// Standard deviation.
    pub sd: f64,
    /// Smallest record.
    pub min: u64,
    /// Largest record.
    pub max: u64,
    /// Smallest compression ratio measured.
    pub r_min: f64,
    /// Largest compression ratio measured.
    pub r_max: f64,
    /// Ratio per codec.
    pub ratios: Vec<Ratio>,
    /// Whether each recovered file starts with a header line, and how that was decided.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<HeaderLine>,
    /// Where the compression ratios came from: measured by this run, or read from the
    /// record-model cache (how the run was made, not a result: outputs are the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratios_from: Option<RatiosFrom>,
}

/// The record-model cache entry a run's compression ratios were read from or written to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatiosFrom {
    /// true: read from the cache (nothing compressed); false: measured by this run (left out
    /// with `--reproducible`, like the rest of how the run was made).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached: Option<bool>,
    /// The cache key: SHA-256 of the recovered files' digests, record format, header
    /// decisions and the measurement rules' version.
    pub key: String,
    /// The cache entry's path, when a cache was used (not with `--reproducible`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
    /// SHA-256 of the cache entry's bytes (not with `--reproducible`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_sha256: Option<String>,
}

/// A recovered file's header decision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderLine {
    /// The file's name.
    pub file: String,
    /// Whether its first line is a header.
    pub header: bool,
    /// The `--header` setting that decided it: `auto`, `yes` or `no`.
    pub setting: String,
}

/// A compression ratio measured on the recovered bytes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ratio {
    /// Codec and level.
    pub codec: String,
    /// Original / compressed size.
    pub ratio: f64,
}

/// Rules applied to the traffic.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rules {
    /// Uploads with fewer content bytes (and no record) are control traffic.
    pub control_max: u64,
    /// Bytes a TLS record adds to its plaintext.
    pub tls_overhead: u64,
    /// Plaintext bytes per TLS record that may be inner framing (out of the low basis).
    pub tls_framing: u64,
    /// Records staged in total, capping every high estimate.
    pub staged: Option<u64>,
    /// Analyst assumptions `HOST=CODEC` (`--assume`): how a host's opaque channel packs
    /// records, narrowing its range.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assumed: Vec<String>,
}

/// One counter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counter {
    /// What was counted.
    pub name: String,
    /// How many.
    pub value: u64,
}

/// An output file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputFile {
    /// Path inside the run folder, `/`-separated.
    pub file: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256.
    pub sha256: String,
}

/// Size and SHA-256 (lower-case hex) of a file, read in 1 MiB blocks.
pub fn sha256_file(path: &Path) -> Result<(u64, String)> {
    let mut f = std::fs::File::open(path).map_err(io("opening", path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io("reading", path))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        h.update(&buf[..n]);
    }
    Ok((size, hex::encode(h.finalize())))
}

/// Size and SHA-256 of each of `files` (paths relative to `dir`), in their order: hashed on up
/// to one thread per core, the largest files first, so a run's big tables (the flow ledger,
/// `ioc_flows.csv`) are hashed side by side. The first failure in `files` order is returned.
fn sha256_files(dir: &Path, files: &[String]) -> Result<Vec<(u64, String)>> {
    type Hashed = (usize, Result<(u64, String)>);
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(files.len());
    if threads <= 1 {
        return files.iter().map(|f| sha256_file(&dir.join(f))).collect();
    }
    let sizes: Vec<u64> = files
        .iter()
        .map(|f| std::fs::metadata(dir.join(f)).map_or(0, |m| m.len()))
        .collect();
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(sizes[i]), i));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut got: Vec<Option<Result<(u64, String)>>> = (0..files.len()).map(|_| None).collect();
    let done: Vec<Vec<Hashed>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&i) = order.get(k) else {
                            return mine;
                        };
                        mine.push((i, sha256_file(&dir.join(&files[i]))));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_default())
            .collect()
    });
    for (i, r) in done.into_iter().flatten() {
        got[i] = Some(r);
    }
    got.into_iter()
        .zip(files)
        .map(|(r, f)| {
            r.unwrap_or_else(|| {
                Err(io("hashing", &dir.join(f))(std::io::Error::other(
                    "the hashing thread stopped",
                )))
            })
        })
        .collect()
}

impl Manifest {
    /// Reads `DIR/manifest.json`.
    pub fn read(dir: &Path) -> Result<Manifest> {
        let p = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&p).map_err(io("reading", &p))?;
        serde_json::from_str(&text).map_err(|e| format(&p, e))
    }

    /// Lists every file of `dir` but the manifest and the `foreign` files (sorted by path)
    /// with size and SHA-256 into `outputs`, then writes `DIR/manifest.json`.
    pub fn write(&mut self, dir: &Path) -> Result<()> {
        self.write_keeping(dir, None)
    }

    /// [`Manifest::write`] right after this process hashed `dir`'s outputs (`outputs` as that
    /// write left them) and then wrote only the files `written` (paths relative to `dir`):
    /// every other output keeps its digest when its size is unchanged, and only the files
    /// written since, or new, or of another size are read again. A run writes its tables,
    /// then the report, then the summary, and the manifest after each; before, each of the
    /// three read every output again (decision 0017).
    pub fn rewrite(&mut self, dir: &Path, written: &[String]) -> Result<()> {
        self.write_keeping(dir, Some(written))
    }

    fn write_keeping(&mut self, dir: &Path, written: Option<&[String]>) -> Result<()> {
        let mut files = Vec::new();
        walk(dir, dir, &mut files)?;
        files.sort();
        files.retain(|rel| rel != MANIFEST && !self.foreign.contains(rel));
        let known: std::collections::HashMap<&str, &OutputFile> = match written {
            Some(w) => self
                .outputs
                .iter()
                .filter(|o| !w.contains(&o.file))
                .map(|o| (o.file.as_str(), o))
                .collect(),
            None => std::collections::HashMap::new(),
        };
        let kept: Vec<Option<(u64, String)>> = files
            .iter()
            .map(|f| {
                let o = known.get(f.as_str())?;
                let size = std::fs::metadata(dir.join(f)).ok()?.len();
                (size == o.size).then(|| (o.size, o.sha256.clone()))
            })
            .collect();
        let again: Vec<String> = files
            .iter()
            .zip(&kept)
            .filter(|(_, k)| k.is_none())
            .map(|(f, _)| f.clone())
            .collect();
        let mut hashed = sha256_files(dir, &again)?.into_iter();
        let mut outputs = Vec::with_capacity(files.len());
        for (file, k) in files.into_iter().zip(kept) {
            let (size, sha256) = match k {
                Some(d) => d,
                None => hashed.next().ok_or_else(|| {
                    io("hashing", &dir.join(&file))(std::io::Error::other("no digest"))
                })?,
            };
            outputs.push(OutputFile { file, size, sha256 });
        }
        self.outputs = outputs;
        let p = dir.join(MANIFEST);
        let mut text = serde_json::to_string_pretty(self).map_err(|e| format(&p, e))?;
        text.push('\n');
        std::fs::write(&p, text).map_err(io("writing", &p))
    }
}

/// Every file under `dir`, as `/`-separated paths relative to it, sorted.
pub fn files_under(dir: &Path) -> Result<Vec<String>> {
    let mut files = Vec::new();
    walk(dir, dir, &mut files)?;
    files.sort();
    Ok(files)
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io("listing", dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        // A symbolic link is listed as a file, never followed: a link to another folder (or
        // to the folder itself) neither leaks other files into the run nor loops.
        let link = std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink());
        if p.is_dir() && !link {
            walk(root, &p, out)?;
        } else if let Ok(rel) = p.strip_prefix(root) {
            let parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().to_string())
                .collect();
            out.push(parts.join("/"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn outputs_are_listed_sorted_with_digests_and_the_manifest_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("charts")).unwrap();
        std::fs::write(dir.path().join("b.csv"), b"abc").unwrap();
        std::fs::write(dir.path().join("charts/x.svg"), b"").unwrap();
        let mut m = Manifest {
            tool: "exfilmeter".into(),
            ..Manifest::default()
        };
        m.write(dir.path()).unwrap();
        m.write(dir.path()).unwrap(); // the manifest itself is never listed
        let back = Manifest::read(dir.path()).unwrap();
        assert_eq!(back, m);
        let files: Vec<&str> = back.outputs.iter().map(|o| o.file.as_str()).collect();
        assert_eq!(files, ["b.csv", "charts/x.svg"]);
        // SHA-256("abc"), FIPS 180-2 example.
        assert_eq!(
            back.outputs[0].sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            back.outputs[1].sha256,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    /// A rewrite reads again only the files written since (listed), new files and files of
    /// another size; the others keep the digest of the write before (which is why only the
    /// process that wrote them may call it).
    #[test]
    fn a_rewrite_hashes_only_what_was_written_since() {
        let dir = tempfile::tempdir().unwrap();
        let put = |name: &str, text: &[u8]| std::fs::write(dir.path().join(name), text).unwrap();
        let digest = |name: &str| sha256_file(&dir.path().join(name)).unwrap().1;
        put("kept.csv", b"abc");
        put("written.csv", b"abc");
        put("grown.csv", b"abc");
        let mut m = Manifest::default();
        m.write(dir.path()).unwrap();
        let before = digest("kept.csv");
        put("kept.csv", b"xyz"); // same size, not listed: the old digest stays
        put("written.csv", b"xyz"); // listed: hashed again
        put("grown.csv", b"abcd"); // not listed, but its size changed: hashed again
        put("new.csv", b"new"); // not in the manifest before: hashed
        m.rewrite(dir.path(), &["written.csv".to_string()]).unwrap();
        let got: std::collections::HashMap<&str, &str> = m
            .outputs
            .iter()
            .map(|o| (o.file.as_str(), o.sha256.as_str()))
            .collect();
        assert_eq!(got.len(), 4);
        assert_eq!(got["kept.csv"], before);
        assert_ne!(got["kept.csv"], digest("kept.csv"));
        for f in ["written.csv", "grown.csv", "new.csv"] {
            assert_eq!(got[f], digest(f), "{f}");
        }
        assert_eq!(Manifest::read(dir.path()).unwrap(), m);
        // A full write reads everything again.
        m.write(dir.path()).unwrap();
        assert_eq!(m.outputs[0].file, "grown.csv");
        assert!(m.outputs.iter().all(|o| o.sha256 == digest(&o.file)));
    }

    /// Files hashed side by side (largest first) are listed in path order with their own
    /// digests, as hashing them one by one gives; a file that cannot be read fails the write.
    #[test]
    fn files_hashed_side_by_side_keep_their_order_and_digests() {
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<String> = (0..9).map(|i| format!("t{i}.csv")).collect();
        for (i, n) in names.iter().enumerate() {
            let body: Vec<u8> = (0..(i * 700_001) % 3_000_000)
                .map(|k| (k * 31 + i) as u8)
                .collect();
            std::fs::write(dir.path().join(n), body).unwrap();
        }
        let got = sha256_files(dir.path(), &names).unwrap();
        let one_by_one: Vec<(u64, String)> = names
            .iter()
            .map(|n| sha256_file(&dir.path().join(n)).unwrap())
            .collect();
        assert_eq!(got, one_by_one);
        let mut with_missing = names.clone();
        with_missing.insert(3, "gone.csv".into());
        let err = sha256_files(dir.path(), &with_missing).unwrap_err();
        assert!(err.to_string().contains("gone.csv"), "{err}");
    }
}
