// Filesystem and volume signatures.
//
// libblkid does this for the kernel's block devices, but it needs a host file
// descriptor and we read images through user-space NBD (libnbd) or memory, so
// this small table of magics is ours. It reads at most a few KiB at fixed
// offsets and never trusts a length from the device.
#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>
#include <vector>

#include "dormant/core/error.hpp"
#include "dormant/image/filesystem.hpp"
#include "ext_features.hpp"
#include "signature.hpp"

namespace dormant::image {

namespace {

class Reader {
 public:
  explicit Reader(BlockDevice& device) : device_(device) {}
  // The bytes [offset, offset+length), or empty when they lie past the end.
  std::vector<std::byte> at(std::uint64_t offset, std::size_t length) {
    if (offset > device_.size() || length > device_.size() - offset) return {};
    std::vector<std::byte> bytes(length);
    device_.read(offset, bytes);
    return bytes;
  }

 private:
  BlockDevice& device_;
};

bool has(const std::vector<std::byte>& bytes, std::size_t offset, std::string_view magic) {
  return bytes.size() >= offset + magic.size() && std::memcmp(bytes.data() + offset, magic.data(), magic.size()) == 0;
}

std::uint32_t le32(const std::vector<std::byte>& b, std::size_t o) {
  return std::to_integer<std::uint32_t>(b[o]) | std::to_integer<std::uint32_t>(b[o + 1]) << 8 |
         std::to_integer<std::uint32_t>(b[o + 2]) << 16 | std::to_integer<std::uint32_t>(b[o + 3]) << 24;
}
std::uint16_t le16(const std::vector<std::byte>& b, std::size_t o) {
  return static_cast<std::uint16_t>(std::to_integer<unsigned>(b[o]) | std::to_integer<unsigned>(b[o + 1]) << 8);
}

std::string dashed_uuid(const std::vector<std::byte>& b, std::size_t o) {
  std::string out;
  for (std::size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out += fmt::format("{:02x}", std::to_integer<unsigned>(b[o + i]));
  }
  return out;
}

// A NUL-padded string field, cut at the first NUL.
std::string text(const std::vector<std::byte>& b, std::size_t o, std::size_t length) {
  const char* start = reinterpret_cast<const char*>(b.data() + o);
  return std::string(start, strnlen(start, length));
}

std::string trim_right(std::string s) {
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

}  // namespace

Signature probe_signature_details(BlockDevice& device) {
  Reader reader(device);
  const auto head = reader.at(0, 4096);
  if (!head.empty()) {
    if (has(head, 0, std::string_view("LUKS\xba\xbe", 6)))
      return {"crypto_LUKS", text(head, 168, 40), ""};
    if (has(head, 0, "XFSB")) return {"xfs", dashed_uuid(head, 32), text(head, 108, 12)};
    for (std::size_t sector = 0; sector < 4; ++sector) {
      if (has(head, sector * 512, "LABELONE") && has(head, sector * 512 + 24, "LVM2 001"))
        return {"LVM2_member", text(head, sector * 512 + 32, 32), ""};
    }
    if (le16(head, 1024 + 56) == 0xEF53) {
      const std::string_view type =
          ext_type_from_features(le32(head, 1024 + 92), le32(head, 1024 + 96), le32(head, 1024 + 100));
      if (!type.empty()) return {std::string(type), dashed_uuid(head, 1024 + 104), text(head, 1024 + 120, 16)};
    }
  }
  const auto btrfs = reader.at(65536, 4096);
  if (has(btrfs, 64, "_BHRfS_M")) return {"btrfs", dashed_uuid(btrfs, 32), text(btrfs, 299, 256)};
  for (std::size_t page : {4096u, 8192u, 16384u, 65536u}) {
    const auto tail = reader.at(page - 10, 10);
    if (has(tail, 0, "SWAPSPACE2") || has(tail, 0, "SWAP-SPACE")) {
      if (head.empty()) return {"swap", "", ""};
      return {"swap", dashed_uuid(head, 1024 + 12), text(head, 1024 + 28, 16)};
    }
  }
  if (head.size() >= 512 && to_integer<unsigned>(head[510]) == 0x55 && to_integer<unsigned>(head[511]) == 0xAA &&
      (to_integer<unsigned>(head[0]) == 0xEB || to_integer<unsigned>(head[0]) == 0xE9)) {
    const bool fat32 = has(head, 82, "FAT32   ");
    if (fat32 || has(head, 54, "FAT12   ") || has(head, 54, "FAT16   ") || has(head, 54, "FAT     ")) {
      const std::uint32_t serial = le32(head, fat32 ? 67 : 39);
      std::string label = trim_right(text(head, fat32 ? 71 : 43, 11));
      if (label == "NO NAME") label.clear();
      return {"vfat", fmt::format("{:04X}-{:04X}", serial >> 16, serial & 0xffff), label};
    }
  }
  return {};
}

std::string probe_signature(BlockDevice& device) { return probe_signature_details(device).type; }

}  // namespace dormant::image
