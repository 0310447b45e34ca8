#include "dormant/image/overlay.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <random>

#include "dormant/core/error.hpp"
#include "dormant/core/fsync.hpp"
#include "dormant/core/subprocess.hpp"
#include "fuse_export.hpp"

namespace dormant::image {

namespace fs = std::filesystem;

namespace {

// qemu-img convert copies the whole allocated image: hours for a very large
// one, never the 60 s default.
constexpr auto kConvertTimeout = std::chrono::hours(12);
// Address space for the host's e2fsck on guest metadata (memo, "Risks"):
// generous for multi-TB filesystems, small enough that a metadata bomb
// fails with ENOMEM instead of taking the host's memory.
constexpr unsigned long long kFsckAddressSpace = 4ULL << 30;
constexpr std::size_t kFsckOutputCap = 64 * 1024;

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

bool path_exists(const fs::path& path) {
  std::error_code ec;
  return fs::symlink_status(path, ec).type() != fs::file_type::not_found;
}

// A name beside `dest` for the conversion, hidden (dot name: never scanned as
// an image) and unique.
fs::path temp_beside(const fs::path& dest) {
  std::random_device random;
  return dest.parent_path() /
         fmt::format(".{}.tmp-{}-{:08x}", dest.filename().string(), ::getpid(), random());
}

std::string slice_subject(const fs::path& overlay, std::uint64_t offset, std::uint64_t length) {
  if (offset == 0 && length == 0) return overlay.filename().string();
  return fmt::format("{} (bytes {}+{})", overlay.filename().string(), offset, length);
}

fs::path find_e2fsck(const std::string& subject) {
  fs::path e2fsck = find_in_path("e2fsck");
  // /usr/sbin is not in every user's PATH.
  for (const char* dir : {"/usr/sbin", "/sbin"}) {
    if (!e2fsck.empty()) break;
    if (::access((fs::path(dir) / "e2fsck").c_str(), X_OK) == 0) e2fsck = fs::path(dir) / "e2fsck";
  }
  if (e2fsck.empty())
    fail(ErrorKind::unsupported, subject, "e2fsck is not installed (Debian package e2fsprogs)");
  return e2fsck;
}

// Runs e2fsck with `args` on `file` under the time-out and address-space cap.
ProcessResult run_e2fsck(const std::string& subject, const std::vector<std::string>& args,
                         const fs::path& file, std::chrono::seconds timeout) {
  std::vector<std::string> argv = {"prlimit", fmt::format("--as={}", kFsckAddressSpace), "--",
                                   find_e2fsck(subject).string()};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back(file.string());
  ProcessOptions options;
  options.timeout = timeout;
  options.max_output = kFsckOutputCap;
  auto result = run_process(argv, options);
  // e2fsck names the export's temp path; the user knows the overlay.
  for (auto* text : {&result.out, &result.err}) {
    const std::string temp = file.string();
    for (auto at = text->find(temp); at != std::string::npos; at = text->find(temp, at + subject.size()))
      text->replace(at, temp.size(), subject);
  }
  if (result.timed_out) {
    fail(ErrorKind::limit, subject, "e2fsck did not finish within {} s and was stopped{}", timeout.count(),
         result.out.empty() && result.err.empty() ? "" : ": " + trimmed(result.out + result.err));
  }
  if (result.exit_code < 0) {
    // A crash of e2fsck on guest metadata (or the memory cap ending it).
    fail(ErrorKind::corrupt, subject, "e2fsck was killed by a signal (address space capped at {} MiB): {}",
         kFsckAddressSpace >> 20, trimmed(result.out + result.err));
  }
  return result;
}

// The ext superblock (1024 bytes at 1024) of the exported filesystem.
struct SuperblockFlags {
  bool ext = false;
  bool needs_recovery = false;
};

SuperblockFlags read_superblock_flags(const fs::path& file, const std::string& subject) {
  std::array<unsigned char, 1024> sb{};
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(ErrorKind::io, subject, "cannot open the export: {}", std::strerror(errno));
  ssize_t got = ::pread(fd, sb.data(), sb.size(), 1024);
  ::close(fd);
  SuperblockFlags flags;
  if (got != static_cast<ssize_t>(sb.size())) return flags;
  flags.ext = sb[56] == 0x53 && sb[57] == 0xEF;  // s_magic, little endian
  const unsigned incompat = sb[0x60] | sb[0x61] << 8 | sb[0x62] << 16 | static_cast<unsigned>(sb[0x63]) << 24;
  flags.needs_recovery = (incompat & 0x4) != 0;  // EXT3_FEATURE_INCOMPAT_RECOVER
  return flags;
}

}  // namespace

void create_overlay(const ImageProbe& base, const fs::path& overlay) {
  require_pinned_backing_format(base);
  if (path_exists(overlay)) fail(ErrorKind::conflict, overlay.string(), "overlay exists already");
  const fs::path backing = fs::absolute(base.path).lexically_normal();
  // The size is given so that qemu-img need not trust the backing file for
  // it; -F pins the backing format so qemu never guesses it from content.
  auto result =
      run_process({"qemu-img", "create", "-q", "-f", "qcow2", "-F", std::string(to_string(base.format)), "-b",
                   backing.string(), overlay.string(), std::to_string(base.virtual_size)});
  if (result.exit_code != 0) {
    std::error_code ec;
    fs::remove(overlay, ec);
    fail(ErrorKind::io, overlay.string(), "qemu-img create failed{}: {}",
         result.timed_out ? " (timed out)" : "", trimmed(result.err));
  }
}

void flatten_overlay(const fs::path& overlay, std::string_view format, const fs::path& dest) {
  auto parsed = format_from_string(format);
  if (!parsed) fail(ErrorKind::usage, dest.string(), "unknown image format '{}'", format);
  if (path_exists(dest)) fail(ErrorKind::conflict, dest.string(), "exists already");
  const fs::path temp = temp_beside(dest);
  std::vector<std::string> argv = {"qemu-img", "convert", "-q", "-f", "qcow2", "-O", std::string(format)};
  // vpc otherwise rounds the size up to a CHS geometry: the flattened image
  // must have the overlay's exact virtual size.
  if (*parsed == ImageFormat::vpc) argv.insert(argv.end(), {"-o", "force_size=on"});
  argv.insert(argv.end(), {overlay.string(), temp.string()});
  ProcessOptions options;
  options.timeout = kConvertTimeout;
  try {
    auto result = run_process(argv, options);
    if (result.exit_code != 0) {
      fail(ErrorKind::io, dest.string(), "qemu-img convert failed{}: {}",
           result.timed_out ? " (timed out)" : "", trimmed(result.err));
    }
    fsync_path(temp, O_RDONLY);
    if (path_exists(dest)) fail(ErrorKind::conflict, dest.string(), "appeared while converting");
    if (::rename(temp.c_str(), dest.c_str()) != 0)
      fail(ErrorKind::io, dest.string(), "cannot rename {} into place: {}", temp.string(),
           std::strerror(errno));
  } catch (...) {
    std::error_code ec;
    fs::remove(temp, ec);
    throw;
  }
  try {
    fsync_path(dest.parent_path().empty() ? fs::path(".") : dest.parent_path(), O_RDONLY | O_DIRECTORY);
  } catch (...) {
    std::error_code ec;
    fs::remove(dest, ec);
    throw;
  }
}

FsckResult check_ext_filesystem(const fs::path& overlay, std::uint64_t offset, std::uint64_t length,
                                std::chrono::seconds timeout) {
  const std::string subject = slice_subject(overlay, offset, length);
  FuseExport exported(overlay, {.writable = false, .offset = offset, .length = length});
  // -f: check even when marked clean; -n: open read-only, answer no.
  auto run = run_e2fsck(subject, {"-f", "-n"}, exported.file(), timeout);
  exported.stop();
  // The exit status is a bit mask: 0 clean; 1/2 "errors corrected" (not
  // with -n, still not a clean check); 4 errors left; 8 operational error
  // (e.g. no superblock, or "cannot proceed" next to 4). 16 usage, 32
  // cancelled, 128 shared library error: the invocation itself failed.
  if (run.exit_code & (16 | 32 | 128)) {
    fail(ErrorKind::io, subject, "e2fsck failed (exit status {}): {}", run.exit_code,
         trimmed(run.out + run.err));
  }
  FsckResult result;
  result.exit_status = run.exit_code;
  result.clean = run.exit_code == 0;
  result.output = trimmed(run.out + run.err);
  return result;
}

void replay_ext_journal(const fs::path& overlay, std::uint64_t offset, std::uint64_t length,
                        std::chrono::seconds timeout) {
  const std::string subject = slice_subject(overlay, offset, length);
  FuseExport exported(overlay, {.writable = true, .offset = offset, .length = length});
  if (!read_superblock_flags(exported.file(), subject).ext)
    fail(ErrorKind::corrupt, subject, "no ext superblock: cannot replay a journal");
  // -E journal_only: replay and stop, no other repair; -p: no questions.
  auto run = run_e2fsck(subject, {"-E", "journal_only", "-p"}, exported.file(), timeout);
  if (run.exit_code & ~(1 | 2)) {  // anything but "nothing to do" or "replayed"
    fail(ErrorKind::corrupt, subject, "e2fsck could not replay the journal (exit status {}): {}",
         run.exit_code, trimmed(run.out + run.err));
  }
  // Trust the superblock, not only the exit status.
  auto after = read_superblock_flags(exported.file(), subject);
  exported.stop();
  if (after.needs_recovery) {
    fail(ErrorKind::corrupt, subject, "the journal still needs recovery after e2fsck: {}",
         trimmed(run.out + run.err));
  }
}

}  // namespace dormant::image
