// open_guest_writer: the guest assembled as open_guest does, but over a
// writable qemu-nbd export of a qcow2 overlay, with an ExtWriter per mounted
// filesystem. Paths are resolved here: the longest mountpoint prefix picks the
// filesystem, then every component below it must be a real directory inode.
#include "dormant/image/guest_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "dormant/core/error.hpp"
#include "ext_filesystem.hpp"
#include "ext_writer.hpp"
#include "path_components.hpp"

namespace dormant::image {

namespace {

constexpr std::size_t max_path_length = 4096;

// A host file opened for reading, closed on scope exit.
class HostFile {
 public:
  explicit HostFile(const std::filesystem::path& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0)
      fail(errno == ENOENT ? ErrorKind::not_found : ErrorKind::io, path.string(),
           "cannot open for reading: {}", std::strerror(errno));
    struct stat st {};
    if (::fstat(fd_, &st) != 0) fail(ErrorKind::io, path.string(), "cannot stat: {}", std::strerror(errno));
    if (!S_ISREG(st.st_mode)) {
      ::close(fd_);
      fail(ErrorKind::usage, path.string(), "not a regular file");
    }
    size_ = static_cast<std::uint64_t>(st.st_size);
  }
  ~HostFile() { ::close(fd_); }
  HostFile(const HostFile&) = delete;
  HostFile& operator=(const HostFile&) = delete;

  std::uint64_t size() const { return size_; }
  void read(std::uint64_t offset, std::span<std::byte> out) const {
    std::size_t done = 0;
    while (done < out.size()) {
      ssize_t got = ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0)
        fail(ErrorKind::io, path_.string(), "read at byte {} failed: {}", offset + done,
             std::strerror(errno));
      if (got == 0)
        fail(ErrorKind::io, path_.string(),
             "file shrank while being copied into the guest (end at byte {} of {})", offset + done, size_);
      done += static_cast<std::size_t>(got);
    }
  }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

bool is_prefix(const std::vector<std::string>& prefix, const std::vector<std::string>& path) {
  return prefix.size() <= path.size() && std::equal(prefix.begin(), prefix.end(), path.begin());
}

std::string join(const std::vector<std::string>& parts, std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i) out += "/" + parts[i];
  return out.empty() ? "/" : out;
}

class ExtGuestWriter final : public GuestWriter {
 public:
  explicit ExtGuestWriter(OpenedGuest guest)
      : guest_(std::move(guest)), subject_(guest_.probe.path.string()) {
    const auto infos = guest_.view->mounts();
    if (infos.size() != guest_.mounted.size())
      fail(ErrorKind::internal, subject_, "{} mounts but {} mounted filesystems", infos.size(),
           guest_.mounted.size());
    for (std::size_t i = 0; i < infos.size(); ++i) {
      const MountInfo& info = infos[i];
      auto* ext = dynamic_cast<ExtFilesystem*>(guest_.mounted[i]);
      if (ext == nullptr)
        fail(ErrorKind::unsupported, subject_, "{} is on {} ({}): no offline write path for it",
             info.mountpoint, info.fstype, info.device);
      std::string where = info.device == "whole disk" ? fmt::format("{} on the whole disk", info.mountpoint)
                                                      : fmt::format("{} at {}", info.mountpoint, info.device);
      WritableFilesystem fs{info.mountpoint, info.fstype, info.uuid,
                            info.offset,     info.length, ext->needs_recovery()};
      mounts_.push_back({std::move(fs), path_components(info.mountpoint), ext,
                         std::make_unique<ExtWriter>(*ext, subject_, std::move(where))});
    }
  }

  GuestView& view() override {
    require_open();
    return *guest_.view;
  }

  std::vector<WritableFilesystem> filesystems() const override {
    std::vector<WritableFilesystem> out;
    for (const auto& mount : mounts_) out.push_back(mount.info);
    return out;
  }

  WritableFilesystem filesystem_of(std::string_view path) const override {
    return mounts_[mount_index(split(path))].info;
  }

  std::uint64_t free_bytes(std::string_view path) override {
    require_open();
    return mounts_[mount_index(split(path))].writer->free_bytes();
  }

  void mkdir_p(std::string_view path, unsigned mode) override {
    require_open();
    const auto parts = split(path);
    Mount& mount = mounts_[mount_index(parts)];
    mount.writer->check_writable();
    ext2_ino_t dir = EXT2_ROOT_INO;
    for (std::size_t i = mount.prefix.size(); i < parts.size(); ++i) {
      auto entry = mount.writer->lookup(dir, parts[i]);
      if (!entry) {
        dir = mount.writer->mkdir(dir, parts[i], mode);
        continue;
      }
      if (!LINUX_S_ISDIR(entry->mode)) {
        if (i + 1 == parts.size() && !LINUX_S_ISLNK(entry->mode))
          fail(ErrorKind::conflict, subject_, "guest path {} exists and is not a directory",
               join(parts, i + 1));
        refuse_component(parts, i, entry->mode);
      }
      dir = entry->ino;
    }
  }

  void write_file(std::string_view path, const std::filesystem::path& source, unsigned mode) override {
    require_open();
    HostFile file(source);
    WriteSource data{file.size(),
                     [&file](std::uint64_t offset, std::span<std::byte> out) { file.read(offset, out); }};
    create(path, [&](ExtWriter& writer, ext2_ino_t parent, const std::string& name) {
      writer.write_file(parent, name, data, mode);
    });
  }

  void write_text(std::string_view path, std::string_view content, unsigned mode) override {
    require_open();
    WriteSource data{content.size(), [content](std::uint64_t offset, std::span<std::byte> out) {
                       std::memcpy(out.data(), content.data() + offset, out.size());
                     }};
    create(path, [&](ExtWriter& writer, ext2_ino_t parent, const std::string& name) {
      writer.write_file(parent, name, data, mode);
    });
  }

  void symlink(std::string_view path, std::string_view target) override {
    require_open();
    create(path, [&](ExtWriter& writer, ext2_ino_t parent, const std::string& name) {
      writer.symlink(parent, name, target);
    });
  }

  void close() override {
    if (closed_) return;
    closed_ = true;
    // Every filesystem opened writable, mounted or not: ext2fs_close_free
    // writes only what changed (nothing for the untouched ones).
    for (auto& fs : guest_.filesystems)
      if (auto* ext = dynamic_cast<ExtFilesystem*>(fs.get())) ext->close();
    guest_.disk->flush();
    guest_.view.reset();
    guest_.mounted.clear();
    guest_.filesystems.clear();
    guest_.partitions.clear();
    guest_.disk.reset();  // stops qemu-nbd (nbd_shutdown flushes once more)
  }

 private:
  struct Mount {
    WritableFilesystem info;
    std::vector<std::string> prefix;  // the mountpoint's components
    ExtFilesystem* fs;
    std::unique_ptr<ExtWriter> writer;
  };

  void require_open() const {
    if (closed_) fail(ErrorKind::usage, subject_, "the guest writer is closed");
  }

  // Components of an absolute guest path that dormant itself chose: "." and
  // ".." are refused rather than interpreted.
  std::vector<std::string> split(std::string_view path) const {
    if (path.empty() || path.front() != '/')
      fail(ErrorKind::usage, subject_, "guest path '{}' is not absolute", path);
    if (path.size() > max_path_length)
      fail(ErrorKind::limit, subject_, "guest path of {} bytes is longer than {}", path.size(),
           max_path_length);
    if (path.find('\0') != std::string_view::npos)
      fail(ErrorKind::usage, subject_, "guest path contains a NUL byte");
    auto parts = path_components(path);
    for (const auto& part : parts) {
      if (part == "." || part == "..")
        fail(ErrorKind::usage, subject_, "guest path {} contains '{}'; write paths must be canonical", path,
             part);
      if (part.size() > EXT2_NAME_LEN)
        fail(ErrorKind::limit, subject_, "guest path {}: component of {} bytes is longer than {}", path,
             part.size(), EXT2_NAME_LEN);
    }
    return parts;
  }

  std::size_t mount_index(const std::vector<std::string>& parts) const {
    std::size_t best = 0;
    for (std::size_t i = 0; i < mounts_.size(); ++i)
      if (is_prefix(mounts_[i].prefix, parts) && mounts_[i].prefix.size() >= mounts_[best].prefix.size())
        best = i;
    return best;  // mounts_[0] is "/", a prefix of everything
  }

  [[noreturn]] void refuse_component(const std::vector<std::string>& parts, std::size_t i,
                                     std::uint16_t mode) const {
    if (LINUX_S_ISLNK(mode))
      fail(ErrorKind::hostile, subject_,
           "guest path {}: {} is a symlink in the guest; dormant never follows guest symlinks when writing",
           join(parts, parts.size()), join(parts, i + 1));
    fail(ErrorKind::hostile, subject_, "guest path {}: {} is not a directory in the guest",
         join(parts, parts.size()), join(parts, i + 1));
  }

  // Resolves the parent directory of a new entry (it must exist, every
  // component a real directory), refuses an existing name, then runs `make`.
  template <typename Make>
  void create(std::string_view path, Make&& make) {
    const auto parts = split(path);
    Mount& mount = mounts_[mount_index(parts)];
    if (parts.size() == mount.prefix.size())
      fail(ErrorKind::conflict, subject_, "guest path {} exists (it is the mountpoint of a filesystem)",
           path);
    mount.writer->check_writable();
    ext2_ino_t dir = EXT2_ROOT_INO;
    for (std::size_t i = mount.prefix.size(); i + 1 < parts.size(); ++i) {
      auto entry = mount.writer->lookup(dir, parts[i]);
      if (!entry)
        fail(ErrorKind::not_found, subject_, "guest path {}: directory {} does not exist", path,
             join(parts, i + 1));
      if (!LINUX_S_ISDIR(entry->mode)) refuse_component(parts, i, entry->mode);
      dir = entry->ino;
    }
    if (mount.writer->lookup(dir, parts.back()))
      fail(ErrorKind::conflict, subject_, "guest path {} exists already", path);
    make(*mount.writer, dir, parts.back());
  }

  OpenedGuest guest_;
  std::string subject_;
  std::vector<Mount> mounts_;
  bool closed_ = false;
};

}  // namespace

std::unique_ptr<GuestWriter> open_guest_writer(const std::filesystem::path& overlay,
                                               const ProbeOptions& probe_options) {
  OpenOptions options;
  options.probe = probe_options;
  options.allow_guestfs = false;
  // open_guest refuses to open anything but a qcow2 with a backing file
  // writable: the library image itself is never written.
  options.writable = true;
  return std::make_unique<ExtGuestWriter>(open_guest(overlay, options));
}

}  // namespace dormant::image
