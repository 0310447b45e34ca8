#include "dormant/patch/versions.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <optional>

#include "dormant/core/error.hpp"
#include "dormant/core/fsync.hpp"

namespace dormant::patch {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kPrefixLength = 12;
constexpr std::size_t kStampLength = 16;  // YYYYMMDDTHHMMSSZ

struct StatResult {
  struct stat st {};
  bool exists = false;
};

StatResult lstat_path(const fs::path& path) {
  StatResult r;
  if (::lstat(path.c_str(), &r.st) == 0) {
    r.exists = true;
  } else if (errno != ENOENT) {
    fail(ErrorKind::io, path.string(), "cannot stat: {}", std::strerror(errno));
  }
  return r;
}

// A regular file that must exist (not a symlink: rename(2) would replace the
// link, not the image it names).
struct stat regular_file(const fs::path& path) {
  auto r = lstat_path(path);
  if (!r.exists) fail(ErrorKind::not_found, path.string(), "no such file");
  if (S_ISLNK(r.st.st_mode))
    fail(ErrorKind::unsupported, path.string(), "is a symbolic link: name the image file itself");
  if (!S_ISREG(r.st.st_mode)) fail(ErrorKind::unsupported, path.string(), "not a regular file");
  return r.st;
}

fs::path parent_of(const fs::path& path) {
  auto parent = path.parent_path();
  return parent.empty() ? fs::path(".") : parent;
}

void fsync_dir(const fs::path& dir) { fsync_path(dir, O_RDONLY | O_DIRECTORY); }

// mkdir 0700 when missing; returns true when it was created (its parent
// then needs an fsync for the entry to be durable).
bool ensure_dir(const fs::path& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0) return true;
  if (errno != EEXIST) fail(ErrorKind::io, dir.string(), "cannot create directory: {}", std::strerror(errno));
  auto r = lstat_path(dir);
  if (!S_ISDIR(r.st.st_mode)) fail(ErrorKind::conflict, dir.string(), "exists and is not a directory");
  return false;
}

fs::path store_of(const fs::path& image) { return parent_of(image) / ".dormant-versions" / image.filename(); }

// Creates the version store of `image`, durably; refuses one that is not on
// the image's filesystem (a mount inside the library), where link(2) fails.
fs::path ensure_store(const fs::path& image, dev_t image_dev) {
  const fs::path top = parent_of(image) / ".dormant-versions";
  const fs::path store = top / image.filename();
  if (ensure_dir(top)) fsync_dir(parent_of(image));
  if (ensure_dir(store)) fsync_dir(top);
  if (lstat_path(store).st.st_dev != image_dev) {
    fail(ErrorKind::unsupported, store.string(),
         "is on another filesystem than the image: versions are kept as hard links");
  }
  return store;
}

std::string sha_prefix(const fs::path& image, const std::string& sha256) {
  if (sha256.size() < kPrefixLength ||
      !std::all_of(sha256.begin(), sha256.end(), [](unsigned char c) { return std::isxdigit(c) != 0; })) {
    fail(ErrorKind::usage, image.string(), "'{}' is not a sha256 in hex", sha256);
  }
  std::string prefix = sha256.substr(0, kPrefixLength);
  for (auto& c : prefix) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return prefix;
}

std::string utc_stamp() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y%m%dT%H%M%SZ", &tm);
  return buffer;
}

// A kept version's name: STAMP-PREFIX, or STAMP-PREFIX-N (N >= 2) for the
// N-th version made in the same second, so names order by creation.
struct VersionName {
  std::string stamp;
  std::string prefix;
  unsigned sequence = 1;
};

std::optional<VersionName> parse_name(const std::string& name) {
  if (name.size() < kStampLength + 1 + kPrefixLength || name[kStampLength] != '-') return std::nullopt;
  VersionName parsed{name.substr(0, kStampLength), name.substr(kStampLength + 1, kPrefixLength), 1};
  for (std::size_t i = 0; i < kStampLength; ++i) {
    char c = parsed.stamp[i];
    bool ok = i == 8 ? c == 'T' : i == 15 ? c == 'Z' : std::isdigit(static_cast<unsigned char>(c)) != 0;
    if (!ok) return std::nullopt;
  }
  if (!std::all_of(parsed.prefix.begin(), parsed.prefix.end(),
                   [](unsigned char c) { return std::isxdigit(c) != 0; }))
    return std::nullopt;
  std::string rest = name.substr(kStampLength + 1 + kPrefixLength);
  if (!rest.empty()) {
    if (rest[0] != '-' || rest.size() < 2) return std::nullopt;
    auto [end, ec] = std::from_chars(rest.data() + 1, rest.data() + rest.size(), parsed.sequence);
    if (ec != std::errc() || end != rest.data() + rest.size() || parsed.sequence < 2) return std::nullopt;
  }
  return parsed;
}

std::string iso_from_stamp(const std::string& stamp) {
  // 20261125T185200Z -> 2026-11-25T18:52:00Z
  return fmt::format("{}-{}-{}T{}:{}:{}Z", stamp.substr(0, 4), stamp.substr(4, 2), stamp.substr(6, 2),
                     stamp.substr(9, 2), stamp.substr(11, 2), stamp.substr(13, 2));
}

struct Listed {
  ImageVersion version;
  VersionName name;
};

std::vector<Listed> list_store(const fs::path& image) {
  std::vector<Listed> out;
  const fs::path store = store_of(image);
  std::error_code ec;
  if (!fs::is_directory(fs::symlink_status(store, ec))) return out;
  for (const auto& entry : fs::directory_iterator(store, ec)) {
    if (!entry.is_regular_file(ec) || entry.is_symlink(ec)) continue;
    auto name = parse_name(entry.path().filename().string());
    if (!name) continue;  // not ours (or a temp name)
    Listed l{{entry.path(), iso_from_stamp(name->stamp), name->prefix, 0}, *name};
    l.version.size = entry.file_size(ec);
    out.push_back(std::move(l));
  }
  if (ec) fail(ErrorKind::io, store.string(), "cannot list versions: {}", ec.message());
  std::sort(out.begin(), out.end(), [](const Listed& a, const Listed& b) {
    if (a.name.stamp != b.name.stamp) return a.name.stamp > b.name.stamp;
    if (a.name.sequence != b.name.sequence) return a.name.sequence > b.name.sequence;
    return a.version.path > b.version.path;
  });
  return out;
}

// Hard-links `image` into its store under a fresh name; returns that name.
fs::path keep_current(const fs::path& image, const fs::path& store, const std::string& prefix) {
  const std::string stamp = utc_stamp();
  // Names made in this second so far decide the sequence: the new name must
  // sort after them whatever their sha prefixes.
  unsigned sequence = 1;
  for (const auto& l : list_store(image))
    if (l.name.stamp == stamp) sequence = std::max(sequence, l.name.sequence + 1);
  for (;; ++sequence) {
    std::string name = stamp + "-" + prefix;
    if (sequence > 1) name += "-" + std::to_string(sequence);
    fs::path target = store / name;
    if (::link(image.c_str(), target.c_str()) == 0) return target;
    if (errno == EEXIST) continue;
    if (errno == EXDEV) {
      fail(ErrorKind::unsupported, image.string(),
           "cannot keep the current version: {} is on another filesystem", store.string());
    }
    fail(ErrorKind::io, image.string(), "cannot link the current version to {}: {}", target.string(),
         std::strerror(errno));
  }
}

void rename_over(const fs::path& from, const fs::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    if (errno == EXDEV)
      fail(ErrorKind::unsupported, to.string(), "{} is on another filesystem: cannot replace atomically",
           from.string());
    fail(ErrorKind::io, to.string(), "cannot rename {} over it: {}", from.string(), std::strerror(errno));
  }
}

}  // namespace

fs::path work_dir_for(const fs::path& library_dir, const std::string& run_id) {
  if (run_id.empty() || run_id == "." || run_id == ".." || run_id.find('/') != std::string::npos ||
      run_id.find('\0') != std::string::npos) {
    fail(ErrorKind::usage, library_dir.string(), "'{}' is not a valid run id", run_id);
  }
  const fs::path top = library_dir / ".dormant-work";
  if (ensure_dir(top)) fsync_dir(library_dir);
  const fs::path dir = top / run_id;
  if (ensure_dir(dir)) fsync_dir(top);
  return dir;
}

fs::path replace_keeping_version(const fs::path& image, const fs::path& candidate,
                                 const std::string& current_sha256, std::size_t keep) {
  const std::string prefix = sha_prefix(image, current_sha256);
  const struct stat img = regular_file(image);
  const struct stat cand = regular_file(candidate);
  if (img.st_dev != cand.st_dev) {
    fail(ErrorKind::unsupported, image.string(),
         "the new version {} is on another filesystem: rename(2) could not replace the image atomically",
         candidate.string());
  }
  if (img.st_ino == cand.st_ino)
    fail(ErrorKind::usage, image.string(), "the new version is the image itself");

  // The new image takes the old one's owner, group and mode, so whatever
  // uses the image (libvirt, a backup job) sees no change but the content.
  // chown first: it clears set-id bits that chmod then restores.
  int fd = ::open(candidate.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(ErrorKind::io, candidate.string(), "cannot open: {}", std::strerror(errno));
  int rc = ::fchown(fd, img.st_uid, img.st_gid);
  if (rc == 0) rc = ::fchmod(fd, img.st_mode & 07777);
  if (rc == 0) rc = ::fsync(fd);  // the bytes are durable before the name points at them
  int err = errno;
  ::close(fd);
  if (rc != 0)
    fail(ErrorKind::io, candidate.string(), "cannot prepare as the new image: {}", std::strerror(err));

  fs::path kept;
  if (keep > 0) kept = keep_current(image, ensure_store(image, img.st_dev), prefix);
  try {
    rename_over(candidate, image);
  } catch (...) {
    if (!kept.empty()) ::unlink(kept.c_str());  // the image is unchanged: no version to keep
    throw;
  }
  fsync_dir(parent_of(image));
  if (parent_of(candidate) != parent_of(image)) fsync_dir(parent_of(candidate));
  if (!kept.empty()) fsync_dir(kept.parent_path());
  // Retention is housekeeping: the replace has happened, so a failure here
  // must not report it as failed; the next replace or prune tries again.
  try {
    prune_versions(image, keep);
  } catch (const Error&) {
  }
  return kept;
}

std::vector<ImageVersion> list_versions(const fs::path& image) {
  std::vector<ImageVersion> out;
  for (auto& l : list_store(image)) out.push_back(std::move(l.version));
  return out;
}

ImageVersion rollback(const fs::path& image, const std::string& current_sha256, const fs::path& version) {
  const std::string prefix = sha_prefix(image, current_sha256);
  const struct stat img = regular_file(image);
  auto versions = list_store(image);
  if (versions.empty()) fail(ErrorKind::not_found, image.string(), "no kept version to roll back to");
  const Listed* chosen = &versions.front();
  if (!version.empty()) {
    chosen = nullptr;
    for (const auto& l : versions) {
      std::error_code ec;
      if (l.version.path.filename() == version.filename() && fs::equivalent(l.version.path, version, ec)) {
        chosen = &l;
        break;
      }
    }
    if (!chosen) fail(ErrorKind::not_found, version.string(), "is not a kept version of {}", image.string());
  }
  const ImageVersion restored = chosen->version;
  const struct stat old = regular_file(restored.path);
  if (old.st_dev != img.st_dev) {
    fail(ErrorKind::unsupported, restored.path.string(),
         "is on another filesystem than the image: cannot restore it atomically");
  }
  // Keep the image being replaced first, so the rollback can be undone; the
  // chosen version then leaves the store by becoming the image.
  const fs::path store = ensure_store(image, img.st_dev);
  const fs::path kept = keep_current(image, store, prefix);
  try {
    rename_over(restored.path, image);
  } catch (...) {
    ::unlink(kept.c_str());
    throw;
  }
  fsync_dir(parent_of(image));
  fsync_dir(store);
  return restored;
}

std::vector<fs::path> prune_versions(const fs::path& image, std::size_t keep) {
  std::vector<fs::path> removed;
  auto versions = list_store(image);
  for (std::size_t i = keep; i < versions.size(); ++i) {
    const auto& path = versions[i].version.path;
    if (::unlink(path.c_str()) != 0)
      fail(ErrorKind::io, path.string(), "cannot remove old version: {}", std::strerror(errno));
    removed.push_back(path);
  }
  if (!removed.empty()) fsync_dir(store_of(image));
  return removed;
}

}  // namespace dormant::patch
