#include "ext_io.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <new>

#include "dormant/core/error.hpp"

// How the channel finds its BlockDevice: ext2fs_open2 only passes a name
// string to io_manager::open. The name is "dormant-ext-io:<hex address of the
// Context>", built by Context itself and decoded (and checked against a magic
// value) in open(). This keeps no global or thread_local state, so several
// filesystems can be opened at once, from any thread, and nested. The name
// never comes from guest content, only from Context::channel_name().

namespace dormant::image::ext_io {

namespace {

constexpr std::string_view name_prefix = "dormant-ext-io:";

Context* context_of(io_channel channel) { return static_cast<Context*>(channel->private_data); }

// Negative counts are byte counts (libext2fs convention, see unix_io.c).
std::uint64_t byte_count(io_channel channel, long long count) {
  return count < 0 ? static_cast<std::uint64_t>(-count)
                   : static_cast<std::uint64_t>(count) * static_cast<std::uint64_t>(channel->block_size);
}

errcode_t as_errcode(Context& context, errcode_t code) {
  context.remember(std::current_exception());
  return code;
}

errcode_t do_open(const char* name, int flags, io_channel* result) {
  if (name == nullptr || result == nullptr) return EXT2_ET_BAD_DEVICE_NAME;
  std::string_view text(name);
  if (!text.starts_with(name_prefix)) return EXT2_ET_BAD_DEVICE_NAME;
  text.remove_prefix(name_prefix.size());
  std::uintptr_t address = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), address, 16);
  if (ec != std::errc() || end != text.data() + text.size() || address == 0) return EXT2_ET_BAD_DEVICE_NAME;
  auto* context = reinterpret_cast<Context*>(address);
  if (context->magic != Context::magic_value) return EXT2_ET_BAD_DEVICE_NAME;
  if ((flags & IO_FLAG_RW) && !context->writable()) return EXT2_ET_RO_FILSYS;

  auto* channel = new (std::nothrow) struct_io_channel{};
  if (channel == nullptr) return EXT2_ET_NO_MEMORY;
  channel->magic = EXT2_ET_MAGIC_IO_CHANNEL;
  channel->manager = manager();
  channel->name = strdup(name);
  if (channel->name == nullptr) {
    delete channel;
    return EXT2_ET_NO_MEMORY;
  }
  channel->block_size = 1024;
  channel->refcount = 1;
  channel->private_data = context;
  *result = channel;
  return 0;
}

errcode_t do_close(io_channel channel) {
  if (--channel->refcount > 0) return 0;
  std::free(channel->name);
  delete channel;
  return 0;
}

errcode_t do_set_blksize(io_channel channel, int blksize) {
  if (blksize <= 0) return EXT2_ET_INVALID_ARGUMENT;
  channel->block_size = blksize;  // the cache is byte-addressed: nothing to drop
  return 0;
}

errcode_t do_read_blk64(io_channel channel, unsigned long long block, int count, void* data) {
  Context& context = *context_of(channel);
  try {
    const std::uint64_t size = byte_count(channel, count);
    const std::uint64_t offset = block * static_cast<std::uint64_t>(channel->block_size);
    if (offset / static_cast<std::uint64_t>(channel->block_size) != block) return EXT2_ET_LLSEEK_FAILED;
    if (offset > context.device().size() || size > context.device().size() - offset) return EXT2_ET_SHORT_READ;
    context.read(offset, {static_cast<std::byte*>(data), size});
    return 0;
  } catch (...) {
    return as_errcode(context, EXT2_ET_SHORT_READ);
  }
}

errcode_t do_read_blk(io_channel channel, unsigned long block, int count, void* data) {
  return do_read_blk64(channel, block, count, data);
}

errcode_t write_bytes(io_channel channel, std::uint64_t offset, std::uint64_t size, const void* data) {
  Context& context = *context_of(channel);
  if (!context.writable()) return EXT2_ET_RO_FILSYS;
  try {
    if (offset > context.device().size() || size > context.device().size() - offset) return EXT2_ET_SHORT_WRITE;
    context.write(offset, {static_cast<const std::byte*>(data), size});
    return 0;
  } catch (...) {
    return as_errcode(context, EXT2_ET_SHORT_WRITE);
  }
}

errcode_t do_write_blk64(io_channel channel, unsigned long long block, int count, const void* data) {
  const std::uint64_t offset = block * static_cast<std::uint64_t>(channel->block_size);
  if (offset / static_cast<std::uint64_t>(channel->block_size) != block) return EXT2_ET_LLSEEK_FAILED;
  return write_bytes(channel, offset, byte_count(channel, count), data);
}

errcode_t do_write_blk(io_channel channel, unsigned long block, int count, const void* data) {
  return do_write_blk64(channel, block, count, data);
}

errcode_t do_write_byte(io_channel channel, unsigned long offset, int count, const void* data) {
  if (count < 0) return EXT2_ET_INVALID_ARGUMENT;
  return write_bytes(channel, offset, static_cast<std::uint64_t>(count), data);
}

errcode_t do_flush(io_channel channel) {
  Context& context = *context_of(channel);
  try {
    if (context.writable()) context.device().flush();
    return 0;
  } catch (...) {
    return as_errcode(context, EXT2_ET_SHORT_WRITE);
  }
}

errcode_t do_set_option(io_channel, const char*, const char*) { return EXT2_ET_INVALID_ARGUMENT; }

errcode_t do_get_stats(io_channel, io_stats* stats) {
  if (stats) *stats = nullptr;
  return 0;
}

struct_io_manager make_manager() {
  struct_io_manager m{};
  m.magic = EXT2_ET_MAGIC_IO_MANAGER;
  m.name = "dormant BlockDevice I/O manager";
  m.open = do_open;
  m.close = do_close;
  m.set_blksize = do_set_blksize;
  m.read_blk = do_read_blk;
  m.write_blk = do_write_blk;
  m.flush = do_flush;
  m.write_byte = do_write_byte;
  m.set_option = do_set_option;
  m.get_stats = do_get_stats;
  m.read_blk64 = do_read_blk64;
  m.write_blk64 = do_write_blk64;
  // discard, cache_readahead and zeroout stay null: libext2fs checks for that.
  return m;
}

}  // namespace

io_manager manager() {
  // Immutable after initialisation (a function-local static is thread-safe).
  static struct_io_manager instance = make_manager();
  return &instance;
}

Context::Context(BlockDevice& device, bool writable)
    : device_(device),
      writable_(writable && device.writable()),
      name_(std::string(name_prefix) + [this] {
        char buffer[2 * sizeof(std::uintptr_t) + 1] = {};
        auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer - 1, reinterpret_cast<std::uintptr_t>(this), 16);
        (void)ec;
        return std::string(buffer, end);
      }()) {}

const Context::Chunk& Context::chunk(std::uint64_t index) {
  ++clock_;
  for (auto& c : chunks_) {
    if (c.index == index) {
      c.last_use = clock_;
      return c;
    }
  }
  Chunk* slot = nullptr;
  if (chunks_.size() < max_chunks) {
    slot = &chunks_.emplace_back();
  } else {
    slot = &*std::min_element(chunks_.begin(), chunks_.end(),
                              [](const Chunk& a, const Chunk& b) { return a.last_use < b.last_use; });
  }
  const std::uint64_t start = index * chunk_size;
  const std::uint64_t length = std::min(chunk_size, device_.size() - start);
  // Marked invalid until the read succeeds, so a failed read leaves no stale chunk.
  slot->index = invalid_index;
  slot->last_use = 0;
  slot->bytes.resize(length);
  device_.read(start, slot->bytes);
  ++stats_.device_reads;
  stats_.device_bytes += length;
  slot->index = index;
  slot->last_use = clock_;
  return *slot;
}

void Context::read(std::uint64_t offset, std::span<std::byte> out) {
  ++stats_.requests;
  if (out.size() >= chunk_size) {
    // Large reads (whole extents) gain nothing from the cache.
    device_.read(offset, out);
    ++stats_.device_reads;
    stats_.device_bytes += out.size();
    return;
  }
  std::size_t done = 0;
  while (done < out.size()) {
    const std::uint64_t position = offset + done;
    const Chunk& c = chunk(position / chunk_size);
    const std::uint64_t within = position % chunk_size;
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(out.size() - done, c.bytes.size() - within));
    std::memcpy(out.data() + done, c.bytes.data() + within, n);
    done += n;
  }
}

void Context::write(std::uint64_t offset, std::span<const std::byte> in) {
  device_.write(offset, in);
  // Write-through: patch cached copies so later reads see the new bytes.
  for (auto& c : chunks_) {
    if (c.index == invalid_index) continue;
    const std::uint64_t start = c.index * chunk_size;
    const std::uint64_t end = start + c.bytes.size();
    const std::uint64_t from = std::max(start, offset);
    const std::uint64_t to = std::min(end, offset + in.size());
    if (from < to) std::memcpy(c.bytes.data() + (from - start), in.data() + (from - offset), to - from);
  }
}

}  // namespace dormant::image::ext_io
