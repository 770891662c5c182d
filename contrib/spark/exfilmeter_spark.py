#!/usr/bin/env python3
"""Run one exfilmeter analysis on a Spark cluster: split, bucket tasks, merge.

    python3 exfilmeter_spark.py --buckets N --out REPORT [--work DIR] [--binary PATH]
        [--master URL] [--split-filter EXPR] CAPTURES... -- ANALYZE_OPTIONS...

Stage 1, one Spark task per capture file: `exfilmeter split CAPTURES --only I` writes the
file's bucket files, its DNS side file and its split.json; they leave the task as records
keyed by bucket (in chunks of --chunk-mb), the bucket files to their own bucket, the DNS file
and split.json to every bucket.

Stage 2, one Spark task per bucket (the records partitioned by bucket): the task rebuilds a
split folder of the run holding its bucket's files, runs `exfilmeter analyze --partial
--bucket B ANALYZE_OPTIONS` on it and hands the partial folder back (as a tar, in chunks).

Stage 3, on the driver: the partial folders are unpacked under WORK/partials/bucket=B, the
split summaries under WORK/splits/file=I, the day x host partitions gathered under
WORK/daily/day=D/ (one part file per bucket) and summed with Spark SQL, and `exfilmeter
merge ANALYZE_OPTIONS --splits WORK/splits -o REPORT` writes the report of one run. The
per-day sums of Spark SQL over the partitions are checked against the merged daily.csv
(WORK/spark_check.json); a mismatch fails the run.

Captures, IOC, recovered and case files are read by the executors at the paths given:
on a cluster they must be on storage every executor mounts at the same path. The binary is
shipped to the executors with the job (SparkContext.addFile), so the executors need the
same platform, not an installation. See docs/scale-out.md.
"""

import argparse
import csv
import glob
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time

BINARY_NAME = "exfilmeter"
SUMS = [
    "flows",
    "frames",
    "frame_bytes",
    "ip_bytes",
    "payload_bytes",
    "stream_bytes",
    "truncated_bytes",
    "retrans_bytes",
    "gap_bytes",
    "app_bytes",
    "control_bytes",
    "unsent_declared_bytes",
]


def bucket_file(b):
    return "bucket=%05d.pcapng" % b


def file_dir(i):
    return "file=%06d" % i


def fail(msg):
    print("exfilmeter_spark: " + msg, file=sys.stderr)
    sys.exit(2)


def run(cmd, what, ok=(0, 1)):
    """Runs an exfilmeter command; exit 1 (partial: damaged input, reported) is accepted."""
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode not in ok:
        raise RuntimeError(
            "%s failed (exit %d): %s\n%s" % (what, p.returncode, " ".join(cmd), p.stderr)
        )
    return p


def executor_binary():
    from pyspark import SparkFiles

    path = SparkFiles.get(BINARY_NAME)
    mode = os.stat(path).st_mode
    if not mode & stat.S_IXUSR:
        os.chmod(path, mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def chunks(path, size):
    """(chunk number, bytes) of a file; an empty file is one empty chunk."""
    with open(path, "rb") as f:
        n = 0
        while True:
            data = f.read(size)
            if not data and n > 0:
                return
            yield n, data
            n += 1
            if len(data) < size:
                return


def local_dir():
    """The executor's scratch folder: Spark's local dirs when it names them, else /tmp."""
    for var in ("SPARK_LOCAL_DIRS", "LOCAL_DIRS"):
        dirs = [d for d in os.environ.get(var, "").split(",") if d and os.path.isdir(d)]
        if dirs:
            return dirs[0]
    return None


def split_cmd(exe, conf, out):
    cmd = [exe, "split", "-q", "-b", str(conf["buckets"]), "-o", out, "--hash", conf["hash"]]
    if conf["filter"] is not None:
        cmd += ["-f", conf["filter"]]
    return cmd


def split_records(d, index, conf):
    """The records of one file's split folder `d`: (bucket, (kind, file, chunk, bytes))."""
    if not os.path.isfile(os.path.join(d, "split.json")):
        raise RuntimeError("split of capture %d wrote no split.json" % index)
    size = conf["chunk"]
    with open(os.path.join(d, "split.json"), encoding="utf-8") as f:
        opened = json.load(f).get("opened", False)
    shared = [("json", "split.json")]
    if opened:
        for b in range(conf["buckets"]):
            for n, data in chunks(os.path.join(d, bucket_file(b)), size):
                yield b, ("bucket", index, n, data)
        shared.insert(0, ("dns", "dns.pcapng"))
    # A capture that could not be opened has its split.json alone (its problem is reported
    # by the merge, as one run reports it).
    for kind, name in shared:
        for n, data in chunks(os.path.join(d, name), size):
            for b in range(conf["buckets"]):
                yield b, (kind, index, n, data)


def split_task(index, conf):
    """Stage 1 on paths every executor reads: split capture `index` of the run."""
    exe = executor_binary()
    tmp = tempfile.mkdtemp(prefix="exfilmeter-split-", dir=local_dir())
    try:
        cmd = split_cmd(exe, conf, tmp) + ["--only", str(index), "--"] + conf["captures"]
        run(cmd, "split of capture %d" % index)
        for r in split_records(os.path.join(tmp, file_dir(index)), index, conf):
            yield r
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def uri_key(uri):
    """One spelling of a Hadoop URI (file:///x and file:/x are the same file)."""
    return re.sub(r"^([a-zA-Z][a-zA-Z0-9+.-]*):///", r"\1:/", uri)


def split_uri_task(item, conf):
    """Stage 1 on URIs Spark reads (HDFS, S3, file:): the file's bytes come with the record
    (SparkContext.binaryFiles); it is split from the task's disk under its run index, and
    its split.json names the URI as the capture's path."""
    uri, data = item
    entry = conf["uris"].get(uri_key(uri))
    if entry is None:
        raise RuntimeError("binaryFiles gave %s, which the plan does not list" % uri)
    index, name, in_folder = entry
    exe = executor_binary()
    tmp = tempfile.mkdtemp(prefix="exfilmeter-split-", dir=local_dir())
    try:
        src = os.path.join(tmp, "in")
        os.makedirs(src)
        with open(os.path.join(src, name), "wb") as f:
            f.write(data)
        out = os.path.join(tmp, "out")
        cmd = split_cmd(exe, conf, out) + ["--index", str(index), "--only", str(index), "--"]
        # A file found in a folder is given as a folder, so a non-capture is left out as one
        # run leaves it out; a named one as a file, so a non-capture is an error.
        cmd.append(src if in_folder else os.path.join(src, name))
        run(cmd, "split of %s" % uri)
        d = os.path.join(out, file_dir(index))
        sj = os.path.join(d, "split.json")
        with open(sj, encoding="utf-8") as f:
            summary = json.load(f)
        summary["path"] = uri
        if summary.get("summary"):
            summary["summary"]["path"] = uri
        with open(sj, "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=2)
            f.write("\n")
        for r in split_records(d, index, conf):
            yield r
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def components(uri):
    """Sort key of a URI as exfilmeter sorts paths: component by component."""
    return [c for c in uri.split("/") if c]


def glob_escape(uri):
    """A URI as a Hadoop glob that matches only itself (binaryFiles reads its paths as globs)."""
    return re.sub(r"([\\{}\[\]*?^])", r"\\\1", uri)


def is_uri(spec):
    return re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", spec) is not None


def plan_uris(sc, specs):
    """URIs expanded with Hadoop's file systems as `analyze` expands paths: a folder walked
    (its files sorted), a glob's matches sorted, each file once; (uri, name, in_folder)."""
    jvm = sc._jvm
    conf = sc._jsc.hadoopConfiguration()
    out, seen = [], set()

    def add(uri, in_folder):
        name = uri.rstrip("/").rsplit("/", 1)[-1]
        if "," in uri:
            fail("%s: Spark's binaryFiles cannot read a path with a comma; rename it" % uri)
        if name.startswith((".", "_")):
            # Hadoop's input formats never read these (hidden and marker files).
            if in_folder:
                say("%s: left out (Spark does not read files named .* or _*)" % uri)
                return
            fail("%s: Spark does not read files named .* or _*; rename it" % uri)
        if uri_key(uri) not in seen:
            seen.add(uri_key(uri))
            out.append((uri, name, in_folder))

    for spec in specs:
        path = jvm.org.apache.hadoop.fs.Path(spec)
        fs = path.getFileSystem(conf)
        statuses = fs.globStatus(path)
        if statuses is None or len(statuses) == 0:
            fail("%s: no such file or folder (as Spark's file systems read it)" % spec)
        globbed = len(statuses) > 1 or any(c in spec for c in "*?[{")
        for st in sorted(statuses, key=lambda x: components(x.getPath().toString())):
            if st.isDirectory():
                found = []
                it = fs.listFiles(st.getPath(), True)
                while it.hasNext():
                    found.append(it.next().getPath().toString())
                for uri in sorted(found, key=components):
                    add(uri, True)
            elif st.isFile():
                add(st.getPath().toString(), False)
            elif not globbed:
                fail("%s: not a file or folder" % spec)
    return out


def folder_size(path):
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(path) for f in fs)


def write_chunk(path, n, size, data):
    """Writes chunk n of a file at its place (chunks may arrive in any order)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "r+b" if os.path.exists(path) else "wb") as f:
        f.seek(n * size)
        f.write(data)


def bucket_task(bucket, records, conf):
    """Stage 2: the partial of one bucket; records ("partial", bucket, chunk, bytes)."""
    exe = executor_binary()
    tmp = tempfile.mkdtemp(prefix="exfilmeter-bucket-", dir=local_dir())
    try:
        splits = os.path.join(tmp, "splits")
        size = conf["chunk"]
        names = {"bucket": bucket_file(bucket), "dns": "dns.pcapng", "json": "split.json"}
        seen = 0
        for b, (kind, index, n, data) in records:
            if b != bucket:
                raise RuntimeError("bucket task %d got a record of bucket %d" % (bucket, b))
            write_chunk(os.path.join(splits, file_dir(index), names[kind]), n, size, data)
            seen += 1
        if seen == 0:
            raise RuntimeError("bucket task %d got no records (no capture was split)" % bucket)
        out = os.path.join(tmp, "partial")
        cmd = [exe, "analyze", "--partial", out, "--bucket", str(bucket)]
        cmd += [] if quiet(conf["analyze"]) else ["-q"]
        run(cmd + conf["analyze"] + ["--", splits], "bucket task %d" % bucket)
        tar = os.path.join(tmp, "partial.tar")
        with tarfile.open(tar, "w") as t:
            for root, dirs, files in os.walk(out):
                dirs.sort()
                for name in sorted(files):
                    full = os.path.join(root, name)
                    t.add(full, arcname=os.path.relpath(full, out), recursive=False)
        for n, data in chunks(tar, size):
            yield "partial", bucket, n, data
        if bucket == 0:
            # The split summaries, which the merge reads: every bucket has them, one hands
            # them on.
            for d in sorted(os.listdir(splits)):
                index = int(d.split("=", 1)[1])
                for n, data in chunks(os.path.join(splits, d, "split.json"), size):
                    yield "split", index, n, data
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def quiet(options):
    return any(o in ("-q", "--quiet") for o in options)


def task_error(e):
    """The exfilmeter error a failed Spark task carries, without the JVM's stack."""
    lines = str(e).splitlines()
    for i, line in enumerate(lines):
        if "RuntimeError: " in line:
            rest = [
                l.replace(" SQLSTATE: 38000", "")
                for l in lines[i + 1 : i + 6]
                if l.strip() and not l.startswith("\t") and not l.strip().startswith("SQLSTATE")
            ]
            return "\n".join([line.split("RuntimeError: ", 1)[1]] + rest[:3])
    return lines[0] if lines else repr(e)


def plan(binary, captures):
    """The run's captures as exfilmeter expands them (index, path, name, in_folder)."""
    p = run([binary, "split", "--list", "--"] + captures, "split --list", ok=(0,))
    return [json.loads(line) for line in p.stdout.splitlines() if line.strip()]


HOST_QUERY = """
WITH named AS (SELECT server_ip, min(host) AS host FROM partials WHERE server_name <> ''
               GROUP BY server_ip HAVING count(DISTINCT host) = 1)
SELECT CAST(p.day AS STRING) AS day,
       CASE WHEN p.server_name = '' AND named.host IS NOT NULL THEN named.host
            ELSE p.host END AS host,
       %s
FROM partials p LEFT JOIN named ON p.server_ip = named.server_ip
WHERE p.direction = 'c2s' GROUP BY 1, 2 ORDER BY 1, 2
"""


def spark_check(spark, work, report):
    """Client->server sums of the partitions in Spark SQL against daily.csv: per day, and per
    day and host (unnamed flows named after their server address, as one run names them)."""
    daily = os.path.join(work, "daily")
    per_day, per_host = {}, {}
    with open(os.path.join(report, "daily.csv"), newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            values = [int(row[c]) for c in SUMS]
            for table, key in ((per_day, row["day"]), (per_host, row["day"] + " " + row["host"])):
                sums = table.setdefault(key, [0] * len(SUMS))
                for i, v in enumerate(values):
                    sums[i] += v
    expected = {
        "per_day": {k: v for k, v in per_day.items() if any(v)},
        "per_day_host": {k: v for k, v in per_host.items() if any(v)},
    }
    got = {"per_day": {}, "per_day_host": {}}
    if glob.glob(os.path.join(daily, "day=*", "*.parquet")):
        spark.read.parquet(daily).createOrReplaceTempView("partials")
        cols = ", ".join("CAST(sum(%s) AS BIGINT) AS %s" % (c, c) for c in SUMS)
        q = (
            "SELECT CAST(day AS STRING) AS day, %s FROM partials "
            "WHERE direction = 'c2s' GROUP BY 1 ORDER BY 1" % cols
        )
        for r in spark.sql(q).collect():
            got["per_day"][r["day"]] = [int(r[c]) for c in SUMS]
        hcols = ", ".join("CAST(sum(p.%s) AS BIGINT) AS %s" % (c, c) for c in SUMS)
        for r in spark.sql(HOST_QUERY % hcols).collect():
            got["per_day_host"][r["day"] + " " + r["host"]] = [int(r[c]) for c in SUMS]
        for table in got.values():
            for k in [k for k, v in table.items() if not any(v)]:
                del table[k]
    differ = []
    for name in ("per_day", "per_day_host"):
        e, g = expected[name], got[name]
        differ += ["%s %s" % (name, k) for k in sorted(set(e) | set(g)) if e.get(k) != g.get(k)]
    result = {
        "columns": SUMS,
        "spark_sql": got,
        "daily_csv": expected,
        "differ": differ,
    }
    with open(os.path.join(work, "spark_check.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2, sort_keys=True)
        f.write("\n")
    return differ


def say(msg):
    print("exfilmeter_spark: " + msg, file=sys.stderr, flush=True)


def main(argv):
    if "--" in argv:
        cut = argv.index("--")
        own, analyze = argv[:cut], argv[cut + 1 :]
    else:
        own, analyze = argv, []
    ap = argparse.ArgumentParser(
        description="exfilmeter analyze on Spark: split, one task per bucket, merge",
        epilog="Arguments after -- are exfilmeter analyze options (the run's settings), "
        "given to every bucket task and to the merge.",
    )
    ap.add_argument("captures", nargs="+", metavar="CAPTURES")
    ap.add_argument("--buckets", type=int, required=True, help="bucket tasks (1-4096)")
    ap.add_argument("--out", required=True, help="report folder (exfilmeter merge -o)")
    ap.add_argument("--work", help="driver-side work folder (default: OUT.work)")
    ap.add_argument("--binary", default=shutil.which(BINARY_NAME), help="exfilmeter binary")
    ap.add_argument("--master", help="Spark master (default: spark-submit's, else local[*])")
    ap.add_argument("--split-filter", help="capture filter, also given to split (-f)")
    ap.add_argument("--hash", default="sha256", choices=["sha256", "none"])
    ap.add_argument("--chunk-mb", type=int, default=4, help="record size of the shuffle")
    a = ap.parse_args(own)
    if not a.binary or not os.access(a.binary, os.X_OK):
        fail("no exfilmeter binary: give --binary PATH")
    if not 1 <= a.buckets <= 4096:
        fail("--buckets must be between 1 and 4096")
    if a.split_filter is not None:
        analyze = analyze + ["-f", a.split_filter]
    binary = os.path.abspath(a.binary)
    uris = [c for c in a.captures if is_uri(c)]
    if uris and len(uris) != len(a.captures):
        fail("give the captures all as URIs (hdfs://, s3a://, file://) or all as paths")
    # Absolute (the tasks run elsewhere), spelled as given otherwise: the report names them.
    captures = [c if is_uri(c) or os.path.isabs(c) else os.path.join(os.getcwd(), c)
                for c in a.captures]
    inputs = None if uris else plan(binary, captures)
    if inputs == []:
        fail("the captures expand to no file")
    work = os.path.abspath(a.work or a.out.rstrip("/") + ".work")
    marker = os.path.join(work, ".exfilmeter-spark-work")
    if os.path.isdir(work) and os.listdir(work):
        if not os.path.exists(marker):
            fail("--work %s holds files no earlier run of this driver wrote: choose a new or "
                 "empty folder" % work)
        shutil.rmtree(work)
    os.makedirs(work, exist_ok=True)
    with open(marker, "w", encoding="utf-8") as f:
        f.write("a work folder of contrib/spark/exfilmeter_spark.py, emptied by its next run\n")

    # The executors' Python is the driver's unless the cluster says otherwise.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark import StorageLevel
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("exfilmeter")
    if a.master:
        builder = builder.master(a.master)
    builder = builder.config("spark.ui.enabled", "false")
    spark = builder.getOrCreate()
    sc = spark.sparkContext
    sc.setLogLevel("ERROR")
    sc.addFile(binary)
    conf = {
        "buckets": a.buckets,
        "captures": captures,
        "analyze": analyze,
        "filter": a.split_filter,
        "hash": a.hash,
        "chunk": a.chunk_mb << 20,
    }
    try:
        if uris:
            listed = plan_uris(sc, captures)
            if not listed:
                fail("the captures expand to no file")
            conf["uris"] = {uri_key(u): (i, name, f) for i, (u, name, f) in enumerate(listed)}
            indices = list(range(len(listed)))
            paths = ",".join(glob_escape(u) for u, _, _ in listed)
            read = sc.binaryFiles(paths, minPartitions=len(listed))
            stage1 = read.flatMap(lambda item: split_uri_task(item, conf))
        else:
            indices = [int(i["index"]) for i in inputs]
            stage1 = sc.parallelize(indices, len(indices)).flatMap(lambda i: split_task(i, conf))
        by_bucket = stage1.partitionBy(a.buckets, lambda b: b)
        stage2 = by_bucket.mapPartitionsWithIndex(lambda b, recs: bucket_task(b, recs, conf))
        tars = os.path.join(work, "tars")
        # Every bucket task at once (toLocalIterator alone would run them one after the
        # other), their results kept on the executors' disks, then fetched one by one.
        stage2 = stage2.persist(StorageLevel.DISK_ONLY)
        started = time.monotonic()
        say("%d capture file(s) in %d split tasks, then %d bucket tasks" % (len(indices), len(indices), a.buckets))
        try:
            stage2.count()
            say("split and bucket tasks done in %.1f s" % (time.monotonic() - started))
            for kind, key, n, data in stage2.toLocalIterator():
                if kind == "partial":
                    path = os.path.join(tars, "bucket=%05d.tar" % key)
                else:
                    path = os.path.join(work, "splits", file_dir(key), "split.json")
                write_chunk(path, n, conf["chunk"], data)
        except Exception as e:  # a failed task: its exfilmeter error, not the JVM's stack
            fail(task_error(e))
        partials = []
        for b in range(a.buckets):
            tar = os.path.join(tars, "bucket=%05d.tar" % b)
            if not os.path.exists(tar):
                fail("bucket %d returned nothing" % b)
            dest = os.path.join(work, "partials", "bucket=%05d" % b)
            with tarfile.open(tar) as t:
                try:
                    t.extractall(dest, filter="data")
                except TypeError:  # a Python without tar filters; the tar is the task's own
                    t.extractall(dest)
            partials.append(dest)
            for part in glob.glob(os.path.join(dest, "daily", "day=*", "*.parquet")):
                day = os.path.basename(os.path.dirname(part))
                os.makedirs(os.path.join(work, "daily", day), exist_ok=True)
                shutil.copy(part, os.path.join(work, "daily", day, os.path.basename(part)))
        shutil.rmtree(tars)
        stage2.unpersist()
        say("partials fetched in %.1f s (%d MB)" % (time.monotonic() - started, folder_size(os.path.join(work, "partials")) >> 20))
        started = time.monotonic()
        cmd = [binary, "merge"] + analyze + ["--splits", os.path.join(work, "splits"), "-o", a.out]
        cmd += ["--captures"] + captures
        merged = subprocess.run(cmd + ["--"] + partials)
        if merged.returncode not in (0, 1):
            fail("merge failed (exit %d): %s" % (merged.returncode, " ".join(cmd)))
        say("merge done in %.1f s" % (time.monotonic() - started))
        started = time.monotonic()
        differ = spark_check(spark, work, a.out)
        say("Spark SQL check of daily.csv done in %.1f s: %s" % (time.monotonic() - started, "differs" if differ else "same sums"))
        if differ:
            fail("Spark SQL per-day sums differ from daily.csv on %s (see %s)"
                 % (", ".join(differ), os.path.join(work, "spark_check.json")))
        return merged.returncode
    finally:
        spark.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
