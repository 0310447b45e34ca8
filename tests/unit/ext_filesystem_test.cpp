// ExtFilesystem and probe_signature against filesystems made at test time by
// mke2fs -d (and mkfs.xfs, mkfs.btrfs, mkswap, mkfs.vfat, cryptsetup), with
// the source directory tree, debugfs/dumpe2fs and `blkid -p` as references.
#include "../../src/image/ext_filesystem.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include "dormant/core/error.hpp"
#include "dormant/core/subprocess.hpp"
#include "dormant/image/block_device.hpp"
#include "dormant/image/filesystem.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using dormant::Error;
using dormant::ErrorKind;
using namespace dormant::image;
using dormant::testing::read_file_bytes;
using dormant::testing::read_file_text;
using dormant::testing::run_ok;
using dormant::testing::TempDir;
using dormant::testing::write_file;

namespace {

// A raw file read with pread: test-only, so that big images (xfs needs
// 300 MiB) are not copied into memory.
class FileDevice final : public BlockDevice {
 public:
  explicit FileDevice(const fs::path& path)
      : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)), name_(path.filename()) {
    if (fd_ < 0) throw std::runtime_error("cannot open " + path.string());
    size_ = fs::file_size(path);
  }
  ~FileDevice() override { ::close(fd_); }
  std::uint64_t size() const override { return size_; }
  void read(std::uint64_t offset, std::span<std::byte> out) override {
    if (offset > size_ || out.size() > size_ - offset)
      dormant::fail(ErrorKind::corrupt, name_, "read of {} bytes at {} past the end", out.size(), offset);
    if (::pread(fd_, out.data(), out.size(), static_cast<off_t>(offset)) != static_cast<ssize_t>(out.size()))
      dormant::fail(ErrorKind::io, name_, "short read");
  }
  std::string describe() const override { return name_; }

 private:
  int fd_;
  std::string name_;
  std::uint64_t size_ = 0;
};

std::string random_text(std::size_t size, unsigned seed) {
  std::mt19937 generator(seed);
  std::string out(size, '\0');
  for (auto& c : out) c = static_cast<char>(generator() & 0xff);
  return out;
}

// The tree every filesystem test reads back: the hostile symlinks are
// resolved by the GuestView; here they must read back as written.
void make_tree(const fs::path& root) {
  write_file(root / "etc/hostname", "guest-host\n");
  write_file(root / "etc/shadow", "root:guest-shadow:19000:0:99999:7:::\n");
  write_file(root / "etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n");
  write_file(root / "var/lib/dpkg/status", "Package: base-files\nStatus: install ok installed\n\n");
  write_file(root / "big.bin", random_text(1536 * 1024 + 123, 7));
  write_file(root / "empty", "");
  write_file(root / "a/b/c/d/deep.txt", "deep\n");
  for (int i = 0; i < 40; ++i) write_file(root / "many" / ("f" + std::to_string(i)), std::to_string(i));
  fs::create_symlink("etc/hostname", root / "fast-link");
  const std::string long_target = "a/b/c/../../b/c/../c/d/" + std::string(150, 'x') + "/../deep.txt";
  fs::create_symlink(long_target, root / "slow-link");
  fs::create_symlink("/etc/../../../../etc/hostname", root / "escape-link");
  fs::create_symlink("loop-b", root / "loop-a");
  fs::create_symlink("loop-a", root / "loop-b");
  fs::create_symlink("/etc/shadow", root / "host-shadow");
}

struct Image {
  TempDir dir{"dormant-ext"};
  fs::path tree() const { return dir.path() / "tree"; }
  fs::path file() const { return dir.path() / "fs.img"; }
};

std::unique_ptr<Image> make_image(const std::string& type, const std::vector<std::string>& extra = {},
                                  const std::string& size = "24M") {
  auto image = std::make_unique<Image>();
  make_tree(image->tree());
  std::vector<std::string> argv = {
      "mke2fs", "-q", "-F", "-t", type, "-L", "dormant-" + type, "-d", image->tree().string()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(image->file().string());
  argv.push_back(size);
  auto result = dormant::run_process(argv);
  if (result.exit_code != 0) throw std::runtime_error("mke2fs failed: " + result.err);
  return image;
}

std::string dumpe2fs_field(const fs::path& file, const std::string& field) {
  auto result = dormant::run_process({"dumpe2fs", "-h", file.string()});
  std::istringstream lines(result.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with(field + ":")) {
      std::string value = line.substr(field.size() + 1);
      value.erase(0, value.find_first_not_of(' '));
      return value == "<none>" ? "" : value;
    }
  }
  return "?";
}

std::optional<Inode> walk(Filesystem& filesystem, const fs::path& relative) {
  Inode at = filesystem.root();
  for (const auto& part : relative) {
    auto next = filesystem.lookup(at, part.string());
    if (!next) return std::nullopt;
    at = *next;
  }
  return at;
}

// Every file, directory and symlink of the source tree, read back and compared.
void expect_same_tree(Filesystem& filesystem, const fs::path& tree) {
  std::size_t files = 0, links = 0, dirs = 0;
  for (auto it = fs::recursive_directory_iterator(tree); it != fs::recursive_directory_iterator(); ++it) {
    const fs::path relative = it->path().lexically_relative(tree);
    auto inode = walk(filesystem, relative);
    ASSERT_TRUE(inode) << relative;
    if (it->is_symlink()) {
      it.disable_recursion_pending();
      ASSERT_EQ(inode->type, FileType::symlink) << relative;
      EXPECT_EQ(filesystem.read_link(*inode), fs::read_symlink(it->path()).string()) << relative;
      ++links;
    } else if (it->is_directory()) {
      ASSERT_EQ(inode->type, FileType::directory) << relative;
      std::set<std::string> expected, seen;
      for (const auto& entry : fs::directory_iterator(it->path()))
        expected.insert(entry.path().filename().string());
      for (const auto& [name, child] : filesystem.list(*inode, 1000)) seen.insert(name);
      EXPECT_EQ(seen, expected) << relative;
      ++dirs;
    } else {
      ASSERT_EQ(inode->type, FileType::regular) << relative;
      EXPECT_EQ(inode->size, fs::file_size(it->path())) << relative;
      EXPECT_TRUE(filesystem.read(*inode, 16 << 20) == read_file_text(it->path())) << relative;
      ++files;
    }
  }
  EXPECT_GT(files, 40u);
  EXPECT_EQ(links, 6u);
  EXPECT_GT(dirs, 5u);
}

class ExtTypes : public ::testing::TestWithParam<std::string> {};

TEST_P(ExtTypes, ReadsBackTheSourceTree) {
  const std::string type = GetParam();
  auto image = make_image(type);
  MemoryDevice device(read_file_bytes(image->file()), "fs.img");
  auto filesystem = open_ext_filesystem(device);
  ASSERT_TRUE(filesystem);
  EXPECT_EQ(filesystem->type(), type);
  EXPECT_EQ(probe_signature(device), type);
  EXPECT_EQ(filesystem->uuid(), dumpe2fs_field(image->file(), "Filesystem UUID"));
  EXPECT_EQ(filesystem->label(), dumpe2fs_field(image->file(), "Filesystem volume name"));
  expect_same_tree(*filesystem, image->tree());
}

INSTANTIATE_TEST_SUITE_P(Ext, ExtTypes, ::testing::Values("ext2", "ext3", "ext4"));

TEST(ExtFilesystem, InlineDataFilesDirectoriesAndSymlinks) {
  auto image = make_image("ext4", {"-O", "inline_data", "-I", "256"});
  // debugfs is the reference that the feature really is in use.
  auto stat = dormant::run_process({"debugfs", "-R", "stat /etc/hostname", image->file().string()});
  ASSERT_NE(stat.out.find("inline data"), std::string::npos) << stat.out;
  MemoryDevice device(read_file_bytes(image->file()), "inline.img");
  auto filesystem = open_ext_filesystem(device);
  ASSERT_TRUE(filesystem);
  expect_same_tree(*filesystem, image->tree());
}

TEST(ExtFilesystem, ZeroesAreNotExt) {
  MemoryDevice device(std::vector<std::byte>(4 << 20), "zeroes");
  EXPECT_EQ(open_ext_filesystem(device), nullptr);
  EXPECT_EQ(probe_signature(device), "");
  MemoryDevice tiny(std::vector<std::byte>(100), "tiny");
  EXPECT_EQ(open_ext_filesystem(tiny), nullptr);
}

TEST(ExtFilesystem, CorruptSuperblockIsCorruptAndNamesTheDevice) {
  auto image = make_image("ext4");
  auto bytes = read_file_bytes(image->file());
  std::mt19937 generator(3);
  for (std::size_t i = 1024; i < 2048; ++i) bytes[i] = static_cast<std::byte>(generator() & 0xff);
  MemoryDevice device(std::move(bytes), "disk.qcow2 partition 2");
  try {
    open_ext_filesystem(device);
    FAIL() << "opened a filesystem with a garbage superblock";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::corrupt) << error.what();
    EXPECT_TRUE(std::string(error.what()).starts_with("disk.qcow2 partition 2: ")) << error.what();
    EXPECT_NE(std::string(error.what()).find("e2fsck -b"), std::string::npos) << error.what();
  }
}

TEST(ExtFilesystem, DamagedFieldsBehindAValidMagicAreCorrupt) {
  auto image = make_image("ext4");
  auto bytes = read_file_bytes(image->file());
  // s_log_block_size = 200: the checksum and the geometry are both wrong.
  bytes[1024 + 24] = std::byte{200};
  MemoryDevice device(std::move(bytes), "bad.img");
  try {
    open_ext_filesystem(device);
    FAIL() << "opened";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::corrupt) << error.what();
  }
}

TEST(ExtFilesystem, UnknownIncompatFeatureIsUnsupported) {
  auto image = make_image("ext2", {"-O", "^metadata_csum"});
  auto bytes = read_file_bytes(image->file());
  bytes[1024 + 96 + 3] |= std::byte{0x40};  // incompat bit 30: no such feature
  MemoryDevice device(std::move(bytes), "future.img");
  try {
    open_ext_filesystem(device);
    FAIL() << "opened";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::unsupported) << error.what();
  }
}

TEST(ExtFilesystem, CapIsCheckedBeforeReading) {
  auto image = make_image("ext4");
  MemoryDevice device(read_file_bytes(image->file()), "fs.img");
  auto filesystem = open_ext_filesystem(device);
  auto* ext = dynamic_cast<ExtFilesystem*>(filesystem.get());
  ASSERT_NE(ext, nullptr);
  auto big = walk(*filesystem, "big.bin");
  ASSERT_TRUE(big);
  const auto before = ext->io_stats().device_bytes;
  try {
    filesystem->read(*big, 1 << 20);
    FAIL() << "read over the cap";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::limit) << error.what();
  }
  // At most the chunk holding the inode; never the 1.5 MiB of data.
  EXPECT_LE(ext->io_stats().device_bytes - before, ext_io::Context::chunk_size);
  EXPECT_EQ(filesystem->read(*big, big->size).size(), big->size);
}

TEST(ExtFilesystem, ListStopsAtMaxEntries) {
  auto image = make_image("ext4");
  MemoryDevice device(read_file_bytes(image->file()), "fs.img");
  auto filesystem = open_ext_filesystem(device);
  auto many = walk(*filesystem, "many");
  ASSERT_TRUE(many);
  EXPECT_EQ(filesystem->list(*many, 40).size(), 40u);
  try {
    filesystem->list(*many, 39);
    FAIL() << "listed past max_entries";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::limit) << error.what();
  }
}

TEST(ExtFilesystem, LookupRejectsNamesWithSlashesAndNonDirectories) {
  auto image = make_image("ext4");
  MemoryDevice device(read_file_bytes(image->file()), "fs.img");
  auto filesystem = open_ext_filesystem(device);
  Inode root = filesystem->root();
  EXPECT_FALSE(filesystem->lookup(root, "etc/hostname"));
  EXPECT_FALSE(filesystem->lookup(root, ""));
  auto hostname = walk(*filesystem, "etc/hostname");
  ASSERT_TRUE(hostname);
  EXPECT_FALSE(filesystem->lookup(*hostname, "x"));
  EXPECT_THROW(filesystem->read(root, 1 << 20), Error);
}

TEST(ExtFilesystem, ChannelCacheCoalescesBlockReads) {
  auto image = make_image("ext4");
  MemoryDevice device(read_file_bytes(image->file()), "fs.img");
  auto filesystem = open_ext_filesystem(device);
  auto* ext = dynamic_cast<ExtFilesystem*>(filesystem.get());
  ASSERT_NE(ext, nullptr);
  expect_same_tree(*filesystem, image->tree());
  // libext2fs asked for many blocks; far fewer device reads went out.
  EXPECT_GT(ext->io_stats().requests, 4 * ext->io_stats().device_reads);
}

TEST(ExtFilesystem, JournalNeedingRecoveryIsStillReadable) {
  auto image = make_image("ext4", {"-O", "^metadata_csum"});
  auto bytes = read_file_bytes(image->file());
  {
    MemoryDevice clean(bytes, "clean.img");
    auto filesystem = open_ext_filesystem(clean);
    ASSERT_NE(dynamic_cast<ExtFilesystem*>(filesystem.get()), nullptr);
    EXPECT_FALSE(dynamic_cast<ExtFilesystem*>(filesystem.get())->needs_recovery());
  }
  bytes[1024 + 96] |= std::byte{0x04};  // EXT3_FEATURE_INCOMPAT_RECOVER, as an unclean shutdown leaves it
  MemoryDevice device(std::move(bytes), "unclean.img");
  auto filesystem = open_ext_filesystem(device);
  auto* ext = dynamic_cast<ExtFilesystem*>(filesystem.get());
  ASSERT_NE(ext, nullptr);
  EXPECT_TRUE(ext->needs_recovery());
  expect_same_tree(*filesystem, image->tree());
}

TEST(ExtFilesystem, WritableOpenAndCloseLeavesAConsistentFilesystem) {
  auto image = make_image("ext4");
  auto device = std::make_unique<MemoryDevice>(read_file_bytes(image->file()), "rw.img", true);
  {
    auto filesystem = open_ext_filesystem(*device, true);
    ASSERT_TRUE(filesystem);
    expect_same_tree(*filesystem, image->tree());
  }
  const fs::path copy = image->dir.path() / "after.img";
  {
    std::ofstream out(copy, std::ios::binary);
    out.write(reinterpret_cast<const char*>(device->bytes().data()), static_cast<std::streamsize>(device->bytes().size()));
  }
  auto check = dormant::run_process({"e2fsck", "-fn", copy.string()});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  MemoryDevice read_only(read_file_bytes(image->file()), "ro.img");
  EXPECT_THROW(open_ext_filesystem(read_only, true), Error);
}

// Walks everything reachable, as the GuestView would, bounded.
std::size_t walk_everything(Filesystem& filesystem, const Inode& dir, int depth) {
  std::size_t seen = 0;
  for (const auto& [name, inode] : filesystem.list(dir, 1000)) {
    ++seen;
    if (inode.type == FileType::directory && depth < 8) seen += walk_everything(filesystem, inode, depth + 1);
    if (inode.type == FileType::regular) filesystem.read(inode, 4 << 20);
    if (inode.type == FileType::symlink) filesystem.read_link(inode);
  }
  return seen;
}

// Hostile images: random damage to the metadata area must only ever surface
// as dormant::Error (run under ASan+UBSan for the full value of this test).
TEST(ExtFilesystem, DamagedMetadataOnlyThrowsErrors) {
  for (const std::string type : {"ext2", "ext4"}) {
    auto image = make_image(type, {"-O", "^metadata_csum"}, "8M");
    const auto pristine = read_file_bytes(image->file());
    std::size_t errors = 0;
    for (unsigned seed = 1; seed <= 40; ++seed) {
      auto bytes = pristine;
      std::mt19937 generator(seed);
      const std::size_t end = std::min<std::size_t>(bytes.size(), 1 << 20);
      for (int i = 0; i < 200; ++i)
        bytes[2048 + generator() % (end - 2048)] = static_cast<std::byte>(generator() & 0xff);
      MemoryDevice device(std::move(bytes), "damaged.img");
      try {
        auto filesystem = open_ext_filesystem(device);
        if (filesystem) walk_everything(*filesystem, filesystem->root(), 0);
      } catch (const Error&) {
        ++errors;
      }
    }
    // Most of the damage is noticed (the rest landed in unused space).
    EXPECT_GT(errors, 0u) << type;
  }
}

// probe_signature against `blkid -p` (the reference) on real filesystems.
std::map<std::string, std::string> blkid(const fs::path& file) {
  auto result = dormant::run_process({"blkid", "-p", "-o", "export", file.string()});
  std::map<std::string, std::string> values;
  std::istringstream lines(result.out);
  for (std::string line; std::getline(lines, line);) {
    auto equals = line.find('=');
    if (equals != std::string::npos) values[line.substr(0, equals)] = line.substr(equals + 1);
  }
  return values;
}

void expect_like_blkid(const fs::path& file) {
  const auto reference = blkid(file);
  ASSERT_TRUE(reference.contains("TYPE")) << file;
  FileDevice device(file);
  const auto seen = dormant::image::probe_signature(device);
  EXPECT_EQ(seen, reference.at("TYPE")) << file;
}

TEST(ProbeSignature, AgreesWithBlkid) {
  TempDir dir{"dormant-ext"};
  auto make = [&](const std::string& name, const std::string& size) {
    fs::path file = dir.path() / name;
    run_ok({"truncate", "-s", size, file.string()});
    return file;
  };
  const fs::path swap = make("swap.img", "4M");
  run_ok({"mkswap", "-q", "-L", "swaplabel", swap.string()});
  expect_like_blkid(swap);
  const fs::path vfat = make("vfat.img", "34M");
  run_ok({"mkfs.vfat", "-F", "32", "-n", "EFI", vfat.string()});
  expect_like_blkid(vfat);
  const fs::path vfat16 = make("vfat16.img", "20M");
  run_ok({"mkfs.vfat", "-F", "16", vfat16.string()});
  expect_like_blkid(vfat16);
  const fs::path btrfs = make("btrfs.img", "120M");
  run_ok({"mkfs.btrfs", "-q", "-f", btrfs.string()});
  expect_like_blkid(btrfs);
  const fs::path xfs = make("xfs.img", "300M");
  run_ok({"mkfs.xfs", "-q", "-f", xfs.string()});
  expect_like_blkid(xfs);
}

// LVM2_member is not compared: pvcreate needs a block device (a loop device
// would change the host), so the LVM magic is only exercised by the guestfs tests.
TEST(ProbeSignature, LuksHeader) {
  TempDir dir{"dormant-ext"};
  const fs::path luks = dir.path() / "luks.img";
  run_ok({"truncate", "-s", "20M", luks.string()});
  // A throwaway key through a file: cryptsetup reads no terminal here.
  write_file(dir.path() / "key", "dormant-test-key");
  run_ok({"cryptsetup", "luksFormat", "-q", "--type", "luks2", "--pbkdf", "pbkdf2",
          "--pbkdf-force-iterations", "1000", "--key-file", (dir.path() / "key").string(), luks.string()});
  expect_like_blkid(luks);
}

}  // namespace
