// Shared by the job tests (cli_job_test.cpp, job_crash_test.cpp): a library
// of small real guests (tests/fixtures/make-patch-guest.sh), the signed
// updating repository on a loopback HTTP server, a catalog, and readers of
// the job record.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fixture_support.hpp"
#include "support/loopback_http.hpp"

namespace dormant::testing {

class JobTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();
  void SetUp() override;

  // A guest in the library, copied from a pristine one made once per suite
  // per option set (make-patch-guest.sh takes seconds; a copy, milliseconds).
  std::filesystem::path guest(const std::string& name, const std::vector<std::string>& options = {});
  // library add + the two signed sources + identify.
  void add_library_and_sources();

  ProcessResult cli(std::vector<std::string> args, std::chrono::seconds timeout = std::chrono::seconds(600));
  std::filesystem::path catalog() const {
    return catalog_override_.empty() ? root_ / "catalog.db" : catalog_override_;
  }
  std::filesystem::path cache() const { return root_ / "cache"; }
  // Starts over in a fresh directory under the test's (a new library,
  // catalog and cache), for tests that run many independent scenarios.
  void use_fresh_root(const std::string& name);
  std::string cache_arg() const { return cache().string(); }

  // `job show --json` of the job's newest run.
  nlohmann::json show(const std::string& job);

  // Replays job_events (all runs, or run `run_id`) and returns the most
  // items running at once, overall and per host.
  struct Peak {
    std::size_t overall = 0;
    std::map<std::string, std::size_t> per_host;
  };
  Peak peak_running(std::int64_t run_id = 0);

  // The library image either is byte-identical to `original_sha`, or is the
  // committed result of a patch row whose new_sha256 it matches, and the
  // job item agrees (done with result committed). Nothing of any run is
  // left beside it.
  void expect_intact_or_committed(const std::filesystem::path& image, const std::string& original_sha);
  void expect_no_work_left();

  TempDir dir_;
  std::filesystem::path root_;
  std::filesystem::path catalog_override_;  // a catalog elsewhere (the I/O fault tests)
  std::filesystem::path library_;
  static std::unique_ptr<TempDir> repo_dir_;
  static std::filesystem::path repo_;
  static std::unique_ptr<LoopbackHttpServer> server_;
  static std::map<std::string, std::filesystem::path> pristine_;
};

}  // namespace dormant::testing
