// Differential tests over the fixture matrix: inspecting each image must find
// exactly what the reference tools find in the tree it was made from
// (dpkg-query for packages, sh for os-release, the tree's files for the rest).
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "dormant/core/error.hpp"
#include "dormant/core/subprocess.hpp"
#include "dormant/image/probe.hpp"
#include "dormant/inspect/inspection.hpp"
#include "fixture_support.hpp"

namespace dormant::testing {
namespace {

namespace fs = std::filesystem;

std::uint64_t qemu_virtual_size(const fs::path& image, const std::string& format) {
  auto info = run_process({"qemu-img", "info", "-U", "-f", format, "--output=json", image.string()});
  if (info.exit_code != 0) throw std::runtime_error("qemu-img info failed: " + info.err);
  return nlohmann::json::parse(info.out).at("virtual-size").get<std::uint64_t>();
}

class InspectMatrix : public ::testing::TestWithParam<std::string> {};

TEST_P(InspectMatrix, MatchesTheTreeItWasMadeFrom) {
  const auto& entry = manifest_entry(GetParam());
  ASSERT_EQ(entry.at("expect"), "ok");
  auto image = image_path(entry);
  auto expected = expected_from_tree(tree_path(entry));
  ASSERT_FALSE(expected.packages.empty()) << "the reference found no packages in " << tree_path(entry);

  inspect::Inspection got;
  try {
    got = inspect::inspect_image(image);
  } catch (const Error& e) {
    FAIL() << "inspect_image(" << image << ") threw " << to_string(e.kind()) << ": " << e.what() << " "
           << e.cause();
  }

  EXPECT_EQ(got.access, "fast");
  EXPECT_EQ(got.format, entry.at("format").get<std::string>());
  EXPECT_EQ(got.virtual_size, qemu_virtual_size(image, entry.at("format")));

  std::vector<ExpectedPackage> actual;
  for (const auto& p : got.packages) {
    actual.push_back({p.name, p.version, p.arch, p.source, p.source_version, p.status, p.want});
  }
  std::sort(actual.begin(), actual.end());
  EXPECT_EQ(actual.size(), expected.packages.size());
  EXPECT_TRUE(actual == expected.packages) << describe_package_diff(expected.packages, actual);

  EXPECT_EQ(got.os.id, expected.os_release["ID"]);
  EXPECT_EQ(got.os.version_id, expected.os_release["VERSION_ID"]);
  EXPECT_EQ(got.os.pretty_name, expected.os_release["PRETTY_NAME"]);
  EXPECT_EQ(got.os.version_codename, expected.os_release["VERSION_CODENAME"]);
  EXPECT_EQ(got.os.debian_version, expected.debian_version);
  EXPECT_EQ(got.hostname, expected.hostname);
  EXPECT_EQ(got.arch, expected.arch);

  auto kernels = got.kernels;
  std::sort(kernels.begin(), kernels.end());
  EXPECT_EQ(kernels, expected.kernels);

  bool has_root = std::any_of(got.filesystems.begin(), got.filesystems.end(),
                              [](const image::MountInfo& m) { return m.mountpoint == "/"; });
  EXPECT_TRUE(has_root) << "no filesystem mounted at /";
  for (const auto& m : got.filesystems) {
    if (m.mountpoint == "/") {
      EXPECT_EQ(m.fstype, entry.at("root_fs").get<std::string>());
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, InspectMatrix, ::testing::ValuesIn(kGoodImages), test_name);

// The root's fstab mounts /var by UUID=, /usr by LABEL= and /boot by device
// name; the dpkg database is on /var and os-release on /usr, so the matrix test
// above only passes for this image when fstab was followed. Here: each mount
// is the filesystem it should be.
TEST(InspectMultiFilesystem, MountsEveryFstabEntryOnTheRightFilesystem) {
  const auto& entry = manifest_entry("gpt-multifs.qcow2");
  auto got = inspect::inspect_image(image_path(entry));
  std::map<std::string, std::string> mounted;
  for (const auto& m : got.filesystems) {
    EXPECT_EQ(m.fstype, "ext4") << m.mountpoint;
    mounted[m.mountpoint] = m.uuid;
  }
  for (const auto& [mountpoint, uuid] : entry.at("mounts").items()) {
    ASSERT_TRUE(mounted.count(mountpoint)) << mountpoint << " was not mounted";
    EXPECT_EQ(mounted[mountpoint], uuid.get<std::string>()) << mountpoint;
  }
  // Non-trivial dpkg states exist in this tree (see make-images.sh).
  std::set<std::string> states;
  for (const auto& p : got.packages) states.insert(p.status + "/" + p.want);
  EXPECT_TRUE(states.count("config-files/deinstall")) << "config-files state lost";
  EXPECT_TRUE(states.count("installed/hold")) << "hold selection lost";
}

// /etc/os-release -> ../../../../../../usr/lib/os-release: inside the guest
// ".." stops at the guest root, so the guest's own /usr/lib/os-release (with a
// marker) is the answer; the host's file does not have the marker.
TEST(InspectHostileSymlink, OsReleaseResolvesInsideTheGuest) {
  const auto& entry = manifest_entry("hostile/os-release-escape.raw");
  auto marker = entry.at("pretty_name_marker").get<std::string>();
  auto got = inspect::inspect_image(image_path(entry));
  EXPECT_NE(got.os.pretty_name.find(marker), std::string::npos) << got.os.pretty_name;
  std::ifstream host("/etc/os-release");
  std::string host_text((std::istreambuf_iterator<char>(host)), std::istreambuf_iterator<char>());
  EXPECT_EQ(host_text.find(marker), std::string::npos) << "the host's os-release must differ from the guest's";
}

// A backing file in the image's own directory is allowed, and reported.
TEST(ProbeBacking, SameDirectoryBackingFileIsAllowed) {
  const auto& entry = manifest_entry("backing-overlay.qcow2");
  auto probe = image::probe_image(image_path(entry));
  EXPECT_EQ(probe.format, image::ImageFormat::qcow2);
  ASSERT_TRUE(probe.backing_file.has_value());
  EXPECT_EQ(fs::weakly_canonical(*probe.backing_file),
            fs::weakly_canonical(fixtures_dir() / entry.at("backing_file").get<std::string>()));
  ASSERT_TRUE(probe.backing_format.has_value());
  EXPECT_EQ(*probe.backing_format, image::ImageFormat::qcow2);
}

TEST(FixtureManifest, CoversEveryImage) {
  std::set<std::string> listed;
  for (const auto& entry : manifest().at("images")) listed.insert(entry.at("file").get<std::string>());
  std::set<std::string> tested(kGoodImages.begin(), kGoodImages.end());
  tested.insert(kHostileImages.begin(), kHostileImages.end());
  EXPECT_EQ(listed, tested) << "manifest.json and the integration tests disagree on the image list";
  for (const auto& file : listed) EXPECT_TRUE(fs::exists(fixtures_dir() / file)) << file;
}

}  // namespace
}  // namespace dormant::testing
