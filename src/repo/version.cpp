// Version ordering through libapt-pkg's debVS; dpkg's version syntax rules.
//
// debVS (debVersioningSystem) is a global object constructed when libapt-pkg
// is loaded and DoCmpVersion is a pure function of its arguments: comparing
// versions needs neither pkgInitConfig nor pkgInitSystem, so nothing of the
// host's /etc/apt, $APT_CONFIG or dpkg state is read here (the isolation
// pitfalls of docs/design/assess.md do not arise) and no one-time
// initialisation or lock is needed.
#include "dormant/repo/version.hpp"

#include <apt-pkg/debversion.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <string>

namespace dormant::repo {

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// dpkg's epoch: strtol(string, &end, 10) over the text before the first
// colon (dpkg runs strtol on the whole string; it stops at the colon, which
// dpkg then requires). strtol accepts leading white space and a sign, and so
// does dpkg: "+1:1.0" is valid.
bool valid_epoch(std::string_view text) {
  if (text.empty()) return false;
  const std::string copy(text);
  errno = 0;
  char* end = nullptr;
  const long epoch = std::strtol(copy.c_str(), &end, 10);
  if (end == copy.c_str()) return false;                // epoch is empty
  if (end != copy.c_str() + copy.size()) return false;  // epoch is not a number
  if (epoch < 0) return false;
  if (epoch > INT_MAX || errno == ERANGE) return false;
  return true;
}

// libapt-pkg's DoCmpVersion does not keep to the [begin, end) it is given:
//  * it looks for the revision's '-' starting at end - 1 and reads that byte
//    even when the range is empty, one byte before the string;
//  * CmpFragment skips leading zeros and digit runs without checking the end,
//    i.e. it relies on a NUL (or another non-digit) after the range.
// Both found by tests/fuzz/version_fuzz.cpp. A view is therefore copied into
// a NUL-terminated string (which also keeps "1" cut out of "12" from being
// read as 12), and an empty version is passed as the empty range at the NUL
// of a string whose previous byte is not '-'.
constexpr char kEmptyVersion[] = "e";

}  // namespace

int compare_versions(std::string_view a, std::string_view b) {
  const std::string a_copy(a);
  const std::string b_copy(b);
  const char* const a_begin = a.empty() ? kEmptyVersion + 1 : a_copy.c_str();
  const char* const b_begin = b.empty() ? kEmptyVersion + 1 : b_copy.c_str();
  const int result = debVS.DoCmpVersion(a_begin, a_begin + a.size(), b_begin, b_begin + b.size());
  return result < 0 ? -1 : (result > 0 ? 1 : 0);
}

bool is_valid_version(std::string_view version) noexcept {
  // dpkg stops at the first NUL (C string); a NUL is never valid here.
  if (version.find('\0') != std::string_view::npos) return false;
  if (version.empty()) return false;  // version string is empty
  std::size_t begin = 0;
  while (begin < version.size() && is_blank(version[begin])) ++begin;
  std::size_t end = begin;
  while (end < version.size() && !is_blank(version[end])) ++end;
  for (std::size_t i = end; i < version.size(); ++i)
    if (!is_blank(version[i])) return false;  // version string has embedded spaces
  std::string_view rest = version.substr(begin, end - begin);

  if (const auto colon = rest.find(':'); colon != std::string_view::npos) {
    try {
      if (!valid_epoch(rest.substr(0, colon))) return false;
    } catch (...) {  // std::bad_alloc from the copy
      return false;
    }
    rest.remove_prefix(colon + 1);
    if (rest.empty()) return false;  // nothing after colon in version number
  }
  std::string_view upstream = rest;
  std::string_view revision;
  if (const auto hyphen = rest.rfind('-'); hyphen != std::string_view::npos) {
    upstream = rest.substr(0, hyphen);
    revision = rest.substr(hyphen + 1);
    if (revision.empty()) return false;  // revision number is empty
  }
  if (upstream.empty()) return false;        // version number is empty
  if (!is_digit(upstream[0])) return false;  // version number does not start with digit
  for (char c : upstream.substr(1))
    if (!is_digit(c) && !is_alpha(c) && std::string_view(".-+~:").find(c) == std::string_view::npos)
      return false;  // invalid character in version number
  for (char c : revision)
    if (!is_digit(c) && !is_alpha(c) && std::string_view(".+~").find(c) == std::string_view::npos)
      return false;  // invalid character in revision number
  return true;
}

std::string_view upstream_version(std::string_view version) noexcept {
  if (const auto colon = version.find(':'); colon != std::string_view::npos) version.remove_prefix(colon + 1);
  if (const auto hyphen = version.rfind('-'); hyphen != std::string_view::npos)
    version = version.substr(0, hyphen);
  return version;
}

}  // namespace dormant::repo
