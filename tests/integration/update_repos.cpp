#include "update_repos.hpp"

#include <stdexcept>

#include "dormant/inspect/dpkg_status.hpp"
#include "support/apt_repo.hpp"
#include "support/test_support.hpp"

namespace dormant::testing {

namespace fs = std::filesystem;

std::string installed_version(const fs::path& tree, const std::string& name) {
  auto status = inspect::parse_dpkg_status(read_file_text(tree / "var/lib/dpkg/status"));
  for (const auto& p : status.packages)
    if (p.name == name && p.status == "installed") return p.version;
  throw std::runtime_error(name + " is not installed in " + tree.string());
}

std::string updating_spec(const fs::path& tree) {
  const std::string base_files = installed_version(tree, "base-files") + "+dormant1";
  const std::string tzdata = installed_version(tree, "tzdata") + "+dormant1";
  return "Release-Suite: bookworm\nOrigin: Debian\nLabel: Debian\nCodename: bookworm\n\n"
         "Release-Suite: bookworm-security\nOrigin: Debian\nLabel: Debian-Security\nCodename: "
         "bookworm-security\n\n"
         "Package: base-files\nVersion: " +
         base_files +
         "\nArchitecture: amd64\n\n"
         "Package: dormtest-tz-helper\nVersion: 1.0-1\nArchitecture: all\n\n"
         "Package: tzdata\nVersion: " +
         tzdata +
         "\nArchitecture: all\nDepends: dormtest-tz-helper\n"
         "Suite: bookworm-security\n";
}

void build_repo(const fs::path& out, const std::string& spec, const std::vector<std::string>& extra) {
  fs::create_directories(out);
  write_file(out.string() + ".spec", spec);
  build_apt_repo(out.string() + ".spec", out, extra);
}

}  // namespace dormant::testing
