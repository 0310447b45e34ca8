// The API's bearer token: created once, readable by its owner only.
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "dormant/core/error.hpp"
#include "dormant/core/fsync.hpp"
#include "dormant/server/server.hpp"

namespace dormant::server {
namespace {

std::string random_hex_token() {
  std::array<unsigned char, 32> bytes{};
  std::size_t got = 0;
  while (got < bytes.size()) {
    ssize_t n = ::getrandom(bytes.data() + got, bytes.size() - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(ErrorKind::io, "token", "getrandom: {}", std::strerror(errno));
    got += static_cast<std::size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char b : bytes) {
    hex.push_back(kHex[b >> 4]);
    hex.push_back(kHex[b & 15]);
  }
  return hex;
}

// Creates the file with O_EXCL so that two servers starting at once cannot
// both write a token; the loser reads the winner's.
bool create_token_file(const std::filesystem::path& path, const std::string& token) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0 && errno == EEXIST) return false;
  if (fd < 0)
    fail(ErrorKind::io, path.string(), "cannot create the API token file: {}", std::strerror(errno));
  std::string line = token + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  int saved = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(path.c_str());
    fail(ErrorKind::io, path.string(), "cannot write the API token file: {}", std::strerror(saved));
  }
  fsync_path(path.has_parent_path() ? path.parent_path() : ".", O_RDONLY | O_DIRECTORY);
  return true;
}

}  // namespace

std::string load_or_create_token(const std::filesystem::path& path) {
  create_token_file(path, random_hex_token());
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0)
    fail(ErrorKind::io, path.string(), "cannot read the API token file: {}", std::strerror(errno));
  if (!S_ISREG(st.st_mode))
    fail(ErrorKind::hostile, path.string(), "the API token file is not a regular file");
  if (st.st_uid != ::geteuid())
    fail(ErrorKind::hostile, path.string(), "the API token file belongs to another user (uid {})", st.st_uid);
  if ((st.st_mode & 077) != 0)
    fail(ErrorKind::hostile, path.string(),
         "the API token file is readable or writable by others (mode {:o}); run `chmod 600 {}` or delete it "
         "to have a new token made",
         st.st_mode & 0777, path.string());
  std::ifstream in(path);
  std::string token;
  std::getline(in, token);
  if (token.size() < 32 || token.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
    fail(ErrorKind::corrupt, path.string(),
         "the API token file does not hold a token (at least 32 hex digits); delete it to have a new one "
         "made");
  return token;
}

}  // namespace dormant::server
