// Private to the image layer: naming an ext filesystem from its feature flags,
// shared by probe_signature and ExtFilesystem::type() so they always agree.
#pragma once

#include <cstdint>
#include <string_view>

namespace dormant::image {

// As libblkid does: features ext3 never had make it ext4, a journal makes it
// ext3, else ext2. "" for an external journal device (not mountable).
std::string_view ext_type_from_features(std::uint32_t compat, std::uint32_t incompat, std::uint32_t ro_compat);

}  // namespace dormant::image
