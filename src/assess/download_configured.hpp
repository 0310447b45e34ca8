// The download with apt already configured for a Universe (download.cpp);
// Universe::download calls it. Private to assess/.
#pragma once

#include <filesystem>
#include <vector>

#include "dormant/assess/download.hpp"

namespace dormant::assess::detail {

void download_configured(const std::filesystem::path& lists_dir, const std::vector<PackageRef>& packages,
                         const std::filesystem::path& archives_dir, std::vector<DownloadedPackage>& out);

}  // namespace dormant::assess::detail
