#include "security.hpp"

#include <apt-pkg/pkgsystem.h>
#include <apt-pkg/version.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string_view>

namespace dormant::assess::detail {
namespace {

bool ends_with(const char* text, std::string_view suffix) {
  return text != nullptr && std::string_view(text).ends_with(suffix);
}

// A release that says it is a security archive: Debian's own naming, matched
// by suffix because bookworm-security's Suite is now "oldstable-security".
bool is_security_release(pkgCache::PkgFileIterator file) {
  return ends_with(file.Codename(), "-security") || ends_with(file.Archive(), "-security") ||
         (file.Label() != nullptr && std::strcmp(file.Label(), "Debian-Security") == 0);
}

}  // namespace

SourceIndex::SourceIndex(const std::vector<UniverseSource>& sources) {
  for (const auto& source : sources) prefixes_.emplace_back(repo::lists_prefix(source.spec), source.spec);
  std::stable_sort(prefixes_.begin(), prefixes_.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
}

const repo::SourceSpec* SourceIndex::source_of(pkgCache::PkgFileIterator file) const {
  if (file.end() || file.Flagged(pkgCache::Flag::NotSource) || file.FileName() == nullptr) return nullptr;
  const std::string base = std::filesystem::path(file.FileName()).filename().string();
  for (const auto& [prefix, spec] : prefixes_)
    if (base.starts_with(prefix)) return &spec;
  return nullptr;
}

const repo::SourceSpec* SourceIndex::publisher(pkgCache::VerIterator version) const {
  const repo::SourceSpec* first = nullptr;
  for (auto vf = version.FileList(); !vf.end(); ++vf) {
    const repo::SourceSpec* spec = source_of(vf.File());
    if (spec == nullptr) continue;
    if (spec->security || is_security_release(vf.File())) return spec;
    if (first == nullptr) first = spec;
  }
  return first;
}

bool is_security_update(const SourceIndex& sources, pkgCache::VerIterator installed,
                        pkgCache::VerIterator candidate) {
  if (candidate.end()) return false;
  pkgVersioningSystem& vs = *_system->VS;
  for (auto v = candidate.ParentPkg().VersionList(); !v.end(); ++v) {
    if (vs.CmpVersion(v.VerStr(), candidate.VerStr()) > 0) continue;
    if (!installed.end() && vs.CmpVersion(v.VerStr(), installed.VerStr()) <= 0) continue;
    for (auto vf = v.FileList(); !vf.end(); ++vf) {
      auto file = vf.File();
      if (file.Flagged(pkgCache::Flag::NotSource)) continue;
      const repo::SourceSpec* spec = sources.source_of(file);
      if ((spec != nullptr && spec->security) || is_security_release(file)) return true;
    }
  }
  return false;
}

}  // namespace dormant::assess::detail
