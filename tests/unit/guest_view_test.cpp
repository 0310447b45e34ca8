// The fast GuestView: confinement of guest paths (symlinks, "..", mounts) on
// ext4 filesystems made by mke2fs -d, and open_guest on sfdisk-partitioned
// disks read through qemu-nbd, compared with the source trees.
#include "dormant/image/guest_view.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <regex>

#include "../../src/image/fast_guest_view.hpp"
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
using dormant::testing::sfdisk;
using dormant::testing::TempDir;
using dormant::testing::write_file;

namespace {

const fs::path rootfs = dormant::testing::fixture_rootfs();

void mke2fs(const fs::path& tree, const fs::path& target, const std::string& size,
            std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {"mke2fs", "-q", "-F", "-t", "ext4", "-d", tree.string()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(target.string());
  argv.push_back(size);
  run_ok(argv);
}

// A filesystem in memory plus the Filesystem reading it.
struct MemoryFs {
  std::unique_ptr<MemoryDevice> device;
  std::unique_ptr<Filesystem> fs;
};

MemoryFs open_in_memory(const fs::path& image) {
  MemoryFs out;
  out.device = std::make_unique<MemoryDevice>(read_file_bytes(image), image.filename().string());
  out.fs = open_ext_filesystem(*out.device);
  if (!out.fs) throw std::runtime_error("not ext: " + image.string());
  return out;
}

// Two filesystems: a root with hostile symlinks, and a /var whose symlinks
// point back into the root.
class FastView : public ::testing::Test {
 protected:
  void SetUp() override {
    const fs::path root_tree = dir.path() / "root", var_tree = dir.path() / "var";
    write_file(root_tree / "etc/hostname", "guest-host\n");
    write_file(root_tree / "etc/shadow", "root:guest-shadow:19000::::::\n");
    fs::create_directories(root_tree / "var");
    write_file(root_tree / "var/hidden-under-mount", "must not be seen\n");
    fs::create_symlink("/etc/../../../../etc/hostname", root_tree / "escape");
    fs::create_symlink("../../../../../etc/shadow", root_tree / "etc/relative-escape");
    fs::create_symlink("/etc/shadow", root_tree / "host-shadow");
    fs::create_symlink("/etc/passwd", root_tree / "host-passwd");  // absent in the guest
    fs::create_symlink("loop-b", root_tree / "loop-a");
    fs::create_symlink("loop-a", root_tree / "loop-b");
    fs::create_symlink("etc", root_tree / "etc-link");
    // A chain of exactly 40 hops is allowed, 41 is not (Linux MAXSYMLINKS).
    for (int i = 0; i < 41; ++i)
      fs::create_symlink("c" + std::to_string(i + 1), root_tree / ("c" + std::to_string(i)));
    write_file(root_tree / "c41", "end of chain\n");
    write_file(var_tree / "lib/dpkg/status", "Package: dormant-test\nStatus: install ok installed\n\n");
    fs::create_symlink("/etc/hostname", var_tree / "to-root");
    fs::create_symlink("../etc/hostname", var_tree / "dotdot-to-root");
    mke2fs(root_tree, dir.path() / "root.img", "8M");
    mke2fs(var_tree, dir.path() / "var.img", "8M");
    root = open_in_memory(dir.path() / "root.img");
    var = open_in_memory(dir.path() / "var.img");
    view = make_fast_guest_view({{{"/", "partition 1", "ext4", root.fs->uuid()}, root.fs.get()},
                                 {{"/var", "partition 2", "ext4", var.fs->uuid()}, var.fs.get()}},
                                "disk.qcow2");
  }

  static ErrorKind kind_of(const std::function<void()>& action) {
    try {
      action();
    } catch (const Error& error) {
      return error.kind();
    }
    return ErrorKind::internal;
  }

  TempDir dir{"dormant-guest"};
  MemoryFs root, var;
  std::unique_ptr<GuestView> view;
};

TEST_F(FastView, SymlinksNeverLeaveTheGuestRoot) {
  EXPECT_EQ(view->access(), "fast");
  EXPECT_EQ(view->read_file("/escape", 4096), "guest-host\n");
  EXPECT_EQ(view->read_file("/etc/relative-escape", 4096), "root:guest-shadow:19000::::::\n");
  // The guest's /etc/shadow, never the host's (which this test can read as root).
  const auto shadow = view->read_file("/host-shadow", 4096);
  ASSERT_TRUE(shadow);
  EXPECT_EQ(*shadow, "root:guest-shadow:19000::::::\n");
  // (Readable only as root: unreadable, there is no host content to compare.)
  if (fs::exists("/etc/shadow") && ::access("/etc/shadow", R_OK) == 0) {
    EXPECT_NE(*shadow, read_file_text("/etc/shadow"));
  }
  EXPECT_EQ(view->read_file("/host-passwd", 4096), std::nullopt);
  EXPECT_EQ(view->read_file("/../../../etc/hostname", 4096), "guest-host\n");
  EXPECT_EQ(view->read_file("/etc-link/../etc-link/./hostname", 4096), "guest-host\n");
}

TEST_F(FastView, SymlinkLoopsAndChainsAreBounded) {
  try {
    view->read_file("/loop-a", 4096);
    FAIL() << "followed a loop";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::corrupt);
    EXPECT_NE(std::string(error.what()).find("too many levels of symbolic links"), std::string::npos)
        << error.what();
  }
  EXPECT_EQ(view->read_file("/c1", 4096), "end of chain\n");                      // 40 hops
  EXPECT_EQ(kind_of([&] { view->read_file("/c0", 4096); }), ErrorKind::corrupt);  // 41
  EXPECT_EQ(view->type_of("/c0", false), FileType::symlink);
}

TEST_F(FastView, MountsAreCrossedBothWays) {
  EXPECT_EQ(view->read_file("/var/lib/dpkg/status", 4096),
            "Package: dormant-test\nStatus: install ok installed\n\n");
  EXPECT_EQ(view->read_file("/var/hidden-under-mount", 4096), std::nullopt);
  EXPECT_EQ(view->read_file("/var/to-root", 4096), "guest-host\n");
  EXPECT_EQ(view->read_file("/var/dotdot-to-root", 4096), "guest-host\n");
  EXPECT_EQ(view->read_file("/var/../etc/hostname", 4096), "guest-host\n");
  EXPECT_EQ(view->read_file("/etc/../var/lib/../lib/dpkg/status", 4096).has_value(), true);
  auto names = view->list_dir("/var");
  ASSERT_TRUE(names);
  EXPECT_NE(std::find(names->begin(), names->end(), "lib"), names->end());
  ASSERT_EQ(view->mounts().size(), 2u);
  EXPECT_EQ(view->mounts()[1].mountpoint, "/var");
}

TEST_F(FastView, TypesCapsAndMisuse) {
  EXPECT_EQ(view->type_of("/etc"), FileType::directory);
  EXPECT_EQ(view->type_of("/escape"), FileType::regular);
  EXPECT_EQ(view->type_of("/escape", false), FileType::symlink);
  EXPECT_EQ(view->type_of("/"), FileType::directory);
  EXPECT_EQ(view->type_of("/nope"), std::nullopt);
  EXPECT_EQ(view->read_file("/etc/hostname/below-a-file", 4096), std::nullopt);
  EXPECT_EQ(view->list_dir("/nope"), std::nullopt);
  EXPECT_EQ(kind_of([&] { view->read_file("/escape", 4096, false); }), ErrorKind::unsupported);
  EXPECT_EQ(kind_of([&] { view->read_file("/etc", 4096); }), ErrorKind::unsupported);
  EXPECT_EQ(kind_of([&] { view->read_file("/etc/hostname", 3); }), ErrorKind::limit);
  EXPECT_EQ(kind_of([&] { view->read_file("etc/hostname", 4096); }), ErrorKind::usage);
  EXPECT_EQ(kind_of([&] { view->read_file("/" + std::string(5000, 'a'), 4096); }), ErrorKind::limit);
  EXPECT_EQ(kind_of([&] { view->list_dir("/", 1); }), ErrorKind::limit);
}

// --- open_guest on whole disks -------------------------------------------

struct PartitionPlace {
  std::uint64_t offset;
  std::uint64_t size;
  std::string uuid;
};

std::vector<PartitionPlace> partitions_of(const fs::path& disk) {
  auto result = dormant::run_process({"sfdisk", "--json", disk.string()});
  const auto table = nlohmann::json::parse(result.out).at("partitiontable");
  std::vector<PartitionPlace> places;
  const std::uint64_t sector = table.value("sectorsize", 512);
  for (const auto& p : table.at("partitions"))
    places.push_back({p.at("start").get<std::uint64_t>() * sector, p.at("size").get<std::uint64_t>() * sector,
                      p.value("uuid", "")});
  return places;
}

std::string new_uuid() {
  std::ifstream in("/proc/sys/kernel/random/uuid");  // procfs reports size 0: read a line
  std::string line;
  std::getline(in, line);
  return line;
}

// A GPT disk: partition 1 root (os-release from the cached rootfs, fstab
// naming /var by UUID=), partition 2 /var (the rootfs's dpkg status).
struct TwoPartitionDisk {
  TempDir dir{"dormant-guest"};
  fs::path raw() const { return dir.path() / "disk.raw"; }
  fs::path status_source = rootfs / "var/lib/dpkg/status";
  std::string root_uuid = new_uuid(), var_uuid = new_uuid();
  std::string var_partuuid = new_uuid();
};

std::unique_ptr<TwoPartitionDisk> make_two_partition_disk(const std::string& var_line_override = "",
                                                          bool var_is_xfs = false, bool mbr = false) {
  auto disk = std::make_unique<TwoPartitionDisk>();
  const fs::path root_tree = disk->dir.path() / "root", var_tree = disk->dir.path() / "var";
  fs::create_directories(root_tree / "etc");
  fs::create_directories(root_tree / "usr/lib");
  fs::create_directories(root_tree / "var");
  fs::copy_file(rootfs / "usr/lib/os-release", root_tree / "usr/lib/os-release");
  fs::create_symlink(fs::read_symlink(rootfs / "etc/os-release"), root_tree / "etc/os-release");
  write_file(
      root_tree / "etc/fstab",
      "# made by guest_view_test\n"
      "UUID=" +
          disk->root_uuid + " / ext4 errors=remount-ro 0 1\n" +
          (var_line_override.empty()
               ? "UUID=" + disk->var_uuid + " /var ext4 defaults 0 2\n"
               : std::regex_replace(var_line_override, std::regex("VAR_PARTUUID"), disk->var_partuuid)) +
          "/dev/vda3 none swap sw 0 0\nproc /proc proc defaults 0 0\n");
  fs::create_directories(var_tree / "lib/dpkg");
  fs::copy_file(disk->status_source, var_tree / "lib/dpkg/status");

  run_ok({"truncate", "-s", var_is_xfs ? "360M" : "64M", disk->raw().string()});
  if (mbr)
    sfdisk(disk->raw(), "label: dos\nlabel-id: 0x5eed1234\nsize=24MiB\nsize=24MiB\nsize=4MiB\n");
  else
    sfdisk(disk->raw(), "label: gpt\nsize=24MiB\nsize=" + std::string(var_is_xfs ? "310" : "24") +
                            "MiB, uuid=" + disk->var_partuuid + "\nsize=4MiB\n");
  const auto places = partitions_of(disk->raw());
  EXPECT_EQ(places.size(), 3u);
  if (places.size() != 3) return disk;
  mke2fs(root_tree, disk->raw(), std::to_string(places[0].size / 1024) + "k",
         {"-U", disk->root_uuid, "-E", "offset=" + std::to_string(places[0].offset)});
  if (var_is_xfs) {
    // mkfs.xfs writes into a file at an offset only through a separate image.
    const fs::path xfs = disk->dir.path() / "var.xfs";
    run_ok({"truncate", "-s", std::to_string(places[1].size), xfs.string()});
    run_ok({"mkfs.xfs", "-q", "-f", "-m", "uuid=" + disk->var_uuid, xfs.string()});
    run_ok({"dd", "if=" + xfs.string(), "of=" + disk->raw().string(), "bs=1M", "conv=notrunc,sparse",
            "seek=" + std::to_string(places[1].offset), "oflag=seek_bytes", "status=none"});
  } else {
    mke2fs(var_tree, disk->raw(), std::to_string(places[1].size / 1024) + "k",
           {"-U", disk->var_uuid, "-L", "dormant-var", "-E", "offset=" + std::to_string(places[1].offset)});
  }
  run_ok({"truncate", "-s", "4M", (disk->dir.path() / "swap").string()});
  run_ok({"mkswap", "-q", (disk->dir.path() / "swap").string()});
  run_ok({"dd", "if=" + (disk->dir.path() / "swap").string(), "of=" + disk->raw().string(), "bs=1M",
          "conv=notrunc", "seek=" + std::to_string(places[2].offset), "oflag=seek_bytes", "status=none"});
  return disk;
}

TEST(OpenGuest, RootAndVarFromTwoGptPartitions) {
  if (!fs::exists(rootfs / "var/lib/dpkg/status"))
    FAIL() << "no cached rootfs (tests/fixtures/make-rootfs.sh)";
  auto disk = make_two_partition_disk();
  OpenOptions options;
  options.allow_guestfs = false;
  auto guest = open_guest(disk->raw(), options);
  ASSERT_TRUE(guest.view);
  EXPECT_EQ(guest.view->access(), "fast");
  EXPECT_EQ(guest.view->read_file("/var/lib/dpkg/status", 16 << 20), read_file_text(disk->status_source));
  EXPECT_EQ(guest.view->read_file("/etc/os-release", 65536), read_file_text(rootfs / "usr/lib/os-release"));
  const auto mounts = guest.view->mounts();
  ASSERT_EQ(mounts.size(), 2u);
  EXPECT_EQ(mounts[0].mountpoint, "/");
  EXPECT_EQ(mounts[0].device, "partition 1");
  EXPECT_EQ(mounts[0].uuid, disk->root_uuid);
  EXPECT_EQ(mounts[1].mountpoint, "/var");
  EXPECT_EQ(mounts[1].device, "partition 2");
  EXPECT_EQ(mounts[1].fstype, "ext4");
  EXPECT_EQ(mounts[1].uuid, disk->var_uuid);
}

TEST(OpenGuest, FstabByKernelNameThroughQcow2) {
  if (!fs::exists(rootfs / "var/lib/dpkg/status"))
    FAIL() << "no cached rootfs (tests/fixtures/make-rootfs.sh)";
  auto disk = make_two_partition_disk("/dev/vda2 /var ext4 defaults 0 2\n");
  const fs::path qcow2 = disk->dir.path() / "disk.qcow2";
  run_ok({"qemu-img", "convert", "-f", "raw", "-O", "qcow2", disk->raw().string(), qcow2.string()});
  OpenOptions options;
  options.allow_guestfs = false;
  auto guest = open_guest(qcow2, options);
  EXPECT_EQ(guest.probe.format, ImageFormat::qcow2);
  EXPECT_EQ(guest.view->read_file("/var/lib/dpkg/status", 16 << 20), read_file_text(disk->status_source));
}

TEST(OpenGuest, FstabByPartuuid) {
  if (!fs::exists(rootfs / "var/lib/dpkg/status"))
    FAIL() << "no cached rootfs (tests/fixtures/make-rootfs.sh)";
  auto disk = make_two_partition_disk("PARTUUID=VAR_PARTUUID /var ext4 defaults 0 2\n");
  OpenOptions options;
  options.allow_guestfs = false;
  auto guest = open_guest(disk->raw(), options);
  EXPECT_EQ(guest.view->read_file("/var/lib/dpkg/status", 16 << 20), read_file_text(disk->status_source));
}

TEST(OpenGuest, FstabByLabelAndMbrPartuuid) {
  if (!fs::exists(rootfs / "var/lib/dpkg/status")) FAIL() << "no cached rootfs (tests/fixtures/make-rootfs.sh)";
  OpenOptions options;
  options.allow_guestfs = false;
  auto by_label = make_two_partition_disk("LABEL=dormant-var /var ext4 defaults 0 2\n");
  EXPECT_EQ(open_guest(by_label->raw(), options).view->read_file("/var/lib/dpkg/status", 16 << 20),
            read_file_text(by_label->status_source));
  // MBR PARTUUIDs are "<disk identifier>-<partition number>", as blkid reports them.
  auto mbr = make_two_partition_disk("PARTUUID=5eed1234-02 /var ext4 defaults 0 2\n", false, true);
  auto guest = open_guest(mbr->raw(), options);
  EXPECT_EQ(guest.view->read_file("/var/lib/dpkg/status", 16 << 20), read_file_text(mbr->status_source));
  ASSERT_EQ(guest.view->mounts().size(), 2u);
  EXPECT_EQ(guest.view->mounts()[1].device, "partition 2");
}

TEST(OpenGuest, VarNamingNothingOnTheDiskIsAnError) {
  if (!fs::exists(rootfs / "var/lib/dpkg/status"))
    FAIL() << "no cached rootfs (tests/fixtures/make-rootfs.sh)";
  const std::string missing = new_uuid();
  auto disk = make_two_partition_disk("UUID=" + missing + " /var ext4 defaults 0 2\n");
  OpenOptions options;
  options.allow_guestfs = false;
  try {
    open_guest(disk->raw(), options);
    FAIL() << "an fstab entry for /var that names nothing was ignored";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::unsupported) << error.what();
    EXPECT_NE(std::string(error.what()).find("UUID=" + missing), std::string::npos) << error.what();
  }
}

TEST(OpenGuest, XfsVarNeedsTheFallback) {
  if (!fs::exists(rootfs / "var/lib/dpkg/status"))
    FAIL() << "no cached rootfs (tests/fixtures/make-rootfs.sh)";
  auto disk = make_two_partition_disk("", true);
  OpenOptions options;
  options.allow_guestfs = false;
  try {
    open_guest(disk->raw(), options);
    FAIL() << "opened a guest whose /var is xfs without guestfs";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::unsupported) << error.what();
    EXPECT_NE(std::string(error.what()).find("xfs"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("guestfs"), std::string::npos) << error.what();
  }
}

TEST(OpenGuest, NoRootNamesWhatTheDiskHolds) {
  TempDir dir{"dormant-guest"};
  const fs::path raw = dir.path() / "empty.raw";
  run_ok({"truncate", "-s", "48M", raw.string()});
  sfdisk(raw, "label: gpt\nsize=36MiB\nsize=4MiB\n");
  const auto places = partitions_of(raw);
  ASSERT_EQ(places.size(), 2u);
  const fs::path vfat = dir.path() / "vfat", swap = dir.path() / "swap";
  run_ok({"truncate", "-s", std::to_string(places[0].size), vfat.string()});
  run_ok({"mkfs.vfat", "-F", "32", vfat.string()});
  run_ok({"truncate", "-s", std::to_string(places[1].size), swap.string()});
  run_ok({"mkswap", "-q", swap.string()});
  for (std::size_t i = 0; i < 2; ++i)
    run_ok({"dd", "if=" + (i == 0 ? vfat : swap).string(), "of=" + raw.string(), "bs=1M", "conv=notrunc",
            "seek=" + std::to_string(places[i].offset), "oflag=seek_bytes", "status=none"});
  try {
    open_guest(raw);
    FAIL() << "found a root";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::unsupported) << error.what();
    EXPECT_NE(std::string(error.what()).find("no Linux root filesystem found (partitions: 1 vfat, 2 swap)"),
              std::string::npos)
        << error.what();
  }
}

TEST(OpenGuest, CorruptRootSuperblockIsCorruptNotMissing) {
  TempDir dir{"dormant-guest"};
  write_file(dir.path() / "tree/usr/lib/os-release", "ID=debian\n");
  const fs::path raw = dir.path() / "whole.raw";
  mke2fs(dir.path() / "tree", raw, "16M");
  {
    std::fstream file(raw, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(1024);
    const std::string garbage(1024, '\x5a');
    file.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  try {
    open_guest(raw);
    FAIL() << "opened a guest with a garbage superblock";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::corrupt) << error.what();
  }
}

TEST(OpenGuest, WholeDiskExt4WithoutFstab) {
  TempDir dir{"dormant-guest"};
  write_file(dir.path() / "tree/usr/lib/os-release", "ID=debian\n");
  write_file(dir.path() / "tree/etc/hostname", "whole\n");
  mke2fs(dir.path() / "tree", dir.path() / "whole.raw", "8M");
  auto guest = open_guest(dir.path() / "whole.raw");
  EXPECT_EQ(guest.view->read_file("/etc/hostname", 100), "whole\n");
  ASSERT_EQ(guest.view->mounts().size(), 1u);
  EXPECT_EQ(guest.view->mounts()[0].device, "whole disk");
}

}  // namespace
