// libFuzzer target: parse_dpkg_status on arbitrary guest bytes. Only
// Error(limit) may escape (too many stanzas); the result must be sorted, free
// of duplicates and of not-installed packages, and every package must carry a
// name, a version and a source.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <tuple>

#include "dormant/core/error.hpp"
#include "dormant/inspect/dpkg_status.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    auto st = dormant::inspect::parse_dpkg_status(text);
    const dormant::inspect::Package* prev = nullptr;
    for (const auto& p : st.packages) {
      if (p.name.empty() || p.version.empty() || p.source.empty() || p.source_version.empty()) std::abort();
      if (p.status.empty() || p.status == "not-installed" || p.want.empty()) std::abort();
      if (prev && !(std::tie(prev->name, prev->arch) < std::tie(p.name, p.arch))) std::abort();
      prev = &p;
    }
    if (st.warnings.size() > 101) std::abort();
  } catch (const dormant::Error& e) {
    if (e.kind() != dormant::ErrorKind::limit) std::abort();
  }
  return 0;
}
