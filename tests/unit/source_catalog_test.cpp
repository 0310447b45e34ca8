// Update sources in the catalog: the 1 -> 2 migration on an existing file,
// validation, uniqueness, which sources apply to an image, and what happens
// to a group that sources are bound to.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <functional>
#include <set>

#include "dormant/catalog/catalog.hpp"
#include "dormant/core/error.hpp"
#include "support/sqlite_query.hpp"
#include "support/test_support.hpp"

namespace dormant::catalog {
namespace {
namespace fs = std::filesystem;

using testing::sqlite_query;

ImageRecord image(const std::string& path) {
  ImageRecord r;
  r.path = path;
  r.format = "qcow2";
  r.identity = "1:2:3:4:5";
  r.state = "ok";
  return r;
}

ErrorKind kind_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const Error& e) {
    return e.kind();
  }
  ADD_FAILURE() << "no error thrown";
  return ErrorKind::internal;
}

std::string message_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error thrown";
  return "";
}

class SourceCatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::write_file(keyring_, "not really a key, the catalog only checks the file\n");
  }

  Source signed_source(const std::string& name, std::optional<std::string> group = std::nullopt) {
    Source s;
    s.name = name;
    s.uri = "http://127.0.0.1:8765/debian";
    s.suite = "dormtest";
    s.keyring = keyring_.string();
    s.group = std::move(group);
    return s;
  }

  static std::set<std::string> names(const std::vector<Source>& sources) {
    std::set<std::string> out;
    for (const auto& s : sources) out.insert(s.name);
    return out;
  }

  testing::TempDir tmp_{"dormant-sources"};
  fs::path dir_ = tmp_.path();
  fs::path keyring_ = dir_ / "keys" / "repo.gpg";
};

TEST_F(SourceCatalogTest, MigratesAVersionOneCatalogAndKeepsImagesAndGroups) {
  fs::path file = dir_ / "catalog.db";
  {
    Catalog catalog(file);
    catalog.add_library({0, "golden", LibraryKind::directory, "/srv/golden", "", "", ""});
    catalog.put_images({image("/srv/golden/a.qcow2"), image("/srv/golden/b.qcow2")});
    catalog.create_group("web", "a*");
    catalog.add_group_members("web", {catalog.find_image("/srv/golden/b.qcow2")->id});
  }
  // Schema 1 is the current schema without what 1 -> 2 (sources), 2 -> 3
  // (package sets, assessments), 3 -> 4 (patch runs) and 4 -> 5 (hosts) add.
  sqlite_query(file,
               "DROP TABLE job_events; DROP TABLE job_items; DROP TABLE job_runs; DROP TABLE jobs; DROP TABLE hosts; DROP TABLE patch_images; DROP TABLE patch_runs; DROP TABLE assessments; ALTER TABLE images DROP COLUMN package_set; DROP TABLE package_sets; "
               "DROP TABLE sources; PRAGMA user_version = 1");
  ASSERT_EQ(sqlite_query(file, "SELECT count(*) FROM sqlite_master WHERE name = 'sources'"), "0");
  ASSERT_EQ(sqlite_query(file, "PRAGMA user_version"), "1");

  Catalog catalog(file);
  EXPECT_EQ(catalog.schema_version(), kSchemaVersion);
  ASSERT_EQ(catalog.libraries().size(), 1u);
  EXPECT_EQ(catalog.images().size(), 2u);
  EXPECT_EQ(catalog.group_members("web").size(), 2u);
  EXPECT_TRUE(catalog.list_sources().empty());
  auto added = catalog.add_source(signed_source("debian", "web"));
  EXPECT_GT(added.id, 0);
  // Stored as the documented columns, components as a JSON array.
  EXPECT_EQ(sqlite_query(file, "SELECT components, security, allow_unsigned, keyring FROM sources"),
            "[\"main\"]|0|0|" + keyring_.string());
}

TEST_F(SourceCatalogTest, RoundTripsEveryFieldAndNamesAreUnique) {
  Catalog catalog(dir_ / "catalog.db");
  catalog.create_group("pilots", std::nullopt);
  Source s = signed_source("debian-security", "pilots");
  s.uri = "https://mirror.invalid/debian-security";
  s.suite = "bookworm-security";
  s.components = {"main", "contrib", "non-free-firmware"};
  s.security = true;
  catalog.add_source(s);

  Source unsigned_source = signed_source("local");
  unsigned_source.keyring.reset();
  unsigned_source.allow_unsigned = true;
  unsigned_source.uri = "file:///srv/repo";
  catalog.add_source(unsigned_source);

  auto found = catalog.find_source("debian-security");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->uri, s.uri);
  EXPECT_EQ(found->suite, s.suite);
  EXPECT_EQ(found->components, s.components);
  EXPECT_EQ(found->keyring, keyring_.string());
  EXPECT_TRUE(found->security);
  EXPECT_FALSE(found->allow_unsigned);
  EXPECT_EQ(found->group, "pilots");
  EXPECT_FALSE(found->added_at.empty());

  auto local = catalog.find_source("local");
  ASSERT_TRUE(local);
  EXPECT_TRUE(local->allow_unsigned);
  EXPECT_FALSE(local->keyring);
  EXPECT_FALSE(local->group);
  EXPECT_EQ(local->components, std::vector<std::string>{"main"});

  EXPECT_EQ(names(catalog.list_sources()), (std::set<std::string>{"debian-security", "local"}));
  EXPECT_EQ(kind_of([&] { catalog.add_source(signed_source("local")); }), ErrorKind::conflict);
  EXPECT_FALSE(catalog.find_source("nosuch"));

  catalog.remove_source("local");
  EXPECT_FALSE(catalog.find_source("local"));
  EXPECT_EQ(kind_of([&] { catalog.remove_source("local"); }), ErrorKind::not_found);
}

TEST_F(SourceCatalogTest, KeyringIsStoredAsAnAbsolutePath) {
  Catalog catalog(dir_ / "catalog.db");
  fs::path old = fs::current_path();
  fs::current_path(dir_);
  Source s = signed_source("relative");
  s.keyring = "keys/../keys/repo.gpg";
  Source added;
  try {
    added = catalog.add_source(s);
  } catch (...) {
    fs::current_path(old);
    throw;
  }
  fs::current_path(old);
  EXPECT_EQ(added.keyring, keyring_.string());
  EXPECT_EQ(catalog.find_source("relative")->keyring, keyring_.string());
}

TEST_F(SourceCatalogTest, RefusesInvalidSourcesWithClearErrors) {
  Catalog catalog(dir_ / "catalog.db");
  auto with = [&](auto change) {
    Source s = signed_source("ok");
    change(s);
    return s;
  };
  struct Case {
    Source source;
    ErrorKind kind;
    std::string text;
  };
  std::vector<Case> cases = {
      {with([](Source& s) { s.uri = "ftp://example.org/debian"; }), ErrorKind::usage,
       "ftp://example.org/debian: unsupported repository URI: it must start with http://, https:// or "
       "file://"},
      {with([](Source& s) { s.uri = "mirror.invalid/debian"; }), ErrorKind::usage,
       "mirror.invalid/debian: unsupported"},
      {with([](Source& s) { s.uri = "http://"; }), ErrorKind::usage, "http://: invalid repository URI"},
      {with([](Source& s) { s.uri = "file://srv/repo"; }), ErrorKind::usage,
       "file://srv/repo: a file:// URI needs"},
      {with([](Source& s) { s.suite = ""; }), ErrorKind::usage, "ok: the suite is empty"},
      {with([](Source& s) { s.suite = "./"; }), ErrorKind::usage, "./: flat repositories"},
      {with([](Source& s) { s.suite = "stretch/updates"; }), ErrorKind::usage,
       "stretch/updates: invalid suite"},
      {with([](Source& s) {
         s.components = {"main", ""};
       }),
       ErrorKind::usage, "ok: invalid component"},
      {with([](Source& s) { s.components = {"../x"}; }), ErrorKind::usage, "../x: invalid component"},
      {with([](Source& s) { s.name = "-bad"; }), ErrorKind::usage, "-bad: invalid source name"},
      {with([](Source& s) { s.name = "a b"; }), ErrorKind::usage, "a b: invalid source name"},
      {with([](Source& s) { s.name = ""; }), ErrorKind::usage, "source: the source name is empty"},
      {with([](Source& s) { s.allow_unsigned = true; }), ErrorKind::usage,
       "ok: --keyring and --allow-unsigned exclude each other"},
      {with([](Source& s) { s.keyring.reset(); }), ErrorKind::usage, "ok: a source needs --keyring FILE"},
      {with([&](Source& s) { s.keyring = (dir_ / "missing.gpg").string(); }), ErrorKind::not_found,
       (dir_ / "missing.gpg").string() + ": keyring file does not exist"},
      {with([&](Source& s) { s.keyring = dir_.string(); }), ErrorKind::usage,
       dir_.string() + ": keyring is not a regular file"},
      {with([](Source& s) { s.group = "nosuch"; }), ErrorKind::not_found, "nosuch: no such group"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(kind_of([&] { catalog.add_source(c.source); }), c.kind);
    EXPECT_EQ(message_of([&] { catalog.add_source(c.source); }).rfind(c.text, 0), 0u)
        << message_of([&] { catalog.add_source(c.source); });
  }
  EXPECT_TRUE(catalog.list_sources().empty());
  // The valid base case is accepted, so each refusal above is due to its one change.
  EXPECT_NO_THROW(catalog.add_source(signed_source("ok")));
}

TEST_F(SourceCatalogTest, SourcesForImageAreGlobalPlusThoseOfItsGroups) {
  Catalog catalog(dir_ / "catalog.db");
  catalog.put_images({image("/lib/web1.qcow2"), image("/lib/db1.qcow2"), image("/lib/other.qcow2")});
  auto id = [&](const std::string& path) { return catalog.find_image(path)->id; };
  catalog.create_group("web", "web*");  // web1 by glob
  catalog.create_group("db", std::nullopt);
  catalog.add_group_members("db", {id("/lib/db1.qcow2")});  // db1 explicitly
  catalog.create_group("empty", std::nullopt);

  catalog.add_source(signed_source("debian"));
  catalog.add_source(signed_source("security"));
  catalog.add_source(signed_source("web-extra", "web"));
  catalog.add_source(signed_source("db-extra", "db"));
  catalog.add_source(signed_source("nobody", "empty"));

  EXPECT_EQ(names(catalog.sources_for_image(id("/lib/web1.qcow2"))),
            (std::set<std::string>{"debian", "security", "web-extra"}));
  EXPECT_EQ(names(catalog.sources_for_image(id("/lib/db1.qcow2"))),
            (std::set<std::string>{"debian", "security", "db-extra"}));
  EXPECT_EQ(names(catalog.sources_for_image(id("/lib/other.qcow2"))),
            (std::set<std::string>{"debian", "security"}));

  // Glob membership is evaluated when asked: a new image matching web* gets web-extra.
  catalog.put_image(image("/lib/web2.qcow2"));
  EXPECT_EQ(names(catalog.sources_for_image(id("/lib/web2.qcow2"))).count("web-extra"), 1u);
  EXPECT_EQ(kind_of([&] { catalog.sources_for_image(999999); }), ErrorKind::not_found);
}

TEST_F(SourceCatalogTest, AGroupWithBoundSourcesCannotBeRemoved) {
  Catalog catalog(dir_ / "catalog.db");
  catalog.create_group("web", std::nullopt);
  catalog.add_source(signed_source("web-a", "web"));
  catalog.add_source(signed_source("web-b", "web"));
  catalog.add_source(signed_source("global"));

  EXPECT_EQ(kind_of([&] { catalog.remove_group("web"); }), ErrorKind::conflict);
  EXPECT_EQ(message_of([&] { catalog.remove_group("web"); }),
            "web: sources are bound to this group (web-a, web-b); remove them first with `dormant source "
            "remove NAME`");
  EXPECT_TRUE(catalog.find_group("web"));
  EXPECT_EQ(catalog.list_sources().size(), 3u);

  // The schema refuses it too, for writers that bypass the Catalog.
  auto file = dir_ / "catalog.db";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "PRAGMA foreign_keys=ON", nullptr, nullptr, nullptr);
  EXPECT_NE(sqlite3_exec(db, "DELETE FROM groups WHERE name = 'web'", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);

  catalog.remove_source("web-a");
  catalog.remove_source("web-b");
  EXPECT_NO_THROW(catalog.remove_group("web"));
  EXPECT_FALSE(catalog.find_group("web"));
  EXPECT_EQ(names(catalog.list_sources()), (std::set<std::string>{"global"}));
}

TEST_F(SourceCatalogTest, SchemaRefusesAStoredSourceThatIsNeitherSignedNorUnsigned) {
  auto file = dir_ / "catalog.db";
  { Catalog catalog(file); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  EXPECT_NE(sqlite3_exec(db,
                         "INSERT INTO sources (name, uri, suite, components, added_at) "
                         "VALUES ('x', 'http://h/', 's', '[\"main\"]', 'now')",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  EXPECT_NE(
      sqlite3_exec(db,
                   "INSERT INTO sources (name, uri, suite, components, keyring, allow_unsigned, added_at) "
                   "VALUES ('y', 'http://h/', 's', '[\"main\"]', '/k', 1, 'now')",
                   nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
}

}  // namespace
}  // namespace dormant::catalog
