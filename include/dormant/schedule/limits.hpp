// --max-concurrent and --max-errors: a count ("4") or a percentage of the
// job's items ("25%"), turned into numbers once the item count is known.
//
// Rounding rules (the user documentation quotes these):
// - Concurrency rounds UP and is at least 1: 25% of 10 items is 3, and 1% of
//   10 items is 1, never 0, so a job always makes progress.
// - The error threshold rounds DOWN: 25% of 10 items is 2, and 1% of 10 items
//   is 0, so the threshold is never more lenient than asked.
// - Dispatch stops only when the failures EXCEED the threshold: with
//   --max-errors 2, two failures are tolerated and the third stops dispatch.
// - Items already running when dispatch stops are left to finish and may
//   still fail: up to concurrency - 1 more failures after the one that stopped
//   dispatch, so the final failure count is at most threshold + concurrency.
//
// All arithmetic is on integers: no floating point rounding surprises.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace dormant::schedule {

struct Limit {
  bool percent = false;
  unsigned value = 0;
  std::string text() const;  // "4" or "25%", as parse_* accepts it
};

// "N" with N >= 1, or "P%" with P from 1 to 100; Error(usage) naming
// --max-concurrent and the bad text otherwise.
Limit parse_concurrency(std::string_view text);

// "N" with N >= 0, or "P%" with P from 0 to 100; Error(usage) naming
// --max-errors and the bad text otherwise.
Limit parse_error_limit(std::string_view text);

// A count gives its value; a percentage ceil(P * items / 100), at least 1.
std::size_t concurrency_for(const Limit& limit, std::size_t items);

// A count gives its value; a percentage floor(P * items / 100).
std::size_t error_threshold_for(const Limit& limit, std::size_t items);

// failed > threshold: reaching the threshold exactly is still allowed.
bool errors_exceeded(std::size_t failed, std::size_t threshold);

}  // namespace dormant::schedule
