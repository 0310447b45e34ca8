#include "dormant/image/format.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "dormant/core/error.hpp"

namespace dormant::image {

namespace {

constexpr std::size_t kHeadBytes = 512;
// A VHD footer (fixed disks carry it only at the end, dynamic ones at both ends).
constexpr std::size_t kVhdFooterBytes = 512;

bool starts_with(std::span<const std::byte> data, std::string_view magic) {
  if (data.size() < magic.size()) return false;
  return std::memcmp(data.data(), magic.data(), magic.size()) == 0;
}

std::uint32_t be32(std::span<const std::byte> data, std::size_t at) {
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < 4; ++i) value = (value << 8) | std::to_integer<std::uint32_t>(data[at + i]);
  return value;
}

// A fixed VHD is a raw disk plus a 512-byte footer; "conectix" alone could be
// guest data in the last sector of a raw disk, so the footer's disk type
// (2 = fixed) and one's-complement checksum must also agree before we call it
// vpc. The catalog pins the format at first detection, so a guest cannot flip
// an image's format later by writing such a sector.
bool is_fixed_vhd_footer(std::span<const std::byte> footer) {
  if (footer.size() < kVhdFooterBytes || !starts_with(footer, "conectix")) return false;
  constexpr std::size_t kChecksumAt = 64;
  constexpr std::size_t kDiskTypeAt = 60;
  if (be32(footer, kDiskTypeAt) != 2) return false;
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i < kVhdFooterBytes; ++i) {
    if (i >= kChecksumAt && i < kChecksumAt + 4) continue;
    sum += std::to_integer<std::uint32_t>(footer[i]);
  }
  return ~sum == be32(footer, kChecksumAt);
}

}  // namespace

std::string_view to_string(ImageFormat format) {
  switch (format) {
    case ImageFormat::raw:
      return "raw";
    case ImageFormat::qcow2:
      return "qcow2";
    case ImageFormat::vmdk:
      return "vmdk";
    case ImageFormat::vhdx:
      return "vhdx";
    case ImageFormat::vpc:
      return "vpc";
  }
  return "raw";
}

std::optional<ImageFormat> format_from_string(std::string_view name) {
  for (auto format :
       {ImageFormat::raw, ImageFormat::qcow2, ImageFormat::vmdk, ImageFormat::vhdx, ImageFormat::vpc})
    if (to_string(format) == name) return format;
  return std::nullopt;
}

ImageFormat detect_format(std::span<const std::byte> head) {
  if (head.size() < kHeadBytes) return ImageFormat::raw;
  if (starts_with(head, "QFI\xfb")) return ImageFormat::qcow2;
  if (starts_with(head, "KDMV") || starts_with(head, "# Disk DescriptorFile")) return ImageFormat::vmdk;
  if (starts_with(head, "vhdxfile")) return ImageFormat::vhdx;
  if (starts_with(head, "conectix")) return ImageFormat::vpc;
  return ImageFormat::raw;
}

ImageFormat detect_format(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::io, path.string(), "cannot open for reading: {}", std::strerror(errno));
  std::array<std::byte, kHeadBytes> head{};
  in.read(reinterpret_cast<char*>(head.data()), head.size());
  auto got = static_cast<std::size_t>(in.gcount());
  // A file shorter than the head (a small vmdk descriptor, a stub qcow2) is
  // still matched by its magic: the rest of the buffer stays zero.
  auto format = detect_format(std::span<const std::byte>(head));
  if (format != ImageFormat::raw || got < kHeadBytes) return format;

  in.clear();
  in.seekg(0, std::ios::end);
  auto end = static_cast<std::streamoff>(in.tellg());
  if (end < static_cast<std::streamoff>(2 * kVhdFooterBytes)) return format;
  in.seekg(end - static_cast<std::streamoff>(kVhdFooterBytes));
  std::array<std::byte, kVhdFooterBytes> footer{};
  in.read(reinterpret_cast<char*>(footer.data()), footer.size());
  if (static_cast<std::size_t>(in.gcount()) != footer.size())
    fail(ErrorKind::io, path.string(), "cannot read the last {} bytes", kVhdFooterBytes);
  return is_fixed_vhd_footer(footer) ? ImageFormat::vpc : format;
}

}  // namespace dormant::image
