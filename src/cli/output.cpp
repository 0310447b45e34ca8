#include "output.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <ostream>

namespace dormant::cli {

void Table::print(std::ostream& out) const {
  std::vector<std::size_t> widths(header_.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i)
      widths[i] = std::max(widths[i], row[i].size());
  };
  measure(header_);
  for (const auto& row : rows_) measure(row);
  auto line = [&](const std::vector<std::string>& row) {
    std::string text;
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      if (i + 1 == row.size())
        text += row[i];
      else
        text += fmt::format("{:<{}}  ", row[i], widths[i]);
    }
    out << text << '\n';
  };
  line(header_);
  for (const auto& row : rows_) line(row);
}

std::string human_size(std::uint64_t bytes) {
  static constexpr std::array<const char*, 6> kUnits = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return fmt::format("{} B", bytes);
  double value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (value >= 1024 && unit + 1 < kUnits.size()) {
    value /= 1024;
    ++unit;
  }
  return fmt::format("{:.1f} {}", value, kUnits[unit]);
}

std::string or_dash(const std::string& value) { return value.empty() ? "-" : value; }

}  // namespace dormant::cli
