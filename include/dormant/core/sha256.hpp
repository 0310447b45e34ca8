// SHA-256 content hashes (OpenSSL's libcrypto), as lowercase hex.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace dormant {

std::string sha256_hex(std::string_view data);

// The hash of several parts, each length-prefixed so that ("ab","c") and
// ("a","bc") differ.
std::string sha256_hex(const std::vector<std::string_view>& parts);

// SHA-256 of a file's content, read in 1 MiB pieces, and its size.
// Error(io) naming the file when it cannot be read.
struct FileDigest {
  std::string sha256;
  std::uint64_t size = 0;
};
FileDigest sha256_file(const std::filesystem::path& path);

}  // namespace dormant
