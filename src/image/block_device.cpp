#include "dormant/image/block_device.hpp"

#include <cstring>

#include "dormant/core/error.hpp"

namespace dormant::image {

namespace {

// Overflow-safe: offset + length may exceed 2^64 for hostile table entries.
bool range_fits(std::uint64_t offset, std::uint64_t length, std::uint64_t size) {
  return offset <= size && length <= size - offset;
}

}  // namespace

void BlockDevice::write(std::uint64_t offset, std::span<const std::byte> in) {
  fail(ErrorKind::unsupported, describe(), "cannot write {} bytes at offset {}: the device is read-only",
       in.size(), offset);
}

SliceDevice::SliceDevice(BlockDevice& parent, std::uint64_t offset, std::uint64_t length, std::string name)
    : parent_(parent), offset_(offset), length_(length), name_(std::move(name)) {
  if (!range_fits(offset, length, parent.size()))
    fail(ErrorKind::corrupt, name_, "range of {} bytes at offset {} lies beyond the end of {} ({} bytes)",
         length, offset, parent.describe(), parent.size());
}

void SliceDevice::read(std::uint64_t offset, std::span<std::byte> out) {
  if (!range_fits(offset, out.size(), length_))
    fail(ErrorKind::corrupt, name_, "read of {} bytes at offset {} lies beyond the end ({} bytes)",
         out.size(), offset, length_);
  parent_.read(offset_ + offset, out);
}

void SliceDevice::write(std::uint64_t offset, std::span<const std::byte> in) {
  if (!range_fits(offset, in.size(), length_))
    fail(ErrorKind::corrupt, name_, "write of {} bytes at offset {} lies beyond the end ({} bytes)",
         in.size(), offset, length_);
  parent_.write(offset_ + offset, in);
}

MemoryDevice::MemoryDevice(std::vector<std::byte> bytes, std::string name, bool writable)
    : bytes_(std::move(bytes)), name_(std::move(name)), writable_(writable) {}

void MemoryDevice::read(std::uint64_t offset, std::span<std::byte> out) {
  if (!range_fits(offset, out.size(), bytes_.size()))
    fail(ErrorKind::corrupt, name_, "read of {} bytes at offset {} lies beyond the end ({} bytes)",
         out.size(), offset, bytes_.size());
  if (!out.empty()) std::memcpy(out.data(), bytes_.data() + offset, out.size());
}

void MemoryDevice::write(std::uint64_t offset, std::span<const std::byte> in) {
  if (!writable_) BlockDevice::write(offset, in);
  if (!range_fits(offset, in.size(), bytes_.size()))
    fail(ErrorKind::corrupt, name_, "write of {} bytes at offset {} lies beyond the end ({} bytes)",
         in.size(), offset, bytes_.size());
  if (!in.empty()) std::memcpy(bytes_.data() + offset, in.data(), in.size());
}

}  // namespace dormant::image
