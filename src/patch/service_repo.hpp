// The servicing repository of `--mode service` (private to patch/): exactly
// the planned, verified .debs as a flat apt repository on a small ext2
// image that the servicing VM gets as a read-only disk, and the script the
// guest agent runs against it.
//
// Disk layout (label "dormant-repo", mounted read-only at kMount):
//   debs/*.deb  SHA256SUMS  Packages  sources.list  sources.list.d/
//   install  packages  auto  remove  plan.json
// `install` has one "name=version" (or "name:arch=version") per planned
// install; the other lists are those of the offline update (stage.hpp).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "dormant/assess/download.hpp"
#include "dormant/patch/patch.hpp"

namespace dormant::patch::detail {

inline constexpr std::string_view kRepoLabel = "dormant-repo";
inline constexpr std::string_view kMount = "/run/dormant-service";

struct RepoDisk {
  std::filesystem::path image;  // raw ext2
  std::uint64_t size = 0;       // bytes
};

// Builds work_dir/repo/ and work_dir/repo.img (apt-ftparchive writes the
// Packages index of the verified files, mke2fs -d the filesystem).
// Error(io) when a tool fails (its message).
RepoDisk build_repo_disk(const std::filesystem::path& work_dir, const std::string& run_id,
                         const ImagePatch& plan, const std::vector<assess::DownloadedPackage>& debs);

// The shell script run by guest-exec (`/bin/sh -c SCRIPT`) for one round:
// mounts the repository read-only, checks every .deb's hash, installs the
// plan with the guest's own apt-get from that repository only (the guest's
// sources are not read), restores apt's auto flags, then re-checks from
// inside: `apt-get -s dist-upgrade` against the same source must have
// nothing left. It prints key=value lines that parse_service_output reads.
std::string service_script(std::string_view run_id);

struct ServiceRound {
  std::string status;  // success, failed-apt, failed-hash, failed-missing, "" (no status line)
  int apt_exit = -1;
  int pending = -1;  // upgrades apt would still make from the repository
  bool reboot_required = false;
  int interfaces = -1;                 // network interfaces in the guest other than lo
  std::vector<std::string> installed;  // "name:arch version status" lines
};
// Reads the script's stdout (hostile: capped, unknown lines ignored).
ServiceRound parse_service_output(std::string_view out);

}  // namespace dormant::patch::detail
