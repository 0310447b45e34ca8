// Signed test repositories that update packages really installed in a
// fixture tree (versions read from the tree's dpkg status at test time, never
// hard-coded). Shared by the assess and patch CLI tests.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace dormant::testing {

// The installed version of `name` in the tree's /var/lib/dpkg/status; throws when absent.
std::string installed_version(const std::filesystem::path& tree, const std::string& name);

// base-files +dormant1 in bookworm (a plain update); tzdata +dormant1 in
// bookworm-security (a security update) that depends on the new package
// dormtest-tz-helper 1.0-1 (in bookworm).
std::string updating_spec(const std::filesystem::path& tree);

// Builds a signed repository from `spec` with tests/fixtures/make-apt-repo.sh
// into `out` (extra: its options, e.g. "--unsigned").
void build_repo(const std::filesystem::path& out, const std::string& spec,
                const std::vector<std::string>& extra = {});

}  // namespace dormant::testing
