#include "service_volumes.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "dormant/core/error.hpp"
#include "finalize_domain.hpp"
#include "libvirt_api.hpp"

namespace dormant::patch::detail {
namespace {

using library::libvirt_api;
namespace fs = std::filesystem;
constexpr std::size_t kChunk = 1 << 20;

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

std::string upload_volume(virConnectPtr conn, virStoragePoolPtr pool, const std::string& name,
                          const std::string& format, std::uint64_t capacity, const fs::path& file,
                          Deadline deadline) {
  const auto& api = libvirt_api();
  if (library::VolumeHandle existing{api.virStorageVolLookupByName(pool, name.c_str())})
    fail(ErrorKind::conflict, name, "a volume with this name exists on the host already");
  api.virResetLastError();
  const std::string xml = fmt::format(
      "<volume><name>{}</name><capacity unit='bytes'>{}</capacity><target><format type='{}'/>"
      "<permissions><mode>0600</mode></permissions></target></volume>",
      xml_escape(name), capacity, xml_escape(format));
  library::VolumeHandle volume(api.virStorageVolCreateXML(pool, xml.c_str(), 0));
  if (!volume) fail(ErrorKind::io, name, "cannot create the volume: {}", library::last_libvirt_error());
  bool done = false;
  struct DeleteUnlessDone {
    virStorageVolPtr v;
    const bool& done;
    ~DeleteUnlessDone() {
      if (!done) libvirt_api().virStorageVolDelete(v, 0);
    }
  } guard{volume.get(), done};

  Fd in{::open(file.c_str(), O_RDONLY | O_CLOEXEC)};
  if (in.fd < 0) fail(ErrorKind::io, file.string(), "open: {}", std::strerror(errno));
  library::StreamHandle stream(api.virStreamNew(conn, 0));
  if (!stream || api.virStorageVolUpload(volume.get(), stream.get(), 0, 0, 0) != 0)
    fail(ErrorKind::io, name, "the host refused the upload: {}", library::last_libvirt_error());
  std::vector<char> buffer(kChunk);
  for (;;) {
    if (std::chrono::steady_clock::now() >= deadline) {
      api.virStreamAbort(stream.get());
      fail(ErrorKind::limit, name, "the upload of {} did not finish within the copy time-out", file.string());
    }
    const ssize_t n = ::read(in.fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      api.virStreamAbort(stream.get());
      fail(ErrorKind::io, file.string(), "read: {}", std::strerror(errno));
    }
    if (n == 0) break;
    for (ssize_t sent = 0; sent < n;) {
      const int r = api.virStreamSend(stream.get(), buffer.data() + sent, static_cast<std::size_t>(n - sent));
      if (r < 0) {
        const std::string why = library::last_libvirt_error();
        api.virStreamAbort(stream.get());
        fail(ErrorKind::io, name, "the upload failed: {}", why);
      }
      sent += r;
    }
  }
  if (api.virStreamFinish(stream.get()) != 0)
    fail(ErrorKind::io, name, "the upload did not complete: {}", library::last_libvirt_error());
  char* path = api.virStorageVolGetPath(volume.get());
  if (path == nullptr) fail(ErrorKind::io, name, "no path for the volume: {}", library::last_libvirt_error());
  std::string result(path);
  std::free(path);
  done = true;
  return result;
}

void download_volume(virConnectPtr conn, virStoragePoolPtr pool, const std::string& name,
                     const fs::path& file, Deadline deadline) {
  const auto& api = libvirt_api();
  library::VolumeHandle volume(api.virStorageVolLookupByName(pool, name.c_str()));
  if (!volume)
    fail(ErrorKind::io, name, "the volume is gone from the host: {}", library::last_libvirt_error());
  Fd out{::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)};
  if (out.fd < 0) fail(ErrorKind::io, file.string(), "create: {}", std::strerror(errno));
  bool done = false;
  struct RemoveUnlessDone {
    const fs::path& f;
    const bool& done;
    ~RemoveUnlessDone() {
      std::error_code ec;
      if (!done) fs::remove(f, ec);
    }
  } guard{file, done};
  library::StreamHandle stream(api.virStreamNew(conn, 0));
  if (!stream || api.virStorageVolDownload(volume.get(), stream.get(), 0, 0, 0) != 0)
    fail(ErrorKind::io, name, "the host refused the download: {}", library::last_libvirt_error());
  std::vector<char> buffer(kChunk);
  for (;;) {
    if (std::chrono::steady_clock::now() >= deadline) {
      api.virStreamAbort(stream.get());
      fail(ErrorKind::limit, name, "the download did not finish within the copy time-out");
    }
    const int n = api.virStreamRecv(stream.get(), buffer.data(), buffer.size());
    if (n < 0) {
      const std::string why = library::last_libvirt_error();
      api.virStreamAbort(stream.get());
      fail(ErrorKind::io, name, "the download failed: {}", why);
    }
    if (n == 0) break;
    for (int written = 0; written < n;) {
      const ssize_t w = ::write(out.fd, buffer.data() + written, static_cast<std::size_t>(n - written));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        api.virStreamAbort(stream.get());
        fail(ErrorKind::io, file.string(), "write: {}", std::strerror(errno));
      }
      written += static_cast<int>(w);
    }
  }
  if (api.virStreamFinish(stream.get()) != 0)
    fail(ErrorKind::io, name, "the download did not complete: {}", library::last_libvirt_error());
  if (::fsync(out.fd) != 0) fail(ErrorKind::io, file.string(), "fsync: {}", std::strerror(errno));
  done = true;
}

bool delete_volume(virStoragePoolPtr pool, const std::string& name) {
  const auto& api = libvirt_api();
  library::VolumeHandle volume(api.virStorageVolLookupByName(pool, name.c_str()));
  if (!volume) {
    const virError* e = api.virGetLastError();
    return e != nullptr && e->code == VIR_ERR_NO_STORAGE_VOL;
  }
  return api.virStorageVolDelete(volume.get(), 0) == 0;
}

}  // namespace dormant::patch::detail
