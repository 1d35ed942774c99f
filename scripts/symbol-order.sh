#!/usr/bin/env bash
# Writes hakoniwa-cli/symbol-order.txt: the functions of the `hakoniwa`
# binary that `run -- /bin/true` executes, launcher and sandbox child
# before its exec. hakoniwa-cli/build.rs has the linker place them
# together, so a run touches a few 64 KiB windows of code instead of most
# of the binary (BENCHMARKS.md, "Launcher memory and page faults").
#
#   scripts/symbol-order.sh [RUNS]     (default 400; needs perf and valgrind, as root)
#
# It builds the default release binary and the static one (in
# target/static, as scripts/bench-startup.sh does).
#
# Run it again when BENCHMARKS.md's peak RSS has grown back: names change
# with a crate's version or a new Rust release, and a name the build no
# longer has only loses its benefit. Three sources, as no one sees it all:
#  1. callgrind: every function the launcher runs until its clone, which
#     fails under valgrind (no clone3);
#  2. perf sampling at the highest rate, over RUNS runs: the rest of the
#     launcher's path and the child's;
#  3. page faults of the binary ordered by 1 and 2: a fault on code
#     outside the ordered functions names one they missed; repeated until
#     none is left.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-400}
source scripts/lib.sh
require "apt install linux-perf valgrind python3" perf valgrind python3
list=hakoniwa-cli/symbol-order.txt
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"

# The release builds as users get them (their symbol tables are kept: a
# change of profile would change the names), copied out of target/: the
# default one, then the static one of the README, whose names for our
# crates differ. The list holds both; each build skips the other's names.
host=$(rustc -vV | sed -n 's/^host: //p')
build() {
  if [ "$mode" = static ]; then
    RUSTFLAGS="-C target-feature=+crt-static" CARGO_TARGET_DIR=target/static \
      cargo build --release -p hakoniwa-cli --target "$host" >&2
    cp "target/static/$host/release/hakoniwa" "$work/hakoniwa"
  else
    cargo build --release -p hakoniwa-cli >&2
    cp target/release/hakoniwa "$work/hakoniwa"
  fi
}
runs_of() { # COMMAND, run $1 times
  local n=$1; shift
  for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 || true; done
}
export -f runs_of

: > "$work/found"
for mode in dynamic static; do
build
valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/callgrind.out" \
  "$work/hakoniwa" run -- /bin/true >/dev/null 2>&1 || true
python3 - "$work/callgrind.out" "$work/hakoniwa" >> "$work/found" <<'PY'
# The functions of the binary that ran, from callgrind's compressed names.
import re, sys
names, objects, functions, current = set(), {}, {}, None
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"^(c?)(ob|fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
    if not m:
        continue
    called, kind, ident, name = m.groups()
    table = objects if kind == "ob" else functions
    if name is not None:
        table[ident] = name
    if called:
        continue
    if kind == "ob":
        current = objects[ident]
    elif current == sys.argv[2]:
        names.add(re.sub(r"'\d+$", "", functions[ident]))
print("\n".join(n for n in names if not n.startswith("0x") and n != "(below main)"))
PY

perf record -q -F max -e cpu-clock -o "$work/perf.data" -- \
  bash -c "runs_of $runs '$work/hakoniwa' run -- /bin/true" >/dev/null 2>&1
perf report -i "$work/perf.data" --no-demangle --dsos hakoniwa --sort sym --stdio 2>/dev/null |
  sed -n 's/.*\[\.\] \(.*[^ ]\) *$/\1/p' >> "$work/found"

# Writes the list only when it changed: cargo relinks when the file does.
save() {
  sort -u "$work/found" > "$work/list"
  cmp -s "$work/list" "$list" || cp "$work/list" "$list"
}
for round in 1 2 3 4; do
  save
  build
  perf record -q -e page-faults -c 1 -d -o "$work/faults.data" -- \
    bash -c "runs_of 20 '$work/hakoniwa' run -- /bin/true" >/dev/null 2>&1
  # A fault whose address is its instruction pointer is a fetch of code.
  perf script -i "$work/faults.data" -F ip,sym,addr,dso --no-demangle 2>/dev/null |
    awk -v bin="($work/hakoniwa)" '$1 == $4 && $3 == bin && $2 !~ /^(_start|_init|\[unknown\])$/ { print $2 }' |
    sort -u > "$work/missed"
  new=$(comm -13 "$list" "$work/missed" | tee -a "$work/found" | wc -l)
  echo "symbol-order: $mode build, round $round: $(wc -l < "$list") functions, $new missed" >&2
  [ "$new" = 0 ] && break
done
done
save
mode=dynamic build
