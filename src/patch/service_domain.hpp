// The libvirt domain that `--mode service` runs on a maintenance host
// (private to patch/): its description and XML, kept apart from the libvirt
// calls so that the XML is tested without a daemon.
#pragma once

#include <string>

namespace dormant::patch::detail {

struct ServiceDomainSpec {
  std::string name;  // "dormant-service-<run>-<image id>"
  unsigned memory_mib = 1024;
  unsigned vcpus = 1;
  // Paths on the host, from virStorageVolGetPath: every file the domain
  // uses is a volume in the host's pool, so a remote host works like the
  // local one.
  std::string disk;    // the working copy, qcow2
  std::string repo;    // the servicing repository, raw ext2, attached read-only
  std::string kernel;  // the guest's own kernel and initrd (direct kernel boot)
  std::string initrd;
  std::string cmdline;
};

// The transient domain's XML: type='qemu' (TCG: what every host can run),
// machine 'pc', ACPI, direct kernel boot, the working copy as a virtio disk,
// the repository as a read-only virtio disk with serial "dormant-repo", the
// qemu-guest-agent channel, NO <interface> (the guest has no network; its
// update source is the repository disk), a pty serial console, no balloon,
// on_reboot=restart (the update may need a reboot), on_poweroff and
// on_crash=destroy, and static DAC labels without relabelling, as
// --finalize. Error(usage) when the spec is incomplete; values are escaped.
std::string service_domain_xml(const ServiceDomainSpec& spec);

}  // namespace dormant::patch::detail
