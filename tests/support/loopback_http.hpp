// A static file server on 127.0.0.1 for tests that fetch apt repositories:
// runs tests/support/http_server.py (ETag / If-Modified-Since -> 304,
// optional 503 after N requests) for the lifetime of the object.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>

namespace dormant::testing {

struct LoopbackHttpOptions {
  // Requests after the first `fail_after` are answered 503; < 0: never.
  int fail_after = -1;
  // How long to wait for the server to print its port.
  std::chrono::milliseconds start_timeout{std::chrono::seconds(20)};
  // Where the server's request log (stderr) goes; empty: /dev/null.
  std::filesystem::path log_file;
};

// Serves `root` on 127.0.0.1 and a port chosen by the kernel. The constructor
// returns once the server listens; it throws std::runtime_error when python3
// cannot be started or exits (or says nothing) before printing its port.
// stop() and the destructor send SIGTERM and wait (SIGKILL after 5 s). The
// server also exits when this process dies (it watches its stdin pipe).
class LoopbackHttpServer {
 public:
  explicit LoopbackHttpServer(const std::filesystem::path& root, LoopbackHttpOptions options = {});
  ~LoopbackHttpServer();
  LoopbackHttpServer(const LoopbackHttpServer&) = delete;
  LoopbackHttpServer& operator=(const LoopbackHttpServer&) = delete;
  LoopbackHttpServer(LoopbackHttpServer&&) = delete;
  LoopbackHttpServer& operator=(LoopbackHttpServer&&) = delete;

  int port() const { return port_; }
  // "http://127.0.0.1:<port>/"; still the same after stop() (then refused).
  std::string url() const;
  bool running() const { return pid_ > 0; }
  // Idempotent.
  void stop();

 private:
  pid_t pid_ = -1;
  int stdin_fd_ = -1;  // the write end of the server's stdin; closing it is EOF
  int port_ = 0;
};

// tests/support/http_server.py in the source tree.
std::filesystem::path http_server_script();

}  // namespace dormant::testing
