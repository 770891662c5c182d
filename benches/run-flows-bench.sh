#!/usr/bin/env bash
# Whole-run flow benchmark: `exfilmeter flows` on a >= 1 GB page-cached synthetic capture,
# side by side with `tshark -q -z conv,tcp` and `tcpflow` in the same run, plus the two memory
# stress captures (1 M concurrent half-open flows; one flow with 1 GB behind a hole).
# Usage: benches/run-flows-bench.sh [SIZE_MB=1100] [RUNS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${1:-1100}
RUNS=${2:-3}
DIR=${BENCH_DIR:-/tmp/exfilmeter-bench}
mkdir -p "$DIR"
CAP="$DIR/synthetic-${SIZE_MB}mb.pcap"

if ! command -v tshark >/dev/null || ! command -v tcpflow >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tshark tcpflow >/dev/null || true
  fi
fi

cargo build --release -q -p exfilmeter -p exfilmeter-benches --bins
BIN=target/release
[ -f "$CAP" ] || "$BIN/gencap" "$CAP" "$SIZE_MB" 42
[ -f "$DIR/synflood-1m.pcap" ] || "$BIN/gencap" --synflood "$DIR/synflood-1m.pcap" 1000000
[ -f "$DIR/hole-1gb.pcap" ] || "$BIN/gencap" --hole "$DIR/hole-1gb.pcap" 1000
[ -f "$DIR/iocs-10k.txt" ] || "$BIN/gencap" --iocs "$DIR/iocs-10k.txt" 10000
BYTES=$(stat -c %s "$CAP")
cat "$CAP" > /dev/null

# shellcheck source=benches/common.sh
source benches/common.sh
printf '%-48s %9s %9s %12s\n' "command ($((BYTES/1000000)) MB capture)" "best s" "MB/s" "peak RSS MiB"
OUT=$(mktemp -d)
row "exfilmeter flows --hash none (parquet)" "$RUNS" "$BYTES" "$BIN/exfilmeter" flows -q --hash none -o "$OUT/l.parquet" "$CAP"
row "exfilmeter flows --hash none --retrans-window 0" "$RUNS" "$BYTES" "$BIN/exfilmeter" flows -q --hash none --retrans-window 0 -o "$OUT/l.parquet" "$CAP"
row "exfilmeter flows --hash none --iocs (10k)" "$RUNS" "$BYTES" "$BIN/exfilmeter" flows -q --hash none --iocs "$DIR/iocs-10k.txt" -o "$OUT/l.parquet" "$CAP"
row "exfilmeter flows (sha256, parquet)" "$RUNS" "$BYTES" "$BIN/exfilmeter" flows -q -o "$OUT/l.parquet" "$CAP"
command -v tshark >/dev/null && row "tshark -q -z conv,tcp" 1 "$BYTES" tshark -q -z conv,tcp -r "$CAP"
command -v tcpflow >/dev/null && row "tcpflow -o DIR" 1 "$BYTES" tcpflow -o "$OUT/tcpflow" -r "$CAP"
echo
S=$(stat -c %s "$DIR/synflood-1m.pcap"); H=$(stat -c %s "$DIR/hole-1gb.pcap")
row "flows: 1 M concurrent half-open flows" 1 "$S" "$BIN/exfilmeter" flows -q --hash none -o "$OUT/s.parquet" "$DIR/synflood-1m.pcap"
row "flows: same, --max-flows 100000" 1 "$S" "$BIN/exfilmeter" flows -q --hash none --max-flows 100000 -o "$OUT/s.parquet" "$DIR/synflood-1m.pcap"
row "flows: 1 GB behind a hole (8 MiB cap)" 1 "$H" "$BIN/exfilmeter" flows -q --hash none -o "$OUT/h.parquet" "$DIR/hole-1gb.pcap"
rm -rf "$OUT"
echo
if [ -n "${T[tshark -q -z conv,tcp]:-}" ]; then
  awk -v a="${T[exfilmeter flows --hash none (parquet)]}" -v c="${T[tshark -q -z conv,tcp]}" 'BEGIN{printf "flows is %.1fx tshark -z conv,tcp (target >= 10x)\n", c/a}'
fi
if [ -n "${T[tcpflow -o DIR]:-}" ]; then
  awk -v a="${T[exfilmeter flows --hash none (parquet)]}" -v c="${T[tcpflow -o DIR]}" 'BEGIN{printf "flows is %.1fx tcpflow\n", c/a}'
fi
awk -v a="${T[exfilmeter flows --hash none (parquet)]}" -v c="${T[exfilmeter flows --hash none --iocs (10k)]}" 'BEGIN{printf "with 10,000 indicators: %.1f%% slower\n", 100*(c-a)/a}'
