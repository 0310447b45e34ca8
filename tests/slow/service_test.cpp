// `dormant patch --mode service` end to end through the local libvirtd,
// under qemu TCG, with the bookworm fixture guest (qemu-guest-agent, a
// kernel) and a signed update repository newer than it: the image goes to
// the maintenance host as storage volumes, runs there without a network
// device, updates from a read-only repository disk through the guest agent,
// comes back and is committed. Checked with the reference tools: dpkg-query
// on the committed image's own database, e2fsck, virsh. After every test:
// no domain and no volume of the run are left, and the library image is
// byte-identical wherever the run failed.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "dormant/core/sha256.hpp"
#include "patch_guest.hpp"

namespace dormant::testing {
namespace {

namespace fs = std::filesystem;

class ServiceTest : public PatchGuestTest {
 protected:
  // The new package asks for a reboot, as a kernel or libc update does: the
  // guest is rebooted and a second round finds nothing left to do.
  std::vector<std::string> repo_env() const override {
    return {"DORMANT_CANARY_POSTINST=touch /run/reboot-required"};
  }
  void SetUp() override {
    PatchGuestTest::SetUp();
    if (HasFatalFailure()) return;
    pool_ = "dormant-test-" + dir_.path().filename().string();
    fs::create_directories(dir_.path() / "pool");
    run_ok({"virsh", "-c", "qemu:///system", "pool-create-as", pool_, "dir", "--target",
            (dir_.path() / "pool").string()});
    // Placement: of the group's hosts, the reachable one with the most free
    // VM slots takes the image. "aaa-gone" cannot be reached, "bbb-small"
    // has one slot, "local" two (the same daemon: slots are per entry).
    const std::string gone = "qemu+unix:///system?socket=" + (dir_.path() / "no-such.sock").string();
    for (auto argv : std::vector<std::vector<std::string>>{
             {"host", "add", "aaa-gone", gone, "--group", "maint", "--pool", pool_, "--no-check"},
             {"host", "add", "bbb-small", "qemu:///system", "--group", "maint", "--pool", pool_, "--max-vms",
              "1"},
             {"host", "add", "local", "qemu:///system", "--group", "maint", "--pool", pool_, "--max-vms", "2",
              "--memory", "1024"},
             {"host", "add", "dead", gone, "--group", "dead", "--pool", pool_, "--no-check"}}) {
      auto r = dormant_cli(catalog(), argv);
      ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    }
  }
  void TearDown() override {
    if (!pool_.empty()) run_process({"virsh", "-c", "qemu:///system", "pool-destroy", pool_});
  }

  ProcessResult service(std::vector<std::string> extra = {}, const std::string& hosts = "maint") {
    std::vector<std::string> args{"patch", image_.string(), "--mode",      "service",       "--hosts",
                                  hosts,   "--json",        "--cache-dir", cache().string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return dormant_cli(catalog(), args);
  }

  // Nothing of the run on the host, nothing of it beside the library image.
  void expect_nothing_left(const nlohmann::json& report) {
    const std::string run = report["run"];
    EXPECT_TRUE(libvirt_domains_with(run).empty()) << run;
    EXPECT_TRUE(pool_volumes_with(pool_, run).empty()) << run;
    EXPECT_FALSE(fs::exists(library_ / ".dormant-work"));
  }

  std::string pool_;
};

TEST_F(ServiceTest, ServicesTheGuestOnTheHostAndTheImageComesBackCompliant) {
  const auto before = sha256_file(image_).sha256;
  auto r = service();
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto report = nlohmann::json::parse(r.out);
  const auto& p = report["images"][0];
  ASSERT_EQ(p["state"], "committed") << p.dump(2);
  const auto& s = p["service"];
  EXPECT_EQ(s["host"], "local") << "the reachable host with the most free slots: " << s["log"].dump();
  EXPECT_EQ(s["rounds"], 2) << "one round, the reboot the guest asked for, one round that finds nothing";
  const std::string log = s["log"].dump();
  EXPECT_NE(log.find("rebooting as the update asked"), std::string::npos) << log;
  EXPECT_NE(log.find("the guest agent answers after the reboot"), std::string::npos) << log;
  EXPECT_EQ(s["pending_after"], 0) << "apt in the guest still saw updates";
  EXPECT_EQ(s["guest_interfaces"], 0) << "the servicing VM must have no network device";
  EXPECT_EQ(s["shutdown"], "agent");
  EXPECT_TRUE(s["leftovers"].empty());
  EXPECT_EQ(p["compliance_after"], "compliant");
  ASSERT_FALSE(p["install"].empty());
  EXPECT_EQ(p["applied"], p["install"].size());
  std::cerr << "service phases (s): " << p["seconds"].dump() << " guest wait share " << s["guest_wait_share"]
            << "\n";

  // The reference: the committed image's own dpkg database.
  TempDir scratch;
  std::set<std::string> names;
  for (const auto& c : p["install"]) {
    names.insert(c["name"].get<std::string>());
    EXPECT_EQ(dpkg_version(image_, c["name"], scratch.path()), c["candidate"].get<std::string>()) << c.dump();
  }
  EXPECT_TRUE(names.contains("dormant-canary")) << "the plan should install the new package";
  EXPECT_EQ(run_process({"e2fsck", "-fn", image_.string()}).exit_code, 0);
  EXPECT_EQ(sha256_file(p["version_path"].get<std::string>()).sha256, before);
  expect_nothing_left(report);

  auto assessed = dormant_cli(
      catalog(), {"assess", image_.string(), "--json", "--offline", "--cache-dir", cache().string()});
  ASSERT_EQ(assessed.exit_code, 0) << assessed.err;
  EXPECT_EQ(nlohmann::json::parse(assessed.out)["images"][0]["state"], "compliant") << assessed.out;
}

// The guest's dpkg database without qemu-guest-agent: refused before any
// copy, with the hint, and the image untouched.
TEST_F(ServiceTest, AGuestWithoutTheAgentIsRefusedBeforeAnythingMoves) {
  TempDir scratch;
  const fs::path status = scratch.path() / "status";
  run_ok({"debugfs", "-R", "dump /var/lib/dpkg/status " + status.string(), image_.string()});
  run_ok({"python3", "-c",
          "import sys; p = sys.argv[1]; stanzas = open(p).read().split('\\n\\n'); "
          "kept = [s for s in stanzas if not s.startswith('Package: qemu-guest-agent\\n')]; "
          "assert len(kept) == len(stanzas) - 1; open(p, 'w').write('\\n\\n'.join(kept))",
          status.string()});
  run_ok({"debugfs", "-w", "-R", "rm /var/lib/dpkg/status", image_.string()});
  run_ok({"debugfs", "-w", "-R", "write " + status.string() + " /var/lib/dpkg/status", image_.string()});
  const auto before = sha256_file(image_).sha256;

  auto r = service();
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  const auto report = nlohmann::json::parse(r.out);
  const auto& p = report["images"][0];
  EXPECT_EQ(p["state"], "failed");
  EXPECT_EQ(p["step"], "prepare");
  const std::string reason = p["reason"];
  EXPECT_NE(reason.find("needs qemu-guest-agent"), std::string::npos) << reason;
  EXPECT_NE(reason.find("--mode offline"), std::string::npos) << reason;
  EXPECT_EQ(sha256_file(image_).sha256, before);
  EXPECT_FALSE(fs::exists(library_ / ".dormant-versions"));
  expect_nothing_left(report);
}

// Every host of the group unreachable: refused before any copy.
TEST_F(ServiceTest, NoReachableHostFailsBeforeAnythingIsCopied) {
  const auto before = sha256_file(image_).sha256;
  auto r = service({}, "dead");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  const auto report = nlohmann::json::parse(r.out);
  const auto& p = report["images"][0];
  EXPECT_EQ(p["state"], "failed");
  const std::string reason = p["reason"];
  EXPECT_NE(reason.find("no maintenance host can take the image"), std::string::npos) << reason;
  EXPECT_NE(reason.find("dead:"), std::string::npos) << reason;
  ASSERT_TRUE(p.contains("service")) << p.dump(2);
  EXPECT_TRUE(p["service"]["leftovers"].empty()) << p.dump(2);
  EXPECT_TRUE(p["service"]["host"].is_null()) << p.dump(2);
  EXPECT_EQ(sha256_file(image_).sha256, before);
  expect_nothing_left(report);
}

// dormant-canary's postinst sleeps: the update round never ends.
class HangingServiceTest : public ServiceTest {
 protected:
  std::vector<std::string> repo_env() const override { return {"DORMANT_CANARY_POSTINST=sleep 100000"}; }
};

TEST_F(HangingServiceTest, AHangingUpdateIsStoppedAtItsTimeOutAndLeavesNothing) {
  const auto before = sha256_file(image_).sha256;
  auto r = service({"--update-timeout", "60"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  const auto report = nlohmann::json::parse(r.out);
  const auto& p = report["images"][0];
  EXPECT_EQ(p["state"], "failed");
  EXPECT_EQ(p["step"], "update");
  const std::string reason = p["reason"];
  EXPECT_NE(reason.find("did not finish within 60 s"), std::string::npos) << reason;
  EXPECT_EQ(sha256_file(image_).sha256, before);
  EXPECT_FALSE(fs::exists(library_ / ".dormant-versions"));
  expect_nothing_left(report);
}

}  // namespace
}  // namespace dormant::testing
