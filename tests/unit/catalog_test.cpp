// The SQLite catalog: creation, modes, WAL, migrations, constraints, groups,
// and clear errors for files that are not catalogs.
#include "dormant/catalog/catalog.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "dormant/core/error.hpp"
#include "support/sqlite_query.hpp"
#include "support/test_support.hpp"

namespace dormant::catalog {
namespace {
namespace fs = std::filesystem;

class CatalogTest : public ::testing::Test {
 protected:
  // tmp_ removes the directory; a test may have left it read-only.
  void TearDown() override {
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add, ec);
  }

  static std::string raw_query(const fs::path& file, const std::string& sql) {
    return testing::sqlite_query(file, sql);
  }

  static ImageRecord image(const std::string& path, std::optional<std::int64_t> library_id = std::nullopt) {
    ImageRecord r;
    r.path = path;
    r.library_id = library_id;
    r.format = "qcow2";
    r.identity = "1:2:3:4:5";
    r.state = "ok";
    return r;
  }

  dormant::testing::TempDir tmp_{"dormant-catalog"};
  fs::path dir_ = tmp_.path();
};

TEST_F(CatalogTest, CreatesPrivateFileInWalModeAtCurrentSchema) {
  fs::path file = dir_ / "a" / "b" / "catalog.db";
  {
    Catalog catalog(file);
    EXPECT_EQ(catalog.journal_mode(), "wal");
    EXPECT_EQ(catalog.schema_version(), kSchemaVersion);
    EXPECT_EQ(catalog.path(), file);
  }
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((dir_ / "a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  // What SQLite itself reads from the file, not what the Catalog says.
  EXPECT_EQ(raw_query(file, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw_query(file, "PRAGMA user_version"), std::to_string(kSchemaVersion));
  EXPECT_EQ(raw_query(file,
                      "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master WHERE type = "
                      "'table' ORDER BY name)"),
            "assessments,group_members,groups,hosts,images,job_events,job_items,job_runs,jobs,libraries,"
            "libvirt_connections,package_sets,patch_images,patch_runs,sources,sqlite_sequence");
}

TEST_F(CatalogTest, MigratesAnEmptyDatabaseAndKeepsDataOnReopen) {
  fs::path file = dir_ / "catalog.db";
  raw_query(file, "CREATE TABLE unrelated (x); PRAGMA user_version = 0");
  {
    Catalog catalog(file);
    EXPECT_EQ(catalog.schema_version(), kSchemaVersion);
    catalog.add_library({0, "golden", LibraryKind::directory, "/srv/golden", "", "", ""});
  }
  Catalog again(file);
  auto libraries = again.libraries();
  ASSERT_EQ(libraries.size(), 1u);
  EXPECT_EQ(libraries[0].name, "golden");
  EXPECT_FALSE(libraries[0].added_at.empty());
}

TEST_F(CatalogTest, RefusesACatalogFromANewerDormant) {
  fs::path file = dir_ / "catalog.db";
  raw_query(file, "PRAGMA user_version = 999");
  try {
    Catalog catalog(file);
    FAIL() << "opened a newer catalog";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::unsupported);
    EXPECT_NE(std::string(e.what()).find("999"), std::string::npos) << e.what();
  }
}

TEST_F(CatalogTest, CorruptFileIsAClearIoError) {
  fs::path file = dir_ / "catalog.db";
  {
    std::ofstream out(file, std::ios::binary);
    std::mt19937 random(42);
    for (int i = 0; i < 8192; ++i) out.put(static_cast<char>(random()));
  }
  try {
    Catalog catalog(file);
    FAIL() << "opened garbage as a catalog";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::io);
    std::string what = e.what();
    EXPECT_NE(what.find(file.string() + ": "), std::string::npos) << what;
    EXPECT_NE(what.find("file is not a database"), std::string::npos) << what;
  }
}

TEST_F(CatalogTest, UncreatableDirectoryIsAClearIoError) {
  // A regular file where a directory must go: fails for root too.
  std::ofstream(dir_ / "plain");
  fs::path file = dir_ / "plain" / "sub" / "catalog.db";
  try {
    Catalog catalog(file);
    FAIL() << "created a catalog under a regular file";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::io);
    EXPECT_NE(std::string(e.what()).find(file.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--catalog"), std::string::npos)
        << "says how to work around: " << e.what();
  }
}

TEST_F(CatalogTest, ReadOnlyDirectoryIsAClearIoError) {
  fs::permissions(dir_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                            fs::perms::others_read | fs::perms::others_exec);
  fs::path readonly = dir_ / "ro";
  fs::create_directory(readonly);
  fs::permissions(readonly, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                                fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec);
  fs::path file = readonly / "catalog.db";
  // Root ignores directory permissions, so the open runs in a child that
  // dropped to an unprivileged user when the test runs as root.
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(10);
    try {
      Catalog catalog(file);
      ::_exit(11);
    } catch (const Error& e) {
      std::string what = e.what();
      bool ok = e.kind() == ErrorKind::io && what.find(file.string()) != std::string::npos;
      ::_exit(ok ? 0 : 12);
    } catch (...) {
      ::_exit(13);
    }
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "10: could not drop privileges, 11: opened, 12: wrong error, 13: other exception";
  EXPECT_FALSE(fs::exists(file));
}

TEST_F(CatalogTest, LibraryNamesAndDirectoriesAreUnique) {
  Catalog catalog(dir_ / "catalog.db");
  auto golden = catalog.add_library({0, "golden", LibraryKind::directory, "/srv/golden", "", "", ""});
  EXPECT_GT(golden.id, 0);
  auto expect_conflict = [&](Library lib) {
    try {
      catalog.add_library(lib);
      ADD_FAILURE() << "added " << lib.name;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::conflict) << e.what();
    }
  };
  expect_conflict({0, "golden", LibraryKind::directory, "/srv/other", "", "", ""});
  expect_conflict({0, "other", LibraryKind::directory, "/srv/golden", "", "", ""});
  catalog.add_library({0, "pool", LibraryKind::libvirt_pool, "", "default", "test:///default", ""});
  expect_conflict({0, "pool2", LibraryKind::libvirt_pool, "", "default", "test:///default", ""});
  EXPECT_EQ(catalog.libraries().size(), 2u);
  EXPECT_EQ(catalog.find_library("pool")->uri, "test:///default");

  try {
    catalog.remove_library("nosuch");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_found);
  }
  catalog.add_connection("test:///default");
  catalog.add_connection("test:///default");
  EXPECT_EQ(catalog.connections(), std::vector<std::string>{"test:///default"});
}

TEST_F(CatalogTest, PutImagesUpsertsByPathAndKeepsTheId) {
  Catalog catalog(dir_ / "catalog.db");
  auto record = image("/lib/a.qcow2");
  record.package_count = 10;
  record.inspection_json = R"({"format":"qcow2"})";
  catalog.put_image(record);
  auto first = catalog.find_image("/lib/a.qcow2");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->package_count, 10);
  EXPECT_EQ(first->inspection_json, record.inspection_json);
  EXPECT_FALSE(first->inspected_at.empty());

  record.state = "error";
  record.reason = "broken";
  record.package_count.reset();
  catalog.put_image(record);
  auto second = catalog.find_image("/lib/a.qcow2");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->id, first->id);
  EXPECT_EQ(second->state, "error");
  EXPECT_EQ(second->reason, "broken");
  EXPECT_FALSE(second->package_count);
  EXPECT_EQ(catalog.images().size(), 1u);
  EXPECT_EQ(catalog.find_image(first->id)->path, "/lib/a.qcow2");

  // A state outside the schema's list is refused and nothing is written.
  auto bad = image("/lib/b.qcow2");
  bad.state = "bogus";
  EXPECT_THROW(catalog.put_images({image("/lib/c.qcow2"), bad}), Error);
  EXPECT_FALSE(catalog.find_image("/lib/c.qcow2")) << "a failed batch must not be half-written";
}

TEST_F(CatalogTest, GroupsCombineExplicitMembersAndGlobAtQueryTime) {
  Catalog catalog(dir_ / "catalog.db");
  catalog.put_images({image("/lib/web1.qcow2"), image("/lib/db1.qcow2"), image("/lib/other.raw")});
  auto db = *catalog.find_image("/lib/db1.qcow2");
  db.domain = "web-backend";
  catalog.put_image(db);

  catalog.create_group("web", "web*");
  EXPECT_THROW(catalog.create_group("web", std::nullopt), Error);
  auto names = [&](const std::string& group) {
    std::set<std::string> out;
    for (const auto& m : catalog.group_members(group)) out.insert(m.image.path);
    return out;
  };
  // "web*" matches web1's file name and db1's domain, not /lib/other.raw.
  EXPECT_EQ(names("web"), (std::set<std::string>{"/lib/web1.qcow2", "/lib/db1.qcow2"}));

  catalog.add_group_members("web", {catalog.find_image("/lib/other.raw")->id});
  auto members = catalog.group_members("web");
  ASSERT_EQ(members.size(), 3u);
  for (const auto& m : members)
    EXPECT_EQ(m.explicit_member, m.image.path == "/lib/other.raw") << m.image.path;

  // Evaluated when asked: a new matching image is a member without any update.
  catalog.put_image(image("/lib/web2.qcow2"));
  EXPECT_EQ(names("web").count("/lib/web2.qcow2"), 1u);

  EXPECT_THROW(catalog.add_group_members("web", {9999}), Error);
  EXPECT_THROW(catalog.group_members("nosuch"), Error);
  catalog.remove_group("web");
  EXPECT_TRUE(catalog.groups().empty());
}

TEST_F(CatalogTest, RemovingALibraryRemovesItsImagesAndMemberships) {
  Catalog catalog(dir_ / "catalog.db");
  auto lib = catalog.add_library({0, "golden", LibraryKind::directory, "/srv/golden", "", "", ""});
  catalog.put_images({image("/srv/golden/a.qcow2", lib.id), image("/elsewhere/b.qcow2")});
  catalog.create_group("all", std::nullopt);
  catalog.add_group_members("all", {catalog.find_image("/srv/golden/a.qcow2")->id});
  catalog.remove_library("golden");
  EXPECT_FALSE(catalog.find_image("/srv/golden/a.qcow2"));
  EXPECT_TRUE(catalog.find_image("/elsewhere/b.qcow2"));
  EXPECT_TRUE(catalog.group_members("all").empty());
}

TEST(GlobMatches, PathFileNameOrDomain) {
  ImageRecord r;
  r.path = "/srv/lib/web1.qcow2";
  r.domain = "frontend";
  EXPECT_TRUE(glob_matches("*lib/web*", r));
  EXPECT_TRUE(glob_matches("web?.qcow2", r));
  EXPECT_TRUE(glob_matches("front*", r));
  EXPECT_FALSE(glob_matches("db*", r));
  r.domain.clear();
  EXPECT_FALSE(glob_matches("", r));
}

}  // namespace
}  // namespace dormant::catalog
