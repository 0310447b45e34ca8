// The pruned fast path (docs/design/assess.md, "assess/ one image" step 2):
// the whole universe is loaded once; per image only the index records
// reachable from its dpkg status (plus every Essential package) are written
// into a small lists directory, and the image is resolved there. About 20x
// faster than resolving in the whole universe, and differential-tested
// against it. Private to assess/.
#pragma once

#include <apt-pkg/cachefile.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace dormant::assess::detail {

struct PrunedLists {
  std::size_t names = 0;    // package names reached
  std::size_t records = 0;  // index records written
};

class FullUniverse {
 public:
  // Builds the cache of apt's currently configured lists directory with an
  // empty system and keeps every index text in memory. Error(io) with apt's
  // messages when the indexes cannot be read.
  explicit FullUniverse(const std::filesystem::path& lists_dir);
  FullUniverse(const FullUniverse&) = delete;
  FullUniverse& operator=(const FullUniverse&) = delete;

  // Writes into `out_dir` (created, must not exist) the records reachable
  // from `status_file` under the same file names, plus links to the release
  // files (Origin, Label, Suite, pins come from them).
  PrunedLists write_pruned_lists(const std::filesystem::path& status_file,
                                 const std::filesystem::path& out_dir) const;

 private:
  struct Index {
    std::string file_name;  // basename apt looks for (compression suffix dropped)
    std::string text;       // the uncompressed index
  };
  pkgCacheFile cache_;
  pkgCache* full_ = nullptr;                   // cache_'s, built
  std::vector<Index> indexes_;                 // by pkgCache::PackageFile ID
  std::vector<std::string> essential_;         // names of Essential packages
  std::vector<std::filesystem::path> others_;  // every other lists file (release files)
};

}  // namespace dormant::assess::detail
