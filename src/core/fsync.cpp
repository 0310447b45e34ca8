#include "dormant/core/fsync.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "dormant/core/error.hpp"

namespace dormant {

void fsync_path(const std::filesystem::path& path, int open_flags) {
  const int fd = ::open(path.c_str(), open_flags | O_CLOEXEC);
  if (fd < 0) fail(ErrorKind::io, path.string(), "cannot open to fsync: {}", std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) fail(ErrorKind::io, path.string(), "fsync failed: {}", std::strerror(err));
}

}  // namespace dormant
