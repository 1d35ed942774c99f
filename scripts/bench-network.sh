#!/usr/bin/env bash
# What pasta costs at startup, measured in one run on this machine:
# `hakoniwa run --network=pasta -- /bin/true` against `--network=none`
# (a network namespace with only lo), with hyperfine when it is installed
# (apt install hyperfine), else a loop of interleaved runs. Prints the
# medians and their difference. Target (issue 8): pasta's run under half
# of the 50-130 ms the reference tool needs here.
#
# Run as the user you want to measure; as root, pasta keeps root's ids
# (--runas). Rootless pasta needs /dev/net/tun readable and writable.
#
# usage: scripts/bench-network.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

runs=${1:-100}

cargo build --quiet --release -p hakoniwa-cli
hakoniwa=$PWD/target/release/hakoniwa
pasta_run="$hakoniwa run --network=pasta -- /bin/true"
none_run="$hakoniwa run --network=none -- /bin/true"
$pasta_run
$none_run

if command -v hyperfine >/dev/null; then
  json=$(mktemp --suffix=.json)
  trap 'rm -f "$json"' EXIT
  hyperfine --shell=none --warmup 10 --runs "$runs" --export-json "$json" \
    -n pasta "$pasta_run" -n none "$none_run"
  medians=$(python3 -c '
import json, sys
results = json.load(open(sys.argv[1]))["results"]
print(" ".join(str(round(r["median"] * 1e6)) for r in results))' "$json")
  read -r pasta_us none_us <<<"$medians"
else
  samples=$(mktemp -d)
  trap 'rm -rf "$samples"' EXIT
  for _ in $(seq "$runs"); do
    for mode in pasta none; do
      start=$(date +%s%N)
      "$hakoniwa" run --network="$mode" -- /bin/true
      end=$(date +%s%N)
      echo $(((end - start) / 1000)) >>"$samples/$mode"
    done
  done
  pasta_us=$(median <"$samples/pasta")
  none_us=$(median <"$samples/none")
fi

echo
echo "run --network=pasta -- /bin/true  ${pasta_us} us (median of $runs)"
echo "run --network=none  -- /bin/true  ${none_us} us (median of $runs)"
echo "pasta adds                        $((pasta_us - none_us)) us"
