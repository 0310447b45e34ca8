// Private to the image layer: the "fast" GuestView over filesystems read in
// user space, assembled by open_guest from a mount table.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dormant/image/filesystem.hpp"
#include "dormant/image/guest_view.hpp"

namespace dormant::image {

struct FastMount {
  MountInfo info;  // info.mountpoint is absolute and normalised ("/", "/var")
  Filesystem* fs;  // not owned: OpenedGuest keeps the filesystems
};

// `subject` names the image in error messages. One mount must be "/".
std::unique_ptr<GuestView> make_fast_guest_view(std::vector<FastMount> mounts, std::string subject);

}  // namespace dormant::image
