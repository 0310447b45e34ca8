// Downloading the .deb files of planned updates into a verified cache, with
// libapt-pkg's own pkgAcqArchive (what `apt-get download` runs): each file is
// checked against the hashes and size in the Packages index of the
// Universe's sources, which repo::update_source verified against their
// signed Release. Runs in the resolver worker (Universe::download, and
// download_in_worker for the parent).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "dormant/assess/resolver.hpp"

namespace dormant::assess {

// One version of one binary package; `arch` as in PackageChange (apt's
// package architecture: "all" packages are found under any architecture,
// apt files them under the native one).
struct PackageRef {
  std::string name;
  std::string arch;
  std::string version;
};

struct DownloadedPackage {
  PackageRef ref;
  std::filesystem::path file;  // in the archives directory (apt's file name)
  std::string sha256;          // lowercase hex, checked against the signed index
  std::uint64_t size = 0;
  bool cached = false;  // already there with the right hash: not downloaded again
};

// Parent side of Universe::download: runs it in `dormant_exe __resolve-worker`
// (the universe is loaded there, with no jobs). Throws the worker's Error
// (same kinds as Universe::download); Error(limit) when the worker takes
// longer than `timeout` (the universe load included), Error(internal) when it
// dies. Error(io) when it cannot be started.
std::vector<DownloadedPackage> download_in_worker(const std::filesystem::path& dormant_exe,
                                                  const UniverseOptions& options,
                                                  const std::vector<PackageRef>& packages,
                                                  const std::filesystem::path& archives_dir,
                                                  std::chrono::milliseconds timeout);

// JSON forms (the worker protocol).
void to_json(nlohmann::json& j, const PackageRef& ref);
void from_json(const nlohmann::json& j, PackageRef& ref);
void to_json(nlohmann::json& j, const DownloadedPackage& package);
void from_json(const nlohmann::json& j, DownloadedPackage& package);

}  // namespace dormant::assess
