#!/usr/bin/env bash
# A short tour of dormant on real Debian images (run `make build` first, or
# `make demo` which does both):
#
#   1. builds the fixture images if they are not cached yet,
#   2. makes a demo library of six images (copies, plus one qcow2 overlay on
#      a golden image) in $DORMANT_DEMO_DIR (default /tmp/dormant-demo),
#   3. runs dormant against a fresh catalog there, echoing every command.
#
# Nothing outside $DORMANT_DEMO_DIR is written; the fixtures are only read.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-build}
case $build in /*) ;; *) build=$root/$build ;; esac
dormant="$build/src/cli/dormant"
demo=${DORMANT_DEMO_DIR:-/tmp/dormant-demo}
catalog="$demo/catalog.db"

if [ ! -x "$dormant" ]; then
  echo "demo: $dormant is missing: run 'make build' first (or 'make demo')" >&2
  exit 1
fi

echo "demo: fixture images (built once, then cached; the first time takes a few minutes)"
fixtures=$("$root/tests/fixtures/make-images.sh")

rm -rf "$demo"
mkdir -p "$demo/library"
lib="$demo/library"
copy() { cp --sparse=always --reflink=auto "$fixtures/$1" "$lib/$2"; }
copy mbr-ext4.qcow2        web-frontend.qcow2
copy gpt-multifs.qcow2     web-api.qcow2         # /, /var, /usr, /boot on four filesystems
copy mbr-logical-ext4.vmdk db-primary.vmdk       # root in a logical MBR partition
copy gpt-vfat-ext4.vhdx    ci-runner.vhdx        # EFI system partition + root
copy backing-base.qcow2    golden-bookworm.qcow2
# Two images a library should never trust: one whose backing file is the
# host's /etc/passwd, one with a damaged superblock. identify records them as
# errors with the reason, and the scan goes on.
copy hostile/backing-etc-passwd.qcow2 suspicious.qcow2
copy hostile/corrupt-superblock.raw   damaged.raw
# A clone that shares the golden image as its backing file, as libvirt
# templates do; the reference stays inside the library, so it is allowed.
(cd "$lib" && qemu-img create -q -f qcow2 -F qcow2 -b golden-bookworm.qcow2 web-clone.qcow2)
echo "demo: library $lib:"
ls -lh "$lib" | sed 's/^/  /'

step() {
  echo
  echo "\$ dormant --catalog $catalog$(printf " %q" "$@")"
  "$dormant" --catalog "$catalog" "$@"
}

step library add "$lib" --name demo
step identify --jobs 2
step library list
step group create web --match '*web*'
step group show web
step inspect "$lib/web-api.qcow2"

# Assessment against the real Debian archive this machine's apt uses (read
# from its sources, never hard-coded), verified with the Debian archive
# keyring. debootstrap installs from bookworm, not bookworm-security, so the
# images have real pending security updates.
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
if mirror=$("$root/tests/fixtures/debian-mirror.sh") && security=$("$root/tests/fixtures/debian-mirror.sh" --security) &&
   [ -r "$keyring" ]; then
  step source add debian "$mirror" --suite bookworm --keyring "$keyring"
  step source add debian-security "$security" --suite bookworm-security --keyring "$keyring" --security
  step source list
  step assess --all --cache-dir "$demo/cache"
  # Again, for one image, with the package list: nothing is downloaded twice.
  step assess "$lib/web-frontend.qcow2" --cache-dir "$demo/cache" --no-identify

  # Offline patching as a job: two guests with the rootfs's real package
  # database and systemd's offline-update generator
  # (tests/fixtures/make-patch-guest.sh). For each, the real security
  # updates are downloaded and verified, written into an overlay with a
  # systemd offline update, verified, and the image is replaced atomically
  # (the old one kept); two at once, every step recorded before its effect.
  echo
  echo "demo: two patchable guests (real dpkg database, systemd offline-update support)"
  for name in app-server app-worker; do
    "$root/tests/fixtures/make-patch-guest.sh" "$("$root/tests/fixtures/make-rootfs.sh")" \
      "$lib/$name.raw" --size 1536
  done
  step identify
  step patch "$lib/app-server.raw" --mode offline --dry-run --cache-dir "$demo/cache" --no-identify
  step group create apps --match '*app-*'
  step job create apps --group apps --mode offline --max-concurrent 2 --max-errors 0 --timeout-item 30m
  step job run apps --cache-dir "$demo/cache"
  step job show apps
  step job history apps
  step rollback "$lib/app-server.raw" --list
  # The report: a summary table here, and one self-contained HTML file.
  step assess --all --cache-dir "$demo/cache" --offline
  step report
  step report --format html -o "$demo/compliance.html"
  echo "demo: HTML report written to $demo/compliance.html"
else
  echo "demo: no Debian mirror in this machine's apt sources (or no $keyring): assessment skipped" >&2
fi

# Maintenance-host servicing: the bootable bookworm fixture guest (systemd,
# qemu-guest-agent, a kernel) runs briefly on the local libvirtd as its
# maintenance host, with no network device, and updates itself from a
# read-only disk holding exactly the verified plan. Its updates come from a
# signed repository newer than the guest (tests/fixtures/make-update-repo.sh)
# served on 127.0.0.1, with a catalog of its own so that the mirror's
# sources above do not apply to it.
echo
echo "demo: maintenance-host servicing (local libvirtd; takes a minute or two under TCG)"
"$root/scripts/start-libvirt.sh"
svc="$demo/service"
mkdir -p "$svc/lib" "$svc/pool"
cp --sparse=always "$fixtures/ext4-whole-full.raw" "$svc/lib/lab-guest.raw"
"$root/tests/fixtures/make-update-repo.sh" "$("$root/tests/fixtures/make-rootfs.sh")" "$svc/repo" >/dev/null
python3 "$root/tests/support/http_server.py" "$svc/repo" >"$svc/port" 2>/dev/null < <(sleep infinity) &
server=$!
pool="dormant-demo-$$"
virsh -q -c qemu:///system pool-create-as "$pool" dir --target "$svc/pool" >/dev/null
trap 'kill $server 2>/dev/null; virsh -q -c qemu:///system pool-destroy "$pool" >/dev/null 2>&1 || true' EXIT
for _ in $(seq 50); do [ -s "$svc/port" ] && break; sleep 0.1; done
url="http://127.0.0.1:$(head -1 "$svc/port")"
catalog="$svc/catalog.db"
step library add "$svc/lib" --name lab
step source add lab-updates "$url" --suite bookworm --keyring "$svc/repo/keyring.gpg"
step source add lab-security "$url" --suite bookworm-security --keyring "$svc/repo/keyring.gpg" --security
step host add demo-host qemu:///system --group maint --pool "$pool"
step host list
step patch "$svc/lib/lab-guest.raw" --mode service --hosts maint --cache-dir "$svc/cache"
step compliance
catalog="$demo/catalog.db"

echo
echo "demo: done. The catalog is $catalog; try for example:"
echo "  $dormant --catalog $catalog inspect $lib/db-primary.vmdk --json"
echo "  $dormant --catalog $catalog identify        # again: nothing changed, nothing re-read"
echo "  $dormant --catalog $catalog rollback $lib/app-server.raw   # the unpatched version back"
echo "  $dormant --catalog $catalog job show apps --json   # the job's record, per image"
echo "  $dormant --catalog $catalog serve          # REST API + web console on http://127.0.0.1:8080/"
