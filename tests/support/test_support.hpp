// Helpers shared by every test tier (unit, integration, slow): temp
// directories, running a command that must succeed, reading and writing host
// files, and where the cached debootstrap rootfs is.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "dormant/core/subprocess.hpp"

namespace dormant::testing {

// A fresh directory (mkdtemp) under fs::temp_directory_path() ($TMPDIR, else
// /tmp) named "<prefix>-XXXXXX", removed with its content on destruction.
// Throws std::runtime_error when it cannot be created.
class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "dormant-test");
  ~TempDir();
  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&& other) noexcept;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Runs argv (dormant::run_process) and records a fatal gtest failure, naming
// the command and its stderr, unless it exits 0. Like an ASSERT in a helper,
// the failure returns only from run_ok: callers that must stop check
// HasFatalFailure(). Returns the result either way.
ProcessResult run_ok(const std::vector<std::string>& argv, const ProcessOptions& options = {});

// The JSON a command printed: a (non-fatal) gtest failure when it did not
// exit 0 or its stdout is not JSON, and then null.
nlohmann::json json_output(const ProcessResult& result);

// The whole content of a host file; throws std::runtime_error when it cannot
// be opened or read.
std::string read_file_text(const std::filesystem::path& path);
std::vector<std::byte> read_file_bytes(const std::filesystem::path& path);

// Writes `content` to `path` (truncating), creating the parent directories;
// throws std::runtime_error when it cannot be written.
void write_file(const std::filesystem::path& path, std::string_view content);

// The debootstrap rootfs made by tests/fixtures/make-rootfs.sh:
// $DORMANT_FIXTURE_CACHE/bookworm-rootfs, the cache defaulting (as in that
// script) to /var/cache/dormant-fixtures.
std::filesystem::path fixture_rootfs();

// A small guest image for the CLI and library tests: the ext4 filesystem
// (mke2fs -d, 8M) of dir/tree, which holds the cached rootfs's os-release (as
// etc/os-release) and dpkg status, plus etc/hostname when `hostname` is not
// empty; written as dir/guest.raw and dir/guest.qcow2. A fatal gtest failure,
// and nothing more done, when a tool fails.
void make_rootfs_guest(const std::filesystem::path& dir, const std::string& hostname = "");

// sfdisk -q on `target` with `script` on its stdin (run_process does not feed
// stdin); a fatal gtest failure when sfdisk refuses.
void sfdisk(const std::filesystem::path& target, const std::string& script);

// Polls `condition` every `every` until it holds (true) or `timeout` passes
// (false): the way to wait for a process to end or a file to appear, never a
// fixed sleep.
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds every = std::chrono::milliseconds(20));

// What `pgrep -af PATTERN` still lists once `timeout` has passed, or ""
// as soon as no process matches: for "no process of this run outlives it".
std::string processes_left(const std::string& pattern, std::chrono::milliseconds timeout);

// Timing bounds (a run takes under N seconds) hold in the release build
// only: ASan and UBSan slow the code by a factor that depends on the
// machine. Tests that assert a duration check this first.
constexpr bool kSanitized =
#if defined(__SANITIZE_ADDRESS__)
    true;
#else
    false;
#endif

// The build tree the running test program belongs to (the first ancestor of
// /proc/self/exe holding CMakeCache.txt), and the source tree it was
// configured from (its CMAKE_HOME_DIRECTORY): found at run time, never
// compiled in, so that compile commands hold no absolute path.
std::filesystem::path build_root();
std::filesystem::path source_dir();

// The built dormant CLI and the test resolver worker of that build tree.
std::string cli_path();
std::string resolve_worker_path();

// Starts argv[0] (a path) in a session of its own, so that it and its
// children can be SIGKILLed together (kill(-pid)), with `env` ("NAME=value")
// added to the environment and stdout/stderr to /dev/null. The crash tests'
// way to run `dormant job run` as a power loss would end it.
int spawn_in_session(const std::vector<std::string>& argv, const std::vector<std::string>& env = {});

// waitpid(pid) until it ends; true when SIGKILL ended it. Then SIGKILLs its
// process group, for whatever of it is left.
bool reap_session(int pid);

}  // namespace dormant::testing
