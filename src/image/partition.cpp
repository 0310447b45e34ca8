#include "dormant/image/partition.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <set>

#include "dormant/core/error.hpp"

namespace dormant::image {

namespace {

constexpr std::uint64_t kMbrSector = 512;
constexpr std::size_t kMbrEntriesAt = 446;
constexpr std::size_t kMbrEntrySize = 16;
// Linux stops at 256 partitions per disk; a longer extended chain is hostile.
constexpr int kMaxLogical = 252;
constexpr std::uint32_t kMaxGptEntries = 1024;
constexpr std::uint32_t kMaxGptEntrySize = 4096;
constexpr std::size_t kGptNameUnits = 36;

std::vector<std::byte> read_bytes(BlockDevice& disk, std::uint64_t offset, std::size_t length) {
  std::vector<std::byte> out(length);
  disk.read(offset, out);
  return out;
}

template <typename T>
T le(std::span<const std::byte> data, std::size_t at) {
  T value = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i)
    value |= T(std::to_integer<std::uint8_t>(data[at + i])) << (8 * i);
  return value;
}

std::uint8_t u8(std::span<const std::byte> data, std::size_t at) {
  return std::to_integer<std::uint8_t>(data[at]);
}

bool has_boot_signature(std::span<const std::byte> sector) {
  return sector.size() >= kMbrSector && u8(sector, 510) == 0x55 && u8(sector, 511) == 0xAA;
}

// Overflow-safe check that [start, start+count) sectors lie on the device.
bool sectors_fit(std::uint64_t start, std::uint64_t count, std::uint64_t sector_size,
                 std::uint64_t disk_size) {
  std::uint64_t sectors = disk_size / sector_size;
  return start <= sectors && count <= sectors - start;
}

std::uint32_t crc32_of(std::span<const std::byte> data) {
  return static_cast<std::uint32_t>(
      ::crc32(0L, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())));
}

// ---- MBR -----------------------------------------------------------------

struct MbrEntry {
  std::uint8_t status = 0;
  std::uint8_t type = 0;
  std::uint64_t start = 0;  // sectors
  std::uint64_t count = 0;  // sectors
};

MbrEntry mbr_entry(std::span<const std::byte> sector, int index) {
  std::size_t at = kMbrEntriesAt + kMbrEntrySize * static_cast<std::size_t>(index);
  return {u8(sector, at), u8(sector, at + 4), le<std::uint32_t>(sector, at + 8),
          le<std::uint32_t>(sector, at + 12)};
}

bool is_extended(std::uint8_t type) { return type == 0x05 || type == 0x0f || type == 0x85; }
bool is_empty(const MbrEntry& e) { return e.type == 0 || e.count == 0; }

std::string mbr_type(std::uint8_t type) { return fmt::format("0x{:02x}", type); }

// A FAT or NTFS boot sector on an unpartitioned disk also ends in 55 AA; its
// "entries" are code, whose status bytes are rarely exactly 0x00 or 0x80.
bool looks_like_mbr(std::span<const std::byte> sector) {
  for (int i = 0; i < 4; ++i) {
    auto status = mbr_entry(sector, i).status;
    if (status != 0x00 && status != 0x80) return false;
  }
  return true;
}

// A FAT/NTFS/exFAT boot sector: an x86 jump, then the filesystem's own name.
// With no partition entries it is a filesystem on the whole disk, as
// Linux's msdos partition code also decides.
bool is_filesystem_boot_sector(std::span<const std::byte> sector) {
  auto at = [&](std::size_t offset, std::string_view text) {
    return std::memcmp(sector.data() + offset, text.data(), text.size()) == 0;
  };
  bool jump = u8(sector, 0) == 0xEB || u8(sector, 0) == 0xE9;
  return jump && (at(54, "FAT") || at(82, "FAT") || at(3, "NTFS    ") || at(3, "EXFAT   "));
}

// Filesystem or volume signatures at the start of a partition. Used only to
// decide the logical sector size of an MBR disk, which the table itself does
// not record.
bool has_known_signature(BlockDevice& disk, std::uint64_t offset) {
  struct Magic {
    std::uint64_t at;
    std::string_view bytes;
  };
  static constexpr std::array<Magic, 8> kMagics{{
      {1024 + 56, "\x53\xef"},  // ext2/3/4
      {0, "XFSB"},              // xfs
      {0x10040, "_BHRfS_M"},    // btrfs
      {512, "LABELONE"},        // LVM2 PV
      {0, "LUKS\xba\xbe"},      // LUKS
      {4086, "SWAPSPACE2"},     // Linux swap (4 KiB pages)
      {3, "NTFS    "},          // NTFS
      {82, "FAT32   "},         // FAT32
  }};
  for (const auto& magic : kMagics) {
    if (offset > disk.size() || disk.size() - offset < magic.at + magic.bytes.size()) continue;
    auto got = read_bytes(disk, offset + magic.at, magic.bytes.size());
    if (std::equal(magic.bytes.begin(), magic.bytes.end(), got.begin(),
                   [](char c, std::byte b) { return static_cast<std::byte>(c) == b; }))
      return true;
  }
  return false;
}

// An MBR does not say its sector size. The rule: 512 unless the disk size is
// a multiple of 4096, every primary entry fits on the disk in 4096-byte
// sectors, and the content confirms 4096 but not 512. Confirmation is a known
// filesystem or volume signature at the first data partition's start, or the
// extended partition's first boot record (55 AA) at its start.
std::uint32_t mbr_sector_size(BlockDevice& disk, std::span<const std::byte> mbr) {
  constexpr std::uint64_t kLarge = 4096;
  if (disk.size() % kLarge != 0) return kMbrSector;
  std::optional<std::uint64_t> first_data;
  std::optional<std::uint64_t> extended;
  for (int i = 0; i < 4; ++i) {
    auto e = mbr_entry(mbr, i);
    if (is_empty(e)) continue;
    if (!sectors_fit(e.start, e.count, kLarge, disk.size())) return kMbrSector;
    if (is_extended(e.type)) {
      if (!extended) extended = e.start;
    } else if (!first_data) {
      first_data = e.start;
    }
  }
  auto confirms = [&](std::uint64_t sector_size) {
    if (first_data && has_known_signature(disk, *first_data * sector_size)) return true;
    if (!extended) return false;
    std::uint64_t at = *extended * sector_size;
    if (at > disk.size() || disk.size() - at < kMbrSector) return false;
    return has_boot_signature(read_bytes(disk, at, kMbrSector));
  };
  if (confirms(kMbrSector)) return kMbrSector;
  return confirms(kLarge) ? kLarge : kMbrSector;
}

Partition make_mbr_partition(BlockDevice& disk, int number, const MbrEntry& e, std::uint64_t start,
                             std::uint32_t sector_size) {
  if (!sectors_fit(start, e.count, sector_size, disk.size()))
    fail(ErrorKind::corrupt, disk.describe(),
         "partition {}: sectors {}..+{} ({}-byte sectors) lie beyond the end of the disk ({} bytes)", number,
         start, e.count, sector_size, disk.size());
  Partition p;
  p.number = number;
  p.offset = start * sector_size;
  p.size = e.count * sector_size;
  p.type = mbr_type(e.type);
  return p;
}

void read_logical(BlockDevice& disk, const MbrEntry& extended, std::uint32_t sector_size,
                  PartitionTable& table) {
  const std::uint64_t ext_start = extended.start;
  const std::uint64_t ext_end = extended.start + extended.count;  // fits: checked by the caller
  std::set<std::uint64_t> visited;
  std::uint64_t ebr = ext_start;
  int number = 5;
  for (;;) {
    if (!visited.insert(ebr).second)
      fail(ErrorKind::corrupt, disk.describe(),
           "extended partition: the chain of logical partitions loops at sector {}", ebr);
    if (static_cast<int>(visited.size()) > kMaxLogical)
      fail(ErrorKind::corrupt, disk.describe(), "extended partition: more than {} logical partitions",
           kMaxLogical);
    if (ebr < ext_start || ebr >= ext_end)
      fail(ErrorKind::corrupt, disk.describe(),
           "extended partition: link to sector {} lies outside it ({}..{})", ebr, ext_start, ext_end);
    auto sector = read_bytes(disk, ebr * sector_size, kMbrSector);
    if (!has_boot_signature(sector))
      fail(ErrorKind::corrupt, disk.describe(),
           "extended partition: boot record at sector {} has no 55 AA signature", ebr);
    auto data = mbr_entry(sector, 0);
    auto link = mbr_entry(sector, 1);
    if (!is_empty(data) && !is_extended(data.type)) {
      std::uint64_t start = ebr + data.start;
      if (start < ext_start || start > ext_end || data.count > ext_end - start)
        fail(ErrorKind::corrupt, disk.describe(),
             "partition {}: sectors {}..+{} lie outside the extended partition", number, start, data.count);
      table.partitions.push_back(make_mbr_partition(disk, number, data, start, sector_size));
      ++number;
    }
    if (is_empty(link) || !is_extended(link.type)) return;
    ebr = ext_start + link.start;
  }
}

PartitionTable read_mbr(BlockDevice& disk, std::span<const std::byte> mbr) {
  PartitionTable table;
  table.type = TableType::mbr;
  table.sector_size = mbr_sector_size(disk, mbr);
  const MbrEntry* extended = nullptr;
  std::array<MbrEntry, 4> entries;
  for (int i = 0; i < 4; ++i) {
    auto& e = entries[static_cast<std::size_t>(i)];
    e = mbr_entry(mbr, i);
    if (is_empty(e)) continue;
    table.partitions.push_back(make_mbr_partition(disk, i + 1, e, e.start, table.sector_size));
    if (is_extended(e.type)) {
      if (extended)
        fail(ErrorKind::corrupt, disk.describe(), "partition {}: a second extended partition", i + 1);
      extended = &e;
    }
  }
  if (extended) read_logical(disk, *extended, table.sector_size, table);
  return table;
}

// ---- GPT -----------------------------------------------------------------

// GUIDs are stored with their first three fields little-endian.
std::string guid_text(std::span<const std::byte> g) {
  return fmt::format("{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
                     le<std::uint32_t>(g, 0), le<std::uint16_t>(g, 4), le<std::uint16_t>(g, 6), u8(g, 8),
                     u8(g, 9), u8(g, 10), u8(g, 11), u8(g, 12), u8(g, 13), u8(g, 14), u8(g, 15));
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Written here rather than with iconv: the name is at most 36 fixed UTF-16LE
// units, and iconv would add a stateful handle, locale-independent error
// handling and a copy for 25 lines of well-specified arithmetic. Unpaired
// surrogates become U+FFFD so that the result is always valid UTF-8.
std::string gpt_name(std::span<const std::byte> units) {
  std::string out;
  for (std::size_t i = 0; i + 1 < units.size(); i += 2) {
    std::uint32_t unit = le<std::uint16_t>(units, i);
    if (unit == 0) break;
    if (unit >= 0xD800 && unit <= 0xDBFF && i + 3 < units.size()) {
      std::uint32_t low = le<std::uint16_t>(units, i + 2);
      if (low >= 0xDC00 && low <= 0xDFFF) {
        append_utf8(out, 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00));
        i += 2;
        continue;
      }
    }
    append_utf8(out, (unit >= 0xD800 && unit <= 0xDFFF) ? 0xFFFD : unit);
  }
  return out;
}

bool has_gpt_signature(BlockDevice& disk, std::uint64_t sector_size) {
  if (disk.size() < 2 * sector_size) return false;
  auto sig = read_bytes(disk, sector_size, 8);
  return std::memcmp(sig.data(), "EFI PART", 8) == 0;
}

// True when the backup GPT header in the disk's last sector carries a valid
// CRC: it decides whether the error message can promise a repair from it.
bool backup_gpt_header_is_intact(BlockDevice& disk, std::uint32_t sector_size) {
  if (disk.size() < 2 * std::uint64_t{sector_size}) return false;
  auto header = read_bytes(disk, disk.size() / sector_size * sector_size - sector_size, sector_size);
  static constexpr std::string_view kSignature = "EFI PART";
  if (!std::equal(kSignature.begin(), kSignature.end(), header.begin(),
                  [](char c, std::byte b) { return static_cast<std::byte>(c) == b; }))
    return false;
  std::uint32_t header_size = le<std::uint32_t>(header, 12);
  if (header_size < 92 || header_size > sector_size) return false;
  std::uint32_t stored_crc = le<std::uint32_t>(header, 16);
  std::vector<std::byte> copy(header.begin(), header.begin() + header_size);
  std::fill(copy.begin() + 16, copy.begin() + 20, std::byte{0});
  return crc32_of(copy) == stored_crc;
}

PartitionTable read_gpt(BlockDevice& disk, std::uint32_t sector_size) {
  const auto subject = disk.describe();
  auto header = read_bytes(disk, sector_size, sector_size);
  std::uint32_t header_size = le<std::uint32_t>(header, 12);
  if (header_size < 92 || header_size > sector_size)
    fail(ErrorKind::corrupt, subject, "GPT header size {} is out of range", header_size);
  std::uint32_t stored_crc = le<std::uint32_t>(header, 16);
  std::vector<std::byte> copy(header.begin(), header.begin() + header_size);
  std::fill(copy.begin() + 16, copy.begin() + 20, std::byte{0});
  if (crc32_of(copy) != stored_crc)
    fail(ErrorKind::corrupt, subject, "GPT header CRC32 mismatch; {}",
         backup_gpt_header_is_intact(disk, sector_size)
             ? "the backup header at the end of the disk is intact (repair a copy with gdisk: r, b)"
             : "the backup header at the end of the disk is damaged too (the table must be recreated, e.g. "
               "from a copy with testdisk)");
  if (le<std::uint64_t>(header, 24) != 1)
    fail(ErrorKind::corrupt, subject, "GPT header says it lives at LBA {}, not 1",
         le<std::uint64_t>(header, 24));
  std::uint64_t entries_lba = le<std::uint64_t>(header, 72);
  std::uint32_t count = le<std::uint32_t>(header, 80);
  std::uint32_t entry_size = le<std::uint32_t>(header, 84);
  std::uint32_t entries_crc = le<std::uint32_t>(header, 88);
  if (entry_size < 128 || entry_size > kMaxGptEntrySize || entry_size % 8 != 0)
    fail(ErrorKind::corrupt, subject, "GPT entry size {} is out of range", entry_size);
  if (count > kMaxGptEntries)
    fail(ErrorKind::corrupt, subject, "GPT claims {} entries (more than {})", count, kMaxGptEntries);
  std::uint64_t array_bytes = std::uint64_t{count} * entry_size;
  std::uint64_t array_sectors = (array_bytes + sector_size - 1) / sector_size;
  if (entries_lba < 2 || !sectors_fit(entries_lba, array_sectors, sector_size, disk.size()))
    fail(ErrorKind::corrupt, subject, "GPT entry array at LBA {} lies beyond the end of the disk",
         entries_lba);
  auto array = read_bytes(disk, entries_lba * sector_size, static_cast<std::size_t>(array_bytes));
  if (crc32_of(array) != entries_crc) fail(ErrorKind::corrupt, subject, "GPT entry array CRC32 mismatch");

  PartitionTable table;
  table.type = TableType::gpt;
  table.sector_size = sector_size;
  static constexpr std::array<std::byte, 16> kUnused{};
  for (std::uint32_t i = 0; i < count; ++i) {
    std::span<const std::byte> entry(array.data() + std::size_t{i} * entry_size, entry_size);
    if (std::equal(kUnused.begin(), kUnused.end(), entry.begin())) continue;
    int number = static_cast<int>(i) + 1;
    std::uint64_t first = le<std::uint64_t>(entry, 32);
    std::uint64_t last = le<std::uint64_t>(entry, 40);
    if (last < first || last == UINT64_MAX || !sectors_fit(first, last - first + 1, sector_size, disk.size()))
      fail(ErrorKind::corrupt, subject, "partition {}: LBA {}..{} lies beyond the end of the disk ({} bytes)",
           number, first, last, disk.size());
    Partition p;
    p.number = number;
    p.offset = first * sector_size;
    p.size = (last - first + 1) * sector_size;
    p.type = guid_text(entry.subspan(0, 16));
    p.uuid = guid_text(entry.subspan(16, 16));
    p.name = gpt_name(entry.subspan(56, std::min<std::size_t>(kGptNameUnits * 2, entry_size - 56)));
    table.partitions.push_back(std::move(p));
  }
  return table;
}

}  // namespace

std::string_view to_string(TableType type) {
  switch (type) {
    case TableType::none:
      return "none";
    case TableType::mbr:
      return "mbr";
    case TableType::gpt:
      return "gpt";
  }
  return "none";
}

PartitionTable read_partition_table(BlockDevice& disk) {
  if (disk.size() < kMbrSector) return {};
  // A GPT header at byte 512 means 512-byte sectors; at byte 4096, 4096-byte ones.
  for (std::uint32_t sector_size : {512u, 4096u})
    if (has_gpt_signature(disk, sector_size)) return read_gpt(disk, sector_size);
  auto mbr = read_bytes(disk, 0, kMbrSector);
  if (!has_boot_signature(mbr) || !looks_like_mbr(mbr)) return {};
  bool any_entry = false;
  for (int i = 0; i < 4; ++i) any_entry = any_entry || !is_empty(mbr_entry(mbr, i));
  if (!any_entry && is_filesystem_boot_sector(mbr)) return {};
  for (int i = 0; i < 4; ++i)
    if (mbr_entry(mbr, i).type == 0xEE)
      fail(ErrorKind::corrupt, disk.describe(),
           "protective MBR (type 0xee) but no GPT header at byte 512 or 4096; the backup GPT at the end of "
           "the disk "
           "may be intact (repair a copy with gdisk)");
  return read_mbr(disk, mbr);
}

}  // namespace dormant::image
