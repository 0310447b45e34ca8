// Durations on the command line (--timeout 2h, --every 30m): a number of
// seconds ("90"), or numbers with units d, h, m, s written largest first,
// each at most once ("1d", "1h30m", "2m30s").
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace dormant::schedule {

// The duration `text` gives; Error(usage) naming `option` when it is empty,
// not of the form above (junk, a sign, spaces, a unit repeated or out of
// order), zero, or too large to count in seconds.
std::chrono::seconds parse_duration(std::string_view text, std::string_view option);

// The shortest form parse_duration reads back: "1h30m", "45s", "2d"; "0s"
// for zero, and a leading '-' for negative durations (never parsed back).
std::string format_duration(std::chrono::seconds duration);

}  // namespace dormant::schedule
