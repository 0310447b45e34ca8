// `dormant daemon`: resumes runs whose runner died, then starts scheduled
// runs at their cron times. Each run is its own `dormant job` process, so a
// run that crashes takes nothing else with it and the daemon stays small.
#include <fcntl.h>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <thread>

#include "dormant/core/error.hpp"
#include "dormant/core/process.hpp"
#include "dormant/jobs/jobs.hpp"
#include "dormant/schedule/cron.hpp"
#include "dormant/schedule/window.hpp"

namespace dormant::jobs {
namespace {

namespace fs = std::filesystem;
using std::chrono::sys_seconds;

// ISO 8601 UTC, as the catalog writes times.
std::string iso(sys_seconds t) { return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", t); }

std::optional<sys_seconds> parse_iso(const std::string& text) {
  std::tm tm{};
  if (text.size() < 20 || ::strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm) == nullptr) return std::nullopt;
  return sys_seconds(std::chrono::seconds(::timegm(&tm)));
}

// One daemon per catalog: an flock beside it, held for the process's life.
int lock_catalog(const fs::path& catalog_path) {
  const fs::path lock = catalog_path.string() + ".daemon.lock";
  int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) fail(ErrorKind::io, lock.string(), "cannot open the daemon lock: {}", std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0)
    fail(ErrorKind::conflict, lock.string(), "another dormant daemon serves this catalog");
  return fd;
}

class Daemon {
 public:
  Daemon(catalog::Catalog& catalog, const DaemonOptions& options) : catalog_(catalog), options_(options) {}

  void run() {
    resume_interrupted();
    for (;;) {
      reap();
      if (stop_requested()) break;
      schedule_pass();
      if (options_.once) break;
      for (auto waited = std::chrono::seconds(0); waited < options_.tick && !stop_requested();
           waited += std::chrono::seconds(1)) {
        reap();
        std::this_thread::sleep_for(std::chrono::seconds(1));
      }
    }
    // --once waits for what it started; a stop forwards SIGTERM: each runner
    // stops its items, reconciles them and leaves its run resumable.
    if (stop_requested())
      for (const auto& [pid, what] : children_) ::kill(pid, SIGTERM);
    while (!children_.empty()) {
      reap();
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

 private:
  void say(const std::string& line) const {
    if (options_.runner.log) options_.runner.log(line);
  }

  void spawn(std::vector<std::string> args, const std::string& what) {
    std::vector<std::string> argv{options_.runner.dormant_exe.string(), "--catalog",
                                  options_.runner.catalog_path.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--cache-dir", options_.runner.cache_dir.string()});
    std::vector<char*> cargs;
    for (auto& a : argv) cargs.push_back(a.data());
    cargs.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) fail(ErrorKind::io, "daemon", "fork: {}", std::strerror(errno));
    if (pid == 0) {
      ::execv(cargs[0], cargs.data());
      ::_exit(127);
    }
    children_[pid] = what;
    say(fmt::format("started {} (pid {})", what, pid));
  }

  void reap() {
    for (auto it = children_.begin(); it != children_.end();) {
      int status = 0;
      if (::waitpid(it->first, &status, WNOHANG) == it->first) {
        say(fmt::format("{} ended ({})", it->second,
                        WIFEXITED(status) ? fmt::format("exit {}", WEXITSTATUS(status))
                                          : fmt::format("signal {}", WTERMSIG(status))));
        it = children_.erase(it);
      } else {
        ++it;
      }
    }
  }

  // Runs the catalog has running (or interrupted) whose runner is gone.
  void resume_interrupted() {
    for (const auto& run : catalog_.job_runs("", 1000)) {
      const bool dead_runner = run.state == "running" && !process_alive(static_cast<pid_t>(run.runner_pid));
      if (!dead_runner && run.state != "interrupted") continue;
      spawn({"job", "resume", std::to_string(run.id)},
            fmt::format("resume of run {} ({})", run.id, run.job_name));
    }
  }

  void schedule_pass() {
    const sys_seconds now = options_.now
                                ? options_.now()
                                : std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    for (const auto& job : catalog_.jobs()) {
      if (job.schedule.empty()) continue;
      const auto cron = schedule::CronSchedule::parse(job.schedule);
      const auto since = parse_iso(job.last_fire.empty() ? job.created_at : job.last_fire);
      if (!since) continue;
      const auto fire = schedule::due(cron, *since, now);
      if (!fire) continue;
      // Recorded before the run starts: a crash in between skips this fire
      // time rather than running it twice.
      catalog_.set_job_last_fire(job.name, iso(*fire));
      if (!job.window.empty()) {
        const auto window = schedule::Window::parse(job.window);
        if (!window.contains(*fire)) {
          say(fmt::format("job {}: fire time {} is outside its window {}; skipped", job.name, iso(*fire),
                          job.window));
          continue;
        }
        if (!window.contains(now)) {
          say(fmt::format("job {}: its window {} closed before fire time {} could be served; skipped",
                          job.name, job.window, iso(*fire)));
          continue;
        }
      }
      bool running = false;
      for (const auto& run : catalog_.job_runs(job.name, 5)) running = running || runner_alive(run);
      if (running) {
        say(fmt::format("job {}: fire time {} skipped, its previous run is still running", job.name,
                        iso(*fire)));
        continue;
      }
      std::vector<std::string> args{"job", "run", job.name, "--trigger", "schedule"};
      if (options_.now) args.push_back("--now");  // a simulated clock: the window was checked against it
      spawn(args, fmt::format("scheduled run of {} for {}", job.name, iso(*fire)));
    }
  }

  catalog::Catalog& catalog_;
  const DaemonOptions& options_;
  std::map<pid_t, std::string> children_;
};

}  // namespace

void run_daemon(catalog::Catalog& catalog, const DaemonOptions& options) {
  const int lock = lock_catalog(options.runner.catalog_path);
  Daemon(catalog, options).run();
  ::close(lock);
}

}  // namespace dormant::jobs
