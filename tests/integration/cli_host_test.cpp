// `dormant host add|list|remove|cleanup` end to end against the real local
// libvirtd (started with scripts/start-libvirt.sh): a transient dir pool per
// test (unique name, destroyed at the end), an unreachable daemon (a socket
// that does not exist), and cleanup of volumes named like a patch run's.
// Other tests may use the same daemon at the same time: every name here is
// unique to this process and test.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <string>

#include "dormant/catalog/catalog.hpp"
#include "fixture_support.hpp"

namespace dormant::testing {
namespace {

namespace fs = std::filesystem;

constexpr const char* kUri = "qemu:///system";
constexpr const char* kUnreachable = "qemu+unix:///system?socket=/nonexistent/sock";

std::atomic<int> counter{0};

std::string unique(const std::string& prefix) {
  return fmt::format("{}-{}-{}", prefix, ::getpid(), counter++);
}

ProcessResult virsh(std::vector<std::string> args) {
  args.insert(args.begin(), {"virsh", "-q", "-c", kUri});
  ProcessOptions options;
  options.timeout = std::chrono::seconds(60);
  return run_process(args, options);
}

std::set<std::string> volumes(const std::string& pool) {
  virsh({"pool-refresh", pool});
  auto r = virsh({"vol-list", "--pool", pool});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::set<std::string> names;
  std::size_t pos = 0;
  while (pos < r.out.size()) {
    std::size_t nl = r.out.find('\n', pos);
    if (nl == std::string::npos) nl = r.out.size();
    std::string line = r.out.substr(pos, nl - pos);
    line.erase(0, line.find_first_not_of(' '));
    if (!line.empty()) names.insert(line.substr(0, line.find(' ')));
    pos = nl + 1;
  }
  return names;
}

class CliHost : public ::testing::Test {
 protected:
  void SetUp() override {
    ProcessOptions options;
    options.timeout = std::chrono::seconds(90);
    run_ok({(source_dir() / "scripts/start-libvirt.sh").string()}, options);
    if (HasFatalFailure()) return;
    fs::create_directories(pool_dir_);
    auto created = virsh({"pool-create-as", pool_, "dir", "--target", pool_dir_.string()});
    ASSERT_EQ(created.exit_code, 0) << created.err;
    pool_created_ = true;
  }

  void TearDown() override {
    if (pool_created_) {
      auto destroyed = virsh({"pool-destroy", pool_});  // transient: gone with it
      EXPECT_EQ(destroyed.exit_code, 0) << destroyed.err;
    }
  }

  ProcessResult cli(std::vector<std::string> args) {
    args.insert(args.begin(), {"--catalog", catalog_.string()});
    return run_cli(args, std::chrono::seconds(120));
  }

  // The object `host list --json` prints for `name` (a test failure and null when absent).
  nlohmann::json listed(const std::string& name) {
    auto list = cli({"host", "list", "--json"});
    auto j = json_output(list);
    if (!j.is_array()) return nullptr;
    for (const auto& status : j)
      if (status.at("host").at("name") == name) return status;
    ADD_FAILURE() << name << " not in host list --json: " << j.dump();
    return nullptr;
  }

  void create_volume(const std::string& name) {
    auto r = virsh({"vol-create-as", pool_, name, "1M"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  TempDir dir_{"dormant-cli-host"};
  fs::path catalog_ = dir_.path() / "catalog.db";
  fs::path pool_dir_ = dir_.path() / "pool";
  std::string pool_ = unique("dormant-hosttest");
  bool pool_created_ = false;
};

TEST_F(CliHost, AddWithThePoolListShowsItReachableWithFreeSlotsAndRemoveDropsIt) {
  auto add = cli({"host", "add", "local", kUri, "--pool", pool_, "--max-vms", "64", "--memory", "512",
                  "--group", "lab"});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  EXPECT_NE(
      add.out.find("added host local (qemu:///system, group lab, up to 64 VMs of 512 MiB, pool " + pool_),
      std::string::npos)
      << add.out;
  EXPECT_EQ(add.err, "");

  auto status = listed("local");
  ASSERT_TRUE(status.is_object());
  EXPECT_EQ(status.at("reachable"), true) << status.dump();
  EXPECT_EQ(status.at("error"), "") << status.dump();
  EXPECT_GT(status.at("cpus").get<int>(), 0);
  EXPECT_GT(status.at("memory_mib").get<std::uint64_t>(), 0u);
  EXPECT_GT(status.at("free_memory_mib").get<std::uint64_t>(), 0u);
  EXPECT_EQ(status.at("pool_ok"), true);
  EXPECT_GT(status.at("pool_available_bytes").get<std::uint64_t>(), 0u);
  // Servicing VMs of other tests may run on the same daemon meanwhile.
  int running = status.at("running_vms").get<int>();
  EXPECT_GE(running, 0);
  EXPECT_EQ(status.at("free_slots").get<int>(), std::max(0, 64 - running));
  EXPECT_EQ(status.at("host").at("max_vms"), 64);
  EXPECT_EQ(status.at("host").at("memory_mib"), 512);
  EXPECT_EQ(status.at("host").at("pool"), pool_);
  EXPECT_EQ(status.at("host").at("host_group"), "lab");

  auto table = cli({"host", "list"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_EQ(table.out.rfind("NAME", 0), 0u) << table.out;
  for (const char* column : {"URI", "GROUP", "REACHABLE", "VMS", "FREE-MEM", "POOL-FREE"})
    EXPECT_NE(table.out.find(column), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("local"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find(" yes "), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("/64"), std::string::npos) << table.out;

  auto again = cli({"host", "add", "local", kUri, "--pool", pool_});
  EXPECT_EQ(again.exit_code, 7) << again.err;

  auto remove = cli({"host", "remove", "local"});
  ASSERT_EQ(remove.exit_code, 0) << remove.err;
  EXPECT_EQ(remove.out, "removed host local\n");
  EXPECT_EQ(json_output(cli({"host", "list", "--json"})), nlohmann::json::array());
  auto missing = cli({"host", "remove", "local"});
  EXPECT_EQ(missing.exit_code, 3) << missing.err;
  EXPECT_NE(missing.err.find("local"), std::string::npos) << missing.err;
}

TEST_F(CliHost, AMissingPoolIsRefusedNamingThePoolAndTheFix) {
  std::string missing_pool = unique("dormant-no-such-pool");
  auto add = cli({"host", "add", "local", kUri, "--pool", missing_pool});
  EXPECT_EQ(add.exit_code, 3) << add.err;
  EXPECT_NE(add.err.find("storage pool " + missing_pool + " does not exist"), std::string::npos) << add.err;
  EXPECT_NE(add.err.find("pool-define-as " + missing_pool), std::string::npos) << add.err;
  EXPECT_NE(add.err.find("pool-start " + missing_pool), std::string::npos) << add.err;
  EXPECT_EQ(json_output(cli({"host", "list", "--json"})), nlohmann::json::array());
}

TEST_F(CliHost, AnUnreachableHostIsRefusedUnlessNoCheckAndThenListedAsUnreachable) {
  auto add = cli({"host", "add", "down", kUnreachable});
  EXPECT_EQ(add.exit_code, 6) << add.err;
  EXPECT_NE(add.err.find(std::string("host down (") + kUnreachable + "): cannot connect: "),
            std::string::npos)
      << add.err;
  EXPECT_NE(add.err.find("/nonexistent/sock"), std::string::npos) << add.err;
  EXPECT_NE(add.err.find("is libvirtd running there?"), std::string::npos) << add.err;

  auto unchecked = cli({"host", "add", "down", kUnreachable, "--no-check"});
  ASSERT_EQ(unchecked.exit_code, 0) << unchecked.err;
  ASSERT_EQ(cli({"host", "add", "up", kUri, "--pool", pool_}).exit_code, 0);

  auto list = cli({"host", "list", "--json"});
  EXPECT_EQ(list.exit_code, 0) << list.err;  // a report, even with a host down
  EXPECT_NE(list.err.find("warning: host down"), std::string::npos) << list.err;
  auto down = listed("down");
  ASSERT_TRUE(down.is_object());
  EXPECT_EQ(down.at("reachable"), false);
  EXPECT_NE(down.at("error").get<std::string>().find("cannot connect"), std::string::npos) << down.dump();
  EXPECT_EQ(down.at("free_slots"), 0);
  EXPECT_EQ(down.at("pool_ok"), false);
  EXPECT_EQ(listed("up").at("reachable"), true);

  auto table = cli({"host", "list"});
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find(" NO "), std::string::npos) << table.out;
  EXPECT_NE(table.err.find("1 of 2 hosts did not answer"), std::string::npos) << table.err;

  auto cleanup = cli({"host", "cleanup", "down"});
  EXPECT_EQ(cleanup.exit_code, 6) << cleanup.err;
  EXPECT_NE(cleanup.err.find("cannot connect"), std::string::npos) << cleanup.err;
  EXPECT_EQ(cli({"host", "remove", "down"}).exit_code, 0);
}

TEST_F(CliHost, CleanupRemovesVolumesOfDeadRunsAndKeepsThoseOfLiveRuns) {
  ASSERT_EQ(cli({"host", "add", "local", kUri, "--pool", pool_}).exit_code, 0);
  // A pid that is certainly gone: a child that exited and was reaped.
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);

  const std::string live_run = fmt::format("20261129T091904Z-{}", ::getpid());
  const std::string finished_run = fmt::format("20261129T081904Z-{}", ::getpid());
  const std::string gone_run = fmt::format("20261129T071904Z-{}", child);
  {
    catalog::Catalog catalog(catalog_);
    catalog.begin_patch_run({live_run, "", "", "offline", "{}", "running", std::nullopt});
    catalog.begin_patch_run({finished_run, "", "", "offline", "{}", "running", std::nullopt});
    catalog.finish_patch_run(finished_run, "done");
    catalog.begin_patch_run({gone_run, "", "", "offline", "{}", "running", std::nullopt});  // its process died
  }
  const std::string unknown_volume = "dormant-20200101T000000Z-999999-1-disk.qcow2";  // not in the catalog
  const std::string live_volume = "dormant-" + live_run + "-1-disk.qcow2";
  const std::string finished_volume = "dormant-" + finished_run + "-2-disk.qcow2";
  const std::string gone_volume = "dormant-" + gone_run + "-3-seed.iso";
  for (const auto& name :
       {unknown_volume, live_volume, finished_volume, gone_volume, std::string("web1.qcow2")})
    create_volume(name);
  if (HasFatalFailure()) return;

  auto cleanup = cli({"host", "cleanup", "local"});
  ASSERT_EQ(cleanup.exit_code, 0) << cleanup.err;
  for (const auto& name : {unknown_volume, finished_volume, gone_volume})
    EXPECT_NE(cleanup.out.find("removed volume " + name + "\n"), std::string::npos) << cleanup.out;
  EXPECT_NE(cleanup.out.find("host local: removed 3 leftovers of dead patch runs"), std::string::npos)
      << cleanup.out;
  EXPECT_EQ(volumes(pool_), (std::set<std::string>{live_volume, "web1.qcow2"}));

  auto again = cli({"host", "cleanup", "local", "--json"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(json_output(again), (nlohmann::json{{"host", "local"}, {"removed", nlohmann::json::array()}}));
  EXPECT_EQ(volumes(pool_), (std::set<std::string>{live_volume, "web1.qcow2"}));

  auto unknown = cli({"host", "cleanup", "nohost"});
  EXPECT_EQ(unknown.exit_code, 3) << unknown.err;
}

}  // namespace
}  // namespace dormant::testing
