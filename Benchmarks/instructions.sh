#!/usr/bin/env bash
# Instructions per operation of each hot path, Hinix beside the raw C baseline, counted by
# callgrind: figures that do not move with the machine's noise, as wall-clock ratios do.
#
# Each path (queue send+receive, pipe write+read, socket write+read, one 64-byte slice through
# the typed ring, one 64-byte message through a message ring, one signal sent to the process itself and awaited by a task on the reactor's
# executor, a file created and removed in a watched folder and its two events read decoded or
# raw, of which only the reading is counted) runs in one process, `hinix bench-peer instructions IMPLEMENTATION PATH COUNT`,
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
# A failed run inside $(...) must end the script too, not just its subshell.
shopt -s inherit_errexit
cd "$(dirname "$0")/.."

check=false
case "${1:-}" in
  "") ;;
  --check) check=true ;;
  *) echo "usage: Benchmarks/instructions.sh [--check]" >&2; exit 2 ;;
esac
goal=1.15
# The same hash seed in every run: no path's count moves with Swift's random one.
export SWIFT_DETERMINISTIC_HASHING=1
low=2000
high=12000

for tool in valgrind strip; do
  command -v "$tool" >/dev/null || { echo "instructions.sh: $tool is not installed" >&2; exit 2; }
done
swift build -c release --product hinix >/dev/null
# Valgrind 3.19 cannot read the DWARF the Swift toolchain writes ("Possibly corrupted
# debuginfo file"): count a copy without debug sections (symbols stay, for callgrind_annotate).
binary=$(mktemp /tmp/hinix-instructions.XXXXXX)
trap 'rm -f "$binary"' EXIT
strip --strip-debug -o "$binary" "$(swift build -c release --show-bin-path)/hinix"

# What callgrind counts of a run: everything, or for the inotify paths only the reads and
# their decoding (the file storm that queues the events is the same for both and not counted).
collect() {
  case "$1 $2" in
    "hinix inotify"*) echo "--toggle-collect=*inotifyDrain*" ;;
    "c inotify"*) echo "--toggle-collect=hinix_c_inotify_drain*" ;;
    *) echo "--collect-atstart=yes" ;;
  esac
}

# Instructions of one run: IMPLEMENTATION PATH COUNT.
count() {
  local output
  output=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$(collect "$1" "$2")" "$binary" bench-peer instructions "$1" "$2" "$3" 2>&1) || {
    echo "$output" >&2
    echo "instructions.sh: the $1 $2 run failed" >&2
    exit 1
  }
  # Exactly one "Collected : N" line, or the run is not what this script expects.
  echo "$output" | awk '/Collected :/ { n++; v = $NF } END { if (n != 1 || v !~ /^[0-9]+$/) exit 1; print v }' || {
    echo "instructions.sh: no instruction count in the $1 $2 run's output" >&2
    exit 1
  }
}

# Instructions of one operation: IMPLEMENTATION PATH.
per_operation() {
  local a b
  a=$(count "$1" "$2" "$low") || exit 1
  b=$(count "$1" "$2" "$high") || exit 1
  [ "$b" -gt "$a" ] || { echo "instructions.sh: $1 $2: $high operations counted no more than $low" >&2; exit 1; }
  awk -v a="$a" -v b="$b" -v n="$((high - low))" 'BEGIN { printf "%.1f", (b - a) / n }'
}

failed=0
# Two different things: "check" is what --check (CI) enforces, the ratio against the one recorded
# in Benchmarks/instructions.expected (a rise past 5% fails, "REGRESSED"); "target" is issue 16's
# aim of Hinix/C <= 1.15, a direction to work in that the recorded ratios do not meet yet (their
# reasons are in the expected file). A "not yet" there fails nothing.
echo "check: Hinix/C at most 1.05 x the recorded ratio (--check fails otherwise); target: Hinix/C <= $goal (informative)"
printf '%-12s %12s %12s %8s %9s  %-10s %s\n' path hinix C ratio recorded check "target <= $goal"
for path in mq pipe socket ring ring-message signal inotify inotify-raw; do
  hinix=$(per_operation hinix "$path") || exit 1
  c=$(per_operation c "$path") || exit 1
  ratio=$(awk -v h="$hinix" -v c="$c" 'BEGIN { printf "%.2f", h / c }')
  recorded=$(awk -v p="$path" '$1 == p { print $2 }' Benchmarks/instructions.expected)
  met=$(awk -v r="$ratio" -v g="$goal" 'BEGIN { print (r <= g) ? "met" : "not yet" }')
  verdict=$(awk -v r="$ratio" -v e="${recorded:-0}" 'BEGIN { print (e == 0) ? "unrecorded" : (r > e * 1.05) ? "REGRESSED" : "ok" }')
  printf '%-12s %12s %12s %8s %9s  %-10s %s\n' "$path" "$hinix" "$c" "$ratio" "${recorded:--}" "$verdict" "$met"
  if $check && [ -z "$recorded" ]; then
    echo "instructions.sh: $path has no line in Benchmarks/instructions.expected" >&2
    failed=1
  elif $check && awk -v r="$ratio" -v e="$recorded" 'BEGIN { exit !(r > e * 1.05) }'; then
    echo "instructions.sh: $path regressed: Hinix/C $ratio, recorded $recorded" >&2
    failed=1
  fi
done
exit $failed
