// Private to jobs/: one item's `dormant patch` process.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace dormant::jobs::detail {

struct ItemProcess {
  pid_t pid = 0;
  std::int64_t image_id = 0;
  std::string host;
  std::filesystem::path out, err;  // its stdout (the --json report) and stderr
  std::chrono::steady_clock::time_point started;
};

// Starts argv with stdout and stderr to files and stdin from /dev/null. The
// process gets SIGKILL when the runner dies (PR_SET_PDEATHSIG), so a dead
// runner never leaves items running unsupervised. It stays in the runner's
// process group. Error(io) when it cannot be started.
ItemProcess spawn_item(const std::vector<std::string>& argv, const std::filesystem::path& out,
                       const std::filesystem::path& err);

// The wait status once the process has exited (reaped), else nullopt.
std::optional<int> poll_exit(const ItemProcess& process);

// SIGKILL and reap; returns the wait status.
int kill_and_reap(const ItemProcess& process);

// "exit 1", "killed by signal 9".
std::string describe_status(int status);

}  // namespace dormant::jobs::detail
