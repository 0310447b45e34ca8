// Private to the image layer: a libext2fs io_manager that reads and writes a
// BlockDevice, with a small read cache.
//
// libext2fs asks its io_manager for one filesystem block at a time; over NBD
// each request is a socket round trip, so the channel reads aligned 32 KiB
// chunks and keeps the last 128 (LRU, 4 MiB per open filesystem). File data
// does not go through the cache (ExtFilesystem reads whole extents), so the
// cache only serves metadata: inode tables, directory and extent blocks.
// Measured over qemu-nbd on a debootstrapped 2 GB ext4 (median of 9, loaded
// 2-core host): reading /var/lib/dpkg/status took 12.3 ms with 256 KiB chunks
// (2.3 MB transferred), 4.0 ms with 64 KiB, 1.4 ms with 32 KiB (0.5 MB) and
// 0.9 ms uncached (22 round trips); listing /var/lib/dpkg/info (668 entries,
// one inode read each) took 10.5 / 5.6 / 2.1 / 3.0 ms.
#pragma once

#include <ext2fs/ext2fs.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <span>
#include <utility>
#include <string>
#include <vector>

#include "dormant/image/block_device.hpp"

namespace dormant::image::ext_io {

struct Stats {
  std::uint64_t requests = 0;       // reads asked for by libext2fs
  std::uint64_t device_reads = 0;   // reads sent to the BlockDevice
  std::uint64_t device_bytes = 0;   // bytes read from the BlockDevice
};

// Everything one open channel needs. Owned by the caller of ext2fs_open2 and
// kept alive until ext2fs_close returns.
class Context {
 public:
  static constexpr std::uint64_t chunk_size = 32 * 1024;
  static constexpr std::size_t max_chunks = 128;

  Context(BlockDevice& device, bool writable);
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // The name to pass to ext2fs_open2 (see ext_io.cpp for why a name).
  const std::string& channel_name() const { return name_; }
  BlockDevice& device() { return device_; }
  bool writable() const { return writable_; }
  const Stats& stats() const { return stats_; }

  // libext2fs is C: exceptions thrown by the device are caught in the channel,
  // turned into an error code, and kept here so that the caller can rethrow
  // the original dormant::Error (an NBD failure stays Error(io)).
  void remember(std::exception_ptr error) { pending_ = std::move(error); }
  std::exception_ptr take_pending() { return std::exchange(pending_, nullptr); }

  void read(std::uint64_t offset, std::span<std::byte> out);
  void write(std::uint64_t offset, std::span<const std::byte> in);

  // Checked when a name is decoded back into a pointer.
  static constexpr std::uint64_t magic_value = 0x646f726d616e7431ULL;  // "dormant1"
  std::uint64_t magic = magic_value;

 private:
  static constexpr std::uint64_t invalid_index = ~std::uint64_t{0};
  struct Chunk {
    std::uint64_t index = invalid_index;
    std::uint64_t last_use = 0;
    std::vector<std::byte> bytes;
  };
  const Chunk& chunk(std::uint64_t index);

  BlockDevice& device_;
  bool writable_;
  std::string name_;
  std::vector<Chunk> chunks_;
  std::uint64_t clock_ = 0;
  Stats stats_;
  std::exception_ptr pending_;
};

// The manager to pass to ext2fs_open2 together with Context::channel_name().
io_manager manager();

}  // namespace dormant::image::ext_io
