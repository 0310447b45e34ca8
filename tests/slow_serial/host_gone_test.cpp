// The maintenance host goes away in the middle of `dormant patch --mode
// service`: libvirtd is killed (SIGKILL: a crashed daemon or a lost host; a
// SIGTERM'd libvirtd 9.0 was seen here to hang in its shutdown for minutes
// with the socket already gone) while the servicing VM runs. The
// run must fail with a message that names the host and the way to clean up,
// keep the library image byte-identical and leave nothing beside it; once
// the daemon is back, `dormant host cleanup` removes the domain and the
// volumes the run left there.
//
// This stops the shared local libvirtd, so it runs alone (RUN_SERIAL, in its
// own executable: tests/CMakeLists.txt), and restarts it at the end.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "../slow/patch_guest.hpp"
#include "dormant/core/sha256.hpp"

namespace dormant::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

void start_libvirt() {
  auto r = run_process({(source_dir() / "scripts/start-libvirt.sh").string()}, {std::chrono::seconds(120)});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
}

pid_t libvirtd_pid() {
  std::ifstream in("/run/libvirtd.pid");
  pid_t pid = 0;
  in >> pid;
  return pid;
}

class HostGoneTest : public PatchGuestTest {
 protected:
  void SetUp() override {
    PatchGuestTest::SetUp();
    if (HasFatalFailure()) return;
    if (libvirtd_pid() <= 0) GTEST_SKIP() << "libvirtd is not a forked daemon with /run/libvirtd.pid here";
    // A persistent pool: it must come back with the restarted daemon.
    pool_ = "dormant-gone-" + dir_.path().filename().string();
    fs::create_directories(dir_.path() / "pool");
    run_ok({"virsh", "-c", "qemu:///system", "pool-define-as", pool_, "dir", "--target",
            (dir_.path() / "pool").string()});
    run_ok({"virsh", "-c", "qemu:///system", "pool-start", pool_});
    auto r = dormant_cli(catalog(),
                         {"host", "add", "local", "qemu:///system", "--group", "maint", "--pool", pool_});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  void TearDown() override {
    start_libvirt();
    if (pool_.empty()) return;
    run_process({"virsh", "-c", "qemu:///system", "pool-destroy", pool_});
    run_process({"virsh", "-c", "qemu:///system", "pool-undefine", pool_});
  }
  std::string pool_;
};

TEST_F(HostGoneTest, LibvirtdStoppedMidJobFailsCleanlyAndHostCleanupRemovesTheRest) {
  const auto before = sha256_file(image_).sha256;
  auto run = std::async(std::launch::async, [&] {
    return dormant_cli(catalog(), {"patch", image_.string(), "--mode", "service", "--hosts", "maint",
                                   "--json", "--cache-dir", cache().string()});
  });
  // Wait until the servicing VM runs, then stop the daemon under it.
  const auto deadline = Clock::now() + std::chrono::minutes(10);
  while (libvirt_domains_with("dormant-service-").empty() && Clock::now() < deadline &&
         run.wait_for(std::chrono::seconds(1)) != std::future_status::ready) {
  }
  ASSERT_FALSE(libvirt_domains_with("dormant-service-").empty()) << "the servicing VM never started";
  std::this_thread::sleep_for(std::chrono::seconds(5));
  const pid_t daemon = libvirtd_pid();
  ASSERT_GT(daemon, 0);
  ASSERT_EQ(::kill(daemon, SIGKILL), 0);

  for (int i = 0; i < 120 && ::kill(daemon, 0) == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_NE(::kill(daemon, 0), 0) << "libvirtd did not die";

  auto r = run.get();
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  const auto report = nlohmann::json::parse(r.out);
  const auto& p = report["images"][0];
  EXPECT_EQ(p["state"], "failed");
  const std::string reason = p["reason"];
  EXPECT_NE(reason.find("lost the connection to host local"), std::string::npos) << reason;
  EXPECT_NE(reason.find("dormant host cleanup local"), std::string::npos) << reason;
  EXPECT_FALSE(p["service"]["leftovers"].empty()) << p.dump(2);
  EXPECT_EQ(sha256_file(image_).sha256, before);
  EXPECT_FALSE(fs::exists(library_ / ".dormant-work"));
  EXPECT_FALSE(fs::exists(library_ / ".dormant-versions"));

  // The host is back: what the run left is found by name and removed.
  start_libvirt();
  const std::string run_id = report["run"];
  auto cleaned = dormant_cli(catalog(), {"host", "cleanup", "local", "--json"});
  ASSERT_EQ(cleaned.exit_code, 0) << cleaned.out << cleaned.err;
  EXPECT_NE(cleaned.out.find(run_id), std::string::npos) << cleaned.out;
  EXPECT_TRUE(libvirt_domains_with(run_id).empty());
  EXPECT_TRUE(pool_volumes_with(pool_, run_id).empty());
}

}  // namespace
}  // namespace dormant::testing
