#include "dormant/image/fstab.hpp"

#include <cstddef>

namespace dormant::image {

namespace {

constexpr std::size_t max_entries = 1000;
constexpr std::size_t max_line = 4096;  // longer lines are not real fstab entries

bool is_blank(char c) { return c == ' ' || c == '\t'; }

// fstab escapes blanks as \040 (space), \011 (tab), \012, \134 (backslash):
// any three-digit octal escape is decoded; anything else is kept literally, as
// util-linux does.
std::string unescape(std::string_view field) {
  auto octal = [](char c) { return c >= '0' && c <= '7'; };
  std::string out;
  out.reserve(field.size());
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && field.size() - i > 3 && field[i + 1] >= '0' && field[i + 1] <= '3' &&
        octal(field[i + 2]) && octal(field[i + 3])) {
      out.push_back(static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 + (field[i + 3] - '0')));
      i += 3;
      continue;
    }
    out.push_back(field[i]);
  }
  return out;
}

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < line.size() && fields.size() < 6) {
    while (i < line.size() && is_blank(line[i])) ++i;
    if (i == line.size()) break;
    const std::size_t start = i;
    while (i < line.size() && !is_blank(line[i])) ++i;
    fields.push_back(line.substr(start, i - start));
  }
  return fields;
}

}  // namespace

std::vector<FstabEntry> parse_fstab(std::string_view text) {
  std::vector<FstabEntry> entries;
  std::size_t position = 0;
  while (position < text.size() && entries.size() < max_entries) {
    std::size_t end = text.find('\n', position);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(position, end - position);
    position = end + 1;
    if (line.size() > max_line) continue;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::size_t first = 0;
    while (first < line.size() && is_blank(line[first])) ++first;
    if (first == line.size() || line[first] == '#') continue;
    auto fields = split_fields(line.substr(first));
    // spec, mountpoint and type are required (util-linux also allows no options).
    if (fields.size() < 3) continue;
    FstabEntry entry;
    entry.spec = unescape(fields[0]);
    entry.mountpoint = unescape(fields[1]);
    entry.fstype = unescape(fields[2]);
    entry.options = fields.size() > 3 ? unescape(fields[3]) : "";
    if (entry.spec.empty() || entry.mountpoint.empty() || entry.fstype.empty()) continue;
    if (entry.spec.find('\0') != std::string::npos || entry.mountpoint.find('\0') != std::string::npos) continue;
    entries.push_back(std::move(entry));
  }
  return entries;
}

}  // namespace dormant::image
