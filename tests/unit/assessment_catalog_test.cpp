// Package sets and assessments in the catalog: content addressing, the
// 2 -> 3 migration of an existing file, and the append-only history.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "dormant/catalog/catalog.hpp"
#include "dormant/core/error.hpp"
#include "support/sqlite_query.hpp"
#include "support/test_support.hpp"

namespace dormant::catalog {
namespace {
namespace fs = std::filesystem;
using testing::sqlite_query;

ImageRecord image(const std::string& path, const std::string& package_set = "") {
  ImageRecord r;
  r.path = path;
  r.format = "qcow2";
  r.identity = "1:2:3:4:5";
  r.state = "ok";
  r.package_set = package_set;
  return r;
}

PackageSet package_set(std::string status, std::vector<std::string> architectures = {"amd64"}) {
  PackageSet set;
  set.dpkg_status = std::move(status);
  set.architectures = std::move(architectures);
  set.sha256 = package_set_sha256(set);
  return set;
}

class AssessmentCatalogTest : public ::testing::Test {
 protected:
  testing::TempDir tmp_;
  fs::path file_ = tmp_.path() / "catalog.db";
};

TEST_F(AssessmentCatalogTest, PackageSetsAreStoredOncePerContentAndRoundTripExactly) {
  Catalog catalog(file_);
  // Bytes a text column would mangle: NUL, invalid UTF-8.
  PackageSet a = package_set(std::string("Package: a\nVersion: 1\n\0\xff\n", 24), {"amd64", "i386"});
  a.extended_states = "Package: a\nAuto-Installed: 1\n";
  a.sha256 = package_set_sha256(a);
  catalog.put_package_set(a);
  catalog.put_package_set(a);  // a clone: no second row
  EXPECT_EQ(sqlite_query(file_, "SELECT count(*) FROM package_sets"), "1");

  auto back = catalog.find_package_set(a.sha256);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->dpkg_status, a.dpkg_status);
  EXPECT_EQ(back->extended_states, a.extended_states);
  EXPECT_EQ(back->architectures, a.architectures);
  EXPECT_FALSE(catalog.find_package_set(std::string(64, '0')));

  // The key covers every part: other architectures or marks are another set.
  PackageSet b = a;
  b.architectures = {"amd64"};
  EXPECT_NE(package_set_sha256(b), a.sha256);
  b.architectures = a.architectures;
  b.extended_states.clear();
  EXPECT_NE(package_set_sha256(b), a.sha256);
}

TEST_F(AssessmentCatalogTest, RefusesAPackageSetWhoseKeyDoesNotMatchAndDetectsATamperedRow) {
  Catalog catalog(file_);
  PackageSet a = package_set("Package: a\n");
  PackageSet wrong = a;
  wrong.dpkg_status += "Package: b\n";
  try {
    catalog.put_package_set(wrong);
    FAIL() << "accepted a package set whose sha256 does not match";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::usage);
  }
  catalog.put_package_set(a);
  sqlite_query(file_, "UPDATE package_sets SET dpkg_status = X'00'");
  try {
    catalog.find_package_set(a.sha256);
    FAIL() << "returned a package set whose content no longer matches its key";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::corrupt);
    EXPECT_NE(std::string(e.what()).find(a.sha256), std::string::npos) << e.what();
  }
}

TEST_F(AssessmentCatalogTest, UnusedPackageSetsAreRemovedUsedOnesKept) {
  Catalog catalog(file_);
  PackageSet used = package_set("Package: used\n");
  PackageSet unused = package_set("Package: unused\n");
  catalog.put_package_set(used);
  catalog.put_package_set(unused);
  catalog.put_images({image("/lib/a.qcow2", used.sha256), image("/lib/b.qcow2", used.sha256)});
  EXPECT_EQ(catalog.remove_unused_package_sets(), 1u);
  EXPECT_TRUE(catalog.find_package_set(used.sha256));
  EXPECT_FALSE(catalog.find_package_set(unused.sha256));
  EXPECT_EQ(catalog.find_image("/lib/b.qcow2")->package_set, used.sha256);
}

TEST_F(AssessmentCatalogTest, MigratingAVersionTwoCatalogKeepsImagesAndMakesIdentifyReadThemAgain) {
  {
    Catalog catalog(file_);
    catalog.put_images({image("/lib/a.qcow2")});
    catalog.create_group("web", "*");
  }
  // Schema 2 is the current schema without what 2 -> 3, 3 -> 4 and 4 -> 5 add.
  sqlite_query(file_,
               "DROP TABLE job_events; DROP TABLE job_items; DROP TABLE job_runs; DROP TABLE jobs; DROP TABLE hosts; DROP TABLE patch_images; DROP TABLE patch_runs; "
               "DROP TABLE assessments; ALTER TABLE images DROP COLUMN package_set; DROP TABLE package_sets; "
               "PRAGMA user_version = 2");
  Catalog catalog(file_);
  EXPECT_EQ(catalog.schema_version(), kSchemaVersion);
  auto a = catalog.find_image("/lib/a.qcow2");
  ASSERT_TRUE(a);
  // An empty identity never equals a file's: the next identify inspects the
  // image again and so records its package database.
  EXPECT_EQ(a->identity, "");
  EXPECT_EQ(a->package_set, "");
  EXPECT_EQ(catalog.group_members("web").size(), 1u);
}

TEST_F(AssessmentCatalogTest, AssessmentsAreAHistoryAndTheNewestPerImageIsItsState) {
  Catalog catalog(file_);
  catalog.put_images({image("/lib/a.qcow2"), image("/lib/b.qcow2")});
  const auto a = catalog.find_image("/lib/a.qcow2")->id;
  const auto b = catalog.find_image("/lib/b.qcow2")->id;
  AssessmentRecord first{
      0, a, "", "2026-11-01T00:00:00Z", std::string(kSecurityUpdatesPending), "", 3, 1, false, "", "{}"};
  AssessmentRecord second{0,    a,  "",         "2026-11-02T00:00:00Z", std::string(kCompliant), "", 0, 0,
                          true, "", "{\"x\":1}"};
  AssessmentRecord other{0, b, "", "", std::string(kUnknown), "no package database", 0, 0, false, "", "{}"};
  catalog.add_assessments({first});
  catalog.add_assessments({second, other});

  auto latest = catalog.latest_assessments();
  ASSERT_EQ(latest.size(), 2u);
  EXPECT_EQ(latest[0].image_path, "/lib/a.qcow2");
  EXPECT_EQ(latest[0].state, kCompliant);
  EXPECT_TRUE(latest[0].unsigned_sources);
  EXPECT_EQ(latest[0].result_json, "{\"x\":1}");
  EXPECT_EQ(latest[1].state, kUnknown);
  EXPECT_EQ(latest[1].reason, "no package database");
  EXPECT_FALSE(latest[1].assessed_at.empty());

  auto history = catalog.assessment_history(a);
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0].assessed_at, "2026-11-02T00:00:00Z");
  EXPECT_EQ(history[1].state, kSecurityUpdatesPending);
  EXPECT_EQ(history[1].updates, 3);
  EXPECT_EQ(history[1].security_updates, 1);
  EXPECT_EQ(catalog.assessment_history(a, 1).size(), 1u);
}

TEST_F(AssessmentCatalogTest, AnUnknownStateIsRefusedAndNothingOfTheBatchIsWritten) {
  Catalog catalog(file_);
  catalog.put_images({image("/lib/a.qcow2")});
  const auto a = catalog.find_image("/lib/a.qcow2")->id;
  AssessmentRecord good{0, a, "", "", std::string(kCompliant), "", 0, 0, false, "", "{}"};
  AssessmentRecord bad{0, a, "", "", "patched-probably", "", 0, 0, false, "", "{}"};
  EXPECT_THROW(catalog.add_assessments({good, bad}), Error);
  EXPECT_TRUE(catalog.latest_assessments().empty());
}

}  // namespace
}  // namespace dormant::catalog
