// GuestView over a libguestfs appliance: the fallback for LVM, XFS, btrfs and
// LUKS. The guest's filesystems are mounted read-only inside the appliance
// (a small VM), never by the host kernel, and every path is resolved by the
// appliance's daemon chrooted into /sysroot, so a guest symlink cannot reach
// a host file: at worst it names another file of the same guest.
#include "dormant/image/guestfs_view.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dormant/core/error.hpp"
#include "guestfs_api.hpp"

namespace dormant::image {
namespace {

// libguestfs returns malloc'd strings and NULL-terminated arrays of them.
struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using CString = std::unique_ptr<char, FreeDeleter>;

std::vector<std::string> take_strings(char** list) {
  std::vector<std::string> out;
  if (list == nullptr) return out;
  for (char** p = list; *p != nullptr; ++p) {
    out.emplace_back(*p);
    std::free(*p);
  }
  std::free(list);
  return out;
}

struct StatnsDeleter {
  void operator()(struct guestfs_statns* s) const { guestfs_api().guestfs_free_statns(s); }
};
using Statns = std::unique_ptr<struct guestfs_statns, StatnsDeleter>;

struct HandleDeleter {
  void operator()(guestfs_h* g) const {
    // Read-only: nothing to flush, but unmount cleanly before the appliance
    // goes, then close (which also reaps qemu and removes temp files).
    guestfs_api().guestfs_umount_all(g);
    guestfs_api().guestfs_shutdown(g);
    guestfs_api().guestfs_close(g);
  }
};
using Handle = std::unique_ptr<guestfs_h, HandleDeleter>;

// The protocol caps one message at a few MiB; larger files come in chunks.
constexpr std::size_t kChunk = std::size_t{2} * 1024 * 1024;

FileType file_type_of(std::int64_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return FileType::regular;
    case S_IFDIR:
      return FileType::directory;
    case S_IFLNK:
      return FileType::symlink;
    default:
      return FileType::other;
  }
}

std::vector<std::string> split_settings(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    auto colon = text.find(':');
    auto item = text.substr(0, colon);
    if (!item.empty()) out.emplace_back(item);
    if (colon == std::string_view::npos) break;
    text.remove_prefix(colon + 1);
  }
  return out;
}

bool contains(const std::vector<std::string>& items, std::string_view wanted) {
  return std::find(items.begin(), items.end(), wanted) != items.end();
}

class GuestfsView final : public GuestView {
 public:
  GuestfsView(const ImageProbe& probe, const std::vector<std::string>& luks_keys)
      : subject_(probe.path.string()) {
    require_pinned_backing_format(probe);
    launch(probe);
    open_luks(luks_keys);
    mount_guest();
  }

  std::string_view access() const override { return "guestfs"; }

  std::optional<std::string> read_file(std::string_view path, std::uint64_t cap, bool follow_final) override {
    auto p = checked_path(path);
    auto st = stat_of(p, follow_final);
    if (!st) return std::nullopt;
    auto type = file_type_of(st->st_mode);
    if (type == FileType::symlink)
      fail(ErrorKind::unsupported, subject_, "{}: is a symlink and following it was not asked for", p);
    if (type != FileType::regular) fail(ErrorKind::unsupported, subject_, "{}: is not a regular file", p);
    auto size = static_cast<std::uint64_t>(st->st_size);
    if (size > cap)
      fail(ErrorKind::limit, subject_, "{}: file is {} bytes, over the {} byte cap", p, size, cap);

    // Sized from the stat and bounded by the cap: the filesystem is mounted
    // read-only, so the file cannot grow behind our back, but a short read
    // (EOF) still ends the loop.
    std::string content;
    content.reserve(size);
    while (content.size() < size) {
      std::size_t want = std::min<std::uint64_t>(kChunk, size - content.size());
      std::size_t got = 0;
      CString chunk(guestfs_api().guestfs_pread(g_.get(), p.c_str(), static_cast<int>(want),
                                                static_cast<std::int64_t>(content.size()), &got));
      if (!chunk) fail_guestfs(p + ": cannot read");
      if (got == 0) break;
      content.append(chunk.get(), std::min(got, want));
    }
    return content;
  }

  std::optional<std::vector<std::string>> list_dir(std::string_view path, std::size_t max_entries) override {
    auto p = checked_path(path);
    auto st = stat_of(p, true);
    if (!st) return std::nullopt;
    if (file_type_of(st->st_mode) != FileType::directory)
      fail(ErrorKind::unsupported, subject_, "{}: is not a directory", p);
    char** names = guestfs_api().guestfs_ls(g_.get(), p.c_str());
    if (names == nullptr) fail_guestfs(p + ": cannot list");
    auto out = take_strings(names);
    if (out.size() > max_entries)
      fail(ErrorKind::limit, subject_, "{}: directory has {} entries, over the {} entry cap", p, out.size(),
           max_entries);
    return out;
  }

  std::optional<FileType> type_of(std::string_view path, bool follow_final) override {
    auto p = checked_path(path);
    auto st = stat_of(p, follow_final);
    if (!st) return std::nullopt;
    return file_type_of(st->st_mode);
  }

  std::vector<MountInfo> mounts() const override { return mounts_; }

 private:
  [[noreturn]] void fail_guestfs(const std::string& what, ErrorKind kind = ErrorKind::io) const {
    const char* msg = g_ ? guestfs_api().guestfs_last_error(g_.get()) : nullptr;
    fail(kind, subject_, "{}: libguestfs: {}", what, msg != nullptr ? msg : "unknown error");
  }

  std::string checked_path(std::string_view path) const {
    if (path.empty() || path.front() != '/')
      fail(ErrorKind::usage, subject_, "guest path '{}' is not absolute", path);
    if (path.find('\0') != std::string_view::npos)
      fail(ErrorKind::usage, subject_, "guest path contains a NUL byte");
    return std::string(path);
  }

  // Null when the path (or, following, the symlink's target) does not exist.
  Statns stat_of(const std::string& p, bool follow) {
    Statns st(follow ? guestfs_api().guestfs_statns(g_.get(), p.c_str())
                     : guestfs_api().guestfs_lstatns(g_.get(), p.c_str()));
    if (st) return st;
    int err = guestfs_api().guestfs_last_errno(g_.get());
    // ELOOP: a symlink cycle, or a chain longer than the kernel's bound
    // (40): dangling as far as the guest is concerned.
    if (err == ENOENT || err == ENOTDIR || err == ELOOP) return nullptr;
    fail_guestfs(p + ": cannot stat");
  }

  Handle create_handle(const ImageProbe& probe, const std::vector<std::string>& settings) {
    // No environment parsing: LIBGUESTFS_DEBUG/TRACE would print to stderr
    // and LIBGUESTFS_HV could swap the hypervisor. The few variables that
    // matter for where it runs are honoured explicitly below.
    Handle g(guestfs_api().guestfs_create_flags(GUESTFS_CREATE_NO_ENVIRONMENT));
    if (!g) fail(ErrorKind::io, subject_, "cannot create a libguestfs handle");
    guestfs_api().guestfs_set_error_handler(g.get(), nullptr, nullptr);  // errors come back as Error
    const char* backend = std::getenv("LIBGUESTFS_BACKEND");
    // "direct" by default: the libvirt backend needs a running libvirtd.
    if (guestfs_api().guestfs_set_backend(g.get(),
                                          backend != nullptr && *backend != '\0' ? backend : "direct") == -1)
      fail_guestfs_on(g.get(), "cannot set the backend");
    if (!settings.empty()) {
      std::vector<char*> argv;
      argv.reserve(settings.size() + 1);
      for (const auto& s : settings) argv.push_back(const_cast<char*>(s.c_str()));
      argv.push_back(nullptr);
      if (guestfs_api().guestfs_set_backend_settings(g.get(), argv.data()) == -1)
        fail_guestfs_on(g.get(), "cannot set the backend settings");
    }
    for (auto [var, setter] : {std::pair{"TMPDIR", guestfs_api().guestfs_set_tmpdir},
                               std::pair{"LIBGUESTFS_CACHEDIR", guestfs_api().guestfs_set_cachedir}}) {
      const char* value = std::getenv(var);
      if (value != nullptr && *value != '\0' && setter(g.get(), value) == -1)
        fail_guestfs_on(g.get(), std::string("cannot use ") + var);
    }
    guestfs_api().guestfs_set_network(g.get(), 0);
    std::string format(to_string(probe.format));
    // Read-only (qemu snapshot=on: the image file is never written) and the
    // format pinned, so libguestfs never guesses it from guest-controlled bytes.
    if (guestfs_api().guestfs_add_drive_opts(g.get(), probe.path.c_str(), GUESTFS_ADD_DRIVE_OPTS_READONLY, 1,
                                             GUESTFS_ADD_DRIVE_OPTS_FORMAT, format.c_str(), -1) == -1)
      fail_guestfs_on(g.get(), "cannot add the image");
    return g;
  }

  [[noreturn]] void fail_guestfs_on(guestfs_h* g, const std::string& what) const {
    const char* msg = guestfs_api().guestfs_last_error(g);
    fail(ErrorKind::io, subject_, "{}: libguestfs: {}", what, msg != nullptr ? msg : "unknown error");
  }

  void launch(const ImageProbe& probe) {
    const char* env = std::getenv("LIBGUESTFS_BACKEND_SETTINGS");
    auto settings = split_settings(env != nullptr ? env : "");
    g_ = create_handle(probe, settings);
    if (guestfs_api().guestfs_launch(g_.get()) == 0) return;
    std::string first = guestfs_api().guestfs_last_error(g_.get()) != nullptr
                            ? guestfs_api().guestfs_last_error(g_.get())
                            : "unknown error";
    // Nested KVM can be advertised and still abort qemu at start (seen here:
    // kvm_buf_set_msrs assertion); that failure is quick, so one retry under
    // TCG costs little. A handle cannot be relaunched, hence a new one.
    if (contains(settings, "force_tcg"))
      fail(ErrorKind::io, subject_, "cannot launch the libguestfs appliance: {}; run libguestfs-test-tool",
           first);
    settings.emplace_back("force_tcg");
    g_ = create_handle(probe, settings);
    if (guestfs_api().guestfs_launch(g_.get()) == -1)
      fail_guestfs(
          "cannot launch the libguestfs appliance (also tried without KVM); run libguestfs-test-tool");
  }

  // Whole disks, partitions and LVs whose signature is LUKS. Not from
  // guestfs_list_filesystems: it leaves crypto_LUKS out.
  std::vector<std::string> find_luks_devices() {
    std::vector<std::string> candidates;
    for (auto lister : {guestfs_api().guestfs_list_devices, guestfs_api().guestfs_list_partitions,
                        guestfs_api().guestfs_lvs}) {
      char** list = lister(g_.get());
      if (list == nullptr) fail_guestfs("cannot list block devices");
      auto names = take_strings(list);
      candidates.insert(candidates.end(), names.begin(), names.end());
    }
    std::vector<std::string> luks;
    for (const auto& device : candidates) {
      // A device with no recognisable signature is an error here: not LUKS.
      CString type(guestfs_api().guestfs_vfs_type(g_.get(), device.c_str()));
      if (type && std::strcmp(type.get(), "crypto_LUKS") == 0) luks.push_back(device);
    }
    return luks;
  }

  void open_luks(const std::vector<std::string>& keys) {
    int opened = 0;
    for (const auto& device : find_luks_devices()) {
      luks_devices_.push_back(device);
      std::string mapname = "luks" + std::to_string(luks_devices_.size());
      bool ok = false;
      for (const auto& key : keys) {
        if (guestfs_api().guestfs_cryptsetup_open(g_.get(), device.c_str(), key.c_str(), mapname.c_str(),
                                                  GUESTFS_CRYPTSETUP_OPEN_READONLY, 1, -1) == 0) {
          ok = true;
          break;
        }
      }
      if (ok) {
        ++opened;
      } else {
        skipped_.push_back(fmt::format("{}: LUKS volume not opened: none of the {} given keys opens it",
                                       device, keys.size()));
      }
    }
    // LVM inside LUKS only appears once the volume is open.
    if (opened > 0 && guestfs_api().guestfs_lvm_scan(g_.get(), 1) == -1)
      fail_guestfs("cannot scan for LVM inside LUKS");
  }

  void mount_guest() {
    char** roots_raw = guestfs_api().guestfs_inspect_os(g_.get());
    if (roots_raw == nullptr) fail_guestfs("cannot inspect the disk");
    auto roots = take_strings(roots_raw);
    std::string root;
    for (const auto& r : roots) {
      CString type(guestfs_api().guestfs_inspect_get_type(g_.get(), r.c_str()));
      if (type && std::strcmp(type.get(), "linux") == 0) {
        root = r;
        break;
      }
    }
    if (root.empty()) {
      std::string why = roots.empty() ? "no operating system found" : "no Linux root found";
      if (!luks_devices_.empty() && !skipped_.empty())
        fail(ErrorKind::unsupported, subject_,
             "{}: the disk holds {} LUKS volume(s) that no given key opens ({}); "
             "pass its passphrase as a LUKS key",
             why, luks_devices_.size(), skipped_.front());
      fail(ErrorKind::unsupported, subject_, "{} on the disk (libguestfs inspection found {} root(s))", why,
           roots.size());
    }

    char** mp_raw = guestfs_api().guestfs_inspect_get_mountpoints(g_.get(), root.c_str());
    if (mp_raw == nullptr) fail_guestfs("cannot read the guest's mountpoints");
    auto flat = take_strings(mp_raw);
    std::vector<std::pair<std::string, std::string>> mps;  // mountpoint, device
    for (std::size_t i = 0; i + 1 < flat.size(); i += 2) mps.emplace_back(flat[i], flat[i + 1]);
    // Parents before children: "/" then "/var" then "/var/lib".
    std::stable_sort(mps.begin(), mps.end(),
                     [](const auto& a, const auto& b) { return a.first.size() < b.first.size(); });
    for (const auto& [mountpoint, device] : mps) {
      if (guestfs_api().guestfs_mount_ro(g_.get(), device.c_str(), mountpoint.c_str()) == -1) {
        const char* msg = guestfs_api().guestfs_last_error(g_.get());
        if (mountpoint == "/")
          fail(ErrorKind::corrupt, subject_, "cannot mount the root filesystem {}: libguestfs: {}", device,
               msg != nullptr ? msg : "unknown error");
        skipped_.push_back(fmt::format("{} on {}: not mounted: {}", device, mountpoint,
                                       msg != nullptr ? msg : "unknown error"));
        continue;
      }
      mounts_.push_back(describe(mountpoint, device));
    }
  }

  MountInfo describe(const std::string& mountpoint, const std::string& device) {
    MountInfo info;
    info.mountpoint = mountpoint;
    CString canonical(guestfs_api().guestfs_canonical_device_name(g_.get(), device.c_str()));
    info.device = canonical ? canonical.get() : device;
    if (CString type{guestfs_api().guestfs_vfs_type(g_.get(), device.c_str())}) info.fstype = type.get();
    if (CString uuid{guestfs_api().guestfs_vfs_uuid(g_.get(), device.c_str())}) info.uuid = uuid.get();
    return info;
  }

  std::string subject_;
  Handle g_;
  std::vector<std::string> luks_devices_;
  // Why a volume or fstab entry was left out; reads below such a mountpoint
  // see the directory of the filesystem underneath instead.
  std::vector<std::string> skipped_;
  std::vector<MountInfo> mounts_;
};

}  // namespace

std::unique_ptr<GuestView> open_guestfs_view(const ImageProbe& probe,
                                             const std::vector<std::string>& luks_keys) {
  return std::make_unique<GuestfsView>(probe, luks_keys);
}

}  // namespace dormant::image
