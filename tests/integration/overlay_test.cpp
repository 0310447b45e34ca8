// image/overlay.hpp on the fixture images: overlays pin the backing format,
// flattening equals the chain (qemu-img compare), e2fsck through the
// qemu-storage-daemon FUSE export sees clean fixtures clean and a damaged
// overlay damaged, the dirty-journal fixture is replayed on its overlay
// (dumpe2fs), and the library image stays byte-identical throughout.
#include "dormant/image/overlay.hpp"

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "dormant/core/error.hpp"
#include "dormant/core/sha256.hpp"
#include "dormant/image/probe.hpp"
#include "fixture_support.hpp"

namespace dormant::testing {
namespace {

namespace fs = std::filesystem;
using image::check_ext_filesystem;
using image::create_overlay;
using image::flatten_overlay;
using image::replay_ext_journal;

template <typename F>
std::string expect_error(ErrorKind kind, F&& f) {
  try {
    f();
    ADD_FAILURE() << "no error, expected " << to_string(kind);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    return e.what();
  }
  return "";
}

// Sets an environment variable for the scope of the object.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// Lines of /proc/self/mounts that mention `dir`.
std::vector<std::string> mounts_under(const fs::path& dir) {
  std::vector<std::string> out;
  std::ifstream in("/proc/self/mounts");
  for (std::string line; std::getline(in, line);)
    if (line.find(dir.string()) != std::string::npos) out.push_back(line);
  return out;
}

struct Partition {
  std::uint64_t offset = 0, length = 0;
};

// Partition n of `disk` as sfdisk (the reference) reads it from a raw copy.
Partition partition_of(const fs::path& disk, const std::string& format, int n, const fs::path& scratch) {
  const fs::path raw = scratch / "table.raw";
  run_ok({"qemu-img", "convert", "-f", format, "-O", "raw", disk.string(), raw.string()});
  auto table = nlohmann::json::parse(run_ok({"sfdisk", "-J", raw.string()}).out).at("partitiontable");
  std::uint64_t sector = table.value("sectorsize", 512);
  fs::remove(raw);
  for (const auto& p : table.at("partitions")) {
    if (p.at("node").get<std::string>() == raw.string() + std::to_string(n))
      return {p.at("start").get<std::uint64_t>() * sector, p.at("size").get<std::uint64_t>() * sector};
  }
  ADD_FAILURE() << "no partition " << n << " in " << disk;
  return {};
}

std::string dumpe2fs_features(const fs::path& raw) {
  auto out = run_ok({"dumpe2fs", "-h", raw.string()}).out;
  std::smatch m;
  std::regex re("Filesystem features:\\s*([^\n]*)");
  return std::regex_search(out, m, re) ? m[1].str() : "";
}

class OverlayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    try {
      manifest();
    } catch (const std::exception& e) {
      FAIL() << "fixture manifest: " << e.what();
    }
    // The FUSE exports go to temp dirs under TMPDIR: point it into this
    // test's dir so that leftover mounts can be found.
    tmpdir_env_.emplace("TMPDIR", dir_.path().string());
  }

  void TearDown() override {
    EXPECT_TRUE(mounts_under(dir_.path()).empty()) << "a FUSE export was left mounted";
    for (const auto& [base, sha] : base_sha_)
      EXPECT_EQ(sha256_file(base).sha256, sha)
          << base << " changed: the library image must stay byte-identical";
  }

  // An overlay of fixture `file`, remembering the fixture's sha256.
  fs::path overlay_of(const std::string& file, const std::string& name = "ov.qcow2") {
    auto base = image_path(manifest_entry(file));
    if (!base_sha_.count(base)) base_sha_[base] = sha256_file(base).sha256;
    auto overlay = dir_.path() / name;
    create_overlay(image::probe_image(base), overlay);
    return overlay;
  }

  TempDir dir_{"dormant-overlay"};
  std::optional<ScopedEnv> tmpdir_env_;
  std::map<fs::path, std::string> base_sha_;
};

TEST_F(OverlayTest, OverlayPinsAbsoluteBackingAndFormat) {
  for (const std::string file : {"mbr-ext3.raw", "mbr-ext4.qcow2", "gpt-vfat-ext4.vhdx"}) {
    SCOPED_TRACE(file);
    const auto& entry = manifest_entry(file);
    auto overlay = overlay_of(file, "ov-" + entry.at("format").get<std::string>() + ".qcow2");
    auto info = nlohmann::json::parse(
        run_ok({"qemu-img", "info", "-f", "qcow2", "--output=json", overlay.string()}).out);
    EXPECT_EQ(info.at("format"), "qcow2");
    EXPECT_EQ(info.at("backing-filename"), image_path(entry).string());
    EXPECT_TRUE(fs::path(info.at("backing-filename").get<std::string>()).is_absolute());
    EXPECT_EQ(info.at("backing-filename-format"), entry.at("format"));
    auto base = nlohmann::json::parse(
        run_ok({"qemu-img", "info", "-f", entry.at("format"), "--output=json", image_path(entry).string()})
            .out);
    EXPECT_EQ(info.at("virtual-size"), base.at("virtual-size"));
    // The chain reads as the base.
    run_ok({"qemu-img", "compare", "-f", "qcow2", "-F", entry.at("format"), overlay.string(),
            image_path(entry).string()});
    expect_error(ErrorKind::conflict,
                 [&] { create_overlay(image::probe_image(image_path(entry)), overlay); });
  }
}

TEST_F(OverlayTest, FlattenEqualsTheChainInRawAndQcow2) {
  auto overlay = overlay_of("mbr-ext4.qcow2");
  const auto base = image_path(manifest_entry("mbr-ext4.qcow2"));
  // A change in the overlay, so that flattening must take it from there.
  run_ok({"qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 1M 64k", overlay.string()});

  for (const std::string format : {"raw", "qcow2"}) {
    SCOPED_TRACE(format);
    auto dest = dir_.path() / ("flat." + format);
    flatten_overlay(overlay, format, dest);
    auto info = nlohmann::json::parse(run_ok({"qemu-img", "info", "--output=json", dest.string()}).out);
    EXPECT_EQ(info.at("format"), format);
    EXPECT_FALSE(info.contains("backing-filename")) << "flattened image must be standalone";
    run_ok({"qemu-img", "compare", "-f", format, "-F", "qcow2", dest.string(), overlay.string()});
    auto differs =
        run_process({"qemu-img", "compare", "-q", "-f", format, "-F", "qcow2", dest.string(), base.string()});
    EXPECT_EQ(differs.exit_code, 1) << "the overlay's write must be in the flattened image";
    expect_error(ErrorKind::conflict, [&] { flatten_overlay(overlay, format, dest); });
  }
  // Sparse: the raw file allocates far less than its 80 MiB.
  auto raw_info = nlohmann::json::parse(
      run_ok({"qemu-img", "info", "--output=json", (dir_.path() / "flat.raw").string()}).out);
  EXPECT_LT(raw_info.at("actual-size").get<std::uint64_t>(),
            raw_info.at("virtual-size").get<std::uint64_t>());

  expect_error(ErrorKind::usage, [&] { flatten_overlay(overlay, "iso", dir_.path() / "flat.iso"); });
  // No temp names left beside the destinations.
  for (const auto& e : fs::directory_iterator(dir_.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
}

TEST_F(OverlayTest, FlattenOnAFullFilesystemIsAnIoErrorAndLeavesNothing) {
  auto overlay = overlay_of("mbr-ext4.qcow2");
  run_ok({"qemu-io", "-f", "qcow2", "-c", "write -P 0x33 0 8M", overlay.string()});
  const fs::path small = dir_.path() / "small";
  fs::create_directory(small);
  if (::mount("tmpfs", small.c_str(), "tmpfs", 0, "size=2m") != 0)
    GTEST_SKIP() << "cannot mount a small tmpfs here: " << std::strerror(errno);
  struct Unmount {
    fs::path p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{small};
  auto what = expect_error(ErrorKind::io, [&] { flatten_overlay(overlay, "raw", small / "flat.raw"); });
  EXPECT_NE(what.find("flat.raw"), std::string::npos) << what;
  EXPECT_NE(what.find("No space left on device"), std::string::npos) << what;
  EXPECT_TRUE(fs::is_empty(small)) << "destination and temp file must be removed";
}

TEST_F(OverlayTest, CheckIsCleanOnFreshOverlays) {
  struct Case {
    std::string file;
    int partition;  // 0: whole disk
  };
  for (const Case& c : {Case{"backing-base.qcow2", 0}, Case{"ext2-whole.qcow2", 0}, Case{"mbr-ext4.qcow2", 1},
                        Case{"gpt-vfat-ext4.vhdx", 2}, Case{"mbr-ext3.raw", 1}}) {
    SCOPED_TRACE(c.file);
    const auto& entry = manifest_entry(c.file);
    auto overlay = overlay_of(c.file, "check-" + c.file + ".qcow2");
    Partition p;
    if (c.partition != 0) p = partition_of(image_path(entry), entry.at("format"), c.partition, dir_.path());
    auto result = check_ext_filesystem(overlay, p.offset, p.length);
    EXPECT_TRUE(result.clean) << result.output;
    EXPECT_EQ(result.exit_status, 0);
    EXPECT_NE(result.output.find("Pass 5"), std::string::npos) << result.output;
  }
}

TEST_F(OverlayTest, CheckFindsDamageWrittenIntoTheOverlay) {
  const auto& entry = manifest_entry("backing-base.qcow2");
  auto overlay = overlay_of("backing-base.qcow2");
  // Where the root inode lives, from dumpe2fs on a raw copy of the base.
  const fs::path raw = dir_.path() / "base.raw";
  run_ok({"qemu-img", "convert", "-f", "qcow2", "-O", "raw", image_path(entry).string(), raw.string()});
  auto header = run_ok({"dumpe2fs", raw.string()}).out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(header, m, std::regex("Block size:\\s*(\\d+)")));
  const std::uint64_t block_size = std::stoull(m[1]);
  ASSERT_TRUE(std::regex_search(header, m, std::regex("Inode table at (\\d+)-")));
  const std::uint64_t table = std::stoull(m[1]);
  // Inodes 1..(block/inode size) in the first table block: zero them (root is 2).
  run_ok({"qemu-io", "-f", "qcow2", "-c", fmt::format("write -z {} {}", table * block_size, block_size),
          overlay.string()});

  auto result = check_ext_filesystem(overlay, 0, 0);
  EXPECT_FALSE(result.clean);
  EXPECT_TRUE(result.exit_status & 4) << "errors left uncorrected: " << result.exit_status << result.output;
  EXPECT_NE(result.output.find("Root inode"), std::string::npos) << result.output;
  // The reference: e2fsck on a flattened copy ends the same way.
  flatten_overlay(overlay, "raw", dir_.path() / "damaged.raw");
  auto direct = run_process({"e2fsck", "-fn", (dir_.path() / "damaged.raw").string()});
  EXPECT_EQ(result.exit_status, direct.exit_code) << direct.out;
  // The check opened the overlay read-only: nothing was repaired in it.
  EXPECT_FALSE(check_ext_filesystem(overlay, 0, 0).clean);
}

TEST_F(OverlayTest, ReplayClearsNeedsRecoveryOnTheOverlayOnly) {
  const auto& entry = manifest_entry("dirty-journal.qcow2");
  ASSERT_TRUE(entry.value("needs_recovery", false));
  const fs::path base = image_path(entry);
  auto overlay = overlay_of("dirty-journal.qcow2");

  flatten_overlay(overlay, "raw", dir_.path() / "before.raw");
  EXPECT_NE(dumpe2fs_features(dir_.path() / "before.raw").find("needs_recovery"), std::string::npos);

  replay_ext_journal(overlay, 0, 0);

  const fs::path after = dir_.path() / "after.raw";
  flatten_overlay(overlay, "raw", after);
  auto features = dumpe2fs_features(after);
  EXPECT_NE(features.find("has_journal"), std::string::npos) << features;
  EXPECT_EQ(features.find("needs_recovery"), std::string::npos) << features;
  // The journalled block was applied.
  const auto block = entry.at("journal_block").get<std::uint64_t>();
  const auto block_size = entry.at("journal_block_size").get<std::uint64_t>();
  std::ifstream in(after, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(block * block_size));
  std::string data(block_size, '\0');
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  EXPECT_EQ(data, std::string(block_size, entry.at("journal_marker").get<std::string>().at(0)));
  EXPECT_EQ(run_process({"e2fsck", "-fn", after.string()}).exit_code, 0);
  EXPECT_TRUE(check_ext_filesystem(overlay, 0, 0).clean);
  // A second replay has nothing to do.
  replay_ext_journal(overlay, 0, 0);
  // The base still needs recovery (TearDown checks its sha256 too).
  flatten_overlay(overlay, "raw", dir_.path() / "unused.raw");
  const fs::path base_raw = dir_.path() / "base.raw";
  run_ok({"qemu-img", "convert", "-f", "qcow2", "-O", "raw", base.string(), base_raw.string()});
  EXPECT_NE(dumpe2fs_features(base_raw).find("needs_recovery"), std::string::npos);
}

TEST_F(OverlayTest, ReplayOnAPartition) {
  // mbr-ext3 has a clean journal: replay through the raw slice node is a
  // no-op that must still find the superblock there.
  const auto& entry = manifest_entry("mbr-ext3.raw");
  auto overlay = overlay_of("mbr-ext3.raw");
  auto p = partition_of(image_path(entry), "raw", 1, dir_.path());
  replay_ext_journal(overlay, p.offset, p.length);
  EXPECT_TRUE(check_ext_filesystem(overlay, p.offset, p.length).clean);
  // The whole disk starts with the MBR, not a superblock.
  expect_error(ErrorKind::corrupt, [&] { replay_ext_journal(overlay, 0, 0); });
}

TEST_F(OverlayTest, MissingQemuStorageDaemonIsUnsupportedAndNamesThePackage) {
  auto overlay = overlay_of("backing-base.qcow2");
  std::string what;
  {
    ScopedEnv path("PATH", (dir_.path() / "empty-bin").string());
    what = expect_error(ErrorKind::unsupported, [&] { check_ext_filesystem(overlay, 0, 0); });
  }
  EXPECT_NE(what.find("qemu-storage-daemon"), std::string::npos) << what;
  EXPECT_NE(what.find("qemu-system-common"), std::string::npos) << what;
}

TEST_F(OverlayTest, DaemonFailureIsAnIoErrorWithQemusMessage) {
  // A raw image is not an overlay: qemu-storage-daemon refuses to open it as
  // qcow2 (read-only check export, so nothing is written either way).
  const auto base = image_path(manifest_entry("mbr-ext3.raw"));
  base_sha_[base] = sha256_file(base).sha256;
  auto what = expect_error(ErrorKind::io, [&] { check_ext_filesystem(base, 0, 0); });
  EXPECT_NE(what.find("qcow2"), std::string::npos) << what;
  expect_error(ErrorKind::not_found, [&] { check_ext_filesystem(dir_.path() / "missing.qcow2", 0, 0); });
}

TEST_F(OverlayTest, TimeOutIsALimitErrorAndStopsTheExport) {
  auto overlay = overlay_of("backing-base.qcow2");
  expect_error(ErrorKind::limit, [&] { check_ext_filesystem(overlay, 0, 0, std::chrono::seconds(0)); });
  // TearDown: no export left mounted. The overlay is usable again (not locked).
  EXPECT_TRUE(check_ext_filesystem(overlay, 0, 0).clean);
}

}  // namespace
}  // namespace dormant::testing
