// The dpkg database (/var/lib/dpkg/status) parsed without dpkg: the image is
// never booted and guest binaries never run on the host.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dormant::inspect {

struct Package {
  std::string name;
  std::string version;
  std::string arch;
  std::string source;          // the Source: field, or the package name
  std::string source_version;  // "Source: foo (1.2-1)", or the version
  std::string status;          // dpkg's state: installed, half-configured, unpacked, config-files, ...
  std::string want;            // install, hold, deinstall, purge, unknown
};

struct DpkgStatus {
  std::vector<Package> packages;  // every stanza whose state is not not-installed, sorted by name, arch
  std::vector<std::string> warnings;  // malformed stanzas, skipped, with their line number
};

// Parses deb822 stanzas. Limits: 200000 stanzas; a stanza without Package or
// Version is skipped with a warning.
DpkgStatus parse_dpkg_status(std::string_view text);

}  // namespace dormant::inspect
