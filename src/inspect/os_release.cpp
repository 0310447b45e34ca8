// os-release(5) parser. Written here rather than taken from a library because
// no Debian-packaged C++ library parses it without running a shell (systemd's
// env-file parser is internal to systemd), and the file is guest content: the
// parser must never evaluate anything, only undo quoting.
#include "dormant/inspect/os_release.hpp"

#include <cstddef>
#include <optional>

namespace dormant::inspect {

namespace {

// Only the first lines count: a real os-release has about a dozen.
constexpr std::size_t kMaxLines = 1000;

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

bool is_key_char(char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

// Undoes shell quoting as os-release(5) allows it: unquoted text, '...' (taken
// literally) and "..." (where \ escapes only $ " \ and `) may be concatenated.
// Variable expansion and command substitution are not shell features the
// format allows, so '$' and '`' are literal characters here. nullopt for an
// unterminated quote or unquoted whitespace inside the value (both invalid).
std::optional<std::string> unquote(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  std::size_t i = 0;
  while (i < v.size()) {
    char c = v[i];
    if (c == '\'') {
      std::size_t end = v.find('\'', i + 1);
      if (end == std::string_view::npos) return std::nullopt;
      out.append(v.substr(i + 1, end - i - 1));
      i = end + 1;
    } else if (c == '"') {
      ++i;
      bool closed = false;
      while (i < v.size()) {
        char d = v[i];
        if (d == '"') {
          closed = true;
          ++i;
          break;
        }
        if (d == '\\' && i + 1 < v.size()) {
          char e = v[i + 1];
          if (e == '$' || e == '"' || e == '\\' || e == '`') {
            out.push_back(e);
            i += 2;
            continue;
          }
        }
        out.push_back(d);
        ++i;
      }
      if (!closed) return std::nullopt;
    } else if (c == '\\') {
      // Outside quotes a backslash makes the next character literal.
      if (i + 1 >= v.size()) return std::nullopt;
      out.push_back(v[i + 1]);
      i += 2;
    } else if (is_blank(c)) {
      // The value was trimmed, so this is whitespace between words: the
      // format requires such values to be quoted.
      return std::nullopt;
    } else {
      out.push_back(c);
      ++i;
    }
  }
  return out;
}

}  // namespace

std::map<std::string, std::string> parse_os_release(std::string_view text) {
  std::map<std::string, std::string> result;
  std::size_t lines = 0;
  while (!text.empty() && lines < kMaxLines) {
    ++lines;
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);

    line = trim(line);
    if (line.empty() || line.front() == '#') continue;
    std::size_t eq = line.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    std::string_view key = line.substr(0, eq);
    bool valid_key = true;
    for (char c : key) valid_key = valid_key && is_key_char(c);
    if (!valid_key) continue;
    auto value = unquote(trim(line.substr(eq + 1)));
    if (!value) continue;
    // Later assignments win, as when a shell sources the file.
    result.insert_or_assign(std::string(key), std::move(*value));
  }
  return result;
}

}  // namespace dormant::inspect
