#!/usr/bin/env bash
# Patching benchmark: time to stage and to finalize N updates with
# `dormant patch --mode offline [--finalize]`, and to service the image on a
# maintenance host (`--mode service`, the local libvirtd, per phase and the
# share spent waiting on the guest), next to `virt-customize --update`
# (LIBGUESTFS_BACKEND=direct, TCG) on the same image and the same
# repository, measured in the same run:
#
#   bench/patch.sh [--skip-virt-customize]     (BUILD=build dir, default build/)
#
# Image: the fixture ext4-whole-full.raw (the debootstrap'd bookworm guest with
# systemd, dbus, qemu-guest-agent and a kernel). Repository:
# tests/fixtures/make-update-repo.sh (real .debs repacked from the guest's own
# files with newer versions, signed), served on 127.0.0.1. Each run works on
# a fresh copy of the image.
#
# virt-customize cannot reach the host's 127.0.0.1 from its appliance, so the
# same repository is copied into the guest and used as a file:// source
# (docs/design/patch.md section 6); it runs apt-get upgrade (not
# dist-upgrade), so it installs the upgrades but not the new package.
#
# Output: a summary on stdout and bench/out/patch.json.
set -euo pipefail
export LC_ALL=C
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
dormant="$build/src/cli/dormant"
out="$top/bench/out"
with_vc=1
[ "${1:-}" = "--skip-virt-customize" ] && with_vc=0
umask 022
mkdir -p "$out"
work=$(mktemp -d /var/tmp/dormant-bench-patch.XXXXXX)
chmod 755 "$work"
server_pid=
pool=dormant-bench-$$
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
  virsh -c qemu:///system pool-destroy "$pool" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

fixtures=$("$top/tests/fixtures/make-images.sh")
rootfs=$("$top/tests/fixtures/make-rootfs.sh")
repo="$work/repo"
"$top/tests/fixtures/make-update-repo.sh" "$rootfs" "$repo" >/dev/null
"$top/scripts/start-libvirt.sh" >/dev/null
now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 2))" "$1" "$2"; }

python3 "$top/tests/support/http_server.py" "$repo" > "$work/port" 2>/dev/null < <(sleep infinity) &
server_pid=$!
for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
url="http://127.0.0.1:$(head -1 "$work/port")"

run_dormant() {  # run_dormant NAME [patch options]: a fresh library + catalog, one patch run
  local name=$1; shift
  local lib="$work/$name/lib" catalog="$work/$name/catalog.db"
  mkdir -p "$lib"
  cp --sparse=always "$fixtures/ext4-whole-full.raw" "$lib/guest.raw"
  "$dormant" --catalog "$catalog" library add "$lib" --name lib >/dev/null
  "$dormant" --catalog "$catalog" source add debian "$url" --suite bookworm --keyring "$repo/keyring.gpg" >/dev/null
  "$dormant" --catalog "$catalog" source add debian-security "$url" --suite bookworm-security --security \
    --keyring "$repo/keyring.gpg" >/dev/null
  "$dormant" --catalog "$catalog" identify >/dev/null
  local mode=offline
  if [ "$name" = service ]; then
    mode=service
    "$dormant" --catalog "$catalog" host add local qemu:///system --group bench --pool "$pool" >/dev/null
    set -- --hosts bench "$@"
  fi
  local t0 t1
  t0=$(now)
  "$dormant" --catalog "$catalog" patch "$lib/guest.raw" --mode "$mode" --json --no-identify \
    --cache-dir "$work/$name/cache" "$@" > "$work/$name.json"
  t1=$(now)
  elapsed "$t0" "$t1"
}

echo "bench/patch: dormant patch (stage + verify + commit)"
stage_total=$(run_dormant stage)
echo "bench/patch: dormant patch --finalize"
finalize_total=$(run_dormant finalize --finalize)
echo "bench/patch: dormant patch --mode service (local libvirtd as the maintenance host)"
mkdir -p "$work/pool"
virsh -c qemu:///system pool-create-as "$pool" dir --target "$work/pool" >/dev/null
service_total=$(run_dormant service)

vc_total=null vc_changed=null
if [ "$with_vc" = 1 ]; then
  echo "bench/patch: virt-customize --update (same image, same repository as file://)"
  mkdir -p "$work/vc"
  qemu-img create -q -f qcow2 -F raw -b "$fixtures/ext4-whole-full.raw" "$work/vc/guest.qcow2"
  flat="$work/vc/repo"; mkdir -p "$flat"
  find "$repo/pool" -name '*.deb' -exec cp {} "$flat/" \;
  (cd "$flat" && apt-ftparchive packages . > Packages && apt-ftparchive release . > Release)
  t0=$(now)
  LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg virt-customize --format qcow2 \
    -a "$work/vc/guest.qcow2" --no-network --copy-in "$flat:/var/tmp" \
    --run-command 'mv /etc/apt/sources.list /etc/apt/sources.list.vc-off; echo "deb [trusted=yes] file:/var/tmp/repo ./" > /etc/apt/sources.list.d/vc.list' \
    --update \
    --run-command 'rm -rf /var/tmp/repo /etc/apt/sources.list.d/vc.list; mv /etc/apt/sources.list.vc-off /etc/apt/sources.list' \
    > "$work/vc.log" 2>&1
  t1=$(now)
  vc_total=$(elapsed "$t0" "$t1")
  # What it did, read from the result's own dpkg database: packages now at a
  # +dormant1 version (the repository's upgrades; the new package has no such version).
  qemu-img convert -q -f qcow2 -O raw "$work/vc/guest.qcow2" "$work/vc/flat.raw"
  debugfs -R "dump /var/lib/dpkg/status $work/vc/status" "$work/vc/flat.raw" 2>/dev/null
  vc_changed=$(grep -c '^Version: .*+dormant1$' "$work/vc/status" || true)
  rm -f "$work/vc/flat.raw"
fi

python3 - "$work/stage.json" "$work/finalize.json" "$stage_total" "$finalize_total" "$vc_total" "$vc_changed" \
  "$out/patch.json" "$work/service.json" "$service_total" <<'EOF'
import json, sys
stage, fin = (json.load(open(p))["images"][0] for p in sys.argv[1:3])
stage_total, fin_total = float(sys.argv[3]), float(sys.argv[4])
vc_total = None if sys.argv[5] == "null" else float(sys.argv[5])
vc_changed = None if sys.argv[6] == "null" else int(sys.argv[6])
service, service_total = json.load(open(sys.argv[8]))["images"][0], float(sys.argv[9])
for p in (stage, fin, service):
    assert p["state"] == "committed", p
result = {
    "updates": len(stage["install"]) + len(stage["remove"]),
    "stage": {"total_s": stage_total, "steps_s": stage["seconds"]},
    "finalize": {"total_s": fin_total, "steps_s": fin["seconds"], "applied": fin["applied"],
                 "compliance_after": fin["compliance_after"]},
    "service": {"total_s": service_total, "steps_s": service["seconds"], "applied": service["applied"],
                "compliance_after": service["compliance_after"],
                "guest_wait_share": service["service"]["guest_wait_share"]},
    "virt_customize_update": {"total_s": vc_total, "packages_upgraded": vc_changed},
}
result["ratio_service_vs_finalize"] = round(service_total / fin_total, 3)
if vc_total:
    result["ratio_stage_vs_virt_customize"] = round(stage_total / vc_total, 3)
    result["ratio_finalize_vs_virt_customize"] = round(fin_total / vc_total, 3)
    result["ratio_service_vs_virt_customize"] = round(service_total / vc_total, 3)
json.dump(result, open(sys.argv[7], "w"), indent=2)
print(json.dumps(result, indent=2))
EOF
