// Format detection on real images made by qemu-img at test time.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <vector>

#include "dormant/core/error.hpp"
#include "dormant/core/subprocess.hpp"
#include "dormant/image/format.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using dormant::image::ImageFormat;

namespace {

class ImageFormatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    raw_ = dir_ / "source.raw";
    std::vector<char> data(1024 * 1024);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 7919) >> 3);
    std::ofstream(raw_, std::ios::binary).write(data.data(), static_cast<std::streamsize>(data.size()));
  }

  fs::path convert(const std::string& format, const std::string& name, std::vector<std::string> extra = {}) {
    fs::path out = dir_ / name;
    std::vector<std::string> argv = {"qemu-img", "convert", "-f", "raw", "-O", format};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(raw_.string());
    argv.push_back(out.string());
    auto result = dormant::run_process(argv);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return out;
  }

  static std::vector<std::byte> head(const fs::path& path, std::size_t n = 512) {
    std::vector<std::byte> bytes(n);
    std::ifstream(path, std::ios::binary)
        .read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(n));
    return bytes;
  }

  dormant::testing::TempDir tmp_{"dormant-format"};
  fs::path dir_ = tmp_.path();
  fs::path raw_;
};

TEST_F(ImageFormatTest, DetectsEveryFormatQemuWrites) {
  struct Case {
    std::string qemu_name;
    ImageFormat expected;
    std::vector<std::string> options;
  };
  std::vector<Case> cases = {
      {"qcow2", ImageFormat::qcow2, {}},
      {"vmdk", ImageFormat::vmdk, {}},
      {"vmdk", ImageFormat::vmdk, {"-o", "subformat=monolithicFlat"}},  // text descriptor
      {"vhdx", ImageFormat::vhdx, {}},
      {"vpc", ImageFormat::vpc, {}},  // dynamic: header at offset 0
      {"raw", ImageFormat::raw, {}},
  };
  int n = 0;
  for (const auto& c : cases) {
    auto path = convert(c.qemu_name, "image" + std::to_string(n++) + "." + c.qemu_name, c.options);
    EXPECT_EQ(dormant::image::detect_format(path), c.expected) << path;
    auto bytes = head(path);
    EXPECT_EQ(dormant::image::detect_format(std::span<const std::byte>(bytes)), c.expected) << path;
  }
}

TEST_F(ImageFormatTest, FixedVhdIsFoundByItsFooter) {
  auto path = convert("vpc", "fixed.vhd", {"-o", "subformat=fixed"});
  EXPECT_EQ(dormant::image::detect_format(path), ImageFormat::vpc);
  // The head alone is raw guest data: only the path overload sees the footer.
  auto bytes = head(path);
  EXPECT_EQ(dormant::image::detect_format(std::span<const std::byte>(bytes)), ImageFormat::raw);
}

TEST_F(ImageFormatTest, RawDiskEndingInConectixWithoutValidFooterStaysRaw) {
  // A guest can write "conectix" into its last sector; without a valid footer
  // checksum and disk type that must not turn the raw disk into a vpc image.
  {
    std::fstream f(raw_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-512, std::ios::end);
    f.write("conectix\0\0\0\2", 12);
  }
  EXPECT_EQ(dormant::image::detect_format(raw_), ImageFormat::raw);
}

TEST_F(ImageFormatTest, ShortHeadIsRaw) {
  std::vector<std::byte> bytes(100, std::byte{0});
  std::memcpy(bytes.data(), "QFI\xfb", 4);
  EXPECT_EQ(dormant::image::detect_format(std::span<const std::byte>(bytes)), ImageFormat::raw);
}

TEST_F(ImageFormatTest, MissingFileIsAnIoError) {
  try {
    dormant::image::detect_format(dir_ / "missing.qcow2");
    FAIL() << "no error";
  } catch (const dormant::Error& e) {
    EXPECT_EQ(e.kind(), dormant::ErrorKind::io);
    EXPECT_NE(std::string(e.what()).find("missing.qcow2"), std::string::npos);
  }
}

TEST(ImageFormatNames, RoundTrip) {
  for (auto format :
       {ImageFormat::raw, ImageFormat::qcow2, ImageFormat::vmdk, ImageFormat::vhdx, ImageFormat::vpc})
    EXPECT_EQ(dormant::image::format_from_string(dormant::image::to_string(format)), format);
  EXPECT_EQ(dormant::image::format_from_string("qcow"), std::nullopt);
  EXPECT_EQ(dormant::image::format_from_string(""), std::nullopt);
}

}  // namespace
