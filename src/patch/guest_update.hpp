// What dormant writes into a guest for an offline update, and how it reads
// the outcome back (systemd.offline-updates(7); docs/design/patch.md §3).
//
//   /var/lib/dormant/offline-update/run-v1           launcher (fixed; written once)
//   /var/lib/dormant/offline-update/<run>/           one per patch run:
//       debs/*.deb  SHA256SUMS  packages  auto  remove  plan.json
//       sources.list  sources.list.d/  apply
//   /etc/systemd/system/dormant-offline-update.service        (fixed; written once)
//   /etc/systemd/system/system-update.target.wants/dormant-offline-update.service ->
//   ../dormant-offline-update.service /system-update -> /var/lib/dormant/offline-update/<run>   (written
//   last)
//
// The fixed files are shared by every run, so a second patch of an image
// whose first update was applied finds them in place (same content) and only
// adds its own run directory. The per-run `apply` script removes
// /system-update first (one attempt only), checks the hashes, installs with
// the guest's own apt-get (which orders unpacking and configuration for the
// whole set), restores apt's auto flags, writes `result` and reboots.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dormant::patch::guest {

inline constexpr std::string_view kBase = "/var/lib/dormant/offline-update";
inline constexpr std::string_view kLauncher = "/var/lib/dormant/offline-update/run-v1";
inline constexpr std::string_view kUnitPath = "/etc/systemd/system/dormant-offline-update.service";
inline constexpr std::string_view kWantsDir = "/etc/systemd/system/system-update.target.wants";
inline constexpr std::string_view kWantsLink =
    "/etc/systemd/system/system-update.target.wants/dormant-offline-update.service";
inline constexpr std::string_view kWantsTarget = "../dormant-offline-update.service";
inline constexpr std::string_view kSystemUpdate = "/system-update";

std::string run_dir(std::string_view run_id);  // kBase + "/" + run_id

std::string unit_text();
std::string launcher_text();
std::string apply_script(std::string_view run_id);

// Where the guest's systemd would look for its offline-update generator; a
// guest without one of these cannot run a staged update.
std::vector<std::string> generator_paths();

// The `result` file the apply script writes (key=value lines and
// "installed NAME:ARCH VERSION STATUS" lines). Hostile input: parsed with a
// cap, unknown lines ignored.
struct Result {
  std::string run;
  std::string status;  // success, failed-apt, failed-hash, failed-missing
  std::optional<int> apt_exit;
  std::string started, finished;
  struct Installed {
    std::string version;
    std::string status;  // dpkg's abbreviated status, "ii " when installed
  };
  std::map<std::string, Installed> installed;  // by "name:arch"
};
Result parse_result(std::string_view text);

}  // namespace dormant::patch::guest
