// repo::update_source against real signed repositories
// (tests/fixtures/make-apt-repo.sh) served on 127.0.0.1 or read through
// file://: apt's own acquire code accepts the good repository, answers 304 on
// the second run, and every broken variant fails the source with apt's text.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dormant/core/error.hpp"
#include "dormant/repo/update.hpp"
#include "support/apt_repo.hpp"
#include "support/loopback_http.hpp"
#include "support/test_support.hpp"

namespace dormant::testing {
namespace {

namespace fs = std::filesystem;
using repo::FetchOutcome;
using repo::SourceSpec;
using repo::UpdateResult;
using ::testing::HasSubstr;

fs::path make_repo_script() { return make_apt_repo_script(); }
fs::path basic_spec() { return basic_repo_spec(); }

void build_repo(const fs::path& out, const std::vector<std::string>& extra = {}) {
  build_apt_repo(basic_spec(), out, extra);
}

void copy_repo(const fs::path& from, const fs::path& to) { copy_apt_repo(from, to); }

SourceSpec signed_source(const std::string& name, const std::string& uri, const std::string& suite,
                         const fs::path& keyring) {
  SourceSpec s;
  s.name = name;
  s.uri = uri;
  s.suite = suite;
  s.keyring = keyring;
  return s;
}

SourceSpec unsigned_source(const std::string& name, const std::string& uri, const std::string& suite) {
  SourceSpec s;
  s.name = name;
  s.uri = uri;
  s.suite = suite;
  s.allow_unsigned = true;
  return s;
}

// The index files apt kept (not lock, partial/, auxfiles/).
std::vector<std::string> lists(const fs::path& dir) {
  std::vector<std::string> names;
  if (!fs::exists(dir)) return names;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename() != "lock") names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// name -> (content, mtime): "untouched" means both are the same.
std::map<std::string, std::pair<std::string, fs::file_time_type>> snapshot(const fs::path& dir) {
  std::map<std::string, std::pair<std::string, fs::file_time_type>> out;
  for (const auto& name : lists(dir))
    out[name] = {read_file_text(dir / name), fs::last_write_time(dir / name)};
  return out;
}

std::vector<FetchOutcome> outcomes(const UpdateResult& r) {
  std::vector<FetchOutcome> out;
  for (const auto& f : r.files) out.push_back(f.outcome);
  return out;
}

std::vector<std::string> uris(const UpdateResult& r) {
  std::vector<std::string> out;
  for (const auto& f : r.files) out.push_back(f.uri);
  return out;
}

std::string describe(const UpdateResult& r) {
  std::string out;
  for (const auto& f : r.files) out += f.uri + " " + std::to_string(static_cast<int>(f.outcome)) + "\n";
  for (const auto& w : r.warnings) out += "W: " + w.text + "\n";
  return out;
}

// The Error update_source threw (a test failure when it did not throw).
Error update_error(const SourceSpec& spec, const fs::path& cache, const std::vector<std::string>& archs) {
  try {
    const UpdateResult r = repo::update_source(spec, cache, archs);
    ADD_FAILURE() << "update_source did not fail:\n" << describe(r);
  } catch (const Error& e) {
    return e;
  }
  return Error(ErrorKind::internal, "", "no error");
}

int count_lines(const std::string& text, const std::string& a, const std::string& b) {
  int n = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    if (line.find(a) != std::string::npos && line.find(b) != std::string::npos) ++n;
    pos = end + 1;
  }
  return n;
}

const std::vector<std::string> kBoth{"amd64", "i386"};

// HTTP dates have whole seconds: a repository rebuilt in the second of the
// previous fetch would be "not modified" (304) to apt's If-Modified-Since.
void published_a_minute_ago(const fs::path& repo) {
  const auto then = fs::file_time_type::clock::now() - std::chrono::minutes(1);
  for (const auto& e : fs::recursive_directory_iterator(repo / "dists"))
    if (e.is_regular_file()) fs::last_write_time(e.path(), then);
}

fs::path next_spec() { return source_dir() / "tests/fixtures/apt-repo-specs/basic-next.spec"; }

// "http://127.0.0.1:N": how apt names a repository in its messages.
std::string without_slash(std::string url) {
  if (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

// The long key id of a repository's throwaway key, as gpgv reports it.
std::string key_id(const fs::path& repo) {
  const auto r = run_ok({"gpg", "--batch", "--with-colons", "--show-keys", (repo / "keyring.gpg").string()});
  const auto pub = r.out.find("pub:");
  if (pub == std::string::npos) return "(no key in " + repo.string() + ")";
  std::size_t field = pub;
  for (int i = 0; i < 4; ++i) field = r.out.find(':', field) + 1;
  return r.out.substr(field, r.out.find(':', field) - field);
}

class RepoUpdate : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    repos_ = std::make_unique<TempDir>("dormant-repoupdate");
    open_to_apt(repos_->path());
    build_repo(repos_->path() / "good");
    build_repo(repos_->path() / "other");  // another throwaway key: the wrong keyring
    build_repo(repos_->path() / "expired", {"--expired"});
    build_repo(repos_->path() / "unsigned", {"--unsigned"});
  }
  static void TearDownTestSuite() { repos_.reset(); }
  void SetUp() override {
    if (repos_ == nullptr || !fs::exists(good() / "keyring.gpg") ||
        !fs::exists(repos() / "other/keyring.gpg") ||
        !fs::exists(repos() / "unsigned/dists/bookworm/Release"))
      GTEST_FAIL() << "make-apt-repo.sh did not build the repositories of " << basic_spec();
    open_to_apt(tmp_.path());
    ::unsetenv("http_proxy");  // 127.0.0.1 directly, never through a proxy
  }
  static fs::path repos() { return repos_->path(); }
  static fs::path good() { return repos() / "good"; }
  fs::path cache() const { return tmp_.path() / "cache"; }

  TempDir tmp_{"dormant-repoupdate-cache"};

 private:
  static std::unique_ptr<TempDir> repos_;
};

std::unique_ptr<TempDir> RepoUpdate::repos_;

TEST(RepoUpdateRender, SourcesAreDeb822StanzasWithTheArchitectures) {
  SourceSpec a = signed_source("debian", "http://127.0.0.1:8080/repo", "bookworm", "/etc/dormant/debian.gpg");
  a.components = {"main", "contrib"};
  const SourceSpec b = unsigned_source("test", "file:///srv/repo/", "bookworm-security");
  EXPECT_EQ(repo::render_sources({a, b}, kBoth),
            "Types: deb\n"
            "URIs: http://127.0.0.1:8080/repo/\n"
            "Suites: bookworm\n"
            "Components: main contrib\n"
            "Architectures: amd64 i386\n"
            "Signed-By: /etc/dormant/debian.gpg\n"
            "\n"
            "Types: deb\n"
            "URIs: file:///srv/repo/\n"
            "Suites: bookworm-security\n"
            "Components: main\n"
            "Architectures: amd64 i386\n"
            "Trusted: yes\n");
}

TEST(RepoUpdateRender, FieldsThatWouldInjectLinesAreRefused) {
  SourceSpec s = signed_source("evil", "http://127.0.0.1/", "bookworm\nTrusted: yes", "/k.gpg");
  try {
    repo::render_sources({s}, {"amd64"});
    FAIL() << "rendered a suite with a line break";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::usage);
    EXPECT_EQ(e.subject(), "evil");
  }
  s.suite = "bookworm";
  s.components = {"main non-free"};
  EXPECT_THROW(repo::render_sources({s}, {"amd64"}), Error);
  s.components = {"main"};
  s.keyring = "relative.gpg";
  EXPECT_THROW(repo::render_sources({s}, {"amd64"}), Error);
  s.keyring.reset();  // neither keyring nor allow_unsigned
  EXPECT_THROW(repo::render_sources({s}, {"amd64"}), Error);
  s.uri = "ftp://127.0.0.1/";
  s.allow_unsigned = true;
  EXPECT_THROW(repo::render_sources({s}, {"amd64"}), Error);
}

TEST(RepoUpdateRender, SourceDirDependsOnWhatIsFetchedOnly) {
  const fs::path cache = "/var/cache/dormant";
  const SourceSpec base = signed_source("a", "http://127.0.0.1:8080/repo", "bookworm", "/k.gpg");
  const fs::path dir = repo::source_dir(cache, base);
  EXPECT_EQ(dir.parent_path(), cache);
  EXPECT_THAT(dir.filename().string(),
              ::testing::MatchesRegex("127\\.0\\.0\\.1_8080_repo__bookworm-[0-9a-f]{16}"));
  SourceSpec same = base;
  same.name = "renamed";
  same.security = true;
  same.uri += "/";  // apt adds the slash itself
  EXPECT_EQ(repo::source_dir(cache, same), dir);
  std::vector<SourceSpec> different(5, base);
  different[0].uri = "http://127.0.0.1:8081/repo";
  different[1].suite = "bookworm-security";
  different[2].components = {"main", "contrib"};
  different[3].keyring = "/other.gpg";
  different[4].keyring.reset();
  different[4].allow_unsigned = true;
  for (const auto& d : different) EXPECT_NE(repo::source_dir(cache, d), dir) << d.uri << " " << d.suite;
}

TEST_F(RepoUpdate, GoodRepositoryIsFetchedThenUnchanged) {
  LoopbackHttpOptions options;
  options.log_file = tmp_.path() / "server.log";
  LoopbackHttpServer server(good(), options);
  const std::string url = server.url();
  const SourceSpec main = signed_source("deb", url, "bookworm", good() / "keyring.gpg");
  const SourceSpec security = signed_source("sec", url, "bookworm-security", good() / "keyring.gpg");

  const UpdateResult m = repo::update_source(main, cache(), kBoth);
  const UpdateResult s = repo::update_source(security, cache(), kBoth);
  EXPECT_EQ(m.source, "deb");
  EXPECT_EQ(m.lists_dir, repo::source_dir(cache(), main) / "lists");
  EXPECT_NE(m.lists_dir, s.lists_dir);  // each source in its own directory
  EXPECT_THAT(m.fetched_at,
              ::testing::MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"));
  const std::string mp = repo::lists_prefix(main);
  const std::string sp = repo::lists_prefix(security);
  EXPECT_EQ(mp, "127.0.0.1:" + std::to_string(server.port()) + "_dists_bookworm_");
  // The names apt wrote: lists_prefix() is their prefix.
  EXPECT_EQ(lists(m.lists_dir), (std::vector<std::string>{mp + "InRelease", mp + "main_binary-amd64_Packages",
                                                          mp + "main_binary-i386_Packages"}))
      << describe(m);
  // The security suite has no i386 index: apt skips it with a notice, kept as a warning.
  EXPECT_EQ(lists(s.lists_dir),
            (std::vector<std::string>{sp + "InRelease", sp + "main_binary-amd64_Packages"}))
      << describe(s);
  EXPECT_THAT(read_file_text(m.lists_dir / (mp + "main_binary-i386_Packages")),
              HasSubstr("Package: dormtest-libfoo\n"));
  for (const auto& r : {m, s})
    EXPECT_THAT(outcomes(r), ::testing::Each(FetchOutcome::fetched)) << describe(r);
  const std::string dists = url + "dists/";
  EXPECT_THAT(uris(m), ::testing::UnorderedElementsAre(dists + "bookworm/InRelease",
                                                       dists + "bookworm/main/binary-amd64/Packages.xz",
                                                       dists + "bookworm/main/binary-i386/Packages.xz"));
  EXPECT_THAT(uris(s),
              ::testing::UnorderedElementsAre(dists + "bookworm-security/InRelease",
                                              dists + "bookworm-security/main/binary-amd64/Packages.xz"));
  EXPECT_TRUE(m.warnings.empty()) << describe(m);
  EXPECT_TRUE(s.warnings.empty()) << describe(s);  // i386 is not in its Release: skipped silently
  for (const auto& r : {m, s})
    for (const auto& name : lists(r.lists_dir)) EXPECT_THAT(name, ::testing::Not(HasSubstr("Translation")));
  const auto before = snapshot(m.lists_dir);

  // Second run: conditional GET, 304, nothing fetched again.
  const UpdateResult m2 = repo::update_source(main, cache(), kBoth);
  const UpdateResult s2 = repo::update_source(security, cache(), kBoth);
  for (const auto& r : {m2, s2}) {
    EXPECT_THAT(outcomes(r), ::testing::Each(FetchOutcome::unchanged)) << describe(r);
  }
  // The InRelease answered 304; the indexes it lists did not change, so apt
  // did not even ask for them.
  EXPECT_THAT(uris(m2), ::testing::ElementsAre(dists + "bookworm/InRelease"));
  EXPECT_THAT(uris(s2), ::testing::ElementsAre(dists + "bookworm-security/InRelease"));
  EXPECT_EQ(snapshot(m2.lists_dir), before);
  server.stop();
  const std::string log = read_file_text(tmp_.path() / "server.log");
  EXPECT_EQ(count_lines(log, "GET /dists/bookworm/InRelease", "\" 304 "), 1) << log;
  EXPECT_EQ(count_lines(log, "GET /dists/bookworm-security/InRelease", "\" 304 "), 1) << log;
  EXPECT_EQ(count_lines(log, "Packages", "GET"), 3) << log;  // first run only: 2 + 1
}

TEST_F(RepoUpdate, FileUriWorksAndSecondRunIsUnchanged) {
  const SourceSpec spec =
      signed_source("local", "file://" + good().string(), "bookworm", good() / "keyring.gpg");
  const UpdateResult r = repo::update_source(spec, cache(), {"amd64"});
  const std::string prefix = repo::lists_prefix(spec);
  std::string expected = good().string() + "/dists/bookworm/";
  std::replace(expected.begin(), expected.end(), '/', '_');
  EXPECT_EQ(prefix, expected);
  EXPECT_EQ(lists(r.lists_dir),
            (std::vector<std::string>{prefix + "InRelease", prefix + "main_binary-amd64_Packages"}))
      << describe(r);  // amd64 only: no i386 index
  EXPECT_THAT(outcomes(r), ::testing::Each(FetchOutcome::fetched)) << describe(r);
  EXPECT_TRUE(r.warnings.empty()) << describe(r);
  const auto before = snapshot(r.lists_dir);
  // apt's file method cannot IMS-hit an InRelease (no size known before), so
  // it reads it again; the indexes whose hashes did not change are not.
  const UpdateResult again = repo::update_source(spec, cache(), {"amd64"});
  ASSERT_EQ(again.files.size(), 1U) << describe(again);
  EXPECT_EQ(again.files[0].uri, "file:" + good().string() + "/dists/bookworm/InRelease");
  EXPECT_EQ(again.files[0].outcome, FetchOutcome::fetched);
  EXPECT_EQ(snapshot(again.lists_dir), before);
}

TEST_F(RepoUpdate, TamperedIndexIsHostileNamingThePackagesFile) {
  const fs::path repo = tmp_.path() / "repo";
  copy_repo(good(), repo);
  run_ok({make_repo_script().string(), "--tamper", "index", repo.string(), "bookworm"});
  LoopbackHttpServer server(repo);
  const SourceSpec spec = signed_source("deb", server.url(), "bookworm", repo / "keyring.gpg");
  const Error e = update_error(spec, cache(), kBoth);
  EXPECT_EQ(e.kind(), ErrorKind::hostile) << e.what();
  EXPECT_EQ(e.subject(), "deb");
  EXPECT_THAT(e.message(), HasSubstr(server.url() + "dists/bookworm/main/binary-amd64/Packages")) << e.what();
  EXPECT_THAT(e.message(),
              ::testing::AnyOf(HasSubstr("File has unexpected size"), HasSubstr("Hash Sum mismatch")));
}

TEST_F(RepoUpdate, TamperedSignatureIsHostileNamingInRelease) {
  const fs::path repo = tmp_.path() / "repo";
  copy_repo(good(), repo);
  run_ok({make_repo_script().string(), "--tamper", "signature", repo.string()});
  LoopbackHttpServer server(repo);
  const SourceSpec spec = signed_source("deb", server.url(), "bookworm", repo / "keyring.gpg");
  const Error e = update_error(spec, cache(), kBoth);
  EXPECT_EQ(e.kind(), ErrorKind::hostile) << e.what();
  EXPECT_THAT(e.message(), HasSubstr("BADSIG")) << e.what();
  EXPECT_THAT(e.message(), HasSubstr("bookworm InRelease' is not signed.")) << e.what();
  EXPECT_TRUE(lists(repo::source_dir(cache(), spec) / "lists").empty());
}

TEST_F(RepoUpdate, WrongKeyringIsHostileNoPubkey) {
  LoopbackHttpServer server(good());
  const SourceSpec spec = signed_source("deb", server.url(), "bookworm", repos() / "other/keyring.gpg");
  const Error e = update_error(spec, cache(), kBoth);
  EXPECT_EQ(e.kind(), ErrorKind::hostile) << e.what();
  EXPECT_THAT(e.message(), HasSubstr("NO_PUBKEY")) << e.what();
  EXPECT_THAT(e.message(), HasSubstr("NO_PUBKEY " + key_id(good())));
  EXPECT_THAT(e.message(), HasSubstr("E: The repository '" + without_slash(server.url()) +
                                     " bookworm InRelease' is not signed."))
      << e.what();
}

TEST_F(RepoUpdate, UnsignedIsHostileUnlessAllowed) {
  LoopbackHttpServer server(repos() / "unsigned");
  const SourceSpec spec = signed_source("deb", server.url(), "bookworm", good() / "keyring.gpg");
  const Error e = update_error(spec, cache(), kBoth);
  EXPECT_EQ(e.kind(), ErrorKind::hostile) << e.what();
  EXPECT_THAT(e.message(), HasSubstr("E: The repository '" + without_slash(server.url()) +
                                     " bookworm Release' is not signed."))
      << e.what();

  const UpdateResult r =
      repo::update_source(unsigned_source("test", server.url(), "bookworm"), cache(), kBoth);
  const std::string prefix = repo::lists_prefix(unsigned_source("test", server.url(), "bookworm"));
  EXPECT_EQ(lists(r.lists_dir),
            (std::vector<std::string>{prefix + "Release", prefix + "main_binary-amd64_Packages",
                                      prefix + "main_binary-i386_Packages"}))
      << describe(r);
  EXPECT_THAT(outcomes(r), ::testing::Each(FetchOutcome::fetched)) << describe(r);
  EXPECT_TRUE(r.warnings.empty()) << describe(r);
}

TEST_F(RepoUpdate, ExpiredReleaseIsHostile) {
  LoopbackHttpServer server(repos() / "expired");
  const SourceSpec spec = signed_source("deb", server.url(), "bookworm", repos() / "expired/keyring.gpg");
  const Error e = update_error(spec, cache(), kBoth);
  EXPECT_EQ(e.kind(), ErrorKind::hostile) << e.what();
  EXPECT_THAT(e.message(),
              HasSubstr("E: Release file for " + server.url() + "dists/bookworm/InRelease is expired"))
      << e.what();
}

TEST_F(RepoUpdate, StoppedServerIsAnIoErrorNamingTheUri) {
  LoopbackHttpServer server(good());
  const std::string url = server.url();
  server.stop();
  const SourceSpec spec = signed_source("deb", url, "bookworm", good() / "keyring.gpg");
  const Error e = update_error(spec, cache(), kBoth);
  EXPECT_EQ(e.kind(), ErrorKind::io) << e.what();
  EXPECT_EQ(e.subject(), "deb");
  EXPECT_THAT(e.message(), HasSubstr(url + "dists/bookworm/InRelease")) << e.what();
  EXPECT_THAT(e.message(), HasSubstr("Connection refused")) << e.what();
  EXPECT_TRUE(lists(repo::source_dir(cache(), spec) / "lists").empty());
}

TEST_F(RepoUpdate, ServiceUnavailableMidUpdateIsAnIoError) {
  LoopbackHttpOptions options;
  options.fail_after = 1;  // InRelease served, the indexes get 503
  LoopbackHttpServer server(good(), options);
  const SourceSpec spec = signed_source("deb", server.url(), "bookworm", good() / "keyring.gpg");
  const Error e = update_error(spec, cache(), kBoth);
  EXPECT_EQ(e.kind(), ErrorKind::io) << e.what();
  EXPECT_THAT(e.message(), HasSubstr(server.url() + "dists/bookworm/main/binary-")) << e.what();
  EXPECT_THAT(e.message(), HasSubstr("503")) << e.what();
  for (const auto& name : lists(repo::source_dir(cache(), spec) / "lists"))
    EXPECT_THAT(name, ::testing::Not(HasSubstr("Packages")));
}

TEST_F(RepoUpdate, FailedUpdateKeepsThePreviousListsUntouched) {
  const fs::path repo = tmp_.path() / "repo";
  build_repo(repo);  // its own key, in repo/.gnupg: the next build signs with it too
  published_a_minute_ago(repo);
  LoopbackHttpServer server(repo);
  const SourceSpec spec = signed_source("deb", server.url(), "bookworm", repo / "keyring.gpg");
  const UpdateResult r = repo::update_source(spec, cache(), kBoth);
  const auto before = snapshot(r.lists_dir);
  ASSERT_EQ(before.size(), 3U) << describe(r);

  // Hostile: the next release is signed, but its indexes do not match it.
  run_ok({make_repo_script().string(), next_spec().string(), repo.string()});
  run_ok({make_repo_script().string(), "--tamper", "index", repo.string(), "bookworm"});
  Error e = update_error(spec, cache(), kBoth);
  EXPECT_EQ(e.kind(), ErrorKind::hostile) << e.what();
  EXPECT_THAT(e.message(), HasSubstr("File has unexpected size (")) << e.what();
  EXPECT_EQ(snapshot(r.lists_dir), before);

  // Hostile: an InRelease signed by a key the keyring does not hold. Over
  // existing lists apt calls this a transient error and only warns.
  fs::copy_file(repos() / "other/dists/bookworm/InRelease", repo / "dists/bookworm/InRelease",
                fs::copy_options::overwrite_existing);
  e = update_error(spec, cache(), kBoth);
  EXPECT_EQ(e.kind(), ErrorKind::hostile) << e.what();
  EXPECT_THAT(e.message(),
              HasSubstr("W: An error occurred during the signature verification. The repository is "
                        "not updated and the previous index files will be used. GPG error: " +
                        without_slash(server.url()) +
                        " bookworm InRelease: The following signatures "
                        "couldn't be verified because the public key is not available: NO_PUBKEY " +
                        key_id(repos() / "other")))
      << e.what();
  EXPECT_EQ(snapshot(r.lists_dir), before);

  // Io: the mirror is down. apt-get update would exit 0 and keep these lists.
  server.stop();
  e = update_error(spec, cache(), kBoth);
  EXPECT_EQ(e.kind(), ErrorKind::io) << e.what();
  EXPECT_THAT(e.message(), HasSubstr("E: Failed to fetch " + server.url() +
                                     "dists/bookworm/InRelease  Could not "
                                     "connect to 127.0.0.1:" +
                                     std::to_string(server.port())))
      << e.what();
  EXPECT_EQ(snapshot(r.lists_dir), before);
}

TEST_F(RepoUpdate, ListsOutOfAptUsersReachAreAWarningNotAFailure) {
  if (::geteuid() != 0) GTEST_SKIP() << "only root's apt drops its methods to _apt";
  const fs::path cache = tmp_.path() / "private";
  fs::create_directories(cache);
  fs::permissions(cache, fs::perms::owner_all, fs::perm_options::replace);
  LoopbackHttpServer server(good());
  const SourceSpec spec = signed_source("deb", server.url(), "bookworm", good() / "keyring.gpg");
  const UpdateResult r = repo::update_source(spec, cache, kBoth);
  EXPECT_EQ(lists(r.lists_dir).size(), 3U) << describe(r);
  ASSERT_EQ(r.warnings.size(), 1U) << describe(r);
  EXPECT_FALSE(r.warnings[0].error);
  EXPECT_EQ(r.warnings[0].text,
            "Download is performed unsandboxed as root as file '" +
                (r.lists_dir / "partial" / (repo::lists_prefix(spec) + "InRelease")).string() +
                "' couldn't be accessed by user '_apt'. - pkgAcquire::Run (13: Permission denied)");
}

TEST_F(RepoUpdate, HostAptConfigurationIsNotRead) {
  // APT_CONFIG names a configuration that would add a source (served by a
  // decoy that logs every request), run a script and fetch translations.
  LoopbackHttpOptions decoy_options;
  decoy_options.log_file = tmp_.path() / "decoy.log";
  LoopbackHttpServer decoy(repos() / "unsigned", decoy_options);
  const fs::path host = tmp_.path() / "host";
  write_file(host / "sources.list.d/decoy.list", "deb [trusted=yes] " + decoy.url() + " bookworm main\n");
  write_file(host / "apt.conf", "Dir::Etc::sourcelist \"" + (host / "sources.list.d/decoy.list").string() +
                                    "\";\nDir::Etc::sourceparts \"" + (host / "sources.list.d").string() +
                                    "\";\nAPT::Update::Pre-Invoke { \"touch " + (host / "ran").string() +
                                    "\"; };\nAcquire::Languages { \"en\"; };\n");
  ::setenv("APT_CONFIG", (host / "apt.conf").c_str(), 1);
  LoopbackHttpServer server(good());
  const SourceSpec spec = signed_source("deb", server.url(), "bookworm", good() / "keyring.gpg");
  const UpdateResult r = repo::update_source(spec, cache(), kBoth);
  ::unsetenv("APT_CONFIG");
  decoy.stop();
  EXPECT_EQ(read_file_text(tmp_.path() / "decoy.log"), "");
  EXPECT_FALSE(fs::exists(host / "ran"));
  // Nothing of the host's /etc/apt either: its sources.list.d would add Debian's mirrors.
  for (const auto& f : r.files) EXPECT_THAT(f.uri, ::testing::StartsWith(server.url()));
  for (const auto& name : lists(r.lists_dir)) {
    EXPECT_THAT(name, ::testing::StartsWith(repo::lists_prefix(spec)));
    EXPECT_THAT(name, ::testing::Not(HasSubstr("Translation")));
  }
  EXPECT_EQ(lists(r.lists_dir).size(), 3U) << describe(r);
}

}  // namespace
}  // namespace dormant::testing

namespace dormant::testing {
namespace {

// A repository publishes its Packages indexes as xz, gz or plain text (any
// subset, listed in the signed Release); each form alone must do.
TEST(RepoUpdateCompression, EachIndexFormAloneIsFetchedAndVerified) {
  TempDir tmp("dormant-repocompression");
  open_to_apt(tmp.path());
  for (const std::string form : {"xz", "gz", "none"}) {
    const fs::path repo = tmp.path() / ("repo-" + form);
    build_repo(repo, {"--compression", form});
    ASSERT_EQ(fs::exists(repo / "dists/bookworm/main/binary-amd64/Packages.xz"), form == "xz");
    ASSERT_EQ(fs::exists(repo / "dists/bookworm/main/binary-amd64/Packages"), form == "none");
    LoopbackHttpServer server(repo);
    const SourceSpec spec = signed_source("form-" + form, server.url(), "bookworm", repo / "keyring.gpg");
    const UpdateResult r = repo::update_source(spec, tmp.path() / ("cache-" + form), {"amd64"});
    // apt keeps the index decompressed: the packages of the spec are in it.
    const fs::path packages = r.lists_dir / (repo::lists_prefix(spec) + "main_binary-amd64_Packages");
    ASSERT_TRUE(fs::exists(packages)) << form << ": " << describe(r);
    EXPECT_NE(read_file_text(packages).find("Package: dormtest-hello"), std::string::npos) << form;
    bool fetched_that_form = false;
    for (const auto& f : r.files)
      if (f.uri.find("binary-amd64/Packages" + (form == "none" ? std::string() : "." + form)) !=
          std::string::npos)
        fetched_that_form = true;
    EXPECT_TRUE(fetched_that_form) << form << ": " << describe(r);
  }
}

}  // namespace
}  // namespace dormant::testing

namespace dormant::testing {
namespace {

// apt skips a component the Release does not have with at most a notice: a
// mistyped --component would silently mean "no updates" for every image.
TEST(RepoUpdateComponents, AComponentTheRepositoryDoesNotHaveIsAnError) {
  TempDir tmp("dormant-repocomponent");
  open_to_apt(tmp.path());
  const fs::path repo = tmp.path() / "repo";
  build_repo(repo);
  LoopbackHttpServer server(repo);
  SourceSpec spec = signed_source("typo", server.url(), "bookworm", repo / "keyring.gpg");
  spec.components = {"main", "contrbi"};
  try {
    repo::update_source(spec, tmp.path() / "cache", {"amd64"});
    FAIL() << "a missing component was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_found);
    EXPECT_EQ(e.subject(), "typo");
    EXPECT_THAT(e.message(), HasSubstr("'contrbi'")) << e.message();
    EXPECT_THAT(e.message(), HasSubstr("dists/bookworm/InRelease")) << e.message();
  }
  spec.components = {"main"};
  EXPECT_NO_THROW(repo::update_source(spec, tmp.path() / "cache", {"amd64"}));
}

}  // namespace
}  // namespace dormant::testing
