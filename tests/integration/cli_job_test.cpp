// `dormant job` and `dormant daemon` end to end on small real guests and a
// real signed repository: definitions and their errors, rate control checked
// from the record (job_events), per-image logs, cancel, SIGTERM and resume,
// and the daemon's schedule under a fixed clock.
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <signal.h>

#include <chrono>
#include <set>
#include <thread>

#include "dormant/core/sha256.hpp"
#include "job_fixture.hpp"
#include "support/sqlite_query.hpp"

namespace dormant::testing {
namespace {

namespace fs = std::filesystem;

std::string sha_of(const fs::path& path) { return sha256_file(path).sha256; }

class CliJob : public JobTest {
 protected:
  ProcessResult create(std::vector<std::string> args) {
    args.insert(args.begin(), {"job", "create"});
    return cli(args);
  }
  ProcessResult run(const std::string& job, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"job", "run", job, "--json", "--cache-dir", cache_arg()};
    args.insert(args.end(), extra.begin(), extra.end());
    return cli(args);
  }
  // Waits until the job's newest run has an item in `state`.
  bool wait_for_item_state(const std::string& state, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (fs::exists(catalog()) &&
          sqlite_query(catalog(), fmt::format("SELECT count(*) FROM job_items WHERE state = '{}'", state)) !=
              "0")
        return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
};

TEST_F(CliJob, CreateRefusesBadDefinitionsWithClearErrors) {
  const auto image = guest("a.raw");
  add_library_and_sources();
  struct Case {
    std::vector<std::string> args;
    int exit;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{"bad/name", "--targets", image.string()}, 2, "invalid job name"},
      {{"j", "--targets", image.string(), "--all"}, 2, "exactly one"},
      {{"j"}, 2, "exactly one"},
      {{"j", "--targets", image.string(), "--max-concurrent", "0"}, 2, "--max-concurrent"},
      {{"j", "--targets", image.string(), "--max-concurrent", "101%"}, 2, "--max-concurrent"},
      {{"j", "--targets", image.string(), "--max-errors", "-1"}, 2, "--max-errors"},
      {{"j", "--targets", image.string(), "--schedule", "61 * * * *"}, 2, "minute"},
      {{"j", "--targets", image.string(), "--schedule", "0 0 30 2 *"}, 2, "never"},
      {{"j", "--targets", image.string(), "--window", "22:00-25:00"}, 2, "--window"},
      {{"j", "--targets", image.string(), "--timeout-update", "soon"}, 2, "--timeout-update"},
      {{"j", "--targets", image.string(), "--mode", "service"}, 2, "--hosts"},
      {{"j", "--targets", image.string(), "--mode", "service", "--hosts", "nowhere"},
       3,
       "no maintenance host"},
      {{"j", "--group", "nogroup"}, 3, "no such group"},
      {{"j", "--targets", (library_ / "missing.raw").string()}, 3, "missing.raw"},
  };
  for (const auto& c : cases) {
    auto r = create(c.args);
    EXPECT_EQ(r.exit_code, c.exit) << fmt::format("{}", fmt::join(c.args, " ")) << "\n" << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << fmt::format("{}", fmt::join(c.args, " ")) << "\n"
                                                     << r.err;
  }
  EXPECT_EQ(sqlite_query(catalog(), "SELECT count(*) FROM jobs"), "0");

  auto ok =
      create({"nightly", "--targets", image.string(), "--max-concurrent", "25%", "--max-errors", "10%",
              "--schedule", "0 22 * * *", "--window", "22:00-04:00", "--timeout-item", "1h30m", "--json"});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  auto job = nlohmann::json::parse(ok.out);
  EXPECT_EQ(job["options"]["timeouts"]["item"], 5400);
  EXPECT_EQ(job["targets"]["images"][0], image.string());
  EXPECT_EQ(create({"nightly", "--all"}).exit_code, 7);  // the name is taken
  auto list = nlohmann::json::parse(cli({"job", "list", "--json"}).out);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["name"], "nightly");
  EXPECT_NE(list[0]["next_fire"].get<std::string>().find("22:00Z"), std::string::npos) << list.dump(2);
  // Outside its window, a manual run refuses unless --now.
  EXPECT_EQ(cli({"job", "delete", "nightly"}).exit_code, 0);
  EXPECT_EQ(sqlite_query(catalog(), "SELECT count(*) FROM jobs"), "0");
}

TEST_F(CliJob, RunsAnOfflineJobWithinItsConcurrencyAndLogsEachImage) {
  std::map<fs::path, std::string> before;
  for (const char* name : {"a.raw", "b.raw", "c.raw", "d.raw"}) {
    auto image = guest(name);
    before[image] = sha_of(image);
  }
  add_library_and_sources();
  ASSERT_EQ(cli({"group", "create", "web", "--match", "*.raw"}).exit_code, 0);
  ASSERT_EQ(create({"web", "--group", "web", "--max-concurrent", "50%"}).exit_code, 0);
  auto r = run("web");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto report = nlohmann::json::parse(r.out);
  EXPECT_EQ(report["state"], "done");
  EXPECT_EQ(report["settings"]["max_concurrent"], 2);  // 50% of 4, rounded up
  ASSERT_EQ(report["items"].size(), 4u);
  for (const auto& item : report["items"]) {
    EXPECT_EQ(item["state"], "done") << item.dump(2);
    EXPECT_EQ(item["result"], "committed") << item.dump(2);
    EXPECT_EQ(item["attempt"], 1);
    // The log has the timings of every step.
    for (const char* step : {"plan", "download", "stage", "verify", "commit"})
      EXPECT_NE(item["log"].get<std::string>().find(step), std::string::npos) << step << "\n" << item["log"];
  }
  for (const auto& [image, sha] : before) {
    EXPECT_NE(sha_of(image), sha) << image;
    expect_intact_or_committed(image, sha);
  }
  // From the record: never more than 2 at once, and 2 at some instant.
  EXPECT_EQ(peak_running().overall, 2u);
  expect_no_work_left();
  // The table form shows each image and its log.
  auto table = cli({"job", "show", "web"});
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_NE(table.out.find("a.raw"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("seconds:"), std::string::npos) << table.out;
  auto history = nlohmann::json::parse(cli({"job", "history", "web", "--json"}).out);
  ASSERT_EQ(history.size(), 1u);
  EXPECT_EQ(history[0]["done"], 4);
}

TEST_F(CliJob, TwoJobsAtOnceEachKeepTheirOwnConcurrency) {
  for (const char* name : {"a1.raw", "a2.raw", "a3.raw", "b1.raw", "b2.raw", "b3.raw"}) guest(name);
  add_library_and_sources();
  for (const char* group : {"a", "b"}) {
    ASSERT_EQ(cli({"group", "create", group, "--match", fmt::format("*/{}?.raw", group)}).exit_code, 0);
    ASSERT_EQ(create({fmt::format("job-{}", group), "--group", group, "--max-concurrent", "1"}).exit_code, 0);
  }
  // The indexes are fetched once first and both runs use them --offline:
  // two runners refreshing one cache at the same instant race (one's items
  // can find a source's lists mid-rewrite, "never fetched"), a known bug
  // this test is not about (issue 8 note).
  ASSERT_EQ(cli({"assess", "--all", "--cache-dir", cache_arg()}).exit_code, 0);
  ProcessResult ra, rb;
  std::thread a([&] { ra = run("job-a", {"--offline"}); });
  std::thread b([&] { rb = run("job-b", {"--offline"}); });
  a.join();
  b.join();
  ASSERT_EQ(ra.exit_code, 0) << ra.err;
  ASSERT_EQ(rb.exit_code, 0) << rb.err;
  // From the record: each run never had more than its one at a time, and
  // the two runs overlapped (both at once at some instant).
  for (const char* run : {"1", "2"}) EXPECT_EQ(peak_running(std::stoi(run)).overall, 1u) << "run " << run;
  EXPECT_EQ(peak_running().overall, 2u);
  for (const auto& report : {nlohmann::json::parse(ra.out), nlohmann::json::parse(rb.out)}) {
    EXPECT_EQ(report["items"].size(), 3u);
    for (const auto& item : report["items"]) EXPECT_EQ(item["result"], "committed") << item.dump(2);
  }
}

TEST_F(CliJob, MaxErrorsStopsDispatchOnlyWhenExceeded) {
  // Guests without systemd's offline-update support fail at stage.
  for (const char* name : {"f1.raw", "f2.raw", "f3.raw"}) guest(name, {"--no-systemd"});
  add_library_and_sources();
  // 50% of 3 is 1.5, rounded down to 1: the second failure exceeds it.
  ASSERT_EQ(create({"bad", "--all", "--max-errors", "50%", "--max-concurrent", "1"}).exit_code, 0);
  auto r = run("bad");
  EXPECT_EQ(r.exit_code, 1);
  auto report = nlohmann::json::parse(r.out);
  EXPECT_EQ(report["state"], "stopped") << report.dump(2);
  EXPECT_EQ(report["settings"]["error_threshold"], 1);
  EXPECT_NE(report["stop_reason"].get<std::string>().find("exceed"), std::string::npos) << report.dump(2);
  std::map<std::string, int> states;
  for (const auto& item : report["items"]) ++states[item["state"].get<std::string>()];
  EXPECT_EQ(states["failed"], 2);
  EXPECT_EQ(states["pending"], 1);
  for (const auto& item : report["items"]) {
    if (item["state"] == "failed") {
      EXPECT_NE(item["reason"].get<std::string>().find("systemd"), std::string::npos) << item.dump(2);
    }
  }
}

TEST_F(CliJob, FailuresEqualToMaxErrorsDoNotStopTheRun) {
  guest("f1.raw", {"--no-systemd"});
  guest("f2.raw", {"--no-systemd"});
  guest("ok1.raw");
  guest("ok2.raw");
  add_library_and_sources();
  ASSERT_EQ(create({"mixed", "--all", "--max-errors", "2", "--max-concurrent", "1"}).exit_code, 0);
  auto r = run("mixed");
  EXPECT_EQ(r.exit_code, 1);
  auto report = nlohmann::json::parse(r.out);
  EXPECT_EQ(report["state"], "failed") << report.dump(2);  // finished, with failures; not stopped
  std::map<std::string, int> states;
  for (const auto& item : report["items"]) ++states[item["state"].get<std::string>()];
  EXPECT_EQ(states["failed"], 2);
  EXPECT_EQ(states["done"], 2);
}

TEST_F(CliJob, CancelStopsTheRunningImageAndLeavesItIntact) {
  std::map<fs::path, std::string> before;
  for (const char* name : {"a.raw", "b.raw", "c.raw"}) {
    auto image = guest(name);
    before[image] = sha_of(image);
  }
  add_library_and_sources();
  ASSERT_EQ(create({"c", "--all", "--max-concurrent", "1"}).exit_code, 0);
  ProcessResult result;
  std::thread runner([&] { result = run("c"); });
  ASSERT_TRUE(wait_for_item_state("running", std::chrono::seconds(120)));
  auto cancel = cli({"job", "cancel", "c"});
  runner.join();
  EXPECT_EQ(cancel.exit_code, 0) << cancel.err;
  EXPECT_EQ(result.exit_code, 1) << result.err;
  auto report = nlohmann::json::parse(result.out);
  EXPECT_EQ(report["state"], "cancelled");
  std::size_t cancelled = 0;
  for (const auto& item : report["items"]) cancelled += item["state"] == "cancelled";
  EXPECT_GE(cancelled, 2u) << report.dump(2);
  for (const auto& [image, sha] : before) expect_intact_or_committed(image, sha);
  peak_running();  // every start has its finish
  expect_no_work_left();
}

TEST_F(CliJob, SigtermLeavesTheRunResumableAndResumeFinishesIt) {
  std::map<fs::path, std::string> before;
  for (const char* name : {"a.raw", "b.raw"}) {
    auto image = guest(name);
    before[image] = sha_of(image);
  }
  add_library_and_sources();
  ASSERT_EQ(create({"t", "--all", "--max-concurrent", "1"}).exit_code, 0);
  ProcessResult result;
  std::thread runner([&] { result = run("t"); });
  ASSERT_TRUE(wait_for_item_state("running", std::chrono::seconds(120)));
  const auto pid = std::stoi(sqlite_query(catalog(), "SELECT runner_pid FROM job_runs"));
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  runner.join();
  auto stopped = nlohmann::json::parse(result.out);
  EXPECT_EQ(stopped["state"], "interrupted") << stopped.dump(2);
  for (const auto& [image, sha] : before) expect_intact_or_committed(image, sha);
  expect_no_work_left();

  auto resumed = cli({"job", "resume", "t", "--json", "--cache-dir", cache_arg()});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  auto report = nlohmann::json::parse(resumed.out);
  EXPECT_EQ(report["state"], "done");
  for (const auto& item : report["items"]) EXPECT_EQ(item["state"], "done") << item.dump(2);
  for (const auto& [image, sha] : before) {
    EXPECT_NE(sha_of(image), sha);
    expect_intact_or_committed(image, sha);
  }
  expect_no_work_left();
}

// "YYYY-MM-DD" of the UTC day `days` after today. The daemon counts fire
// times from a job's creation (now), so the instants it is asked about
// (--at) must come after today, whatever day the suite runs.
std::string utc_day_from_today(int days) {
  const auto day =
      std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now()) + std::chrono::days(days);
  return fmt::format("{:%Y-%m-%d}", std::chrono::sys_days(day));
}

TEST_F(CliJob, TheDaemonStartsDueSchedulesInsideTheirWindowOnly) {
  const auto image = guest("a.raw");
  const auto sha = sha_of(image);
  add_library_and_sources();
  ASSERT_EQ(create({"night", "--all", "--schedule", "0 22 * * *", "--window", "22:00-04:00"}).exit_code, 0);
  ASSERT_EQ(create({"noon", "--all", "--schedule", "0 12 * * *", "--window", "22:00-04:00"}).exit_code, 0);
  auto daemon = [&](const std::string& at) {
    auto r = cli({"daemon", "--once", "--at", at, "--cache-dir", cache_arg()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r;
  };
  const std::string day1 = utc_day_from_today(1), day4 = utc_day_from_today(4);
  // 21:59: noon's 12:00 fire time is outside its window: skipped (logged);
  // night's first fire time has not come.
  auto r = daemon(day1 + "T21:59");
  EXPECT_NE(r.err.find("job noon: fire time " + day1 + "T12:00:00Z is outside its window"), std::string::npos)
      << r.err;
  EXPECT_EQ(sqlite_query(catalog(), "SELECT count(*) FROM job_runs"), "0");
  // 22:05: night's 22:00 is due and inside its window.
  daemon(day1 + "T22:05");
  EXPECT_EQ(sqlite_query(catalog(), "SELECT job_name || ':' || run_trigger || ':' || state FROM job_runs"),
            "night:schedule:done");
  EXPECT_EQ(sqlite_query(catalog(), "SELECT last_fire FROM jobs WHERE name = 'night'"), day1 + "T22:00:00Z");
  EXPECT_NE(sha_of(image), sha);
  // Same night again: already fired.
  daemon(day1 + "T23:00");
  EXPECT_EQ(sqlite_query(catalog(), "SELECT count(*) FROM job_runs"), "1");
  // Three nights later: the missed fire times coalesce into one run.
  daemon(day4 + "T22:30");
  EXPECT_EQ(sqlite_query(catalog(), "SELECT count(*) FROM job_runs WHERE job_name = 'night'"), "2");
  EXPECT_EQ(sqlite_query(catalog(), "SELECT last_fire FROM jobs WHERE name = 'night'"), day4 + "T22:00:00Z");
}

}  // namespace
}  // namespace dormant::testing
