#include "libvirt_api.hpp"

#include "dormant/core/shared_library.hpp"

namespace dormant::library {

const LibvirtApi& libvirt_api() {
  // Initialised once; a failed load throws and is retried on the next call.
  static const LibvirtApi api = [] {
    static const SharedLibrary library("libvirt.so.0", "libvirt0");
    LibvirtApi loaded;
#define DORMANT_BIND_FUNCTION(name) library.bind(loaded.name, #name);
    DORMANT_LIBVIRT_FUNCTIONS(DORMANT_BIND_FUNCTION)
#undef DORMANT_BIND_FUNCTION
    return loaded;
  }();
  return api;
}

const LibvirtQemuApi& libvirt_qemu_api() {
  static const LibvirtQemuApi api = [] {
    static const SharedLibrary library("libvirt-qemu.so.0", "libvirt0");
    LibvirtQemuApi loaded;
#define DORMANT_BIND_FUNCTION(name) library.bind(loaded.name, #name);
    DORMANT_LIBVIRT_QEMU_FUNCTIONS(DORMANT_BIND_FUNCTION)
#undef DORMANT_BIND_FUNCTION
    return loaded;
  }();
  return api;
}

std::string last_libvirt_error() {
  const virError* error = libvirt_api().virGetLastError();
  return error && error->message ? error->message : "unknown libvirt error";
}

void silence_libvirt() {
  static const bool once = [] {
    libvirt_api().virSetErrorFunc(nullptr, [](void*, virErrorPtr) {});
    return true;
  }();
  (void)once;
}

}  // namespace dormant::library
