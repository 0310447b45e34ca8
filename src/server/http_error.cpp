#include "http_error.hpp"

namespace dormant::server {

void bad_request(const std::string& message) { throw ApiError(400, "usage", message); }

int http_status(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::usage:
      return 400;
    case ErrorKind::not_found:
      return 404;
    case ErrorKind::conflict:
      return 409;
    case ErrorKind::unsupported:
    case ErrorKind::hostile:
    case ErrorKind::corrupt:
    case ErrorKind::limit:
      return 422;
    case ErrorKind::io:
      return 503;
    case ErrorKind::internal:
      return 500;
  }
  return 500;
}

ErrorKind kind_of_exit(int exit_code) {
  switch (exit_code) {
    case 2:
      return ErrorKind::usage;
    case 3:
      return ErrorKind::not_found;
    case 4:
      return ErrorKind::unsupported;
    case 5:
      return ErrorKind::corrupt;
    case 6:
      return ErrorKind::io;
    case 7:
      return ErrorKind::conflict;
    default:
      return ErrorKind::internal;
  }
}

ApiError from_error(const Error& error) {
  return ApiError(http_status(error.kind()), std::string(to_string(error.kind())), error.what());
}

nlohmann::json error_json(int status, const std::string& kind, const std::string& message) {
  return {{"error", {{"status", status}, {"kind", kind}, {"message", message}}}};
}

}  // namespace dormant::server
