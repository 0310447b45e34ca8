#include "dormant/schedule/window.hpp"

#include <optional>

#include "dormant/core/error.hpp"

namespace dormant::schedule {
namespace {

using namespace std::chrono;

// "H:MM" or "HH:MM", 00:00 to 23:59.
std::optional<minutes> parse_time_of_day(std::string_view text) {
  std::size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon < 1 || colon > 2 || text.size() != colon + 3)
    return std::nullopt;
  for (std::size_t i = 0; i < text.size(); ++i)
    if (i != colon && (text[i] < '0' || text[i] > '9')) return std::nullopt;
  int hour = colon == 1 ? text[0] - '0' : (text[0] - '0') * 10 + (text[1] - '0');
  int minute = (text[colon + 1] - '0') * 10 + (text[colon + 2] - '0');
  if (hour > 23 || minute > 59) return std::nullopt;
  return hours(hour) + minutes(minute);
}

}  // namespace

Window Window::parse(std::string_view text) {
  std::size_t dash = text.find('-');
  std::optional<minutes> start, end;
  if (dash != std::string_view::npos) {
    start = parse_time_of_day(text.substr(0, dash));
    end = parse_time_of_day(text.substr(dash + 1));
  }
  if (!start || !end)
    fail(ErrorKind::usage, "--window", "invalid window '{}': use HH:MM-HH:MM in UTC, such as 22:00-04:00",
         text);
  if (*start == *end)
    fail(ErrorKind::usage, "--window", "window '{}' starts when it ends: give a window of some length", text);
  Window window;
  window.start_ = *start;
  window.end_ = *end;
  return window;
}

bool Window::contains(SysSeconds t) const {
  seconds time_of_day = t - floor<days>(t);
  if (start_ < end_) return start_ <= time_of_day && time_of_day < end_;
  return time_of_day >= start_ || time_of_day < end_;
}

SysSeconds Window::closes_at(SysSeconds t) const {
  SysSeconds open = next_open(t);
  sys_days day = floor<days>(open);
  seconds time_of_day = open - day;
  // Before the end on the same day: the window closes today (a wrapping
  // window's morning part, or any part of a plain one); else tomorrow.
  return time_of_day < end_ ? day + end_ : day + days(1) + end_;
}

SysSeconds Window::next_open(SysSeconds t) const {
  if (contains(t)) return t;
  sys_days day = floor<days>(t);
  return t - day < start_ ? day + start_ : day + days(1) + start_;
}

std::string Window::text() const {
  auto hhmm = [](seconds s) { return fmt::format("{:02}:{:02}", s.count() / 3600, s.count() / 60 % 60); };
  return hhmm(start_) + "-" + hhmm(end_);
}

}  // namespace dormant::schedule
