#!/usr/bin/env bash
# Start-up benchmark: hakoniwa against bubblewrap, util-linux unshare and a
# floor program (scripts/floor.c), in one run, on this machine, the
# commands taking turns. Prints markdown tables of medians and ratios;
# BENCHMARKS.md holds the last ones.
#
#   scripts/bench-startup.sh [RUNS]        (default 200; needs hyperfine, bwrap, gcc)
#
# Run as root or as an ordinary user: each measures its own path.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-200}
source scripts/lib.sh
require "apt install hyperfine bubblewrap gcc" hyperfine bwrap gcc

cargo build --release -p hakoniwa-cli >&2
# The same release build linked statically (glibc's static-pie): no
# dynamic loading at start. Needs --target, or the flag would reach the
# proc-macro crates too.
host=$(rustc -vV | sed -n 's/^host: //p')
RUSTFLAGS="-C target-feature=+crt-static" CARGO_TARGET_DIR=target/static \
  cargo build --release -p hakoniwa-cli --target "$host" >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
cp target/release/hakoniwa "$work/"
cp "target/static/$host/release/hakoniwa" "$work/hakoniwa-static"
gcc -O2 -o "$work/floor" scripts/floor.c
h="$work/hakoniwa"
hs="$work/hakoniwa-static"

# Equivalent command lines: the same namespaces and the same view.
bwrap_default="bwrap --unshare-user --unshare-pid --ro-bind /usr /usr --ro-bind /etc /etc --symlink usr/bin /bin --symlink usr/lib /lib --symlink usr/lib64 /lib64 --symlink usr/sbin /sbin --proc /proc /bin/true"
bwrap_all="bwrap --unshare-all --ro-bind /usr /usr --ro-bind /etc /etc --symlink usr/bin /bin --symlink usr/lib /lib --symlink usr/lib64 /lib64 --symlink usr/sbin /sbin --proc /proc --dev /dev --tmpfs /tmp /bin/true"

declare -a names commands
add() { names+=("$1"); commands+=("$2"); }
add "/bin/true alone" "/bin/true"
add "floor (scripts/floor.c)" "$work/floor /bin/true"
add "unshare --user --map-root-user --mount --pid --fork" "unshare --user --map-root-user --mount --pid --fork /bin/true"
add "bwrap, default view, no seccomp" "$bwrap_default"
add "hakoniwa run (default seccomp)" "$h run -- /bin/true"
add "hakoniwa run --seccomp unconfined" "$h run --seccomp unconfined -- /bin/true"
add "hakoniwa run --seccomp podman" "$h run --seccomp podman -- /bin/true"
# audit logs every syscall (SECCOMP_RET_LOG): the kernel rate-limits what
# reaches its log.
add "hakoniwa run --seccomp audit" "$h run --seccomp audit -- /bin/true"
add "bwrap --unshare-all --dev /dev --tmpfs /tmp" "$bwrap_all"
add "hakoniwa run --unshare-all --devfs /dev --tmpfs /tmp" "$h run --unshare-all --devfs /dev --tmpfs /tmp -- /bin/true"
add "hakoniwa run --report (metrics)" "$h run --report /dev/null -- /bin/true"
add "hakoniwa run, static build (default seccomp)" "$hs run -- /bin/true"
add "hakoniwa run --unshare-all --devfs /dev --tmpfs /tmp, static build" "$hs run --unshare-all --devfs /dev --tmpfs /tmp -- /bin/true"

# Ten rounds of runs/10 runs of every command, so that a drift of the
# machine's speed during the benchmark reaches every command alike.
rounds=10
for round in $(seq "$rounds"); do
  hyperfine -N --warmup 3 --runs "$(( runs / rounds ))" --export-json "$work/round-$round.json" \
    "${commands[@]}" >/dev/null
done

# The median time of command INDEX over all rounds, in ms.
round_median() { python3 - "$1" "$work"/round-*.json <<'PY'
import json, statistics, sys
index = int(sys.argv[1])
times = [t for path in sys.argv[2:] for t in json.load(open(path))["results"][index]["times"]]
print(statistics.median(times) * 1000)
PY
}
bwrap_ms=$(round_median 3)
floor_ms=$(round_median 1)
echo "| command | median (ms) | × bwrap | × floor |"
echo "|---|---:|---:|---:|"
for i in "${!names[@]}"; do
  ms=$(round_median "$i")
  printf '| %s | %.2f | %.2f | %.2f |\n' "${names[$i]}" "$ms" \
    "$(python3 -c "print($ms/$bwrap_ms)")" "$(python3 -c "print($ms/$floor_ms)")"
done

# Throughput: 2 workers back to back, sandboxes per second.
per_worker=$(( runs / 2 ))
rate() {
  local start end
  start=$(date +%s.%N)
  for _ in 1 2; do ( for _ in $(seq "$per_worker"); do "$@" >/dev/null; done ) & done
  wait
  end=$(date +%s.%N)
  python3 -c "print(round(2*$per_worker/($end-$start)))"
}
echo
echo "| throughput, 2 workers | sandboxes/s |"
echo "|---|---:|"
echo "| bwrap | $(rate $bwrap_default) |"
echo "| hakoniwa run | $(rate "$h" run -- /bin/true) |"
echo "| hakoniwa run, static build | $(rate "$hs" run -- /bin/true) |"

# Peak RSS of the launcher itself (GNU time, in KiB), the median of 9
# runs: which pages around a touched one the kernel maps in varies a
# little from run to run.
peak() {
  for _ in 1 2 3 4 5 6 7 8 9; do /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; done | median
}
echo
echo "| launcher peak RSS, median of 9 | KiB |"
echo "|---|---:|"
echo "| bwrap | $(peak $bwrap_default) |"
echo "| hakoniwa run | $(peak "$h" run -- /bin/true) |"
echo "| hakoniwa run, static build | $(peak "$hs" run -- /bin/true) |"

# Most of that is the binary's own pages, shared by every instance through
# the page cache; what each running launcher costs on its own is its
# anonymous memory, read while its program sleeps.
anon() { # COMMAND... (ending in a program that sleeps 1 s)
  "$@" &
  local pid=$!
  sleep 0.5
  awk '/^Anonymous:/ { print $2 }' "/proc/$pid/smaps_rollup"
  wait "$pid"
}
bwrap_sleep=${bwrap_default%/bin/true}
echo
echo "| launcher anonymous memory, while the program runs | KiB |"
echo "|---|---:|"
echo "| bwrap | $(anon $bwrap_sleep /bin/sleep 1) |"
echo "| hakoniwa run | $(anon "$h" run -- /bin/sleep 1) |"
echo "| hakoniwa run, static build | $(anon "$hs" run -- /bin/sleep 1) |"
