# Shared by the benchmark scripts: `best N CMD…` prints the best wall time (s) and the
# highest peak RSS (KiB) of N runs; `row NAME N BYTES CMD…` prints a table row and
# records the time in T[NAME].
best() {
  local n=$1; shift
  local bt="" rss=0
  for _ in $(seq "$n"); do
    local tf out
    tf=$(mktemp)
    /usr/bin/time -o "$tf" -f "%e %M" "$@" > /dev/null 2>&1 || true
    out=$(tail -1 "$tf"); rm -f "$tf"
    local t=${out% *} m=${out#* }
    if [ -z "$bt" ] || awk "BEGIN{exit !($t < $bt)}"; then bt=$t; fi
    [ "$m" -gt "$rss" ] && rss=$m
  done
  echo "$bt $rss"
}
declare -A T
row() {
  local name=$1 n=$2 size=$3; shift 3
  local t m
  read -r t m < <(best "$n" "$@")
  T[$name]=$t
  awk -v n="$name" -v t="$t" -v b="$size" -v m="$m" 'BEGIN{printf "%-48s %9.3f %9.0f %12.1f\n", n, t, (t>0? b/t/1e6 : 0), m/1024}'
}
