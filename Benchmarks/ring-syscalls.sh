#!/usr/bin/env bash
# Counts the system calls of each Hinix ring peer process in `hinix bench --only ring --quick`,
# with strace following every process into its own file: what the ring costs the kernel per
# message once it is set up. Needs strace (apt-get install strace) and a release build.
#
#   Benchmarks/ring-syscalls.sh            # from the repository's root
#
# For each peer it prints the calls made after its last ring was set up (its last epoll_ctl), by
# name: the steady state plus the end (the done handshake, closing, unmapping, exit). The sinks receive 262144 64-byte messages (then 4096 and 1000 larger
# ones) with spin-then-sleep; the echo peers serve round trips with busy-spin, spin-then-sleep
# and sleep-at-once, in that order, for two rounds each.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product hinix >/dev/null
traces=$(mktemp -d)
trap 'rm -rf "$traces"' EXIT
strace -f -ff -o "$traces/trace" .build/release/hinix bench --only ring --quick >/dev/null
for file in "$traces"/trace.*; do
  peer=$(grep -m1 -o '"bench-peer", "ring-[a-z]*"' "$file" | cut -d'"' -f4 || true)
  [[ -n "$peer" ]] || continue
  last=$(grep -n '^epoll_ctl' "$file" | tail -1 | cut -d: -f1)
  calls=$(tail -n "+$((last + 1))" "$file" | grep -v '^+++' | sed 's/(.*//' | sort | uniq -c | sort -rn |
    awk '{ printf "%s %s, ", $1, $2 }')
  echo "$peer (${file##*.}): ${calls%, }"
done
