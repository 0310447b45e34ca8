// Private to the image layer: the libext2fs-backed Filesystem, visible here so
// that tests and benchmarks can read the channel statistics.
#pragma once

#include <ext2fs/ext2fs.h>

#include <memory>

#include "dormant/image/filesystem.hpp"
#include "ext_io.hpp"

namespace dormant::image {

// libext2fs's text for an error code ("Could not allocate block in ext2
// filesystem"), with the ext2 error table initialised.
std::string ext_error_text(errcode_t code);

class ExtFilesystem final : public Filesystem {
 public:
  // Throws as open_ext_filesystem does; `fs` is an open libext2fs handle on
  // `context`'s channel and is closed by the destructor.
  ExtFilesystem(std::unique_ptr<ext_io::Context> context, ext2_filsys fs);
  ~ExtFilesystem() override;
  ExtFilesystem(const ExtFilesystem&) = delete;
  ExtFilesystem& operator=(const ExtFilesystem&) = delete;

  std::string_view type() const override { return type_; }
  std::string uuid() const override;
  std::string label() const override;
  Inode root() override;
  std::optional<Inode> lookup(const Inode& dir, std::string_view name) override;
  std::string read_link(const Inode& link) override;
  std::string read(const Inode& file, std::uint64_t cap) override;
  std::vector<std::pair<std::string, Inode>> list(const Inode& dir, std::size_t max_entries) override;

  // The journal has transactions that were never replayed (the guest was not
  // shut down cleanly): what we read may be slightly stale.
  bool needs_recovery() const;
  const ext_io::Stats& io_stats() const { return context_->stats(); }

  // For the write path (ext_writer): the open handle (null after close()),
  // the device it lies on, and the error mapping.
  ext2_filsys handle() { return fs_; }
  BlockDevice& device() { return context_->device(); }
  // Rethrows a device error kept by the channel, else Error(corrupt).
  [[noreturn]] void raise(errcode_t code, std::string_view what);
  // Writes the superblock, group descriptors and bitmaps of a writable
  // filesystem and frees the handle (ext2fs_close_free); errors are thrown,
  // where the destructor would drop them. The filesystem is unusable after.
  void close();

 private:
  Inode make_inode(ext2_ino_t ino, const ext2_inode& raw) const;
  ext2_inode read_raw(ext2_ino_t ino);
  // The data of a regular file or slow symlink; the cap is checked first.
  std::string read_content(ext2_ino_t ino, ext2_inode& raw, std::uint64_t cap);
  std::string read_with_file_api(ext2_ino_t ino, ext2_inode& raw, std::uint64_t size);
  std::string read_extents(ext2_ino_t ino, ext2_inode& raw, std::uint64_t size);

  std::unique_ptr<ext_io::Context> context_;  // outlives fs_
  ext2_filsys fs_;
  std::string_view type_;
};

}  // namespace dormant::image
