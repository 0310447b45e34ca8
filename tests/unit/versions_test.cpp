// Image versions (patch/versions.hpp) on small files in a temp dir: the
// atomic replace keeps the old bytes under the version name, rollback
// restores (and can be undone), prune keeps the newest, owner and mode carry
// over, and a candidate on another filesystem is refused before anything
// changes.
#include "dormant/patch/versions.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <regex>
#include <set>
#include <string>
#include <vector>

#include "dormant/core/error.hpp"
#include "dormant/core/sha256.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using dormant::ErrorKind;
using dormant::sha256_hex;
using dormant::testing::read_file_text;
using dormant::testing::TempDir;
using dormant::testing::write_file;
namespace patch = dormant::patch;

namespace {

struct stat stat_of(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st;
}

template <typename F>
void expect_error(ErrorKind kind, F&& f) {
  try {
    f();
    ADD_FAILURE() << "no error, expected " << dormant::to_string(kind);
  } catch (const dormant::Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
  }
}

class VersionsTest : public ::testing::Test {
 protected:
  TempDir dir_{"dormant-versions"};  // first: the paths below are in it
  fs::path image_ = dir_.path() / "web.qcow2";
  fs::path work_ = dir_.path() / ".dormant-work" / "run1";

  void SetUp() override {
    write_file(image_, "version A\n");
    fs::create_directories(work_);
  }

  // Writes `content` as the commit candidate and replaces the image with it.
  fs::path replace_with(const std::string& content, std::size_t keep = 5) {
    const fs::path candidate = work_ / "new";
    write_file(candidate, content);
    return patch::replace_keeping_version(image_, candidate, sha256_hex(read_file_text(image_)), keep);
  }

  std::vector<std::string> version_contents() {
    std::vector<std::string> out;
    for (const auto& v : patch::list_versions(image_)) out.push_back(read_file_text(v.path));
    return out;
  }
};

TEST_F(VersionsTest, WorkDirIsPrivateAndIdempotent) {
  const fs::path lib = dir_.path() / "lib";
  fs::create_directory(lib);
  auto dir = patch::work_dir_for(lib, "20261125-abc");
  EXPECT_EQ(dir, lib / ".dormant-work" / "20261125-abc");
  ASSERT_TRUE(fs::is_directory(dir));
  EXPECT_EQ(stat_of(dir).st_mode & 0777, 0700u);
  EXPECT_EQ(stat_of(lib / ".dormant-work").st_mode & 0777, 0700u);
  write_file(dir / "keep", "x");
  EXPECT_EQ(patch::work_dir_for(lib, "20261125-abc"), dir);
  EXPECT_TRUE(fs::exists(dir / "keep"));
  for (const std::string bad : {"", ".", "..", "a/b", "../x"})
    expect_error(ErrorKind::usage, [&] { patch::work_dir_for(lib, bad); });
}

TEST_F(VersionsTest, ReplaceKeepsOldBytesUnderVersionName) {
  const std::string old_sha = sha256_hex(read_file_text(image_));
  const ino_t old_inode = stat_of(image_).st_ino;
  const fs::path candidate = work_ / "new";
  write_file(candidate, "version B\n");

  auto kept = patch::replace_keeping_version(image_, candidate, old_sha, 3);

  // Exactly one name per content: the image holds the new bytes, the version
  // the old ones (the same inode: a link, not a copy), the candidate is gone.
  EXPECT_EQ(read_file_text(image_), "version B\n");
  ASSERT_FALSE(kept.empty());
  EXPECT_EQ(read_file_text(kept), "version A\n");
  EXPECT_EQ(stat_of(kept).st_ino, old_inode);
  EXPECT_EQ(stat_of(kept).st_nlink, 1u);
  EXPECT_FALSE(fs::exists(candidate));
  EXPECT_EQ(kept.parent_path(), dir_.path() / ".dormant-versions" / "web.qcow2");
  EXPECT_TRUE(std::regex_match(kept.filename().string(), std::regex(R"(\d{8}T\d{6}Z-[0-9a-f]{12})")))
      << kept.filename();
  EXPECT_EQ(kept.filename().string().substr(17), old_sha.substr(0, 12));

  auto versions = patch::list_versions(image_);
  ASSERT_EQ(versions.size(), 1u);
  EXPECT_EQ(versions[0].path, kept);
  EXPECT_EQ(versions[0].sha256_prefix, old_sha.substr(0, 12));
  EXPECT_EQ(versions[0].size, 10u);
  EXPECT_TRUE(std::regex_match(versions[0].created, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")))
      << versions[0].created;
  // The name's time is now (UTC), to the second.
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  EXPECT_EQ(versions[0].created.substr(0, 4), std::to_string(tm.tm_year + 1900));
}

TEST_F(VersionsTest, NewImageTakesOwnerGroupAndModeOfTheOld) {
  ASSERT_EQ(::chown(image_.c_str(), 1234, 2345), 0);
  ASSERT_EQ(::chmod(image_.c_str(), 0640), 0);
  const fs::path candidate = work_ / "new";
  write_file(candidate, "version B\n");
  ASSERT_EQ(::chmod(candidate.c_str(), 0600), 0);
  ASSERT_EQ(::chown(candidate.c_str(), 0, 0), 0);

  auto kept = patch::replace_keeping_version(image_, candidate, sha256_hex("version A\n"), 3);

  auto now = stat_of(image_);
  EXPECT_EQ(now.st_uid, 1234u);
  EXPECT_EQ(now.st_gid, 2345u);
  EXPECT_EQ(now.st_mode & 07777, 0640u);
  auto old = stat_of(kept);  // the kept version is the old inode, untouched
  EXPECT_EQ(old.st_uid, 1234u);
  EXPECT_EQ(old.st_mode & 07777, 0640u);
}

TEST_F(VersionsTest, RollbackRestoresAndTwiceToggles) {
  replace_with("version B\n");
  ASSERT_EQ(read_file_text(image_), "version B\n");

  auto restored = patch::rollback(image_, sha256_hex("version B\n"));
  EXPECT_EQ(read_file_text(image_), "version A\n");
  EXPECT_EQ(restored.sha256_prefix, sha256_hex("version A\n").substr(0, 12));
  EXPECT_EQ(version_contents(), std::vector<std::string>{"version B\n"}) << "the replaced image is kept";

  patch::rollback(image_, sha256_hex("version A\n"));
  EXPECT_EQ(read_file_text(image_), "version B\n");
  EXPECT_EQ(version_contents(), std::vector<std::string>{"version A\n"});

  patch::rollback(image_, sha256_hex("version B\n"));
  EXPECT_EQ(read_file_text(image_), "version A\n");
  EXPECT_EQ(version_contents(), std::vector<std::string>{"version B\n"});
}

TEST_F(VersionsTest, RollbackToANamedVersion) {
  replace_with("version B\n");
  replace_with("version C\n");
  replace_with("version D\n");
  ASSERT_EQ(version_contents(), (std::vector<std::string>{"version C\n", "version B\n", "version A\n"}));
  auto oldest = patch::list_versions(image_).back();

  auto restored = patch::rollback(image_, sha256_hex("version D\n"), oldest.path);
  EXPECT_EQ(restored.path, oldest.path);
  EXPECT_EQ(read_file_text(image_), "version A\n");
  EXPECT_EQ(version_contents(), (std::vector<std::string>{"version D\n", "version C\n", "version B\n"}));

  expect_error(ErrorKind::not_found,
               [&] { patch::rollback(image_, sha256_hex("version A\n"), dir_.path() / "elsewhere"); });
  EXPECT_EQ(read_file_text(image_), "version A\n");
}

TEST_F(VersionsTest, RollbackWithoutVersionIsNotFound) {
  expect_error(ErrorKind::not_found, [&] { patch::rollback(image_, sha256_hex("version A\n")); });
  EXPECT_EQ(read_file_text(image_), "version A\n");
}

TEST_F(VersionsTest, NamesAreUniqueAndOrderedWithinOneSecond) {
  // Four replacements well inside a second or two: names must still differ
  // and sort newest first by creation, whatever their sha prefixes.
  for (const char* c : {"B", "C", "D", "E"}) replace_with(std::string("version ") + c + "\n", 10);
  auto versions = patch::list_versions(image_);
  ASSERT_EQ(versions.size(), 4u);
  std::set<std::string> names;
  for (const auto& v : versions) names.insert(v.path.filename().string());
  EXPECT_EQ(names.size(), 4u);
  EXPECT_EQ(version_contents(),
            (std::vector<std::string>{"version D\n", "version C\n", "version B\n", "version A\n"}));
}

TEST_F(VersionsTest, PruneKeepsNewest) {
  for (const char* c : {"B", "C", "D", "E"}) replace_with(std::string("version ") + c + "\n", 10);
  auto before = patch::list_versions(image_);
  auto removed = patch::prune_versions(image_, 2);
  ASSERT_EQ(removed.size(), 2u);
  EXPECT_EQ(removed[0], before[2].path);
  EXPECT_EQ(removed[1], before[3].path);
  for (const auto& p : removed) EXPECT_FALSE(fs::exists(p));
  EXPECT_EQ(version_contents(), (std::vector<std::string>{"version D\n", "version C\n"}));
  EXPECT_TRUE(patch::prune_versions(image_, 2).empty());
  EXPECT_EQ(read_file_text(image_), "version E\n");

  // Retention in replace itself.
  replace_with("version F\n", 1);
  EXPECT_EQ(version_contents(), std::vector<std::string>{"version E\n"});
}

TEST_F(VersionsTest, KeepZeroKeepsNothing) {
  replace_with("version B\n");
  auto kept = replace_with("version C\n", 0);
  EXPECT_TRUE(kept.empty());
  EXPECT_EQ(read_file_text(image_), "version C\n");
  EXPECT_TRUE(patch::list_versions(image_).empty());
}

TEST_F(VersionsTest, ForeignFilesInTheStoreAreIgnored) {
  replace_with("version B\n");
  const fs::path store = dir_.path() / ".dormant-versions" / "web.qcow2";
  write_file(store / "notes.txt", "x");
  write_file(store / "20261125T185200Z-nothexnothex", "x");
  EXPECT_EQ(patch::list_versions(image_).size(), 1u);
  EXPECT_TRUE(patch::prune_versions(image_, 0).size() == 1);
  EXPECT_TRUE(fs::exists(store / "notes.txt"));
}

TEST_F(VersionsTest, CandidateOnAnotherFilesystemIsRefused) {
  const fs::path shm = "/dev/shm";
  struct stat shm_st {};
  if (::stat(shm.c_str(), &shm_st) != 0 || shm_st.st_dev == stat_of(dir_.path()).st_dev)
    GTEST_SKIP() << "no /dev/shm on another filesystem than " << dir_.path();
  TempDir other(std::string(shm / "dormant-versions-other"));
  const fs::path candidate = other.path() / "new";
  write_file(candidate, "version B\n");
  expect_error(ErrorKind::unsupported,
               [&] { patch::replace_keeping_version(image_, candidate, sha256_hex("version A\n"), 3); });
  // Nothing changed: same bytes, no version, link count 1, candidate intact.
  EXPECT_EQ(read_file_text(image_), "version A\n");
  EXPECT_TRUE(patch::list_versions(image_).empty());
  EXPECT_EQ(stat_of(image_).st_nlink, 1u);
  EXPECT_EQ(read_file_text(candidate), "version B\n");
}

TEST_F(VersionsTest, RefusesSymlinkImageMissingFilesAndBadHashes) {
  const fs::path link = dir_.path() / "link.qcow2";
  fs::create_symlink(image_, link);
  write_file(work_ / "new", "version B\n");
  expect_error(ErrorKind::unsupported,
               [&] { patch::replace_keeping_version(link, work_ / "new", sha256_hex("version A\n"), 3); });
  expect_error(ErrorKind::not_found, [&] {
    patch::replace_keeping_version(dir_.path() / "missing.qcow2", work_ / "new", sha256_hex("x"), 3);
  });
  expect_error(ErrorKind::usage,
               [&] { patch::replace_keeping_version(image_, work_ / "new", "not-a-hash", 3); });
  expect_error(ErrorKind::usage,
               [&] { patch::replace_keeping_version(image_, image_, sha256_hex("version A\n"), 3); });
  EXPECT_EQ(read_file_text(image_), "version A\n");
  EXPECT_EQ(read_file_text(work_ / "new"), "version B\n");
  EXPECT_TRUE(patch::list_versions(image_).empty());
}

}  // namespace
