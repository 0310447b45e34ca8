#include "ext_features.hpp"

#include <ext2fs/ext2_fs.h>

namespace dormant::image {

std::string_view ext_type_from_features(std::uint32_t compat, std::uint32_t incompat, std::uint32_t ro_compat) {
  if (incompat & EXT3_FEATURE_INCOMPAT_JOURNAL_DEV) return "";
  constexpr std::uint32_t ext3_incompat =
      EXT2_FEATURE_INCOMPAT_FILETYPE | EXT3_FEATURE_INCOMPAT_RECOVER | EXT2_FEATURE_INCOMPAT_META_BG;
  constexpr std::uint32_t ext3_ro_compat = EXT2_FEATURE_RO_COMPAT_SPARSE_SUPER | EXT2_FEATURE_RO_COMPAT_LARGE_FILE |
                                           0x0004u /* btree_dir, never used */;
  if ((incompat & ~ext3_incompat) != 0 || (ro_compat & ~ext3_ro_compat) != 0) return "ext4";
  if (compat & EXT3_FEATURE_COMPAT_HAS_JOURNAL) return "ext3";
  return "ext2";
}

}  // namespace dormant::image
