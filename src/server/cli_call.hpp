// Private to the server: running the dormant CLI on the served catalog. The
// API's mutations and actions are the CLI's own commands, so both frontends
// validate and act alike, and exit statuses map to HTTP statuses.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace dormant::server {

class Cli {
 public:
  Cli(std::filesystem::path exe, std::filesystem::path catalog)
      : exe_(std::move(exe)), catalog_(std::move(catalog)) {}
  // exe --catalog CATALOG args...
  std::vector<std::string> argv(const std::vector<std::string>& args) const;
  // Runs to completion; returns stdout. A non-zero exit throws the ApiError
  // its status maps to, with the CLI's error message.
  std::string run(const std::vector<std::string>& args, std::chrono::seconds timeout) const;

 private:
  std::filesystem::path exe_, catalog_;
};

// "subject: message (because: ...)" from the CLI's stderr ("dormant: error:"
// and "  because:" lines), or its last line when it printed no error line.
std::string cli_error_message(const std::string& stderr_text);

}  // namespace dormant::server
