// Base64 (RFC 4648, standard alphabet, padded), as qemu-guest-agent uses for
// guest-exec output and guest-file data. Backed by OpenSSL's EVP codec.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace dormant {

std::string base64_encode(std::string_view data);
// nullopt when `text` is not valid padded base64 (whitespace is not allowed).
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace dormant
