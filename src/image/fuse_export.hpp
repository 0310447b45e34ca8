// Private to image/: the virtual disk of a qcow2 overlay (or a byte range of
// it, e.g. one partition) exposed as a regular host file through a
// qemu-storage-daemon FUSE export, so that host tools that want a file
// (e2fsck) can work on the overlay. Only the disk image is exported; nothing
// of the guest is mounted.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

namespace dormant::image {

struct FuseExportOptions {
  bool writable = false;     // writable=off also opens the overlay read-only
  std::uint64_t offset = 0;  // byte range of the virtual disk to export
  std::uint64_t length = 0;  // 0: to the end of the disk
  std::chrono::milliseconds start_timeout{std::chrono::seconds(30)};
};

// Starts qemu-storage-daemon on `overlay` (qcow2; its header names the
// backing file and format, pitfall 8 of docs/design/patch.md) with a pidfile,
// exporting onto an empty file in a private 0700 temp dir, and waits until
// the export is mounted. The destructor always stops the daemon (SIGTERM,
// then SIGKILL), makes sure the export is unmounted and removes the temp dir,
// also when the caller unwinds with an exception.
//
// Error(unsupported) when /dev/fuse or qemu-storage-daemon is missing (names
// fuse3 / qemu-system-common), Error(io) when the daemon fails or does not
// become ready in time (its stderr in the message).
class FuseExport {
 public:
  FuseExport(const std::filesystem::path& overlay, const FuseExportOptions& options);
  ~FuseExport();
  FuseExport(const FuseExport&) = delete;
  FuseExport& operator=(const FuseExport&) = delete;

  // The exported disk (or slice) as a regular file.
  const std::filesystem::path& file() const { return file_; }

  // Stops the daemon now; Error(io) when the export could not be unmounted.
  // Idempotent; the destructor calls it and swallows the error.
  void stop();

 private:
  void stop_quietly() noexcept;

  std::string subject_;
  std::filesystem::path dir_;
  std::filesystem::path file_;
  pid_t pid_ = -1;
};

// The executable `program` from $PATH, or "" when there is none.
std::filesystem::path find_in_path(const std::string& program);

}  // namespace dormant::image
