// os-release(5) parsing (guest content: hostile, bounded).
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace dormant::inspect {

// KEY=value pairs with shell-style quoting and escapes undone, as
// os-release(5) specifies. Invalid lines are ignored.
std::map<std::string, std::string> parse_os_release(std::string_view text);

}  // namespace dormant::inspect
