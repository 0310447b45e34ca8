#include "dormant/core/shared_library.hpp"

#include <dlfcn.h>

#include "dormant/core/error.hpp"

namespace dormant {

SharedLibrary::SharedLibrary(std::string soname, std::string package)
    : soname_(std::move(soname)), package_(std::move(package)) {
  handle_ = ::dlopen(soname_.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle_) {
    const char* why = ::dlerror();
    fail(ErrorKind::unsupported, soname_, "cannot load it ({}); install the Debian package {}",
         why ? why : "unknown error", package_);
  }
}

SharedLibrary::~SharedLibrary() {
  // Never dlclose: a library such as libvirt may keep threads or atexit
  // handlers that would then point into unmapped code.
}

void* SharedLibrary::symbol(const char* name) const {
  ::dlerror();
  void* address = ::dlsym(handle_, name);
  if (!address) fail(ErrorKind::unsupported, soname_, "has no symbol {}; is {} too old?", name, package_);
  return address;
}

}  // namespace dormant
