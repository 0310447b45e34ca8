// libFuzzer: detect_format over arbitrary heads, and the format names.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "dormant/image/format.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::byte> head(reinterpret_cast<const std::byte*>(data), size);
  auto format = dormant::image::detect_format(head);
  // Invariant: a detected name round-trips.
  if (dormant::image::format_from_string(dormant::image::to_string(format)) != format) __builtin_trap();
  (void)dormant::image::format_from_string(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
