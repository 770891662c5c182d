//! The settings of a case: from `--case case.toml`, overridden by the command line, with
//! defaults for the rest. `analyze` writes the resolved settings into its output folder as
//! `case.toml`, so the run can be repeated exactly with `analyze --case OUT/case.toml`.

use anyhow::{anyhow, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Settings of a case. Paths in a case file are relative to the file's folder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Capture files, directories or globs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub captures: Vec<String>,
    /// IOC sources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub iocs: Vec<PathBuf>,
    /// Recovered files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recovered: Vec<PathBuf>,
    /// lines, csv or fixed:N.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_format: Option<String>,
    /// Key column or regex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// yes, no or auto.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// IANA time zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
    /// Internal networks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub internal: Vec<String>,
    /// Periods file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub periods: Option<PathBuf>,
    /// Records staged in total (caps `high`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staged: Option<u64>,
    /// Control traffic rule (bytes of content).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_max: Option<u64>,
    /// TLS record overhead (bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_overhead: Option<u64>,
    /// DNS grace after TTL (seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_grace: Option<i64>,
    /// Skip malformed IOC entries with a warning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lenient: Option<bool>,
    /// Search all outbound flows for recovered records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<bool>,
    /// Analyst assumptions `HOST=CODEC` on how a host's opaque channel packs records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assume: Vec<String>,
    /// `--since`: first instant analysed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// `--until`: first instant no longer analysed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// `--filter`: capture filter (tcpdump syntax).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Report language: en or ja.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    /// Output folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out: Option<PathBuf>,
}

fn rebase(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() || base.as_os_str().is_empty() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

impl Case {
    /// Reads a case file; its relative paths are made relative to its folder.
    pub fn load(path: &Path) -> Result<Case> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading case file {}", path.display()))?;
        let mut c: Case =
            toml::from_str(&text).map_err(|e| anyhow!("case file {}: {e}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new(""));
        c.captures = c
            .captures
            .iter()
            .map(|s| rebase(base, Path::new(s)).display().to_string())
            .collect();
        for list in [&mut c.iocs, &mut c.recovered] {
            for p in list.iter_mut() {
                *p = rebase(base, p);
            }
        }
        c.periods = c.periods.map(|p| rebase(base, &p));
        c.out = c.out.map(|p| rebase(base, &p));
        Ok(c)
    }

    /// `self` with every setting `over` gives replaced.
    pub fn overridden_by(mut self, over: Case) -> Case {
        macro_rules! take {
            ($($f:ident),*) => {$(
                if over.$f.is_some() {
                    self.$f = over.$f;
                }
            )*};
        }
        macro_rules! take_list {
            ($($f:ident),*) => {$(
                if !over.$f.is_empty() {
                    self.$f = over.$f;
                }
            )*};
        }
        take!(
            record_format,
            key,
            header,
            tz,
            periods,
            staged,
            control_max,
            tls_overhead,
            dns_grace,
            lenient,
            sweep,
            lang,
            since,
            until,
            filter,
            out
        );
        take_list!(captures, iocs, recovered, internal, assume);
        self
    }

    /// The case as TOML, paths written as `rel` makes them (relative to the folder the
    /// file will be written in, when possible).
    pub fn to_toml(&self, rel: impl Fn(&Path) -> PathBuf) -> Result<String> {
        let c = self.relative(rel);
        let mut text = toml::to_string(&c)?;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        let stdin = if self.captures.iter().any(|s| s == "-") {
            "# captures: \"-\" is standard input: pipe the same capture in again to re-run (the\n\
             # manifest holds its SHA-256 to check it is the same)\n"
        } else {
            ""
        };
        Ok(format!(
            "# exfilmeter case: re-run with `exfilmeter analyze --case case.toml --out DIR`\n\
             {stdin}{text}"
        ))
    }

    /// The case with every file path passed through `rel` and no output folder: as written
    /// into a run folder.
    pub fn relative(&self, rel: impl Fn(&Path) -> PathBuf) -> Case {
        let mut c = self.clone();
        // `-` is standard input, not a file named `-`: it stays `-`.
        c.captures = c
            .captures
            .iter()
            .map(|s| {
                if s == "-" {
                    s.clone()
                } else {
                    rel(Path::new(s)).display().to_string()
                }
            })
            .collect();
        for list in [&mut c.iocs, &mut c.recovered] {
            for p in list.iter_mut() {
                *p = rel(p);
            }
        }
        c.periods = c.periods.as_deref().map(&rel);
        c.out = None;
        c
    }
}

/// `p` relative to `base` when both are absolute and share a prefix; else `p` absolute.
pub(crate) fn relative_to(base: &Path, p: &Path) -> PathBuf {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let (b, a): (Vec<_>, Vec<_>) = (base.components().collect(), abs.components().collect());
    let common = b.iter().zip(&a).take_while(|(x, y)| x == y).count();
    if common == 0 {
        return abs;
    }
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &a[common..] {
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_between_folders() {
        assert_eq!(
            relative_to(Path::new("/a/b/out"), Path::new("/a/b/c/x.pcap")),
            PathBuf::from("../c/x.pcap")
        );
        assert_eq!(
            relative_to(Path::new("/a/out"), Path::new("/a/out/x")),
            PathBuf::from("x")
        );
    }

    #[test]
    fn file_paths_are_relative_to_the_case_and_the_command_line_wins() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("case.toml");
        std::fs::write(
            &p,
            "captures = [\"caps\"]\niocs = [\"iocs.txt\"]\ntz = \"Asia/Tokyo\"\nstaged = 10\n",
        )
        .unwrap();
        let c = Case::load(&p).unwrap();
        assert_eq!(c.iocs, vec![dir.path().join("iocs.txt")]);
        assert_eq!(
            c.captures,
            vec![dir.path().join("caps").display().to_string()]
        );
        let over = Case {
            tz: Some("UTC".into()),
            ..Case::default()
        };
        let m = c.overridden_by(over);
        assert_eq!(m.tz.as_deref(), Some("UTC"));
        assert_eq!(m.staged, Some(10));
        std::fs::write(&p, "tz = \"UTC\"\nbogus = 1\n").unwrap();
        let e = Case::load(&p).unwrap_err().to_string();
        assert!(e.contains("bogus"), "{e}");
    }
}
