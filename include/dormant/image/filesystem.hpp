// A filesystem read (and later written) in user space, at the inode level.
// Path resolution, mounts and symlinks are the GuestView's job, so that a
// guest symlink can never leave the guest root whichever filesystem it is on.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dormant/image/block_device.hpp"

namespace dormant::image {

enum class FileType { regular, directory, symlink, other };

struct Inode {
  std::uint64_t id = 0;
  FileType type = FileType::other;
  std::uint64_t size = 0;
};

class Filesystem {
 public:
  virtual ~Filesystem() = default;
  virtual std::string_view type() const = 0;  // "ext2", "ext3", "ext4"
  virtual std::string uuid() const = 0;       // lowercase, dashed
  virtual std::string label() const = 0;
  virtual Inode root() = 0;
  // The entry `name` (one component, no '/') of directory `dir`.
  virtual std::optional<Inode> lookup(const Inode& dir, std::string_view name) = 0;
  // A symlink's target; Error(corrupt) if over 4096 bytes.
  virtual std::string read_link(const Inode& link) = 0;
  // A regular file's content; Error(limit) if its size exceeds `cap`.
  virtual std::string read(const Inode& file, std::uint64_t cap) = 0;
  // Directory entries without "." and ".."; Error(limit) past max_entries.
  virtual std::vector<std::pair<std::string, Inode>> list(const Inode& dir, std::size_t max_entries) = 0;
};

// Opens an ext2/3/4 filesystem on the device with libext2fs (user space, no
// mount). Returns nullptr when the device holds no ext superblock; throws
// Error(corrupt) when it holds a damaged one.
std::unique_ptr<Filesystem> open_ext_filesystem(BlockDevice& device, bool writable = false);

// Names the filesystem or volume signature on a device: "ext2", "ext3",
// "ext4", "xfs", "btrfs", "LVM2_member", "crypto_LUKS", "swap", "vfat", or ""
// when none is recognised.
std::string probe_signature(BlockDevice& device);

}  // namespace dormant::image
