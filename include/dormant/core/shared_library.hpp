// A shared library loaded on first use with dlopen.
//
// Why: libvirt and libguestfs pull in glib, gnutls, ICU and dozens more
// libraries whose constructors cost about 14 ms at every process start
// (measured: an empty program linked with -lvirt or -lguestfs). Most dormant
// commands need neither, so they are loaded only when a libvirt connection or
// the guestfs fallback is actually used.
#pragma once

#include <string>

namespace dormant {

class SharedLibrary {
 public:
  // Loads `soname` (RTLD_NOW | RTLD_LOCAL). Throws Error(unsupported) naming
  // the library and the Debian package that provides it when it is missing.
  SharedLibrary(std::string soname, std::string package);
  ~SharedLibrary();
  SharedLibrary(const SharedLibrary&) = delete;
  SharedLibrary& operator=(const SharedLibrary&) = delete;

  // The address of `name`; Error(unsupported) when the library lacks it.
  void* symbol(const char* name) const;

  template <typename Function>
  void bind(Function*& slot, const char* name) const {
    slot = reinterpret_cast<Function*>(symbol(name));
  }

 private:
  std::string soname_;
  std::string package_;
  void* handle_ = nullptr;
};

}  // namespace dormant
