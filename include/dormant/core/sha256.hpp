// SHA-256 content hashes (OpenSSL's libcrypto), as lowercase hex.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dormant {

std::string sha256_hex(std::string_view data);

// The hash of several parts, each length-prefixed so that ("ab","c") and
// ("a","bc") differ.
std::string sha256_hex(const std::vector<std::string_view>& parts);

}  // namespace dormant
