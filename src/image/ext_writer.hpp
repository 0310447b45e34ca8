// Private to the image layer: write operations on one open, writable ext2/3/4
// filesystem, at the inode level (a parent directory inode and one name).
// Path resolution over the guest's mounts, and the rule that no guest symlink
// is ever followed, are GuestWriter's (guest_writer.cpp).
//
// The steps are those of e2fsprogs' misc/create_inode.c (docs/design/patch.md,
// "How e2fsprogs writes"), except file data: the blocks are allocated with
// ext2fs_fallocate and each extent is then written with one channel request,
// because ext2fs_file_write costs one NBD round trip per block.
#pragma once

#include <ext2fs/ext2fs.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "ext_filesystem.hpp"

namespace dormant::image {

// File content to copy: `size` bytes, read by `read(offset, out)`, which
// fills exactly out.size() bytes or throws.
struct WriteSource {
  std::uint64_t size = 0;
  std::function<void(std::uint64_t offset, std::span<std::byte> out)> read;
};

struct DirEntry {
  ext2_ino_t ino = 0;
  std::uint16_t mode = 0;  // i_mode: type and permission bits
};

class ExtWriter {
 public:
  // `subject` names the image in errors, `where` the filesystem ("/ at
  // partition 1").
  ExtWriter(ExtFilesystem& fs, std::string subject, std::string where);

  // Error(unsupported) when the filesystem must not be written: its journal
  // needs recovery, or it is marked as having errors or not cleanly unmounted.
  void check_writable();
  // Reads the block and inode bitmaps (once; needed before allocating).
  void load_bitmaps();

  std::optional<DirEntry> lookup(ext2_ino_t dir, std::string_view name);
  // Creates directory `name` in `parent` (owner root, `mode`); its inode.
  ext2_ino_t mkdir(ext2_ino_t parent, std::string_view name, unsigned mode);
  void write_file(ext2_ino_t parent, std::string_view name, const WriteSource& source, unsigned mode);
  void symlink(ext2_ino_t parent, std::string_view name, std::string_view target);

  std::uint64_t free_bytes() const;
  std::uint64_t block_size() const { return fs_.handle()->blocksize; }

 private:
  ext2_filsys handle() const { return fs_.handle(); }
  // Error(limit) unless `blocks` blocks and `inodes` inodes are free.
  void require_space(std::uint64_t blocks, std::uint64_t inodes, std::string_view what);
  // ext2fs_link, expanding the directory once when it is full.
  void link(ext2_ino_t parent, std::string_view name, ext2_ino_t ino, int file_type);
  void write_extents(ext2_ino_t ino, ext2_inode& inode, const WriteSource& source);
  void write_with_file_api(ext2_ino_t ino, ext2_inode& inode, const WriteSource& source);
  // Allocation failures become Error(limit); the rest as ExtFilesystem::raise.
  [[noreturn]] void raise(errcode_t code, std::string_view what);

  ExtFilesystem& fs_;
  std::string subject_;
  std::string where_;
  bool bitmaps_loaded_ = false;
};

}  // namespace dormant::image
