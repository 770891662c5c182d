//! Turning command-line inputs (files, directories, glob patterns, `-`) into a
//! deterministic list of capture paths.

use crate::IngestError;
use std::path::{Path, PathBuf};

/// Where an input came from, which decides how a non-capture file is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputOrigin {
    /// Named explicitly (or `-` for standard input): a non-capture is an error.
    Explicit,
    /// Matched by a glob pattern: a non-capture is an error.
    Glob,
    /// Found while walking a directory: a non-capture is listed as ignored.
    Directory,
}

/// One input to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// The path (`-` means standard input).
    pub path: PathBuf,
    /// How it was found.
    pub origin: InputOrigin,
}

impl Input {
    /// True for standard input.
    pub fn is_stdin(&self) -> bool {
        self.path.as_os_str() == "-"
    }
}

fn looks_like_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Expands files, directories (recursively, sorted by path) and glob patterns (sorted)
/// in argument order. A path listed twice is read once, at its first position.
///
/// Symbolic links inside directories are followed; hidden files are included.
pub fn expand_inputs<S: AsRef<str>>(specs: &[S]) -> Result<Vec<Input>, IngestError> {
    let mut out: Vec<Input> = Vec::new();
    let push = |path: PathBuf, origin: InputOrigin, out: &mut Vec<Input>| {
        if !out.iter().any(|i| i.path == path) {
            out.push(Input { path, origin });
        }
    };
    for spec in specs {
        let spec = spec.as_ref();
        let p = Path::new(spec);
        if spec == "-" {
            push(PathBuf::from("-"), InputOrigin::Explicit, &mut out);
        } else if p.is_dir() {
            let mut files = Vec::new();
            for entry in walkdir::WalkDir::new(p).follow_links(true) {
                let entry = entry.map_err(|e| IngestError::Io {
                    path: e.path().map_or_else(|| p.to_path_buf(), Path::to_path_buf),
                    source: e
                        .into_io_error()
                        .unwrap_or_else(|| std::io::Error::other("directory walk failed")),
                })?;
                if entry.file_type().is_file() {
                    files.push(entry.into_path());
                }
            }
            files.sort();
            for f in files {
                push(f, InputOrigin::Directory, &mut out);
            }
        } else if !p.exists() && looks_like_glob(spec) {
            let paths = glob::glob(spec).map_err(|e| IngestError::Pattern {
                pattern: spec.to_string(),
                message: e.to_string(),
            })?;
            let mut files = Vec::new();
            for entry in paths {
                let path = entry.map_err(|e| IngestError::Io {
                    path: e.path().to_path_buf(),
                    source: e.into(),
                })?;
                if path.is_file() {
                    files.push(path);
                }
            }
            if files.is_empty() {
                return Err(IngestError::Pattern {
                    pattern: spec.to_string(),
                    message: "matched no files".to_string(),
                });
            }
            files.sort();
            for f in files {
                push(f, InputOrigin::Glob, &mut out);
            }
        } else {
            push(p.to_path_buf(), InputOrigin::Explicit, &mut out);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn directories_are_walked_in_sorted_order_and_deduplicated() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("b")).unwrap();
        fs::write(dir.path().join("b/2.pcap"), b"x").unwrap();
        fs::write(dir.path().join("a.pcap"), b"x").unwrap();
        fs::write(dir.path().join("b/1.pcap"), b"x").unwrap();
        let d = dir.path().to_str().unwrap().to_string();
        let again = dir.path().join("a.pcap").to_str().unwrap().to_string();
        let got = expand_inputs(&[d, again]).unwrap();
        let names: Vec<_> = got
            .iter()
            .map(|i| i.path.strip_prefix(dir.path()).unwrap().to_path_buf())
            .collect();
        assert_eq!(
            names,
            vec![
                PathBuf::from("a.pcap"),
                PathBuf::from("b/1.pcap"),
                PathBuf::from("b/2.pcap")
            ]
        );
        assert!(got.iter().all(|i| i.origin == InputOrigin::Directory));
    }

    #[test]
    fn globs_expand_sorted_and_empty_globs_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        for n in ["c.pcap", "a.pcap", "b.txt"] {
            fs::write(dir.path().join(n), b"x").unwrap();
        }
        let pat = format!("{}/*.pcap", dir.path().display());
        let got = expand_inputs(&[pat]).unwrap();
        assert_eq!(got.len(), 2);
        assert!(got[0].path.ends_with("a.pcap") && got[1].path.ends_with("c.pcap"));
        let none = format!("{}/*.none", dir.path().display());
        assert!(matches!(
            expand_inputs(&[none]),
            Err(IngestError::Pattern { .. })
        ));
    }

    #[test]
    fn missing_explicit_files_are_kept_for_the_reader_to_report() {
        let got = expand_inputs(&["/nonexistent/file.pcap"]).unwrap();
        assert_eq!(got[0].origin, InputOrigin::Explicit);
    }
}
