//! The Spark driver (`contrib/spark/exfilmeter_spark.py`) under `spark-submit --master
//! local[2]`: one split task per capture file, one bucket task per bucket, the merge on the
//! driver. Its report folder must be the one `analyze` writes on the same captures, byte for
//! byte (the example; a scenario of several files), also with the captures given as a
//! `file://` URI that Spark reads (the tables), and its Spark SQL sums over the bucket tasks'
//! daily partitions must equal the merged `daily.csv` (the driver checks and fails
//! otherwise; the test reads its check). A failing task fails the run with exfilmeter's
//! error. Needs python3 with pyspark and Java (installed by `.ci/run`); without them the
//! tests skip, and fail under CI=true.

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

/// pyspark's own `spark-submit`.
fn spark_submit() -> PathBuf {
    let o = Command::new("python3")
        .args([
            "-c",
            "import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), 'bin', 'spark-submit'))",
        ])
        .output()
        .unwrap();
    PathBuf::from(String::from_utf8(o.stdout).unwrap().trim())
}

/// Runs the driver with `spark-submit --master local[2]`: `--buckets N --out OUT CAPTURES --
/// OPTS --reproducible -q`.
fn spark<S: AsRef<std::ffi::OsStr>>(
    work: &Path,
    buckets: usize,
    captures: &[S],
    opts: &[OsString],
) -> Output {
    Command::new(spark_submit())
        .args(["--master", "local[2]", "--conf", "spark.ui.enabled=false"])
        .arg(driver())
        .args(["--buckets", &buckets.to_string()])
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
        "the Spark driver failed:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
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
    // Under spark-submit the driver's standard error reaches the JVM's standard output.
    let err = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let line = err
        .lines()
        .find(|l| l.starts_with("exfilmeter_spark: ") && l.contains("failed"))
        .unwrap_or_else(|| panic!("no error line of the driver:\n{err}"));
    assert!(line.contains("bucket task"), "{line}");
    assert!(err.contains("Nowhere/Atlantis"), "{err}");
    assert!(!dir.path().join("spark/report.html").exists());
}

/// Captures given as URIs that Spark's file systems read (`file://` here, `hdfs://` or
/// `s3a://` on a cluster): listed by Hadoop, their bytes read by Spark (binaryFiles), split on
/// the executors. The tables are those of one run; the report names the URIs.
#[test]
fn captures_given_as_uris_are_read_by_spark_and_give_the_single_run_s_tables() {
    if !have_spark() {
        return;
    }
    let Some(d) = scenario("small-s1") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let opts = scenario_opts(&d, &dir.path().join("cache"));
    let captures = captures_of(&d);
    let one = single(dir.path(), &opts, &captures, 0);
    let folder = std::fs::canonicalize(d.join("captures")).unwrap();
    let uri = format!("file://{}", folder.display());
    let o = spark(dir.path(), 3, &[uri.as_str()], &opts);
    assert_ran(&o);
    let merged = dir.path().join("spark");
    for t in [
        "daily.csv",
        "periods.csv",
        "confirmed_records.csv",
        "ioc_flows.csv",
    ] {
        assert_eq!(
            std::fs::read_to_string(one.join(t)).unwrap(),
            std::fs::read_to_string(merged.join(t)).unwrap(),
            "{t}"
        );
    }
    let manifest = std::fs::read_to_string(merged.join("manifest.json")).unwrap();
    let first = captures[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    assert!(
        manifest.contains(&format!("file:{}/{first}", folder.display())),
        "the manifest names the URIs: {manifest}"
    );
    assert_eq!(check(dir.path())["differ"], serde_json::json!([]));
}

/// A capture that cannot be opened beside a readable one: the Spark run reports it as one run
/// does (exit 1, the same report folder), the readable capture analysed.
#[test]
fn an_unreadable_capture_is_reported_as_one_run_reports_it() {
    if !have_spark() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let opts = example_opts(&dir.path().join("cache"));
    let captures = [
        testdata("example/capture.pcap"),
        dir.path().join("gone.pcap"),
    ];
    let one = single(dir.path(), &opts, &captures, 1);
    let o = spark(dir.path(), 2, &captures, &opts);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    same_folder(&one, &dir.path().join("spark"));
    let report = std::fs::read_to_string(one.join("report.md")).unwrap();
    assert!(
        report.contains("gone.pcap"),
        "the report names the missing capture"
    );
}
