// End to end on a real debootstrap'd bookworm guest (systemd-sysv, dbus,
// qemu-guest-agent, a kernel: the fixture image ext4-whole-full.raw) that is
// older than a local signed repository (tests/fixtures/make-update-repo.sh:
// real .debs repacked from the guest's own files with newer versions):
// `dormant patch --mode offline --finalize` stages the update, boots the
// overlay once under libvirt (qemu TCG, no network device), and commits only
// after the guest applied it. The result is checked with the reference tool:
// dpkg-query on the committed image's own dpkg database; then `dormant
// assess` says compliant. Needs libvirtd/virtlogd (scripts/start-libvirt.sh).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "dormant/core/sha256.hpp"
#include "patch_guest.hpp"

namespace dormant::testing {
namespace {

namespace fs = std::filesystem;

// Whether libvirt still lists a finalize domain of this run. Tests run in
// parallel on one daemon, so another test's domain may well be listed.
bool run_left_a_domain(const std::string& run_id) {
  return !libvirt_domains_with("dormant-finalize-" + run_id + "-").empty();
}

using PatchFinalize = PatchGuestTest;

TEST_F(PatchFinalize, AppliesTheUpdateInTheGuestAndTheImageIsCompliant) {
  const auto before = sha256_file(image_).sha256;
  struct stat st_before {};
  ASSERT_EQ(::stat(image_.c_str(), &st_before), 0);
  auto r = dormant_cli(catalog(), {"patch", image_.string(), "--mode", "offline", "--finalize", "--json",
                                   "--cache-dir", cache().string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto report = nlohmann::json::parse(r.out);
  const auto& p = report["images"][0];
  ASSERT_EQ(p["state"], "committed") << p.dump(2);
  EXPECT_EQ(p["applied_status"], "success");
  EXPECT_EQ(p["compliance_after"], "compliant");
  ASSERT_FALSE(p["install"].empty());
  EXPECT_EQ(p["applied"], p["install"].size());
  std::cerr << "finalize took " << p["seconds"]["finalize"] << " s, stage " << p["seconds"]["stage"]
            << " s, commit " << p["seconds"]["commit"] << " s\n";

  // The reference: the committed image's own dpkg database has every planned version.
  TempDir scratch;
  std::set<std::string> names;
  for (const auto& c : p["install"]) {
    names.insert(c["name"].get<std::string>());
    EXPECT_EQ(dpkg_version(image_, c["name"], scratch.path()), c["candidate"].get<std::string>()) << c.dump();
  }
  EXPECT_TRUE(names.contains("dormant-canary")) << "the plan should install the new package";
  // The update ran once and cleaned up: no /system-update, no staged .debs.
  EXPECT_NE(run_process({"debugfs", "-R", "stat /system-update", image_.string()}).err.find("not found"),
            std::string::npos);
  EXPECT_EQ(run_process({"e2fsck", "-fn", image_.string()}).exit_code, 0);
  // The new file has the old one's owner and mode; the old bytes are kept.
  struct stat st_after {};
  ASSERT_EQ(::stat(image_.c_str(), &st_after), 0);
  EXPECT_EQ(st_after.st_uid, st_before.st_uid);
  EXPECT_EQ(st_after.st_mode, st_before.st_mode);
  EXPECT_EQ(sha256_file(p["version_path"].get<std::string>()).sha256, before);

  // dormant's own assessment of the committed image agrees.
  auto assessed = dormant_cli(
      catalog(), {"assess", image_.string(), "--json", "--offline", "--cache-dir", cache().string()});
  ASSERT_EQ(assessed.exit_code, 0) << assessed.err;
  EXPECT_EQ(nlohmann::json::parse(assessed.out)["images"][0]["state"], "compliant") << assessed.out;
  // No finalize domain is left behind.
  EXPECT_FALSE(run_left_a_domain(report["run"].get<std::string>())) << report["run"];
}

TEST_F(PatchFinalize, ATimedOutFinalizeCommitsNothing) {
  const auto before = sha256_file(image_).sha256;
  auto r = dormant_cli(catalog(), {"patch", image_.string(), "--mode", "offline", "--finalize",
                                   "--finalize-timeout", "10", "--json", "--cache-dir", cache().string()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  const auto report = nlohmann::json::parse(r.out);
  const auto& p = report["images"][0];
  EXPECT_EQ(p["state"], "failed");
  EXPECT_EQ(p["step"], "finalize");
  EXPECT_NE(p["reason"].get<std::string>().find("did not finish within 10 s"), std::string::npos)
      << p.dump(2);
  EXPECT_EQ(sha256_file(image_).sha256, before);
  EXPECT_FALSE(fs::exists(library_ / ".dormant-work"));
  EXPECT_FALSE(fs::exists(library_ / ".dormant-versions"));
  EXPECT_FALSE(run_left_a_domain(report["run"].get<std::string>())) << report["run"];
}

}  // namespace
}  // namespace dormant::testing
