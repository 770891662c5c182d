#!/usr/bin/env bash
# Whole-run ingest benchmark: `exfilmeter inspect` on a >= 1 GB page-cached capture, side by
# side with capinfos, `tcpdump -r FILE -w /dev/null` and the SHA-256 crate alone, in one run.
# Reports MB/s, ratios and peak RSS. Usage: benches/run-inspect-bench.sh [SIZE_MB] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${1:-1100}
RUNS=${2:-3}
DIR=${BENCH_DIR:-/tmp/exfilmeter-bench}
mkdir -p "$DIR"
CAP="$DIR/synthetic-${SIZE_MB}mb.pcap"

cargo build --release -q -p exfilmeter -p exfilmeter-benches --bins
BIN=target/release
[ -f "$CAP" ] || "$BIN/gencap" "$CAP" "$SIZE_MB" 42
BYTES=$(stat -c %s "$CAP")
cat "$CAP" > /dev/null   # page cache

have() { command -v "$1" >/dev/null 2>&1; }
# shellcheck source=benches/common.sh
source benches/common.sh

printf '%-48s %9s %9s %12s\n' "command" "best s" "MB/s" "peak RSS MiB"
row "exfilmeter inspect --hash none" "$RUNS" "$BYTES" "$BIN/exfilmeter" inspect -q --hash none "$CAP"
row "exfilmeter inspect (sha256)" "$RUNS" "$BYTES" "$BIN/exfilmeter" inspect -q "$CAP"
row "sha256 crate alone" "$RUNS" "$BYTES" "$BIN/sha256file" "$CAP"
have capinfos && row "capinfos" "$RUNS" "$BYTES" capinfos "$CAP"
have tcpdump && row "tcpdump -r -w /dev/null" "$RUNS" "$BYTES" tcpdump -r "$CAP" -w /dev/null
echo
awk -v a="${T[exfilmeter inspect (sha256)]}" -v h="${T[sha256 crate alone]}" 'BEGIN{printf "inspect with SHA-256 runs at %.0f%% of the hash crate alone (target >= 80%%)\n", 100*h/a}'
if [ -n "${T[capinfos]:-}" ]; then
  awk -v a="${T[exfilmeter inspect --hash none]}" -v c="${T[capinfos]}" 'BEGIN{printf "inspect --hash none is %.1fx capinfos\n", c/a}'
fi
if [ -n "${T[tcpdump -r -w /dev/null]:-}" ]; then
  awk -v a="${T[exfilmeter inspect --hash none]}" -v c="${T[tcpdump -r -w /dev/null]}" 'BEGIN{printf "inspect --hash none is %.1fx tcpdump -r -w /dev/null\n", c/a}'
fi
echo "capture: $CAP ($BYTES bytes)"
