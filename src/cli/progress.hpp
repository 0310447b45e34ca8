// Private to the CLI: progress of long commands on stderr.
#pragma once

#include <cstddef>
#include <iosfwd>
#include <string>
#include <string_view>

#include "dormant/core/progress.hpp"

namespace dormant::cli {

// Columns of the terminal on `fd` (TIOCGWINSZ); 80 when it is not a
// terminal or does not say.
std::size_t terminal_width(int fd);

// One bar line, at most `width - 1` columns (the last column is left free:
// a character there makes some terminals wrap before the next \r):
//   "assess [######---------]  45% 9/20 …b-01.qcow2: compliant"
// The item is shortened from the left (its file name is the informative
// end) with "…"; control characters in it become '?'.
std::string progress_line(std::string_view phase, std::size_t done, std::size_t total, std::string_view item,
                          std::string_view outcome, std::size_t width);

// On a terminal: a bar redrawn in place (\r, erase line), erased by end().
// Otherwise: one plain line per item ("phase [3/10] path: outcome"), only
// when `verbose`; else nothing. Steps come from one thread at a time (the
// ProgressSink contract of the core's callers).
class TerminalProgress final : public ProgressSink {
 public:
  // width 0: ask stderr's terminal at each begin() (it may have been resized).
  TerminalProgress(std::ostream& err, bool is_tty, bool verbose, std::size_t width = 0)
      : err_(err), tty_(is_tty), verbose_(verbose), fixed_width_(width) {}
  void begin(std::string_view phase, std::size_t total) override;
  void step(std::size_t done, std::string_view item, std::string_view outcome) override;
  void end() override;

 private:
  std::ostream& err_;
  bool tty_;
  bool verbose_;
  std::size_t fixed_width_;
  std::size_t width_ = 80;
  std::string phase_;
  std::size_t total_ = 0;
  bool drawn_ = false;
};

}  // namespace dormant::cli
