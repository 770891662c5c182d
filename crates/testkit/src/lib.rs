//! Test helpers shared by every crate's tests: where the shared data sets (`../shared` beside
//! the checkout) are, and whether an oracle tool (tshark, tcpflow, capinfos …) is installed.
//!
//! A test that cannot run without one of them skips with a `SKIPPED:` line on a developer's
//! machine, but **fails** when `CI=true`: in CI a missing data set or tool is a broken set-up,
//! never a reason to pass.

use std::path::PathBuf;
use std::process::Command;

/// Whether this run is CI's (`CI=true`), where nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Reports that a test (or a part of one) cannot run because `what` is missing: a `SKIPPED:`
/// line on stderr, or a panic under `CI=true`.
///
/// # Panics
/// Under `CI=true`, always.
pub fn skip(what: &str) {
    if in_ci() {
        panic!("CI=true and {what}: a test that needs it must not skip in CI");
    }
    // Written to the stderr handle itself, not with `eprintln!`, which the test harness
    // captures: `cargo test` shows the line even when the test passes.
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {what}");
}

/// The shared data folder (`../shared` beside the checkout).
pub fn shared_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// `../shared/<sub>` if present; else `None` after [`skip`] (a failure under `CI=true`).
pub fn shared(sub: &str) -> Option<PathBuf> {
    let p = shared_root().join(sub);
    if p.exists() {
        Some(p)
    } else {
        skip(&format!(
            "{} not found (the shared test data lives beside the checkout in ../shared)",
            p.display()
        ));
        None
    }
}

/// Every capture file (`.pcap`, `.pcapng`, `.pcap.gz`, `.cap`) under `dir`, folders walked
/// in sorted order.
pub fn capture_files(dir: &std::path::Path) -> Vec<PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        entries.sort();
        for p in entries {
            let name = p.file_name().map(|n| n.to_string_lossy().to_string());
            if p.is_dir() {
                walk(&p, out);
            } else if name.is_some_and(|n| {
                [".pcap", ".pcapng", ".pcap.gz", ".cap"]
                    .iter()
                    .any(|e| n.ends_with(e))
            }) {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out
}

/// The generated incident scenarios of `../shared/scenarios`, or none after [`skip`].
pub fn scenarios() -> Vec<PathBuf> {
    match shared("scenarios") {
        Some(root) => ["small-s1", "small-s2-pcapng-sll", "jal-lite-s3"]
            .iter()
            .map(|d| root.join(d))
            .collect(),
        None => Vec::new(),
    }
}

/// Whether `tool` runs (started with `arg`, e.g. `-v`); when it does not, [`skip`] names it
/// (a failure under `CI=true`).
pub fn tool(tool: &str, arg: &str) -> bool {
    let ok = runs(tool, arg);
    if !ok {
        skip(&format!("{tool} not installed"));
    }
    ok
}

/// Whether `tool` can be started (with `arg`).
fn runs(tool: &str, arg: &str) -> bool {
    Command::new(tool).arg(arg).output().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_is_told_from_an_installed_one() {
        assert!(!runs("exfilmeter-no-such-tool-xyz", "-v"));
        assert!(runs("sh", "-c"));
        assert!(tool("sh", "-c"));
    }
}
