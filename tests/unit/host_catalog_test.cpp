// Maintenance hosts (schema 5): the catalog's hosts table, the 4 -> 5
// migration, the names dormant gives what it leaves on a host, and probing
// and cleaning a host through libvirt's test driver (a node XML file, no
// daemon). The real daemon is in tests/integration/cli_host_test.cpp.
#include <gtest/gtest.h>

#include <set>

#include "dormant/catalog/catalog.hpp"
#include "dormant/core/error.hpp"
#include "dormant/patch/hosts.hpp"
#include "support/sqlite_query.hpp"
#include "support/test_support.hpp"

namespace dormant::catalog {
namespace {
namespace fs = std::filesystem;
using testing::sqlite_query;

Host host(std::string name, std::string group = "default") {
  Host h;
  h.name = std::move(name);
  h.uri = "qemu+ssh://root@" + h.name + ".example.org/system";
  h.host_group = std::move(group);
  return h;
}

std::vector<std::string> names(const std::vector<Host>& hosts) {
  std::vector<std::string> out;
  for (const auto& h : hosts) out.push_back(h.name);
  return out;
}

ErrorKind kind_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const Error& e) {
    return e.kind();
  }
  ADD_FAILURE() << "no Error thrown";
  return ErrorKind::internal;
}

class HostCatalogTest : public ::testing::Test {
 protected:
  testing::TempDir tmp_{"dormant-host-catalog"};
  fs::path file_ = tmp_.path() / "catalog.db";
};

TEST_F(HostCatalogTest, AddFindListByGroupAndRemove) {
  Catalog catalog(file_);
  Host kvm2 = host("kvm2", "dc1");
  kvm2.max_vms = 4;
  kvm2.memory_mib = 2048;
  kvm2.pool = "dormant";
  catalog.add_host(kvm2);
  catalog.add_host(host("kvm1", "dc1"));
  catalog.add_host(host("local"));

  auto found = catalog.find_host("kvm2");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->uri, "qemu+ssh://root@kvm2.example.org/system");
  EXPECT_EQ(found->host_group, "dc1");
  EXPECT_EQ(found->max_vms, 4);
  EXPECT_EQ(found->memory_mib, 2048);
  EXPECT_EQ(found->pool, "dormant");
  EXPECT_FALSE(found->added_at.empty());
  EXPECT_FALSE(catalog.find_host("kvm3"));

  EXPECT_EQ(names(catalog.hosts()), (std::vector<std::string>{"kvm1", "kvm2", "local"}));
  EXPECT_EQ(names(catalog.hosts_in_group("dc1")), (std::vector<std::string>{"kvm1", "kvm2"}));
  EXPECT_EQ(names(catalog.hosts_in_group("default")), std::vector<std::string>{"local"});
  EXPECT_TRUE(catalog.hosts_in_group("dc2").empty());
  // The defaults of a Host are what is stored.
  auto local = catalog.find_host("local");
  EXPECT_EQ(local->max_vms, 1);
  EXPECT_EQ(local->memory_mib, 1024);
  EXPECT_EQ(local->pool, "default");
  // As the documented columns.
  EXPECT_EQ(sqlite_query(file_,
                         "SELECT name, host_group, max_vms, memory_mib, pool FROM hosts WHERE name = 'kvm2'"),
            "kvm2|dc1|4|2048|dormant");

  catalog.remove_host("kvm1");
  EXPECT_EQ(names(catalog.hosts()), (std::vector<std::string>{"kvm2", "local"}));
  EXPECT_EQ(names(catalog.hosts_in_group("dc1")), std::vector<std::string>{"kvm2"});
}

TEST_F(HostCatalogTest, ATakenNameIsAConflictAndAnUnknownOneNotFound) {
  Catalog catalog(file_);
  catalog.add_host(host("kvm1"));
  Host again = host("kvm1", "other");
  try {
    catalog.add_host(again);
    FAIL() << "added a host twice";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::conflict);
    EXPECT_NE(std::string(e.what()).find("kvm1"), std::string::npos) << e.what();
  }
  EXPECT_EQ(catalog.find_host("kvm1")->host_group, "default");  // the first one is kept
  try {
    catalog.remove_host("kvm9");
    FAIL() << "removed a host that does not exist";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_found);
    EXPECT_NE(std::string(e.what()).find("kvm9"), std::string::npos) << e.what();
  }
}

TEST_F(HostCatalogTest, InvalidFieldsAreUsageErrorsAndNothingIsWritten) {
  Catalog catalog(file_);
  auto with = [](const std::function<void(Host&)>& change) {
    Host h = host("kvm1");
    change(h);
    return h;
  };
  std::vector<Host> invalid = {
      with([](Host& h) { h.name = ""; }),
      with([](Host& h) { h.name = "-kvm"; }),
      with([](Host& h) { h.name = "kvm 1"; }),
      with([](Host& h) { h.name = "kvm/1"; }),
      with([](Host& h) { h.uri = "kvm1.example.org"; }),
      with([](Host& h) { h.uri = ""; }),
      with([](Host& h) { h.uri = "qemu:///system extra"; }),
      with([](Host& h) { h.host_group = ""; }),
      with([](Host& h) { h.max_vms = 0; }),
      with([](Host& h) { h.memory_mib = 127; }),
      with([](Host& h) { h.pool = ""; }),
  };
  for (const auto& h : invalid) {
    EXPECT_EQ(kind_of([&] { validate_host(h); }), ErrorKind::usage) << h.name << " " << h.uri;
    EXPECT_EQ(kind_of([&] { catalog.add_host(h); }), ErrorKind::usage) << h.name << " " << h.uri;
  }
  EXPECT_EQ(sqlite_query(file_, "SELECT count(*) FROM hosts"), "0");
  // The schema refuses them too, whoever writes.
  std::string schema = sqlite_query(file_, "SELECT sql FROM sqlite_master WHERE name = 'hosts'");
  EXPECT_NE(schema.find("CHECK (max_vms >= 1)"), std::string::npos) << schema;
  EXPECT_NE(schema.find("CHECK (memory_mib >= 128)"), std::string::npos) << schema;
  Host smallest = with([](Host& h) {
    h.max_vms = 1;
    h.memory_mib = 128;
    h.uri = "qemu+unix:///system?socket=/run/libvirt-2/libvirt-sock";
  });
  catalog.add_host(smallest);
  EXPECT_EQ(catalog.find_host("kvm1")->uri, "qemu+unix:///system?socket=/run/libvirt-2/libvirt-sock");
}

TEST_F(HostCatalogTest, AVersionFourCatalogGainsTheHostsTableAndKeepsItsRows) {
  {
    Catalog catalog(file_);
    catalog.add_library({0, "golden", LibraryKind::directory, "/srv/golden", "", "", ""});
    ImageRecord r;
    r.path = "/srv/golden/web.qcow2";
    r.format = "qcow2";
    r.identity = "1:2:3:4:5";
    r.state = "ok";
    catalog.put_images({r});
    catalog.create_group("web", "*web*");
    catalog.begin_patch_run({"20261129T101500Z-42", "", "", "offline", "{}", "running", std::nullopt});
  }
  // Schema 4 is the current schema without what 4 -> 5 and 5 -> 6 add.
  sqlite_query(file_,
               "DROP TABLE hosts; DROP TABLE job_events; DROP TABLE job_items; DROP TABLE job_runs; "
               "DROP TABLE jobs; ALTER TABLE patch_runs DROP COLUMN job_run_id; PRAGMA user_version = 4");
  ASSERT_EQ(sqlite_query(file_, "SELECT count(*) FROM sqlite_master WHERE name = 'hosts'"), "0");

  Catalog catalog(file_);
  EXPECT_EQ(catalog.schema_version(), kSchemaVersion);
  EXPECT_EQ(sqlite_query(file_, "PRAGMA user_version"), std::to_string(kSchemaVersion));
  ASSERT_EQ(catalog.libraries().size(), 1u);
  ASSERT_TRUE(catalog.find_image("/srv/golden/web.qcow2"));
  EXPECT_EQ(catalog.find_image("/srv/golden/web.qcow2")->identity, "1:2:3:4:5");  // not re-identified
  EXPECT_EQ(catalog.group_members("web").size(), 1u);
  ASSERT_TRUE(catalog.find_patch_run("20261129T101500Z-42"));
  EXPECT_EQ(catalog.find_patch_run("20261129T101500Z-42")->state, "running");
  EXPECT_TRUE(catalog.hosts().empty());
  catalog.add_host(host("kvm1"));
  EXPECT_EQ(catalog.hosts().size(), 1u);
}

TEST(HostObjectNames, TheRunIdIsReadFromDomainAndVolumeNames) {
  using patch::run_of_host_object;
  EXPECT_EQ(run_of_host_object("dormant-service-20261129T091904Z-2581-7"), "20261129T091904Z-2581");
  EXPECT_EQ(run_of_host_object("dormant-service-20261129T091904Z-2581-web1"), "20261129T091904Z-2581");
  EXPECT_EQ(run_of_host_object("dormant-20261129T091904Z-2581-7-disk.qcow2"), "20261129T091904Z-2581");
  EXPECT_EQ(run_of_host_object("dormant-20200101T000000Z-999999-1-disk.qcow2"), "20200101T000000Z-999999");
  EXPECT_EQ(run_of_host_object("dormant-20261129T091904Z-1-12-seed.iso"), "20261129T091904Z-1");
}

TEST(HostObjectNames, NamesThatAreNotDormantsGiveNothing) {
  using patch::run_of_host_object;
  for (const char* name : {
           "",
           "web1",
           "web1.qcow2",
           "dormant",
           "dormant-",
           "dormant-service-",
           "dormant-finalize-20261129T091904Z-2581-7",  // patch --finalize's own, autodestroyed
           "dormant-service-20261129T091904Z-2581",     // no image after the run
           "dormant-service-20261129T091904Z-2581-",    // nothing after the dash
           "dormant-20261129T091904Z-2581",
           "dormant-20261129T091904Z--7-disk",  // no pid
           "dormant-20261129T091904Z-25x1-7-disk",
           "dormant-2026112T091904Z-2581-7-disk",   // 7-digit date
           "dormant-20261129X091904Z-2581-7-disk",  // no T
           "dormant-20261129T091904-2581-7-disk",   // no Z
           "xdormant-20261129T091904Z-2581-7-disk",
           "Dormant-20261129T091904Z-2581-7-disk",
       })
    EXPECT_EQ(run_of_host_object(name), "") << name;
}

// A libvirt test-driver node: 4 CPUs, 4 GiB, two servicing VMs (one of a dead
// run, one of run 20261129T091904Z-42) and another domain running, and a pool
// with a volume of each run plus an unrelated one.
class HostProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::write_file(node_, R"xml(<node>
  <cpu>
    <mhz>2000</mhz><model>x86_64</model>
    <nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>1</threads><active>4</active>
  </cpu>
  <memory>4194304</memory>
  <domain type='test'><name>dormant-service-20200101T000000Z-999999-1</name><memory>131072</memory><os><type>hvm</type></os></domain>
  <domain type='test'><name>dormant-service-20261129T091904Z-42-2</name><memory>131072</memory><os><type>hvm</type></os></domain>
  <domain type='test'><name>web1</name><memory>131072</memory><os><type>hvm</type></os></domain>
  <pool type='dir'>
    <name>svc</name>
    <target><path>/var/lib/dormant-test-pool</path></target>
    <volume type='file'><name>dormant-20200101T000000Z-999999-1-disk.qcow2</name><capacity unit='M'>1</capacity></volume>
    <volume type='file'><name>dormant-20261129T091904Z-42-2-disk.qcow2</name><capacity unit='M'>1</capacity></volume>
    <volume type='file'><name>web1.qcow2</name><capacity unit='M'>1</capacity></volume>
  </pool>
</node>
)xml");
    host_.name = "test";
    host_.uri = "test://" + node_.string();
    host_.max_vms = 3;
    host_.pool = "svc";
  }
  testing::TempDir tmp_{"dormant-host-probe"};
  fs::path node_ = tmp_.path() / "node.xml";
  Host host_;
};

TEST_F(HostProbeTest, AProbeCountsServicingVmsAndFreeSlots) {
  auto status = patch::probe_host(host_);
  EXPECT_TRUE(status.reachable) << status.error;
  EXPECT_EQ(status.error, "");
  EXPECT_EQ(status.host.name, "test");
  EXPECT_EQ(status.cpus, 4);
  EXPECT_EQ(status.memory_mib, 4096u);
  EXPECT_TRUE(status.pool_ok);
  EXPECT_EQ(status.running_vms, 2);  // web1 is not dormant's
  EXPECT_EQ(status.free_slots, 1);
  host_.max_vms = 1;  // more running than allowed: no free slot, not a negative count
  EXPECT_EQ(patch::probe_host(host_).free_slots, 0);
}

TEST_F(HostProbeTest, AMissingPoolIsUnusableAndTheErrorNamesItAndTheFix) {
  host_.pool = "nopool";
  auto status = patch::probe_host(host_);
  EXPECT_TRUE(status.reachable);
  EXPECT_FALSE(status.pool_ok);
  EXPECT_EQ(status.free_slots, 0);
  EXPECT_NE(status.error.find("storage pool nopool does not exist"), std::string::npos) << status.error;
  EXPECT_NE(status.error.find("pool-define-as nopool"), std::string::npos) << status.error;
  EXPECT_NE(status.error.find("pool-start nopool"), std::string::npos) << status.error;
}

TEST_F(HostProbeTest, AnUnreachableHostIsReportedNotThrown) {
  host_.uri = "qemu+unix:///system?socket=/nonexistent/dormant-test-sock";
  auto status = patch::probe_host(host_);
  EXPECT_FALSE(status.reachable);
  EXPECT_EQ(status.free_slots, 0);
  EXPECT_EQ(status.error.rfind(
                "host test (qemu+unix:///system?socket=/nonexistent/dormant-test-sock): cannot connect: ", 0),
            0u)
      << status.error;
  EXPECT_NE(status.error.find("/nonexistent/dormant-test-sock"), std::string::npos) << status.error;
  EXPECT_NE(status.error.find("is libvirtd running there?"), std::string::npos) << status.error;
  try {
    patch::cleanup_host(host_, [](const std::string&) { return false; });
    FAIL() << "cleaned an unreachable host";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::io);
    EXPECT_NE(std::string(e.what()).find("cannot connect"), std::string::npos) << e.what();
  }
}

TEST_F(HostProbeTest, CleanupRemovesWhatDeadRunsLeftAndKeepsLiveRunsAndOthers) {
  std::vector<std::string> asked;
  auto removed = patch::cleanup_host(host_, [&](const std::string& run) {
    asked.push_back(run);
    return run == "20261129T091904Z-42";
  });
  EXPECT_EQ(std::set<std::string>(removed.begin(), removed.end()),
            (std::set<std::string>{"domain dormant-service-20200101T000000Z-999999-1",
                                   "volume dormant-20200101T000000Z-999999-1-disk.qcow2"}));
  // Asked once per run, never about names that are not dormant's.
  EXPECT_EQ(std::set<std::string>(asked.begin(), asked.end()),
            (std::set<std::string>{"20200101T000000Z-999999", "20261129T091904Z-42"}));
  EXPECT_EQ(asked.size(), 2u);
}

}  // namespace
}  // namespace dormant::catalog
