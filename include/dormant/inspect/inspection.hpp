// What dormant learns about a guest without booting it.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "dormant/image/guest_view.hpp"
#include "dormant/inspect/dpkg_status.hpp"

namespace dormant::inspect {

struct OsInfo {
  std::string id;           // "debian"
  std::string version_id;   // "12"
  std::string pretty_name;  // "Debian GNU/Linux 12 (bookworm)"
  std::string version_codename;
  std::string debian_version;  // /etc/debian_version, when present
};

// The guest's package manager state as the guest's own apt would read it, for
// the assessment (libapt-pkg parses it in a worker process). Raw bytes, never
// part of to_json: the catalog stores it once per distinct content.
struct PackageDatabase {
  std::string dpkg_status;      // /var/lib/dpkg/status (capped at kMaxDpkgStatusBytes)
  std::string extended_states;  // /var/lib/apt/extended_states (auto-installed marks), or ""
  std::vector<std::string> foreign_architectures;  // /var/lib/dpkg/arch without the native one
};

struct Inspection {
  std::string format;  // "qcow2"
  std::string access;  // "fast" or "guestfs"
  std::uint64_t virtual_size = 0;
  OsInfo os;
  std::string arch;      // dpkg's native architecture: "amd64"
  std::string hostname;
  std::vector<std::string> kernels;  // versions: "6.1.0-28-amd64"
  std::vector<Package> packages;
  std::vector<image::MountInfo> filesystems;
  std::vector<std::string> warnings;
  PackageDatabase package_database;
};

// Limits on guest files read during inspection.
inline constexpr std::uint64_t kMaxDpkgStatusBytes = 64ull << 20;
inline constexpr std::uint64_t kMaxSmallFileBytes = 64ull << 10;

// Inspects an assembled guest. Error(unsupported) when it has no os-release;
// Error(limit) when the dpkg status is over its cap; Error(hostile) when the
// dpkg status is a symlink.
Inspection inspect_guest(image::GuestView& view);

// Opens (image::open_guest) and inspects an image file.
Inspection inspect_image(const std::filesystem::path& image, const image::OpenOptions& options = {});

// JSON as documented in docs/inspect.schema.json.
nlohmann::json to_json(const Inspection& inspection);

// The inverse of to_json, for inspections stored as JSON (the catalog).
// Missing keys take their defaults; Error(corrupt) when a key has the wrong
// type.
Inspection inspection_from_json(const nlohmann::json& json);

}  // namespace dormant::inspect
