// Durability of files dormant writes beside library images (new image
// versions, catalogs): fsync a file, or a directory after a rename in it.
#pragma once

#include <filesystem>

namespace dormant {

// Opens `path` with `open_flags` (O_RDONLY for a file, O_RDONLY | O_DIRECTORY
// for a directory) and fsyncs it. Error(io) naming the path.
void fsync_path(const std::filesystem::path& path, int open_flags);

}  // namespace dormant
