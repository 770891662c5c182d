//! Robustness on traffic nobody here wrote: `inspect`, `flows` and `analyze --sweep` (every
//! flow attributed to an indicator, the example's recovered file as the record model) on every
//! capture of `../shared/peer-suites` (Zeek's and Suricata's own test traces). No run may
//! panic or fail, and none may peak above 200 MB of resident memory (measured by
//! `/usr/bin/time`, GNU time's `%M`).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{bin, shared, testdata, tool};

#[test]
fn no_peer_capture_makes_any_command_panic_fail_or_exceed_200_mb() {
    let Some(root) = shared("peer-suites") else {
        return;
    };
    if !tool("/usr/bin/time", "true") {
        return;
    }
    let files = exfilmeter_testkit::capture_files(&root);
    assert!(files.len() > 600, "{} captures", files.len());
    let dir = tempfile::tempdir().unwrap();
    let iocs = dir.path().join("all.txt");
    std::fs::write(&iocs, "0.0.0.0/0\n::/0\n").unwrap();
    let stage = testdata("example/recovered/stage.csv");
    let exe = bin().get_program().to_owned();
    let mut peak = [0u64; 3];
    let mut bad = Vec::new();
    for f in &files {
        for (i, cmd) in ["inspect", "flows", "analyze"].into_iter().enumerate() {
            let out = dir.path().join("out");
            let _ = std::fs::remove_dir_all(&out);
            let mut c = std::process::Command::new("/usr/bin/time");
            c.args(["-f", "%M"]).arg(&exe).arg(cmd).arg(f);
            match cmd {
                "flows" => {
                    c.args(["-q", "--hash", "none", "-o"])
                        .arg(dir.path().join("f.csv"));
                }
                "analyze" => {
                    c.args(["-q", "--hash", "none", "--sweep", "--iocs"])
                        .arg(&iocs)
                        .arg("--out")
                        .arg(&out)
                        .arg("--recovered")
                        .arg(&stage)
                        .args(["--key", "1", "--header", "no"]);
                }
                _ => {}
            }
            let o = c.output().unwrap();
            let err = String::from_utf8_lossy(&o.stderr);
            // GNU time prints the peak RSS (KiB) as the last line of stderr.
            let kib: u64 = err
                .lines()
                .last()
                .and_then(|l| l.trim().parse().ok())
                .unwrap_or(u64::MAX);
            peak[i] = peak[i].max(kib);
            if err.contains("panicked") || !o.status.success() || kib > 200 * 1024 {
                bad.push(format!(
                    "{cmd} {}: exit {:?}, {kib} KiB\n{}",
                    f.display(),
                    o.status.code(),
                    err.lines().take(6).collect::<Vec<_>>().join("\n")
                ));
            }
        }
    }
    eprintln!(
        "{} captures: peak RSS inspect {} KiB, flows {} KiB, analyze --sweep {} KiB",
        files.len(),
        peak[0],
        peak[1],
        peak[2]
    );
    assert!(
        bad.is_empty(),
        "{} runs failed:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
