// Load on the REST API (`dormant serve`): 50 clients, each with its own
// keep-alive connection, poll `GET /api/v1/runs/{id}` on loopback for 60 s
// (DORMANT_LOAD_SECONDS overrides) while a real offline job runs: small real
// guests (tests/fixtures/make-patch-guest.sh), the signed loopback repository,
// one image at a time so that a run lasts. When a run ends inside the time,
// one of the clients puts the pristine guests back (an offline update stays
// staged until the guest boots, and a second run over a staged image fails
// it: docs/jobs.md, known limits) and starts the next run through the API,
// so that a job runs throughout.
//
// Checked: no error at all (transport, status, body), at least one request
// per client-second on average, every run done. The latency percentiles go to
// stdout (one line) and to $DORMANT_TEST_ARTIFACTS/api_load.json.
#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <optional>
#include <regex>
#include <thread>

#include "job_fixture.hpp"

namespace dormant::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kClients = 50;
constexpr const char* kJob = "load";
const std::vector<std::string> kImages = {"a.raw", "b.raw", "c.raw", "d.raw"};

double load_seconds() {
  if (const char* text = std::getenv("DORMANT_LOAD_SECONDS"); text && *text) {
    const double seconds = std::strtod(text, nullptr);
    if (seconds > 0) return seconds;
  }
  return 60;
}

fs::path artifacts_dir() {
  const char* dir = std::getenv("DORMANT_TEST_ARTIFACTS");
  // ctest's ENVIRONMENT does not reach tests discovered before it was set;
  // the build's artifact directory is the default either way.
  fs::path out = dir && *dir ? fs::path(dir) : dormant::testing::build_root() / "test-artifacts/load";
  fs::create_directories(out);
  return out;
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return fmt::format("{} {} {}", one, five, fifteen);
}

bool terminal(const std::string& state) { return state != "running"; }

// `dormant --catalog C serve --listen 127.0.0.1:0 --cache-dir D` (the test's
// own cache, not the shared default one) in a process group of its own;
// stdout and stderr to a log file.
class Server {
 public:
  Server(const fs::path& catalog, const fs::path& cache, const fs::path& log) : log_(log) {
    std::vector<std::string> args{dormant::testing::cli_path(), "--catalog",   catalog.string(), "serve",
                                  "--listen",       "127.0.0.1:0", "--cache-dir",    cache.string()};
    const std::string log_path = log.string();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      const int null = ::open("/dev/null", O_RDONLY);
      if (fd < 0 || null < 0) ::_exit(127);
      ::dup2(null, 0);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }
  ~Server() { stop(); }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The port from `dormant: listening on http://127.0.0.1:PORT`, or nullopt
  // when the server exits or says nothing within `limit`.
  std::optional<int> wait_for_port(std::chrono::seconds limit) {
    const std::regex listening(R"(dormant: listening on http://127\.0\.0\.1:([0-9]+))");
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      std::smatch m;
      const std::string text = log_text();
      if (std::regex_search(text, m, listening)) return std::stoi(m[1].str());
      int status = 0;
      if (pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return std::nullopt;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return std::nullopt;
  }

  std::string log_text() const {
    std::ifstream in(log_);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  // SIGTERM, up to 20 s for it to exit, then SIGKILL; then whatever is left
  // of its process group.
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (Clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::kill(-pid_, SIGKILL);
    pid_ = -1;
  }

 private:
  fs::path log_;
  pid_t pid_ = -1;
};

std::unique_ptr<httplib::Client> client(int port, const std::string& token) {
  auto c = std::make_unique<httplib::Client>("127.0.0.1", port);
  c->set_keep_alive(true);
  c->set_bearer_token_auth(token.c_str());
  c->set_connection_timeout(std::chrono::seconds(10));
  c->set_read_timeout(std::chrono::seconds(60));
  c->set_write_timeout(std::chrono::seconds(10));
  return c;
}

// The run state in a `GET /runs/{id}` answer, or why the answer is wrong.
struct Poll {
  std::string state;
  std::string error;  // empty when the answer is a good one
};

Poll check_run_answer(const httplib::Result& res, std::int64_t run) {
  if (!res) return {"", fmt::format("transport error: {}", httplib::to_string(res.error()))};
  if (res->status != 200) return {"", fmt::format("status {}: {}", res->status, res->body.substr(0, 300))};
  auto j = nlohmann::json::parse(res->body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return {"", "body is not JSON: " + res->body.substr(0, 300)};
  if (!j.is_object() || !j.contains("run") || !j["run"].is_object() || !j["run"].contains("state") ||
      !j["run"]["state"].is_string())
    return {"", "no run.state in: " + res->body.substr(0, 300)};
  if (j["run"].value("id", std::int64_t{0}) != run)
    return {"", fmt::format("asked for run {}, got: {}", run, res->body.substr(0, 300))};
  return {j["run"]["state"].get<std::string>(), ""};
}

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

class ApiLoad : public JobTest {
 protected:
  // Puts the pristine guest back in place of each (patched) library image
  // with one rename (a hidden name is skipped by identify), then identify
  // records the change: the job's patch processes run with --no-identify.
  void restore_images() {
    for (const auto& name : kImages) {
      const fs::path staged = guest("." + name + ".restore");
      fs::rename(staged, library_ / name);
    }
    auto r = cli({"identify"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

 public:
  // The catalog (with its WAL) and the server's log, to the artifacts
  // directory, for a failed run to be looked into.
  void keep_evidence() {
    const fs::path dir = artifacts_dir() / "api_load_failed";
    std::error_code ec;
    fs::create_directories(dir, ec);
    for (const char* suffix : {"", "-wal", "-shm"}) {
      const fs::path from = catalog().string() + suffix;
      if (fs::exists(from, ec))
        fs::copy_file(from, dir / from.filename(), fs::copy_options::overwrite_existing, ec);
    }
    fs::copy_file(root_ / "serve.log", dir / "serve.log", fs::copy_options::overwrite_existing, ec);
    std::cout << "api load: the catalog and the server's log are kept in " << dir << std::endl;
  }

 protected:
  // POST /jobs/{name}/runs: the new run's id, or 0 (and a failure).
  std::int64_t start_run(httplib::Client& c, bool offline) {
    const nlohmann::json body = offline ? nlohmann::json{{"offline", true}} : nlohmann::json::object();
    auto res = c.Post(fmt::format("/api/v1/jobs/{}/runs", kJob).c_str(), body.dump(), "application/json");
    if (!res) {
      ADD_FAILURE() << "POST runs: transport error: " << httplib::to_string(res.error());
      return 0;
    }
    if (res->status != 202) {
      ADD_FAILURE() << "POST runs: status " << res->status << ": " << res->body;
      return 0;
    }
    auto j = nlohmann::json::parse(res->body, nullptr, false);
    if (j.is_discarded() || !j.contains("run") || !j["run"].contains("id") || !j["run"]["id"].is_number()) {
      ADD_FAILURE() << "POST runs: no run.id in: " << res->body;
      return 0;
    }
    return j["run"]["id"].get<std::int64_t>();
  }
};

TEST_F(ApiLoad, FiftyClientsPollARunningJobWithoutErrors) {
  for (const auto& name : kImages) guest(name);
  add_library_and_sources();
  if (HasFatalFailure()) return;
  auto created = cli({"job", "create", kJob, "--all", "--max-concurrent", "1"});
  ASSERT_EQ(created.exit_code, 0) << created.err;

  Server server(catalog(), cache(), root_ / "serve.log");
  const auto port = server.wait_for_port(std::chrono::seconds(30));
  ASSERT_TRUE(port) << "dormant serve did not say where it listens:\n" << server.log_text();
  std::string token = read_file_text(fs::path(catalog().string() + ".api-token"));
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  ASSERT_EQ(token.size(), 64u) << token;

  auto control = client(*port, token);
  std::vector<std::int64_t> runs;  // written by client 0 only, read after the join
  const std::int64_t first = start_run(*control, /*offline=*/false);
  ASSERT_GT(first, 0) << server.log_text();
  runs.push_back(first);
  std::atomic<std::int64_t> current{first};

  const double seconds = load_seconds();
  const auto load_before = load_average();
  std::vector<std::vector<double>> latencies(kClients);  // milliseconds, per client
  std::vector<std::size_t> error_counts(kClients, 0);
  std::mutex errors_mutex;
  std::vector<std::string> errors;  // the first few, for the failure message
  std::atomic<bool> driver_failed{false};

  const auto start = Clock::now();
  const auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      auto c = client(*port, token);
      auto& mine = latencies[static_cast<std::size_t>(i)];
      mine.reserve(20000);
      while (Clock::now() < end) {
        const std::int64_t run = current.load();
        const auto t0 = Clock::now();
        auto res = c->Get(fmt::format("/api/v1/runs/{}", run).c_str());
        const auto t1 = Clock::now();
        mine.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        const Poll poll = check_run_answer(res, run);
        if (!poll.error.empty()) {
          ++error_counts[static_cast<std::size_t>(i)];
          std::lock_guard lock(errors_mutex);
          if (errors.size() < 10) errors.push_back(fmt::format("client {}: run {}: {}", i, run, poll.error));
          continue;
        }
        // Client 0 keeps a job running: the next run when this one ended.
        if (i == 0 && terminal(poll.state) && Clock::now() < end && !driver_failed) {
          restore_images();
          const std::int64_t next = HasFailure() ? 0 : start_run(*c, /*offline=*/true);
          if (next == 0) {
            driver_failed = true;
            continue;
          }
          runs.push_back(next);
          current = next;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const auto load_after = load_average();

  std::vector<double> all;
  std::size_t error_total = 0;
  for (int i = 0; i < kClients; ++i) {
    all.insert(all.end(), latencies[static_cast<std::size_t>(i)].begin(),
               latencies[static_cast<std::size_t>(i)].end());
    error_total += error_counts[static_cast<std::size_t>(i)];
  }
  std::sort(all.begin(), all.end());

  // The last run finishes (unloaded) before its state is judged. A failure
  // from here on keeps the evidence (keep_evidence) before it returns.
  struct Keep {
    ApiLoad* test;
    ~Keep() {
      if (test->HasFailure()) test->keep_evidence();
    }
  } keep{this};
  std::string last_state;
  const auto settle_deadline = Clock::now() + std::chrono::seconds(300);
  while (Clock::now() < settle_deadline) {
    const Poll poll =
        check_run_answer(control->Get(fmt::format("/api/v1/runs/{}", runs.back()).c_str()), runs.back());
    if (!poll.error.empty()) {
      ADD_FAILURE() << "after the load: " << poll.error;
      break;
    }
    last_state = poll.state;
    if (terminal(last_state)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  nlohmann::json run_states = nlohmann::json::object();
  for (const auto run : runs) {
    auto res = control->Get(fmt::format("/api/v1/runs/{}", run).c_str());
    const Poll poll = check_run_answer(res, run);
    run_states[std::to_string(run)] = poll.error.empty() ? poll.state : "?";
    EXPECT_TRUE(poll.error.empty()) << "after the load: " << poll.error;
    if (poll.error.empty()) {
      EXPECT_EQ(poll.state, "done") << "run " << run << ": " << res->body.substr(0, 4000);
    }
  }

  const double rate = static_cast<double>(all.size()) / elapsed;
  const nlohmann::json summary = {{"clients", kClients},
                                  {"seconds", elapsed},
                                  {"requests", all.size()},
                                  {"errors", error_total},
                                  {"requests_per_second", rate},
                                  {"latency_ms",
                                   {{"p50", percentile(all, 0.50)},
                                    {"p90", percentile(all, 0.90)},
                                    {"p99", percentile(all, 0.99)},
                                    {"max", all.empty() ? 0.0 : all.back()}}},
                                  {"job_runs", runs.size()},
                                  {"run_states", run_states},
                                  {"loadavg_before", load_before},
                                  {"loadavg_after", load_after}};
  std::cout
      << fmt::format(
             "api load: {} clients, {:.1f} s, {} requests, {} errors, {:.0f} req/s, latency ms p50 {:.2f} "
             "p90 {:.2f} p99 {:.2f} max {:.2f}, {} job runs, loadavg {} -> {}",
             kClients, elapsed, all.size(), error_total, rate, percentile(all, 0.50), percentile(all, 0.90),
             percentile(all, 0.99), all.empty() ? 0.0 : all.back(), runs.size(), load_before, load_after)
      << std::endl;
  fs::create_directories(artifacts_dir());
  write_file(artifacts_dir() / "api_load.json", summary.dump(2) + "\n");

  EXPECT_EQ(error_total, 0u) << fmt::format("{}", fmt::join(errors, "\n"));
  EXPECT_FALSE(driver_failed) << "a new run could not be started";
  // At least one answer per client-second on average: a server that
  // serialises the clients behind a slow request, or stalls, fails this.
  EXPECT_GT(static_cast<double>(all.size()), kClients * seconds) << fmt::format("{:.0f} req/s", rate);
  EXPECT_TRUE(terminal(last_state)) << "run " << runs.back() << " still " << last_state << " after 300 s";
  server.stop();
}

}  // namespace
}  // namespace dormant::testing
