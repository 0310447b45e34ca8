// Private to the image layer: a guest path split into its components, the
// way GuestView and GuestWriter both walk paths ("" and "/" components dropped).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dormant::image {

inline std::vector<std::string> path_components(std::string_view path) {
  std::vector<std::string> parts;
  std::size_t i = 0;
  while (i < path.size()) {
    std::size_t slash = path.find('/', i);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > i) parts.emplace_back(path.substr(i, slash - i));
    i = slash + 1;
  }
  return parts;
}

}  // namespace dormant::image
