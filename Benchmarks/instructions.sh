#!/usr/bin/env bash
# Instructions per operation of each hot path, Hinix beside the raw C baseline, counted by
# callgrind: figures that do not move with the machine's noise, as wall-clock ratios do.
#
# Each path (queue send+receive, pipe write+read, socket write+read, one 64-byte slice through
# the typed ring) runs in one process, `hinix bench-peer instructions IMPLEMENTATION PATH COUNT`,
# twice: with LOW and with HIGH operations. The difference of the two counts divided by
# HIGH - LOW is the cost of one operation alone: start-up, set-up and exit cancel out.
#
# Callgrind counts user-space instructions only: for a system call, what Hinix adds around the
# kernel's work, where C's libc wrapper is a handful of instructions.
#
# Usage: Benchmarks/instructions.sh [--check]
#   --check  exit 1 when a path's Hinix/C ratio is more than 5% above the ratio recorded in
#            Benchmarks/instructions.expected (a regression); the goal is printed beside it.
set -euo pipefail
cd "$(dirname "$0")/.."

check=false
[ "${1:-}" = "--check" ] && check=true
goal=1.15
low=2000
high=12000

command -v valgrind >/dev/null || { echo "instructions.sh: valgrind is not installed" >&2; exit 2; }
swift build -c release --product hinix >/dev/null
# Valgrind 3.19 cannot read the DWARF the Swift toolchain writes ("Possibly corrupted
# debuginfo file"): count a copy without debug sections (symbols stay, for callgrind_annotate).
binary=$(mktemp /tmp/hinix-instructions.XXXXXX)
trap 'rm -f "$binary"' EXIT
strip --strip-debug -o "$binary" "$(swift build -c release --show-bin-path)/hinix"

# Instructions of one run: IMPLEMENTATION PATH COUNT.
count() {
  local output
  output=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$binary" bench-peer instructions "$1" "$2" "$3" 2>&1) || {
    echo "$output" >&2
    echo "instructions.sh: the $1 $2 run failed" >&2
    exit 1
  }
  echo "$output" | awk '/Collected :/ { print $NF }'
}

# Instructions of one operation: IMPLEMENTATION PATH.
per_operation() {
  local a b
  a=$(count "$1" "$2" "$low")
  b=$(count "$1" "$2" "$high")
  awk -v a="$a" -v b="$b" -v n="$((high - low))" 'BEGIN { printf "%.1f", (b - a) / n }'
}

failed=0
printf '%-8s %12s %12s %8s %9s  %s\n' path hinix C ratio recorded "goal <= $goal"
for path in mq pipe socket ring; do
  hinix=$(per_operation hinix "$path")
  c=$(per_operation c "$path")
  ratio=$(awk -v h="$hinix" -v c="$c" 'BEGIN { printf "%.2f", h / c }')
  recorded=$(awk -v p="$path" '$1 == p { print $2 }' Benchmarks/instructions.expected)
  met=$(awk -v r="$ratio" -v g="$goal" 'BEGIN { print (r <= g) ? "met" : "not met" }')
  printf '%-8s %12s %12s %8s %9s  %s\n' "$path" "$hinix" "$c" "$ratio" "${recorded:--}" "$met"
  if $check && [ -n "$recorded" ] && awk -v r="$ratio" -v e="$recorded" 'BEGIN { exit !(r > e * 1.05) }'; then
    echo "instructions.sh: $path regressed: Hinix/C $ratio, recorded $recorded" >&2
    failed=1
  fi
done
exit $failed
