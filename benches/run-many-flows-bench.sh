#!/usr/bin/env bash
# Many-small-flows benchmark (issue 19): `exfilmeter flows` and `analyze` on a page-cached
# capture of short connections (`gencap --many-flows`: HTTP, TLS and DNS, ~400,000 TCP
# connections per GB, half of them to the servers of one IOC /25), beside `tshark -q -z
# conv,tcp` and `tcpflow` in the same run; the tracker's own cost per packet and per flow
# (`flow-cost`); the size of the report for ~1,000 hosts; and the same connections in a
# twentieth of the time (`gencap --many-flows-live`), where every connection is still held at
# the end (the most flows at once: peak RSS per live flow).
# Usage: benches/run-many-flows-bench.sh [SIZE_MB=500] [RUNS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${1:-500}
RUNS=${2:-3}
DIR=${BENCH_DIR:-/tmp/exfilmeter-bench}
mkdir -p "$DIR"
CAP="$DIR/many-${SIZE_MB}mb.pcap"
IOC="$DIR/many-ioc.txt"

cargo build --release -q -p exfilmeter -p exfilmeter-benches --bins
BIN=target/release
[ -f "$CAP" ] || "$BIN/gencap" --many-flows "$CAP" "$SIZE_MB" 7
LIVE="$DIR/many-live-${SIZE_MB}mb.pcap"
[ -f "$LIVE" ] || "$BIN/gencap" --many-flows-live "$LIVE" "$SIZE_MB" 7
echo "198.51.100.0/25" > "$IOC"
BYTES=$(stat -c %s "$CAP")
cat "$CAP" > /dev/null

# shellcheck source=benches/common.sh
source benches/common.sh
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
printf '%-48s %9s %9s %12s\n' "command ($((BYTES/1000000)) MB, many flows)" "best s" "MB/s" "peak RSS MiB"
row "exfilmeter inspect --hash none" "$RUNS" "$BYTES" "$BIN/exfilmeter" inspect -q --hash none "$CAP"
row "exfilmeter flows --hash none (parquet)" "$RUNS" "$BYTES" "$BIN/exfilmeter" flows -q --hash none -o "$OUT/l.parquet" "$CAP"
row "exfilmeter flows --hash none --iocs (/25)" "$RUNS" "$BYTES" "$BIN/exfilmeter" flows -q --hash none --iocs "$IOC" -o "$OUT/l.parquet" "$CAP"
row "exfilmeter analyze --hash none --iocs (/25)" "$RUNS" "$BYTES" "$BIN/exfilmeter" analyze -q --hash none --iocs "$IOC" --out "$OUT/run" "$CAP"
command -v tshark >/dev/null && row "tshark -q -z conv,tcp" 1 "$BYTES" tshark -q -z conv,tcp -r "$CAP"
command -v tcpflow >/dev/null && row "tcpflow -o DIR" 1 "$BYTES" tcpflow -o "$OUT/tcpflow" -r "$CAP"
rm -rf "$OUT/tcpflow"
cat "$LIVE" > /dev/null
row "flows, all connections live at the end" "$RUNS" "$BYTES" "$BIN/exfilmeter" flows -q --hash none -o "$OUT/l.parquet" "$LIVE"
row "analyze, all connections live at the end" "$RUNS" "$BYTES" "$BIN/exfilmeter" analyze -q --hash none --iocs "$IOC" --out "$OUT/run" "$LIVE"
echo
"$BIN/exfilmeter" analyze -q --hash none --iocs "$IOC" --out "$OUT/run" "$CAP" || true
for f in report.html report.md summary.json ioc_flows.csv daily.csv; do
  [ -f "$OUT/run/$f" ] && printf '%-16s %10d bytes\n' "$f" "$(stat -c %s "$OUT/run/$f")"
done
echo
echo "flow-cost (system allocator, allocations counted):"
"$BIN/flow-cost" "$CAP" | sed 's/^/  /'
echo "flow-cost, all connections live at the end:"
"$BIN/flow-cost" "$LIVE" | grep -E '^(peak|tracker_ns)' | sed 's/^/  /'
echo
a=${T[exfilmeter analyze --hash none --iocs (/25)]}
f=${T[exfilmeter flows --hash none (parquet)]}
awk -v b="$BYTES" -v f="$f" -v a="$a" 'BEGIN{printf "flows %.2f GB/s (target >= 1), analyze %.2f GB/s (target >= 0.7)\n", b/f/1e9, b/a/1e9}'
if [ -n "${T[tshark -q -z conv,tcp]:-}" ]; then
  awk -v a="$a" -v c="${T[tshark -q -z conv,tcp]}" 'BEGIN{printf "analyze is %.1fx tshark -z conv,tcp (target >= 15x)\n", c/a}'
fi
