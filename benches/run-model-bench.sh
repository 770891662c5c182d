#!/usr/bin/env bash
# Record-model benchmark (`exfilmeter calibrate`, the model `analyze --recovered` builds first):
# the model case's shape — three staging files of 12,027 member records each (~9.3 MB, ~257 B
# per record, `gencap --records`) — and one staging file of ROWS records (default 1,000,000),
# best of RUNS wall times and peak RSS, cold (--no-cache) and cached; then `ratio-check` sets
# the sampled ratios beside the full measurement (CHECK=0 leaves it out).
# Usage: benches/run-model-bench.sh [ROWS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-1000000}
RUNS=${2:-3}
DIR=${BENCH_DIR:-/tmp/exfilmeter-bench}
mkdir -p "$DIR"

cargo build --release -q -p exfilmeter -p exfilmeter-benches --bins
BIN=target/release
for s in 1 2 3; do
  [ -f "$DIR/stage$s.csv" ] || "$BIN/gencap" --records "$DIR/stage$s.csv" 12027 "$s"
done
[ -f "$DIR/stage-$ROWS.csv" ] || "$BIN/gencap" --records "$DIR/stage-$ROWS.csv" "$ROWS" 9
CASE=$(cat "$DIR"/stage[123].csv | wc -c)
BIG=$(stat -c %s "$DIR/stage-$ROWS.csv")
cat "$DIR"/stage*.csv > /dev/null   # page cache

# shellcheck source=benches/common.sh
source benches/common.sh
printf '%-48s %9s %9s %12s\n' "command" "best s" "MB/s" "peak RSS MiB"
CACHE=$(mktemp -d)
trap 'rm -rf "$CACHE"' EXIT
CASE_FILES=("$DIR"/stage1.csv "$DIR"/stage2.csv "$DIR"/stage3.csv)
row "calibrate, 3 files, 36,081 records (cold)" "$RUNS" "$CASE" \
  "$BIN/exfilmeter" calibrate --recovered "${CASE_FILES[@]}" \
  --record-format csv --key 1 --header no --no-cache
"$BIN/exfilmeter" calibrate --recovered "${CASE_FILES[@]}" --record-format csv --key 1 --header no \
  --cache-dir "$CACHE" > /dev/null
row "calibrate, 3 files, 36,081 records (cached)" "$RUNS" "$CASE" \
  "$BIN/exfilmeter" calibrate --recovered "${CASE_FILES[@]}" \
  --record-format csv --key 1 --header no --cache-dir "$CACHE"
row "calibrate, $ROWS records (cold)" "$RUNS" "$BIG" \
  "$BIN/exfilmeter" calibrate --recovered "$DIR/stage-$ROWS.csv" --record-format csv --key 1 \
  --header no --no-cache
"$BIN/exfilmeter" calibrate --recovered "$DIR/stage-$ROWS.csv" --record-format csv --key 1 \
  --header no --cache-dir "$CACHE" > /dev/null
row "calibrate, $ROWS records (cached)" "$RUNS" "$BIG" \
  "$BIN/exfilmeter" calibrate --recovered "$DIR/stage-$ROWS.csv" --record-format csv --key 1 \
  --header no --cache-dir "$CACHE"

# The sampled ratios beside the measurement they replace (all records up to 32 MiB, else the
# first and the last 16 MiB), codec by codec.
if [ "${CHECK:-1}" = 1 ]; then
  echo
  "$BIN/ratio-check" csv "${CASE_FILES[@]}"
  echo
  "$BIN/ratio-check" csv "$DIR/stage-$ROWS.csv"
fi
