// Private to the image layer: what probe_signature saw, with the identity an
// fstab line may name (UUID=, LABEL=).
#pragma once

#include <string>

#include "dormant/image/block_device.hpp"

namespace dormant::image {

struct Signature {
  std::string type;   // as probe_signature names it, "" when unknown
  std::string uuid;   // as blkid prints it (ext/xfs/btrfs/swap/LUKS dashed lowercase, vfat "ABCD-1234")
  std::string label;
};

Signature probe_signature_details(BlockDevice& device);

}  // namespace dormant::image
