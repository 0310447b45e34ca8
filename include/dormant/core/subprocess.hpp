// Running host tools (qemu-img, mke2fs in tests) without a shell.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace dormant {

struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal or timed out
  bool timed_out = false;
  std::string out;
  std::string err;
};

struct ProcessOptions {
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
  std::size_t max_output = std::size_t{16} << 20;  // per stream; longer output is truncated
};

// Runs argv[0] (looked up in PATH) with argv, no shell, stdin from /dev/null,
// capturing stdout and stderr. Throws Error(io) only when the program cannot
// be started; a non-zero exit is reported in the result.
ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options = {});

}  // namespace dormant
