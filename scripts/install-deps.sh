#!/usr/bin/env bash
# Installs the Debian 12 packages dormant needs to build, test and demo.
# Idempotent: packages already present are skipped, so `make demo` and
# `make test` can call it every time at almost no cost.
set -euo pipefail

packages=(
  # build
  cmake g++ make pkg-config clang clang-format clang-tidy libclang-rt-14-dev
  ninja-build ccache mold  # a compiler cache that hits across clones, and a faster linker (CI's budget)
  # libraries (see docs/architecture.md for what each is for)
  libnbd-dev libext2fs-dev libguestfs-dev libsqlite3-dev nlohmann-json3-dev zlib1g-dev
  libcli11-dev libfmt-dev libspdlog-dev libvirt-dev libsqlitecpp-dev libxml2-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libssl-dev  # SHA-256 of package databases (core/sha256)
  libcpp-httplib-dev libbrotli-dev zlib1g-dev  # dormant serve (server/): the REST API and the web console
  # runtime tools
  qemu-utils e2fsprogs fdisk gdisk libguestfs-tools libguestfs-xfs
  # patch --finalize boots the staged image under the local libvirt daemon
  # (qemu TCG); qemu-storage-daemon's FUSE export lets e2fsck check and replay
  # the overlay's filesystem without a mount
  qemu-system-x86 qemu-system-common libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients fuse3
  shellcheck  # the guest's offline-update script is checked by the tests
  # test fixtures: real Debian content and layouts
  debootstrap lvm2 xfsprogs btrfs-progs sqlite3 python3 linux-image-amd64 dosfstools strace python3-jsonschema
  libxml2-utils  # xmllint and virt-xml-validate's schema checks in the tests
  util-linux procps lsof  # flock (fixture cache lock), pgrep/ps, lsof in the descriptor checks
  # web console tests: headless Chromium driven by chromedriver through selenium
  chromium chromium-driver python3-selenium
  # benchmarks
  hyperfine time
  # repo/: libapt-pkg for version comparison, fetch and upgrade resolution
  libapt-pkg-dev
  dpkg-dev apt-utils gnupg xz-utils  # test apt repositories: tests/fixtures/make-apt-repo.sh
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
# Another apt or dpkg (unattended-upgrades, a second make) may hold the lock:
# wait for it rather than fail. A mirror caught mid-sync fails an update
# once in a while: retry once before giving up.
apt_opts=(-o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
if ! $SUDO apt-get "${apt_opts[@]}" update -q; then
  echo "install-deps: apt-get update failed, retrying once in 10 s" >&2
  sleep 10
  $SUDO apt-get "${apt_opts[@]}" update -q
fi
DEBIAN_FRONTEND=noninteractive $SUDO apt-get "${apt_opts[@]}" install -y -q --no-install-recommends "${missing[@]}"
