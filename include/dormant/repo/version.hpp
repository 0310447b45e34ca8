// Debian package versions: ordering and syntax.
//
// Ordering is libapt-pkg's debian versioning system (the one apt itself uses,
// differential-tested against `dpkg --compare-versions`); syntax follows
// dpkg's parseversion(), i.e. exactly what `dpkg --validate-version` accepts.
// All functions are pure, never read any apt or dpkg configuration and are
// safe to call from any thread; only compare_versions may throw, and only
// std::bad_alloc (it copies its arguments: see version.cpp).
#pragma once

#include <string_view>

namespace dormant::repo {

// <0 when a sorts before b, 0 when they are equal in Debian policy order
// (e.g. "1.0" and "0:1.0"), >0 when a sorts after b. Defined for any string,
// valid or not, as apt defines it; only for valid versions is it guaranteed
// to agree with dpkg.
int compare_versions(std::string_view a, std::string_view b);

// True when dpkg would accept `version` (`dpkg --validate-version`): optional
// "epoch:" (a decimal number as strtol reads it, 0..INT_MAX), an upstream
// version starting with a digit made of [A-Za-z0-9.+~-:], an optional
// "-revision" of [A-Za-z0-9.+~]; surrounding spaces and tabs are ignored,
// embedded ones are not. dpkg's warnings count as invalid, as in dpkg.
bool is_valid_version(std::string_view version) noexcept;

// The upstream part of a version: without "epoch:" (up to the first colon)
// and without "-revision" (from the last hyphen). A view into `version`.
std::string_view upstream_version(std::string_view version) noexcept;

}  // namespace dormant::repo
