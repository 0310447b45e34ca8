// Private: finding image files in a directory library.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace dormant::library::detail {

// Regular files under `root` that look like disk images (by extension or by
// a non-raw magic). Hidden entries and symlinks are skipped, so the walk never
// leaves the library. Unreadable directories become warnings.
std::vector<std::filesystem::path> scan_directory(const std::filesystem::path& root, std::vector<std::string>& warnings);

}  // namespace dormant::library::detail
