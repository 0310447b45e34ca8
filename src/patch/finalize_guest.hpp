// What `--finalize` needs from the staged guest before it boots it (private
// to patch/finalize): the kernel and initrd to boot directly, copied out of
// the overlay, and the UUID of the root filesystem.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace dormant::patch::detail {

struct KernelPair {
  std::string kernel;  // guest paths, e.g. "/boot/vmlinuz-6.1.0-50-amd64"
  std::string initrd;
};

// From the names in the guest's /boot: the newest `vmlinuz-<v>` (Debian
// version order) that has a matching `initrd.img-<v>`. nullopt when none.
std::optional<KernelPair> choose_kernel(const std::vector<std::string>& boot_names);

struct BootFiles {
  KernelPair guest;              // where they came from in the guest
  std::filesystem::path kernel;  // host copies in the work directory
  std::filesystem::path initrd;
  std::string root_uuid;
};

// Opens `overlay` read-only (fast path only: finalize supports what dormant
// can stage), prefers /vmlinuz + /initrd.img (the Debian symlinks to the
// running kernel), else choose_kernel over /boot, and copies both (regular
// files only, at most `cap` bytes each) into work_dir as `vmlinuz` and
// `initrd.img`. Error(unsupported) when the guest has no kernel with an
// initrd or its root filesystem has no UUID.
BootFiles extract_boot_files(const std::filesystem::path& overlay, const std::filesystem::path& work_dir,
                             std::uint64_t cap);

}  // namespace dormant::patch::detail
