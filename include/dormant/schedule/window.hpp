// A daily maintenance window in UTC (--window 22:00-04:00): new work starts
// only inside it; work already running when it closes is left to finish.
// The window is [start, end): start inclusive, end exclusive. An end before
// the start wraps past midnight, so "22:00-04:00" is open from 22:00 to 04:00
// the next morning.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace dormant::schedule {

using SysSeconds = std::chrono::sys_seconds;

class Window {
 public:
  // "HH:MM-HH:MM" (the hour may have one digit); start == end is an error
  // (say nothing to have no window); Error(usage) naming --window otherwise.
  static Window parse(std::string_view text);

  bool contains(SysSeconds t) const;

  // The end of the window t is in. Precondition contains(t); otherwise the
  // end of the next window.
  SysSeconds closes_at(SysSeconds t) const;

  // t when contains(t), else the next start.
  SysSeconds next_open(SysSeconds t) const;

  // "HH:MM-HH:MM", always with two-digit hours.
  std::string text() const;

 private:
  Window() = default;
  std::chrono::seconds start_{0};  // since midnight UTC
  std::chrono::seconds end_{0};
};

}  // namespace dormant::schedule
