// Private to the server: API errors and how dormant's error kinds and CLI
// exit codes become HTTP statuses (docs/api.md, "Conventions"), here only.
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "dormant/core/error.hpp"

namespace dormant::server {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string kind, const std::string& message)
      : std::runtime_error(message), status_(status), kind_(std::move(kind)) {}
  int status() const { return status_; }
  const std::string& kind() const { return kind_; }

 private:
  int status_;
  std::string kind_;
};

// 400 "usage": the caller's request is malformed.
[[noreturn]] void bad_request(const std::string& message);

int http_status(ErrorKind kind);
// The CLI's exit status (src/cli/main.cpp) as an error kind: 2 usage, 3
// not_found, 4 unsupported, 5 corrupt (hostile/corrupt/limit), 6 io, 7 conflict.
ErrorKind kind_of_exit(int exit_code);
ApiError from_error(const Error& error);

nlohmann::json error_json(int status, const std::string& kind, const std::string& message);

}  // namespace dormant::server
