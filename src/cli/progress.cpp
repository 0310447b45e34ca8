#include "progress.hpp"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <ostream>

namespace dormant::cli {
namespace {

constexpr std::string_view kEllipsis = "\u2026";  // one column, three bytes

bool continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Columns as code points: enough for paths and outcome words (no wide CJK
// handling; a wide character only makes the line end a column early or late).
std::size_t columns(std::string_view text) {
  return static_cast<std::size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return !continuation(c); }));
}

// The last `keep` columns of `text`, cut on a character boundary.
std::string_view last_columns(std::string_view text, std::size_t keep) {
  std::size_t start = text.size();
  for (std::size_t seen = 0; start > 0 && seen < keep;) {
    --start;
    if (!continuation(text[start])) ++seen;
  }
  return text.substr(start);
}

// The first `keep` columns of `text`.
std::string_view first_columns(std::string_view text, std::size_t keep) {
  std::size_t end = 0;
  for (std::size_t seen = 0; end < text.size(); ++end) {
    if (!continuation(text[end]) && seen++ == keep) break;
  }
  return text.substr(0, end);
}

// A path may hold any byte but '/' and NUL: an escape sequence in a file
// name must not reach the terminal.
std::string printable(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = '?';
  return out;
}

}  // namespace

std::size_t terminal_width(int fd) {
  winsize size{};
  if (::ioctl(fd, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  return 80;
}

std::string progress_line(std::string_view phase, std::size_t done, std::size_t total, std::string_view item,
                          std::string_view outcome, std::size_t width) {
  const std::size_t room = width > 1 ? width - 1 : 0;
  const std::size_t bar = std::clamp<std::size_t>(width / 4, 10, 30);
  const std::size_t shown = std::min(done, total);
  const std::size_t filled = total ? shown * bar / total : bar;
  const std::size_t percent = total ? shown * 100 / total : 100;
  std::string line = fmt::format("{} [{}{}] {:>3}% {}/{}", phase, std::string(filled, '#'),
                                 std::string(bar - filled, '-'), percent, done, total);
  const std::string name = printable(item), result = printable(outcome);
  const std::size_t used = columns(line);
  // " name: outcome"; the name is shortened first (down to "…" and 4
  // columns), then left out; the outcome word is what changes per item.
  constexpr std::size_t kMinName = 4;
  const std::size_t outcome_columns = columns(result);
  if (used + 1 + columns(name) + 2 + outcome_columns <= room) {
    line += " " + name + ": " + result;
  } else if (used + 1 + 1 + kMinName + 2 + outcome_columns <= room) {
    const std::size_t keep = room - used - 1 - 1 - 2 - outcome_columns;
    line += " " + std::string(kEllipsis) + std::string(last_columns(name, keep)) + ": " + result;
  } else if (used + 1 + outcome_columns <= room) {
    line += " " + result;
  }
  // A terminal too narrow for even the bar gets the line cut at its edge.
  return std::string(first_columns(line, room));
}

void TerminalProgress::begin(std::string_view phase, std::size_t total) {
  phase_ = phase;
  total_ = total;
  width_ = fixed_width_ ? fixed_width_ : terminal_width(STDERR_FILENO);
}

void TerminalProgress::step(std::size_t done, std::string_view item, std::string_view outcome) {
  if (tty_) {
    // \r + erase-line: the bar is redrawn in place.
    err_ << "\r\033[K" << progress_line(phase_, done, total_, item, outcome, width_) << std::flush;
    drawn_ = true;
  } else if (verbose_) {
    err_ << fmt::format("{} [{}/{}] {}: {}", phase_, done, total_, item, outcome) << '\n';
  }
}

void TerminalProgress::end() {
  if (drawn_) err_ << "\r\033[K" << std::flush;
  drawn_ = false;
}

}  // namespace dormant::cli
