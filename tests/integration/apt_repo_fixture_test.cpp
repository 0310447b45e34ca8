// The test apt repositories (tests/fixtures/make-apt-repo.sh) and the loopback
// HTTP server (support/loopback_http.hpp) are real: apt itself, in an isolated
// root, accepts the good repository and refuses each broken variant with its
// own error. These are the texts the repo/ layer will see from libapt-pkg.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "support/apt_repo.hpp"
#include "support/apt_root.hpp"
#include "support/loopback_http.hpp"
#include "support/test_support.hpp"

namespace dormant::testing {
namespace {

namespace fs = std::filesystem;

fs::path make_repo_script() { return make_apt_repo_script(); }
fs::path basic_spec() { return basic_repo_spec(); }

void build_repo(const fs::path& out, const std::vector<std::string>& extra = {}) {
  build_apt_repo(basic_spec(), out, extra);
}

void copy_repo(const fs::path& from, const fs::path& to) { copy_apt_repo(from, to); }

// "Version: X" of every stanza of the spec naming `package`.
std::vector<std::string> spec_versions(const std::string& package) {
  std::vector<std::string> versions;
  const std::string text = read_file_text(basic_spec());
  std::string current;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.rfind("Package: ", 0) == 0) current = line.substr(9);
    if (line.rfind("Version: ", 0) == 0 && current == package) versions.push_back(line.substr(9));
    if (line.empty()) current.clear();
  }
  return versions;
}

// The greatest of `versions` by dpkg --compare-versions (the reference).
std::string dpkg_max(const std::vector<std::string>& versions) {
  std::string best;
  for (const auto& v : versions) {
    if (best.empty() || run_process({"dpkg", "--compare-versions", v, "gt", best}).exit_code == 0) best = v;
  }
  return best;
}

std::string sources(const fs::path& keyring, const std::string& url, const std::vector<std::string>& suites) {
  std::string text;
  for (const auto& s : suites)
    text += "deb [signed-by=" + keyring.string() + "] " + url + " " + s + " main\n";
  return text;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

class AptRepoFixture : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    good_ = std::make_unique<TempDir>("dormant-aptrepo");
    build_repo(good_->path() / "repo");
  }
  static void TearDownTestSuite() { good_.reset(); }
  void SetUp() override {
    if (good_ == nullptr || !fs::exists(good_->path() / "repo/keyring.gpg"))
      GTEST_FAIL() << "make-apt-repo.sh did not build " << basic_spec();
  }
  static fs::path good() { return good_->path() / "repo"; }

  TempDir tmp_{"dormant-aptroot"};

 private:
  static std::unique_ptr<TempDir> good_;
};

std::unique_ptr<TempDir> AptRepoFixture::good_;

TEST_F(AptRepoFixture, AptAcceptsTheRepositoryAndSeesEveryPackage) {
  LoopbackHttpOptions options;
  options.log_file = tmp_.path() / "server.log";
  LoopbackHttpServer server(good(), options);
  // dormtest-hello 1.0-1 installed: the security suite's version is an upgrade.
  const std::string status =
      "Package: dormtest-hello\nStatus: install ok installed\nPriority: optional\nArchitecture: amd64\n"
      "Version: 1.0-1\nDepends: dormtest-libfoo (>= 2.0)\nMaintainer: t <t@t>\nDescription: x\n\n"
      "Package: dormtest-libfoo\nStatus: install ok installed\nPriority: optional\nArchitecture: amd64\n"
      "Multi-Arch: same\nVersion: 2.0-1\nMaintainer: t <t@t>\nDescription: x\n";
  AptRoot apt(tmp_.path() / "root",
              sources(good() / "keyring.gpg", server.url(), {"bookworm", "bookworm-security"}), status);
  int rc = -1;
  std::string out = apt.run({"apt-get", "update"}, &rc);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_FALSE(contains(out, "W: ") || contains(out, "E: ")) << out;
  EXPECT_EQ(apt.lists().size(), 5U) << out;  // 2 InRelease + amd64, i386, security amd64 Packages

  // Candidate = the greatest spec version, by dpkg.
  const std::string hello = dpkg_max(spec_versions("dormtest-hello"));
  ASSERT_EQ(spec_versions("dormtest-hello").size(), 2U);
  out = apt.run({"apt-cache", "policy", "dormtest-hello", "dormtest-libfoo:i386", "dormtest-data"}, &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_TRUE(contains(out, "Candidate: " + hello)) << out;
  EXPECT_TRUE(contains(out, "dormtest-libfoo:i386:\n  Installed: (none)\n  Candidate: " +
                                dpkg_max(spec_versions("dormtest-libfoo"))))
      << out;
  EXPECT_TRUE(contains(out, "Candidate: " + spec_versions("dormtest-data").at(0))) << out;  // the epoch kept

  // The upgrade comes from the security suite, labelled as such.
  out = apt.run({"apt-get", "-s", "upgrade"}, &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_TRUE(
      contains(out, "Inst dormtest-hello [1.0-1] (" + hello + " Debian-Security:bookworm-security [amd64])"))
      << out;

  // Pre-Depends resolved from the same repository: data is unpacked first.
  out = apt.run({"apt-get", "-s", "install", "dormtest-tool"}, &rc);
  EXPECT_EQ(rc, 0) << out;
  const auto data = out.find("Inst dormtest-data");
  const auto tool = out.find("Inst dormtest-tool");
  ASSERT_NE(data, std::string::npos) << out;
  ASSERT_NE(tool, std::string::npos) << out;
  EXPECT_LT(data, tool) << out;

  // Second update: conditional GET, the server answers 304, apt says Hit.
  out = apt.run({"apt-get", "update"}, &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_TRUE(contains(out, "Hit:1 ")) << out;
  EXPECT_FALSE(contains(out, "Get:")) << out;
  server.stop();
  EXPECT_TRUE(contains(read_file_text(tmp_.path() / "server.log"), "\" 304 ")) << "no 304 in the server log";
}

TEST_F(AptRepoFixture, TamperedIndexIsASizeOrHashMismatch) {
  const fs::path repo = tmp_.path() / "repo";
  copy_repo(good(), repo);
  run_ok({make_repo_script().string(), "--tamper", "index", repo.string(), "bookworm"});
  LoopbackHttpServer server(repo);
  AptRoot apt(tmp_.path() / "root", sources(repo / "keyring.gpg", server.url(), {"bookworm"}));
  int rc = -1;
  const std::string out = apt.run({"apt-get", "update"}, &rc);
  EXPECT_NE(rc, 0) << out;
  EXPECT_TRUE(
      contains(out, "E: Failed to fetch " + server.url() + "dists/bookworm/main/binary-amd64/Packages"))
      << out;
  EXPECT_TRUE(contains(out, "File has unexpected size") || contains(out, "Hash Sum mismatch")) << out;
}

TEST_F(AptRepoFixture, TamperedSignatureIsBadsigAndNotSigned) {
  const fs::path repo = tmp_.path() / "repo";
  copy_repo(good(), repo);
  run_ok({make_repo_script().string(), "--tamper", "signature", repo.string()});
  // The tampered file still verifies nothing with gpgv: the reference agrees.
  const auto gpgv = run_process(
      {"gpgv", "--keyring", (repo / "keyring.gpg").string(), (repo / "dists/bookworm/InRelease").string()});
  EXPECT_NE(gpgv.exit_code, 0) << gpgv.err;
  EXPECT_EQ(run_process({"gpgv", "--keyring", (good() / "keyring.gpg").string(),
                         (good() / "dists/bookworm/InRelease").string()})
                .exit_code,
            0);
  LoopbackHttpServer server(repo);
  AptRoot apt(tmp_.path() / "root", sources(repo / "keyring.gpg", server.url(), {"bookworm"}));
  int rc = -1;
  const std::string out = apt.run({"apt-get", "update"}, &rc);
  EXPECT_NE(rc, 0) << out;
  EXPECT_TRUE(contains(out, "BADSIG")) << out;
  EXPECT_TRUE(contains(out, "bookworm InRelease' is not signed.")) << out;
  EXPECT_TRUE(apt.lists().empty()) << out;
}

TEST_F(AptRepoFixture, ExpiredValidUntilIsRefused) {
  const fs::path repo = tmp_.path() / "repo";
  build_repo(repo, {"--expired"});
  ASSERT_FALSE(HasFatalFailure());
  LoopbackHttpServer server(repo);
  AptRoot apt(tmp_.path() / "root", sources(repo / "keyring.gpg", server.url(), {"bookworm"}));
  int rc = -1;
  const std::string out = apt.run({"apt-get", "update"}, &rc);
  EXPECT_NE(rc, 0) << out;
  EXPECT_TRUE(contains(out, "E: Release file for " + server.url() + "dists/bookworm/InRelease is expired"))
      << out;
}

TEST_F(AptRepoFixture, UnsignedIsRefusedUnlessTrusted) {
  const fs::path repo = tmp_.path() / "repo";
  build_repo(repo, {"--unsigned"});
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_FALSE(fs::exists(repo / "dists/bookworm/InRelease"));
  EXPECT_FALSE(fs::exists(repo / "dists/bookworm/Release.gpg"));
  LoopbackHttpServer server(repo);
  {
    AptRoot apt(tmp_.path() / "root", sources(good() / "keyring.gpg", server.url(), {"bookworm"}));
    int rc = -1;
    const std::string out = apt.run({"apt-get", "update"}, &rc);
    EXPECT_NE(rc, 0) << out;
    EXPECT_TRUE(contains(out, "bookworm Release' is not signed.")) << out;
  }
  // What --allow-unsigned will map to.
  AptRoot apt(tmp_.path() / "trusted", "deb [trusted=yes] " + server.url() + " bookworm main\n");
  int rc = -1;
  const std::string out = apt.run({"apt-get", "update"}, &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(apt.lists().size(), 3U) << out;  // Release + amd64 + i386 Packages
}

TEST_F(AptRepoFixture, StoppedServerIsAFailureToFetch) {
  LoopbackHttpServer server(good());
  const std::string url = server.url();
  server.stop();
  EXPECT_FALSE(server.running());
  AptRoot apt(tmp_.path() / "root", sources(good() / "keyring.gpg", url, {"bookworm"}));
  // apt-get update exits 0 here (warnings only): the lists tell.
  const std::string out = apt.run({"apt-get", "update"});
  EXPECT_TRUE(contains(out, "Failed to fetch " + url + "dists/bookworm/InRelease")) << out;
  EXPECT_TRUE(contains(out, "Connection refused")) << out;
  EXPECT_TRUE(apt.lists().empty()) << out;
}

TEST_F(AptRepoFixture, FailAfterAnswers503MidUpdate) {
  // Request 1 (InRelease) is served, the Packages index gets 503.
  LoopbackHttpOptions options;
  options.fail_after = 1;
  LoopbackHttpServer server(good(), options);
  AptRoot apt(tmp_.path() / "root", sources(good() / "keyring.gpg", server.url(), {"bookworm"}));
  int rc = -1;
  const std::string out = apt.run({"apt-get", "update"}, &rc);
  EXPECT_NE(rc, 0) << out;
  EXPECT_TRUE(contains(out, "503")) << out;
  for (const auto& name : apt.lists())
    EXPECT_EQ(name.find("Packages"), std::string::npos) << name << "\n" << out;
}

TEST(LoopbackHttpServer, RefusesAMissingRoot) {
  EXPECT_THROW(LoopbackHttpServer("/nonexistent/dormant-root"), std::runtime_error);
}

TEST(MakeAptRepo, SameSpecGivesTheSameDebs) {
  // SOURCE_DATE_EPOCH: two builds of one spec give byte-identical packages.
  TempDir tmp("dormant-aptrepo-repro");
  build_repo(tmp.path() / "a", {"--unsigned"});
  build_repo(tmp.path() / "b", {"--unsigned"});
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  EXPECT_EQ(read_file_text(tmp.path() / "a/dists/bookworm/main/binary-amd64/Packages"),
            read_file_text(tmp.path() / "b/dists/bookworm/main/binary-amd64/Packages"));
  EXPECT_EQ(read_file_text(tmp.path() / "a/dists/bookworm/Release"),
            read_file_text(tmp.path() / "b/dists/bookworm/Release"));
}

}  // namespace
}  // namespace dormant::testing
