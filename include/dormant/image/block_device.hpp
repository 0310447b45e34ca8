// A byte-addressed view of a disk or a part of one. The image layer reads
// partitions and filesystems only through this interface, so that the same
// code runs over an NBD export of a real image and over memory in tests and
// fuzzers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace dormant::image {

class BlockDevice {
 public:
  virtual ~BlockDevice() = default;
  virtual std::uint64_t size() const = 0;
  // Reads exactly out.size() bytes at offset. Throws Error(corrupt) when the
  // range lies beyond size() and Error(io) when the transport fails.
  virtual void read(std::uint64_t offset, std::span<std::byte> out) = 0;
  virtual bool writable() const { return false; }
  // Throws Error(unsupported) on a read-only device.
  virtual void write(std::uint64_t offset, std::span<const std::byte> in);
  virtual void flush() {}
  // For messages: "disk.qcow2", "disk.qcow2 partition 2".
  virtual std::string describe() const = 0;
};

// A window [offset, offset+length) of another device, e.g. a partition.
class SliceDevice final : public BlockDevice {
 public:
  SliceDevice(BlockDevice& parent, std::uint64_t offset, std::uint64_t length, std::string name);
  std::uint64_t size() const override { return length_; }
  void read(std::uint64_t offset, std::span<std::byte> out) override;
  bool writable() const override { return parent_.writable(); }
  void write(std::uint64_t offset, std::span<const std::byte> in) override;
  void flush() override { parent_.flush(); }
  std::string describe() const override { return name_; }

 private:
  BlockDevice& parent_;
  std::uint64_t offset_;
  std::uint64_t length_;
  std::string name_;
};

// A device held in memory (tests, fuzzers).
class MemoryDevice final : public BlockDevice {
 public:
  explicit MemoryDevice(std::vector<std::byte> bytes, std::string name = "memory", bool writable = false);
  std::uint64_t size() const override { return bytes_.size(); }
  void read(std::uint64_t offset, std::span<std::byte> out) override;
  bool writable() const override { return writable_; }
  void write(std::uint64_t offset, std::span<const std::byte> in) override;
  std::string describe() const override { return name_; }
  const std::vector<std::byte>& bytes() const { return bytes_; }

 private:
  std::vector<std::byte> bytes_;
  std::string name_;
  bool writable_;
};

}  // namespace dormant::image
