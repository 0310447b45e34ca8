// The patch plan's resolutions (assess/resolver.hpp, ResolveOptions) against
// real apt-get on the same lists and status (plan.spec, served on 127.0.0.1
// and fetched by `apt-get update`): --exclude is `apt-mark hold` then
// `apt-get -s dist-upgrade`; --security-only is `apt-get -s install` of the
// security updates. Also the auto flags, and the options through the worker.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "dormant/assess/resolver.hpp"
#include "dormant/assess/worker.hpp"
#include "resolver_support.hpp"
#include "support/apt_root.hpp"
#include "support/loopback_http.hpp"
#include "support/test_support.hpp"

namespace dormant::testing {
namespace {

namespace fs = std::filesystem;
using assess::PackageChange;
using assess::Resolution;
using assess::ResolveOptions;
using assess::Universe;
using Action = PackageChange::Action;

const fs::path kWorker = dormant::testing::resolve_worker_path();

struct PlanRepo {
  fs::path root;                 // the apt root (apt.conf, state/lists)
  std::shared_ptr<AptRoot> apt;  // apt-get in that root
  fs::path keyring;
  std::string url;
  std::string error;  // why it could not be built
};

PlanRepo build_plan_repo() {
  static TempDir dir("dormant-plan-repo");  // lives as long as the test binary
  PlanRepo repo;
  const fs::path out = dir.path() / "repo";
  const auto made =
      run_process({(source_dir() / "tests/fixtures/make-apt-repo.sh").string(),
                   (source_dir() / "tests/fixtures/apt-repo-specs/plan.spec").string(), out.string()});
  if (made.exit_code != 0) {
    repo.error = "make-apt-repo.sh failed: " + made.err;
    return repo;
  }
  LoopbackHttpServer server(out);  // only for apt-get update: the resolver reads the lists
  repo.url = server.url();
  repo.keyring = out / "keyring.gpg";
  repo.root = dir.path() / "apt";
  std::string sources;
  for (const char* suite : {"bookworm", "bookworm-security"})
    sources += "deb [signed-by=" + repo.keyring.string() + "] " + repo.url + " " + suite + " main\n";
  repo.apt = std::make_shared<AptRoot>(repo.root, sources);
  int rc = -1;
  const std::string update = repo.apt->run({"apt-get", "update"}, &rc);
  if (rc != 0) repo.error = "apt-get update failed: " + update;
  return repo;
}

const PlanRepo& plan_repo() {
  static const PlanRepo repo = build_plan_repo();
  return repo;
}

// debian (bookworm) and debian-security (bookworm-security: its Label says so).
assess::UniverseOptions plan_options(const fs::path& work_dir, bool full_universe) {
  const PlanRepo& repo = plan_repo();
  assess::UniverseOptions options;
  options.work_dir = work_dir;
  options.architectures = {"amd64", "i386"};
  options.full_universe = full_universe;
  for (const auto& [name, suite] : std::vector<std::pair<std::string, std::string>>{
           {"debian", "bookworm"}, {"debian-security", "bookworm-security"}}) {
    assess::UniverseSource source;
    source.spec.name = name;
    source.spec.uri = repo.url;
    source.spec.suite = suite;
    source.spec.keyring = repo.keyring;
    source.lists_dir = repo.root / "state/lists";
    options.sources.push_back(std::move(source));
  }
  return options;
}

std::string auto_state(const std::string& name, const std::string& arch = "amd64") {
  return "Package: " + name + "\nArchitecture: " + arch + "\nAuto-Installed: 1\n\n";
}

// One guest: its dpkg status and extended_states.
struct Guest {
  std::string name;
  std::string status;
  std::string states;
};

const std::string kMa = "Multi-Arch: same\n";

// Every case at once: pl-secauto and pl-old are automatic.
Guest everything() {
  return {"everything",
          stanza("pl-sec", "1.0-1") + stanza("pl-dep", "1.0-1") + stanza("pl-plain", "1.0-1") +
              stanza("pl-other", "1.0-1") + stanza("pl-secconf", "1.0-1") + stanza("pl-victim", "1.0") +
              stanza("pl-secbreak", "1.0-1") + stanza("pl-old", "1.0-1") + stanza("pl-secauto", "1.0-1") +
              stanza("pl-secmid", "1.0-1") + stanza("pl-ma", "1.0-1", kMa) +
              stanza("pl-ma", "1.0-1", kMa, "install ok installed", "i386"),
          auto_state("pl-secauto") + auto_state("pl-old")};
}

std::vector<Guest> guests() {
  return {everything(),
          // The security update's non-security dependency is automatic.
          {"sec-and-auto-dep", stanza("pl-sec", "1.0-1") + stanza("pl-dep", "1.0-1"), auto_state("pl-dep")},
          // No security update at all.
          {"no-security", stanza("pl-plain", "1.0-1") + stanza("pl-other", "1.0-1"), ""},
          // Only what conflicts.
          {"conflicts",
           stanza("pl-secconf", "1.0-1") + stanza("pl-victim", "1.0") + stanza("pl-secbreak", "1.0-1") +
               stanza("pl-old", "1.0-1"),
           ""}};
}

// The outcome in apt-get's terms: "Inst name old new" ("-" for a new
// package), "Remv name old"; the names not upgraded that apt-get lists as
// kept back (held ones included).
struct Plan {
  std::set<std::string> actions;
  std::set<std::string> kept_back;
  bool failed = false;
  std::string raw;
  bool operator==(const Plan& o) const {
    return actions == o.actions && kept_back == o.kept_back && failed == o.failed;
  }
};

void PrintTo(const Plan& p, std::ostream* os) {
  *os << "actions:";
  for (const auto& a : p.actions) *os << "\n  " << a;
  *os << "\nkept back:";
  for (const auto& k : p.kept_back) *os << " " << k;
  *os << (p.failed ? "\nresolver failed" : "") << "\n";
}

std::string display_name(const PackageChange& c) {
  return c.arch == "amd64" ? c.name : c.name + ":" + c.arch;
}

// `with_kept`: dist-upgrade lists what it keeps back; apt-get install does not.
Plan plan_of(const Resolution& r, bool with_kept) {
  Plan out;
  out.failed = !r.resolver_error.empty() || !r.broken.empty();
  if (out.failed) return out;
  for (const auto& c : r.updates) {
    if (c.action == Action::upgrade)
      out.actions.insert("Inst " + display_name(c) + " " + c.installed + " " + c.candidate);
    if (with_kept &&
        (c.action == Action::held || c.action == Action::kept_back || c.action == Action::excluded))
      out.kept_back.insert(display_name(c));
  }
  for (const auto& c : r.new_packages) out.actions.insert("Inst " + display_name(c) + " - " + c.candidate);
  for (const auto& c : r.removed_packages) out.actions.insert("Remv " + display_name(c) + " " + c.installed);
  return out;
}

// apt-get in the repository's root on this guest: `apt-mark hold` of `hold`
// first (dpkg --set-selections in a private admin directory), then `args`
// with -s.
Plan reference_apt_get(const fs::path& scratch, const Guest& guest, const std::vector<std::string>& hold,
                       std::vector<std::string> args) {
  const fs::path admin = scratch / "dpkg";
  fs::remove_all(scratch);
  fs::create_directories(admin / "updates");
  fs::create_directories(admin / "info");
  write_file(admin / "available", "");
  write_file(admin / "status", guest.status);
  write_file(scratch / "extended_states", guest.states);
  const AptRoot& apt = *plan_repo().apt;
  const std::vector<std::string> dirs{
      "-o", "Dir::State::status=" + (admin / "status").string(), "-o",
      "Dir::State::extended_states=" + (scratch / "extended_states").string()};
  Plan out;
  int rc = -1;
  if (!hold.empty()) {
    std::vector<std::string> mark{"apt-mark"};
    mark.insert(mark.end(), dirs.begin(), dirs.end());
    mark.insert(mark.end(), {"-o", "DPkg::Options::=--admindir=" + admin.string(), "hold"});
    mark.insert(mark.end(), hold.begin(), hold.end());
    const std::string said = apt.run(mark, &rc);
    EXPECT_EQ(rc, 0) << said;
    EXPECT_NE(read_file_text(admin / "status").find("Status: hold ok installed"), std::string::npos) << said;
  }
  std::vector<std::string> argv{"apt-get", "-s"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), dirs.begin(), dirs.end());
  out.raw = apt.run(argv, &rc);
  if (rc != 0) {
    out.failed = true;
    return out;
  }
  static const std::regex inst(R"(^Inst (\S+) (?:\[(\S+)\] )?\((\S+) )", std::regex::multiline);
  static const std::regex remv(R"(^Remv (\S+) \[(\S+)\])", std::regex::multiline);
  for (std::sregex_iterator it(out.raw.begin(), out.raw.end(), inst), end; it != end; ++it)
    out.actions.insert("Inst " + (*it)[1].str() + " " + ((*it)[2].matched ? (*it)[2].str() : "-") + " " +
                       (*it)[3].str());
  for (std::sregex_iterator it(out.raw.begin(), out.raw.end(), remv), end; it != end; ++it)
    out.actions.insert("Remv " + (*it)[1].str() + " " + (*it)[2].str());
  static const std::regex kept(R"(The following packages have been kept back:\n((?:  .*\n)+))");
  if (std::smatch m; std::regex_search(out.raw, m, kept)) {
    std::istringstream names(m[1].str());
    for (std::string name; names >> name;) out.kept_back.insert(name);
  }
  return out;
}

const PackageChange* find(const std::vector<PackageChange>& changes, const std::string& name,
                          const std::string& arch = "amd64") {
  for (const auto& c : changes)
    if (c.name == name && c.arch == arch) return &c;
  return nullptr;
}

// What --security-only amounts to as `apt-get install`: the security updates
// that are not held (apt-get install would override a hold) nor kept back
// (apt-get install would fail on them).
std::vector<std::string> security_targets(const Resolution& r) {
  std::vector<std::string> names;
  for (const auto& c : r.updates)
    if (c.security && c.action != Action::held && c.action != Action::excluded &&
        c.action != Action::kept_back)
      names.push_back(display_name(c));
  return names;
}

class ResolverPlan : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!plan_repo().error.empty()) GTEST_FAIL() << plan_repo().error;
  }

  // Pruned and full universe agree; returns the pruned resolution.
  Resolution resolve(const Guest& guest, const ResolveOptions& options = {}) {
    Resolution pruned, full;
    {
      Universe universe(plan_options(tmp_.path() / "pruned", false));
      pruned = universe.resolve(guest.status, guest.states, options);
    }
    {
      Universe universe(plan_options(tmp_.path() / "full", true));
      full = universe.resolve(guest.status, guest.states, options);
    }
    EXPECT_EQ(comparable(pruned), comparable(full)) << guest.name;
    return pruned;
  }

  Plan apt_get(const Guest& guest, const std::vector<std::string>& hold, std::vector<std::string> args) {
    return reference_apt_get(tmp_.path() / "apt-get", guest, hold, std::move(args));
  }

  TempDir tmp_{"dormant-resolver-plan"};
};

TEST_F(ResolverPlan, DefaultIsDistUpgrade) {
  for (const Guest& guest : guests()) {
    SCOPED_TRACE(guest.name);
    const Resolution r = resolve(guest);
    EXPECT_EQ(plan_of(r, true), apt_get(guest, {}, {"dist-upgrade"}));
    EXPECT_TRUE(r.unknown_excludes.empty());
    for (const auto& c : r.updates) EXPECT_NE(c.action, Action::deferred) << c.name;
  }
}

TEST_F(ResolverPlan, AutoFlagsOfTheResolvedState) {
  const Resolution r = resolve(everything());
  // New packages pulled in as dependencies are automatic.
  ASSERT_NE(find(r.new_packages, "pl-newdep"), nullptr);
  EXPECT_TRUE(find(r.new_packages, "pl-newdep")->auto_installed);
  ASSERT_NE(find(r.new_packages, "pl-othernew"), nullptr);
  EXPECT_TRUE(find(r.new_packages, "pl-othernew")->auto_installed);
  // Upgrades keep what extended_states said.
  EXPECT_TRUE(find(r.updates, "pl-secauto")->auto_installed);
  EXPECT_TRUE(find(r.updates, "pl-old")->auto_installed);
  EXPECT_FALSE(find(r.updates, "pl-sec")->auto_installed);
  EXPECT_FALSE(find(r.updates, "pl-ma", "i386")->auto_installed);
  ASSERT_EQ(r.removed_packages.size(), 1U);
  EXPECT_EQ(r.removed_packages[0].name, "pl-victim");
  EXPECT_FALSE(r.removed_packages[0].auto_installed);
}

TEST_F(ResolverPlan, SecurityOnlyIsAptGetInstallOfTheSecurityUpdates) {
  ResolveOptions options;
  options.security_only = true;
  for (const Guest& guest : guests()) {
    SCOPED_TRACE(guest.name);
    const Resolution all = resolve(guest);
    const Resolution r = resolve(guest, options);
    std::vector<std::string> args{"install"};
    const auto targets = security_targets(all);
    args.insert(args.end(), targets.begin(), targets.end());
    EXPECT_EQ(plan_of(r, false), apt_get(guest, {}, args));
    // Every update not done is a deferred non-security one.
    for (const auto& c : r.updates) {
      if (c.action == Action::upgrade || c.action == Action::removed) continue;
      EXPECT_EQ(c.action, Action::deferred) << c.name;
      EXPECT_FALSE(c.security) << c.name;
    }
  }
}

TEST_F(ResolverPlan, SecurityOnlyPullsInWhatTheUpdatesNeedAndNothingElse) {
  ResolveOptions options;
  options.security_only = true;
  const Resolution r = resolve(everything(), options);
  ASSERT_TRUE(r.resolver_error.empty()) << r.resolver_error;
  for (const char* name : {"pl-sec", "pl-secconf", "pl-secbreak", "pl-secauto", "pl-secmid"}) {
    ASSERT_NE(find(r.updates, name), nullptr) << name;
    EXPECT_EQ(find(r.updates, name)->action, Action::upgrade) << name;
    EXPECT_TRUE(find(r.updates, name)->security) << name;
  }
  EXPECT_EQ(find(r.updates, "pl-secmid")->candidate, "1.0-3");  // the candidate, not the security release
  EXPECT_EQ(find(r.updates, "pl-ma", "amd64")->action, Action::upgrade);
  EXPECT_EQ(find(r.updates, "pl-ma", "i386")->action, Action::upgrade);
  // Non-security upgrades a security update needs: pl-sec's Depends, pl-secbreak's Conflicts.
  EXPECT_EQ(find(r.updates, "pl-dep")->action, Action::upgrade);
  EXPECT_FALSE(find(r.updates, "pl-dep")->security);
  EXPECT_EQ(find(r.updates, "pl-old")->action, Action::upgrade);
  // The rest waits.
  EXPECT_EQ(find(r.updates, "pl-plain")->action, Action::deferred);
  EXPECT_EQ(find(r.updates, "pl-other")->action, Action::deferred);
  EXPECT_EQ(find(r.updates, "pl-other")->candidate, "2.0-1");
  ASSERT_EQ(r.new_packages.size(), 1U);
  EXPECT_EQ(r.new_packages[0].name, "pl-newdep");
  EXPECT_TRUE(r.new_packages[0].auto_installed);
  ASSERT_EQ(r.removed_packages.size(), 1U);
  EXPECT_EQ(r.removed_packages[0].name, "pl-victim");
  // apt-get install would make the packages it was given manual; the plan does not.
  EXPECT_TRUE(find(r.updates, "pl-secauto")->auto_installed);
  EXPECT_FALSE(find(r.updates, "pl-sec")->auto_installed);
  EXPECT_TRUE(find(r.updates, "pl-old")->auto_installed);
}

TEST_F(ResolverPlan, SecurityOnlyWithoutSecurityUpdatesDoesNothing) {
  ResolveOptions options;
  options.security_only = true;
  const Resolution r = resolve(guests()[2], options);
  ASSERT_EQ(r.updates.size(), 2U);
  for (const auto& c : r.updates) EXPECT_EQ(c.action, Action::deferred) << c.name;
  EXPECT_TRUE(r.new_packages.empty());
  EXPECT_TRUE(r.removed_packages.empty());
}

TEST_F(ResolverPlan, ExcludeIsAptMarkHoldThenDistUpgrade) {
  const std::vector<std::vector<std::string>> cases{
      {"pl-dep"}, {"pl-plain", "pl-ma:i386"}, {"pl-victim"}, {"pl-secauto", "pl-old"}};
  for (const Guest& guest : guests()) {
    for (const auto& exclude : cases) {
      SCOPED_TRACE(guest.name + " excluding " + exclude[0]);
      ResolveOptions options;
      options.exclude = exclude;
      const Resolution r = resolve(guest, options);
      // apt-mark refuses names that are not installed: hold only the known ones.
      std::vector<std::string> hold;
      for (const auto& name : exclude)
        if (std::find(r.unknown_excludes.begin(), r.unknown_excludes.end(), name) == r.unknown_excludes.end())
          hold.push_back(name);
      EXPECT_EQ(plan_of(r, true), apt_get(guest, hold, {"dist-upgrade"}));
    }
  }
}

TEST_F(ResolverPlan, ExcludedUpdatesAreReportedAndWhatNeedsThemIsKeptBack) {
  ResolveOptions options;
  options.exclude = {"pl-dep", "pl-victim"};
  const Resolution r = resolve(everything(), options);
  ASSERT_TRUE(r.resolver_error.empty()) << r.resolver_error;
  EXPECT_EQ(find(r.updates, "pl-dep")->action, Action::excluded);
  EXPECT_EQ(find(r.updates, "pl-dep")->candidate, "2.0-1");
  EXPECT_EQ(find(r.updates, "pl-sec")->action, Action::kept_back);      // needs pl-dep 2.0-1
  EXPECT_EQ(find(r.updates, "pl-secconf")->action, Action::kept_back);  // would remove pl-victim
  EXPECT_EQ(find(r.new_packages, "pl-newdep"), nullptr);
  EXPECT_TRUE(r.removed_packages.empty());
  EXPECT_EQ(find(r.updates, "pl-plain")->action, Action::upgrade);
  EXPECT_TRUE(r.unknown_excludes.empty());
}

TEST_F(ResolverPlan, ExcludeByNameCoversEveryArchitecture) {
  ResolveOptions options;
  options.exclude = {"pl-ma"};
  const Resolution r = resolve(everything(), options);
  EXPECT_EQ(find(r.updates, "pl-ma", "amd64")->action, Action::excluded);
  EXPECT_EQ(find(r.updates, "pl-ma", "i386")->action, Action::excluded);
  EXPECT_EQ(plan_of(r, true), apt_get(everything(), {"pl-ma:amd64", "pl-ma:i386"}, {"dist-upgrade"}));
}

TEST_F(ResolverPlan, GuestHoldStaysHeldWhenAlsoExcluded) {
  Guest guest{"held", stanza("pl-plain", "1.0-1", "", "hold ok installed") + stanza("pl-other", "1.0-1"), ""};
  ResolveOptions options;
  options.exclude = {"pl-plain", "pl-other"};
  const Resolution r = resolve(guest, options);
  EXPECT_EQ(find(r.updates, "pl-plain")->action, Action::held);
  EXPECT_EQ(find(r.updates, "pl-other")->action, Action::excluded);
}

TEST_F(ResolverPlan, SecurityOnlyWithExclude) {
  for (const std::vector<std::string>& exclude :
       std::vector<std::vector<std::string>>{{"pl-secbreak"}, {"pl-old"}, {"pl-secauto", "pl-plain"}}) {
    SCOPED_TRACE(exclude[0]);
    ResolveOptions options;
    options.security_only = true;
    options.exclude = exclude;
    const Resolution r = resolve(everything(), options);
    for (const auto& name : exclude) EXPECT_EQ(find(r.updates, name)->action, Action::excluded) << name;
    std::vector<std::string> args{"install"};
    const auto targets = security_targets(r);
    args.insert(args.end(), targets.begin(), targets.end());
    EXPECT_EQ(plan_of(r, false), apt_get(everything(), exclude, args));
  }
  ResolveOptions options;
  options.security_only = true;
  options.exclude = {"pl-secbreak"};
  const Resolution r = resolve(everything(), options);
  EXPECT_EQ(find(r.updates, "pl-old")->action, Action::deferred);  // nothing needs it now
  EXPECT_EQ(find(r.updates, "pl-sec")->action, Action::upgrade);
}

TEST_F(ResolverPlan, SecurityUpdateBlockedByAnExclusionIsKeptBack) {
  // apt-get install pl-secbreak ... with pl-old held fails ("held broken
  // packages"); the plan keeps pl-secbreak back and does the rest.
  ResolveOptions options;
  options.security_only = true;
  options.exclude = {"pl-old"};
  const Resolution r = resolve(everything(), options);
  ASSERT_TRUE(r.resolver_error.empty()) << r.resolver_error;
  EXPECT_EQ(find(r.updates, "pl-old")->action, Action::excluded);
  EXPECT_EQ(find(r.updates, "pl-secbreak")->action, Action::kept_back);
  for (const char* name : {"pl-sec", "pl-secconf", "pl-secauto", "pl-secmid", "pl-dep"})
    EXPECT_EQ(find(r.updates, name)->action, Action::upgrade) << name;
  EXPECT_EQ(find(r.updates, "pl-plain")->action, Action::deferred);
  EXPECT_TRUE(find(r.updates, "pl-secauto")->auto_installed);
  std::vector<std::string> all_targets{"install"};
  for (const auto& c : r.updates)
    if (c.security && c.action != Action::excluded) all_targets.push_back(display_name(c));
  EXPECT_TRUE(apt_get(everything(), {"pl-old"}, all_targets).failed);

  // The same with the guest's own hold.
  Guest held = everything();
  held.status = stanza("pl-dep", "1.0-1", "", "hold ok installed") + stanza("pl-plain", "1.0-1") +
                stanza("pl-sec", "1.0-1") + stanza("pl-secauto", "1.0-1");
  options.exclude.clear();
  const Resolution h = resolve(held, options);
  ASSERT_TRUE(h.resolver_error.empty()) << h.resolver_error;
  EXPECT_EQ(find(h.updates, "pl-dep")->action, Action::held);
  EXPECT_EQ(find(h.updates, "pl-sec")->action, Action::kept_back);
  EXPECT_EQ(find(h.updates, "pl-secauto")->action, Action::upgrade);
  EXPECT_TRUE(h.new_packages.empty());
  EXPECT_EQ(plan_of(h, false), apt_get(held, {}, {"install", "pl-secauto"}));
}

TEST_F(ResolverPlan, UnknownExcludesAreReported) {
  ResolveOptions options;
  options.exclude = {"pl-nothere", "pl-plain:i386", "pl-plain:amd64", "pl-newdep", ""};
  const Resolution r = resolve(everything(), options);
  EXPECT_EQ(r.unknown_excludes, (std::vector<std::string>{"pl-nothere", "pl-plain:i386", "pl-newdep", ""}));
  EXPECT_EQ(find(r.updates, "pl-plain")->action, Action::excluded);
  // Everything else as without the option.
  ResolveOptions only_plain;
  only_plain.exclude = {"pl-plain"};
  Resolution same = resolve(everything(), only_plain);
  same.unknown_excludes = r.unknown_excludes;
  EXPECT_EQ(comparable(r), comparable(same));
}

TEST_F(ResolverPlan, JsonRoundTrip) {
  ResolveOptions options;
  options.security_only = true;
  options.exclude = {"a", "b:i386"};
  const nlohmann::json j = options;
  const auto back = j.get<ResolveOptions>();
  EXPECT_TRUE(back.security_only);
  EXPECT_EQ(back.exclude, options.exclude);
  // Absent fields are the default.
  const auto empty = nlohmann::json::object().get<ResolveOptions>();
  EXPECT_FALSE(empty.security_only);
  EXPECT_TRUE(empty.exclude.empty());

  ResolveOptions excluding;
  excluding.exclude = {"pl-dep", "pl-nothere"};
  const Resolution r = resolve(everything(), excluding);
  const nlohmann::json rj = r;
  EXPECT_EQ(rj.at("unknown_excludes"), nlohmann::json({"pl-nothere"}));
  EXPECT_EQ(comparable(rj.get<Resolution>()), comparable(r));
  for (const auto& action : {Action::excluded, Action::deferred}) {
    PackageChange c;
    c.action = action;
    c.auto_installed = true;
    const auto cb = nlohmann::json(c).get<PackageChange>();
    EXPECT_EQ(cb.action, action);
    EXPECT_TRUE(cb.auto_installed);
  }
  EXPECT_EQ(to_string(Action::excluded), "excluded");
  EXPECT_EQ(to_string(Action::deferred), "deferred");
}

TEST_F(ResolverPlan, OptionsSurviveTheWorker) {
  ResolveOptions security;
  security.security_only = true;
  ResolveOptions exclude;
  exclude.exclude = {"pl-dep", "pl-nothere"};
  ResolveOptions both;
  both.security_only = true;
  both.exclude = {"pl-secbreak"};
  const Guest guest = everything();
  const std::vector<assess::WorkerJob> jobs{{"default", guest.status, guest.states, {}},
                                            {"security", guest.status, guest.states, security},
                                            {"exclude", guest.status, guest.states, exclude},
                                            {"both", guest.status, guest.states, both}};
  const auto results = assess::resolve_in_worker(kWorker, plan_options(tmp_.path() / "worker", false), jobs,
                                                 std::chrono::seconds(60));
  ASSERT_EQ(results.size(), jobs.size());
  std::set<std::string> distinct;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    SCOPED_TRACE(jobs[i].key);
    ASSERT_TRUE(results[i].resolution.has_value()) << results[i].error;
    Universe universe(plan_options(tmp_.path() / "inproc", false));
    EXPECT_EQ(comparable(*results[i].resolution),
              comparable(universe.resolve(guest.status, guest.states, jobs[i].options)));
    distinct.insert(comparable(*results[i].resolution));
  }
  EXPECT_EQ(distinct.size(), jobs.size());  // each option changed the answer
}

TEST_F(ResolverPlan, RequestWithoutOptionsIsDistUpgrade) {
  // A request as written before ResolveOptions existed: jobs without "options".
  const Guest guest = everything();
  const fs::path dir = tmp_.path() / "old-request";
  fs::create_directories(dir);
  write_file(dir / "status", guest.status);
  write_file(dir / "extended_states", guest.states);
  const nlohmann::json request{{"options", plan_options(dir / "work", false)},
                               {"jobs",
                                {{{"key", "old"},
                                  {"status_file", (dir / "status").string()},
                                  {"extended_states_file", (dir / "extended_states").string()}}}}};
  write_file(dir / "request.json", request.dump());
  std::ostringstream out;
  ASSERT_EQ(assess::run_resolve_worker(dir / "request.json", out), 0) << out.str();
  std::istringstream lines(out.str());
  std::string line;
  std::getline(lines, line);
  EXPECT_EQ(nlohmann::json::parse(line), nlohmann::json({{"ready", true}}));
  ASSERT_TRUE(std::getline(lines, line));
  const auto answer = nlohmann::json::parse(line);
  ASSERT_TRUE(answer.contains("resolution")) << line;
  const Resolution r = answer["resolution"].get<Resolution>();
  EXPECT_EQ(comparable(r), comparable(resolve(guest)));
  EXPECT_EQ(find(r.updates, "pl-plain")->action, Action::upgrade);
}

}  // namespace
}  // namespace dormant::testing
