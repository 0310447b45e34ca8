// parse_fstab against util-linux's own parser (`findmnt --fstab --tab-file`),
// plus the bounds dormant adds for hostile guests.
#include "dormant/image/fstab.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "dormant/core/subprocess.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using dormant::image::FstabEntry;
using dormant::image::parse_fstab;

namespace {

std::vector<FstabEntry> findmnt_reference(const std::string& text) {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = (fs::path(base ? base : "/tmp") / "dormant-fstab-XXXXXX").string();
  int fd = ::mkstemp(pattern.data());
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  ::close(fd);
  std::ofstream(pattern, std::ios::binary) << text;
  auto result = dormant::run_process(
      {"findmnt", "--fstab", "--tab-file", pattern, "-J", "-o", "SOURCE,TARGET,FSTYPE,OPTIONS"});
  fs::remove(pattern);
  std::vector<FstabEntry> entries;
  if (result.out.empty()) return entries;  // an empty table: findmnt prints nothing and exits 1
  EXPECT_EQ(result.exit_code, 0) << result.err;
  const auto table = nlohmann::json::parse(result.out);
  for (const auto& item : table.at("filesystems")) {
    auto text_of = [&](const char* key) {
      return item.at(key).is_null() ? std::string() : item.at(key).get<std::string>();
    };
    entries.push_back({text_of("source"), text_of("target"), text_of("fstype"), text_of("options")});
  }
  return entries;
}

void expect_like_findmnt(const std::string& text) {
  const auto reference = findmnt_reference(text);
  const auto parsed = parse_fstab(text);
  ASSERT_EQ(parsed.size(), reference.size()) << text;
  for (std::size_t i = 0; i < parsed.size(); ++i) {
    EXPECT_EQ(parsed[i].spec, reference[i].spec) << text;
    EXPECT_EQ(parsed[i].mountpoint, reference[i].mountpoint) << text;
    EXPECT_EQ(parsed[i].fstype, reference[i].fstype) << text;
    EXPECT_EQ(parsed[i].options, reference[i].options) << text;
  }
}

TEST(Fstab, TypicalDebianInstallerFstab) {
  expect_like_findmnt(
      "# /etc/fstab: static file system information.\n"
      "#\n"
      "# <file system> <mount point>   <type>  <options>       <dump>  <pass>\n"
      "# / was on /dev/vda1 during installation\n"
      "UUID=0b5a7f3e-9a53-4a8b-9d9e-1b2c3d4e5f60 /               ext4    errors=remount-ro 0       1\n"
      "# /var was on /dev/vda3 during installation\n"
      "UUID=1c6b8f4f-0b64-4b9c-8e0f-2c3d4e5f6071 /var            ext4    defaults        0       2\n"
      "# swap was on /dev/vda5 during installation\n"
      "UUID=2d7c9a5a-1c75-4cad-9f1a-3d4e5f607182 none            swap    sw              0       0\n"
      "/dev/sr0        /media/cdrom0   udf,iso9660 user,noauto     0       0\n");
}

TEST(Fstab, OctalEscapesTabsAndMissingFields) {
  expect_like_findmnt("LABEL=my\\040data\t/srv/my\\040data\\011x  ext4\tdefaults,noatime 0 2\n");
  expect_like_findmnt("/dev/vdb1 /mnt ext4\n");                   // no options, dump, pass
  expect_like_findmnt("/dev/vdb1 /mnt\n/dev/vdb2 /x ext4 ro\n");  // a line with two fields is skipped
  expect_like_findmnt("   # indented comment\n\n\t\n/dev/vdc /back\\134slash xfs rw 0 0\n");
  EXPECT_EQ(parse_fstab("/dev/a /b\\040c ext4 ro").at(0).mountpoint, "/b c");
  EXPECT_EQ(parse_fstab("/dev/a /b\\9 ext4 ro").at(0).mountpoint, "/b\\9");  // not an escape: kept
  EXPECT_EQ(parse_fstab("/dev/a /b\\04 ext4 ro").at(0).mountpoint, "/b\\04");
}

TEST(Fstab, WindowsLineEndingsAreTolerated) {
  auto entries = parse_fstab("/dev/vda1 / ext4 defaults 0 1\r\n/dev/vda2 /var ext4 defaults 0 2\r\n");
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[1].mountpoint, "/var");
}

TEST(Fstab, AtMostAThousandEntries) {
  std::string text;
  for (int i = 0; i < 5000; ++i)
    text += "/dev/vd" + std::to_string(i) + " /m" + std::to_string(i) + " ext4 ro 0 0\n";
  auto entries = parse_fstab(text);
  ASSERT_EQ(entries.size(), 1000u);
  EXPECT_EQ(entries.back().mountpoint, "/m999");
}

TEST(Fstab, HugeLinesAndBinaryGarbageAreSkipped) {
  std::string text = std::string(100000, 'x') + " / ext4 ro\n";
  text += std::string("\0\0\0 / ext4", 10) + "\n";
  text += "/dev/vda1 / ext4 ro\n";
  auto entries = parse_fstab(text);
  ASSERT_FALSE(entries.empty());
  EXPECT_EQ(entries.back().spec, "/dev/vda1");
  EXPECT_TRUE(parse_fstab("").empty());
  EXPECT_TRUE(parse_fstab("\n\n#\n").empty());
}

TEST(Fstab, TheCachedRootfsFstabParses) {
  const fs::path fstab = dormant::testing::fixture_rootfs() / "etc/fstab";
  if (!fs::exists(fstab)) FAIL() << "no cached rootfs (tests/fixtures/make-rootfs.sh)";
  std::ifstream in(fstab);
  expect_like_findmnt(std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()));
}

}  // namespace
