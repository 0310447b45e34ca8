#include "job_fixture.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "dormant/core/sha256.hpp"
#include "support/apt_repo.hpp"
#include "support/sqlite_query.hpp"
#include "update_repos.hpp"

namespace dormant::testing {

namespace fs = std::filesystem;

std::unique_ptr<TempDir> JobTest::repo_dir_;
fs::path JobTest::repo_;
std::unique_ptr<LoopbackHttpServer> JobTest::server_;
std::map<std::string, fs::path> JobTest::pristine_;

void JobTest::SetUpTestSuite() {
  repo_dir_ = std::make_unique<TempDir>();
  open_to_apt(repo_dir_->path());
  repo_ = repo_dir_->path() / "updating";
  build_repo(repo_, updating_spec(fixture_rootfs()));
  server_ = std::make_unique<LoopbackHttpServer>(repo_);
}

void JobTest::TearDownTestSuite() {
  server_.reset();
  pristine_.clear();
  repo_dir_.reset();
}

void JobTest::SetUp() {
  open_to_apt(dir_.path());
  root_ = dir_.path();
  library_ = root_ / "library";
  fs::create_directories(library_);
}

void JobTest::use_fresh_root(const std::string& name) {
  root_ = dir_.path() / name;
  library_ = root_ / "library";
  fs::create_directories(library_);
  open_to_apt(root_);
}

fs::path JobTest::guest(const std::string& name, const std::vector<std::string>& options) {
  std::string key;
  for (const auto& o : options) key += o + " ";
  auto it = pristine_.find(key);
  if (it == pristine_.end()) {
    const fs::path made = repo_dir_->path() / fmt::format("pristine-{}.raw", pristine_.size());
    std::vector<std::string> argv{(source_dir() / "tests/fixtures/make-patch-guest.sh").string(),
                                  fixture_rootfs().string(), made.string()};
    argv.insert(argv.end(), options.begin(), options.end());
    run_ok(argv, {std::chrono::seconds(120)});
    it = pristine_.emplace(key, made).first;
  }
  run_ok({"cp", "--sparse=always", it->second.string(), (library_ / name).string()});
  return library_ / name;
}

void JobTest::add_library_and_sources() {
  ASSERT_EQ(cli({"library", "add", library_.string(), "--name", "lib"}).exit_code, 0);
  const std::string keyring = (repo_ / "keyring.gpg").string();
  for (auto argv : std::vector<std::vector<std::string>>{
           {"source", "add", "debian", server_->url(), "--suite", "bookworm", "--keyring", keyring},
           {"source", "add", "debian-security", server_->url(), "--suite", "bookworm-security", "--security",
            "--keyring", keyring}}) {
    auto r = cli(argv);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  auto r = cli({"identify"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

ProcessResult JobTest::cli(std::vector<std::string> args, std::chrono::seconds timeout) {
  args.insert(args.begin(), {"--catalog", catalog().string()});
  return run_cli(args, timeout);
}

nlohmann::json JobTest::show(const std::string& job) {
  auto r = cli({"job", "show", job, "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out);
}

JobTest::Peak JobTest::peak_running(std::int64_t run_id) {
  // kind|host;kind|host;... in sequence order.
  const auto rows = sqlite_query(
      catalog(),
      "SELECT group_concat(e, ';') FROM (SELECT kind || '|' || coalesce(host, '') AS e "
      "FROM job_events WHERE " +
          (run_id == 0 ? std::string("1") : fmt::format("run_id = {}", run_id)) + " ORDER BY seq)");
  Peak peak;
  std::size_t running = 0;
  std::map<std::string, std::size_t> per_host;
  std::size_t start = 0;
  while (start < rows.size()) {
    std::size_t end = rows.find(';', start);
    if (end == std::string::npos) end = rows.size();
    const std::string line = rows.substr(start, end - start);
    start = end + 1;
    if (line.empty() || line == "NULL") continue;
    const auto bar = line.find('|');
    const std::string kind = line.substr(0, bar), host = line.substr(bar + 1);
    if (kind == "start") {
      ++running;
      ++per_host[host];
      peak.overall = std::max(peak.overall, running);
      peak.per_host[host] = std::max(peak.per_host[host], per_host[host]);
    } else {
      EXPECT_GT(running, 0u) << "a finish without a start";
      --running;
      --per_host[host];
    }
  }
  EXPECT_EQ(running, 0u) << "items still running in the record";
  return peak;
}

void JobTest::expect_intact_or_committed(const fs::path& image, const std::string& original_sha) {
  const std::string now = sha256_file(image).sha256;
  if (now == original_sha) return;
  const auto committed = sqlite_query(
      catalog(), fmt::format("SELECT count(*) FROM patch_images p JOIN images i ON i.id = p.image_id "
                             "WHERE p.state = 'committed' AND p.new_sha256 = '{}'",
                             now));
  EXPECT_EQ(committed, "1") << image << " is neither the original nor a recorded committed version";
  // The job item of the image agrees.
  const auto item = sqlite_query(
      catalog(),
      fmt::format("SELECT j.state || '/' || coalesce(j.result, '') FROM job_items j JOIN images i ON "
                  "i.id = j.image_id JOIN patch_images p ON p.image_id = i.id AND p.new_sha256 = '{}' "
                  "ORDER BY j.run_id DESC LIMIT 1",
                  now));
  EXPECT_EQ(item, "done/committed") << image;
  auto r = run_process({"e2fsck", "-fn", image.string()});
  EXPECT_EQ(r.exit_code, 0) << image << ": " << r.out << r.err;
}

void JobTest::expect_no_work_left() {
  EXPECT_FALSE(fs::exists(library_ / ".dormant-work")) << "work directory left behind";
  for (const auto& e : fs::directory_iterator(library_)) {
    const auto name = e.path().filename().string();
    EXPECT_TRUE(name == ".dormant-versions" || name.ends_with(".raw") || name.ends_with(".qcow2")) << name;
  }
  std::error_code ec;
  for (fs::recursive_directory_iterator it(cache() / "work", ec), end; !ec && it != end; it.increment(ec))
    ADD_FAILURE() << "scratch left in the cache: " << it->path();
}

}  // namespace dormant::testing
