//! The Spark driver (`contrib/spark/exfilmeter_spark.py`) on a local Spark (`local[2]`): one
//! split task per capture file, one bucket task per bucket, the merge on the driver. Its
//! report folder must be the one `analyze` writes on the same captures, byte for byte, and
//! its Spark SQL sums over the bucket tasks' daily partitions must equal the merged
//! `daily.csv` (the driver checks and fails otherwise; the test reads its check). Needs
//! python3 with pyspark and Java (installed by `.ci/run`); without them the tests skip,
//! and fail under CI=true.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::merged::{captures_of, example_opts, same_folder, scenario_opts, single};
use common::{scenario, skip, testdata};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn driver() -> PathBuf {
    testdata("../contrib/spark/exfilmeter_spark.py")
}

/// Whether python3 can import pyspark and Java runs (else a skip, a failure in CI).
fn have_spark() -> bool {
    let py = Command::new("python3")
        .args(["-c", "import pyspark"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !py {
        skip("python3 with pyspark not installed (python3 -m pip install pyspark)");
        return false;
    }
    let java = Command::new("java").arg("-version").output().is_ok();
    if !java {
        skip("java not installed (Spark needs a Java 17 runtime)");
    }
    java
}

/// Runs the driver: `--buckets N --out OUT CAPTURES -- OPTS --reproducible -q`.
fn spark(work: &Path, buckets: usize, captures: &[PathBuf], opts: &[OsString]) -> Output {
    Command::new("python3")
        .arg(driver())
        .args(["--master", "local[2]", "--buckets", &buckets.to_string()])
        .arg("--binary")
        .arg(env!("CARGO_BIN_EXE_exfilmeter"))
        .arg("--out")
        .arg(work.join("spark"))
        .arg("--work")
        .arg(work.join("spark.work"))
        .args(captures)
        .arg("--")
        .args(opts)
        .args(["--reproducible", "-q"])
        .output()
        .unwrap()
}

fn check(work: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(work.join("spark.work/spark_check.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn assert_ran(o: &Output) {
    assert_eq!(
        o.status.code(),
        Some(0),
        "the Spark driver failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn example_on_local_spark_gives_the_single_run_byte_for_byte() {
    if !have_spark() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let opts = example_opts(&dir.path().join("cache"));
    let captures = [testdata("example/capture.pcap")];
    let one = single(dir.path(), &opts, &captures, 0);
    let o = spark(dir.path(), 3, &captures, &opts);
    assert_ran(&o);
    same_folder(&one, &dir.path().join("spark"));
    let c = check(dir.path());
    assert_eq!(c["differ"], serde_json::json!([]), "{c}");
    // The SQL check compared real traffic: every day of the example, and its hosts.
    assert_eq!(
        c["spark_sql"]["per_day"].as_object().unwrap().len(),
        3,
        "{c}"
    );
    assert!(
        c["spark_sql"]["per_day_host"].as_object().unwrap().len() > 3,
        "{c}"
    );
}

#[test]
fn a_scenario_of_several_files_on_local_spark_gives_the_single_run() {
    if !have_spark() {
        return;
    }
    let Some(d) = scenario("small-s1") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let opts = scenario_opts(&d, &dir.path().join("cache"));
    let captures = captures_of(&d);
    assert!(captures.len() > 1, "a run of several capture files");
    let one = single(dir.path(), &opts, &captures, 0);
    let o = spark(dir.path(), 4, &captures, &opts);
    assert_ran(&o);
    same_folder(&one, &dir.path().join("spark"));
    assert_eq!(check(dir.path())["differ"], serde_json::json!([]));
}

#[test]
fn a_failing_bucket_task_names_exfilmeter_s_error() {
    if !have_spark() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut opts = example_opts(&dir.path().join("cache"));
    opts.extend(["--tz".into(), "Nowhere/Atlantis".into()]);
    let o = spark(dir.path(), 2, &[testdata("example/capture.pcap")], &opts);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with("exfilmeter_spark: "))
        .unwrap_or_else(|| panic!("no error line of the driver:\n{err}"));
    assert!(line.contains("bucket task"), "{line}");
    assert!(err.contains("Nowhere/Atlantis"), "{err}");
    assert!(!dir.path().join("spark/report.html").exists());
}
