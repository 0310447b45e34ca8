#include "guest_update.hpp"

#include <fmt/format.h>

#include <charconv>

namespace dormant::patch::guest {

std::string run_dir(std::string_view run_id) { return fmt::format("{}/{}", kBase, run_id); }

// No [Install] section: it is pulled in only through system-update.target's
// .wants link, i.e. only on a boot that systemd-system-update-generator
// redirected because /system-update exists. Ordering as the man page
// recommends for update services.
std::string unit_text() {
  return fmt::format(R"UNIT([Unit]
Description=dormant offline update (install the packages staged by dormant patch)
Documentation=man:systemd.offline-updates(7)
DefaultDependencies=no
Requires=sysinit.target
After=sysinit.target system-update-pre.target systemd-journald.socket
Before=shutdown.target system-update.target
ConditionPathIsSymbolicLink={}

[Service]
Type=oneshot
ExecStart={}
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=infinity
FailureAction=reboot
)UNIT",
                     kSystemUpdate, kLauncher);
}

// /system-update may belong to another offline updater (PackageKit): only a
// link into dormant's own directory is acted on.
std::string launcher_text() {
  return fmt::format(R"SH(#!/bin/sh
# dormant offline update launcher, version 1. Started by
# dormant-offline-update.service on a boot redirected to system-update.target.
base={}
target=$(readlink /system-update) || exit 0
case "$target" in
  "$base"/*/*|"$base"/..*|"$base"/.*) echo "dormant: /system-update -> $target is not a dormant run"; exit 0 ;;
  "$base"/?*) ;;
  *) echo "dormant: /system-update -> $target is not a dormant run"; exit 0 ;;
esac
if [ ! -f "$target/apply" ]; then
  echo "dormant: $target/apply is missing; removing /system-update"
  rm -f /system-update
  exit 1
fi
exec /bin/sh "$target/apply" "$target"
)SH",
                     kBase);
}

std::string apply_script(std::string_view run_id) {
  return fmt::format(R"SH(#!/bin/sh
# dormant offline update for patch run {run}: installs the staged packages
# with this guest's own apt-get, once, before the network and services start.
set -u
dir=$1
result="$dir/result"
log="$dir/log"
now() {{ date -u +%Y-%m-%dT%H:%M:%SZ; }}
# One attempt only (systemd.offline-updates(7)): whatever happens next, the
# following boot is a normal one.
rm -f /system-update
sync
{{
  echo "run={run}"
  echo "started=$(now)"
}} > "$result.new"
finish() {{
  echo "status=$1" >> "$result.new"
  echo "finished=$(now)" >> "$result.new"
  if [ -s "$dir/packages" ]; then
    # shellcheck disable=SC2046  # one package name per word, on purpose
    dpkg-query -W -f='installed ${{Package}}:${{Architecture}} ${{Version}} ${{db:Status-Abbrev}}\n' \
      $(cat "$dir/packages") >> "$result.new" 2>> "$log"
  fi
  mv "$result.new" "$result"
  sync
  echo "dormant: offline update {run}: $1; rebooting"
  systemctl reboot --no-block
  exit 0
}}
cd "$dir/debs" 2>> "$log" || finish failed-missing
if ! sha256sum --quiet --strict -c ../SHA256SUMS >> "$log" 2>&1; then
  finish failed-hash
fi
echo "dormant: offline update {run}: installing $(ls "$dir/debs" | wc -l) packages"
# The guest's own sources are blanked: only the staged files can be
# installed (the network is not up anyway). apt's download step still runs:
# it is what fills in a local .deb's full path (docs/design/patch.md, pitfall 11).
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2046  # one "pkg-" removal per word, on purpose
if apt-get install -y -q \
    -o Dir::Etc::sourcelist="$dir/sources.list" -o Dir::Etc::sourceparts="$dir/sources.list.d" \
    -o APT::Install-Recommends=false \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "$dir"/debs/*.deb $(cat "$dir/remove") >> "$log" 2>&1; then
  echo "apt_exit=0" >> "$result.new"
  # apt-get install marks what it installs as manual: restore apt's flags.
  if [ -s "$dir/auto" ]; then
    # shellcheck disable=SC2046  # one package name per word, on purpose
    apt-mark auto $(cat "$dir/auto") >> "$log" 2>&1
  fi
  rm -rf "$dir/debs"
  finish success
else
  echo "apt_exit=$?" >> "$result.new"
  dpkg --configure -a >> "$log" 2>&1
  finish failed-apt
fi
)SH",
                     fmt::arg("run", run_id));
}

std::vector<std::string> generator_paths() {
  return {"/usr/lib/systemd/system-generators/systemd-system-update-generator",
          "/lib/systemd/system-generators/systemd-system-update-generator"};
}

Result parse_result(std::string_view text) {
  Result result;
  constexpr std::size_t kMaxLines = 100000;
  std::size_t lines = 0;
  while (!text.empty() && lines++ < kMaxLines) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.starts_with("installed ")) {
      // "installed NAME:ARCH VERSION STATUS" (STATUS may have spaces: "ii ")
      line.remove_prefix(10);
      const auto sp1 = line.find(' ');
      if (sp1 == std::string_view::npos) continue;
      const auto sp2 = line.find(' ', sp1 + 1);
      std::string version(
          line.substr(sp1 + 1, sp2 == std::string_view::npos ? std::string_view::npos : sp2 - sp1 - 1));
      std::string status(sp2 == std::string_view::npos ? std::string_view() : line.substr(sp2 + 1));
      result.installed[std::string(line.substr(0, sp1))] = {std::move(version), std::move(status)};
      continue;
    }
    const auto eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    const auto key = line.substr(0, eq);
    const auto value = std::string(line.substr(eq + 1));
    if (key == "run") result.run = value;
    if (key == "status") result.status = value;
    if (key == "started") result.started = value;
    if (key == "finished") result.finished = value;
    if (key == "apt_exit") {
      int code = 0;
      auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), code);
      if (ec == std::errc() && ptr == value.data() + value.size()) result.apt_exit = code;
    }
  }
  return result;
}

}  // namespace dormant::patch::guest
