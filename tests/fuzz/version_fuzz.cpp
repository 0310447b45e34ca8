// libFuzzer target: repo/version on arbitrary bytes. compare_versions must be
// a consistent order (reflexive, antisymmetric) for any input, valid or not,
// and agree with the epoch/revision split; is_valid_version and
// upstream_version must never read outside their input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "dormant/repo/version.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace dormant::repo;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // Two versions per input, split at the first '|'.
  const auto bar = text.find('|');
  const std::string_view a = text.substr(0, bar);
  const std::string_view b = bar == std::string_view::npos ? std::string_view() : text.substr(bar + 1);

  if (compare_versions(a, a) != 0) std::abort();
  const int ab = compare_versions(a, b);
  if (ab < -1 || ab > 1 || compare_versions(b, a) != -ab) std::abort();

  const bool valid = is_valid_version(a);
  const std::string_view upstream = upstream_version(a);
  if (upstream.size() > a.size()) std::abort();
  if (!upstream.empty() &&
      (upstream.data() < a.data() || upstream.data() + upstream.size() > a.data() + a.size()))
    std::abort();
  // A valid version equals itself with an explicit "0:" epoch when it has none.
  if (valid && a.find(':') == std::string_view::npos && a.find_first_of(" \t") == std::string_view::npos) {
    const std::string with_epoch = "0:" + std::string(a);
    if (!is_valid_version(with_epoch) || compare_versions(a, with_epoch) != 0) std::abort();
  }
  return 0;
}
