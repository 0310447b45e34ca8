// /etc/fstab parsing (guest content: hostile, bounded).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dormant::image {

struct FstabEntry {
  std::string spec;        // "UUID=...", "LABEL=...", "/dev/vda2"
  std::string mountpoint;  // unescaped (\040 -> ' ')
  std::string fstype;
  std::string options;
};

// Parses fstab text; comments and malformed lines are skipped. At most 1000
// entries are returned.
std::vector<FstabEntry> parse_fstab(std::string_view text);

}  // namespace dormant::image
