#!/usr/bin/env bash
# What the seccomp filter costs, measured in one run on this machine:
#
#   1. startup: `hakoniwa run -- /bin/true` under `default` and under
#      `unconfined`, interleaved so that both see the same machine state;
#   2. syscall cost: getppid() and personality(0xffffffff) loops inside the
#      sandbox under no filter (`unconfined`), a one-instruction allow-all
#      filter (the floor any filter pays: the kernel's seccomp entry path),
#      `podman` and `default`; and, when libseccomp-dev is installed, the
#      same loops in scripts/seccomp-loop.c under the podman profile as
#      libseccomp builds it (rules from scripts/seccomp-rules.py), against
#      the same program with no filter.
#
# Prints the medians and the ratios against the unfiltered runs. Targets
# (issue 6): startup <= 1.1x, an allowed getppid() <= 1.15x.
#
# usage: scripts/bench-seccomp.sh [RUNS] [CALLS]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

runs=${1:-200}
calls=${2:-5000000}

cargo build --quiet --release -p hakoniwa-cli
cargo rustc --quiet --release -p hakoniwa-probe --bin hakoniwa-probe -- -C target-feature=+crt-static
bin=$PWD/target/release
hakoniwa=$bin/hakoniwa
allow_all=$(mktemp --suffix=.json)
trap 'rm -f "$allow_all"' EXIT
echo '{"defaultAction": "SCMP_ACT_ALLOW"}' >"$allow_all"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

echo "== startup: run -- /bin/true, $runs runs each, interleaved"
for profile in default unconfined; do "$hakoniwa" run --seccomp "$profile" -- /bin/true; done
: >/tmp/bench-seccomp.default
: >/tmp/bench-seccomp.unconfined
for _ in $(seq "$runs"); do
  for profile in default unconfined; do
    start=$(date +%s%N)
    "$hakoniwa" run --seccomp "$profile" -- /bin/true
    end=$(date +%s%N)
    echo $(((end - start) / 1000)) >>"/tmp/bench-seccomp.$profile"
  done
done
default_us=$(median </tmp/bench-seccomp.default)
unconfined_us=$(median </tmp/bench-seccomp.unconfined)
rm -f /tmp/bench-seccomp.default /tmp/bench-seccomp.unconfined
echo "default     ${default_us} us (median)"
echo "unconfined  ${unconfined_us} us (median)"
echo "ratio       $(ratio "$default_us" "$unconfined_us")  (target <= 1.1)"

echo
echo "== syscalls in the sandbox: $calls calls, median of 5 runs, ns per call"
loop() { # PROFILE SYSCALL
  for _ in 1 2 3 4 5; do
    "$hakoniwa" run --seccomp "$1" -b "$bin:/probe" -- /probe/hakoniwa-probe syscall-loop "$2" "$calls" |
      sed 's/.*"ns_per_call":\([0-9.]*\).*/\1/'
  done | median
}
for syscall in getppid personality; do
  none=$(loop unconfined "$syscall")
  printf '%-12s none %6.1f' "$syscall" "$none"
  for profile in allow-all podman default; do
    ns=$(loop "$([ "$profile" = allow-all ] && echo "$allow_all" || echo "$profile")" "$syscall")
    printf '  %s %6.1f (%sx)' "$profile" "$ns" "$(ratio "$ns" "$none")"
  done
  echo
done
echo "(target for getppid under default: <= 1.15x)"

if [ ! -e /usr/include/seccomp.h ]; then
  echo "libseccomp: skipped, /usr/include/seccomp.h is missing (apt install libseccomp-dev)"
  exit 0
fi
loop_dir=$(mktemp -d)
trap 'rm -f "$allow_all"; rm -rf "$loop_dir"' EXIT
chmod 755 "$loop_dir"
python3 scripts/seccomp-rules.py hakoniwa/assets/seccomp/podman.json >"$loop_dir/seccomp-rules.h"
gcc -O2 -I"$loop_dir" -o "$loop_dir/seccomp-loop" scripts/seccomp-loop.c -lseccomp
c_loop() { # MODE SYSCALL
  for _ in 1 2 3 4 5; do
    "$hakoniwa" run --seccomp unconfined -b "$loop_dir:/loop" -- /loop/seccomp-loop "$1" "$2" "$calls"
  done | median
}
for syscall in getppid personality; do
  none=$(c_loop none "$syscall")
  ns=$(c_loop libseccomp "$syscall")
  printf '%-12s none %6.1f  libseccomp podman %6.1f (%sx)\n' "$syscall" "$none" "$ns" "$(ratio "$ns" "$none")"
done
