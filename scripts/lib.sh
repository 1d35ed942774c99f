# Shell functions the benchmark scripts share; sourced, not run.

# The median of the numbers on standard input, one a line.
median() {
  sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Stops with one line naming the first of TOOLS that is missing and how to
# get it: require "apt install PACKAGES" TOOL...
require() {
  local how=$1 tool
  shift
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$(basename "$0"): $tool is missing ($how)" >&2; exit 1; }
  done
}
