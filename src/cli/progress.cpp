#include "progress.hpp"

#include <fmt/format.h>

#include <ostream>

namespace dormant::cli {

void TerminalProgress::begin(std::string_view phase, std::size_t total) {
  phase_ = phase;
  total_ = total;
}

void TerminalProgress::step(std::size_t done, std::string_view item, std::string_view outcome) {
  std::string line = fmt::format("{} [{}/{}] {}: {}", phase_, done, total_, item, outcome);
  if (tty_) {
    // \r + erase-line: the line is redrawn in place.
    err_ << "\r\033[K" << line << std::flush;
    drawn_ = true;
  } else if (verbose_) {
    err_ << line << '\n';
  }
}

void TerminalProgress::end() {
  if (drawn_) err_ << "\r\033[K" << std::flush;
  drawn_ = false;
}

}  // namespace dormant::cli
