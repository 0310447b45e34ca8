// The fallback path: a GuestView backed by a libguestfs appliance, for disks
// the fast path cannot read (LVM, XFS, btrfs, LUKS). Slow (the appliance boots
// a kernel under TCG, about a minute) but complete.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dormant/image/guest_view.hpp"
#include "dormant/image/probe.hpp"

namespace dormant::image {

// Launches the appliance on the probed image (read-only, format pinned, no
// network), inspects it for an OS, and mounts its filesystems as the guest's
// fstab says (libguestfs inspection). LUKS volumes are opened with the first
// key that works. Error(unsupported) when no OS root is found.
std::unique_ptr<GuestView> open_guestfs_view(const ImageProbe& probe, const std::vector<std::string>& luks_keys);

}  // namespace dormant::image
