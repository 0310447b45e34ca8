#include "dormant/core/sha256.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>

#include "dormant/core/error.hpp"

namespace dormant {
namespace {

using Context = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

void update(EVP_MD_CTX* ctx, std::string_view data) {
  if (EVP_DigestUpdate(ctx, data.data(), data.size()) != 1)
    fail(ErrorKind::internal, "sha256", "EVP_DigestUpdate failed");
}

Context new_context() {
  Context ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    fail(ErrorKind::internal, "sha256", "cannot initialise SHA-256");
  return ctx;
}

std::string finish_hex(EVP_MD_CTX* ctx) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int size = 0;
  if (EVP_DigestFinal_ex(ctx, md.data(), &size) != 1)
    fail(ErrorKind::internal, "sha256", "EVP_DigestFinal_ex failed");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (unsigned int i = 0; i < size; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 0xf];
  }
  return out;
}

std::string digest(const std::vector<std::string_view>& parts, bool length_prefixed) {
  Context ctx = new_context();
  for (auto part : parts) {
    if (length_prefixed) {
      std::array<unsigned char, 8> length{};
      std::uint64_t n = part.size();
      for (auto& byte : length) {
        byte = static_cast<unsigned char>(n & 0xff);
        n >>= 8;
      }
      update(ctx.get(), {reinterpret_cast<const char*>(length.data()), length.size()});
    }
    update(ctx.get(), part);
  }
  return finish_hex(ctx.get());
}

}  // namespace

std::string sha256_hex(std::string_view data) { return digest({data}, false); }

std::string sha256_hex(const std::vector<std::string_view>& parts) { return digest(parts, true); }

FileDigest sha256_file(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(ErrorKind::io, path.string(), "cannot open: {}", std::strerror(errno));
  Context ctx = new_context();
  FileDigest result;
  std::vector<char> buffer(std::size_t{1} << 20);
  for (;;) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      fail(ErrorKind::io, path.string(), "cannot read: {}", std::strerror(err));
    }
    if (n == 0) break;
    update(ctx.get(), {buffer.data(), static_cast<std::size_t>(n)});
    result.size += static_cast<std::uint64_t>(n);
  }
  ::close(fd);
  result.sha256 = finish_hex(ctx.get());
  return result;
}

}  // namespace dormant
