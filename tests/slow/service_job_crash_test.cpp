// Crash injection for --mode service jobs, end to end on the local libvirtd
// under TCG with the bootable fixture guest: `dormant job run` is SIGKILLed
// with its patch process (the whole process group) at the service steps —
// host chosen (recorded, nothing on the host yet), copied (volumes in the
// pool), booted (the VM running), shut down (the guest updated on the host,
// not yet brought back). What it left is reconciled by `job cancel` (the
// first three: cheap, no second servicing) or by `job resume`, which
// services the image again and commits it. After each: no domain and no
// volume of the killed patch run on the host, nothing beside the image, the
// image byte-identical (cancel) or the recorded committed version (resume),
// and the job record agrees.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "dormant/core/sha256.hpp"
#include "patch_guest.hpp"
#include "support/sqlite_query.hpp"

namespace dormant::testing {
namespace {

namespace fs = std::filesystem;

class ServiceJobCrash : public PatchGuestTest {
 protected:
  void SetUp() override {
    PatchGuestTest::SetUp();
    if (HasFatalFailure()) return;
    pool_ = "dormant-crash-" + dir_.path().filename().string();
    fs::create_directories(dir_.path() / "pool");
    run_ok({"virsh", "-c", "qemu:///system", "pool-create-as", pool_, "dir", "--target",
            (dir_.path() / "pool").string()});
    for (auto argv : std::vector<std::vector<std::string>>{
             {"host", "add", "local", "qemu:///system", "--group", "maint",
              // 4 slots: a probe counts every dormant-service-* domain, the other slow tests' too
              "--pool", pool_, "--max-vms", "4"},
             {"identify"},
             {"job", "create", "svc", "--targets", image_.string(), "--mode", "service", "--hosts",
              "maint"}}) {
      auto r = dormant_cli(catalog(), argv);
      ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    }
    before_ = sha256_file(image_).sha256;
  }
  void TearDown() override {
    if (!pool_.empty()) run_process({"virsh", "-c", "qemu:///system", "pool-destroy", pool_});
  }

  // `job run svc` in a session of its own, the group killed by the hook at `point`.
  bool run_killed_at(const std::string& point) {
    return reap_session(spawn_in_session({dormant::testing::cli_path(), "--catalog", catalog().string(),
                                          "job", "run", "svc", "--cache-dir", cache().string()},
                                         {"DORMANT_TEST_KILL_AT=" + point, "DORMANT_TEST_KILL_GROUP=1"}));
  }

  // What the catalog says about the last run's item, for a kill point that
  // was never reached: the run ended (failed or done) before it.
  std::string last_item() {
    return sqlite_query(catalog(),
                        "SELECT state || ': ' || coalesce(reason, '') || '\n' || log FROM job_items "
                        "WHERE run_id = (SELECT max(id) FROM job_runs)");
  }

  std::string last_patch_run() {
    return sqlite_query(catalog(), "SELECT id FROM patch_runs ORDER BY started_at DESC, id DESC LIMIT 1");
  }

  // The killed patch run left nothing anywhere once reconciled.
  void expect_run_gone(const std::string& run) {
    EXPECT_TRUE(libvirt_domains_with(run).empty()) << run;
    EXPECT_TRUE(pool_volumes_with(pool_, run).empty()) << run;
    EXPECT_FALSE(fs::exists(library_ / ".dormant-work"));
    EXPECT_EQ(sqlite_query(catalog(), fmt::format("SELECT state FROM patch_runs WHERE id = '{}'", run)),
              "abandoned");
  }

  std::string pool_, before_;
};

TEST_F(ServiceJobCrash, KilledBeforeAndWhileTheVmRunsThenCancelledLeavesNothing) {
  for (const char* point : {"host-chosen", "copied", "booted"}) {
    SCOPED_TRACE(point);
    ASSERT_TRUE(run_killed_at(point)) << "the kill point was never reached; the item: " << last_item();
    const auto run = last_patch_run();
    if (std::string(point) != "host-chosen") {
      // The state the crash left: the run's volumes are in the pool (the
      // auto-destroy domain went with the connection).
      EXPECT_FALSE(pool_volumes_with(pool_, run).empty()) << "nothing on the host to reconcile?";
    }
    auto cancel = dormant_cli(catalog(), {"job", "cancel", "svc"});
    ASSERT_EQ(cancel.exit_code, 0) << cancel.out << cancel.err;
    std::printf("service crash at %s, cancel reconciled:\n%s", point, cancel.out.c_str());
    expect_run_gone(run);
    EXPECT_EQ(sha256_file(image_).sha256, before_) << "a cancelled run must leave the image as it was";
    EXPECT_EQ(sqlite_query(catalog(),
                           "SELECT state || '/' || coalesce(result, '') FROM job_items WHERE run_id = "
                           "(SELECT max(id) FROM job_runs)"),
              "cancelled/failed");
    EXPECT_EQ(sqlite_query(catalog(), "SELECT state FROM job_runs ORDER BY id DESC LIMIT 1"), "cancelled");
  }
}

TEST_F(ServiceJobCrash, KilledAfterTheGuestWasUpdatedOnTheHostThenResumedCommits) {
  ASSERT_TRUE(run_killed_at("shut-down")) << "the kill point was never reached; the item: " << last_item();
  const auto run = last_patch_run();
  EXPECT_FALSE(pool_volumes_with(pool_, run).empty());
  auto resumed = dormant_cli(catalog(), {"job", "resume", "svc", "--json", "--cache-dir", cache().string()});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
  const auto report = nlohmann::json::parse(resumed.out);
  EXPECT_EQ(report["state"], "done");
  ASSERT_EQ(report["items"].size(), 1u);
  const auto& item = report["items"][0];
  EXPECT_EQ(item["result"], "committed") << item.dump(2);
  EXPECT_EQ(item["attempt"], 2) << "the killed attempt, then the one that committed";
  expect_run_gone(run);
  const auto now = sha256_file(image_).sha256;
  EXPECT_NE(now, before_);
  EXPECT_EQ(
      sqlite_query(catalog(), fmt::format("SELECT count(*) FROM patch_images WHERE state = 'committed' AND "
                                          "new_sha256 = '{}'",
                                          now)),
      "1");
  EXPECT_EQ(run_process({"e2fsck", "-fn", image_.string()}).exit_code, 0);
  // Only this test's runs: other slow tests service their own VMs on the same daemon.
  const auto resumed_run = last_patch_run();
  EXPECT_TRUE(pool_volumes_with(pool_, resumed_run).empty()) << "volumes of the resumed run left";
  EXPECT_TRUE(libvirt_domains_with(resumed_run).empty()) << resumed_run;
}

}  // namespace
}  // namespace dormant::testing
