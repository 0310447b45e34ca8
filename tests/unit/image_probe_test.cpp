// probe_image against real images made by qemu-img at test time, including
// crafted ones that reference host files outside the library.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <vector>

#include "dormant/core/error.hpp"
#include "dormant/core/subprocess.hpp"
#include "dormant/image/nbd_device.hpp"
#include "dormant/image/probe.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using dormant::ErrorKind;
using dormant::image::ImageFormat;
using dormant::image::probe_image;
using dormant::image::ProbeOptions;
using dormant::testing::run_ok;
using dormant::testing::TempDir;

namespace {

// Expects probe_image to throw an Error of `kind` whose text contains `needle`.
void expect_error(const fs::path& image, ErrorKind kind, const std::string& needle,
                  const ProbeOptions& options = {}) {
  try {
    probe_image(image, options);
    ADD_FAILURE() << image << ": no error, expected " << dormant::to_string(kind);
  } catch (const dormant::Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(image.filename().string()), std::string::npos) << e.what();
  }
}

class ImageProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    raw_ = dir_ / "source.raw";
    std::vector<char> data(2 * 1024 * 1024);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 2654435761u >> 13);
    std::ofstream(raw_, std::ios::binary).write(data.data(), static_cast<std::streamsize>(data.size()));
  }

  fs::path convert(const std::string& format, const std::string& name, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {"qemu-img", "convert", "-f", "raw", "-O", format};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(raw_.string());
    argv.push_back((dir_ / name).string());
    run_ok(argv);
    return dir_ / name;
  }

  // The reference: qemu-img's own report.
  static nlohmann::json qemu_info(const fs::path& path, const std::string& format) {
    auto result = dormant::run_process({"qemu-img", "info", "-f", format, "--output=json", path.string()});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return nlohmann::json::parse(result.out);
  }

  TempDir tmp_{"dormant-probe"};
  fs::path dir_ = tmp_.path();
  fs::path raw_;
};

TEST_F(ImageProbeTest, VirtualSizeMatchesQemuImgForEveryFormat) {
  for (std::string format : {"qcow2", "vmdk", "vhdx", "vpc", "raw"}) {
    auto path = convert(format, "disk." + format);
    auto probe = probe_image(path);
    EXPECT_EQ(dormant::image::to_string(probe.format), format);
    EXPECT_EQ(probe.virtual_size, qemu_info(path, format).at("virtual-size").get<std::uint64_t>()) << format;
    EXPECT_EQ(probe.path, fs::absolute(path));
    EXPECT_FALSE(probe.backing_file);
    EXPECT_TRUE(probe.referenced_files.empty()) << format;
  }
}

TEST_F(ImageProbeTest, BackingFileOutsideTheLibraryIsHostile) {
  auto image = dir_ / "evil.qcow2";
  run_ok({"qemu-img", "create", "-f", "qcow2", "-F", "raw", "-b", "/etc/passwd", "-u", image.string(), "1M"});
  expect_error(image, ErrorKind::hostile, "backing file /etc/passwd lies outside the library");
}

TEST_F(ImageProbeTest, RelativeBackingFileThatClimbsOutIsHostile) {
  auto image = dir_ / "climb.qcow2";
  run_ok({"qemu-img", "create", "-f", "qcow2", "-F", "raw", "-b", "../../../../etc/passwd", "-u",
          image.string(), "1M"});
  expect_error(image, ErrorKind::hostile, "/etc/passwd lies outside the library");
}

TEST_F(ImageProbeTest, JsonBackingSpecIsHostile) {
  auto image = dir_ / "json.qcow2";
  run_ok({"qemu-img", "create", "-f", "qcow2", "-F", "raw", "-b",
          R"(json:{"driver":"file","filename":"/etc/passwd"})", "-u", image.string(), "1M"});
  expect_error(image, ErrorKind::hostile, "json: prefix");
}

TEST_F(ImageProbeTest, BackingFileInsideTheDirectoryIsAccepted) {
  run_ok({"qemu-img", "create", "-f", "raw", (dir_ / "base.raw").string(), "1M"});
  auto image = dir_ / "child.qcow2";
  run_ok({"qemu-img", "create", "-f", "qcow2", "-F", "raw", "-b", "base.raw", image.string(), "1M"});
  auto probe = probe_image(image);
  ASSERT_TRUE(probe.backing_file);
  EXPECT_EQ(*probe.backing_file, fs::absolute(dir_ / "base.raw"));
  EXPECT_EQ(probe.backing_format, ImageFormat::raw);
}

TEST_F(ImageProbeTest, MissingBackingFileIsNamed) {
  auto image = dir_ / "child.qcow2";
  run_ok({"qemu-img", "create", "-f", "qcow2", "-F", "raw", "-b", "base-not-there.raw", "-u", image.string(),
          "1M"});
  expect_error(image, ErrorKind::not_found, "backing file " + (dir_ / "base-not-there.raw").string());
}

TEST_F(ImageProbeTest, EveryLinkOfABackingChainIsConfined) {
  // The top image references a base inside the library, and that base
  // references a host file: qemu would follow the whole chain on open.
  auto middle = dir_ / "middle.qcow2";
  run_ok({"qemu-img", "create", "-f", "qcow2", "-F", "raw", "-b", "/etc/passwd", "-u", middle.string(), "1M"});
  auto top = dir_ / "top.qcow2";
  run_ok({"qemu-img", "create", "-f", "qcow2", "-F", "qcow2", "-b", "middle.qcow2", "-u", top.string(), "1M"});
  expect_error(top, ErrorKind::hostile, "backing file " + middle.string() + ": backing file /etc/passwd");
}

TEST_F(ImageProbeTest, BackingFileWithoutRecordedFormatIsRefused) {
  run_ok({"qemu-img", "create", "-f", "raw", (dir_ / "base.raw").string(), "1M"});
  auto image = dir_ / "child.qcow2";
  // Older qemu-img wrote overlays without a backing format; qemu then probes
  // it, and a raw base holding a qcow2 header would be read as qcow2.
  // qemu-img 7.2 no longer writes such images, so the backing-format header
  // extension (magic 0xE2792ACA) is turned into the end-of-extensions marker.
  run_ok({"qemu-img", "create", "-f", "qcow2", "-b", "base.raw", "-F", "raw", image.string(), "1M"});
  {
    std::fstream file(image, std::ios::in | std::ios::out | std::ios::binary);
    std::string head(4096, '\0');
    file.read(head.data(), static_cast<std::streamsize>(head.size()));
    auto at = head.find(std::string("\xE2\x79\x2A\xCA", 4));
    ASSERT_NE(at, std::string::npos);
    file.clear();
    file.seekp(static_cast<std::streamoff>(at));
    file.write("\0\0\0\0", 4);
  }
  auto info = dormant::run_process({"qemu-img", "info", "-f", "qcow2", "--output=json", image.string()});
  ASSERT_EQ(info.out.find("backing-filename-format"), std::string::npos) << info.out;
  expect_error(image, ErrorKind::hostile, "has no recorded format");
}

TEST_F(ImageProbeTest, AllowedRootsConfineBackingFiles) {
  fs::create_directories(dir_ / "a");
  fs::create_directories(dir_ / "b");
  run_ok({"qemu-img", "create", "-f", "raw", (dir_ / "b" / "base.raw").string(), "1M"});
  auto image = dir_ / "a" / "child.qcow2";
  run_ok({"qemu-img", "create", "-f", "qcow2", "-F", "raw", "-b", (dir_ / "b" / "base.raw").string(), "-u",
          image.string(), "1M"});
  ProbeOptions wide;
  wide.allowed_roots = {dir_};
  EXPECT_EQ(probe_image(image, wide).backing_file, dir_ / "b" / "base.raw");
  expect_error(image, ErrorKind::hostile, "lies outside the library");  // default root: dir_/a
}

TEST_F(ImageProbeTest, ExternalDataFileOutsideTheLibraryIsHostile) {
  TempDir other_dir("dormant-probe-other");
  const auto& other = other_dir.path();
  auto image = dir_ / "data.qcow2";
  run_ok({"qemu-img", "create", "-f", "qcow2", "-o", "data_file=" + (other / "data.raw").string(),
          image.string(), "1M"});
  expect_error(image, ErrorKind::hostile, "external data file " + (other / "data.raw").string());
}

TEST_F(ImageProbeTest, ExternalDataFileInsideIsReported) {
  auto image = dir_ / "data.qcow2";
  run_ok({"qemu-img", "create", "-f", "qcow2", "-o", "data_file=" + (dir_ / "data.raw").string(),
          image.string(), "1M"});
  auto probe = probe_image(image);
  EXPECT_EQ(probe.referenced_files, std::vector<fs::path>{dir_ / "data.raw"});
}

TEST_F(ImageProbeTest, VmdkExtentOutsideTheLibraryIsHostile) {
  auto descriptor = convert("vmdk", "flat.vmdk", {"-o", "subformat=monolithicFlat"});
  std::stringstream text;
  text << std::ifstream(descriptor).rdbuf();
  std::string edited = std::regex_replace(text.str(), std::regex("\"flat-flat.vmdk\""), "\"/etc/passwd\"");
  ASSERT_NE(edited, text.str());
  std::ofstream(descriptor, std::ios::trunc) << edited;
  expect_error(descriptor, ErrorKind::hostile, "extent /etc/passwd lies outside the library");
}

TEST_F(ImageProbeTest, SparseVmdkParentOutsideTheLibraryIsHostile) {
  // The parent is named in the descriptor embedded in the KDMV file.
  TempDir other_dir("dormant-probe-other");
  const auto& other = other_dir.path();
  run_ok({"qemu-img", "create", "-q", "-f", "vmdk", (other / "base.vmdk").string(), "1M"});
  auto image = dir_ / "child.vmdk";
  run_ok({"qemu-img", "create", "-q", "-f", "vmdk", "-F", "vmdk", "-b", (other / "base.vmdk").string(),
          image.string(), "1M"});
  EXPECT_EQ(dormant::image::detect_format(image), ImageFormat::vmdk);
  expect_error(image, ErrorKind::hostile, "backing file " + (other / "base.vmdk").string() + " lies outside");
}

TEST_F(ImageProbeTest, VmdkExtentInsideIsReported) {
  auto descriptor = convert("vmdk", "flat.vmdk", {"-o", "subformat=monolithicFlat"});
  auto probe = probe_image(descriptor);
  EXPECT_EQ(probe.format, ImageFormat::vmdk);
  EXPECT_EQ(probe.referenced_files, std::vector<fs::path>{dir_ / "flat-flat.vmdk"});
}

TEST_F(ImageProbeTest, TruncatedQcow2IsCorrupt) {
  auto image = convert("qcow2", "cut.qcow2");
  fs::resize_file(image, fs::file_size(image) / 2);
  expect_error(image, ErrorKind::corrupt, "qemu-img check found corruption");
}

TEST_F(ImageProbeTest, Qcow2CutInsideItsHeaderIsCorruptWithQemusReason) {
  auto image = convert("qcow2", "stub.qcow2");
  fs::resize_file(image, 100);
  expect_error(image, ErrorKind::corrupt, "header");
}

TEST_F(ImageProbeTest, MissingImageIsNotFound) {
  expect_error(dir_ / "gone.qcow2", ErrorKind::not_found, "gone.qcow2");
}

TEST_F(ImageProbeTest, RecordedFormatThatNoLongerMatchesIsHostile) {
  auto image = convert("qcow2", "disk.img");
  ProbeOptions options;
  options.format = ImageFormat::raw;
  expect_error(image, ErrorKind::hostile, "recorded as raw but its content now looks like qcow2", options);
}

TEST_F(ImageProbeTest, ImageInUseByAWriterIsAConflict) {
  auto image = convert("qcow2", "busy.qcow2");
  auto probe = probe_image(image);
  dormant::image::NbdOptions writable;
  writable.writable = true;
  auto device = dormant::image::open_nbd(probe, writable);
  expect_error(image, ErrorKind::conflict, "in use by a running VM");
}

}  // namespace
