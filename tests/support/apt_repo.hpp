// The test apt repositories: tests/fixtures/make-apt-repo.sh builds real,
// signed repositories from a text spec (see its header).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace dormant::testing {

std::filesystem::path make_apt_repo_script();

// tests/fixtures/apt-repo-specs/basic.spec (bookworm + bookworm-security).
std::filesystem::path basic_repo_spec();

// make-apt-repo.sh SPEC OUT EXTRA...; fails the test when it fails.
void build_apt_repo(const std::filesystem::path& spec, const std::filesystem::path& out,
                    const std::vector<std::string>& extra = {});

// What a served repository needs (no signing key): a copy to tamper with.
void copy_apt_repo(const std::filesystem::path& from, const std::filesystem::path& to);

// As root, apt's download methods and gpgv run as _apt, which must reach the
// repository (file://), the keyring and the lists: mkdtemp's 0700 keeps it
// out. Makes `dir` 0755.
void open_to_apt(const std::filesystem::path& dir);

}  // namespace dormant::testing
