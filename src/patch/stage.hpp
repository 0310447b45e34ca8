// Private to patch/: writing a plan into an overlay, and checking it there.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "dormant/assess/download.hpp"
#include "dormant/image/guest_writer.hpp"
#include "dormant/patch/patch.hpp"

namespace dormant::patch {

struct StageInput {
  std::string run_id;
  std::filesystem::path overlay;
  image::ProbeOptions probe;  // allowed roots: the library image's directory and the work directory
  std::vector<assess::DownloadedPackage> debs;
  std::vector<std::uint64_t> installed_sizes;  // bytes, per deb (dpkg-deb's Installed-Size)
  const ImagePatch* plan = nullptr;            // installs, removals
  bool replay_journal = false;
};

struct StageOutput {
  std::vector<StagedFile> files;  // what was written, with hashes (debs first)
  // The filesystems written to (for e2fsck), by mountpoint.
  std::vector<image::WritableFilesystem> filesystems;
  bool journal_replayed = false;
};

// Stages the update into the overlay (guest_update.hpp has the layout).
//   Error(unsupported)  no systemd offline-update support in the guest; a
//                       journal that needs recovery (without replay_journal);
//                       root not on ext2/3/4
//   Error(conflict)     an earlier staged update is still pending (/system-update)
//   Error(limit)        not enough free space in the guest (numbers in the message)
StageOutput stage_update(const StageInput& input);

// Names as apt-get and dpkg-query take them: "name" for the native
// architecture and "all", "name:arch" for foreign ones.
std::string apt_name(const assess::PackageChange& c, const std::string& native);

// The plan as the guest-side scripts read it (offline `apply` and the
// service script): SHA256SUMS (of the .debs, by file name), packages (every
// planned name), auto (names apt marks automatic), remove ("name-" lines)
// and plan.json, as (file name, content).
std::vector<std::pair<std::string, std::string>> plan_texts(
    const std::string& run_id, const ImagePatch& plan, const std::vector<assess::DownloadedPackage>& debs);

// Re-opens the overlay read-only and checks every staged file's hash, the
// /system-update link and the unit, then runs e2fsck -fn on each written
// filesystem. Returns e2fsck's verdicts ("/: clean"); Error(corrupt) naming
// the first thing that does not match.
std::string verify_staged(const std::filesystem::path& overlay, const image::ProbeOptions& probe,
                          const StageOutput& staged);

}  // namespace dormant::patch
