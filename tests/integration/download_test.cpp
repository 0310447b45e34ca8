// Universe::download (assess/download.hpp): .debs fetched with apt's
// pkgAcqArchive from a signed repository (make-apt-repo.sh, basic.spec)
// served on 127.0.0.1, checked against the hashes of its verified Packages
// index, cached, and nothing left behind when a file does not match.
#include "dormant/assess/download.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "dormant/assess/resolver.hpp"
#include "dormant/core/error.hpp"
#include "dormant/core/sha256.hpp"
#include "dormant/repo/update.hpp"
#include "support/apt_repo.hpp"
#include "support/loopback_http.hpp"
#include "support/test_support.hpp"

namespace dormant::testing {
namespace {

namespace fs = std::filesystem;
using assess::DownloadedPackage;
using assess::PackageRef;
using ::testing::HasSubstr;

const fs::path kWorker = dormant::testing::resolve_worker_path();
const std::vector<std::string> kArchs{"amd64", "i386"};

// The value of `field` in the stanza of name/version/arch in a Packages file.
std::string stanza_field(const fs::path& packages, const PackageRef& ref, const std::string& field) {
  const std::string text = read_file_text(packages);
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find("\n\n", pos);
    if (end == std::string::npos) end = text.size();
    const std::string stanza = "\n" + text.substr(pos, end - pos) + "\n";
    auto value = [&](const std::string& name) {
      const auto at = stanza.find("\n" + name + ": ");
      if (at == std::string::npos) return std::string();
      const auto start = at + name.size() + 3;
      return stanza.substr(start, stanza.find('\n', start) - start);
    };
    if (value("Package") == ref.name && value("Version") == ref.version && value("Architecture") == ref.arch)
      return value(field);
    pos = end + 2;
  }
  return "";
}

// Lines of the server log that are GETs of `path_part`.
int gets(const fs::path& log, const std::string& path_part) {
  if (!fs::exists(log)) return 0;
  const std::string text = read_file_text(log);
  int n = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    if (line.find("\"GET ") != std::string::npos && line.find(path_part) != std::string::npos) ++n;
    pos = end + 1;
  }
  return n;
}

std::vector<std::string> files_under(const fs::path& dir) {
  std::vector<std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (!e.is_directory()) out.push_back(fs::relative(e.path(), dir).string());
  std::sort(out.begin(), out.end());
  return out;
}

class Download : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    repos_ = std::make_unique<TempDir>("dormant-download-repo");
    open_to_apt(repos_->path());
    build_apt_repo(basic_repo_spec(), repos_->path() / "good");
  }
  static void TearDownTestSuite() { repos_.reset(); }

  void SetUp() override {
    if (repos_ == nullptr || !fs::exists(repos_->path() / "good/keyring.gpg"))
      GTEST_FAIL() << "make-apt-repo.sh did not build " << basic_repo_spec();
    ::unsetenv("http_proxy");  // 127.0.0.1 directly
    open_to_apt(tmp_.path());
    copy_apt_repo(repos_->path() / "good", served());  // each test may tamper with its copy
    LoopbackHttpOptions http;
    http.log_file = log();
    server_ = std::make_unique<LoopbackHttpServer>(served(), http);
    for (const std::string suite : {"bookworm", "bookworm-security"}) {
      assess::UniverseSource source;
      source.spec.name = suite == "bookworm" ? "debian" : "debian-security";
      source.spec.uri = server_->url();
      source.spec.suite = suite;
      source.spec.keyring = served() / "keyring.gpg";
      source.lists_dir = repo::update_source(source.spec, tmp_.path() / "cache", kArchs).lists_dir;
      options_.sources.push_back(source);
    }
    options_.work_dir = tmp_.path() / "work";
    options_.architectures = kArchs;
  }

  fs::path served() const { return tmp_.path() / "served"; }
  fs::path log() const { return tmp_.path() / "http.log"; }
  fs::path archives() const { return tmp_.path() / "archives"; }
  fs::path packages_file(const std::string& suite, const std::string& arch) const {
    return served() / "dists" / suite / "main" / ("binary-" + arch) / "Packages";
  }
  fs::path pool_file(const PackageRef& ref, const std::string& arch_dir = "amd64") const {
    return served() / stanza_field(packages_file("bookworm", arch_dir), ref, "Filename");
  }

  // The Error download threw (a test failure when it did not).
  Error download_error(const std::vector<PackageRef>& refs) {
    try {
      assess::Universe universe(options_);
      (void)universe.download(refs, archives());
      ADD_FAILURE() << "download did not fail";
    } catch (const Error& e) {
      return e;
    }
    return Error(ErrorKind::internal, "", "no error");
  }

  const PackageRef hello_{"dormtest-hello", "amd64", "1.0-2"};
  const PackageRef libfoo_i386_{"dormtest-libfoo", "i386", "2.0-1"};
  TempDir tmp_{"dormant-download"};
  std::unique_ptr<LoopbackHttpServer> server_;
  assess::UniverseOptions options_;

 private:
  static std::unique_ptr<TempDir> repos_;
};

std::unique_ptr<TempDir> Download::repos_;

TEST_F(Download, FetchesVerifiedDebsAndThenUsesTheCache) {
  const std::vector<PackageRef> refs{hello_, libfoo_i386_};
  std::vector<DownloadedPackage> got;
  {
    assess::Universe universe(options_);
    got = universe.download(refs, archives());
  }
  ASSERT_EQ(got.size(), 2U);
  const std::vector<fs::path> indexes{packages_file("bookworm", "amd64"), packages_file("bookworm", "i386")};
  for (std::size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE(refs[i].name);
    EXPECT_EQ(got[i].ref.name, refs[i].name);
    EXPECT_EQ(got[i].ref.arch, refs[i].arch);
    EXPECT_FALSE(got[i].cached);
    EXPECT_EQ(got[i].file.parent_path(), archives());
    const std::string expected = stanza_field(indexes[i], refs[i], "SHA256");
    ASSERT_EQ(expected.size(), 64U);
    EXPECT_EQ(got[i].sha256, expected);
    EXPECT_EQ(sha256_hex(read_file_text(got[i].file)), expected);
    EXPECT_EQ(std::to_string(got[i].size), stanza_field(indexes[i], refs[i], "Size"));
    const auto info = run_ok({"dpkg-deb", "--info", got[i].file.string()});
    EXPECT_THAT(info.out, HasSubstr("Package: " + refs[i].name));
  }
  EXPECT_EQ((fs::status(archives()).permissions() & fs::perms::all),
            fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec | fs::perms::others_read |
                fs::perms::others_exec);
  EXPECT_EQ(gets(log(), "/pool/"), 2);

  // A second run (a new universe, as the next run of dormant): from the cache.
  assess::Universe again(options_);
  const auto cached = again.download(refs, archives());
  ASSERT_EQ(cached.size(), 2U);
  for (std::size_t i = 0; i < cached.size(); ++i) {
    EXPECT_TRUE(cached[i].cached) << refs[i].name;
    EXPECT_EQ(cached[i].file, got[i].file);
    EXPECT_EQ(cached[i].sha256, got[i].sha256);
  }
  EXPECT_EQ(gets(log(), "/pool/"), 2) << read_file_text(log());
}

TEST_F(Download, ACachedFileWithTheRightSizeButWrongHashIsFetchedAgain) {
  assess::Universe universe(options_);
  const auto first = universe.download({hello_}, archives());
  ASSERT_EQ(first.size(), 1U);
  // apt itself accepts a cached file by its size only.
  std::string bytes = read_file_text(first[0].file);
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0xff);
  write_file(first[0].file, bytes);
  const auto second = universe.download({hello_}, archives());
  ASSERT_EQ(second.size(), 1U);
  EXPECT_FALSE(second[0].cached);
  EXPECT_EQ(sha256_hex(read_file_text(second[0].file)), first[0].sha256);
  EXPECT_EQ(gets(log(), "/pool/"), 2);
}

TEST_F(Download, ADebReplacedAfterSigningIsHostileAndRemoved) {
  // Same size, other content: only the hash tells.
  const fs::path pool = pool_file(hello_);
  std::string bytes = read_file_text(pool);
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0xff);
  write_file(pool, bytes);
  const Error e = download_error({libfoo_i386_, hello_});
  EXPECT_EQ(e.kind(), ErrorKind::hostile) << e.what();
  EXPECT_THAT(e.what(), HasSubstr("dormtest-hello:amd64 1.0-2"));
  EXPECT_THAT(e.what(), HasSubstr(server_->url() + "pool/"));
  EXPECT_THAT(e.what(), HasSubstr("Hash Sum mismatch"));
  std::cout << "apt's text: " << e.what() << "\n";
  for (const auto& name : files_under(archives()))
    EXPECT_THAT(name, ::testing::Not(HasSubstr("hello"))) << name;
}

TEST_F(Download, ADebWithAByteAppendedIsHostileAndRemoved) {
  const fs::path pool = pool_file(hello_);
  write_file(pool, read_file_text(pool) + "x");
  const Error e = download_error({hello_});
  EXPECT_EQ(e.kind(), ErrorKind::hostile) << e.what();
  EXPECT_THAT(e.what(), HasSubstr("dormtest-hello:amd64 1.0-2"));
  std::cout << "apt's text: " << e.what() << "\n";
  for (const auto& name : files_under(archives()))
    EXPECT_THAT(name, ::testing::Not(HasSubstr("hello"))) << name;
}

TEST_F(Download, AnUnknownVersionIsNotFound) {
  const Error e = download_error({hello_, {"dormtest-hello", "amd64", "9.9-9"}});
  EXPECT_EQ(e.kind(), ErrorKind::not_found) << e.what();
  EXPECT_EQ(std::string(e.what()), "dormtest-hello:amd64 9.9-9: not in the indexes of the update sources");
  EXPECT_EQ(gets(log(), "/pool/"), 0);
}

TEST_F(Download, AnArchAllPackageIsFoundUnderItsArchitectureName) {
  assess::Universe universe(options_);
  const auto got = universe.download({{"dormtest-data", "all", "1:0.9~rc1-1"}}, archives());
  ASSERT_EQ(got.size(), 1U);
  EXPECT_EQ(got[0].ref.arch, "all");
  EXPECT_EQ(got[0].sha256, stanza_field(packages_file("bookworm", "amd64"),
                                        {"dormtest-data", "all", "1:0.9~rc1-1"}, "SHA256"));
}

TEST_F(Download, WorksInTheFullUniverseAndResolvingGoesOnAfterwards) {
  options_.full_universe = true;
  assess::Universe universe(options_);
  const auto got = universe.download({hello_}, archives());
  ASSERT_EQ(got.size(), 1U);
  EXPECT_EQ(got[0].sha256, stanza_field(packages_file("bookworm", "amd64"), hello_, "SHA256"));
  const auto resolution = universe.resolve(
      "Package: dormtest-hello\nStatus: install ok installed\nVersion: 1.0-1\nArchitecture: amd64\n\n", "");
  ASSERT_FALSE(resolution.updates.empty());
  EXPECT_EQ(resolution.updates[0].name, "dormtest-hello");
}

TEST_F(Download, AStoppedServerIsIo) {
  server_->stop();
  const Error e = download_error({hello_});
  EXPECT_EQ(e.kind(), ErrorKind::io) << e.what();
  EXPECT_THAT(e.what(), HasSubstr("dormtest-hello:amd64 1.0-2"));
  for (const auto& name : files_under(archives()))
    EXPECT_THAT(name, ::testing::Not(HasSubstr("hello"))) << name;
}

TEST_F(Download, ThroughTheWorker) {
  const auto got = assess::download_in_worker(kWorker, options_, {hello_, libfoo_i386_}, archives(),
                                              std::chrono::seconds(120));
  ASSERT_EQ(got.size(), 2U);
  EXPECT_EQ(got[0].sha256, stanza_field(packages_file("bookworm", "amd64"), hello_, "SHA256"));
  EXPECT_EQ(got[1].sha256, stanza_field(packages_file("bookworm", "i386"), libfoo_i386_, "SHA256"));
  EXPECT_EQ(sha256_hex(read_file_text(got[1].file)), got[1].sha256);
  const auto again =
      assess::download_in_worker(kWorker, options_, {hello_}, archives(), std::chrono::seconds(120));
  ASSERT_EQ(again.size(), 1U);
  EXPECT_TRUE(again[0].cached);

  try {
    (void)assess::download_in_worker(kWorker, options_, {{"dormtest-hello", "amd64", "0"}}, archives(),
                                     std::chrono::seconds(120));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_found);
    EXPECT_EQ(std::string(e.what()), "dormtest-hello:amd64 0: not in the indexes of the update sources");
  }
}

}  // namespace
}  // namespace dormant::testing
