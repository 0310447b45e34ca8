// A read-only view of a guest's directory tree assembled from its root
// filesystem and /etc/fstab, with two implementations: "fast" (libext2fs over
// NBD, milliseconds) and "guestfs" (libguestfs appliance, for LVM, XFS, btrfs
// and LUKS; about a minute under TCG).
//
// Guest content is hostile: every path is resolved inside the guest root (an
// absolute symlink restarts at the guest root, ".." stops at it), symlink
// chains are bounded, and every read is capped.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dormant/image/filesystem.hpp"
#include "dormant/image/probe.hpp"

namespace dormant::image {

struct MountInfo {
  std::string mountpoint;  // "/", "/var"
  std::string device;      // "partition 2", "/dev/vg0/root"
  std::string fstype;      // "ext4"
  std::string uuid;
  // Fast path: where the filesystem lies on the virtual disk (length 0 on
  // the guestfs path).
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

class GuestView {
 public:
  virtual ~GuestView() = default;
  virtual std::string_view access() const = 0;  // "fast" or "guestfs"
  // Content of the regular file at an absolute guest path. nullopt when it
  // does not exist. Error(limit) over `cap`; Error(unsupported) when it is not
  // a regular file (or, with follow_final false, when it is a symlink).
  virtual std::optional<std::string> read_file(std::string_view path, std::uint64_t cap,
                                               bool follow_final = true) = 0;
  // Names in a directory; nullopt when it does not exist.
  virtual std::optional<std::vector<std::string>> list_dir(std::string_view path,
                                                           std::size_t max_entries = 100000) = 0;
  // Type of the entry at path; nullopt when absent.
  virtual std::optional<FileType> type_of(std::string_view path, bool follow_final = true) = 0;
  virtual std::vector<MountInfo> mounts() const = 0;
};

struct OpenOptions {
  ProbeOptions probe;
  bool allow_guestfs = true;           // fall back to libguestfs when the fast path cannot
  std::vector<std::string> luks_keys;  // tried in order for LUKS volumes (guestfs)
  // Open the NBD export and the ext filesystems for writing (GuestWriter,
  // qcow2 overlays only); no guestfs fallback then.
  bool writable = false;
};

// An image opened for inspection. Members are destroyed in reverse order, so
// the view goes before the device it reads.
struct OpenedGuest {
  ImageProbe probe;
  std::unique_ptr<BlockDevice> disk;  // null on the guestfs path
  std::vector<std::unique_ptr<BlockDevice>> partitions;
  std::vector<std::unique_ptr<Filesystem>> filesystems;
  // Fast path: the filesystem mounted at each of view->mounts(), same order.
  std::vector<Filesystem*> mounted;
  std::unique_ptr<GuestView> view;
};

// Probes, opens and assembles the guest: finds the root filesystem (the one
// with etc/os-release or usr/lib/os-release), then mounts what its /etc/fstab
// names (UUID=, LABEL=, PARTUUID=, /dev/[sv]dXN, /dev/disk/by-*). Falls back
// to guestfs when the disk holds LVM/XFS/btrfs/LUKS and allow_guestfs is set.
// Error(unsupported) when no root is found, naming what the disk holds.
OpenedGuest open_guest(const std::filesystem::path& image, const OpenOptions& options = {});

}  // namespace dormant::image
