#!/usr/bin/env bash
# hakoniwa-oci as podman's runtime against runc, in one hyperfine run:
# `podman --runtime R run --rm --network none IMAGE /bin/true`, where IMAGE
# is busybox built offline (the same image as hakoniwa-oci/tests/podman.rs)
# and podman's storage, configuration and state live in a temporary
# directory removed at the end. Target (issue 13): beat runc.
#
# Needs podman, conmon, busybox-static and hyperfine; runc is the peer:
#   apt install podman conmon busybox-static hyperfine runc
# Run as root (podman's rootless mode adds its own user-namespace work,
# the same for every runtime).
#
# usage: scripts/bench-oci.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-50}
source scripts/lib.sh
require "apt install podman conmon runc hyperfine" podman conmon runc hyperfine

cargo build --quiet --release -p hakoniwa-oci
work=$(mktemp -d)
# Root podman keeps a blob cache in /var/lib/containers whatever its
# storage root: removed at the end if this script made it.
system_cache=/var/lib/containers
[ -e "$system_cache" ] && keep_cache=1 || keep_cache=0
trap 'podman rm --all --force >/dev/null 2>&1 || true; rm -rf "$work"; [ "$keep_cache" = 1 ] || rm -rf "$system_cache"' EXIT

# The image: busybox and its applets.
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/tmp"
cp /bin/busybox "$work/rootfs/bin/busybox"
for applet in $("$work/rootfs/bin/busybox" --list); do
  [ -e "$work/rootfs/bin/$applet" ] || ln -s busybox "$work/rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$work/rootfs/etc/passwd"
tar -C "$work/rootfs" -cf "$work/image.tar" .

# Root here may lack CAP_SYS_RESOURCE (podman's default nofile limit then
# fails with any runtime); cgroupfs, as there may be no systemd; podman's
# tmp dir in here rather than /run/libpod. Overlay storage, as podman
# uses by default.
cat >"$work/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$work/tmp"
EOF
cat >"$work/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$work/storage"
runroot = "$work/run"
EOF
export CONTAINERS_CONF=$work/containers.conf CONTAINERS_STORAGE_CONF=$work/storage.conf
image=localhost/hakoniwa-oci-bench:busybox
podman import --quiet "$work/image.tar" "$image" >/dev/null

ours=$PWD/target/release/hakoniwa-oci
runc=$(command -v runc)
run() { echo "podman --runtime $1 run --rm --network none $image /bin/true"; }
# Each once first: a failure stops the benchmark with its message.
$(run "$ours")
$(run "$runc")

json=$work/results.json
hyperfine --shell=none --warmup 5 --runs "$runs" --export-json "$json" \
  -n hakoniwa-oci "$(run "$ours")" -n runc "$(run "$runc")"
python3 - "$json" <<'EOF'
import json, sys
results = {r["command"]: r["median"] for r in json.load(open(sys.argv[1]))["results"]}
ours, runc = results["hakoniwa-oci"], results["runc"]
print(f"\nhakoniwa-oci {ours * 1e3:.0f} ms, runc {runc * 1e3:.0f} ms (medians): "
      f"hakoniwa-oci / runc = {ours / runc:.2f}")
EOF
