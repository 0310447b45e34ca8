#!/usr/bin/env bash
# Starts the local libvirt daemons that `dormant patch --finalize` needs
# (virtlogd for the qemu logs, libvirtd for qemu:///system) when they are not
# already answering, and waits until qemu:///system does. Idempotent: a second
# run only checks. Works as root without systemd (containers, CI); with
# systemd, the units are started instead of forking the daemons by hand.
#
#   scripts/start-libvirt.sh [--timeout SECONDS]   (default 30)
#
# Prints one line per thing it did; exit 0 when qemu:///system answers, 1
# otherwise (with the daemon's last log lines on stderr).
set -euo pipefail

timeout_s=30
if [ "${1:-}" = "--timeout" ]; then timeout_s=${2:?--timeout needs seconds}; fi
uri=qemu:///system
log() { echo "start-libvirt: $*"; }
die() { echo "start-libvirt: $*" >&2; exit 1; }

for tool in virsh libvirtd virtlogd; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] ||
    die "$tool not found: install libvirt-daemon-system libvirt-clients (scripts/install-deps.sh)"
done
PATH=$PATH:/usr/sbin:/sbin

# A short per-call time-out: a stale socket with no daemon behind it, or a
# daemon still starting, must not hang the check.
answers() { timeout 5 virsh -c "$uri" version >/dev/null 2>&1; }

if answers; then
  log "libvirtd already answers on $uri"
  exit 0
fi
[ "$(id -u)" = 0 ] || die "libvirtd is not answering on $uri and only root can start it"

# pidfile names as the daemons write them (/run/<name>.pid when run as root).
running() { # NAME
  local pidfile=/run/$1.pid
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  # A systemd host: the units own the daemons (and their socket activation).
  systemctl start virtlogd.socket libvirtd.socket libvirtd.service
  log "started virtlogd and libvirtd through systemd"
else
  mkdir -p /run/libvirt /var/log/libvirt/qemu /var/lib/libvirt/qemu /var/cache/libvirt/qemu
  if running virtlogd; then
    log "virtlogd already running (pid $(cat /run/virtlogd.pid))"
  else
    virtlogd -d
    log "started virtlogd -d"
  fi
  if running libvirtd; then
    log "libvirtd already running (pid $(cat /run/libvirtd.pid)), waiting for it to answer"
  else
    # The daemon logs to a file we can show when it does not come up.
    LIBVIRT_LOG_OUTPUTS="3:file:/var/log/libvirt/libvirtd.log" libvirtd -d
    log "started libvirtd -d (log: /var/log/libvirt/libvirtd.log)"
  fi
fi

deadline=$(($(date +%s) + timeout_s))
until answers; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    tail -n 20 /var/log/libvirt/libvirtd.log >&2 2>/dev/null || true
    die "libvirtd did not answer on $uri within ${timeout_s}s"
  fi
  sleep 0.5
done
log "libvirtd answers on $uri ($(virsh -c "$uri" version 2>/dev/null | grep -i 'running hypervisor' | sed 's/.*: *//'))"
