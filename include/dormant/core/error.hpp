// Typed errors shared by every layer.
//
// An Error carries a kind (what went wrong, which decides the CLI exit code and
// the HTTP status in exactly one place each), a subject (what it happened to: an
// image path, a source name, "catalog") and a message. what() renders the LLVM
// style "subject: message". Nested causes are kept as a chain so that the
// frontends can print "because: ..." lines.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace dormant {

enum class ErrorKind {
  usage,        // the caller asked for something malformed (bad argument)
  not_found,    // a named thing (image, library, group) does not exist
  unsupported,  // a valid input that dormant cannot handle (yet): fs type, OS
  hostile,      // input that breaks a safety rule: backing file outside the library
  corrupt,      // input that is damaged: bad superblock, truncated image
  limit,        // input over a cap: a 2 GiB dpkg status file
  io,           // the host failed: ENOSPC, EACCES, a tool that would not start
  conflict,     // the thing exists already, or is locked / in use
  internal,     // a bug in dormant
};

std::string_view to_string(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string subject, std::string message);
  Error(ErrorKind kind, std::string subject, std::string message, const std::exception& cause);

  ErrorKind kind() const noexcept { return kind_; }
  const std::string& subject() const noexcept { return subject_; }
  const std::string& message() const noexcept { return message_; }
  // The chain of causes, outermost first, each already rendered by what().
  const std::string& cause() const noexcept { return cause_; }

 private:
  ErrorKind kind_;
  std::string subject_;
  std::string message_;
  std::string cause_;
};

// Convenience: throw Error(kind, subject, fmt::format(fmt, args...)).
template <typename... Args>
[[noreturn]] void fail(ErrorKind kind, std::string subject, fmt::format_string<Args...> format,
                       Args&&... args) {
  throw Error(kind, std::move(subject), fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace dormant
