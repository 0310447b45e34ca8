// The libguestfs fallback view on disks only it can read (LVM, XFS, btrfs,
// LUKS2), built by tests/fixtures/make-guestfs-images.sh from a real subset of
// the debootstrap rootfs. Expected values come from that slim tree on the
// host: the bytes read through the appliance must equal the bytes laid in.
//
// One appliance launch per image (about 15-60 s under TCG), shared by every
// test of the suite; plus one for the wrong LUKS key.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dormant/core/error.hpp"
#include "dormant/core/subprocess.hpp"
#include "dormant/image/guestfs_view.hpp"
#include "dormant/image/probe.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using dormant::Error;
using dormant::ErrorKind;
using dormant::image::FileType;
using dormant::image::GuestView;
using dormant::testing::read_file_text;

namespace {

constexpr std::uint64_t kCap = std::uint64_t{64} * 1024 * 1024;
// Named by the escape symlink baked into every image.
constexpr const char* kHostOnly = "/tmp/dormant-guestfs-host-only";

struct Fixtures {
  fs::path slim;
  nlohmann::json images;  // name -> manifest entry
};

// Builds (or reuses the cached) images once per process.
const Fixtures& fixtures() {
  static const Fixtures f = [] {
    std::vector<std::string> argv{
        (dormant::testing::source_dir() / "tests/fixtures/make-guestfs-images.sh").string()};
    if (const char* dir = std::getenv("DORMANT_GUESTFS_FIXTURES")) argv.emplace_back(dir);
    dormant::ProcessOptions opts;
    opts.timeout = std::chrono::minutes(20);
    auto r = dormant::run_process(argv, opts);
    if (r.exit_code != 0) throw std::runtime_error("make-guestfs-images.sh failed: " + r.err);
    auto out = r.out;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    fs::path dir = out.substr(out.rfind('\n') == std::string::npos ? 0 : out.rfind('\n') + 1);
    auto manifest = nlohmann::json::parse(read_file_text(dir / "manifest.json"));
    Fixtures result;
    result.slim = manifest.at("slim_tree").get<std::string>();
    result.images = nlohmann::json::object();
    for (const auto& image : manifest.at("images"))
      result.images[image.at("name").get<std::string>()] = image;
    return result;
  }();
  return f;
}

dormant::image::ImageProbe probe(const nlohmann::json& image) {
  dormant::image::ProbeOptions options;
  options.format = dormant::image::format_from_string(image.at("format").get<std::string>());
  return dormant::image::probe_image(image.at("file").get<std::string>(), options);
}

std::unique_ptr<GuestView> open_timed(const std::string& name, const nlohmann::json& image,
                                      const std::vector<std::string>& keys) {
  auto t0 = std::chrono::steady_clock::now();
  auto view = dormant::image::open_guestfs_view(probe(image), keys);
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "[ timing   ] open_guestfs_view(" << name << "): " << secs << " s\n";
  ::testing::Test::RecordProperty("open_seconds", std::to_string(secs));
  return view;
}

void check_dpkg_status_bytes_equal_the_slim_tree(GuestView& view,
                                                 [[maybe_unused]] const nlohmann::json& image) {
  auto expected = read_file_text(fixtures().slim / "var/lib/dpkg/status");
  auto got = view.read_file("/var/lib/dpkg/status", kCap);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->size(), expected.size());
  EXPECT_TRUE(*got == expected) << "dpkg status read through the appliance differs from the slim tree";
}

void check_access_is_guestfs_and_mounts_match_the_manifest(GuestView& view,
                                                           [[maybe_unused]] const nlohmann::json& image) {
  EXPECT_EQ(view.access(), "guestfs");
  auto mounts = view.mounts();
  for (const auto& item : image.at("mounts").items()) {
    // Named copies: clang 14 cannot capture structured bindings in a lambda.
    const std::string& mountpoint = item.key();
    const auto& want = item.value();
    auto it =
        std::find_if(mounts.begin(), mounts.end(), [&](const auto& m) { return m.mountpoint == mountpoint; });
    ASSERT_NE(it, mounts.end()) << mountpoint << " is not mounted";
    EXPECT_EQ(it->fstype, want.at("fstype").get<std::string>()) << mountpoint;
    EXPECT_EQ(it->uuid, want.at("uuid").get<std::string>()) << mountpoint;
    EXPECT_FALSE(it->device.empty()) << mountpoint;
  }
  EXPECT_EQ(mounts.size(), image.at("mounts").size());
}

void check_os_release_symlink_resolves_inside_the_guest(GuestView& view,
                                                        [[maybe_unused]] const nlohmann::json& image) {
  auto expected = read_file_text(fixtures().slim / "usr/lib/os-release");
  EXPECT_EQ(view.type_of("/etc/os-release", false), FileType::symlink);
  EXPECT_EQ(view.type_of("/etc/os-release", true), FileType::regular);
  EXPECT_EQ(view.read_file("/etc/os-release", kCap), expected);
  EXPECT_EQ(view.read_file("/usr/lib/os-release", kCap, false), expected);
  try {
    view.read_file("/etc/os-release", kCap, false);
    ADD_FAILURE() << "reading a symlink without following it must throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::unsupported) << e.what();
  }
}

void check_symlinks_cannot_reach_the_host(GuestView& view, [[maybe_unused]] const nlohmann::json& image) {
  // An absolute link to a file that exists only on the host: absent in the guest.
  { std::ofstream(kHostOnly) << "host secret\n"; }
  auto escaped = view.read_file("/etc/dormant-escape-absolute", kCap);
  fs::remove(kHostOnly);
  EXPECT_FALSE(escaped.has_value()) << "read host content: " << *escaped;
  EXPECT_EQ(view.type_of("/etc/dormant-escape-absolute", false), FileType::symlink);
  EXPECT_EQ(view.type_of("/etc/dormant-escape-absolute", true), std::nullopt);

  // "../../../../../etc/passwd": ".." stops at the guest root.
  auto guest_passwd = read_file_text(fixtures().slim / "etc/passwd");
  auto got = view.read_file("/etc/dormant-escape-relative", kCap);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, guest_passwd);
  if (read_file_text("/etc/passwd") != guest_passwd) {
    EXPECT_NE(*got, read_file_text("/etc/passwd"));
  }
}

void check_lists_directories_as_the_slim_tree(GuestView& view, [[maybe_unused]] const nlohmann::json& image) {
  std::vector<std::string> expected;
  for (const auto& entry : fs::directory_iterator(fixtures().slim / "var/lib/dpkg"))
    expected.push_back(entry.path().filename().string());
  auto got = view.list_dir("/var/lib/dpkg");
  ASSERT_TRUE(got.has_value());
  std::sort(expected.begin(), expected.end());
  std::sort(got->begin(), got->end());
  EXPECT_EQ(*got, expected);
  EXPECT_EQ(view.type_of("/var/lib/dpkg", true), FileType::directory);
  try {
    view.list_dir("/var/lib/dpkg", expected.size() - 1);
    ADD_FAILURE() << "listing over max_entries must throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::limit) << e.what();
  }
}

void check_absent_paths_are_nullopt_and_caps_hold(GuestView& view,
                                                  [[maybe_unused]] const nlohmann::json& image) {
  EXPECT_EQ(view.read_file("/etc/no-such-file", kCap), std::nullopt);
  EXPECT_EQ(view.read_file("/no-such-dir/file", kCap), std::nullopt);
  EXPECT_EQ(view.list_dir("/no-such-dir"), std::nullopt);
  EXPECT_EQ(view.type_of("/no-such-dir", false), std::nullopt);
  auto size = fs::file_size(fixtures().slim / "var/lib/dpkg/status");
  try {
    view.read_file("/var/lib/dpkg/status", size - 1);
    ADD_FAILURE() << "a read over the cap must throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::limit) << e.what();
    EXPECT_NE(std::string(e.what()).find("/var/lib/dpkg/status"), std::string::npos) << e.what();
  }
  try {
    view.read_file("/etc", kCap);
    ADD_FAILURE() << "reading a directory must throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::unsupported) << e.what();
  }
}

// Every check runs on one appliance: a launch costs far more than all the
// reads together.
class SlowGuestfsView : public ::testing::TestWithParam<std::string> {};

TEST_P(SlowGuestfsView, ReadsTheGuestLikeTheSlimTree) {
  const auto& image = fixtures().images.at(GetParam());
  std::vector<std::string> keys;
  if (image.contains("luks_key")) {
    // A wrong key first: keys are tried in order until one opens the volume.
    keys = {"not-the-passphrase", image.at("luks_key").get<std::string>()};
  }
  auto view = open_timed(GetParam(), image, keys);
  {
    SCOPED_TRACE("DpkgStatusBytesEqualTheSlimTree");
    check_dpkg_status_bytes_equal_the_slim_tree(*view, image);
  }
  {
    SCOPED_TRACE("AccessIsGuestfsAndMountsMatchTheManifest");
    check_access_is_guestfs_and_mounts_match_the_manifest(*view, image);
  }
  {
    SCOPED_TRACE("OsReleaseSymlinkResolvesInsideTheGuest");
    check_os_release_symlink_resolves_inside_the_guest(*view, image);
  }
  {
    SCOPED_TRACE("SymlinksCannotReachTheHost");
    check_symlinks_cannot_reach_the_host(*view, image);
  }
  {
    SCOPED_TRACE("ListsDirectoriesAsTheSlimTree");
    check_lists_directories_as_the_slim_tree(*view, image);
  }
  {
    SCOPED_TRACE("AbsentPathsAreNulloptAndCapsHold");
    check_absent_paths_are_nullopt_and_caps_hold(*view, image);
  }
}

// One suite per image, so that ctest (one process per suite) launches the
// appliances two at a time.
const auto kImageName = [](const auto& info) { return info.param; };
INSTANTIATE_TEST_SUITE_P(Lvm, SlowGuestfsView, ::testing::Values("lvm"), kImageName);
INSTANTIATE_TEST_SUITE_P(Xfs, SlowGuestfsView, ::testing::Values("xfs"), kImageName);
INSTANTIATE_TEST_SUITE_P(Btrfs, SlowGuestfsView, ::testing::Values("btrfs"), kImageName);
INSTANTIATE_TEST_SUITE_P(Luks, SlowGuestfsView, ::testing::Values("luks"), kImageName);

TEST(SlowGuestfsLuks, WrongKeyIsAClearError) {
  const auto& image = fixtures().images.at("luks");
  auto t0 = std::chrono::steady_clock::now();
  try {
    dormant::image::open_guestfs_view(probe(image), {"wrong-passphrase"});
    ADD_FAILURE() << "a LUKS root with no working key must not open";
  } catch (const Error& e) {
    std::string what = e.what();
    std::cout << "[ message  ] " << what << "\n";
    EXPECT_EQ(e.kind(), ErrorKind::unsupported) << what;
    EXPECT_NE(what.find(image.at("file").get<std::string>()), std::string::npos) << what;
    EXPECT_NE(what.find("LUKS"), std::string::npos) << what;
    EXPECT_NE(what.find("key"), std::string::npos) << what;
  }
  std::cout << "[ timing   ] wrong-key open: "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s\n";
}

}  // namespace
