// The resolver worker process (assess/worker.hpp): the same answers as in
// process, and a crash or a hang costs only the job it happened on.
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "dormant/assess/resolver.hpp"
#include "dormant/assess/worker.hpp"
#include "resolver_support.hpp"
#include "support/test_support.hpp"

namespace dormant::testing {
namespace {

namespace fs = std::filesystem;
using assess::Resolution;
using assess::WorkerJob;
using assess::WorkerResult;

const fs::path kWorker = dormant::testing::resolve_worker_path();

// Sets an environment variable for the worker for the lifetime of the object.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) { ::setenv(name, value.c_str(), 1); }
  ~ScopedEnv() { ::unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
};

class ResolverWorker : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!resolver_repo().error.empty()) GTEST_FAIL() << resolver_repo().error;
  }
  std::vector<WorkerJob> jobs() const {
    return {{"a", stanza("rt-plain", "1.0-1") + stanza("rt-app", "1.0-1"), "", {}},
            {"b", stanza("rt-held", "1.0-1", "", "hold ok installed"), "", {}},
            {"c", stanza("rt-seconly", "1.0-1") + stanza("rt-broken", "1.0", "Depends: rt-ghost\n"), "", {}}};
  }
  std::vector<WorkerResult> run(std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    return assess::resolve_in_worker(kWorker, resolver_options(tmp_.path() / "worker", false), jobs(),
                                     timeout);
  }
  std::string in_process(const WorkerJob& job) {
    assess::Universe universe(resolver_options(tmp_.path() / "inproc", false));
    return comparable(universe.resolve(job.status, job.extended_states));
  }
  TempDir tmp_{"dormant-resolver-worker"};
};

TEST_F(ResolverWorker, AnswersEqualInProcessOnes) {
  const auto results = run();
  ASSERT_EQ(results.size(), 3U);
  for (std::size_t i = 0; i < results.size(); ++i) {
    SCOPED_TRACE(results[i].key);
    EXPECT_EQ(results[i].key, jobs()[i].key);
    ASSERT_TRUE(results[i].resolution.has_value()) << results[i].error;
    EXPECT_TRUE(results[i].resolution->pruned);
    EXPECT_EQ(comparable(*results[i].resolution), in_process(jobs()[i]));
  }
  EXPECT_EQ(results[2].resolution->broken, std::vector<std::string>{"rt-broken"});
}

TEST_F(ResolverWorker, ACrashCostsOnlyThatJob) {
  ScopedEnv crash("DORMANT_TEST_WORKER_CRASH_ON", "b");
  const auto results = run();
  ASSERT_EQ(results.size(), 3U);
  EXPECT_TRUE(results[0].resolution.has_value()) << results[0].error;
  EXPECT_FALSE(results[1].resolution.has_value());
  EXPECT_EQ(results[1].kind, ErrorKind::corrupt);
  EXPECT_EQ(results[1].error,
            "resolver worker crashed (signal 11) while reading this image's package database");
  ASSERT_TRUE(results[2].resolution.has_value()) << results[2].error;  // a new worker took it
  EXPECT_EQ(comparable(*results[2].resolution), in_process(jobs()[2]));
}

TEST_F(ResolverWorker, AHangTimesOutAndTheRestGoOn) {
  ScopedEnv hang("DORMANT_TEST_WORKER_HANG_ON", "a");
  const auto results = run(std::chrono::seconds(3));
  ASSERT_EQ(results.size(), 3U);
  EXPECT_FALSE(results[0].resolution.has_value());
  EXPECT_EQ(results[0].kind, ErrorKind::limit);
  EXPECT_EQ(results[0].error, "resolver worker timed out after 3000 ms on this image's package database");
  EXPECT_TRUE(results[1].resolution.has_value()) << results[1].error;
  EXPECT_TRUE(results[2].resolution.has_value()) << results[2].error;
}

TEST_F(ResolverWorker, CorruptStatusIsAnErrorLine) {
  std::vector<WorkerJob> list = jobs();
  list[1].status = "Version: 1.0\nStatus: install ok installed\n\n";
  const auto results = assess::resolve_in_worker(kWorker, resolver_options(tmp_.path() / "worker", false),
                                                 list, std::chrono::seconds(60));
  ASSERT_EQ(results.size(), 3U);
  EXPECT_TRUE(results[0].resolution.has_value());
  EXPECT_FALSE(results[1].resolution.has_value());
  EXPECT_EQ(results[1].kind, ErrorKind::corrupt);
  EXPECT_TRUE(results[1].error.starts_with("dpkg status: ")) << results[1].error;
  EXPECT_TRUE(results[2].resolution.has_value());
}

TEST_F(ResolverWorker, UnloadableUniverseFailsEveryJob) {
  auto options = resolver_options(tmp_.path() / "worker", false);
  options.sources[0].lists_dir = tmp_.path() / "never-fetched";
  const auto results = assess::resolve_in_worker(kWorker, options, jobs(), std::chrono::seconds(60));
  ASSERT_EQ(results.size(), 3U);
  for (const auto& r : results) {
    EXPECT_FALSE(r.resolution.has_value());
    EXPECT_EQ(r.kind, ErrorKind::not_found);
    EXPECT_NE(r.error.find("debian: no indexes in"), std::string::npos) << r.error;
  }
}

TEST(ResolverJson, RoundTrips) {
  Resolution r;
  r.updates.push_back({"libc6", "amd64", "2.36-9", "2.36-9+deb12u1", "debian", "bookworm", true, "glibc",
                       "2.36-9+deb12u1", assess::PackageChange::Action::held, false});
  r.removed_packages.push_back({"old", "i386", "1.0", "", "", "", false, "oldsrc", "1.0",
                                assess::PackageChange::Action::removed, true});
  r.broken = {"x:i386"};
  r.resolver_error = "E: Broken packages";
  r.pruned = true;
  r.universe_packages = 42;
  const nlohmann::json j = r;
  EXPECT_EQ(j["updates"][0]["action"], "held");
  EXPECT_EQ(nlohmann::json(j.get<Resolution>()), j);
  const auto options = resolver_options("/w", true, true);
  EXPECT_EQ(nlohmann::json(nlohmann::json(options).get<assess::UniverseOptions>()), nlohmann::json(options));
}

}  // namespace
}  // namespace dormant::testing
