// Shared by the resolver tests: the test repository (resolver.spec, served on
// 127.0.0.1 and fetched with real `apt-get update`), dpkg status stanzas, and
// the reference: `apt-get -s dist-upgrade` in the same isolated apt root.
#pragma once

#include <filesystem>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "dormant/assess/resolver.hpp"
#include "support/apt_root.hpp"

namespace dormant::testing {

// The repository built once per test binary, lists fetched by apt-get.
struct ResolverRepo {
  std::filesystem::path root;     // the apt root (apt.conf, state/lists)
  std::shared_ptr<AptRoot> apt;   // apt-get in that root
  std::filesystem::path keyring;  // the repository's key
  std::string url;                // where it was served (lists are named after it)
  std::string error;              // why it could not be built (then nothing else is set)
};
const ResolverRepo& resolver_repo();

// Universe options for the repository: sources debian (bookworm),
// debian-security (bookworm-security, not flagged: its Label says so) and
// updates (bookworm-updates, flagged security when `flag_updates`);
// architectures amd64 + i386.
assess::UniverseOptions resolver_options(const std::filesystem::path& work_dir, bool full_universe,
                                         bool flag_updates = false);

// One dpkg status stanza.
std::string stanza(const std::string& name, const std::string& version, const std::string& extra = "",
                   const std::string& status = "install ok installed", const std::string& arch = "amd64");

// What dist-upgrade does, in apt-get's terms: "Inst name old new" / "Remv
// name old" (name as apt prints it: name:arch for a foreign architecture),
// the kept-back names, and the refusal.
struct Outcome {
  std::set<std::string> actions;
  std::set<std::string> kept_back;
  std::vector<std::string> broken;  // "Unmet dependencies": the packages apt lists
  bool failed = false;              // the resolver itself failed
  std::string raw;                  // apt-get's output, for failure messages
  bool operator==(const Outcome& o) const {
    return actions == o.actions && kept_back == o.kept_back && broken == o.broken && failed == o.failed;
  }
};
void PrintTo(const Outcome& outcome, std::ostream* os);
Outcome outcome_of(const assess::Resolution& resolution);
// `apt-get -s dist-upgrade` with the repository's root and this status.
Outcome apt_get_dist_upgrade(const std::filesystem::path& scratch, const std::string& status,
                             const std::string& extended_states = "");

// Resolution as JSON without the fields that differ between the pruned and
// the full universe (pruned, universe_packages).
std::string comparable(const assess::Resolution& resolution);

}  // namespace dormant::testing
