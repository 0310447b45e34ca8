// The libvirt domain that `--finalize` boots (private to patch/finalize):
// what goes into it and the XML text, kept apart from the libvirt calls so
// that the XML can be tested without a daemon.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace dormant::patch::detail {

// One image of the disk's chain: the top is the overlay, each next entry its
// backing file, the last one has no backing file.
struct ChainImage {
  std::filesystem::path path;
  std::string format;  // "qcow2", "raw", ...: pinned, never probed by libvirt
};

struct DomainSpec {
  std::string name;
  unsigned memory_mib = 1024;
  std::filesystem::path kernel;
  std::filesystem::path initrd;
  std::string cmdline;
  std::vector<ChainImage> disk_chain;  // [0] = the overlay; at least one entry
  std::filesystem::path console_log;
};

// The kernel command line for a direct boot of a guest whose root
// filesystem has `root_uuid`: `rw` because the fixture guests' fstab is
// "UNCONFIGURED" (nothing remounts / read-write), console on the serial
// port, and a kernel panic reboots at once (on_reboot=destroy ends the
// domain) instead of hanging until the time-out. Error(hostile) when the
// UUID is not a plain UUID (it comes from the guest).
std::string kernel_cmdline(std::string_view root_uuid);

// The transient domain's XML: type='qemu' (TCG), no network device, ACPI,
// direct kernel boot, the disk with its whole backing chain spelled out
// (formats pinned), serial console to a file, no balloon, every lifecycle
// event destroys the domain, and DAC labelling static to root with
// relabel='no' so that libvirt never chowns any image of the chain (the
// backing file is the library image). Error(usage) when the spec is
// incomplete. Every value is XML-escaped.
std::string domain_xml(const DomainSpec& spec);

// What the finalize and the service domains share: <os> with a direct
// kernel boot (x86_64, machine 'pc'), ACPI and a UTC clock; and the DAC
// seclabel that runs qemu as root with no relabelling. Values escaped.
std::string direct_boot_xml(std::string_view kernel, std::string_view initrd, std::string_view cmdline);
std::string no_relabel_seclabel_xml();

// &, <, >, ' and " as entities (attribute- and text-safe).
std::string xml_escape(std::string_view text);

}  // namespace dormant::patch::detail
