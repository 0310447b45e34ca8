// Patch runs in the catalog (schema 4): a run and its images' rows as the
// steps complete, the history of one image, and the 3 -> 4 migration.
#include <gtest/gtest.h>

#include "dormant/catalog/catalog.hpp"
#include "dormant/core/error.hpp"
#include "support/sqlite_query.hpp"
#include "support/test_support.hpp"

namespace dormant::catalog {
namespace {
namespace fs = std::filesystem;
using testing::sqlite_query;

class PatchCatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Catalog catalog(file_);
    ImageRecord r;
    r.path = "/lib/web.qcow2";
    r.format = "qcow2";
    r.identity = "1:2:3:4:5";
    r.state = "ok";
    catalog.put_images({r});
  }
  std::int64_t image_id(Catalog& catalog) { return catalog.find_image("/lib/web.qcow2")->id; }
  testing::TempDir tmp_;
  fs::path file_ = tmp_.path() / "catalog.db";
};

TEST_F(PatchCatalogTest, ARunAndItsImageMoveThroughTheirStates) {
  Catalog catalog(file_);
  catalog.begin_patch_run({"20261129T101500Z-42", "", "", "offline", R"({"security_only":true})", "running", std::nullopt});
  EXPECT_THROW(catalog.begin_patch_run({"20261129T101500Z-42", "", "", "offline", "{}", "running", std::nullopt}), Error);
  PatchImageRecord r;
  r.run_id = "20261129T101500Z-42";
  r.image_id = image_id(catalog);
  r.state = "planned";
  r.planned = 3;
  catalog.put_patch_image(r);
  r.state = "committed";
  r.staged = 3;
  r.verified = true;
  r.applied = 3;
  r.old_sha256 = "aa";
  r.new_sha256 = "bb";
  r.version_path = "/lib/.dormant-versions/web.qcow2/x";
  catalog.put_patch_image(r);
  catalog.finish_patch_run("20261129T101500Z-42", "done");

  auto images = catalog.patch_images("20261129T101500Z-42");
  ASSERT_EQ(images.size(), 1u);  // replaced, not appended
  EXPECT_EQ(images[0].state, "committed");
  EXPECT_EQ(images[0].image_path, "/lib/web.qcow2");
  EXPECT_EQ(images[0].planned, 3);
  EXPECT_EQ(images[0].staged, 3);
  EXPECT_EQ(images[0].applied, 3);
  EXPECT_TRUE(images[0].verified);
  EXPECT_EQ(images[0].version_path, "/lib/.dormant-versions/web.qcow2/x");
  auto run = catalog.find_patch_run("20261129T101500Z-42");
  ASSERT_TRUE(run);
  EXPECT_EQ(run->state, "done");
  EXPECT_FALSE(run->finished_at.empty());
  EXPECT_EQ(run->options_json, R"({"security_only":true})");
  EXPECT_THROW(catalog.finish_patch_run("no-such-run", "done"), Error);
}

TEST_F(PatchCatalogTest, StatesOutsideTheListAreRefusedByTheSchema) {
  Catalog catalog(file_);
  catalog.begin_patch_run({"r1", "", "", "offline", "{}", "running", std::nullopt});
  PatchImageRecord r;
  r.run_id = "r1";
  r.image_id = image_id(catalog);
  r.state = "half-done";
  EXPECT_THROW(catalog.put_patch_image(r), Error);
  EXPECT_EQ(sqlite_query(file_, "SELECT count(*) FROM patch_images"), "0");
}

TEST_F(PatchCatalogTest, HistoryIsNewestFirstAndAppliedMayBeUnknown) {
  Catalog catalog(file_);
  for (const char* id : {"r1", "r2"}) {
    catalog.begin_patch_run({id, "", "", "offline", "{}", "running", std::nullopt});
    PatchImageRecord r;
    r.run_id = id;
    r.image_id = image_id(catalog);
    r.state = "failed";
    r.reason = std::string("failed in ") + id;
    r.updated_at = std::string("2026-11-29T10:0") + (id[1] == '1' ? "1" : "2") + ":00Z";
    catalog.put_patch_image(r);
  }
  auto history = catalog.patch_history(image_id(catalog));
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0].run_id, "r2");
  EXPECT_EQ(history[1].reason, "failed in r1");
  EXPECT_FALSE(history[0].applied.has_value());
  EXPECT_EQ(catalog.patch_runs().size(), 2u);
}

TEST_F(PatchCatalogTest, AVersionThreeCatalogGainsThePatchTables) {
  // Schema 3 is the current schema without what 3 -> 4 and 4 -> 5 (hosts) add.
  sqlite_query(file_, "DROP TABLE job_events; DROP TABLE job_items; DROP TABLE job_runs; DROP TABLE jobs; DROP TABLE hosts; DROP TABLE patch_images; DROP TABLE patch_runs; PRAGMA user_version = 3");
  Catalog catalog(file_);
  EXPECT_EQ(catalog.schema_version(), kSchemaVersion);
  EXPECT_TRUE(catalog.find_image("/lib/web.qcow2"));
  catalog.begin_patch_run({"r1", "", "", "offline", "{}", "running", std::nullopt});
  EXPECT_EQ(catalog.patch_runs().size(), 1u);
}

}  // namespace
}  // namespace dormant::catalog
