// Parent side of the resolver worker (see worker.hpp): runs the worker, reads
// its lines as they come, and restarts it after a crash or a hang.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <system_error>

#include "dormant/assess/download.hpp"
#include "dormant/assess/worker.hpp"

extern char** environ;

namespace dormant::assess {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kMinLoadTimeout = std::chrono::minutes(5);

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << text;
  if (!file.flush()) fail(ErrorKind::io, path.string(), "cannot write");
}

// The last bytes the worker wrote to stderr, for error messages.
std::string stderr_tail(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  constexpr std::size_t kTail = 400;
  if (text.size() > kTail) text = "..." + text.substr(text.size() - kTail);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

// One running worker: its pid and the read end of its stdout.
class WorkerProcess {
 public:
  WorkerProcess(const fs::path& exe, const fs::path& request, const fs::path& stderr_file) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
      fail(ErrorKind::io, "resolver worker", "pipe: {}", std::strerror(errno));
    read_fd_ = fds[0];
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_addopen(&actions, 2, stderr_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const std::string exe_s = exe.string(), request_s = request.string();
    std::string verb = "__resolve-worker";
    char* argv[] = {const_cast<char*>(exe_s.c_str()), verb.data(), const_cast<char*>(request_s.c_str()),
                    nullptr};
    const int rc = ::posix_spawn(&pid_, exe_s.c_str(), &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    if (rc != 0) {
      ::close(read_fd_);
      fail(ErrorKind::io, exe_s, "cannot start the resolver worker: {}", std::strerror(rc));
    }
  }
  ~WorkerProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      reap();
    }
    if (read_fd_ >= 0) ::close(read_fd_);
  }
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  enum class Read { line, eof, timeout };

  // The next line of stdout, waiting until `deadline`.
  Read next_line(Clock::time_point deadline, std::string& line) {
    for (;;) {
      if (const auto nl = buffer_.find('\n'); nl != std::string::npos) {
        line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return Read::line;
      }
      if (eof_) return Read::eof;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return Read::timeout;
      pollfd pfd{read_fd_, POLLIN, 0};
      const int ready = ::poll(&pfd, 1, static_cast<int>(std::min<long long>(left.count(), 60'000)));
      if (ready < 0 && errno != EINTR)
        fail(ErrorKind::io, "resolver worker", "poll: {}", std::strerror(errno));
      if (ready <= 0) continue;
      char chunk[65536];
      const ssize_t n = ::read(read_fd_, chunk, sizeof chunk);
      if (n < 0 && errno != EINTR && errno != EAGAIN)
        fail(ErrorKind::io, "resolver worker", "read: {}", std::strerror(errno));
      if (n == 0) eof_ = true;
      if (n > 0) buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  void kill() {
    if (pid_ > 0) ::kill(pid_, SIGKILL);
  }

  // Waits for the worker; how it ended, as "signal 11" / "exit status 1".
  std::string reap() {
    int status = 0;
    while (pid_ > 0 && ::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
    return "exit status " + std::to_string(WEXITSTATUS(status));
  }

 private:
  pid_t pid_ = -1;
  int read_fd_ = -1;
  std::string buffer_;
  bool eof_ = false;
};

void set_error(WorkerResult& result, ErrorKind kind, std::string message) {
  result.resolution.reset();
  result.kind = kind;
  result.error = std::move(message);
}

}  // namespace

std::vector<WorkerResult> resolve_in_worker(const fs::path& dormant_exe, const UniverseOptions& options,
                                            const std::vector<WorkerJob>& jobs,
                                            std::chrono::milliseconds timeout_per_job) {
  std::vector<WorkerResult> results(jobs.size());
  const fs::path jobs_dir = options.work_dir / "jobs";
  std::error_code ec;
  fs::remove_all(jobs_dir, ec);
  fs::create_directories(jobs_dir, ec);
  fs::permissions(jobs_dir, fs::perms::owner_all, ec);  // guest data: the owner only
  if (ec) fail(ErrorKind::io, jobs_dir.string(), "cannot create directory: {}", ec.message());

  nlohmann::json job_list = nlohmann::json::array();
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    results[i].key = jobs[i].key;
    // Keys are the caller's names: never part of a path.
    const fs::path status = jobs_dir / ("job-" + std::to_string(i) + ".status");
    const fs::path states = jobs_dir / ("job-" + std::to_string(i) + ".extended_states");
    write_text(status, jobs[i].status);
    write_text(states, jobs[i].extended_states);
    job_list.push_back({{"key", jobs[i].key},
                        {"status_file", status},
                        {"extended_states_file", states},
                        {"options", jobs[i].options}});
  }

  const auto load_timeout = std::max(timeout_per_job, kMinLoadTimeout);
  std::size_t next = 0;
  for (int run = 0; next < jobs.size(); ++run) {
    const fs::path request = jobs_dir / ("request-" + std::to_string(run) + ".json");
    const fs::path stderr_file = jobs_dir / ("worker-" + std::to_string(run) + ".stderr");
    nlohmann::json pending(job_list.begin() + static_cast<std::ptrdiff_t>(next), job_list.end());
    write_text(request, nlohmann::json{{"options", options}, {"jobs", std::move(pending)}}.dump());

    WorkerProcess worker(dormant_exe, request, stderr_file);
    bool ready = false;
    std::string fatal;
    auto deadline = Clock::now() + load_timeout;
    std::string line;
    for (;;) {
      const auto read = worker.next_line(deadline, line);
      if (read == WorkerProcess::Read::line) {
        const auto msg = nlohmann::json::parse(line, nullptr, false);
        if (!msg.is_object()) continue;  // not ours (a library printing to stdout)
        if (msg.contains("ready")) {
          ready = true;
        } else if (msg.contains("fatal") && msg["fatal"].is_string()) {
          fatal = msg["fatal"].get<std::string>();
        } else if (next < jobs.size() && msg.value("key", std::string()) == jobs[next].key) {
          WorkerResult& result = results[next++];
          try {
            if (msg.contains("resolution")) {
              result.resolution = msg["resolution"].get<Resolution>();
            } else {
              const auto& error = msg.at("error");
              set_error(result, error_kind_from_string(error.at("kind").get<std::string>()),
                        error.at("message").get<std::string>());
            }
          } catch (const nlohmann::json::exception& e) {
            set_error(result, ErrorKind::internal,
                      std::string("unreadable resolver worker answer: ") + e.what());
          }
        }
        if (ready) deadline = Clock::now() + timeout_per_job;
        if (next == jobs.size()) break;
        continue;
      }
      if (read == WorkerProcess::Read::timeout) {
        worker.kill();
        worker.reap();
        if (!ready) {
          for (std::size_t i = next; i < jobs.size(); ++i)
            set_error(results[i], ErrorKind::limit,
                      fmt::format("resolver worker did not load the update sources within {} s",
                                  std::chrono::duration_cast<std::chrono::seconds>(load_timeout).count()));
          return results;
        }
        set_error(results[next++], ErrorKind::limit,
                  fmt::format("resolver worker timed out after {} ms on this image's package database",
                              timeout_per_job.count()));
        break;
      }
      // EOF: the worker is gone.
      const std::string how = worker.reap();
      if (next == jobs.size()) break;
      if (!ready) {
        // It died before (or while) loading the universe: another try would too.
        std::string why = !fatal.empty() ? fatal : stderr_tail(stderr_file);
        for (std::size_t i = next; i < jobs.size(); ++i)
          if (results[i].error.empty() && !results[i].resolution)
            set_error(results[i], ErrorKind::internal,
                      fmt::format("resolver worker failed ({}) before resolving anything{}{}", how,
                                  why.empty() ? "" : ": ", why));
        return results;
      }
      const bool signalled = how.starts_with("signal");
      set_error(results[next++], signalled ? ErrorKind::corrupt : ErrorKind::internal,
                fmt::format("resolver worker {} ({}) while reading this image's package database",
                            signalled ? "crashed" : "exited", how));
      break;
    }
  }
  return results;
}

std::vector<DownloadedPackage> download_in_worker(const fs::path& dormant_exe, const UniverseOptions& options,
                                                  const std::vector<PackageRef>& packages,
                                                  const fs::path& archives_dir,
                                                  std::chrono::milliseconds timeout) {
  const fs::path dir = options.work_dir / "download";
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) fail(ErrorKind::io, dir.string(), "cannot create directory: {}", ec.message());
  const fs::path request = dir / "request.json";
  const fs::path stderr_file = dir / "worker.stderr";
  nlohmann::json refs = nlohmann::json::array();
  for (const auto& p : packages) refs.push_back(p);
  write_text(request,
             nlohmann::json{{"options", options},
                            {"jobs", nlohmann::json::array()},
                            {"download", {{"archives_dir", archives_dir.string()}, {"packages", refs}}}}
                 .dump());

  WorkerProcess worker(dormant_exe, request, stderr_file);
  const auto deadline = Clock::now() + timeout;
  std::string line, fatal;
  for (;;) {
    const auto read = worker.next_line(deadline, line);
    if (read == WorkerProcess::Read::timeout) {
      worker.kill();
      worker.reap();
      fail(ErrorKind::limit, "download", "resolver worker did not finish the download within {} ms",
           timeout.count());
    }
    if (read == WorkerProcess::Read::eof) {
      const std::string how = worker.reap();
      const std::string why = !fatal.empty() ? fatal : stderr_tail(stderr_file);
      fail(ErrorKind::internal, "download", "resolver worker ended ({}) without an answer{}{}", how,
           why.empty() ? "" : ": ", why);
    }
    const auto msg = nlohmann::json::parse(line, nullptr, false);
    if (!msg.is_object()) continue;  // not ours (a library printing to stdout)
    if (msg.contains("fatal") && msg["fatal"].is_string()) fatal = msg["fatal"].get<std::string>();
    try {
      if (msg.contains("downloaded")) return msg["downloaded"].get<std::vector<DownloadedPackage>>();
      if (msg.contains("error") && !msg.contains("key")) {
        const auto& error = msg["error"];
        throw Error(error_kind_from_string(error.at("kind").get<std::string>()),
                    error.value("subject", std::string()), error.at("message").get<std::string>());
      }
    } catch (const nlohmann::json::exception& e) {
      fail(ErrorKind::internal, "download", "unreadable resolver worker answer: {}", e.what());
    }
  }
}

}  // namespace dormant::assess
