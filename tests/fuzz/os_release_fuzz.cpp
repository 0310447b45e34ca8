// libFuzzer target: parse_os_release on arbitrary guest bytes. The parser
// never throws; every value must come from the input's own bytes, so a value
// can never be longer than the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "dormant/inspect/os_release.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto fields = dormant::inspect::parse_os_release(text);
  for (const auto& [key, value] : fields) {
    if (key.empty() || key.size() > size || value.size() > size) std::abort();
    for (char c : key)
      if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) std::abort();
  }
  return 0;
}
