// Overlays: every change dormant makes to an image is made on a qcow2 overlay
// whose backing file is the library image with its format pinned; the
// library image itself is only ever opened read-only. Checks and journal
// replay of an overlay's ext filesystem run the host's e2fsck on a
// qemu-storage-daemon FUSE export of the overlay's virtual disk (the disk
// image is exported as a regular file; nothing of the guest is mounted).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "dormant/image/probe.hpp"

namespace dormant::image {

// Creates the qcow2 overlay `overlay` (must not exist) backed by the probed
// image `base` (absolute path, backing format pinned to base.format).
// Error(conflict) when `overlay` exists, Error(io) when qemu-img fails.
void create_overlay(const ImageProbe& base, const std::filesystem::path& overlay);

// Converts the overlay chain into a standalone image of `format` ("raw",
// "qcow2", ... as in format.hpp) at `dest` (must not exist), sparse, and
// fsyncs it. Error(io) with qemu-img's message (ENOSPC included) and `dest`
// removed on failure.
void flatten_overlay(const std::filesystem::path& overlay, std::string_view format,
                     const std::filesystem::path& dest);

struct FsckResult {
  bool clean = false;  // e2fsck -fn exit status 0
  int exit_status = 0;
  std::string output;  // e2fsck's output (capped), for messages
};

// `e2fsck -fn` of the ext filesystem at [offset, offset+length) of the
// overlay's virtual disk, on a read-only export. Error(unsupported) when FUSE
// or qemu-storage-daemon is missing (names them), Error(limit) past `timeout`.
FsckResult check_ext_filesystem(const std::filesystem::path& overlay, std::uint64_t offset,
                                std::uint64_t length,
                                std::chrono::seconds timeout = std::chrono::seconds(300));

// Replays the ext journal of that filesystem on the overlay (`e2fsck -E
// journal_only -p` on a writable export; the backing library image is not
// written). Error(corrupt) when e2fsck cannot replay it (its output).
void replay_ext_journal(const std::filesystem::path& overlay, std::uint64_t offset, std::uint64_t length,
                        std::chrono::seconds timeout = std::chrono::seconds(300));

}  // namespace dormant::image
