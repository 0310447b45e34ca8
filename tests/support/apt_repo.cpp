#include "support/apt_repo.hpp"

#include <chrono>

#include "support/test_support.hpp"

namespace dormant::testing {

namespace fs = std::filesystem;

fs::path make_apt_repo_script() { return source_dir() / "tests/fixtures/make-apt-repo.sh"; }

fs::path basic_repo_spec() { return source_dir() / "tests/fixtures/apt-repo-specs/basic.spec"; }

void build_apt_repo(const fs::path& spec, const fs::path& out, const std::vector<std::string>& extra) {
  std::vector<std::string> argv{make_apt_repo_script().string(), spec.string(), out.string()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  ProcessOptions options;
  options.timeout = std::chrono::seconds(120);
  run_ok(argv, options);
}

void copy_apt_repo(const fs::path& from, const fs::path& to) {
  fs::create_directories(to);
  for (const char* part : {"dists", "pool"}) fs::copy(from / part, to / part, fs::copy_options::recursive);
  fs::copy_file(from / "keyring.gpg", to / "keyring.gpg");
}

void open_to_apt(const fs::path& dir) {
  fs::permissions(dir, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                           fs::perms::others_read | fs::perms::others_exec);
}

}  // namespace dormant::testing
