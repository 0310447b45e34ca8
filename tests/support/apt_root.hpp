// apt itself as the reference implementation: an apt root in a test
// directory that reads nothing of the host's /etc/apt or /var/lib/apt
// (everything through APT_CONFIG: Dir::Etc::main /dev/null, empty
// Dir::Etc::parts, as docs/design/assess.md lists).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace dormant::testing {

class AptRoot {
 public:
  // `sources_list`: one-line-style sources; `status`: the dpkg status apt
  // sees as installed. Architectures: amd64 (native) and i386.
  AptRoot(const std::filesystem::path& dir, const std::string& sources_list, const std::string& status = "");

  // apt-get / apt-cache with this root (LC_ALL=C); stdout and stderr together.
  std::string run(const std::vector<std::string>& args, int* exit_code = nullptr) const;

  // The files apt kept in Dir::State::Lists (not partial/, auxfiles/).
  std::vector<std::string> lists() const;

  std::filesystem::path status_file() const { return dir_ / "status"; }

 private:
  std::filesystem::path dir_;
};

}  // namespace dormant::testing
