// Writing files into a guest's ext2/3/4 filesystems, in user space, through a
// writable qemu-nbd export of a qcow2 *overlay* (never of a library image: the
// overlay's backing file, the library image, is opened read-only by qemu).
//
// Same rules as GuestView for hostile content: paths are resolved inside the
// guest root over the fstab mounts, and every directory component must be a
// real directory inode: a guest symlink in a path that dormant writes is
// refused, never followed. File data is written one extent at a time
// (ext2fs_file_write costs one NBD round trip per block; docs/design/patch.md).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dormant/image/guest_view.hpp"

namespace dormant::image {

// A filesystem of the guest, where it lies on the overlay's virtual disk
// (for e2fsck through image/overlay.hpp).
struct WritableFilesystem {
  std::string mountpoint;  // "/", "/var"
  std::string fstype;      // "ext4"
  std::string uuid;
  std::uint64_t offset = 0;     // byte offset of the filesystem in the virtual disk (0: whole disk)
  std::uint64_t length = 0;     // its byte length
  bool needs_recovery = false;  // ext journal has unreplayed transactions
};

class GuestWriter {
 public:
  virtual ~GuestWriter() = default;

  // Read access to the overlay's current content (what was written included).
  virtual GuestView& view() = 0;
  // The guest's filesystems (root first, then the fstab mounts).
  virtual std::vector<WritableFilesystem> filesystems() const = 0;
  // The filesystem that holds `path` (longest mountpoint prefix).
  virtual WritableFilesystem filesystem_of(std::string_view path) const = 0;
  // Bytes a root process could still allocate on the filesystem holding
  // `path` (free blocks, the root reservation included, times block size).
  virtual std::uint64_t free_bytes(std::string_view path) = 0;

  // Each of these throws Error(unsupported) when the filesystem holding the
  // path is not ext2/3/4 or its journal needs recovery (message says so and
  // names the image), Error(hostile) when a component of the path is a guest
  // symlink or not a directory, Error(conflict) when `path` exists already
  // (mkdir_p: exists and is not a directory), Error(limit) when the
  // filesystem has no room (blocks or inodes; names both numbers), Error(io)
  // when the device fails (host disk full while the overlay grows).
  virtual void mkdir_p(std::string_view path, unsigned mode = 0755) = 0;
  // Copies the host file `source` (streamed, not held in memory) into the
  // new regular file `path`; owner root:root.
  virtual void write_file(std::string_view path, const std::filesystem::path& source,
                          unsigned mode = 0644) = 0;
  virtual void write_text(std::string_view path, std::string_view content, unsigned mode = 0644) = 0;
  virtual void symlink(std::string_view path, std::string_view target) = 0;

  // Writes superblocks, bitmaps and group descriptors, flushes the NBD
  // export and stops qemu-nbd. Must be called for the writes to count; the
  // destructor without close() discards nothing already on the overlay but
  // may leave the bitmaps stale (the overlay is then thrown away).
  virtual void close() = 0;
};

// Opens `overlay` (a qcow2 file whose backing image is pinned, see
// image/overlay.hpp) writable through qemu-nbd and assembles the guest as
// open_guest does (root filesystem + /etc/fstab). Error(unsupported) when the
// guest's root is not on ext2/3/4 (LVM, XFS, btrfs, LUKS: no offline write
// path yet); errors of probe_image/open_nbd otherwise.
std::unique_ptr<GuestWriter> open_guest_writer(const std::filesystem::path& overlay,
                                               const ProbeOptions& probe_options = {});

}  // namespace dormant::image
