#include "service_domain.hpp"

#include <fmt/format.h>

#include "dormant/core/error.hpp"
#include "finalize_domain.hpp"

namespace dormant::patch::detail {

std::string service_domain_xml(const ServiceDomainSpec& spec) {
  if (spec.name.empty() || spec.disk.empty() || spec.repo.empty() || spec.kernel.empty() ||
      spec.initrd.empty() || spec.memory_mib == 0 || spec.vcpus == 0)
    fail(ErrorKind::usage, "service",
         "incomplete domain description (name, disk, repository, kernel, initrd)");
  const auto e = [](std::string_view text) { return xml_escape(text); };
  std::string xml;
  xml += "<domain type='qemu'>\n";
  xml += fmt::format("  <name>{}</name>\n", e(spec.name));
  xml += fmt::format("  <memory unit='MiB'>{}</memory>\n", spec.memory_mib);
  xml += fmt::format("  <vcpu>{}</vcpu>\n", spec.vcpus);
  xml += direct_boot_xml(spec.kernel, spec.initrd, spec.cmdline);
  xml += "  <on_poweroff>destroy</on_poweroff>\n";
  // A reboot asked for by the update (/run/reboot-required) restarts the
  // same domain; dormant waits for the agent again.
  xml += "  <on_reboot>restart</on_reboot>\n";
  xml += "  <on_crash>destroy</on_crash>\n";
  xml += "  <devices>\n";
  xml += "    <disk type='file' device='disk'>\n";
  xml += "      <driver name='qemu' type='qcow2'/>\n";
  xml += fmt::format("      <source file='{}'/>\n", e(spec.disk));
  xml += "      <backingStore/>\n";
  xml += "      <target dev='vda' bus='virtio'/>\n";
  xml += "    </disk>\n";
  xml += "    <disk type='file' device='disk'>\n";
  xml += "      <driver name='qemu' type='raw'/>\n";
  xml += fmt::format("      <source file='{}'/>\n", e(spec.repo));
  xml += "      <backingStore/>\n";
  xml += "      <target dev='vdb' bus='virtio'/>\n";
  xml += "      <serial>dormant-repo</serial>\n";
  xml += "      <readonly/>\n";
  xml += "    </disk>\n";
  // No <interface>: libvirt adds no NIC by itself.
  xml += "    <controller type='usb' model='none'/>\n";
  xml += "    <channel type='unix'>\n";
  xml += "      <target type='virtio' name='org.qemu.guest_agent.0'/>\n";
  xml += "    </channel>\n";
  xml += "    <serial type='pty'>\n      <target port='0'/>\n    </serial>\n";
  xml += "    <console type='pty'>\n      <target type='serial' port='0'/>\n    </console>\n";
  xml += "    <memballoon model='none'/>\n";
  xml += "  </devices>\n";
  xml += no_relabel_seclabel_xml();
  xml += "</domain>\n";
  return xml;
}

}  // namespace dormant::patch::detail
