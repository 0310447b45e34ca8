#include "dormant/core/error.hpp"

namespace dormant {

std::string_view to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::usage: return "usage";
    case ErrorKind::not_found: return "not_found";
    case ErrorKind::unsupported: return "unsupported";
    case ErrorKind::hostile: return "hostile";
    case ErrorKind::corrupt: return "corrupt";
    case ErrorKind::limit: return "limit";
    case ErrorKind::io: return "io";
    case ErrorKind::conflict: return "conflict";
    case ErrorKind::internal: return "internal";
  }
  return "internal";
}

namespace {
std::string render(const std::string& subject, const std::string& message) {
  return subject.empty() ? message : subject + ": " + message;
}
}  // namespace

Error::Error(ErrorKind kind, std::string subject, std::string message)
    : std::runtime_error(render(subject, message)),
      kind_(kind),
      subject_(std::move(subject)),
      message_(std::move(message)) {}

Error::Error(ErrorKind kind, std::string subject, std::string message, const std::exception& cause)
    : Error(kind, std::move(subject), std::move(message)) {
  cause_ = cause.what();
}

}  // namespace dormant
