// `dormant patch --finalize`: boot a staged overlay once on the local libvirt
// host so that the guest applies the staged update (systemd offline update)
// and powers off; then dormant re-inspects it.
//
// The domain is transient (virDomainCreateXML; nothing persists in libvirt),
// runs under qemu TCG (type='qemu'), has NO network device at all, boots the
// guest's own kernel and initrd (read from the overlay through the GuestView,
// regular files only, capped) by direct kernel boot with root=UUID=<root fs>
// rw, logs the serial console to a file, and ends on poweroff, reboot and
// crash (on_* = destroy). DAC relabelling is off so the backing library
// image's owner and mode are never touched.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>

namespace dormant::patch {

struct FinalizeOptions {
  std::string libvirt_uri = "qemu:///system";
  std::string domain_name;             // "dormant-finalize-<run>-<image id>"
  std::filesystem::path work_dir;      // kernel, initrd and console log go here
  std::chrono::seconds timeout{1800};  // then the domain is destroyed
  unsigned memory_mib = 1024;
};

struct FinalizeResult {
  enum class State { stopped, timeout } state = State::stopped;
  std::chrono::milliseconds elapsed{0};
  std::filesystem::path console_log;
  std::string console_tail;  // last lines of the serial console, for messages
};

// Boots `overlay` and waits until the domain is gone or the time-out (then
// destroys it and returns State::timeout). Error(unsupported) when libvirt or
// its daemon is not available (names the package / how to start it) or the
// guest has no /boot kernel and initrd; Error(io) when libvirt refuses the
// domain (libvirt's message).
FinalizeResult finalize_boot(const std::filesystem::path& overlay, const FinalizeOptions& options);

}  // namespace dormant::patch
