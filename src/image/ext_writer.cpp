#include "ext_writer.hpp"

#include <algorithm>
#include <cstring>
#include <ctime>
#include <vector>

#include "dormant/core/error.hpp"

namespace dormant::image {

namespace {

// Source data is streamed through a buffer of this size: a 50 MB file is
// never held in memory, and each extent still goes out in few requests.
constexpr std::uint64_t buffer_bytes = std::uint64_t{8} << 20;

std::uint64_t ceil_div(std::uint64_t a, std::uint64_t b) { return (a + b - 1) / b; }

// Blocks the file's mapping may need besides its data, counted generously:
// extent tree leaves as if every extent were one block long, or the
// single/double/triple indirect blocks of an ext2/3 file.
std::uint64_t mapping_blocks(ext2_filsys fs, std::uint64_t data_blocks) {
  const std::uint64_t bs = fs->blocksize;
  if (ext2fs_has_feature_extents(fs->super)) {
    const std::uint64_t per_leaf = (bs - 12) / 12;
    return data_blocks <= 4 ? 0 : ceil_div(data_blocks, per_leaf) + 1;
  }
  const std::uint64_t per = bs / 4;
  if (data_blocks <= EXT2_NDIR_BLOCKS) return 0;
  const std::uint64_t beyond = data_blocks - EXT2_NDIR_BLOCKS;
  return ceil_div(beyond, per) + ceil_div(beyond, per * per) + 2;
}

}  // namespace

ExtWriter::ExtWriter(ExtFilesystem& fs, std::string subject, std::string where)
    : fs_(fs), subject_(std::move(subject)), where_(std::move(where)) {}

void ExtWriter::check_writable() {
  ext2_super_block* super = handle()->super;
  const std::string_view type = fs_.type();
  // libext2fs does not replay journals and writes without a transaction: the
  // guest kernel would replay old journal blocks over ours at the next mount.
  if (ext2fs_has_feature_journal_needs_recovery(super))
    fail(ErrorKind::unsupported, subject_,
         "the {} journal of {} ({}) needs recovery: the guest was not shut down cleanly. Replay it on the "
         "overlay (e2fsck -E journal_only), or boot and shut down the guest once",
         type, subject_, where_);
  if (super->s_state & EXT2_ERROR_FS)
    fail(ErrorKind::unsupported, subject_,
         "the {} filesystem of {} ({}) is marked as having errors; check it with e2fsck first", type,
         subject_, where_);
  if (!(super->s_state & EXT2_VALID_FS))
    fail(ErrorKind::unsupported, subject_,
         "the {} filesystem of {} ({}) was not cleanly unmounted; check it with e2fsck first", type, subject_,
         where_);
  if (handle()->flags & EXT2_FLAG_RW) return;
  fail(ErrorKind::internal, subject_, "{} ({}) is open read-only", type, where_);
}

void ExtWriter::load_bitmaps() {
  if (bitmaps_loaded_) return;
  if (errcode_t code = ext2fs_read_bitmaps(handle())) raise(code, "reading the block and inode bitmaps");
  bitmaps_loaded_ = true;
}

void ExtWriter::raise(errcode_t code, std::string_view what) {
  if (code == EXT2_ET_BLOCK_ALLOC_FAIL || code == EXT2_ET_INODE_ALLOC_FAIL || code == EXT2_ET_DIR_NO_SPACE)
    fail(ErrorKind::limit, subject_, "{} ({}): {}: {} ({} blocks of {} bytes and {} inodes free)", fs_.type(),
         where_, what, ext_error_text(code), ext2fs_free_blocks_count(handle()->super), handle()->blocksize,
         handle()->super->s_free_inodes_count);
  fs_.raise(code, fmt::format("{}: {}", where_, what));
}

std::optional<DirEntry> ExtWriter::lookup(ext2_ino_t dir, std::string_view name) {
  ext2_ino_t ino = 0;
  errcode_t code = ext2fs_lookup(handle(), dir, name.data(), static_cast<int>(name.size()), nullptr, &ino);
  if (code == EXT2_ET_FILE_NOT_FOUND) return std::nullopt;
  if (code) raise(code, fmt::format("looking up '{}' in directory inode {}", name, dir));
  ext2_inode inode{};
  if (errcode_t read = ext2fs_read_inode(handle(), ino, &inode)) raise(read, fmt::format("inode {}", ino));
  return DirEntry{ino, inode.i_mode};
}

std::uint64_t ExtWriter::free_bytes() const {
  return ext2fs_free_blocks_count(handle()->super) * static_cast<std::uint64_t>(handle()->blocksize);
}

void ExtWriter::require_space(std::uint64_t blocks, std::uint64_t inodes, std::string_view what) {
  const std::uint64_t free_blocks = ext2fs_free_blocks_count(handle()->super);
  const std::uint64_t free_inodes = handle()->super->s_free_inodes_count;
  const std::uint64_t bs = handle()->blocksize;
  if (blocks > free_blocks)
    fail(ErrorKind::limit, subject_,
         "no room for {} on the {} filesystem {} ({}): it needs up to {} blocks of {} bytes ({} bytes), {} "
         "are free "
         "({} bytes)",
         what, fs_.type(), subject_, where_, blocks, bs, blocks * bs, free_blocks, free_blocks * bs);
  if (inodes > free_inodes)
    fail(ErrorKind::limit, subject_,
         "no room for {} on the {} filesystem {} ({}): it needs {} inode(s), {} of {} are free", what,
         fs_.type(), subject_, where_, inodes, free_inodes, handle()->super->s_inodes_count);
}

void ExtWriter::link(ext2_ino_t parent, std::string_view name, ext2_ino_t ino, int file_type) {
  const std::string name_z(name);
  errcode_t code = ext2fs_link(handle(), parent, name_z.c_str(), ino, file_type);
  if (code == EXT2_ET_DIR_NO_SPACE) {
    if (errcode_t expand = ext2fs_expand_dir(handle(), parent))
      raise(expand, fmt::format("expanding directory inode {}", parent));
    code = ext2fs_link(handle(), parent, name_z.c_str(), ino, file_type);
  }
  if (code) raise(code, fmt::format("linking '{}' into directory inode {}", name, parent));
}

ext2_ino_t ExtWriter::mkdir(ext2_ino_t parent, std::string_view name, unsigned mode) {
  load_bitmaps();
  // The new directory's block, and one more if the parent must grow.
  require_space(2, 1, fmt::format("directory '{}'", name));
  const std::string name_z(name);
  errcode_t code = ext2fs_mkdir(handle(), parent, 0, name_z.c_str());
  if (code == EXT2_ET_DIR_NO_SPACE) {
    // ext2fs_mkdir accounts for nothing before the link succeeds: retry.
    if (errcode_t expand = ext2fs_expand_dir(handle(), parent))
      raise(expand, fmt::format("expanding directory inode {}", parent));
    code = ext2fs_mkdir(handle(), parent, 0, name_z.c_str());
  }
  if (code) raise(code, fmt::format("creating directory '{}' in directory inode {}", name, parent));
  auto created = lookup(parent, name);
  if (!created) fail(ErrorKind::internal, subject_, "{}: directory '{}' missing after mkdir", where_, name);
  ext2_inode inode{};
  if (errcode_t read = ext2fs_read_inode(handle(), created->ino, &inode)) raise(read, "new directory");
  inode.i_mode = static_cast<std::uint16_t>(LINUX_S_IFDIR | (mode & 07777));
  inode.i_uid = inode.i_gid = 0;
  inode.osd2.linux2.l_i_uid_high = inode.osd2.linux2.l_i_gid_high = 0;
  if (errcode_t write = ext2fs_write_inode(handle(), created->ino, &inode)) raise(write, "new directory");
  return created->ino;
}

void ExtWriter::symlink(ext2_ino_t parent, std::string_view name, std::string_view target) {
  load_bitmaps();
  if (target.empty() || target.find('\0') != std::string_view::npos || target.size() >= handle()->blocksize)
    fail(ErrorKind::usage, subject_, "symlink '{}': target must be 1 to {} bytes without NUL", name,
         handle()->blocksize - 1);
  require_space(2, 1, fmt::format("symlink '{}'", name));
  const std::string name_z(name);
  std::string target_z(target);
  errcode_t code = ext2fs_symlink(handle(), parent, 0, name_z.c_str(), target_z.c_str());
  if (code == EXT2_ET_DIR_NO_SPACE) {
    // Like mkdir: nothing is accounted for until the link succeeds.
    if (errcode_t expand = ext2fs_expand_dir(handle(), parent))
      raise(expand, fmt::format("expanding directory inode {}", parent));
    code = ext2fs_symlink(handle(), parent, 0, name_z.c_str(), target_z.c_str());
  }
  if (code) raise(code, fmt::format("creating symlink '{}' in directory inode {}", name, parent));
}

void ExtWriter::write_file(ext2_ino_t parent, std::string_view name, const WriteSource& source,
                           unsigned mode) {
  load_bitmaps();
  ext2_filsys fs = handle();
  const std::uint64_t data_blocks = ceil_div(source.size, fs->blocksize);
  // Checked before anything is allocated, so a file that cannot fit leaves
  // the filesystem as it was. +1: the parent directory may need a block.
  require_space(data_blocks + mapping_blocks(fs, data_blocks) + 1, 1,
                fmt::format("'{}' ({} bytes)", name, source.size));

  const std::uint16_t imode = static_cast<std::uint16_t>(LINUX_S_IFREG | (mode & 07777));
  ext2_ino_t ino = 0;
  if (errcode_t code = ext2fs_new_inode(fs, parent, imode, nullptr, &ino))
    raise(code, fmt::format("allocating an inode for '{}'", name));
  link(parent, name, ino, EXT2_FT_REG_FILE);
  ext2fs_inode_alloc_stats2(fs, ino, +1, 0);

  ext2_inode inode{};
  inode.i_mode = imode;
  inode.i_links_count = 1;
  const auto now = static_cast<std::uint32_t>(std::time(nullptr));
  inode.i_atime = inode.i_ctime = inode.i_mtime = now;
  if (errcode_t code = ext2fs_inode_size_set(fs, &inode, source.size)) raise(code, "setting the file size");
  const bool extents = ext2fs_has_feature_extents(fs->super);
  if (extents) {
    // Opening an extent handle on the in-memory inode writes the extent
    // header into i_block; it must happen before ext2fs_write_new_inode
    // (docs/design/patch.md, pitfall 1).
    inode.i_flags |= EXT4_EXTENTS_FL;
    ext2_extent_handle_t handle = nullptr;
    if (errcode_t code = ext2fs_extent_open2(fs, ino, &inode, &handle))
      raise(code, "initialising the extent tree");
    ext2fs_extent_free(handle);
  }
  if (errcode_t code = ext2fs_write_new_inode(fs, ino, &inode))
    raise(code, fmt::format("writing inode {}", ino));
  if (source.size == 0) return;
  if (extents)
    write_extents(ino, inode, source);
  else
    write_with_file_api(ino, inode, source);
}

void ExtWriter::write_extents(ext2_ino_t ino, ext2_inode& inode, const WriteSource& source) {
  ext2_filsys fs = handle();
  const std::uint64_t bs = fs->blocksize;
  const std::uint64_t blocks = ceil_div(source.size, bs);
  // FORCE_INIT: initialised extents (we write every block); INIT_BEYOND_EOF
  // as well for the tail of the last block.
  if (errcode_t code = ext2fs_fallocate(fs, EXT2_FALLOCATE_FORCE_INIT | EXT2_FALLOCATE_INIT_BEYOND_EOF, ino,
                                        &inode, ~0ULL, 0, blocks))
    raise(code, fmt::format("allocating {} blocks for inode {}", blocks, ino));
  // ext2fs_fallocate updated our in-memory inode (extent root, i_blocks).
  if (errcode_t code = ext2fs_write_inode(fs, ino, &inode)) raise(code, fmt::format("writing inode {}", ino));

  ext2_extent_handle_t handle = nullptr;
  if (errcode_t code = ext2fs_extent_open2(fs, ino, &inode, &handle))
    raise(code, "reading the extent tree back");
  struct Closer {
    ext2_extent_handle_t h;
    ~Closer() { ext2fs_extent_free(h); }
  } closer{handle};

  std::vector<std::byte> buffer(static_cast<std::size_t>(std::min(buffer_bytes, blocks * bs)));
  const std::uint64_t buffer_blocks = buffer.size() / bs;
  std::uint64_t written = 0;
  ext2fs_extent extent{};
  errcode_t code = ext2fs_extent_get(handle, EXT2_EXTENT_ROOT, &extent);
  while (code == 0) {
    if ((extent.e_flags & EXT2_EXTENT_FLAGS_LEAF) && extent.e_lblk < blocks) {
      const std::uint64_t count = std::min<std::uint64_t>(extent.e_len, blocks - extent.e_lblk);
      for (std::uint64_t done = 0; done < count;) {
        const std::uint64_t step = std::min(count - done, buffer_blocks);
        const std::uint64_t offset = (extent.e_lblk + done) * bs;
        const std::uint64_t bytes = std::min(step * bs, source.size - offset);
        std::span<std::byte> out(buffer.data(), static_cast<std::size_t>(step * bs));
        source.read(offset, out.first(static_cast<std::size_t>(bytes)));
        std::fill(out.begin() + static_cast<std::ptrdiff_t>(bytes), out.end(), std::byte{0});
        if (errcode_t write =
                io_channel_write_blk64(fs->io, extent.e_pblk + done, static_cast<int>(step), out.data()))
          raise(write,
                fmt::format("writing {} blocks of inode {} at block {}", step, ino, extent.e_pblk + done));
        done += step;
      }
      written += count;
    }
    code = ext2fs_extent_get(handle, EXT2_EXTENT_NEXT_LEAF, &extent);
  }
  if (code != EXT2_ET_EXTENT_NO_NEXT) raise(code, fmt::format("inode {}: walking the extent tree", ino));
  if (written != blocks)
    fail(ErrorKind::internal, subject_, "{}: inode {}: fallocate mapped {} of {} blocks", where_, ino,
         written, blocks);
}

// ext2/ext3 without extents: ext2fs_fallocate would allocate one block at a
// time through bmap anyway, so the file API is used (one round trip per
// block, acceptable for these rare guests).
void ExtWriter::write_with_file_api(ext2_ino_t ino, ext2_inode& inode, const WriteSource& source) {
  ext2_filsys fs = handle();
  ext2_file_t file = nullptr;
  if (errcode_t code = ext2fs_file_open2(fs, ino, &inode, EXT2_FILE_WRITE, &file))
    raise(code, fmt::format("opening inode {}", ino));
  std::vector<std::byte> buffer(static_cast<std::size_t>(std::min<std::uint64_t>(buffer_bytes, source.size)));
  errcode_t code = 0;
  std::uint64_t done = 0;
  try {
    while (done < source.size && code == 0) {
      const auto step = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), source.size - done));
      source.read(done, std::span(buffer).first(step));
      unsigned int wrote = 0;
      code = ext2fs_file_write(file, buffer.data(), static_cast<unsigned int>(step), &wrote);
      if (code == 0 && wrote != step) code = EXT2_ET_SHORT_WRITE;
      done += step;
    }
  } catch (...) {
    ext2fs_file_close(file);
    throw;
  }
  // Closing flushes the last block and writes the inode.
  errcode_t close = ext2fs_file_close(file);
  if (code) raise(code, fmt::format("writing inode {} at byte {}", ino, done));
  if (close) raise(close, fmt::format("writing inode {}", ino));
}

}  // namespace dormant::image
