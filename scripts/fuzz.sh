#!/usr/bin/env bash
# Fuzz the parsers with libFuzzer (cargo-fuzz): the profile loader, the
# seccomp JSON loader and compiler, and `hakoniwa run`'s command line.
# Each target runs for SECONDS (default 60), in a hakoniwa sandbox: profile
# templates can create files (fs_mkdir, fs_touch), and nothing a fuzz input
# does should reach this machine.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (targets: profile seccomp cli_args)
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a nightly compiler: the
# nightly toolchain if rustup has one, else RUSTC_BOOTSTRAP=1 on stable.
# The corpus grows in fuzz/corpus/TARGET, seeded from the repo's profiles,
# docs and seccomp profiles; a crash, hang or OOM lands in
# fuzz/artifacts/TARGET/ and the script exits 1 (replay one with
# `fuzz/target/x86_64-unknown-linux-gnu/release/TARGET FILE`).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(profile seccomp cli_args)

command -v cargo-fuzz >/dev/null || { echo "fuzz: cargo-fuzz is missing (cargo install cargo-fuzz)" >&2; exit 1; }
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  nightly=(cargo +nightly)
else
  nightly=(env RUSTC_BOOTSTRAP=1 cargo)
fi

# -a: debug assertions, so that an integer overflow is a crash too.
"${nightly[@]}" fuzz build -O -a >&2
cargo build --release -p hakoniwa-cli >&2
hakoniwa=$repo/target/release/hakoniwa
bin_dir=$repo/fuzz/target/x86_64-unknown-linux-gnu/release
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# seed TARGET NAME FILE: copies FILE into TARGET's corpus.
seed() { mkdir -p "fuzz/corpus/$1"; cp "$3" "fuzz/corpus/$1/seed-$2"; }

# The fenced blocks of LANG in the markdown files given, one file each.
blocks() {
  local lang=$1; shift
  awk -v lang="$lang" -v out="$work/block" '
    $0 == "```" lang { n++; inside = 1; next }
    inside && /^```/ { inside = 0; close(out "-" lang "-" n); next }
    inside { print > (out "-" lang "-" n) }' "$@"
}

# The raw strings (r#"..."#) that tests in the Rust files given hold, those
# that start like TARGET's inputs, into TARGET's corpus.
raw_strings() {
  local target=$1 start=$2; shift 2
  perl -0777 -ne 'while (/r#"(.*?)"#/sg) { print $1, "\0" }' "$@" |
    while IFS= read -r -d '' text; do
      case $text in "$start"*) ;; *) continue ;; esac
      printf '%s' "$text" > "$work/raw"
      seed "$target" "test-$(sha1sum < "$work/raw" | cut -c1-12)" "$work/raw"
    done
}

seed_profile() {
  local file
  for file in docs/profiles/*.toml docs/profiles/abstractions/*.toml; do
    seed profile "$(basename "$file")" "$file"
  done
  blocks toml README.md docs/*.md
  for file in "$work"/block-toml-*; do
    [ -e "$file" ] && seed profile "doc-$(basename "$file")" "$file"
  done
  raw_strings profile "" hakoniwa-cli/tests/profile.rs hakoniwa-cli/src/profile/tests.rs
}

seed_seccomp() {
  local file
  seed seccomp podman.json hakoniwa/assets/seccomp/podman.json
  raw_strings seccomp "{" hakoniwa/src/seccomp/*.rs hakoniwa-cli/tests/seccomp.rs hakoniwa-cli/src/robustness.rs
}

# Every `hakoniwa run` line of the docs, one argument per line.
seed_cli_args() {
  local n=0 line
  grep -ho 'hakoniwa run [^`|]*' README.md docs/*.md | sed 's/^hakoniwa run //' |
    while read -r line; do
      n=$((n + 1))
      printf '%s' "$line" | tr -s ' ' '\n' > "$work/args-$n"
      seed cli_args "doc-$n" "$work/args-$n"
    done
  cp fuzz/dicts/cli_args.dict "$work/cli_args.dict"
  "$hakoniwa" run --help | grep -o -- '--[a-z][a-z-]*' | sort -u | sed 's/.*/"&"/' >> "$work/cli_args.dict"
}

failed=()
for target in "${targets[@]}"; do
  "seed_$target"
  dict=fuzz/dicts/$target.dict
  [ -f "$work/$target.dict" ] && dict=$work/$target.dict
  corpus=$repo/fuzz/corpus/$target
  artifacts=$repo/fuzz/artifacts/$target
  mkdir -p "$corpus" "$artifacts"
  echo "fuzz: $target for ${seconds}s" >&2
  # The sandbox: the target's binary, the profiles it copies, the
  # dictionary read-only; the corpus and the artifacts writable; a private
  # /tmp as its working directory.
  if ! "$hakoniwa" run --devfs /dev --tmpfs /tmp -w :/tmp \
      -b "$bin_dir/$target" -b "$repo/docs/profiles" -b "$(realpath "$dict")" \
      -B "$corpus" -B "$artifacts" \
      -- "$bin_dir/$target" -artifact_prefix="$artifacts/" -dict="$(realpath "$dict")" \
         -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
         -print_final_stats=1 "$corpus"; then
    failed+=("$target")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: found a crash, hang or OOM in: ${failed[*]} (see fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz: no crash in ${targets[*]} (${seconds}s each)" >&2
