// read_partition_table against tables written by sfdisk/sgdisk, compared with
// what `sfdisk --json` (the reference) reads from the same file.
#include "dormant/image/partition.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "dormant/core/error.hpp"
#include "dormant/core/subprocess.hpp"
#include "dormant/image/block_device.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using dormant::ErrorKind;
using dormant::image::MemoryDevice;
using dormant::image::read_partition_table;
using dormant::image::TableType;
using dormant::testing::read_file_bytes;
using dormant::testing::run_ok;
using dormant::testing::sfdisk;

namespace {

nlohmann::json sfdisk_json(const fs::path& target) {
  auto result = dormant::run_process({"sfdisk", "--json", target.string()});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  return nlohmann::json::parse(result.out).at("partitiontable");
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Compares our reading of `file` with sfdisk's reading of `reference` (the
// file itself, or a loop device over it with another sector size).
void expect_same_as_sfdisk(const fs::path& file, const fs::path& reference, TableType type) {
  MemoryDevice disk(read_file_bytes(file), file.filename().string());
  auto table = read_partition_table(disk);
  auto ref = sfdisk_json(reference);
  EXPECT_EQ(table.type, type);
  const auto sector = ref.at("sectorsize").get<std::uint64_t>();
  EXPECT_EQ(table.sector_size, sector);
  const auto& parts = ref.at("partitions");
  ASSERT_EQ(table.partitions.size(), parts.size());
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto& want = parts[i];
    const auto& got = table.partitions[i];
    std::string node = want.at("node");
    // "disk.raw5" for a file, "/dev/loop0p5" for a loop device.
    auto digits = node.find_last_not_of("0123456789") + 1;
    EXPECT_EQ(std::to_string(got.number), node.substr(digits)) << node;
    EXPECT_EQ(got.offset, want.at("start").get<std::uint64_t>() * sector) << node;
    EXPECT_EQ(got.size, want.at("size").get<std::uint64_t>() * sector) << node;
    if (type == TableType::mbr) {
      EXPECT_EQ(got.type, "0x" + std::string(want.at("type").get<std::string>().size() == 1 ? "0" : "") +
                              want.at("type").get<std::string>())
          << node;
    } else {
      EXPECT_EQ(got.type, lower(want.at("type"))) << node;
      EXPECT_EQ(got.uuid, lower(want.at("uuid"))) << node;
      EXPECT_EQ(got.name, want.value("name", "")) << node;
    }
  }
}

void expect_corrupt(std::vector<std::byte> bytes, const std::string& needle) {
  MemoryDevice disk(std::move(bytes), "disk.raw");
  try {
    read_partition_table(disk);
    ADD_FAILURE() << "no error, expected corrupt: " << needle;
  } catch (const dormant::Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::corrupt) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_EQ(e.subject(), "disk.raw");
  }
}

void put_le32(std::vector<std::byte>& b, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + static_cast<std::size_t>(i)] = static_cast<std::byte>(v >> (8 * i));
}
std::uint32_t get_le32(const std::vector<std::byte>& b, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= std::to_integer<std::uint32_t>(b[at + static_cast<std::size_t>(i)]) << (8 * i);
  return v;
}

// A loop device with 4096-byte logical sectors over `file`; sfdisk on files
// always assumes 512. Needs root and /dev/loop-control; skipped otherwise.
class Loop {
 public:
  explicit Loop(const fs::path& file) {
    auto result =
        dormant::run_process({"losetup", "--find", "--show", "--sector-size", "4096", file.string()});
    if (result.exit_code == 0) device_ = result.out.substr(0, result.out.find('\n'));
  }
  ~Loop() {
    if (!device_.empty()) dormant::run_process({"losetup", "--detach", device_});
  }
  const std::string& device() const { return device_; }

 private:
  std::string device_;
};

class PartitionTableTest : public ::testing::Test {
 protected:
  fs::path blank(const std::string& name, std::uintmax_t size = 64 * 1024 * 1024) {
    auto path = dir_ / name;
    std::ofstream(path).close();
    fs::resize_file(path, size);
    return path;
  }
  dormant::testing::TempDir tmp_{"dormant-part"};
  fs::path dir_ = tmp_.path();
};

constexpr const char* kDosScript = "label: dos\n,16M,83\n,,5\n,8M,83\n,8M,82\n,,83\n";
constexpr const char* kGptScript =
    "label: gpt\nsize=16M, type=L, name=root\nsize=8M, type=S, name=\"swap é ☃\"\ntype=U\n";

TEST_F(PartitionTableTest, DosWithExtendedAndLogicalMatchesSfdisk) {
  auto disk = blank("dos.raw");
  sfdisk(disk, kDosScript);
  expect_same_as_sfdisk(disk, disk, TableType::mbr);
}

TEST_F(PartitionTableTest, GptMatchesSfdisk) {
  auto disk = blank("gpt.raw");
  sfdisk(disk, kGptScript);
  expect_same_as_sfdisk(disk, disk, TableType::gpt);
}

TEST_F(PartitionTableTest, Gpt4096MatchesSfdiskOnA4096ByteSectorLoopDevice) {
  auto disk = blank("gpt4k.raw");
  Loop loop(disk);
  if (loop.device().empty()) GTEST_SKIP() << "no loop device with 4096-byte sectors here";
  sfdisk(loop.device(), kGptScript);
  run_ok({"blockdev", "--flushbufs", loop.device()});
  expect_same_as_sfdisk(disk, loop.device(), TableType::gpt);
}

TEST_F(PartitionTableTest, Mbr4096WithAFilesystemMatchesSfdiskOnA4096ByteSectorLoopDevice) {
  auto disk = blank("dos4k.raw");
  {
    Loop loop(disk);
    if (loop.device().empty()) GTEST_SKIP() << "no loop device with 4096-byte sectors here";
    sfdisk(loop.device(), kDosScript);
    run_ok({"blockdev", "--flushbufs", loop.device()});
    {
      // An MBR does not record its sector size: before any filesystem exists,
      // the extended partition's boot record is what confirms 4096.
      MemoryDevice bare(read_file_bytes(disk));
      EXPECT_EQ(read_partition_table(bare).sector_size, 4096u);
    }
    auto ref = sfdisk_json(loop.device());
    // With a filesystem at the first partition the rule has a second witness.
    auto start = ref.at("partitions")[0].at("start").get<std::uint64_t>() * 4096;
    auto blocks = ref.at("partitions")[0].at("size").get<std::uint64_t>() * 4;  // 1 KiB blocks
    run_ok({"mke2fs", "-q", "-F", "-t", "ext4", "-b", "1024", "-E", "offset=" + std::to_string(start),
            disk.string(), std::to_string(blocks)});
    expect_same_as_sfdisk(disk, loop.device(), TableType::mbr);
  }
}

TEST_F(PartitionTableTest, WholeDiskFilesystemHasNoTable) {
  auto disk = blank("fs.raw", 8 * 1024 * 1024);
  run_ok({"mke2fs", "-q", "-F", "-t", "ext4", disk.string()});
  MemoryDevice device(read_file_bytes(disk));
  auto table = read_partition_table(device);
  EXPECT_EQ(table.type, TableType::none);
  EXPECT_TRUE(table.partitions.empty());
}

TEST_F(PartitionTableTest, FatBootSectorIsNotAnMbr) {
  auto disk = blank("fat.raw", 8 * 1024 * 1024);
  auto result = dormant::run_process({"mkfs.vfat", disk.string()});
  ASSERT_EQ(result.exit_code, 0) << "mkfs.vfat failed (dosfstools: scripts/install-deps.sh): " << result.err;
  MemoryDevice device(read_file_bytes(disk));
  EXPECT_EQ(read_partition_table(device).type, TableType::none);
}

TEST_F(PartitionTableTest, GptHeaderCrcMismatchIsCorrupt) {
  auto disk = blank("gpt.raw");
  sfdisk(disk, kGptScript);
  auto bytes = read_file_bytes(disk);
  bytes[512 + 56] ^= std::byte{1};  // a byte of the disk GUID
  expect_corrupt(bytes, "GPT header CRC32 mismatch; the backup header at the end of the disk is intact");
  bytes[bytes.size() - 512 + 56] ^= std::byte{1};  // the same byte in the backup header
  expect_corrupt(bytes, "GPT header CRC32 mismatch; the backup header at the end of the disk is damaged too");
}

TEST_F(PartitionTableTest, GptEntryArrayCrcMismatchIsCorrupt) {
  auto disk = blank("gpt.raw");
  sfdisk(disk, kGptScript);
  auto bytes = read_file_bytes(disk);
  bytes[1024 + 56] ^= std::byte{1};  // first entry's name
  expect_corrupt(bytes, "GPT entry array CRC32 mismatch");
}

TEST_F(PartitionTableTest, GptEntryBeyondTheDiskIsCorrupt) {
  auto disk = blank("gpt.raw");
  sfdisk(disk, kGptScript);
  auto bytes = read_file_bytes(disk);
  bytes.resize(20 * 1024 * 1024);  // partition 2 ends at 25 MiB
  expect_corrupt(bytes, "partition 2: LBA");
}

TEST_F(PartitionTableTest, GptWithAbsurdEntryCountIsCorrupt) {
  auto disk = blank("gpt.raw");
  sfdisk(disk, kGptScript);
  auto bytes = read_file_bytes(disk);
  put_le32(bytes, 512 + 80, 1u << 30);
  // Re-seal the header so that only the count is wrong.
  put_le32(bytes, 512 + 16, 0);
  auto header_size = get_le32(bytes, 512 + 12);
  put_le32(bytes, 512 + 16,
           static_cast<std::uint32_t>(
               ::crc32(0, reinterpret_cast<const Bytef*>(bytes.data() + 512), header_size)));
  expect_corrupt(bytes, "entries");
}

TEST_F(PartitionTableTest, ProtectiveMbrWithoutGptIsCorrupt) {
  auto disk = blank("gpt.raw");
  sfdisk(disk, kGptScript);
  auto bytes = read_file_bytes(disk);
  std::fill(bytes.begin() + 512, bytes.begin() + 1024, std::byte{0});
  expect_corrupt(bytes, "protective MBR");
}

TEST_F(PartitionTableTest, ExtendedChainLoopIsCorrupt) {
  auto disk = blank("dos.raw");
  sfdisk(disk, kDosScript);
  auto bytes = read_file_bytes(disk);
  MemoryDevice original(bytes);
  auto table = read_partition_table(original);
  const auto& extended = table.partitions.at(1);
  ASSERT_EQ(extended.type, "0x05");
  // Second EBR (before partition 6): point its link back to the first EBR.
  const auto& logical6 = table.partitions.at(3);
  ASSERT_EQ(logical6.number, 6);
  std::size_t second_ebr = 0;
  for (std::size_t at = logical6.offset - 512;; at -= 512) {
    if (bytes[at + 510] == std::byte{0x55} && bytes[at + 511] == std::byte{0xaa}) {
      second_ebr = at;
      break;
    }
  }
  put_le32(bytes, second_ebr + 446 + 16 + 8, 0);  // link: relative start 0 = the first EBR
  expect_corrupt(bytes, "loops");
}

TEST_F(PartitionTableTest, PrimaryEntryBeyondTheDiskIsCorrupt) {
  auto disk = blank("dos.raw");
  sfdisk(disk, kDosScript);
  auto bytes = read_file_bytes(disk);
  put_le32(bytes, 446 + 12, 0xffffffffu);  // partition 1 sector count
  expect_corrupt(bytes, "partition 1: sectors");
}

TEST_F(PartitionTableTest, LogicalEntryOutsideTheExtendedPartitionIsCorrupt) {
  auto disk = blank("dos.raw");
  sfdisk(disk, kDosScript);
  auto bytes = read_file_bytes(disk);
  MemoryDevice original(bytes);
  auto extended = read_partition_table(original).partitions.at(1);
  put_le32(bytes, extended.offset + 446 + 12, 0x7fffffffu);  // first logical's sector count
  expect_corrupt(bytes, "partition 5");
}

TEST(PartitionTableSmall, TinyAndEmptyDevicesHaveNoTable) {
  for (std::size_t size : {0u, 1u, 511u, 512u, 4096u}) {
    MemoryDevice disk{std::vector<std::byte>(size)};
    EXPECT_EQ(read_partition_table(disk).type, TableType::none) << size;
  }
}

TEST(SliceDeviceTest, BoundsAreCheckedWithoutOverflow) {
  std::vector<std::byte> bytes(4096);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::byte>(i);
  MemoryDevice disk(bytes, "disk.raw");
  dormant::image::SliceDevice slice(disk, 1000, 2000, "disk.raw partition 1");
  std::vector<std::byte> out(10);
  slice.read(1990, out);
  EXPECT_EQ(out[0], bytes[2990]);
  EXPECT_THROW(slice.read(1991, out), dormant::Error);
  EXPECT_THROW(slice.read(UINT64_MAX - 2, out), dormant::Error);
  EXPECT_THROW(dormant::image::SliceDevice(disk, UINT64_MAX, 2, "x"), dormant::Error);
  EXPECT_THROW(dormant::image::SliceDevice(disk, 4000, 100, "x"), dormant::Error);
  try {
    slice.write(0, out);
    ADD_FAILURE() << "write to a read-only slice";
  } catch (const dormant::Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::unsupported);
  }
  MemoryDevice writable(bytes, "w", true);
  dormant::image::SliceDevice wslice(writable, 100, 100, "w1");
  wslice.write(90, out);
  EXPECT_EQ(writable.bytes()[190], out[0]);
  EXPECT_THROW(wslice.write(91, out), dormant::Error);
}

}  // namespace
