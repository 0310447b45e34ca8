#include "support/loopback_http.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

#include "support/test_support.hpp"

namespace dormant::testing {

namespace fs = std::filesystem;

namespace {

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// Waits up to `timeout` for pid to exit; true when it did (and was reaped).
bool wait_for_exit(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno != EINTR)) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

fs::path http_server_script() {
  return source_dir() / "tests/support/http_server.py";
}

LoopbackHttpServer::LoopbackHttpServer(const fs::path& root, LoopbackHttpOptions options) {
  if (!fs::is_directory(root)) throw std::runtime_error(root.string() + ": not a directory to serve");
  // Debian's python3 first: a pyenv shim in PATH costs a second per start.
  const std::string python = fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  std::vector<std::string> args{python, http_server_script().string(), root.string()};
  if (options.fail_after >= 0) {
    args.emplace_back("--fail-after");
    args.push_back(std::to_string(options.fail_after));
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int in_pipe[2];
  int out_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) throw std::runtime_error(errno_text("pipe2"));
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    const auto text = errno_text("pipe2");
    ::close(in_pipe[0]);
    ::close(in_pipe[1]);
    throw std::runtime_error(text);
  }
  const std::string log = options.log_file.empty() ? "/dev/null" : options.log_file.string();

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  stdin_fd_ = in_pipe[1];
  int out_fd = out_pipe[0];
  if (rc != 0) {
    close_fd(stdin_fd_);
    close_fd(out_fd);
    throw std::runtime_error("cannot start " + python + ": " + std::strerror(rc));
  }
  pid_ = pid;

  // The first line of stdout is the port.
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + options.start_timeout;
  std::string failure;
  while (line.find('\n') == std::string::npos) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      failure = "did not print its port within " + std::to_string(options.start_timeout.count()) + " ms";
      break;
    }
    pollfd pfd{out_fd, POLLIN, 0};
    const int p = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (p < 0 && errno == EINTR) continue;
    if (p < 0) {
      failure = errno_text("poll");
      break;
    }
    if (p == 0) continue;
    char buf[64];
    const ssize_t n = ::read(out_fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      failure = "exited before printing its port";
      break;
    }
    line.append(buf, static_cast<std::size_t>(n));
  }
  close_fd(out_fd);
  if (failure.empty()) {
    try {
      port_ = std::stoi(line);
    } catch (const std::exception&) {
      failure = "printed '" + line.substr(0, line.find('\n')) + "' instead of a port";
    }
    if (failure.empty() && (port_ <= 0 || port_ > 65535)) failure = "printed port " + std::to_string(port_);
  }
  if (!failure.empty()) {
    stop();
    throw std::runtime_error("http_server.py for " + root.string() + ": " + failure +
                             (options.log_file.empty() ? "" : " (log: " + log + ")"));
  }
}

LoopbackHttpServer::~LoopbackHttpServer() { stop(); }

std::string LoopbackHttpServer::url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }

void LoopbackHttpServer::stop() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    if (!wait_for_exit(pid_, std::chrono::seconds(5))) {
      ::kill(pid_, SIGKILL);
      wait_for_exit(pid_, std::chrono::seconds(5));
    }
    pid_ = -1;
  }
  close_fd(stdin_fd_);
}

}  // namespace dormant::testing
