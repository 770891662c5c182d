//! The command line as users meet it: the exit status in every `--help`, every option and every
//! stated default of `--help` also in the command's page under docs/ (and README's usage lines
//! naming only options that exist), shell completions that the shell itself accepts, and man
//! pages that groff renders without a warning.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{bin, testdata};
use std::collections::BTreeSet;

/// Commands with a page of their own under docs/.
const DOCUMENTED: [(&str, &str); 7] = [
    ("inspect", "inspect.md"),
    ("flows", "flows.md"),
    ("calibrate", "calibrate.md"),
    ("analyze", "analyze.md"),
    ("report", "report.md"),
    ("split", "scale-out.md"),
    ("merge", "scale-out.md"),
];

fn help(cmd: &str) -> String {
    let out = bin().args([cmd, "--help"]).output().unwrap();
    assert!(out.status.success(), "{cmd} --help failed");
    String::from_utf8(out.stdout).unwrap()
}

fn doc(name: &str) -> String {
    std::fs::read_to_string(testdata("").join("../docs").join(name)).unwrap()
}

/// The long options a `--help` lists (`--help` and `--version` aside).
fn options(help: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in help.lines() {
        // Option lines are indented; the prose after them is not.
        let t = line.trim_start();
        if t.len() == line.len() || !t.starts_with('-') {
            continue;
        }
        for w in t.split([' ', ',', '=']) {
            if let Some(name) = w.strip_prefix("--") {
                if !name.is_empty() && name != "help" && name != "version" {
                    out.insert(name.to_string());
                }
            }
        }
    }
    out
}

/// `(option, default)` for every option whose help states `[default: …]`.
fn defaults(help: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in help.lines() {
        let t = line.trim_start();
        if t.len() < line.len() && t.starts_with('-') {
            current = t
                .split([' ', ','])
                .find_map(|w| w.strip_prefix("--"))
                .map(String::from);
        }
        if let (Some(opt), Some(i)) = (&current, line.find("[default: ")) {
            let v = &line[i + 10..];
            if let Some(v) = v.split(']').next() {
                out.push((opt.clone(), v.to_string()));
            }
        }
    }
    out
}

#[test]
fn every_help_states_the_exit_status() {
    for (cmd, _) in DOCUMENTED {
        let h = help(cmd);
        assert!(
            h.contains("Exit status: 0") && h.contains("1 partial") && h.contains("2 usage"),
            "{cmd} --help has no exit status:\n{h}"
        );
    }
    let out = bin().arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("Exit status: 0"));
}

#[test]
fn every_option_and_default_of_the_help_is_in_the_docs() {
    let mut missing = Vec::new();
    for (cmd, page) in DOCUMENTED {
        let h = help(cmd);
        let d = doc(page);
        for opt in options(&h) {
            if !d.contains(&format!("--{opt}")) {
                missing.push(format!(
                    "docs/{page}: --{opt} (in `{cmd} --help`) is not described"
                ));
            }
        }
        for (opt, value) in defaults(&h) {
            let flag = format!("--{opt}");
            let stated = d
                .lines()
                .filter(|l| l.contains(&flag))
                .any(|l| l.contains(&value));
            if !stated {
                missing.push(format!(
                    "docs/{page}: no line names {flag} with its default {value:?}"
                ));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn readme_usage_names_only_options_that_exist() {
    let readme = std::fs::read_to_string(testdata("").join("../README.md")).unwrap();
    let mut wrong = Vec::new();
    let mut in_code = false;
    let mut cmd: Option<&str> = None;
    for line in readme.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
            cmd = None;
            continue;
        }
        if !in_code {
            continue;
        }
        if let Some(rest) = line.trim_start().strip_prefix("exfilmeter ") {
            cmd = DOCUMENTED
                .iter()
                .map(|(c, _)| *c)
                .find(|c| rest.starts_with(&format!("{c} ")) || rest == *c);
        }
        let Some(c) = cmd else { continue };
        let known = options(&help(c));
        for w in line.split([' ', '[', ']', '|', '=', '…']) {
            if let Some(name) = w.strip_prefix("--") {
                if !name.is_empty() && !known.contains(name) {
                    wrong.push(format!("README: `{c}` has no --{name}"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn completions_are_accepted_by_bash_and_made_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = bin().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "completions {shell}");
        let text = String::from_utf8(out.stdout).unwrap();
        for sub in ["analyze", "flows", "inspect", "calibrate", "report"] {
            assert!(text.contains(sub), "{shell} completions lack {sub}");
        }
        if shell == "bash" {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("exfilmeter.bash");
            std::fs::write(&p, &text).unwrap();
            // The shell's own parser, and the function it defines once sourced.
            let st = std::process::Command::new("bash")
                .arg("-n")
                .arg(&p)
                .status()
                .unwrap();
            assert!(st.success(), "bash -n rejects the completion script");
            let out = std::process::Command::new("bash")
                .arg("-c")
                .arg(format!("source {} && complete -p exfilmeter", p.display()))
                .output()
                .unwrap();
            assert!(
                String::from_utf8_lossy(&out.stdout).contains("exfilmeter"),
                "sourcing the script registers no completion: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let out = bin().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

#[test]
fn man_pages_render_in_groff_without_warnings() {
    if !common::tool("groff", "-v") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = bin().arg("man").arg(dir.path()).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut pages: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    pages.sort();
    for want in [
        "exfilmeter.1",
        "exfilmeter-analyze.1",
        "exfilmeter-flows.1",
        "exfilmeter-man.1",
    ] {
        assert!(
            pages.iter().any(|p| p == want),
            "{want} missing from {pages:?}"
        );
    }
    for p in &pages {
        let o = std::process::Command::new("groff")
            // -k: through preconv, as man-db renders pages (they hold UTF-8: →, ×, …).
            .args(["-k", "-man", "-Tutf8", "-ww", "-z"])
            .arg(dir.path().join(p))
            .output()
            .unwrap();
        let warnings = String::from_utf8_lossy(&o.stderr);
        assert!(
            o.status.success() && warnings.trim().is_empty(),
            "{p}: {warnings}"
        );
        let text = std::process::Command::new("groff")
            .args(["-k", "-man", "-Tutf8"])
            .arg(dir.path().join(p))
            .output()
            .unwrap();
        // grotty marks bold and underline by overstriking (`c BS c`): keep the last of each pair.
        let mut plain = String::new();
        for c in String::from_utf8_lossy(&text.stdout).chars() {
            if c == '\u{8}' {
                plain.pop();
            } else {
                plain.push(c);
            }
        }
        let text = plain;
        assert!(
            text.contains("NAME") && text.contains("exfilmeter"),
            "{p}: {text}"
        );
    }
    let analyze = std::fs::read_to_string(dir.path().join("exfilmeter-analyze.1")).unwrap();
    assert!(
        analyze.contains("recovered"),
        "the analyze page lists its options"
    );
}
