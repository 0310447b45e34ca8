#include "finalize_guest.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "dormant/core/error.hpp"
#include "dormant/image/guest_view.hpp"
#include "dormant/repo/version.hpp"

namespace dormant::patch::detail {
namespace {

constexpr std::string_view kernel_prefix = "vmlinuz-";
constexpr std::string_view initrd_prefix = "initrd.img-";

// Writes `content` to a new file (O_EXCL: the work directory is private and
// a pre-existing name there is not ours), fsynced so that qemu reads it all.
void write_new_file(const std::filesystem::path& path, const std::string& content) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) fail(ErrorKind::io, path.string(), "cannot create: {}", std::strerror(errno));
  std::size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int saved = errno;
      ::close(fd);
      fail(ErrorKind::io, path.string(), "cannot write: {}", std::strerror(saved));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0)
    fail(ErrorKind::io, path.string(), "cannot write: {}", std::strerror(errno));
}

std::string read_boot_file(image::GuestView& view, const std::string& path, std::uint64_t cap) {
  // read_file follows symlinks inside the guest root only and throws
  // unsupported for anything but a regular file, limit over the cap.
  auto content = view.read_file(path, cap);
  if (!content) fail(ErrorKind::unsupported, path, "vanished from the guest while reading it");
  if (content->empty()) fail(ErrorKind::unsupported, path, "is empty in the guest; it cannot be booted");
  return std::move(*content);
}

}  // namespace

std::optional<KernelPair> choose_kernel(const std::vector<std::string>& boot_names) {
  std::optional<std::string> best;
  for (const std::string& name : boot_names) {
    if (!name.starts_with(kernel_prefix) || name.size() == kernel_prefix.size()) continue;
    const std::string version = name.substr(kernel_prefix.size());
    // Only a kernel with its own initrd: Debian kernels need it for the root fs.
    if (std::find(boot_names.begin(), boot_names.end(), std::string(initrd_prefix) + version) ==
        boot_names.end())
      continue;
    if (!best || repo::compare_versions(version, *best) > 0) best = version;
  }
  if (!best) return std::nullopt;
  return KernelPair{"/boot/" + std::string(kernel_prefix) + *best,
                    "/boot/" + std::string(initrd_prefix) + *best};
}

BootFiles extract_boot_files(const std::filesystem::path& overlay, const std::filesystem::path& work_dir,
                             std::uint64_t cap) {
  image::OpenOptions options;
  // The overlay is dormant's own (create_overlay from a probed library
  // image, backing format pinned), in a work directory beside or away from
  // the library: its backing reference was confined when it was made.
  options.probe.allowed_roots = {"/"};
  options.probe.format = image::ImageFormat::qcow2;
  options.allow_guestfs = false;
  image::OpenedGuest guest = image::open_guest(overlay, options);
  image::GuestView& view = *guest.view;

  BootFiles files;
  for (const image::MountInfo& mount : view.mounts())
    if (mount.mountpoint == "/") files.root_uuid = mount.uuid;
  if (files.root_uuid.empty())
    fail(ErrorKind::unsupported, overlay.string(),
         "the root filesystem has no UUID, so the kernel cannot be told where / is");

  const auto is_file = [&](const char* path) { return view.type_of(path) == image::FileType::regular; };
  if (is_file("/vmlinuz") && is_file("/initrd.img")) {
    files.guest = {"/vmlinuz", "/initrd.img"};
  } else {
    auto names = view.list_dir("/boot", 10000);
    auto pair = names ? choose_kernel(*names) : std::nullopt;
    if (!pair)
      fail(ErrorKind::unsupported, overlay.string(),
           "the guest has no kernel with an initrd (/vmlinuz and /initrd.img, or /boot/vmlinuz-V with "
           "/boot/initrd.img-V); --finalize boots the guest's own kernel directly");
    files.guest = *pair;
  }
  files.kernel = work_dir / "vmlinuz";
  files.initrd = work_dir / "initrd.img";
  // A retry in the same (private) work directory replaces the copies.
  std::filesystem::remove(files.kernel);
  std::filesystem::remove(files.initrd);
  write_new_file(files.kernel, read_boot_file(view, files.guest.kernel, cap));
  write_new_file(files.initrd, read_boot_file(view, files.guest.initrd, cap));
  return files;
}

}  // namespace dormant::patch::detail
