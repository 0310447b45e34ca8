// The resolver (assess/resolver.hpp) against a real signed repository fetched
// by apt-get: hand-written cases with exact expectations, each also compared
// with `apt-get -s dist-upgrade` on the same lists and status (the reference)
// and between the pruned and the full universe.
#include "dormant/assess/resolver.hpp"

#include <gtest/gtest.h>

#include <cstdlib>

#include "dormant/core/error.hpp"
#include "resolver_support.hpp"
#include "support/test_support.hpp"

namespace dormant::testing {
namespace {

namespace fs = std::filesystem;
using assess::PackageChange;
using assess::Resolution;
using assess::Universe;
using Action = PackageChange::Action;

class ResolverCase : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!resolver_repo().error.empty()) GTEST_FAIL() << resolver_repo().error;
  }

  // A fresh universe per call: apt's configuration is process-wide, and
  // Universes do not share one process at the same time.
  Resolution resolve(const std::string& status, bool full = false, bool flag_updates = false,
                     const std::string& states = "") {
    Universe universe(resolver_options(tmp_.path() / (full ? "full" : "pruned"), full, flag_updates));
    return universe.resolve(status, states);
  }

  // Pruned, full and apt-get agree; returns the pruned resolution.
  Resolution resolve_like_apt(const std::string& status, const std::string& states = "") {
    const Resolution pruned = resolve(status, false, false, states);
    const Resolution full = resolve(status, true, false, states);
    EXPECT_TRUE(pruned.pruned);
    EXPECT_FALSE(full.pruned);
    EXPECT_LT(pruned.universe_packages, full.universe_packages);
    EXPECT_EQ(comparable(pruned), comparable(full));
    EXPECT_EQ(outcome_of(pruned), apt_get_dist_upgrade(tmp_.path() / "apt-get", status, states));
    return pruned;
  }

  static const PackageChange* find(const std::vector<PackageChange>& changes, const std::string& name,
                                   const std::string& arch = "amd64") {
    for (const auto& c : changes)
      if (c.name == name && c.arch == arch) return &c;
    return nullptr;
  }

  TempDir tmp_{"dormant-resolver"};
};

TEST_F(ResolverCase, PlainUpgrade) {
  const Resolution r = resolve_like_apt(stanza("rt-plain", "1.0-1"));
  ASSERT_EQ(r.updates.size(), 1U);
  const PackageChange& c = r.updates[0];
  EXPECT_EQ(c.name, "rt-plain");
  EXPECT_EQ(c.arch, "amd64");
  EXPECT_EQ(c.installed, "1.0-1");
  EXPECT_EQ(c.candidate, "1.0-2");
  EXPECT_EQ(c.source, "debian");
  EXPECT_EQ(c.suite, "bookworm");
  EXPECT_FALSE(c.security);
  EXPECT_EQ(c.source_package, "rt-plainsrc");
  EXPECT_EQ(c.source_version, "1.0-2");
  EXPECT_EQ(c.action, Action::upgrade);
  EXPECT_TRUE(r.new_packages.empty());
  EXPECT_TRUE(r.removed_packages.empty());
  EXPECT_TRUE(r.broken.empty());
}

TEST_F(ResolverCase, UpgradePullsInANewDependency) {
  const Resolution r = resolve_like_apt(stanza("rt-app", "1.0-1"));
  ASSERT_EQ(r.updates.size(), 1U);
  EXPECT_EQ(r.updates[0].candidate, "2.0-1");
  ASSERT_EQ(r.new_packages.size(), 1U);
  EXPECT_EQ(r.new_packages[0].name, "rt-newlib");
  EXPECT_EQ(r.new_packages[0].installed, "");
  EXPECT_EQ(r.new_packages[0].candidate, "1.0-1");
  EXPECT_EQ(r.new_packages[0].source, "debian");
}

TEST_F(ResolverCase, AutoInstalledUpgradeKeepsItsNewDependency) {
  // rt-app is garbage (auto-installed, nothing needs it): apt-get drops the
  // garbage new rt-newlib, sees rt-app's upgrade broken, and installs it again.
  const Resolution r = resolve_like_apt(stanza("rt-app", "1.0-1"),
                                        "Package: rt-app\nArchitecture: amd64\nAuto-Installed: 1\n\n");
  ASSERT_EQ(r.new_packages.size(), 1U);
  EXPECT_EQ(r.new_packages[0].name, "rt-newlib");
}

TEST_F(ResolverCase, HeldPackageIsKeptBack) {
  const Resolution r =
      resolve_like_apt(stanza("rt-held", "1.0-1", "", "hold ok installed") + stanza("rt-plain", "1.0-1"));
  const PackageChange* held = find(r.updates, "rt-held");
  ASSERT_NE(held, nullptr);
  EXPECT_EQ(held->action, Action::held);
  EXPECT_EQ(held->candidate, "1.1-1");
  EXPECT_EQ(find(r.updates, "rt-plain")->action, Action::upgrade);
}

TEST_F(ResolverCase, MultiArchSameUpgradesBothArchitectures) {
  const Resolution r =
      resolve_like_apt(stanza("rt-libma", "1.0-1", "Multi-Arch: same\n") +
                       stanza("rt-libma", "1.0-1", "Multi-Arch: same\n", "install ok installed", "i386"));
  ASSERT_EQ(r.updates.size(), 2U);
  EXPECT_EQ(r.updates[0].arch, "amd64");
  EXPECT_EQ(r.updates[1].arch, "i386");
  for (const auto& c : r.updates) {
    EXPECT_EQ(c.candidate, "1.1-1");
    EXPECT_EQ(c.action, Action::upgrade);
  }
}

TEST_F(ResolverCase, EpochsAndTildes) {
  const Resolution r = resolve_like_apt(stanza("rt-epoch", "0.9") + stanza("rt-tilde", "2.0") +
                                        stanza("rt-beta", "2.0~beta1"));
  ASSERT_NE(find(r.updates, "rt-epoch"), nullptr);
  EXPECT_EQ(find(r.updates, "rt-epoch")->candidate, "1:0.9~rc1-1");  // the epoch wins
  EXPECT_EQ(find(r.updates, "rt-tilde"), nullptr);                   // 2.0~rc1-1 < 2.0
  ASSERT_NE(find(r.updates, "rt-beta"), nullptr);
  EXPECT_EQ(find(r.updates, "rt-beta")->candidate, "2.0~rc1-1");
  // The reference for the order itself.
  EXPECT_EQ(run_process({"dpkg", "--compare-versions", "1:0.9~rc1-1", "gt", "0.9"}).exit_code, 0);
  EXPECT_EQ(run_process({"dpkg", "--compare-versions", "2.0~rc1-1", "lt", "2.0"}).exit_code, 0);
}

TEST_F(ResolverCase, SecurityClassification) {
  const std::string status = stanza("rt-seconly", "1.0-1") + stanza("rt-secmid", "1.0-1") +
                             stanza("rt-mainonly", "1.0-1") + stanza("rt-flagged", "1.0-1");
  const Resolution r = resolve_like_apt(status);
  ASSERT_EQ(r.updates.size(), 4U);
  const PackageChange* only = find(r.updates, "rt-seconly");
  EXPECT_TRUE(only->security);
  EXPECT_EQ(only->source, "debian-security");
  EXPECT_EQ(only->suite, "bookworm-security");
  // Candidate 1.0-3 from bookworm, but 1.0-2 was a security release.
  const PackageChange* mid = find(r.updates, "rt-secmid");
  EXPECT_EQ(mid->candidate, "1.0-3");
  EXPECT_TRUE(mid->security);
  EXPECT_EQ(mid->source, "debian");
  EXPECT_EQ(mid->source_package, "rt-secmidsrc");
  EXPECT_FALSE(find(r.updates, "rt-mainonly")->security);
  EXPECT_FALSE(find(r.updates, "rt-flagged")->security);
  // The same release, marked security in dormant's source configuration.
  const Resolution flagged = resolve(status, false, true);
  EXPECT_TRUE(find(flagged.updates, "rt-flagged")->security);
  EXPECT_EQ(find(flagged.updates, "rt-flagged")->source, "updates");
  EXPECT_FALSE(find(flagged.updates, "rt-mainonly")->security);
}

TEST_F(ResolverCase, ConflictForcesARemoval) {
  const Resolution r = resolve_like_apt(stanza("rt-conflicter", "1.0-1") + stanza("rt-victim", "1.0"));
  ASSERT_EQ(r.removed_packages.size(), 1U);
  EXPECT_EQ(r.removed_packages[0].name, "rt-victim");
  EXPECT_EQ(r.removed_packages[0].installed, "1.0");
  EXPECT_EQ(r.removed_packages[0].candidate, "");
  EXPECT_EQ(r.removed_packages[0].source_package, "rt-victim");
  EXPECT_EQ(find(r.updates, "rt-conflicter")->action, Action::upgrade);
}

TEST_F(ResolverCase, ExactVersionDependencyForcesARemoval) {
  const Resolution r = resolve_like_apt(stanza("rt-pinned", "1.0-1") +
                                        stanza("rt-pinner", "1.0", "Depends: rt-pinned (= 1.0-1)\n"));
  ASSERT_EQ(r.removed_packages.size(), 1U);
  EXPECT_EQ(r.removed_packages[0].name, "rt-pinner");
}

TEST_F(ResolverCase, BrokenStatusListsOnlyTheBrokenPackages) {
  const Resolution r =
      resolve_like_apt(stanza("rt-plain", "1.0-1") + stanza("rt-broken", "1.0", "Depends: rt-ghost\n"));
  EXPECT_EQ(r.broken, std::vector<std::string>{"rt-broken"});
  EXPECT_TRUE(r.updates.empty());
  EXPECT_TRUE(r.new_packages.empty());
}

TEST_F(ResolverCase, TwoStatusesInOneProcessAreIndependent) {
  // Without _system->Initialize per image, apt keeps the first status index.
  const std::string a = stanza("rt-plain", "1.0-1") + stanza("rt-app", "1.0-1");
  const std::string b = stanza("rt-held", "1.0-1", "", "hold ok installed");
  Universe universe(resolver_options(tmp_.path() / "shared", false));
  const Resolution ra = universe.resolve(a, "");
  const Resolution rb = universe.resolve(b, "");
  const Resolution ra2 = universe.resolve(a, "");
  EXPECT_EQ(ra.updates.size(), 2U);
  ASSERT_EQ(rb.updates.size(), 1U);
  EXPECT_EQ(rb.updates[0].name, "rt-held");
  EXPECT_TRUE(rb.new_packages.empty());
  EXPECT_EQ(comparable(ra), comparable(ra2));
  EXPECT_EQ(comparable(rb), comparable(resolve(b)));
}

TEST_F(ResolverCase, EmptyStatusIsAnEmptySystem) {
  const Resolution r = resolve_like_apt("");
  EXPECT_TRUE(r.updates.empty());
  EXPECT_TRUE(r.new_packages.empty());  // the repository has no Essential package
}

TEST_F(ResolverCase, UnparsableStatusIsCorrupt) {
  try {
    (void)resolve(stanza("rt-plain", "1.0-1") + "Version: 1.0\nStatus: install ok installed\n\n");
    ADD_FAILURE() << "a stanza without Package: was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::corrupt) << e.what();
    EXPECT_EQ(e.subject(), "dpkg status") << e.what();
  }
}

TEST_F(ResolverCase, HostAptConfigIsNotRead) {
  // $APT_CONFIG would make apt ignore holds; configure_apt must not read it.
  write_file(tmp_.path() / "host-apt.conf", "APT::Ignore-Hold \"true\";\n");
  ::setenv("APT_CONFIG", (tmp_.path() / "host-apt.conf").c_str(), 1);
  const Resolution r = resolve(stanza("rt-held", "1.0-1", "", "hold ok installed"));
  ::unsetenv("APT_CONFIG");
  ASSERT_EQ(r.updates.size(), 1U);
  EXPECT_EQ(r.updates[0].action, Action::held);
}

TEST_F(ResolverCase, UnfetchedSourceIsNotFound) {
  auto options = resolver_options(tmp_.path() / "u", false);
  options.sources[1].lists_dir = tmp_.path() / "never-fetched";
  try {
    Universe universe(options);
    ADD_FAILURE() << "a source without lists was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_found) << e.what();
    EXPECT_EQ(e.subject(), "debian-security");
  }
}

}  // namespace
}  // namespace dormant::testing
