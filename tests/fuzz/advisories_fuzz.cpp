// libFuzzer target: Advisories::parse on arbitrary bytes. Only Error(corrupt)
// may escape; whatever parses answers queries without crashing, with sorted,
// unique ids that all occur in the input, and counts bounded by the input.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "dormant/assess/advisories.hpp"
#include "dormant/core/error.hpp"

namespace {

void check_ids(const std::vector<std::string>& ids, std::string_view input) {
  if (!std::is_sorted(ids.begin(), ids.end())) std::abort();
  if (std::adjacent_find(ids.begin(), ids.end()) != ids.end()) std::abort();
  for (const auto& id : ids) {
    // An id without escapes is in the input as is; one with escapes is shorter than its spelling.
    if (id.empty() || id.size() > input.size()) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const auto advisories = dormant::assess::Advisories::parse(text, "fuzz.json");
    // Every advisory, and every skipped entry, is at least "{}" in the input.
    if (advisories.advisory_count() + advisories.skipped_entries() > size) std::abort();
    // Query with the names the sample uses and with ones the input may contain.
    for (const char* source : {"openssl", "p", "a", ""})
      for (const char* codename : {"bookworm", "sid", "b", ""}) {
        check_ids(advisories.fixed_between(source, codename, "", "~"), text);
        check_ids(advisories.fixed_between(source, codename, "0", "99:99"), text);
        // installed < fixed <= candidate cannot hold when installed == candidate.
        if (!advisories.fixed_between(source, codename, "1:1.0-1", "1:1.0-1").empty()) std::abort();
      }
  } catch (const dormant::Error& e) {
    if (e.kind() != dormant::ErrorKind::corrupt) std::abort();
  }
  return 0;
}
