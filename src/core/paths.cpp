#include "dormant/core/paths.hpp"

#include <unistd.h>

#include <cstdlib>

namespace dormant {

std::filesystem::path default_catalog_path() {
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg)
    return std::filesystem::path(xdg) / "dormant" / "catalog.db";
  const char* home = std::getenv("HOME");
  std::filesystem::path base = (home && *home) ? home : "/root";
  return base / ".local" / "share" / "dormant" / "catalog.db";
}

std::filesystem::path default_cache_dir() {
  if (::geteuid() == 0) return "/var/cache/dormant";
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return std::filesystem::path(xdg) / "dormant";
  const char* home = std::getenv("HOME");
  std::filesystem::path base = (home && *home) ? home : "/tmp";
  return base / ".cache" / "dormant";
}

bool path_is_inside(const std::filesystem::path& path, const std::vector<std::filesystem::path>& roots) {
  std::error_code ec;
  auto resolved = std::filesystem::weakly_canonical(path, ec);
  if (ec) return false;
  for (const auto& root : roots) {
    auto base = std::filesystem::weakly_canonical(root, ec);
    if (ec) continue;
    auto rel = resolved.lexically_relative(base);
    if (!rel.empty() && *rel.begin() != ".." && rel.is_relative()) return true;
  }
  return false;
}

}  // namespace dormant
