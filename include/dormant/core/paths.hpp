// Host paths: where dormant keeps its state, and confinement checks.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace dormant {

// $XDG_DATA_HOME/dormant/catalog.db, else $HOME/.local/share/dormant/catalog.db.
std::filesystem::path default_catalog_path();

// Where fetched repository indexes are kept: /var/cache/dormant for root
// (apt's download methods drop to the _apt user, which must reach it; a home
// directory is 0700), else $XDG_CACHE_HOME/dormant or $HOME/.cache/dormant.
std::filesystem::path default_cache_dir();

// True when `path`, after resolving every symlink and "..", lies inside one of
// `roots` (also resolved). A path that does not exist is resolved as far as it
// exists. Used to confine backing files and extents to the library.
bool path_is_inside(const std::filesystem::path& path, const std::vector<std::filesystem::path>& roots);

}  // namespace dormant
