// An image opened through qemu's block layer: qemu-nbd is started by libnbd
// with systemd socket activation (no TCP port, no kernel nbd device, no root)
// with the probed format pinned, and read with libnbd.
#pragma once

#include <memory>

#include "dormant/image/block_device.hpp"
#include "dormant/image/probe.hpp"

namespace dormant::image {

struct NbdOptions {
  bool writable = false;  // read-only unless asked; writes are for overlays only
};

// Opens the probed image. Throws Error(io) when qemu-nbd cannot start or the
// connection fails, Error(corrupt) when qemu refuses the image content.
std::unique_ptr<BlockDevice> open_nbd(const ImageProbe& probe, const NbdOptions& options = {});

}  // namespace dormant::image
