// The real world: a bookworm image made by debootstrap (which installs from
// bookworm, not bookworm-security) assessed against the real bookworm and
// bookworm-security repositories of the Debian mirror this machine's apt is
// configured with (read from its sources by tests/fixtures/debian-mirror.sh,
// never hard-coded), verified with the Debian archive keyring, and compared
// with apt-get's own answer in the same run. Skipped, visibly, when the
// mirror cannot be reached.
#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "fixture_support.hpp"
#include "support/apt_repo.hpp"
#include "support/apt_root.hpp"

namespace dormant::testing {
namespace {

namespace fs = std::filesystem;

const char* kImage = "mbr-ext4.qcow2";
const char* kKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg";

std::string mirror(bool security) {
  std::vector<std::string> argv{(source_dir() / "tests/fixtures/debian-mirror.sh").string()};
  if (security) argv.push_back("--security");
  auto r = run_process(argv);
  std::string uri = r.out.substr(0, r.out.find('\n'));
  return r.exit_code == 0 ? uri : "";
}

bool dpkg_less(const std::string& a, const std::string& b) {
  return run_process({"dpkg", "--compare-versions", a, "lt", b}).exit_code == 0;
}

TEST(RealMirrorAssess, DebootstrapImageAgainstBookwormAndSecurityEqualsAptGet) {
  const std::string main_uri = mirror(false), security_uri = mirror(true);
  if (main_uri.empty() || security_uri.empty() || !fs::exists(kKeyring))
    GTEST_SKIP() << "SKIPPED: no Debian mirror in this machine's apt sources or no " << kKeyring;

  // apt-get first: it also tells whether the mirror is reachable.
  TempDir apt_dir;
  const fs::path tree = tree_path(manifest_entry(kImage));
  AptRoot apt(apt_dir.path(),
              std::string("deb [signed-by=") + kKeyring + "] " + main_uri + " bookworm main\n" +
                  "deb [signed-by=" + kKeyring + "] " + security_uri + " bookworm-security main\n",
              read_file_text(tree / "var/lib/dpkg/status"));
  int rc = -1;
  std::string update = apt.run({"apt-get", "-o", "APT::Architectures=amd64", "update"}, &rc);
  if (rc != 0 || update.find("Err:") != std::string::npos || update.find("W: ") != std::string::npos)
    GTEST_SKIP() << "SKIPPED: the configured Debian mirror is unreachable from here:\n" << update;
  std::string simulated = apt.run({"apt-get", "-s", "-o", "APT::Architectures=amd64", "dist-upgrade"}, &rc);
  ASSERT_EQ(rc, 0) << simulated;

  // dormant on a library holding the image.
  TempDir dir;
  open_to_apt(dir.path());
  fs::create_directories(dir.path() / "library");
  run_ok({"cp", "--sparse=always", (fixtures_dir() / kImage).string(),
          (dir.path() / "library/vm.qcow2").string()});
  const std::string catalog = (dir.path() / "catalog.db").string();
  auto cli = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--catalog", catalog});
    return run_cli(args, std::chrono::seconds(600));
  };
  ASSERT_EQ(cli({"library", "add", (dir.path() / "library").string()}).exit_code, 0);
  ASSERT_EQ(
      cli({"source", "add", "debian", main_uri, "--suite", "bookworm", "--keyring", kKeyring}).exit_code, 0);
  ASSERT_EQ(cli({"source", "add", "debian-security", security_uri, "--suite", "bookworm-security",
                 "--keyring", kKeyring, "--security"})
                .exit_code,
            0);
  auto result = cli({"assess", "--all", "--json", "--cache-dir", (dir.path() / "cache").string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto report = nlohmann::json::parse(result.out);
  ASSERT_EQ(report["images"].size(), 1u);
  const auto& image = report["images"][0];
  ASSERT_NE(image["state"], "unknown") << image.dump(2);

  std::set<std::string> apt_updates, apt_new, apt_removed, dormant_updates, dormant_new, dormant_removed;
  std::regex inst(R"(^Inst (\S+) (?:\[(\S+)\] )?\((\S+) )"), remv(R"(^Remv (\S+) )");
  std::smatch m;
  std::istringstream lines(simulated);
  for (std::string line; std::getline(lines, line);) {
    if (std::regex_search(line, m, inst))
      (m[2].matched ? apt_updates : apt_new).insert(m[1].str() + "=" + m[3].str());
    if (std::regex_search(line, m, remv)) apt_removed.insert(m[1].str());
  }
  for (const auto& u : image["updates"])
    if (u["action"] == "upgrade")
      dormant_updates.insert(u["name"].get<std::string>() + "=" + u["candidate"].get<std::string>());
  for (const auto& n : image["new_packages"])
    dormant_new.insert(n["name"].get<std::string>() + "=" + n["candidate"].get<std::string>());
  for (const auto& r : image["removed_packages"]) dormant_removed.insert(r["name"].get<std::string>());
  EXPECT_EQ(dormant_updates, apt_updates) << simulated;
  EXPECT_EQ(dormant_new, apt_new) << simulated;
  EXPECT_EQ(dormant_removed, apt_removed) << simulated;
  // debootstrap installed from bookworm only: the security archive has fixes.
  EXPECT_EQ(image["state"], "security-updates-pending") << image.dump(2);

  // Security flags against apt's own view of where each version comes from:
  // some version newer than installed, up to the candidate, is listed by
  // `apt-cache madison` from the -security suite.
  for (const auto& u : image["updates"]) {
    const std::string name = u["name"], installed = u["installed"], candidate = u["candidate"];
    std::string madison = apt.run({"apt-cache", "madison", name});
    bool from_security = false;
    std::istringstream rows(madison);
    for (std::string row; std::getline(rows, row);) {
      // "name | version | uri suite/component arch Packages"
      auto first = row.find('|'), second = row.find('|', first + 1);
      if (first == std::string::npos || second == std::string::npos) continue;
      std::string version = row.substr(first + 1, second - first - 1);
      version.erase(0, version.find_first_not_of(' '));
      version.erase(version.find_last_not_of(' ') + 1);
      if (row.find("-security/") != std::string::npos && dpkg_less(installed, version) &&
          !dpkg_less(candidate, version))
        from_security = true;
    }
    EXPECT_EQ(u["security"].get<bool>(), from_security) << name << "\n" << madison;
  }
}

}  // namespace
}  // namespace dormant::testing
