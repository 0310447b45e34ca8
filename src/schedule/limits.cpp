#include "dormant/schedule/limits.hpp"

#include <charconv>
#include <limits>
#include <optional>

#include "dormant/core/error.hpp"

namespace dormant::schedule {
namespace {

// Digits only (no sign, no spaces, no "+"), fitting in unsigned.
std::optional<unsigned> parse_unsigned(std::string_view digits) {
  if (digits.empty()) return std::nullopt;
  for (char c : digits)
    if (c < '0' || c > '9') return std::nullopt;
  unsigned value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return value;
}

// The shared grammar; `min` is the smallest count or percentage accepted.
Limit parse_limit(std::string_view text, std::string_view option, unsigned min) {
  Limit limit;
  std::string_view digits = text;
  if (!digits.empty() && digits.back() == '%') {
    limit.percent = true;
    digits.remove_suffix(1);
  }
  std::optional<unsigned> value = parse_unsigned(digits);
  if (!value || *value < min || (limit.percent && *value > 100))
    fail(ErrorKind::usage, std::string(option),
         "invalid value '{}': use a count of at least {} or a percentage of the items from {}% to 100%, "
         "such as 4 or 25%",
         text, min, min);
  limit.value = *value;
  return limit;
}

}  // namespace

std::string Limit::text() const { return percent ? fmt::format("{}%", value) : fmt::format("{}", value); }

Limit parse_concurrency(std::string_view text) { return parse_limit(text, "--max-concurrent", 1); }

Limit parse_error_limit(std::string_view text) { return parse_limit(text, "--max-errors", 0); }

// P * items / 100 is computed as P * (items / 100) + P * (items % 100) / 100
// so that it cannot overflow for any item count.
std::size_t concurrency_for(const Limit& limit, std::size_t items) {
  if (!limit.percent) return limit.value;
  std::size_t whole = limit.value * (items / 100);
  std::size_t rest = limit.value * (items % 100);
  std::size_t n = whole + (rest + 99) / 100;
  return n == 0 ? 1 : n;
}

std::size_t error_threshold_for(const Limit& limit, std::size_t items) {
  if (!limit.percent) return limit.value;
  return limit.value * (items / 100) + limit.value * (items % 100) / 100;
}

bool errors_exceeded(std::size_t failed, std::size_t threshold) { return failed > threshold; }

}  // namespace dormant::schedule
