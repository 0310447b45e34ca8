#include "scan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "dormant/core/error.hpp"
#include "dormant/image/format.hpp"
#include "dormant/library/identify.hpp"

namespace dormant::library {
namespace fs = std::filesystem;

bool has_image_extension(const fs::path& path) {
  static constexpr std::array<std::string_view, 7> kExtensions = {".qcow2", ".img", ".raw", ".vmdk",
                                                                  ".vhdx",  ".vhd", ".vpc"};
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return std::find(kExtensions.begin(), kExtensions.end(), ext) != kExtensions.end();
}

namespace detail {

namespace {
// A library of a million files is a mistake (a home directory added by
// accident); stop rather than stat them all.
constexpr std::size_t kMaxEntries = 1'000'000;

bool has_image_magic(const fs::path& path, std::uintmax_t size) {
  if (size < 512) return false;
  try {
    return image::detect_format(path) != image::ImageFormat::raw;
  } catch (const Error&) {
    return false;
  }
}
}  // namespace

std::vector<fs::path> scan_directory(const fs::path& root, std::vector<std::string>& warnings) {
  std::vector<fs::path> found;
  std::error_code ec;
  // Without follow_directory_symlink the iterator never enters a symlinked
  // directory, so the walk stays inside the library.
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
  if (ec) fail(ErrorKind::io, root.string(), "cannot read the library directory: {}", ec.message());
  std::size_t seen = 0;
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) {
      warnings.push_back(fmt::format("{}: {}", root.string(), ec.message()));
      break;
    }
    if (++seen > kMaxEntries) {
      warnings.push_back(fmt::format("{}: more than {} entries; the rest were not scanned", root.string(), kMaxEntries));
      break;
    }
    const auto& entry = *it;
    std::string name = entry.path().filename().string();
    if (!name.empty() && name.front() == '.') {
      if (entry.is_directory(ec) && !entry.is_symlink(ec)) it.disable_recursion_pending();
      continue;
    }
    if (entry.is_symlink(ec) || !entry.is_regular_file(ec)) continue;
    std::uintmax_t size = entry.file_size(ec);
    if (ec) continue;
    if (has_image_extension(entry.path()) || has_image_magic(entry.path(), size)) found.push_back(entry.path());
  }
  std::sort(found.begin(), found.end());
  return found;
}

}  // namespace detail
}  // namespace dormant::library
