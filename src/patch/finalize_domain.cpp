#include "finalize_domain.hpp"

#include <fmt/format.h>

#include <cctype>

#include "dormant/core/error.hpp"

namespace dormant::patch::detail {

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

namespace {

std::string escape(std::string_view text) { return xml_escape(text); }
std::string escape_path(const std::filesystem::path& path) { return escape(std::string_view(path.native())); }

bool is_uuid(std::string_view text) {
  if (text.size() != 36) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? text[i] != '-' : !std::isxdigit(static_cast<unsigned char>(text[i]))) return false;
  }
  return true;
}

// <backingStore> for chain[index] and below; the last image gets an empty
// <backingStore/>, which tells libvirt the chain ends there (it would
// otherwise probe the file for a backing reference of its own).
void append_backing(std::string& xml, const std::vector<ChainImage>& chain, std::size_t index, int indent) {
  const std::string pad(static_cast<std::size_t>(indent), ' ');
  if (index >= chain.size()) {
    xml += pad + "<backingStore/>\n";
    return;
  }
  xml += pad + "<backingStore type='file'>\n";
  xml += fmt::format("{}  <format type='{}'/>\n", pad, escape(chain[index].format));
  xml += fmt::format("{}  <source file='{}'/>\n", pad, escape_path(chain[index].path));
  append_backing(xml, chain, index + 1, indent + 2);
  xml += pad + "</backingStore>\n";
}

}  // namespace

std::string kernel_cmdline(std::string_view root_uuid) {
  if (!is_uuid(root_uuid))
    fail(ErrorKind::hostile, "root filesystem",
         "UUID '{}' is not a UUID; refusing to put it on a kernel command line", root_uuid);
  return fmt::format("root=UUID={} rw console=ttyS0,115200 panic=-1", root_uuid);
}

std::string domain_xml(const DomainSpec& spec) {
  if (spec.name.empty() || spec.kernel.empty() || spec.initrd.empty() || spec.disk_chain.empty() ||
      spec.console_log.empty() || spec.memory_mib == 0)
    fail(ErrorKind::usage, "finalize", "incomplete domain description (name, kernel, initrd, disk, console)");
  const ChainImage& top = spec.disk_chain.front();
  std::string xml;
  xml += "<domain type='qemu'>\n";
  xml += fmt::format("  <name>{}</name>\n", escape(spec.name));
  xml += fmt::format("  <memory unit='MiB'>{}</memory>\n", spec.memory_mib);
  xml += "  <vcpu>1</vcpu>\n";
  xml += direct_boot_xml(spec.kernel.native(), spec.initrd.native(), spec.cmdline);
  xml += "  <on_poweroff>destroy</on_poweroff>\n";
  xml += "  <on_reboot>destroy</on_reboot>\n";
  xml += "  <on_crash>destroy</on_crash>\n";
  xml += "  <devices>\n";
  xml += "    <disk type='file' device='disk'>\n";
  xml += fmt::format("      <driver name='qemu' type='{}'/>\n", escape(top.format));
  xml += fmt::format("      <source file='{}'/>\n", escape_path(top.path));
  append_backing(xml, spec.disk_chain, 1, 6);
  xml += "      <target dev='vda' bus='virtio'/>\n";
  xml += "    </disk>\n";
  // No <interface>: libvirt adds no NIC by itself, so the guest has no
  // network at all during the update.
  xml += "    <controller type='usb' model='none'/>\n";
  xml += "    <serial type='file'>\n";
  xml += fmt::format("      <source path='{}'/>\n", escape_path(spec.console_log));
  xml += "      <target port='0'/>\n";
  xml += "    </serial>\n";
  xml += "    <console type='file'>\n";
  xml += fmt::format("      <source path='{}'/>\n", escape_path(spec.console_log));
  xml += "      <target type='serial' port='0'/>\n";
  xml += "    </console>\n";
  xml += "    <memballoon model='none'/>\n";
  xml += "  </devices>\n";
  xml += no_relabel_seclabel_xml();
  xml += "</domain>\n";
  return xml;
}

std::string direct_boot_xml(std::string_view kernel, std::string_view initrd, std::string_view cmdline) {
  std::string xml;
  xml += "  <os>\n";
  xml += "    <type arch='x86_64' machine='pc'>hvm</type>\n";
  xml += fmt::format("    <kernel>{}</kernel>\n", escape(kernel));
  xml += fmt::format("    <initrd>{}</initrd>\n", escape(initrd));
  xml += fmt::format("    <cmdline>{}</cmdline>\n", escape(cmdline));
  xml += "  </os>\n";
  // ACPI: `systemctl reboot`/`poweroff` in the guest end in an ACPI event
  // that qemu reports, so on_reboot/on_poweroff fire.
  xml += "  <features>\n    <acpi/>\n  </features>\n";
  xml += "  <clock offset='utc'/>\n";
  return xml;
}

std::string no_relabel_seclabel_xml() {
  // qemu runs as root and libvirt relabels nothing: with the default
  // dynamic ownership it would chown every image of the chain, the library
  // image included, to libvirt-qemu for the boot and back afterwards.
  return "  <seclabel type='static' model='dac' relabel='no'>\n"
         "    <label>+0:+0</label>\n"
         "  </seclabel>\n";
}

}  // namespace dormant::patch::detail
