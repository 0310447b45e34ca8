// libvirt, loaded on first use (see dormant/core/shared_library.hpp for why).
// Call sites use libvirt_api().virConnectOpenReadOnly(...) etc.; the header
// still comes from libvirt-dev, so every signature is the library's own.
#pragma once

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <memory>
#include <string>

// patch/finalize (--finalize) uses the read-write connection and the
// transient domain calls (virConnectOpen .. virDomainLookupByName).
#define DORMANT_LIBVIRT_FUNCTIONS(X)                                                                    \
  X(virConnectClose)                                                                                    \
  X(virConnectListAllDomains)                                                                           \
  X(virConnectOpenReadOnly)                                                                             \
  X(virDomainFree)                                                                                      \
  X(virDomainGetName) X(virDomainGetXMLDesc) X(virDomainIsActive) X(virGetLastError) X(virSetErrorFunc) \
      X(virStoragePoolFree) X(virStoragePoolGetXMLDesc) X(virStoragePoolListAllVolumes)                 \
          X(virStoragePoolLookupByName) X(virStorageVolFree) X(virStorageVolGetPath)                    \
              X(virStorageVolLookupByName) X(virConnectOpen) X(virDomainCreateXML) X(virDomainDestroy)  \
                  X(virDomainLookupByName) X(virResetLastError)

namespace dormant::library {

struct LibvirtApi {
#define DORMANT_DECLARE_FUNCTION(name) decltype(&::name) name = nullptr;
  DORMANT_LIBVIRT_FUNCTIONS(DORMANT_DECLARE_FUNCTION)
#undef DORMANT_DECLARE_FUNCTION
};

// Loads libvirt.so.0 once (thread-safe). Error(unsupported) naming the
// package when it is not installed.
const LibvirtApi& libvirt_api();

// The message of libvirt's last error on this thread ("unknown libvirt error").
std::string last_libvirt_error();

// libvirt prints every error to stderr by default; the core never prints.
// Idempotent; call before the first connection.
void silence_libvirt();

struct ConnectClose {
  void operator()(virConnectPtr c) const { libvirt_api().virConnectClose(c); }
};
using Connection = std::unique_ptr<virConnect, ConnectClose>;

}  // namespace dormant::library
