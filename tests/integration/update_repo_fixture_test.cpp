// The "newer than the guest" repository (tests/fixtures/make-update-repo.sh)
// checked with the reference tools: apt itself, reading the fixture rootfs's
// dpkg status, plans exactly the four bumped upgrades plus the new
// dormant-canary, with hostname from the Debian-Security suite; every
// repacked .deb holds exactly the files dpkg lists for the package in the
// rootfs (dpkg-deb), and its control fields are the installed ones but the
// version.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "support/apt_repo.hpp"
#include "support/apt_root.hpp"
#include "support/test_support.hpp"

namespace dormant::testing {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kBumped = {"apt-utils", "debianutils", "hostname", "ncurses-base"};

fs::path update_repo() {
  static const fs::path repo = [] {
    fs::path out = fixture_rootfs().parent_path() / "update-repo";
    ProcessOptions opts;
    opts.timeout = std::chrono::minutes(5);
    auto r = run_process({(source_dir() / "tests/fixtures/make-update-repo.sh").string(),
                          fixture_rootfs().string(), out.string()},
                         opts);
    if (r.exit_code != 0) throw std::runtime_error("make-update-repo.sh failed: " + r.err);
    return out;
  }();
  return repo;
}

std::string installed_version(const std::string& package) {
  auto r = run_process({"dpkg-query", "--admindir=" + (fixture_rootfs() / "var/lib/dpkg").string(), "-W",
                        "-f=${Version}", package});
  return r.exit_code == 0 ? r.out : "";
}

std::set<std::string> lines_of(const std::string& text) {
  std::set<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.insert(line);
  return lines;
}

class UpdateRepoFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(fixture_rootfs() / "var/lib/dpkg/status"))
      FAIL() << "no fixture rootfs at " << fixture_rootfs() << " (make fixtures)";
  }
};

TEST_F(UpdateRepoFixture, AptPlansTheBumpedPackagesAndTheNewOne) {
  const fs::path repo = update_repo();
  TempDir dir("update-repo-apt");
  open_to_apt(dir.path());
  const fs::path keyring = repo / "keyring.gpg";
  AptRoot apt(dir.path() / "root",
              "deb [signed-by=" + keyring.string() + "] file:" + repo.string() + " bookworm main\n" +
                  "deb [signed-by=" + keyring.string() + "] file:" + repo.string() +
                  " bookworm-security main\n",
              read_file_text(fixture_rootfs() / "var/lib/dpkg/status"));
  int code = -1;
  std::string update = apt.run({"apt-get", "update"}, &code);
  ASSERT_EQ(code, 0) << update;
  EXPECT_EQ(update.find("W:"), std::string::npos) << update;  // signed and valid
  std::string plan = apt.run({"apt-get", "-s", "dist-upgrade"}, &code);
  ASSERT_EQ(code, 0) << plan;
  EXPECT_NE(plan.find("4 upgraded, 1 newly installed, 0 to remove"), std::string::npos) << plan;
  for (const auto& p : kBumped) {
    const std::string old_version = installed_version(p);
    ASSERT_FALSE(old_version.empty()) << p << " is not installed in the rootfs";
    const std::string suite = p == "hostname" ? "Debian-Security:bookworm-security" : "Debian:bookworm";
    EXPECT_NE(plan.find("Inst " + p + " [" + old_version + "] (" + old_version + "+dormant1 " + suite),
              std::string::npos)
        << p << "\n"
        << plan;
  }
  EXPECT_NE(plan.find("Inst dormant-canary (1.0-1 Debian:bookworm [all])"), std::string::npos) << plan;
}

TEST_F(UpdateRepoFixture, DebsHoldTheInstalledFilesAndFields) {
  const fs::path repo = update_repo();
  for (const auto& p : kBumped) {
    std::vector<fs::path> debs;
    for (const auto& entry : fs::recursive_directory_iterator(repo / "pool"))
      if (entry.path().filename().string().starts_with(p + "_")) debs.push_back(entry.path());
    ASSERT_EQ(debs.size(), 1u) << p;
    // dpkg-deb -c lists "./usr/bin/x"; dpkg's .list has "/usr/bin/x" and "/.".
    auto tar = run_ok({"sh", "-c", "dpkg-deb --fsys-tarfile \"$1\" | tar -t", "sh", debs[0].string()});
    std::set<std::string> in_deb;
    for (std::string name : lines_of(tar.out)) {
      if (name.starts_with(".")) name.erase(0, 1);
      if (name.size() > 1 && name.back() == '/') name.pop_back();
      in_deb.insert(name == "/" ? "/." : name);
    }
    EXPECT_EQ(in_deb, lines_of(read_file_text(fixture_rootfs() / "var/lib/dpkg/info" / (p + ".list")))) << p;
    // The control fields are the installed ones (the reference: dpkg-query
    // on the rootfs), but the version; apt-utils also gets the canary.
    for (const char* name : {"Package", "Architecture", "Maintainer", "Installed-Size", "Pre-Depends",
                             "Depends", "Multi-Arch", "Essential", "Source", "Description"}) {
      std::string in_deb = run_ok({"dpkg-deb", "-f", debs[0].string(), name}).out;
      std::string want = run_ok({"dpkg-query", "--admindir=" + (fixture_rootfs() / "var/lib/dpkg").string(),
                                 "-W", std::string("-f=${") + name + "}\n", p})
                             .out;
      if (p == "apt-utils" && std::string(name) == "Depends")
        want.insert(want.size() - 1, ", dormant-canary (>= 1.0)");
      EXPECT_EQ(in_deb, want) << p << " " << name;
    }
    EXPECT_EQ(run_ok({"dpkg-deb", "-f", debs[0].string(), "Version"}).out,
              installed_version(p) + "+dormant1\n")
        << p;
  }
}

}  // namespace
}  // namespace dormant::testing
