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
best() { # best wall time (s) and max RSS (KiB) of RUNS runs of a command
  local bt="" rss=0
  for _ in $(seq "$RUNS"); do
    local out tf
    tf=$(mktemp)
    /usr/bin/time -o "$tf" -f "%e %M" "$@" > /dev/null 2>&1 || true
    out=$(tail -1 "$tf"); rm -f "$tf"
    local t=${out% *} m=${out#* }
    if [ -z "$bt" ] || awk "BEGIN{exit !($t < $bt)}"; then bt=$t; fi
    [ "$m" -gt "$rss" ] && rss=$m
  done
  echo "$bt $rss"
}

printf '%-34s %9s %10s %10s\n' "command" "best s" "MB/s" "peak RSS MiB"
declare -A T
row() {
  local name=$1; shift
  read -r t m < <(best "$@")
  T[$name]=$t
  awk -v n="$name" -v t="$t" -v b="$BYTES" -v m="$m" 'BEGIN{printf "%-34s %9.3f %10.0f %10.1f\n", n, t, (t>0? b/t/1e6 : 0), m/1024}'
}
row "exfilmeter inspect --hash none" "$BIN/exfilmeter" inspect -q --hash none "$CAP"
row "exfilmeter inspect (sha256)" "$BIN/exfilmeter" inspect -q "$CAP"
row "sha256 crate alone" "$BIN/sha256file" "$CAP"
have capinfos && row "capinfos" capinfos "$CAP"
have tcpdump && row "tcpdump -r -w /dev/null" tcpdump -r "$CAP" -w /dev/null
echo
awk -v a="${T[exfilmeter inspect (sha256)]}" -v h="${T[sha256 crate alone]}" 'BEGIN{printf "inspect with SHA-256 runs at %.0f%% of the hash crate alone (target >= 80%%)\n", 100*h/a}'
if [ -n "${T[capinfos]:-}" ]; then
  awk -v a="${T[exfilmeter inspect --hash none]}" -v c="${T[capinfos]}" 'BEGIN{printf "inspect --hash none is %.1fx capinfos\n", c/a}'
fi
if [ -n "${T[tcpdump -r -w /dev/null]:-}" ]; then
  awk -v a="${T[exfilmeter inspect --hash none]}" -v c="${T[tcpdump -r -w /dev/null]}" 'BEGIN{printf "inspect --hash none is %.1fx tcpdump -r -w /dev/null\n", c/a}'
fi
echo "capture: $CAP ($BYTES bytes)"
