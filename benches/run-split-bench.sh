#!/usr/bin/env bash
# Split-run benchmark (docs/scale-out.md): on the bulk capture (`gencap`, few large flows) and
# the many-flow capture (`gencap --many-flows`), page-cached, in one run: `split` into B
# buckets (MB/s of input), each bucket task (`analyze --partial`) and the `merge`, against one
# `analyze --threads 1` on the same capture; the bytes the split writes (the shuffle volume)
# over the input; and the wall time a cluster of E executors would take, projected from the
# measured stages (split of one file per executor, the slowest bucket task, the merge).
# Usage: benches/run-split-bench.sh [BULK_MB=1100] [MANY_MB=500] [BUCKETS=4] [RUNS=2]
set -euo pipefail
cd "$(dirname "$0")/.."
BULK_MB=${1:-1100}
MANY_MB=${2:-500}
BUCKETS=${3:-4}
RUNS=${4:-2}
DIR=${BENCH_DIR:-/tmp/exfilmeter-bench}
mkdir -p "$DIR"
cargo build --release -q -p exfilmeter -p exfilmeter-benches --bins
BIN=target/release
BULK="$DIR/synthetic-${BULK_MB}mb.pcap"
MANY="$DIR/many-${MANY_MB}mb.pcap"
[ -f "$BULK" ] || "$BIN/gencap" "$BULK" "$BULK_MB" 42
[ -f "$MANY" ] || "$BIN/gencap" --many-flows "$MANY" "$MANY_MB" 7
[ -f "$DIR/iocs-10k.txt" ] || "$BIN/gencap" --iocs "$DIR/iocs-10k.txt" 10000
echo "198.51.100.0/25" > "$DIR/many-ioc.txt"
STAGE=testdata/example/recovered/stage.csv

# shellcheck source=benches/common.sh
source benches/common.sh
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

for cap in "$BULK" "$MANY"; do
  cat "$cap" > /dev/null
  BYTES=$(stat -c %s "$cap")
  ioc="$DIR/iocs-10k.txt"
  [ "$cap" = "$MANY" ] && ioc="$DIR/many-ioc.txt"
  OPTS=(--iocs "$ioc" --recovered "$STAGE" --record-format csv --key 1 --header no
        --threads 1 --cache-dir "$OUT/cache")
  echo "== $(basename "$cap"): $((BYTES/1000000)) MB, $BUCKETS buckets"
  printf '%-48s %9s %9s %12s\n' "stage" "best s" "MB/s" "RSS MiB"
  row "analyze --threads 1 (one run)" "$RUNS" "$BYTES" \
    "$BIN/exfilmeter" analyze -q --hash none "${OPTS[@]}" --out "$OUT/one" --force "$cap"
  row "split -b $BUCKETS --hash none" "$RUNS" "$BYTES" \
    "$BIN/exfilmeter" split -q --hash none -b "$BUCKETS" -o "$OUT/splits" "$cap"
  rm -rf "$OUT/splits"
  "$BIN/exfilmeter" split -q --hash none -b "$BUCKETS" -o "$OUT/splits" "$cap"
  WRITTEN=$(du -sb "$OUT/splits" | cut -f1)
  tasks=0 slowest=0
  for b in $(seq 0 $((BUCKETS - 1))); do
    rm -rf "$OUT/p$b"
    row "analyze --partial --bucket $b" "$RUNS" "$BYTES" \
      "$BIN/exfilmeter" analyze -q "${OPTS[@]}" --partial "$OUT/p$b" --bucket "$b" "$OUT/splits"
    rm -rf "$OUT/p$b"
    "$BIN/exfilmeter" analyze -q "${OPTS[@]}" --partial "$OUT/p$b" --bucket "$b" "$OUT/splits"
    t=${T["analyze --partial --bucket $b"]}
    tasks=$(awk -v a="$tasks" -v b="$t" 'BEGIN{print a+b}')
    slowest=$(awk -v a="$slowest" -v b="$t" 'BEGIN{print (b>a)?b:a}')
  done
  PARTS=()
  for b in $(seq 0 $((BUCKETS - 1))); do PARTS+=("$OUT/p$b"); done
  row "merge" "$RUNS" "$BYTES" \
    "$BIN/exfilmeter" merge -q "${OPTS[@]}" --splits "$OUT/splits" --out "$OUT/merged" --force "${PARTS[@]}"
  PARTIAL=$(du -sb "${PARTS[@]}" | awk '{s+=$1} END{print s}')
  one=${T["analyze --threads 1 (one run)"]}
  split=${T["split -b $BUCKETS --hash none"]}
  merge=${T[merge]}
  awk -v w="$WRITTEN" -v b="$BYTES" -v p="$PARTIAL" \
    'BEGIN{printf "split output (shuffle volume) %.3fx the input; partial folders %.1f MB\n", w/b, p/1e6}'
  awk -v s="$split" -v b="$BYTES" 'BEGIN{printf "split: %.0f MB/s on one core\n", b/s/1e6}'
  awk -v t="$tasks" -v m="$slowest" -v o="$one" -v n="$BUCKETS" \
    'BEGIN{printf "bucket tasks: %.3f s in all (%.2fx the one run), slowest %.3f s (ideal %.3f)\n", t, t/o, m, o/n}'
  # One split task per capture file and one bucket task per bucket, E executors: a run of
  # F files of this size in E buckets takes about F/E splits, one bucket task of F files/E,
  # and the merge (which grows with flows, not bytes).
  for e in 10 100; do
    awk -v e="$e" -v s="$split" -v o="$one" -v m="$merge" -v b="$BYTES" -v t="$tasks" \
      'BEGIN{f=e; wall=s + (t*f/e) + m*f; printf "projected: %d files of this size (%.0f GB) on %d executors: %.0f s (one machine, one core: %.0f s)\n", f, f*b/1e9, e, wall, o*f}'
  done
done
