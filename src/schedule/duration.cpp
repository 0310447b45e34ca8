#include "dormant/schedule/duration.hpp"

#include <array>
#include <cstdint>
#include <limits>

#include "dormant/core/error.hpp"

namespace dormant::schedule {
namespace {

struct Unit {
  char suffix;
  std::int64_t seconds;
};

// Largest first: the order parse_duration demands and format_duration writes.
constexpr std::array<Unit, 4> kUnits{{{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}}};

// What parse_duration accepts, for its error messages.
constexpr const char* kForm = "use seconds (90) or numbers with units d, h, m, s, largest first (1h30m, 2d)";

}  // namespace

std::chrono::seconds parse_duration(std::string_view text, std::string_view option) {
  const std::string subject(option);
  if (text.empty()) fail(ErrorKind::usage, subject, "empty duration: {}", kForm);
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  std::int64_t total = 0;
  std::size_t next_unit = 0;  // units before this one were used already or are smaller than the last
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t digits_end = pos;
    std::int64_t number = 0;
    while (digits_end < text.size() && text[digits_end] >= '0' && text[digits_end] <= '9') {
      int digit = text[digits_end] - '0';
      if (number > (kMax - digit) / 10) fail(ErrorKind::usage, subject, "duration '{}' is too large", text);
      number = number * 10 + digit;
      ++digits_end;
    }
    if (digits_end == pos) fail(ErrorKind::usage, subject, "invalid duration '{}': {}", text, kForm);
    std::int64_t unit_seconds = 1;
    if (digits_end == text.size()) {
      // A bare number means seconds, but only on its own: "1h30" is more
      // likely a mistake for "1h30m" than a request for 1h and 30 s.
      if (pos != 0)
        fail(ErrorKind::usage, subject, "invalid duration '{}': a number without a unit after a unit; {}",
             text, kForm);
      pos = digits_end;
    } else {
      char suffix = text[digits_end];
      std::size_t unit = 0;
      while (unit < kUnits.size() && kUnits[unit].suffix != suffix) ++unit;
      if (unit == kUnits.size()) fail(ErrorKind::usage, subject, "invalid duration '{}': {}", text, kForm);
      if (unit < next_unit)
        fail(ErrorKind::usage, subject, "invalid duration '{}': unit '{}' repeated or out of order; {}", text,
             suffix, kForm);
      next_unit = unit + 1;
      unit_seconds = kUnits[unit].seconds;
      pos = digits_end + 1;
    }
    if (number > (kMax - total) / unit_seconds)
      fail(ErrorKind::usage, subject, "duration '{}' is too large", text);
    total += number * unit_seconds;
  }
  if (total == 0) fail(ErrorKind::usage, subject, "duration '{}' is zero: it must be longer than that", text);
  return std::chrono::seconds(total);
}

std::string format_duration(std::chrono::seconds duration) {
  std::int64_t count = duration.count();
  if (count == 0) return "0s";
  std::string out = count < 0 ? "-" : "";
  // Negated in unsigned so that the most negative value does not overflow.
  std::uint64_t left = count < 0 ? 0 - static_cast<std::uint64_t>(count) : static_cast<std::uint64_t>(count);
  for (const Unit& unit : kUnits) {
    std::uint64_t per = static_cast<std::uint64_t>(unit.seconds);
    if (left >= per) {
      out += fmt::format("{}{}", left / per, unit.suffix);
      left %= per;
    }
  }
  return out;
}

}  // namespace dormant::schedule
