// Crash injection for offline jobs: a `dormant job run` over two real guests
// (two patch processes at once) is SIGKILLed together with its patch
// processes (the whole process group, as a power loss would) at every step
// boundary of the runner and of the patch, and at seeded random instants.
// Then `dormant job resume` must finish the run, and:
//   - every library image is byte-identical to its original or is the
//     committed, recorded, fsck-clean patched version (here: patched, since
//     resume finishes the job);
//   - nothing of any run is left (work directories, cache scratch);
//   - the record agrees with reality: every start event has its finish, no
//     patch run is left running, every item is done with result committed.
// Each scenario prints one line "crash: <how> -> <result>" for the note.
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>
#include <thread>

#include "dormant/core/sha256.hpp"
#include "job_fixture.hpp"
#include "support/sqlite_query.hpp"

namespace dormant::testing {
namespace {

namespace fs = std::filesystem;

class JobCrash : public JobTest {
 protected:
  struct Crash {
    bool killed = false;  // the group died by SIGKILL (not a normal exit first)
    int status = 0;
    std::chrono::milliseconds ran{0};  // how long it ran, when it exited before its kill
  };

  // Sets up a fresh scenario: two guests, sources, a job over both at once.
  void prepare(const std::string& name) {
    use_fresh_root(name);
    originals_.clear();
    for (const char* file : {"a.raw", "b.raw"}) {
      auto image = guest(file);
      originals_[image] = sha256_file(image).sha256;
    }
    add_library_and_sources();
    auto r = cli({"job", "create", "j", "--all", "--max-concurrent", "2"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  // `dormant job run j` in a session of its own; killed as a group by the
  // hook at `kill_at`, or by this test after `after` when kill_at is "".
  Crash run_and_crash(const std::string& kill_at, std::chrono::milliseconds after) {
    std::vector<std::string> env;
    if (!kill_at.empty()) env = {"DORMANT_TEST_KILL_AT=" + kill_at, "DORMANT_TEST_KILL_GROUP=1"};
    const int pid = spawn_in_session({dormant::testing::cli_path(), "--catalog", catalog().string(), "job",
                                      "run", "j", "--cache-dir", cache().string()},
                                     env);
    Crash crash;
    if (kill_at.empty()) {
      const auto started = std::chrono::steady_clock::now();
      const auto deadline = started + after;
      while (std::chrono::steady_clock::now() < deadline) {
        if (::waitpid(pid, &crash.status, WNOHANG) == pid) {  // it finished first
          ::kill(-pid, SIGKILL);
          crash.ran = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                            started);
          return crash;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      ::kill(-pid, SIGKILL);
    }
    crash.killed = reap_session(pid);
    // The item processes die with the runner (PR_SET_PDEATHSIG) or the group kill.
    EXPECT_EQ(processes_left(catalog().string(), std::chrono::seconds(10)), "")
        << "processes of the killed run outlived it";
    return crash;
  }

  // Resumes (or, when the crash came before the run was recorded, runs) the
  // job and checks every invariant. Returns a summary for the log.
  std::string resume_and_check() {
    reconcile_lines_ = 0;
    const bool recorded = sqlite_query(catalog(), "SELECT count(*) FROM job_runs") != "0";
    const bool finished =
        recorded && sqlite_query(catalog(), "SELECT state FROM job_runs ORDER BY id DESC LIMIT 1") == "done";
    std::string how = "nothing to resume (the run had finished)";
    if (!finished) {
      auto r = recorded ? cli({"job", "resume", "j", "--json", "--cache-dir", cache().string()})
                        : cli({"job", "run", "j", "--json", "--cache-dir", cache().string()});
      EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
      how = recorded ? "resumed" : "run again (no run was recorded)";
      reconcile_lines_ = 0;
      resume_log_ = r.err;
      for (std::size_t at = r.err.find("reconcile:"); at != std::string::npos;
           at = r.err.find("reconcile:", at + 1))
        ++reconcile_lines_;
    }
    EXPECT_EQ(sqlite_query(catalog(), "SELECT state FROM job_runs ORDER BY id DESC LIMIT 1"), "done");
    EXPECT_EQ(sqlite_query(catalog(),
                           "SELECT group_concat(state || '/' || result) FROM job_items WHERE run_id = "
                           "(SELECT max(id) FROM job_runs)"),
              "done/committed,done/committed");
    EXPECT_EQ(sqlite_query(catalog(), "SELECT count(*) FROM patch_runs WHERE state = 'running'"), "0");
    for (const auto& [image, sha] : originals_) {
      EXPECT_NE(sha256_file(image).sha256, sha) << image << " was not patched by the resumed run";
      expect_intact_or_committed(image, sha);
    }
    peak_running();  // every start has its finish
    expect_no_work_left();
    const auto attempts = sqlite_query(catalog(), "SELECT max(attempt) FROM job_items");
    return fmt::format("{}, {} reconcile action(s), most attempts {}", how, reconcile_lines_, attempts);
  }

  // One crash and resume; returns what the crash was.
  Crash scenario(const std::string& name, const std::string& kill_at, std::chrono::milliseconds after) {
    prepare(name);
    if (HasFatalFailure()) return {};
    const auto crash = run_and_crash(kill_at, after);
    const std::string how =
        kill_at.empty() ? fmt::format("SIGKILL after {} ms", after.count()) : "SIGKILL at " + kill_at;
    if (!kill_at.empty()) {
      EXPECT_TRUE(crash.killed) << "the kill point " << kill_at << " was never reached";
    }
    const auto result = resume_and_check();
    std::printf("crash: %s (%s) -> %s%s\n", how.c_str(), crash.killed ? "killed" : "had exited",
                result.c_str(), HasFailure() ? " FAILED" : "");
    if (HasFailure()) std::printf("resume said:\n%s\n", resume_log_.c_str());
    ++crashes_;
    if (crash.killed) ++killed_;
    return crash;
  }

  std::map<fs::path, std::string> originals_;
  std::size_t reconcile_lines_ = 0;
  std::string resume_log_;
  int crashes_ = 0, killed_ = 0;
};

// Every step boundary: the runner's (run recorded, item claimed, process
// started, item ended) and the patch's (each step's record durable, the
// commit begun, committed).
TEST_F(JobCrash, SigkillAtEveryStepBoundaryThenResume) {
  std::vector<std::string> points{"job-run-recorded", "job-claimed", "job-spawned", "planned",   "downloaded",
                                  "staged",           "verified",    "flattened",   "committed", "job-ended"};
  if (const char* only = std::getenv("DORMANT_CRASH_POINT")) points = {only};  // to debug one
  for (const auto& point : points) {
    SCOPED_TRACE(point);
    scenario(point, point, {});
    if (HasFatalFailure()) return;
  }
  RecordProperty("crashes", crashes_);
  EXPECT_EQ(killed_, static_cast<int>(points.size()));
}

// Seeded random instants over the whole run (fetch, dispatch, patch, commit,
// settle). Four shards of ten so ctest runs them in parallel. A kill that
// comes after the run finished is still checked (and reported as such).
class JobCrashRandom : public JobCrash, public ::testing::WithParamInterface<int> {};

TEST_P(JobCrashRandom, SigkillAtRandomInstantsThenResume) {
  const int shard = GetParam();
  std::mt19937 rng(static_cast<unsigned>(20261129 + shard));
  // Calibration: how long the same job takes uncrashed on this machine now
  // (about 3 s idle); the kills spread over 0-95% of that.
  prepare("calibration");
  ASSERT_FALSE(HasFatalFailure());
  const auto start = std::chrono::steady_clock::now();
  auto r = cli({"job", "run", "j", "--cache-dir", cache().string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto took =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  // Ten instants, each drawn from 0-95% of an uncrashed run's time. The
  // machine's load changes while the shard runs (the slow tier's guests run
  // beside it), so a run can finish before its kill: the instant is then
  // drawn again from 0-95% of that run's own time, up to three times, and
  // every one of the ten must have killed a run mid-way. A shard whose runs
  // ended before their kills would test resume after a clean finish only.
  int landed = 0;
  for (int i = 0; i < 10; ++i) {
    int ms = std::uniform_int_distribution<int>(0, static_cast<int>(took.count() * 95 / 100))(rng);
    for (int attempt = 0; attempt < 3; ++attempt) {
      SCOPED_TRACE(fmt::format("shard {} run {}.{}: {} ms", shard, i, attempt, ms));
      const auto crash = scenario(fmt::format("r{}-{}", i, attempt), "", std::chrono::milliseconds(ms));
      if (HasFatalFailure()) return;
      if (crash.killed) {
        ++landed;
        break;
      }
      ms = std::uniform_int_distribution<int>(0, static_cast<int>(crash.ran.count() * 95 / 100))(rng);
    }
  }
  RecordProperty("killed", killed_);
  std::printf("crash shard %d: %d runs, %d killed mid-run, %d of 10 instants landed\n", shard, crashes_,
              killed_, landed);
  EXPECT_EQ(landed, 10) << "only " << landed << " of 10 instants killed a run mid-way (" << crashes_
                        << " runs)";
}

// One suite per shard, so that ctest (one process per suite) runs the shards
// in parallel.
INSTANTIATE_TEST_SUITE_P(Shard0, JobCrashRandom, ::testing::Values(0));
INSTANTIATE_TEST_SUITE_P(Shard1, JobCrashRandom, ::testing::Values(1));
INSTANTIATE_TEST_SUITE_P(Shard2, JobCrashRandom, ::testing::Values(2));
INSTANTIATE_TEST_SUITE_P(Shard3, JobCrashRandom, ::testing::Values(3));

}  // namespace
}  // namespace dormant::testing
