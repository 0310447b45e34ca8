// Which dormant source published a version, and whether an upgrade is a
// security update. Private to assess/.
#pragma once

#include <apt-pkg/pkgcache.h>

#include <string>
#include <utility>
#include <vector>

#include "dormant/assess/resolver.hpp"

namespace dormant::assess::detail {

// Maps the index files of a cache back to the dormant sources they were
// fetched for: every lists file of a source starts with repo::lists_prefix,
// in the combined lists directory and in the per-image pruned ones alike.
class SourceIndex {
 public:
  explicit SourceIndex(const std::vector<UniverseSource>& sources);

  // The source whose prefix is the longest match of the file's basename, or
  // nullptr (the dpkg status, or a file of no configured source).
  const repo::SourceSpec* source_of(pkgCache::PkgFileIterator file) const;

  // The first source publishing `version`, preferring a security source
  // (the change is then attributed where its fix comes from); nullptr if none.
  const repo::SourceSpec* publisher(pkgCache::VerIterator version) const;

 private:
  std::vector<std::pair<std::string, repo::SourceSpec>> prefixes_;  // longest first
};

// True when some version v of `package` with installed < v <= candidate
// (installed may be end(): a new package) is published by a security source
// (see PackageChange::security).
bool is_security_update(const SourceIndex& sources, pkgCache::VerIterator installed,
                        pkgCache::VerIterator candidate);

}  // namespace dormant::assess::detail
