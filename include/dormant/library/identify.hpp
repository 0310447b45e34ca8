// The identify scan: find the images of every library (directories, libvirt
// pools) and of shut-off libvirt domains, inspect the new and changed ones,
// and record what was learned in the catalog.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "dormant/catalog/catalog.hpp"
#include "dormant/core/progress.hpp"

namespace dormant::library {

struct IdentifyOptions {
  unsigned jobs = 0;           // inspection workers; 0 = number of cores
  bool allow_guestfs = true;   // fall back to libguestfs (slow) for LVM/XFS/btrfs/LUKS
};

// What happened to one image in this scan.
enum class Outcome {
  added,      // not in the catalog before: inspected
  changed,    // its identity changed: inspected again
  unchanged,  // identity as recorded: not inspected
  missing,    // recorded, but the file is gone: marked 'missing'
  skipped,    // not inspected on purpose (its domain is running)
};

std::string_view to_string(Outcome outcome);

struct IdentifyEntry {
  Outcome outcome = Outcome::unchanged;
  std::string library;          // library name, or "" for a domain-only image
  catalog::ImageRecord image;   // the record as now in the catalog (for skipped: path, domain, reason)
};

struct IdentifyReport {
  std::vector<IdentifyEntry> entries;  // sorted by path
  std::size_t added = 0, changed = 0, unchanged = 0, missing = 0, skipped = 0;
  std::size_t errors = 0;   // inspected images whose state is 'error' or 'unsupported'
  std::size_t inspected = 0;  // inspections run in this scan (added + changed)
  std::vector<std::string> warnings;  // a library or connection that could not be read
};

// Scans every library and libvirt connection in the catalog. An image that
// cannot be inspected is recorded with state 'error' or 'unsupported' and the
// scan continues; a library that cannot be read is a warning. Progress
// reaches `progress` from the calling thread only.
IdentifyReport identify(catalog::Catalog& catalog, const IdentifyOptions& options, ProgressSink& progress);

// JSON as documented in docs/identify.schema.json.
nlohmann::json to_json(const IdentifyReport& report);
nlohmann::json to_json(const catalog::ImageRecord& image);
nlohmann::json to_json(const catalog::Library& library);

// True for names with a disk image extension: .qcow2 .img .raw .vmdk .vhdx .vhd .vpc
bool has_image_extension(const std::filesystem::path& path);

}  // namespace dormant::library
