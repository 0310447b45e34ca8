// Private to the server: the web console's static files.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include "router.hpp"

namespace dormant::server {

// Serves "/" (index.html) and "/NAME" for every file of web/ built into the
// binary, from the embedded copies, or from `web_dir` when it is not empty.
std::function<bool(const std::string&, Reply&)> console_files(std::filesystem::path web_dir);

}  // namespace dormant::server
