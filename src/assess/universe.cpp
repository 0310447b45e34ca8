// Universe: the update sources' indexes, combined, and one dist-upgrade per
// guest on them (docs/design/assess.md, "assess/ one image").
#include <apt-pkg/cachefile.h>
#include <apt-pkg/configuration.h>
#include <apt-pkg/error.h>

#include <fstream>
#include <set>
#include <system_error>

#include "closure.hpp"
#include "dormant/assess/download.hpp"
#include "dormant/assess/resolver.hpp"
#include "dormant/core/error.hpp"
#include "dormant/repo/apt_context.hpp"
#include "download_configured.hpp"
#include "resolver_run.hpp"
#include "security.hpp"

namespace dormant::assess {
namespace {

namespace fs = std::filesystem;

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << text;
  if (!file.flush()) fail(ErrorKind::io, path.string(), "cannot write");
}

void fresh_dir(const fs::path& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (!ec) fs::create_directories(dir, ec);
  if (ec) fail(ErrorKind::io, dir.string(), "cannot create directory: {}", ec.message());
}

// One lists directory for every source: apt reads one Dir::State::Lists, and
// each source keeps its own (sources of different groups never clean each
// other's lists), so the combination is a directory of links.
void link_lists(const std::vector<UniverseSource>& sources, const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& source : sources) {
    std::error_code ec;
    if (!fs::is_directory(source.lists_dir, ec))
      fail(ErrorKind::not_found, source.spec.name, "no indexes in {} (the source has not been updated)",
           source.lists_dir.string());
    for (const auto& entry : fs::directory_iterator(source.lists_dir)) {
      const std::string name = entry.path().filename().string();
      // Two sources on one repository share its release file: one link will do.
      if (!entry.is_regular_file() || name == "lock" || !names.insert(name).second) continue;
      fs::create_symlink(fs::absolute(entry.path()), dir / name, ec);
      if (ec) fail(ErrorKind::io, (dir / name).string(), "cannot link: {}", ec.message());
    }
  }
}

// Removes a per-image directory however the resolution ends.
class ScratchDir {
 public:
  explicit ScratchDir(fs::path dir) : dir_(std::move(dir)) { fresh_dir(dir_); }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const fs::path& path() const { return dir_; }

 private:
  fs::path dir_;
};

}  // namespace

struct Universe::Impl {
  explicit Impl(UniverseOptions o) : options(std::move(o)), sources(options.sources) {}

  UniverseOptions options;
  detail::SourceIndex sources;
  fs::path lists_dir;
  fs::path images_dir;
  std::unique_ptr<detail::FullUniverse> full;  // the pruned path's one-time load
  std::size_t next_image = 0;
};

Universe::Universe(UniverseOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  const UniverseOptions& o = impl_->options;
  if (!o.work_dir.is_absolute())
    fail(ErrorKind::usage, o.work_dir.string(), "the resolver's work directory must be an absolute path");
  if (o.sources.empty()) fail(ErrorKind::usage, "resolver", "no update source given");
  impl_->lists_dir = o.work_dir / "lists";
  impl_->images_dir = o.work_dir / "images";
  fresh_dir(impl_->lists_dir);
  fresh_dir(impl_->images_dir);
  link_lists(o.sources, impl_->lists_dir);

  std::vector<repo::SourceSpec> specs;
  for (const auto& source : o.sources) specs.push_back(source.spec);
  const fs::path apt_dir = o.work_dir / "apt";
  fresh_dir(apt_dir);
  const fs::path sources_file = apt_dir / "sources.sources";
  write_text(sources_file, repo::render_sources(specs, o.architectures));

  repo::AptSettings settings;
  settings.work_dir = apt_dir;
  settings.sources_file = sources_file;
  settings.lists_dir = impl_->lists_dir;
  settings.architectures = o.architectures;
  repo::configure_apt(settings);

  if (o.full_universe) {
    // Every image merges its status into the same source cache: build it
    // once on disk now (apt checks it against the lists' sizes and mtimes
    // and the architecture list before reusing it). Unreadable indexes fail
    // here, not as a "corrupt status" of the first image.
    _config->Set("Dir::Cache::srcpkgcache", (apt_dir / "cache" / "srcpkgcache.bin").string());
    pkgCacheFile cache;
    if (!cache.BuildCaches(nullptr, false) || _error->PendingError()) {
      const auto messages = repo::take_apt_messages();
      fail(ErrorKind::io, "apt", "cannot load the update sources' indexes: {}",
           repo::format_apt_messages(messages));
    }
  } else {
    impl_->full = std::make_unique<detail::FullUniverse>(impl_->lists_dir);
  }
}

Universe::~Universe() = default;

Resolution Universe::resolve(const std::string& status, const std::string& extended_states,
                             const ResolveOptions& options) {
  Impl& impl = *impl_;
  ScratchDir image(impl.images_dir / std::to_string(impl.next_image++));
  const fs::path status_file = image.path() / "status";
  const fs::path states_file = image.path() / "extended_states";
  write_text(status_file, status);
  write_text(states_file, extended_states);

  fs::path lists = impl.lists_dir;
  if (impl.full != nullptr) {
    lists = image.path() / "lists";
    impl.full->write_pruned_lists(status_file, lists);
  }
  _config->Set("Dir::State::Lists", lists.string() + "/");
  // apt sizes the package hash table for a whole archive (tens of thousands
  // of names) and every cache walk steps through all of it; a pruned
  // universe has a few thousand. Measured (bench/assess.sh): 22 -> 14 ms CPU
  // per image. Only for the pruned caches: the full universe keeps apt's size.
  if (impl.full != nullptr) _config->Set("APT::Cache-HashTableSize", "4099");
  repo::use_status(status_file, states_file);
  Resolution resolution = detail::resolve_configured(impl.sources, options);
  resolution.pruned = impl.full != nullptr;
  return resolution;
}

std::vector<DownloadedPackage> Universe::download(const std::vector<PackageRef>& packages,
                                                  const fs::path& archives_dir) {
  std::vector<DownloadedPackage> out;
  detail::download_configured(impl_->lists_dir, packages, archives_dir, out);
  return out;
}

}  // namespace dormant::assess
