#include "item_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "dormant/core/error.hpp"

namespace dormant::jobs::detail {

ItemProcess spawn_item(const std::vector<std::string>& argv, const std::filesystem::path& out,
                       const std::filesystem::path& err) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) fail(ErrorKind::io, argv.front(), "fork: {}", std::strerror(errno));
  if (pid == 0) {
    // Only async-signal-safe calls from here to exec.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the runner died before prctl
    int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (in < 0 || o < 0 || e < 0 || ::dup2(in, 0) < 0 || ::dup2(o, 1) < 0 || ::dup2(e, 2) < 0) ::_exit(127);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ItemProcess p;
  p.pid = pid;
  p.out = out;
  p.err = err;
  p.started = std::chrono::steady_clock::now();
  return p;
}

std::optional<int> poll_exit(const ItemProcess& process) {
  int status = 0;
  pid_t r = ::waitpid(process.pid, &status, WNOHANG);
  if (r == process.pid) return status;
  if (r < 0 && errno == ECHILD) return 0;  // reaped elsewhere: treat as exited
  return std::nullopt;
}

int kill_and_reap(const ItemProcess& process) {
  ::kill(process.pid, SIGKILL);
  int status = 0;
  while (::waitpid(process.pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

}  // namespace dormant::jobs::detail
