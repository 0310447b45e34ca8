// The job tables of the catalog (schema 6): runs and items, the claim that
// enforces a host's max VMs across every running job in one transaction,
// the event record the concurrency checks replay, and the 5 -> 6 migration.
#include <gtest/gtest.h>

#include <functional>
#include <map>

#include "dormant/catalog/catalog.hpp"
#include "dormant/core/error.hpp"
#include "support/sqlite_query.hpp"
#include "support/test_support.hpp"

namespace dormant::catalog {
namespace {

namespace fs = std::filesystem;
using testing::sqlite_query;

class JobCatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Catalog catalog(file_);
    std::vector<ImageRecord> images;
    for (const char* name : {"a", "b", "c", "d"}) {
      ImageRecord r;
      r.path = std::string("/srv/lib/") + name + ".qcow2";
      r.format = "qcow2";
      r.identity = std::string("1:2:3:4:") + name;
      r.state = "ok";
      images.push_back(r);
    }
    catalog.put_images(images);
    for (const auto& image : catalog.images()) ids_.push_back(image.id);
  }

  Job job(const std::string& name) {
    Job j;
    j.name = name;
    j.targets_json = R"({"all":true})";
    j.mode = "service";
    j.host_group = "maint";
    return j;
  }

  std::int64_t begin(Catalog& catalog, const std::string& name) {
    JobRun run;
    run.job_name = name;
    run.runner_pid = 4242;
    return catalog.begin_job_run(run, ids_);
  }

  testing::TempDir tmp_{"dormant-job-catalog"};
  fs::path file_ = tmp_.path() / "catalog.db";
  std::vector<std::int64_t> ids_;
};

TEST_F(JobCatalogTest, AHostsMaxVmsHoldsAcrossEveryRunningJob) {
  Catalog catalog(file_);
  catalog.add_job(job("one"));
  catalog.add_job(job("two"));
  const auto r1 = begin(catalog, "one");
  const auto r2 = begin(catalog, "two");
  // kvm1 takes 2: one item of each job fills it; a third claim is refused.
  EXPECT_TRUE(catalog.claim_job_item(r1, ids_[0], "kvm1", 2));
  EXPECT_TRUE(catalog.claim_job_item(r2, ids_[0], "kvm1", 2));
  EXPECT_FALSE(catalog.claim_job_item(r1, ids_[1], "kvm1", 2));
  EXPECT_EQ(catalog.job_items(r1)[1].state, "pending");  // the refused claim changed nothing
  EXPECT_TRUE(catalog.claim_job_item(r1, ids_[1], "kvm2", 1));
  // An ended item frees its slot.
  JobItem end = catalog.job_items(r2)[0];
  end.state = "done";
  end.result = "committed";
  end.log = "attempt 1: committed\n";
  catalog.end_job_item(end);
  EXPECT_TRUE(catalog.claim_job_item(r1, ids_[2], "kvm1", 2));
  // Items of a run that is no longer running do not count.
  catalog.finish_job_run(r1, "interrupted", "test");
  EXPECT_TRUE(catalog.claim_job_item(r2, ids_[1], "kvm1", 1));
  // A claim of an item that is not pending is a conflict.
  try {
    catalog.claim_job_item(r2, ids_[1], "", 0);
    ADD_FAILURE() << "claimed a running item twice";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::conflict);
  }
  // Every claim and end is an event, in one global sequence.
  const auto events = catalog.job_events();
  ASSERT_EQ(events.size(), 6u);
  for (std::size_t i = 1; i < events.size(); ++i) EXPECT_GT(events[i].seq, events[i - 1].seq);
  EXPECT_EQ(events[3].kind, "finish");
  EXPECT_EQ(events[3].run_id, r2);
  EXPECT_EQ(catalog.job_items(r2)[0].log, "attempt 1: committed\n");
}

TEST_F(JobCatalogTest, ItemsEndAsRecordedAndPendingOnesCanBeCancelled) {
  Catalog catalog(file_);
  catalog.add_job(job("one"));
  const auto run = begin(catalog, "one");
  ASSERT_TRUE(catalog.claim_job_item(run, ids_[0], "", 0));
  catalog.set_job_item_process(run, ids_[0], 777);
  EXPECT_EQ(catalog.job_items(run)[0].pid, 777);
  JobItem again = catalog.job_items(run)[0];
  again.state = "pending";  // its process died half way: run it again
  again.log = "attempt 1: interrupted\n";
  catalog.end_job_item(again);
  ASSERT_TRUE(catalog.claim_job_item(run, ids_[0], "", 0));
  EXPECT_EQ(catalog.job_items(run)[0].attempt, 2);
  catalog.cancel_pending_job_items(run, "cancelled before it started");
  std::map<std::string, int> states;
  for (const auto& item : catalog.job_items(run)) ++states[item.state];
  EXPECT_EQ(states["running"], 1);
  EXPECT_EQ(states["cancelled"], 3);
  // A job with a running run cannot be removed; once finished it can, with its runs.
  try {
    catalog.remove_job("one");
    ADD_FAILURE() << "removed a job with a running run";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::conflict);
  }
  catalog.finish_job_run(run, "cancelled", "test");
  catalog.remove_job("one");
  EXPECT_FALSE(catalog.find_job_run(run));
  EXPECT_EQ(sqlite_query(file_, "SELECT count(*) FROM job_items"), "0");
}

TEST_F(JobCatalogTest, AVersionFiveCatalogGainsTheJobTablesAndKeepsItsPatchRuns) {
  {
    Catalog catalog(file_);
    catalog.begin_patch_run({"20261129T101500Z-42", "", "", "service", "{}", "done", std::nullopt});
  }
  sqlite_query(file_,
               "DROP TABLE job_events; DROP TABLE job_items; DROP TABLE job_runs; DROP TABLE jobs; "
               "ALTER TABLE patch_runs DROP COLUMN job_run_id; PRAGMA user_version = 5");
  Catalog catalog(file_);
  EXPECT_EQ(sqlite_query(file_, "PRAGMA user_version"), "6");
  auto run = catalog.find_patch_run("20261129T101500Z-42");
  ASSERT_TRUE(run);
  EXPECT_EQ(run->mode, "service");
  EXPECT_FALSE(run->job_run_id);
  catalog.add_job(job("after"));
  EXPECT_EQ(catalog.jobs().size(), 1u);
}

}  // namespace
}  // namespace dormant::catalog
