// open_nbd: reads through qemu-nbd equal the raw source for every format,
// the qemu-nbd child is reaped, and qcow2 backing files are not followed
// unless the probe saw them.
#include <dirent.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <vector>

#include "dormant/core/error.hpp"
#include "dormant/core/subprocess.hpp"
#include "dormant/image/nbd_device.hpp"
#include "dormant/image/probe.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using dormant::ErrorKind;
using dormant::image::open_nbd;
using dormant::image::probe_image;
using dormant::testing::run_ok;

namespace {

// Children of this process, zombies included, from /proc.
std::vector<std::string> child_processes() {
  std::vector<std::string> found;
  const std::string me = std::to_string(::getpid());
  for (const auto& entry : fs::directory_iterator("/proc")) {
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!stat || !std::getline(stat, line)) continue;
    auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    std::string state, ppid;
    rest >> state >> ppid;
    if (ppid == me) found.push_back(line.substr(0, close + 1) + " " + state);
  }
  return found;
}

class NbdDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    raw_ = dir_ / "source.raw";
    source_.resize(3 * 1024 * 1024);
    for (std::size_t i = 0; i < source_.size(); ++i)
      source_[i] = static_cast<std::byte>((i * 2654435761u) >> 11);
    std::ofstream(raw_, std::ios::binary)
        .write(reinterpret_cast<const char*>(source_.data()), static_cast<std::streamsize>(source_.size()));
  }

  fs::path convert(const std::string& format) {
    auto out = dir_ / ("disk." + format);
    run_ok({"qemu-img", "convert", "-f", "raw", "-O", format, raw_.string(), out.string()});
    return out;
  }

  dormant::testing::TempDir tmp_{"dormant-nbd"};
  fs::path dir_ = tmp_.path();
  fs::path raw_;
  std::vector<std::byte> source_;
};

TEST_F(NbdDeviceTest, ReadsEqualTheRawSourceForEveryFormat) {
  for (std::string format : {"qcow2", "vmdk", "vhdx", "vpc", "raw"}) {
    auto probe = probe_image(format == "raw" ? raw_ : convert(format));
    auto device = open_nbd(probe);
    ASSERT_GE(device->size(), source_.size()) << format;  // vpc rounds up to its CHS geometry
    EXPECT_EQ(device->size(), probe.virtual_size);
    std::vector<std::byte> all(source_.size());
    device->read(0, all);
    EXPECT_TRUE(all == source_) << format;
    std::vector<std::byte> odd(4097);
    device->read(12345, odd);
    EXPECT_TRUE(std::equal(odd.begin(), odd.end(), source_.begin() + 12345)) << format;
    EXPECT_FALSE(device->writable());
    EXPECT_EQ(device->describe(), probe.path.filename().string());
  }
  EXPECT_TRUE(child_processes().empty());
}

TEST_F(NbdDeviceTest, NoQemuNbdIsLeftAfterDestruction) {
  auto probe = probe_image(convert("qcow2"));
  {
    auto device = open_nbd(probe);
    EXPECT_EQ(child_processes().size(), 1u);  // the qemu-nbd that libnbd started
  }
  auto left = child_processes();
  EXPECT_TRUE(left.empty()) << left.front();
}

TEST_F(NbdDeviceTest, OpenAndCloseIsFast) {
  auto probe = probe_image(convert("qcow2"));
  constexpr int kRounds = 10;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kRounds; ++i) {
    auto device = open_nbd(probe);
    std::vector<std::byte> sector(512);
    device->read(0, sector);
  }
  auto each =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start) /
      kRounds;
  RecordProperty("open_read_close_us", static_cast<int>(each.count()));
  std::printf("open+read+close of a qcow2 through qemu-nbd: %.1f ms\n",
              static_cast<double>(each.count()) / 1000.0);
  if (!dormant::testing::kSanitized) {
    EXPECT_LT(each, std::chrono::milliseconds(500));
  }
}

TEST_F(NbdDeviceTest, ReadBeyondTheEndIsCorruptAndWriteOnReadOnlyIsUnsupported) {
  auto device = open_nbd(probe_image(convert("qcow2")));
  std::vector<std::byte> buffer(512);
  try {
    device->read(device->size() - 100, buffer);
    ADD_FAILURE() << "read beyond the end succeeded";
  } catch (const dormant::Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::corrupt);
  }
  try {
    device->write(0, buffer);
    ADD_FAILURE() << "write on a read-only device succeeded";
  } catch (const dormant::Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::unsupported);
  }
}

TEST_F(NbdDeviceTest, ImageThatVanishedAfterTheProbeIsAnIoErrorNamingIt) {
  auto probe = probe_image(convert("qcow2"));
  fs::remove(probe.path);
  try {
    open_nbd(probe);
    ADD_FAILURE() << "opened a deleted image";
  } catch (const dormant::Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::io) << e.what();
    EXPECT_EQ(e.subject(), "disk.qcow2");
  }
  EXPECT_TRUE(child_processes().empty());
}

TEST_F(NbdDeviceTest, WritableDeviceWritesThroughToTheImage) {
  auto probe = probe_image(convert("qcow2"));
  std::vector<std::byte> pattern(70000, std::byte{0x5a});
  {
    dormant::image::NbdOptions options;
    options.writable = true;
    auto device = open_nbd(probe, options);
    ASSERT_TRUE(device->writable());
    device->write(1000, pattern);
    device->flush();
  }
  auto device = open_nbd(probe);
  std::vector<std::byte> back(pattern.size());
  device->read(1000, back);
  EXPECT_TRUE(back == pattern);
}

TEST_F(NbdDeviceTest, BackingFileSeenByTheProbeIsRead) {
  auto child = dir_ / "child.qcow2";
  run_ok({"qemu-img", "create", "-f", "qcow2", "-F", "raw", "-b", "source.raw", child.string()});
  auto device = open_nbd(probe_image(child));
  std::vector<std::byte> all(source_.size());
  device->read(0, all);
  EXPECT_TRUE(all == source_);
}

TEST_F(NbdDeviceTest, BackingFileWithoutARecordedFormatIsRefused) {
  auto probe = probe_image(convert("qcow2"));
  probe.backing_file = raw_;  // as the probe reports an old image made without -F
  try {
    open_nbd(probe);
    ADD_FAILURE() << "opened with an unpinned backing format";
  } catch (const dormant::Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::hostile) << e.what();
  }
}

TEST_F(NbdDeviceTest, BackingFileAddedAfterTheProbeIsNotFollowed) {
  auto image = dir_ / "plain.qcow2";
  run_ok({"qemu-img", "create", "-f", "qcow2", image.string(), std::to_string(source_.size())});
  auto probe = probe_image(image);
  ASSERT_FALSE(probe.backing_file);
  // The header changes between probe and open (a race, or a hostile writer).
  run_ok({"qemu-img", "rebase", "-u", "-f", "qcow2", "-F", "raw", "-b", "source.raw", image.string()});
  auto device = open_nbd(probe);
  std::vector<std::byte> head(4096);
  device->read(0, head);
  EXPECT_TRUE(std::all_of(head.begin(), head.end(), [](std::byte b) { return b == std::byte{0}; }))
      << "qemu-nbd followed a backing file the probe never saw";
}

}  // namespace
