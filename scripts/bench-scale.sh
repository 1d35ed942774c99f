#!/usr/bin/env bash
# How start-up grows with the size of the sandbox (issue 11): N read-only
# binds (1, 10, 100) and seccomp profiles of N rules (10, 100, 1000), each
# `hakoniwa run ... -- /bin/true`, medians by hyperfine in one run. Prints
# the medians and the cost of one more bind or rule (least squares).
#
#   scripts/bench-scale.sh [RUNS]        (default 100; needs hyperfine)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-100}
command -v hyperfine >/dev/null || { echo "bench: hyperfine is missing (apt install hyperfine)" >&2; exit 1; }

cargo build --quiet --release -p hakoniwa-cli
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
cp target/release/hakoniwa "$work/"
h="$work/hakoniwa"

declare -a names commands
add() { names+=("$1"); commands+=("$2"); }
for n in 1 10 100; do
  binds=""
  for i in $(seq "$n"); do binds+=" -b /etc:/bind/$i"; done
  add "binds $n" "$h run --seccomp unconfined$binds -- /bin/true"
done
# Profiles that allow everything but N syscalls, each denied only for one
# argument value, so that no rule can be folded away.
names_list=$(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["syscalls"][0]["names"]))' hakoniwa/assets/seccomp/podman.json)
for n in 10 100 1000; do
  python3 - "$n" "$work/rules-$n.json" $names_list <<'PY'
import json, sys
n, path, names = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
rules = [{"names": [names[i % len(names)]], "action": "SCMP_ACT_ERRNO",
          "args": [{"index": 0, "value": 1000 + i, "op": "SCMP_CMP_EQ"}]} for i in range(n)]
json.dump({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}, open(path, "w"))
PY
  add "seccomp rules $n" "$h run --seccomp $work/rules-$n.json -- /bin/true"
done

json="$work/results.json"
hyperfine -N --warmup 10 --runs "$runs" --export-json "$json" "${commands[@]}" >&2
python3 - "$json" "${names[@]}" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
names = sys.argv[2:]
print("| sandbox | median (ms) |")
print("|---|---:|")
points = {}
for name, result in zip(names, results):
    ms = result["median"] * 1000
    print(f"| {name} | {ms:.2f} |")
    kind, n = name.rsplit(" ", 1)
    points.setdefault(kind, []).append((int(n), ms))
print()
for kind, xy in points.items():
    mx = sum(x for x, _ in xy) / len(xy)
    my = sum(y for _, y in xy) / len(xy)
    slope = sum((x - mx) * (y - my) for x, y in xy) / sum((x - mx) ** 2 for x, _ in xy)
    print(f"{kind}: {slope * 1000:.1f} us per one more")
PY
