#include "closure.hpp"

#include <apt-pkg/error.h>
#include <apt-pkg/fileutl.h>
#include <apt-pkg/pkgcache.h>
#include <apt-pkg/tagfile.h>

#include <cctype>
#include <fstream>
#include <map>
#include <set>
#include <string_view>
#include <system_error>
#include <unordered_set>

#include "dormant/core/error.hpp"
#include "dormant/repo/apt_context.hpp"

namespace dormant::assess::detail {
namespace {

namespace fs = std::filesystem;

// The package names of a dependency field ("a (>= 1) | b:any, c [amd64]").
void add_dependency_names(std::string_view field, std::vector<std::string>& out) {
  std::size_t i = 0;
  auto separator = [](char c) { return c == ',' || c == '|'; };
  while (i < field.size()) {
    while (i < field.size() && (separator(field[i]) || std::isspace(static_cast<unsigned char>(field[i]))))
      ++i;
    const std::size_t start = i;
    while (i < field.size() && !separator(field[i]) && !std::isspace(static_cast<unsigned char>(field[i])) &&
           field[i] != '(' && field[i] != ':' && field[i] != '[' && field[i] != '<')
      ++i;
    if (i > start) out.emplace_back(field.substr(start, i - start));
    while (i < field.size() && !separator(field[i])) ++i;
  }
}

// Where the closure walk starts: every package of the status and every name
// its packages depend on or recommend.
std::vector<std::string> status_names(const fs::path& status_file) {
  std::vector<std::string> names;
  FileFd fd(status_file.string(), FileFd::ReadOnly);
  pkgTagFile tags(&fd);
  pkgTagSection section;
  while (tags.Step(section)) {
    if (const std::string name = section.Find("Package").to_string(); !name.empty()) names.push_back(name);
    for (const char* field : {"Depends", "Pre-Depends", "Recommends"})
      add_dependency_names(section.Find(field).to_string(), names);
  }
  if (_error->PendingError()) {
    const auto messages = repo::take_apt_messages();
    fail(ErrorKind::corrupt, "dpkg status", "apt cannot parse it: {}", repo::format_apt_messages(messages));
  }
  return names;
}

std::string without_compression(std::string name) {
  for (std::string_view ext : {".gz", ".xz", ".bz2", ".lzma", ".lz4", ".zst"})
    if (name.ends_with(ext)) return name.substr(0, name.size() - ext.size());
  return name;
}

// The whole (uncompressed) content; FileFd decompresses by the name's extension.
bool read_all(FileFd& fd, std::string& out) {
  char chunk[1 << 16];
  for (;;) {
    unsigned long long got = 0;
    if (!fd.Read(chunk, sizeof chunk, &got)) return false;
    if (got == 0) return true;
    out.append(chunk, got);
  }
}

bool is_dependency(const pkgCache::DepIterator& dep) {
  return dep->Type == pkgCache::Dep::Depends || dep->Type == pkgCache::Dep::PreDepends ||
         dep->Type == pkgCache::Dep::Recommends;
}

}  // namespace

FullUniverse::FullUniverse(const fs::path& lists_dir) {
  if (!cache_.BuildCaches(nullptr, false) || _error->PendingError()) {
    const auto messages = repo::take_apt_messages();
    fail(ErrorKind::io, "apt", "cannot load the update sources' indexes: {}",
         repo::format_apt_messages(messages));
  }
  full_ = cache_.GetPkgCache();
  pkgCache& cache = *full_;
  indexes_.resize(cache.Head().PackageFileCount);
  std::unordered_set<std::string> index_names;
  for (auto file = cache.FileBegin(); !file.end(); ++file) {
    if (file.Flagged(pkgCache::Flag::NotSource) || file.FileName() == nullptr) continue;
    FileFd fd(file.FileName(), FileFd::ReadOnly, FileFd::Extension);
    Index& index = indexes_[file->ID];
    index.file_name = without_compression(fs::path(file.FileName()).filename().string());
    if (!fd.IsOpen() || !read_all(fd, index.text)) {
      const auto messages = repo::take_apt_messages();
      fail(ErrorKind::io, file.FileName(), "cannot read index: {}", repo::format_apt_messages(messages));
    }
    index_names.insert(fs::path(file.FileName()).filename().string());
  }
  for (auto pkg = cache.PkgBegin(); !pkg.end(); ++pkg)
    if ((pkg->Flags & pkgCache::Flag::Essential) != 0) essential_.emplace_back(pkg.Name());
  for (const auto& entry : fs::directory_iterator(lists_dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && name != "lock" && index_names.count(name) == 0)
      others_.push_back(entry.path());
  }
}

PrunedLists FullUniverse::write_pruned_lists(const fs::path& status_file, const fs::path& out_dir) const {
  pkgCache& cache = *full_;
  std::vector<std::string> todo = status_names(status_file);
  todo.insert(todo.end(), essential_.begin(), essential_.end());
  std::set<std::string> seen;
  std::map<map_id_t, std::string> out;  // index file ID -> records
  PrunedLists stats;
  while (!todo.empty()) {
    std::string name = std::move(todo.back());
    todo.pop_back();
    if (!seen.insert(name).second) continue;
    auto group = cache.FindGrp(name);
    if (group.end()) continue;
    for (auto pkg = group.PackageList(); !pkg.end(); pkg = group.NextPkg(pkg)) {
      for (auto prv = pkg.ProvidesList(); !prv.end(); ++prv) todo.emplace_back(prv.OwnerPkg().Name());
      for (auto ver = pkg.VersionList(); !ver.end(); ++ver) {
        for (auto dep = ver.DependsList(); !dep.end(); ++dep)
          if (is_dependency(dep)) todo.emplace_back(dep.TargetPkg().Name());
        for (auto vf = ver.FileList(); !vf.end(); ++vf) {
          const Index& index = indexes_[vf.File()->ID];
          if (index.file_name.empty() || vf->Offset + vf->Size > index.text.size()) continue;
          std::string& records = out[vf.File()->ID];
          records.append(index.text, vf->Offset, vf->Size);
          if (!records.ends_with("\n\n")) records += records.ends_with('\n') ? "\n" : "\n\n";
          ++stats.records;
        }
      }
    }
  }
  stats.names = seen.size();

  std::error_code ec;
  fs::create_directories(out_dir / "partial", ec);
  if (ec) fail(ErrorKind::io, out_dir.string(), "cannot create directory: {}", ec.message());
  for (const auto& other : others_) {
    fs::create_symlink(other, out_dir / other.filename(), ec);
    if (ec) fail(ErrorKind::io, (out_dir / other.filename()).string(), "cannot link: {}", ec.message());
  }
  for (const auto& [id, records] : out) {
    const fs::path path = out_dir / indexes_[id].file_name;
    std::ofstream file(path, std::ios::binary);
    file << records;
    if (!file.flush()) fail(ErrorKind::io, path.string(), "cannot write pruned index");
  }
  return stats;
}

}  // namespace dormant::assess::detail
