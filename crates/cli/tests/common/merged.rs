//! What the split-run tests share: the single run they compare with, and the comparison of
//! two output folders byte for byte.

use super::{bin, testdata, walk};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The command ended with exit status `want` (its stderr shown otherwise).
pub fn ok(o: &std::process::Output, want: i32, what: &str) {
    assert_eq!(
        o.status.code(),
        Some(want),
        "{what}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The single run: `analyze --reproducible OPTS CAPTURES -o OUT`.
pub fn single(work: &Path, opts: &[OsString], captures: &[PathBuf], want: i32) -> PathBuf {
    let out = work.join("single");
    let o = bin()
        .args(["analyze", "-q", "--reproducible"])
        .args(opts)
        .arg("-o")
        .arg(&out)
        .args(captures)
        .output()
        .unwrap();
    ok(&o, want, "analyze");
    out
}

/// Every file under `dir`, relative, sorted.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walk(dir)
        .into_iter()
        .map(|p| p.strip_prefix(dir).unwrap().to_path_buf())
        .collect();
    out.sort();
    out
}

/// The two output folders hold the same files with the same bytes; the tables the issue
/// names are checked first, so a difference names the table.
pub fn same_folder(one: &Path, merged: &Path) {
    for t in [
        "daily.csv",
        "periods.csv",
        "confirmed_records.csv",
        "report.md",
    ] {
        let (a, b) = (one.join(t), merged.join(t));
        if a.exists() || b.exists() {
            let (ta, tb) = (
                std::fs::read_to_string(&a).unwrap(),
                std::fs::read_to_string(&b).unwrap(),
            );
            if let Some((n, (la, lb))) = ta
                .lines()
                .zip(tb.lines())
                .enumerate()
                .find(|(_, (la, lb))| la != lb)
            {
                panic!(
                    "{t} differs between {} and {} at line {}:\n  {la}\n  {lb}",
                    one.display(),
                    merged.display(),
                    n + 1
                );
            }
            assert_eq!(ta, tb, "{t}: one is longer than the other");
        }
    }
    let (fa, fb) = (files(one), files(merged));
    assert_eq!(fa, fb, "the same outputs");
    assert!(fa.len() >= 10, "{fa:?}");
    for f in &fa {
        assert!(
            std::fs::read(one.join(f)).unwrap() == std::fs::read(merged.join(f)).unwrap(),
            "{} differs",
            f.display()
        );
    }
}

pub fn os(v: &[&str]) -> Vec<OsString> {
    v.iter().map(OsString::from).collect()
}

pub fn example_opts(cache: &Path) -> Vec<OsString> {
    let mut o = os(&["--case"]);
    o.push(testdata("example/case.toml").into());
    o.push("--cache-dir".into());
    o.push(cache.into());
    o
}

pub fn scenario_opts(d: &Path, cache: &Path) -> Vec<OsString> {
    let mut o = os(&[
        "--tz",
        "Asia/Tokyo",
        "--record-format",
        "csv",
        "--key",
        "1",
        "--header",
        "no",
        "--iocs",
    ]);
    o.push(d.join("iocs.txt").into());
    o.push("--cache-dir".into());
    o.push(cache.into());
    o.push("--recovered".into());
    o.extend(super::recovered_of(d).into_iter().map(OsString::from));
    o
}

/// The captures of a scenario, in the run's order.
pub fn captures_of(d: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(d.join("captures"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}
