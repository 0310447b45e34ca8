// libvirt, loaded on first use (see dormant/core/shared_library.hpp for why).
// Call sites use libvirt_api().virConnectOpenReadOnly(...) etc.; the header
// still comes from libvirt-dev, so every signature is the library's own.
#pragma once

#include <libvirt/libvirt-qemu.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <memory>
#include <string>

// identify (libvirt pools and domains) uses the read-only calls; patch
// --finalize the read-write connection and transient domains; --mode
// service and `dormant host` the node, storage-volume and stream calls.
#define DORMANT_LIBVIRT_FUNCTIONS(X) \
  X(virConnectClose)                 \
  X(virConnectListAllDomains)        \
  X(virConnectOpenReadOnly)          \
  X(virDomainFree)                   \
  X(virDomainGetName)                \
  X(virDomainGetXMLDesc)             \
  X(virDomainIsActive)               \
  X(virGetLastError)                 \
  X(virSetErrorFunc)                 \
  X(virStoragePoolFree)              \
  X(virStoragePoolGetXMLDesc)        \
  X(virStoragePoolListAllVolumes)    \
  X(virStoragePoolLookupByName)      \
  X(virStorageVolFree)               \
  X(virStorageVolGetPath)            \
  X(virStorageVolLookupByName)       \
  X(virConnectOpen)                  \
  X(virDomainCreateXML)              \
  X(virDomainDestroy)                \
  X(virDomainLookupByName)           \
  X(virResetLastError)               \
  X(virConnectIsAlive)               \
  X(virNodeGetInfo)                  \
  X(virNodeGetFreeMemory)            \
  X(virStoragePoolGetInfo)           \
  X(virStoragePoolRefresh)           \
  X(virStorageVolCreateXML)          \
  X(virStorageVolDelete)             \
  X(virStorageVolDownload)           \
  X(virStorageVolGetInfo)            \
  X(virStorageVolGetName)            \
  X(virStorageVolUpload)             \
  X(virStreamAbort)                  \
  X(virStreamFinish)                 \
  X(virStreamFree)                   \
  X(virStreamNew)                    \
  X(virStreamRecv)                   \
  X(virStreamSend)                   \
  X(virDomainGetState)               \
  X(virDomainShutdownFlags)          \
  X(virDomainReboot)

// libvirt-qemu.so.0 (same package): the guest-agent pass-through.
#define DORMANT_LIBVIRT_QEMU_FUNCTIONS(X) X(virDomainQemuAgentCommand)

namespace dormant::library {

struct LibvirtApi {
#define DORMANT_DECLARE_FUNCTION(name) decltype(&::name) name = nullptr;
  DORMANT_LIBVIRT_FUNCTIONS(DORMANT_DECLARE_FUNCTION)
#undef DORMANT_DECLARE_FUNCTION
};

struct LibvirtQemuApi {
#define DORMANT_DECLARE_FUNCTION(name) decltype(&::name) name = nullptr;
  DORMANT_LIBVIRT_QEMU_FUNCTIONS(DORMANT_DECLARE_FUNCTION)
#undef DORMANT_DECLARE_FUNCTION
};

// Loads libvirt.so.0 once (thread-safe). Error(unsupported) naming the
// package when it is not installed.
const LibvirtApi& libvirt_api();
// Loads libvirt-qemu.so.0 once, as libvirt_api().
const LibvirtQemuApi& libvirt_qemu_api();

// The message of libvirt's last error on this thread ("unknown libvirt error").
std::string last_libvirt_error();

// libvirt prints every error to stderr by default; the core never prints.
// Idempotent; call before the first connection.
void silence_libvirt();

struct ConnectClose {
  void operator()(virConnectPtr c) const { libvirt_api().virConnectClose(c); }
};
using Connection = std::unique_ptr<virConnect, ConnectClose>;
struct DomainFree {
  void operator()(virDomainPtr d) const { libvirt_api().virDomainFree(d); }
};
using DomainHandle = std::unique_ptr<virDomain, DomainFree>;
struct PoolFree {
  void operator()(virStoragePoolPtr p) const { libvirt_api().virStoragePoolFree(p); }
};
using PoolHandle = std::unique_ptr<virStoragePool, PoolFree>;
struct VolumeFree {
  void operator()(virStorageVolPtr v) const { libvirt_api().virStorageVolFree(v); }
};
using VolumeHandle = std::unique_ptr<virStorageVol, VolumeFree>;
struct StreamFree {
  void operator()(virStreamPtr s) const { libvirt_api().virStreamFree(s); }
};
using StreamHandle = std::unique_ptr<virStream, StreamFree>;

}  // namespace dormant::library
