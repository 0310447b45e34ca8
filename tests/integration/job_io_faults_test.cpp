// A job whose catalog cannot be written or read: on a full filesystem, on a
// read-only one, and a corrupt catalog file. Each must give a clear error
// naming the catalog, and change no image (byte-identical, nothing left
// beside it). The catalog lives on its own tmpfs (root: the tests run as
// root in CI), the library beside the test's other files.
#include <fmt/format.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "dormant/core/sha256.hpp"
#include "job_fixture.hpp"

namespace dormant::testing {
namespace {

namespace fs = std::filesystem;

class JobIoFaults : public JobTest {
 protected:
  void SetUp() override {
    JobTest::SetUp();
    mount_ = dir_.path() / "catalog-fs";
    fs::create_directories(mount_);
    if (::mount("tmpfs", mount_.c_str(), "tmpfs", 0, "size=16m") != 0)
      GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << std::strerror(errno);
    mounted_ = true;
    catalog_override_ = mount_ / "catalog.db";
    for (const char* name : {"a.raw", "b.raw"}) {
      auto image = guest(name);
      originals_[image] = sha256_file(image).sha256;
    }
    add_library_and_sources();
    auto r = cli({"job", "create", "j", "--all", "--max-concurrent", "2"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  void TearDown() override {
    if (mounted_) ::umount2(mount_.c_str(), MNT_DETACH);
  }

  ProcessResult run_job() { return cli({"job", "run", "j", "--cache-dir", cache().string()}); }

  void expect_images_unchanged() {
    for (const auto& [image, sha] : originals_) EXPECT_EQ(sha256_file(image).sha256, sha) << image;
    expect_no_work_left();
  }

  fs::path mount_;
  bool mounted_ = false;
  std::map<fs::path, std::string> originals_;
};

TEST_F(JobIoFaults, ACatalogOnAFullFilesystemFailsClearlyAndChangesNoImage) {
  // Fill the catalog's filesystem to the last block.
  {
    std::ofstream filler(mount_ / "filler", std::ios::binary);
    const std::string block(1 << 16, 'x');
    while (filler.write(block.data(), static_cast<std::streamsize>(block.size()))) {
    }
  }
  auto r = run_job();
  EXPECT_EQ(r.exit_code, 6) << r.out << r.err;
  EXPECT_NE(r.err.find(catalog().string()), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("the filesystem holding the catalog is full"), std::string::npos) << r.err;
  expect_images_unchanged();
  // With space again, the same job runs.
  fs::remove(mount_ / "filler");
  auto again = run_job();
  EXPECT_EQ(again.exit_code, 0) << again.err;
}

TEST_F(JobIoFaults, AReadOnlyCatalogFailsClearlyAndChangesNoImage) {
  ASSERT_EQ(::mount(nullptr, mount_.c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr), 0)
      << std::strerror(errno);
  auto r = run_job();
  EXPECT_EQ(r.exit_code, 6) << r.out << r.err;
  EXPECT_NE(r.err.find(catalog().string()), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Read-only file system"), std::string::npos) << r.err;
  expect_images_unchanged();
}

TEST_F(JobIoFaults, ACorruptCatalogFileFailsClearlyAndChangesNoImage) {
  // Overwrite the header and the first pages: what a torn or foreign write leaves.
  {
    std::fstream f(catalog(), std::ios::in | std::ios::out | std::ios::binary);
    const std::string garbage(64 * 1024, '\x5a');
    f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  for (const char* suffix : {"-wal", "-shm"}) fs::remove(catalog().string() + suffix);
  auto r = run_job();
  EXPECT_EQ(r.exit_code, 6) << r.out << r.err;
  EXPECT_NE(r.err.find(catalog().string()), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("not a database"), std::string::npos) << r.err;
  expect_images_unchanged();
}

}  // namespace
}  // namespace dormant::testing
