#include "cli_call.hpp"

#include <sstream>

#include "dormant/core/subprocess.hpp"
#include "http_error.hpp"

namespace dormant::server {

std::vector<std::string> Cli::argv(const std::vector<std::string>& args) const {
  std::vector<std::string> out{exe_.string(), "--catalog", catalog_.string()};
  out.insert(out.end(), args.begin(), args.end());
  return out;
}

std::string Cli::run(const std::vector<std::string>& args, std::chrono::seconds timeout) const {
  ProcessOptions options;
  options.timeout = timeout;
  auto result = run_process(argv(args), options);
  if (result.exit_code == 0) return result.out;
  if (result.timed_out)
    throw ApiError(503, "io",
                   "dormant " + (args.empty() ? std::string() : args.front()) + " did not finish in " +
                       std::to_string(timeout.count()) + " s");
  auto kind = kind_of_exit(result.exit_code);
  throw ApiError(http_status(kind), std::string(to_string(kind)), cli_error_message(result.err));
}

std::string cli_error_message(const std::string& stderr_text) {
  std::istringstream in(stderr_text);
  std::string line, message, last;
  constexpr std::string_view kError = "dormant: error: ";
  constexpr std::string_view kBecause = "  because: ";
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    last = line;
    if (line.starts_with(kError))
      message = line.substr(kError.size());
    else if (!message.empty() && line.starts_with(kBecause))
      message += " (because: " + line.substr(kBecause.size()) + ")";
  }
  if (!message.empty()) return message;
  return last.empty() ? "the command failed without a message" : last;
}

}  // namespace dormant::server
