// Image versions: the atomic replacement of a library image by its patched
// version, the previous versions kept beside it for `dormant rollback`, and
// the hidden work directories of patch runs.
//
// Layout in the image's own directory (same filesystem, so rename(2) is
// atomic; dot names are skipped by identify):
//   .dormant-work/<run>/                     overlays and the commit candidate of a run
//   .dormant-versions/<image file name>/<UTC time>-<sha256 prefix>   kept versions (hard links)
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace dormant::patch {

struct ImageVersion {
  std::filesystem::path path;  // the kept file
  std::string created;         // UTC, ISO 8601, from the name
  std::string sha256_prefix;   // from the name
  std::uint64_t size = 0;
};

// The work directory of run `run_id` for images in `library_dir`, created
// 0700 (with .dormant-work itself).
std::filesystem::path work_dir_for(const std::filesystem::path& library_dir, const std::string& run_id);

// Replaces `image` by `candidate` (a file in the same directory tree, same
// filesystem): fsyncs the candidate, hard-links the current image into its
// version store, rename(2)s the candidate over the image, fsyncs the
// directories, then keeps only the newest `keep` versions (0: keep none).
// `current_sha256` names the kept version. Returns the kept version's path
// (empty when keep is 0). Before the rename nothing of `image` changes but
// its link count; a crash after it leaves the new image and the kept version.
// Error(unsupported) when candidate and image are on different filesystems.
std::filesystem::path replace_keeping_version(const std::filesystem::path& image,
                                              const std::filesystem::path& candidate,
                                              const std::string& current_sha256, std::size_t keep);

// Kept versions of `image`, newest first.
std::vector<ImageVersion> list_versions(const std::filesystem::path& image);

// Makes the newest kept version (or `version` when given) the current image
// again, atomically; the image being replaced is kept as a version in turn
// (so a rollback can be undone). Error(not_found) when there is no version.
ImageVersion rollback(const std::filesystem::path& image, const std::string& current_sha256,
                      const std::filesystem::path& version = {});

// Removes all but the newest `keep` versions of `image`; returns what it removed.
std::vector<std::filesystem::path> prune_versions(const std::filesystem::path& image, std::size_t keep);

}  // namespace dormant::patch
