// libFuzzer target: parse_fstab on arbitrary guest bytes. Checks the bounds the
// header promises, beyond "does not crash".
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "dormant/image/fstab.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto entries = dormant::image::parse_fstab(text);
  if (entries.size() > 1000) std::abort();
  for (const auto& entry : entries) {
    // Unescaping only shrinks a field, and every field comes from the input.
    if (entry.spec.empty() || entry.mountpoint.empty() || entry.fstype.empty()) std::abort();
    if (entry.spec.size() > size || entry.mountpoint.size() > size || entry.options.size() > size) std::abort();
  }
  return 0;
}
