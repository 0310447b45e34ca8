// Universe::download (see download.hpp): apt's pkgAcqArchive, as `apt-get
// download` uses it, into a cache directory that only ever holds files whose
// SHA256 matches the signed indexes.
//
// What apt does not do and this does: apt trusts a file already in its
// archives directory when its *size* matches the index (pkgAcqArchive::
// QueueNext), so an existing file is hashed here first and deleted when it
// does not match; apt keeps a file that failed its hash check as
// partial/NAME.FAILED, which is deleted here; any item that was not fetched
// and verified fails the call.
#include "dormant/assess/download.hpp"

#include <apt-pkg/acquire-item.h>
#include <apt-pkg/acquire.h>
#include <apt-pkg/cachefile.h>
#include <apt-pkg/configuration.h>
#include <apt-pkg/error.h>
#include <apt-pkg/fileutl.h>
#include <apt-pkg/hashes.h>
#include <apt-pkg/pkgrecords.h>
#include <apt-pkg/sourcelist.h>
#include <apt-pkg/strutl.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <string_view>
#include <system_error>
#include <tuple>

#include "dormant/core/error.hpp"
#include "dormant/repo/apt_context.hpp"
#include "download_configured.hpp"

namespace dormant::assess {
namespace {

// An exclusive flock on <archives>.download-lock, held while apt downloads
// into the directory.
class ArchivesQueue {
 public:
  explicit ArchivesQueue(const std::filesystem::path& archives_dir) {
    // Beside the directory, not in it: the cache holds only verified .debs.
    const auto path = archives_dir.parent_path() / (archives_dir.filename().string() + ".download-lock");
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) fail(ErrorKind::io, path.string(), "cannot open the download lock: {}", std::strerror(errno));
    while (::flock(fd_, LOCK_EX) != 0)
      if (errno != EINTR) fail(ErrorKind::io, path.string(), "cannot lock: {}", std::strerror(errno));
  }
  ~ArchivesQueue() { ::close(fd_); }
  ArchivesQueue(const ArchivesQueue&) = delete;
  ArchivesQueue& operator=(const ArchivesQueue&) = delete;

 private:
  int fd_ = -1;
};

namespace fs = std::filesystem;

std::string describe(const PackageRef& ref) { return ref.name + ":" + ref.arch + " " + ref.version; }

// SHA256 and size of a file; empty hash when it cannot be read.
std::pair<std::string, std::uint64_t> hash_file(const fs::path& path) {
  FileFd fd;
  if (!fd.Open(path.string(), FileFd::ReadOnly, FileFd::None)) {
    (void)repo::take_apt_messages();
    return {"", 0};
  }
  Hashes hashes(Hashes::SHA256SUM);
  if (!hashes.AddFD(fd)) {
    (void)repo::take_apt_messages();
    return {"", 0};
  }
  const HashStringList list = hashes.GetHashStringList();  // find() points into it
  const HashString* sha256 = list.find("SHA256");
  return {sha256 == nullptr ? "" : sha256->HashValue(), fd.Size()};
}

void remove_file(const fs::path& path) {
  std::error_code ec;
  fs::remove(path, ec);
  if (ec) fail(ErrorKind::io, path.string(), "cannot delete: {}", ec.message());
}

// Texts of apt's that mean the file is not the one the signed index
// describes (as in repo/update.cpp), rather than that it could not be fetched.
bool hostile_text(std::string_view text) {
  static constexpr std::array<std::string_view, 4> kMarkers{"Hash Sum mismatch", "unexpected size",
                                                            "Size mismatch", "Hashes of expected file"};
  for (const auto marker : kMarkers)
    if (text.find(marker) != std::string_view::npos) return true;
  return false;
}

class QuietStatus : public pkgAcquireStatus {
 public:
  bool MediaChange(std::string /*media*/, std::string /*drive*/) override { return false; }
};

struct Wanted {
  PackageRef ref;
  pkgCache::VerIterator version;
  std::string sha256;  // from the index
  std::uint64_t size = 0;
  std::vector<fs::path> names;  // where apt would look for it in the archives directory
  bool cached = false;
  fs::path file;
};

// The names apt gives the file in Dir::Cache::Archives: the pool file's
// basename (apt's "legacy" name, still accepted) and name_version_arch.ext
// with ':' quoted (pkgAcqArchive::QueueNext).
std::vector<fs::path> archive_names(const fs::path& archives_dir, const pkgCache::VerIterator& version,
                                    const std::string& pool_file) {
  const std::string store = QuoteString(version.ParentPkg().Name(), "_:") + '_' +
                            QuoteString(version.VerStr(), "_:") + '_' + QuoteString(version.Arch(), "_:.") +
                            "." + flExtension(pool_file);
  std::vector<fs::path> names{archives_dir / store};
  if (flNotDir(pool_file) != store) names.push_back(archives_dir / flNotDir(pool_file));
  return names;
}

pkgCache::VerIterator find_version(pkgCacheFile& cache, const PackageRef& ref) {
  pkgCache::PkgIterator pkg = cache.GetPkgCache()->FindPkg(ref.name, ref.arch);
  // "all" packages are filed under the native architecture.
  if (pkg.end() && ref.arch == "all") pkg = cache.GetPkgCache()->FindPkg(ref.name, "native");
  if (!pkg.end())
    for (auto ver = pkg.VersionList(); !ver.end(); ++ver)
      if (ref.version == ver.VerStr()) return ver;
  fail(ErrorKind::not_found, describe(ref), "not in the indexes of the update sources");
}

Wanted look_up(pkgCacheFile& cache, pkgRecords& records, const PackageRef& ref,
               const fs::path& archives_dir) {
  Wanted w{ref, find_version(cache, ref), "", 0, {}, false, {}};
  for (auto vf = w.version.FileList(); !vf.end(); ++vf) {
    if (vf.File().Flagged(pkgCache::Flag::NotSource)) continue;
    pkgRecords::Parser& parser = records.Lookup(vf);
    const HashStringList hashes = parser.Hashes();
    const HashString* sha256 = hashes.find("SHA256");
    if (sha256 == nullptr || parser.FileName().empty()) continue;
    w.sha256 = sha256->HashValue();
    w.size = w.version->Size;
    w.names = archive_names(archives_dir, w.version, parser.FileName());
    return w;
  }
  fail(ErrorKind::hostile, describe(ref), "no index record with a SHA256 and a file name");
}

// A file already in the cache is used only when its SHA256 matches; anything
// else under a name apt would accept (by size) is deleted.
void check_cached(Wanted& w) {
  for (const auto& name : w.names) {
    std::error_code ec;
    if (!fs::exists(fs::symlink_status(name, ec))) continue;
    const auto [sha256, size] = fs::is_regular_file(fs::symlink_status(name, ec))
                                    ? hash_file(name)
                                    : std::pair<std::string, std::uint64_t>{"", 0};
    if (!w.cached && sha256 == w.sha256 && size == w.size) {
      w.cached = true;
      w.file = name;
    } else {
      remove_file(name);
    }
  }
}

}  // namespace

void to_json(nlohmann::json& j, const PackageRef& ref) {
  j = {{"name", ref.name}, {"arch", ref.arch}, {"version", ref.version}};
}

void from_json(const nlohmann::json& j, PackageRef& ref) {
  j.at("name").get_to(ref.name);
  j.at("arch").get_to(ref.arch);
  j.at("version").get_to(ref.version);
}

void to_json(nlohmann::json& j, const DownloadedPackage& p) {
  j = {{"ref", p.ref},
       {"file", p.file.string()},
       {"sha256", p.sha256},
       {"size", p.size},
       {"cached", p.cached}};
}

void from_json(const nlohmann::json& j, DownloadedPackage& p) {
  j.at("ref").get_to(p.ref);
  p.file = j.at("file").get<std::string>();
  j.at("sha256").get_to(p.sha256);
  j.at("size").get_to(p.size);
  j.at("cached").get_to(p.cached);
}

// apt is configured for the Universe (repo::configure_apt); `lists_dir` is
// its combined lists directory.
void detail::download_configured(const fs::path& lists_dir, const std::vector<PackageRef>& packages,
                                 const fs::path& archives_dir, std::vector<DownloadedPackage>& out) {
  if (!archives_dir.is_absolute())
    fail(ErrorKind::usage, archives_dir.string(), "the archives directory must be an absolute path");
  repo::make_apt_reachable_dir(archives_dir, archives_dir.string());  // _apt must reach partial/
  // Every version of every source: the whole universe with an empty system.
  // resolve() leaves a per-image (pruned, deleted) lists directory set.
  _config->Set("Dir::State::Lists", lists_dir.string() + "/");
  _config->Clear("APT::Cache-HashTableSize");
  _config->Set("Dir::Cache::Archives", archives_dir.string() + "/");
  repo::use_status("/dev/null", "/dev/null");

  pkgCacheFile cache;
  if (!cache.BuildCaches(nullptr, false) || _error->PendingError() || cache.GetSourceList() == nullptr)
    fail(ErrorKind::io, "apt", "cannot load the update sources' indexes: {}",
         repo::format_apt_messages(repo::take_apt_messages()));
  pkgRecords records(cache);

  // One entry per distinct package; `out` follows the order given.
  std::map<std::tuple<std::string, std::string, std::string>, std::size_t> index;
  std::vector<Wanted> wanted;
  std::vector<std::size_t> slot;
  for (const auto& ref : packages) {
    const auto [it, added] = index.try_emplace({ref.name, ref.arch, ref.version}, wanted.size());
    if (added) wanted.push_back(look_up(cache, records, ref, archives_dir));
    slot.push_back(it->second);
  }
  for (auto& w : wanted) check_cached(w);

  QuietStatus status;
  std::vector<std::string> store(wanted.size());  // pkgAcqArchive writes the final path here
  std::vector<pkgAcqArchive*> items(wanted.size(), nullptr);
  std::string failures, first_failed;
  bool hostile = false;
  {
    // apt's own lock on the archives directory does not wait: patch
    // processes of one job share the cache, so they queue on this one first
    // (the worker's time-out bounds the wait).
    ArchivesQueue queue(archives_dir);
    pkgAcquire fetcher(&status);
    // The configured value exactly (trailing slash): only then does apt make partial/ for _apt.
    if (fetcher.GetLock(_config->FindDir("Dir::Cache::Archives")) == false)
      fail(ErrorKind::io, archives_dir.string(), "cannot lock the archives directory: {}",
           repo::format_apt_messages(repo::take_apt_messages()));
    for (std::size_t i = 0; i < wanted.size(); ++i) {
      if (wanted[i].cached) continue;
      // Owned by the fetcher.
      items[i] = new pkgAcqArchive(&fetcher, cache.GetSourceList(), &records, wanted[i].version, store[i]);
      if (_error->PendingError())
        fail(ErrorKind::not_found, describe(wanted[i].ref), "no source to download it from: {}",
             repo::format_apt_messages(repo::take_apt_messages()));
      // apt-get refuses these without --allow-unauthenticated.
      if (!items[i]->IsTrusted())
        fail(ErrorKind::hostile, describe(wanted[i].ref), "{}: not from an authenticated source",
             items[i]->DescURI());
    }
    const auto result = fetcher.Run();
    for (std::size_t i = 0; i < wanted.size(); ++i) {
      pkgAcqArchive* item = items[i];
      if (item == nullptr) continue;
      Wanted& w = wanted[i];
      const bool done = item->Status == pkgAcquire::Item::StatDone && item->Complete;
      std::string error = item->ErrorText;
      if (done) {
        // apt checked it; check again what is left on disk, as for the cache.
        w.file = store[i];
        const auto [sha256, size] = hash_file(w.file);
        if (sha256 != w.sha256 || size != w.size)
          error = fmt::format("downloaded file {} has SHA256 {} and size {}, the index says {} and {}",
                              w.file.string(), sha256, size, w.sha256, w.size);
      } else if (error.empty()) {
        error = result == pkgAcquire::Cancelled ? "download cancelled" : "not fetched (apt gave no reason)";
      }
      if (error.empty()) continue;
      if (item->Status == pkgAcquire::Item::StatAuthError || hostile_text(error) || done) hostile = true;
      if (first_failed.empty()) first_failed = describe(w.ref);
      failures += fmt::format("\n{}: {}: {}", describe(w.ref), item->DescURI(), error);
      // Nothing unverified stays: apt's partial file, its .FAILED copy, the final name.
      std::error_code ec;
      for (const fs::path& p : {fs::path(item->DestFile), fs::path(item->DestFile + ".FAILED"),
                                w.file.empty() ? fs::path() : w.file})
        if (!p.empty() && p.parent_path().string().starts_with(archives_dir.string())) fs::remove(p, ec);
      for (const auto& name : w.names) fs::remove(name, ec);
      w.file.clear();
    }
  }
  const auto messages = repo::take_apt_messages();
  if (!failures.empty())
    fail(hostile ? ErrorKind::hostile : ErrorKind::io, first_failed,
         "{} of the update sources' packages failed{}{}{}", hostile ? "verification" : "the download",
         failures, messages.empty() ? "" : "\n", messages.empty() ? "" : repo::format_apt_messages(messages));

  for (const std::size_t i : slot) {
    const Wanted& w = wanted[i];
    out.push_back({w.ref, w.file, w.sha256, w.size, w.cached});
  }
  // Each ref as the caller named it (the index may file "all" under the native arch).
  for (std::size_t i = 0; i < packages.size(); ++i) out[i].ref = packages[i];
}

}  // namespace dormant::assess
