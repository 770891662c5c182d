#!/usr/bin/env bash
# Threads benchmark (issue 16, decision 0025): `flows` and `analyze --recovered` with
# `--threads 1` and `2` on the bulk capture (`gencap`, few large flows) and on the many-flow
# capture (`gencap --many-flows`), page-cached, in one run; MB/s, packets/s, flows/s and peak
# RSS; the reading thread's own cost per packet and the ceiling it sets on any number of cores
# (`dispatch-cost`); SHA-256 on one file and on a set of two.
# Usage: benches/run-threads-bench.sh [BULK_MB=1100] [MANY_MB=500] [RUNS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
BULK_MB=${1:-1100}
MANY_MB=${2:-500}
RUNS=${3:-3}
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
REC=(--recovered "$STAGE" --record-format csv --key 1 --header no)

# shellcheck source=benches/common.sh
source benches/common.sh
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

for cap in "$BULK" "$MANY"; do
  cat "$cap" > /dev/null
  BYTES=$(stat -c %s "$cap")
  ioc="$DIR/iocs-10k.txt"
  [ "$cap" = "$MANY" ] && ioc="$DIR/many-ioc.txt"
  cost=$("$BIN/dispatch-cost" "$cap")
  PACKETS=$(awk '$1=="packets"{print $2}' <<< "$cost")
  FLOWS=$("$BIN/exfilmeter" flows --hash none --threads 1 -o "$OUT/l.parquet" "$cap" 2>&1 \
    | sed -n 's/.* packets, [0-9]* skipped frames, \([0-9]*\) flows,.*/\1/p')
  echo "== $(basename "$cap"): $((BYTES/1000000)) MB, $PACKETS packets, $FLOWS flows"
  printf '%-44s %8s %8s %8s %8s %9s\n' "command" "best s" "MB/s" "Mpkt/s" "kflow/s" "RSS MiB"
  for t in 1 2; do
    for what in flows analyze; do
      name="$what --threads $t"
      if [ "$what" = flows ]; then
        read -r s m < <(best "$RUNS" "$BIN/exfilmeter" flows -q --hash none --threads "$t" -o "$OUT/l.parquet" "$cap")
      else
        read -r s m < <(best "$RUNS" "$BIN/exfilmeter" analyze -q --hash none --threads "$t" --iocs "$ioc" "${REC[@]}" --out "$OUT/run" --force "$cap")
      fi
      T[$name]=$s
      awk -v n="$name" -v t="$s" -v b="$BYTES" -v p="$PACKETS" -v f="$FLOWS" -v m="$m" \
        'BEGIN{printf "%-44s %8.3f %8.0f %8.2f %8.0f %9.1f\n", n, t, b/t/1e6, p/t/1e6, f/t/1e3, m/1024}'
    done
  done
  for what in flows analyze; do
    awk -v w="$what" -v a="${T[$what --threads 1]}" -v b="${T[$what --threads 2]}" \
      'BEGIN{printf "%s: --threads 2 is %.2fx --threads 1 (target >= 1.7x)\n", w, a/b}'
  done
  echo "reading thread alone (dispatch-cost):"
  sed 's/^/  /' <<< "$cost"
  echo
done

# SHA-256 (the default): one file against a set of two (the bulk capture and a copy).
cp "$BULK" "$OUT/b.pcap"
cat "$BULK" "$OUT/b.pcap" > /dev/null
BYTES=$(stat -c %s "$BULK")
read -r one m1 < <(best "$RUNS" "$BIN/exfilmeter" flows -q -o "$OUT/l.parquet" "$BULK")
read -r two m2 < <(best "$RUNS" "$BIN/exfilmeter" flows -q -o "$OUT/l.parquet" "$BULK" "$OUT/b.pcap")
awk -v b="$BYTES" -v o="$one" -v t="$two" -v m1="$m1" -v m2="$m2" 'BEGIN{
  printf "flows with SHA-256, one file: %.3f s, %.0f MB/s, %.1f MiB\n", o, b/o/1e6, m1/1024;
  printf "flows with SHA-256, two files: %.3f s, %.0f MB/s, %.1f MiB (%.2fx the one-file rate, target >= 1.8x)\n", t, 2*b/t/1e6, m2/1024, (2*b/t)/(b/o)}'
