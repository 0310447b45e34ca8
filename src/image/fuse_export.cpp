#include "fuse_export.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

#include "dormant/core/error.hpp"
#include "dormant/core/subprocess.hpp"

namespace dormant::image {

namespace fs = std::filesystem;

namespace {

// statfs(2) f_type of a FUSE mount (linux/magic.h does not name it).
constexpr long kFuseSuperMagic = 0x65735546;
constexpr auto kPoll = std::chrono::milliseconds(5);
constexpr auto kStopGrace = std::chrono::seconds(10);

enum class MountState { mounted, not_mounted, broken };

// A FUSE mount whose daemon died answers ENOTCONN: still mounted, must go.
MountState mount_state(const fs::path& file) {
  struct statfs st {};
  if (::statfs(file.c_str(), &st) != 0)
    return errno == ENOTCONN ? MountState::broken : MountState::not_mounted;
  return static_cast<long>(st.f_type) == kFuseSuperMagic ? MountState::mounted : MountState::not_mounted;
}

std::string read_log(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  std::string out = text.str();
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  constexpr std::size_t kCap = 4096;
  if (out.size() > kCap) out = out.substr(0, kCap) + "...";
  return out.empty() ? "no message" : out;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exit status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return fmt::format("signal {}", WTERMSIG(status));
  return "unknown status";
}

// The daemon's argv. JSON option values rather than key=value lists, so that
// commas in paths need no escaping.
std::vector<std::string> daemon_argv(const fs::path& program, const fs::path& overlay, const fs::path& file,
                                     const fs::path& pidfile, const FuseExportOptions& options) {
  const bool read_only = !options.writable;
  // No backing options: qemu-storage-daemon refuses backing.filename next to
  // a file node ("Can't specify 'file' and 'filename'"), and the overlay's
  // header already names the backing file with its format pinned.
  nlohmann::json top = {{"driver", "qcow2"},
                        {"node-name", "q"},
                        {"read-only", read_only},
                        {"file", {{"driver", "file"}, {"filename", overlay.string()}}}};
  std::vector<std::string> argv = {program.string(), "--blockdev", top.dump()};
  std::string node = "q";
  if (options.offset != 0 || options.length != 0) {
    // A raw node on top limits the export to one partition.
    nlohmann::json slice = {{"driver", "raw"},
                            {"node-name", "s"},
                            {"read-only", read_only},
                            {"file", "q"},
                            {"offset", options.offset}};
    if (options.length != 0) slice["size"] = options.length;
    argv.insert(argv.end(), {"--blockdev", slice.dump()});
    node = "s";
  }
  nlohmann::json exp = {{"type", "fuse"},
                        {"id", "e"},
                        {"node-name", node},
                        {"mountpoint", file.string()},
                        {"writable", options.writable}};
  argv.insert(argv.end(), {"--export", exp.dump(), "--pidfile", pidfile.string()});
  return argv;
}

}  // namespace

fs::path find_in_path(const std::string& program) {
  std::string path = "/usr/local/bin:/usr/bin:/bin";
  if (const char* env = std::getenv("PATH"); env) path = env;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    fs::path dir = path.substr(start, end - start);
    if (dir.empty()) dir = ".";
    fs::path candidate = dir / program;
    if (::access(candidate.c_str(), X_OK) == 0 && fs::is_regular_file(candidate)) return candidate;
    start = end + 1;
  }
  return {};
}

FuseExport::FuseExport(const fs::path& overlay, const FuseExportOptions& options)
    : subject_(overlay.filename().string()) {
  if (std::error_code ec; !fs::is_regular_file(overlay, ec))
    fail(ErrorKind::not_found, overlay.string(), "no such overlay file");
  struct stat fuse {};
  if (::stat("/dev/fuse", &fuse) != 0 || !S_ISCHR(fuse.st_mode) || ::access("/dev/fuse", R_OK | W_OK) != 0) {
    fail(ErrorKind::unsupported, subject_,
         "FUSE is not available here (/dev/fuse missing or not accessible): install fuse3 and load the fuse "
         "module, or check the filesystem inside the guest");
  }
  const fs::path program = find_in_path("qemu-storage-daemon");
  if (program.empty()) {
    fail(ErrorKind::unsupported, subject_,
         "qemu-storage-daemon is not installed (it is in Debian's qemu-system-common package): it is needed "
         "to export the overlay for e2fsck");
  }

  std::string pattern = (fs::temp_directory_path() / "dormant-fuse-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr)
    fail(ErrorKind::io, subject_, "cannot create a temp dir in {}: {}", fs::temp_directory_path().string(),
         std::strerror(errno));
  dir_ = pattern;
  try {
    file_ = dir_ / "disk";
    const fs::path pidfile = dir_ / "qsd.pid";
    const fs::path log = dir_ / "qsd.log";
    // The mount point of a FUSE export of a file must be an existing file.
    int fd = ::open(file_.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) fail(ErrorKind::io, subject_, "cannot create {}: {}", file_.string(), std::strerror(errno));
    ::close(fd);
    int log_fd = ::open(log.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (log_fd < 0) fail(ErrorKind::io, subject_, "cannot create {}: {}", log.string(), std::strerror(errno));

    const auto argv = daemon_argv(program, fs::absolute(overlay), file_, pidfile, options);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);

    // fork rather than posix_spawn: the child asks for SIGTERM when dormant
    // dies, so a crashed or killed dormant does not leave an export mounted.
    const pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) {
      int err = errno;
      ::close(log_fd);
      fail(ErrorKind::io, subject_, "cannot fork: {}", std::strerror(err));
    }
    if (pid == 0) {
      // Only async-signal-safe calls between fork and exec.
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(127);
      int null_fd = ::open("/dev/null", O_RDONLY);
      if (null_fd < 0 || ::dup2(null_fd, 0) < 0 || ::dup2(log_fd, 1) < 0 || ::dup2(log_fd, 2) < 0)
        ::_exit(127);
      ::close_range(3, ~0U, 0);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    ::close(log_fd);
    pid_ = pid;

    // Ready when the daemon has written its pidfile (after it set up the
    // export) and the file is a FUSE mount.
    const auto deadline = std::chrono::steady_clock::now() + options.start_timeout;
    for (;;) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        const std::string message = read_log(log);
        // Without root, libfuse mounts through the setuid fusermount3.
        if (message.find("fusermount") != std::string::npos) {
          fail(ErrorKind::unsupported, subject_,
               "the FUSE export cannot be mounted here (install fuse3 for fusermount3, or run as root): {}",
               message);
        }
        fail(ErrorKind::io, subject_, "qemu-storage-daemon could not export the overlay ({}): {}",
             describe_status(status), message);
      }
      std::error_code ec;
      if (fs::file_size(pidfile, ec) > 0 && !ec && mount_state(file_) == MountState::mounted) break;
      if (std::chrono::steady_clock::now() > deadline) {
        fail(ErrorKind::io, subject_, "qemu-storage-daemon did not export the overlay within {} ms: {}",
             options.start_timeout.count(), read_log(log));
      }
      std::this_thread::sleep_for(kPoll);
    }
  } catch (...) {
    stop_quietly();
    throw;
  }
}

FuseExport::~FuseExport() { stop_quietly(); }

void FuseExport::stop_quietly() noexcept {
  try {
    stop();
  } catch (...) {
    // Destructors must not throw; stop() already did all it could.
  }
}

void FuseExport::stop() {
  if (pid_ > 0) {
    // SIGTERM: the daemon flushes the overlay, unmounts and removes its pidfile.
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + kStopGrace;
    int status = 0;
    for (;;) {
      pid_t got = ::waitpid(pid_, &status, WNOHANG);
      if (got == pid_ || (got < 0 && errno != EINTR)) break;
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
        break;
      }
      std::this_thread::sleep_for(kPoll);
    }
    pid_ = -1;
  }
  if (dir_.empty()) return;
  std::string unmount_error;
  if (mount_state(file_) != MountState::not_mounted) {
    // The daemon was killed before it could unmount. Lazy unmount: nothing
    // can be using the file any more.
    if (::umount2(file_.c_str(), MNT_DETACH) != 0) {
      unmount_error = std::strerror(errno);
      auto result = run_process({"fusermount3", "-u", "-z", file_.string()});
      if (result.exit_code == 0)
        unmount_error.clear();
      else
        unmount_error += "; fusermount3: " + result.err;
    }
  }
  if (!unmount_error.empty()) {
    // Leave the dir in place: removing it would fail on the mount anyway.
    fail(ErrorKind::io, subject_, "cannot unmount the FUSE export {}: {}", file_.string(), unmount_error);
  }
  std::error_code ec;
  fs::remove_all(dir_, ec);
  dir_.clear();
}

}  // namespace dormant::image
