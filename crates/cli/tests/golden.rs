//! The bundled example's outputs, byte for byte: `analyze --reproducible` on
//! `testdata/example/` must write exactly the files whose SHA-256 digests are listed in
//! `testdata/example/expected-outputs.sha256`.
//!
//! The digests were taken from the release before the crates were rearranged (the content
//! crate and the library pipeline), so this test proves that the rearrangement changed no
//! output. `case.toml` and `manifest.json` are left out: they hold the inputs' paths relative
//! to the output folder, which depend on where the checkout and the temporary folder are (the
//! manifest's digests of every other output are covered through those outputs themselves).
//!
//! A change that is meant to change an output updates the list: run
//! `EXFILMETER_BLESS=1 cargo test -p exfilmeter --test golden` and say in the commit why the
//! numbers moved.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{bin, testdata};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

fn digests(dir: &Path, sub: &str, out: &mut BTreeMap<String, String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir.join(sub))
        .unwrap()
        .flatten()
        .collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        let name = e.file_name().to_string_lossy().to_string();
        let rel = if sub.is_empty() {
            name.clone()
        } else {
            format!("{sub}/{name}")
        };
        if e.path().is_dir() {
            digests(dir, &rel, out);
        } else if name != "case.toml" && name != "manifest.json" {
            let bytes = std::fs::read(e.path()).unwrap();
            out.insert(rel, hex::encode(Sha256::digest(&bytes)));
        }
    }
}

#[test]
fn example_outputs_are_byte_identical_to_the_recorded_digests() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    // README's first command, from the checkout's root (the report names inputs as given).
    let root = testdata("").join("..");
    let st = bin()
        .current_dir(&root)
        .args(["analyze", "-q", "--reproducible", "--case"])
        .arg("testdata/example/case.toml")
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success(), "analyze failed: {st}");
    let mut got = BTreeMap::new();
    digests(&out, "", &mut got);
    let list = testdata("example/expected-outputs.sha256");
    if std::env::var("EXFILMETER_BLESS").is_ok_and(|v| v == "1") {
        let text: String = got.iter().map(|(f, d)| format!("{d}  {f}\n")).collect();
        std::fs::write(&list, text).unwrap();
        return;
    }
    let want: BTreeMap<String, String> = std::fs::read_to_string(&list)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once("  "))
        .map(|(d, f)| (f.to_string(), d.to_string()))
        .collect();
    assert!(
        want.len() >= 10,
        "the digest list is too short: {}",
        want.len()
    );
    let differ: Vec<String> = want
        .keys()
        .chain(got.keys())
        .filter(|f| want.get(*f) != got.get(*f))
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(
        differ.is_empty(),
        "outputs that differ from testdata/example/expected-outputs.sha256: {differ:?} \
         (EXFILMETER_BLESS=1 records the new digests when the change is meant)"
    );
}
