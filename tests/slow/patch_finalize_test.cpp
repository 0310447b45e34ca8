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

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "dormant/core/sha256.hpp"
#include "dormant/core/subprocess.hpp"
#include "support/apt_repo.hpp"
#include "support/loopback_http.hpp"
#include "support/test_support.hpp"

namespace dormant::testing {
namespace {

namespace fs = std::filesystem;

fs::path fixtures_dir() {
  std::vector<std::string> argv{(source_dir() / "tests/fixtures/make-images.sh").string()};
  if (const char* dir = std::getenv("DORMANT_FIXTURES")) argv.emplace_back(dir);
  auto r = run_ok(argv, {std::chrono::minutes(20)});
  auto out = r.out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out.substr(out.rfind('\n') == std::string::npos ? 0 : out.rfind('\n') + 1);
}

ProcessResult dormant_cli(const fs::path& catalog, std::vector<std::string> args,
                          std::chrono::seconds timeout = std::chrono::seconds(1800)) {
  args.insert(args.begin(), {DORMANT_CLI_PATH, "--catalog", catalog.string()});
  return run_process(args, {timeout});
}

// The version dpkg records for `name` in the image's own database
// (debugfs reads the file out of the raw image, dpkg-query parses it).
std::string dpkg_version(const fs::path& raw_image, const std::string& name, const fs::path& scratch) {
  fs::create_directories(scratch / "admin");
  run_ok({"debugfs", "-R", "dump /var/lib/dpkg/status " + (scratch / "admin/status").string(),
          raw_image.string()});
  auto r =
      run_process({"dpkg-query", "--admindir=" + (scratch / "admin").string(), "-W", "-f=${Version}", name});
  return r.exit_code == 0 ? r.out : "";
}

// Whether libvirt still lists a finalize domain of this run. Tests run in
// parallel on one daemon, so another test's domain may well be listed.
bool run_left_a_domain(const std::string& run_id) {
  auto r = run_process({"virsh", "-c", "qemu:///system", "list", "--all", "--name"});
  return r.out.find("dormant-finalize-" + run_id + "-") != std::string::npos;
}

class PatchFinalize : public ::testing::Test {
 protected:
  void SetUp() override {
    auto started =
        run_process({(source_dir() / "scripts/start-libvirt.sh").string()}, {std::chrono::seconds(120)});
    ASSERT_EQ(started.exit_code, 0) << started.out << started.err;
    open_to_apt(dir_.path());
    library_ = dir_.path() / "library";
    fs::create_directories(library_);
    image_ = library_ / "bookworm.raw";
    run_ok({"cp", "--sparse=always", (fixtures_dir() / "ext4-whole-full.raw").string(), image_.string()},
           {std::chrono::minutes(5)});
    repo_ = dir_.path() / "repo";
    run_ok({(source_dir() / "tests/fixtures/make-update-repo.sh").string(), fixture_rootfs().string(),
            repo_.string()},
           {std::chrono::minutes(5)});
    server_ = std::make_unique<LoopbackHttpServer>(repo_);
    const std::string keyring = (repo_ / "keyring.gpg").string();
    for (auto argv : std::vector<std::vector<std::string>>{
             {"library", "add", library_.string(), "--name", "lib"},
             {"source", "add", "debian", server_->url(), "--suite", "bookworm", "--keyring", keyring},
             {"source", "add", "debian-security", server_->url(), "--suite", "bookworm-security",
              "--security", "--keyring", keyring}}) {
      auto r = dormant_cli(catalog(), argv);
      ASSERT_EQ(r.exit_code, 0) << r.err;
    }
  }

  fs::path catalog() const { return dir_.path() / "catalog.db"; }
  fs::path cache() const { return dir_.path() / "cache"; }

  TempDir dir_;
  fs::path library_, image_, repo_;
  std::unique_ptr<LoopbackHttpServer> server_;
};

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
