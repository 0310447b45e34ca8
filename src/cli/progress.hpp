// Private to the CLI: progress of long commands on stderr.
#pragma once

#include <iosfwd>
#include <string>

#include "dormant/core/progress.hpp"

namespace dormant::cli {

// On a terminal: one line rewritten in place ("[3/10] path: outcome").
// Otherwise: one plain line per item, only when `verbose`; else nothing.
class TerminalProgress final : public ProgressSink {
 public:
  TerminalProgress(std::ostream& err, bool is_tty, bool verbose)
      : err_(err), tty_(is_tty), verbose_(verbose) {}
  void begin(std::string_view phase, std::size_t total) override;
  void step(std::size_t done, std::string_view item, std::string_view outcome) override;
  void end() override;

 private:
  std::ostream& err_;
  bool tty_;
  bool verbose_;
  std::string phase_;
  std::size_t total_ = 0;
  bool drawn_ = false;
};

}  // namespace dormant::cli
