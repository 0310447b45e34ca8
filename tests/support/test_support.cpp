#include "support/test_support.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

namespace dormant::testing {

namespace fs = std::filesystem;

TempDir::TempDir(std::string_view prefix) {
  std::string pattern = (fs::temp_directory_path() / (std::string(prefix) + "-XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + pattern);
  path_ = pattern;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

TempDir::TempDir(TempDir&& other) noexcept : path_(std::exchange(other.path_, {})) {}

TempDir& TempDir::operator=(TempDir&& other) noexcept {
  if (this != &other) {
    if (!path_.empty()) {
      std::error_code ignored;
      fs::remove_all(path_, ignored);
    }
    path_ = std::exchange(other.path_, {});
  }
  return *this;
}

ProcessResult run_ok(const std::vector<std::string>& argv, const ProcessOptions& options) {
  auto result = run_process(argv, options);
  // ASSERT_* needs a void function; the lambda keeps it fatal for the test.
  [&] {
    std::string command;
    for (const auto& arg : argv) command += (command.empty() ? "" : " ") + arg;
    ASSERT_EQ(result.exit_code, 0) << command << ": " << result.err;
  }();
  return result;
}

nlohmann::json json_output(const ProcessResult& result) {
  EXPECT_EQ(result.exit_code, 0) << result.err;
  try {
    return nlohmann::json::parse(result.out);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not JSON: " << e.what() << "\n" << result.out.substr(0, 2000);
    return {};
  }
}

std::string read_file_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::ostringstream out;
  out << in.rdbuf();  // an empty file sets failbit on `out`: only `in` tells
  if (in.bad()) throw std::runtime_error("cannot read " + path.string());
  return out.str();
}

std::vector<std::byte> read_file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::vector<std::byte> bytes(fs::file_size(path));
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (static_cast<std::size_t>(in.gcount()) != bytes.size())
    throw std::runtime_error("short read of " + path.string());
  return bytes;
}

void write_file(const fs::path& path, std::string_view content) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

fs::path fixture_rootfs() {
  const char* cache = std::getenv("DORMANT_FIXTURE_CACHE");
  return fs::path(cache && *cache ? cache : "/var/cache/dormant-fixtures") / "bookworm-rootfs";
}

void make_rootfs_guest(const fs::path& dir, const std::string& hostname) {
  const fs::path rootfs = fixture_rootfs();
  const fs::path tree = dir / "tree";
  fs::create_directories(tree / "etc");
  fs::create_directories(tree / "var/lib/dpkg");
  fs::copy_file(fs::canonical(rootfs / "usr/lib/os-release"), tree / "etc/os-release");
  fs::copy_file(rootfs / "var/lib/dpkg/status", tree / "var/lib/dpkg/status");
  if (!hostname.empty()) write_file(tree / "etc/hostname", hostname);
  run_ok({"mke2fs", "-q", "-F", "-t", "ext4", "-d", tree.string(), (dir / "guest.raw").string(), "8M"});
  if (::testing::Test::HasFatalFailure()) return;
  run_ok(
      {"qemu-img", "convert", "-O", "qcow2", (dir / "guest.raw").string(), (dir / "guest.qcow2").string()});
}

void sfdisk(const fs::path& target, const std::string& script) {
  std::string command = "sfdisk -q '" + target.string() + "' >/dev/null 2>&1";
  FILE* pipe = ::popen(command.c_str(), "w");
  ASSERT_NE(pipe, nullptr);
  std::fwrite(script.data(), 1, script.size(), pipe);
  ASSERT_EQ(::pclose(pipe), 0) << "sfdisk refused: " << script;
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds every) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(every);
  }
  return true;
}

std::string processes_left(const std::string& pattern, std::chrono::milliseconds timeout) {
  if (wait_until([&] { return run_process({"pgrep", "-f", pattern}).out.empty(); }, timeout)) return "";
  return run_process({"pgrep", "-af", pattern}).out;
}

namespace {

// CMakeCache.txt's value for KEY (KEY:TYPE=value), or "".
std::string cmake_cache_value(const fs::path& build, const std::string& key) {
  std::ifstream cache(build / "CMakeCache.txt");
  std::string line;
  while (std::getline(cache, line)) {
    if (line.rfind(key + ":", 0) != 0) continue;
    const auto equals = line.find('=');
    if (equals != std::string::npos) return line.substr(equals + 1);
  }
  return "";
}

}  // namespace

fs::path build_root() {
  // The running test program lives somewhere under its build tree; the
  // first ancestor holding CMakeCache.txt is that tree. Found at run time so
  // that no compile command holds an absolute path (the compiler cache then
  // hits across clones: cmake/build_speed.cmake).
  static const fs::path root = [] {
    for (fs::path dir = fs::read_symlink("/proc/self/exe").parent_path(); !dir.empty();
         dir = dir.parent_path()) {
      if (fs::exists(dir / "CMakeCache.txt")) return dir;
      if (dir == dir.root_path()) break;
    }
    throw std::runtime_error("no CMakeCache.txt above " + fs::read_symlink("/proc/self/exe").string() +
                             ": run the tests from their build tree");
  }();
  return root;
}

fs::path source_dir() {
  static const fs::path dir = [] {
    const std::string value = cmake_cache_value(build_root(), "CMAKE_HOME_DIRECTORY");
    if (value.empty())
      throw std::runtime_error(build_root().string() + "/CMakeCache.txt names no source tree");
    return fs::path(value);
  }();
  return dir;
}

std::string cli_path() { return (build_root() / "src/cli/dormant").string(); }

std::string resolve_worker_path() { return (build_root() / "tests/dormant_test_resolve_worker").string(); }

int spawn_in_session(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  std::vector<std::string> args = argv, vars = env;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setsid();
    for (auto& v : vars) ::putenv(v.data());
    const int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 1);
    ::dup2(null, 2);
    std::vector<char*> cargs;
    for (auto& a : args) cargs.push_back(a.data());
    cargs.push_back(nullptr);
    ::execv(cargs[0], cargs.data());
    ::_exit(127);
  }
  return pid;
}

bool reap_session(int pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  ::kill(-pid, SIGKILL);
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

}  // namespace dormant::testing
