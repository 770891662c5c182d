//! Helpers shared by the CLI's end-to-end tests (each test file uses a part of them).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The `exfilmeter` binary under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_exfilmeter"))
}

/// A file of the bundled `testdata/`.
pub fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(name)
}

pub mod merged;

/// An indicator list of tunnel ends in the peer suites' Zeek traces: the outer end of GRE within
/// GRE (`tunnels/gre-within-gre.pcap`), a Teredo server and relay (`tunnels/Teredo.pcap`) and a
/// VXLAN end (`tunnels/vxlan-encapsulated-http.pcap`).
pub const TUNNEL_ENDS: &str = "86.106.164.150\n65.55.158.80\n83.170.1.38\n10.1.1.172\n";

/// Every file under `dir`, folders walked depth first (unsorted).
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[allow(unused_imports)]
pub use exfilmeter_testkit::{shared, skip, tool};

/// A generated incident of `../shared/scenarios`.
pub fn scenario(name: &str) -> Option<PathBuf> {
    shared(&format!("scenarios/{name}"))
}

/// A CSV table of ours as rows of column → value (cells hold no quoted commas; quotes around
/// empty strings are removed).
pub fn csv(path: &Path) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let head: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    lines
        .map(|l| {
            head.iter()
                .cloned()
                .zip(l.split(',').map(|s| s.trim_matches('"').to_string()))
                .collect()
        })
        .collect()
}

/// The recovered files of a scenario, sorted.
pub fn recovered_of(scenario: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(scenario.join("recovered"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}
