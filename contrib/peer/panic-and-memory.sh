#!/usr/bin/env bash
# Runs inspect, flows and analyze --sweep (every flow attributed: 0.0.0.0/0 and ::/0 as IOCs,
# the example's recovered file) on every capture of ../shared/peer-suites, and prints any panic,
# any non-zero exit and the highest peak RSS of each command (issue 13: no panic, no run > 200 MB).
# Usage: contrib/peer/panic-and-memory.sh [path/to/exfilmeter]
set -u
repo=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$repo/target/release/exfilmeter}
peer=$repo/../shared/peer-suites
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '0.0.0.0/0\n::/0\n' >"$tmp/all.txt"
find "$peer/zeek/traces" "$peer/suricata-verify/tests" -type f \
  \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.pcap.gz' -o -name '*.pcapng.gz' -o -name '*.cap' \) |
  sort | while read -r f; do
    for cmd in inspect flows analyze; do
      case $cmd in
        inspect) args=() ;;
        flows) args=(-q --hash none -o "$tmp/f.csv") ;;
        analyze) rm -rf "$tmp/out"
          args=(-q --hash none --iocs "$tmp/all.txt" --sweep --out "$tmp/out"
            --recovered "$repo/testdata/example/recovered/stage.csv" --key 1 --header no) ;;
      esac
      /usr/bin/time -f '%M %x' -o "$tmp/t" "$bin" "$cmd" "$f" "${args[@]}" >/dev/null 2>"$tmp/e"
      read -r rss code < <(tail -n 1 "$tmp/t") || true
      grep -q panicked "$tmp/e" && echo "PANIC $cmd $f"
      [ "${code:-1}" = 0 ] || echo "EXIT $code $cmd $f"
      echo "$cmd $rss" >>"$tmp/rss"
    done
  done
sort -k2 -n "$tmp/rss" | awk '{max[$1]=$2; n[$1]++} END {for (c in max) printf "%s: %d runs, peak RSS %.1f MB\n", c, n[c], max[c]/1024}'
