#include "resolver_run.hpp"

#include <apt-pkg/algorithms.h>
#include <apt-pkg/cachefile.h>
#include <apt-pkg/depcache.h>
#include <apt-pkg/error.h>
#include <apt-pkg/pkgcache.h>
#include <apt-pkg/upgrade.h>

#include <algorithm>
#include <set>
#include <tuple>
#include <vector>

#include "dormant/core/error.hpp"
#include "dormant/repo/apt_context.hpp"

namespace dormant::assess::detail {
namespace {

using Pkg = pkgCache::PkgIterator;
using Ver = pkgCache::VerIterator;

[[noreturn]] void fail_corrupt(const char* what) {
  const auto messages = repo::take_apt_messages();
  fail(ErrorKind::corrupt, "dpkg status", "apt cannot {}: {}", what, repo::format_apt_messages(messages));
}

bool pending_error() {
  // Warnings (a duplicate field, an unknown architecture) do not stop apt-get.
  return _error->PendingError();
}

PackageChange describe(const SourceIndex& sources, Pkg pkg, Ver installed, Ver target) {
  PackageChange change;
  change.name = pkg.Name();
  change.arch = pkg.Arch();
  if (!installed.end()) change.installed = installed.VerStr();
  const Ver described = target.end() ? installed : target;
  if (!target.end()) {
    change.candidate = target.VerStr();
    if (const repo::SourceSpec* spec = sources.publisher(target)) {
      change.source = spec->name;
      change.suite = spec->suite;
    }
    change.security = is_security_update(sources, installed, target);
  }
  if (!described.end()) {
    change.source_package = described.SourcePkgName();
    change.source_version = described.SourceVerStr();
  }
  return change;
}

void sort_changes(std::vector<PackageChange>& changes) {
  std::sort(changes.begin(), changes.end(), [](const PackageChange& a, const PackageChange& b) {
    return std::tie(a.name, a.arch) < std::tie(b.name, b.arch);
  });
}

std::vector<std::string> broken_packages(pkgDepCache& cache, bool now) {
  std::vector<std::string> names;
  for (Pkg p = cache.PkgBegin(); !p.end(); ++p)
    if (now ? cache[p].NowBroken() : cache[p].InstBroken()) names.push_back(p.FullName(true));
  std::sort(names.begin(), names.end());
  return names;
}

// Whether dropping `pkg` (a garbage new install) breaks an important
// dependency of a package that stays, or of a version about to be installed.
// apt's iterator operator== is a non-const member, which C++20's reversed
// candidates make ambiguous (clang: -Wambiguous-reversed-operator); compare
// what the iterators point at (both null at the end).
bool same_version(const Ver& a, const Ver& b) {
  return static_cast<const pkgCache::Version*>(a) == static_cast<const pkgCache::Version*>(b);
}

bool needed_by_another(pkgDepCache& cache, Pkg pkg) {
  std::set<Pkg> names{pkg};
  for (auto prv = cache[pkg].CandidateVerIter(cache).ProvidesList(); !prv.end(); ++prv)
    names.insert(prv.ParentPkg());
  for (const Pkg& name : names) {
    for (auto dep = name.RevDependsList(); !dep.end(); ++dep) {
      if (dep.IsNegative() || !cache.IsImportantDep(dep)) continue;
      Ver rv =
          dep.ParentVer();  // not const: clang finds VerIterator == const Ver ambiguous (reversed operator)
      if (rv.end()) continue;
      const Pkg rp = rv.ParentPkg();
      if (same_version(rp.CurrentVer(), rv)) {
        if (cache[rp].Keep()) return true;
      } else if (same_version(cache[rp].CandidateVerIter(cache), rv)) {
        if (cache[rp].NewInstall() || cache[rp].Upgrade()) return true;
      }
    }
  }
  return false;
}

// apt-get's DoAutomaticRemove without autoremove (apt 2.6): a new install that
// is already garbage is not installed at all, unless that breaks something,
// in which case the ones another package needs are installed again.
void drop_garbage_new_installs(pkgDepCache& cache) {
  cache.MarkAndSweep();
  std::set<Pkg> too_much;
  for (Pkg p = cache.PkgBegin(); !p.end(); ++p) {
    if (!cache[p].Garbage || !cache[p].Install() || p.CurrentVer() != 0) continue;
    too_much.insert(p);
    cache.MarkDelete(p, false, 0, false);
  }
  if (too_much.empty() || (cache.BrokenCount() == 0 && cache.PolicyBrokenCount() == 0)) return;
  // apt restarts from the first package after every re-install.
  for (bool changed = true; changed;) {
    changed = false;
    for (auto it = too_much.begin(); it != too_much.end(); ++it) {
      if (!needed_by_another(cache, *it)) continue;
      cache.MarkInstall(*it, false, 0, false);
      too_much.erase(it);
      changed = true;
      break;
    }
  }
}

// What the resolution knows of each package (by ID) before it marks
// anything: apt-get's ?upgradable and each one's candidate (the resolver's
// keep-back resets a kept package's candidate to its installed version, which
// would hide what is pending), and why an update might not be done.
struct Before {
  explicit Before(pkgDepCache& cache)
      : upgradable(cache.Head().PackageCount, false),
        candidate(cache.Head().PackageCount, Ver(cache.GetCache())),
        guest_held(cache.Head().PackageCount, false),
        excluded(cache.Head().PackageCount, false),
        security(cache.Head().PackageCount, false),
        was_auto(cache.Head().PackageCount, false) {}
  std::vector<bool> upgradable;
  std::vector<Ver> candidate;
  std::vector<bool> guest_held;  // the guest's own dpkg selection is hold
  std::vector<bool> excluded;    // ResolveOptions::exclude
  std::vector<bool> security;    // the pending update is a security update
  std::vector<bool> was_auto;    // installed and automatic (extended_states)
};

// Marks the excluded installed packages held in the cache: the dpkg
// selection `apt-mark hold` would write, which apt's upgrade and marking
// code then respect (Protect + MarkKeep, "Hold prevents Mark"). Returns the
// entries that match no installed package.
std::vector<std::string> hold_excluded(pkgDepCache& cache, const std::vector<std::string>& exclude,
                                       Before& before) {
  std::vector<std::string> unknown;
  for (const std::string& entry : exclude) {
    // Debian package names have no ':'; "name:all" is apt's native architecture.
    const auto colon = entry.find(':');
    const std::string name = entry.substr(0, colon);
    std::string arch = colon == std::string::npos ? "" : entry.substr(colon + 1);
    if (arch == "all") arch = cache.GetCache().NativeArch();
    bool found = false;
    auto group = cache.GetCache().FindGrp(name);
    if (!name.empty() && !group.end()) {
      for (Pkg p = group.PackageList(); !p.end(); p = group.NextPkg(p)) {
        if (p->CurrentVer == 0 || (!arch.empty() && arch != p.Arch())) continue;
        found = true;
        before.excluded[p->ID] = true;
        p->SelectedState = pkgCache::State::Hold;
      }
    }
    if (!found) unknown.push_back(entry);
  }
  return unknown;
}

// Why an update is not done (it is neither upgraded nor removed).
PackageChange::Action not_done(const Before& before, Pkg p, bool security_only) {
  using Action = PackageChange::Action;
  if (before.guest_held[p->ID]) return Action::held;
  if (before.excluded[p->ID]) return Action::excluded;
  if (security_only && !before.security[p->ID]) return Action::deferred;
  return Action::kept_back;
}

// What a failed resolution reports: nothing is applied.
void report_failure(const SourceIndex& sources, const Before& before, bool security_only, pkgDepCache& cache,
                    Resolution& out) {
  auto messages = repo::take_apt_messages();
  if (messages.empty()) messages.push_back({true, "Broken packages"});
  out.resolver_error = repo::format_apt_messages(messages);
  out.broken = broken_packages(cache, false);
  for (Pkg p = cache.PkgBegin(); !p.end(); ++p) {
    if (!before.upgradable[p->ID]) continue;
    PackageChange change = describe(sources, p, p.CurrentVer(), before.candidate[p->ID]);
    change.action = not_done(before, p, security_only);
    change.auto_installed = before.was_auto[p->ID];
    out.updates.push_back(std::move(change));
  }
  sort_changes(out.updates);
}

// `apt-get install` of exactly `targets` (apt-private's TryToInstall, its
// doAutoInstall, then the problem resolver), in the order given. False when
// the resolver fails. Unless `protect`, the resolver may keep a target back.
bool install_targets(pkgDepCache& cache, const std::vector<Pkg>& targets, bool protect) {
  pkgProblemResolver fix(&cache);
  for (const Pkg& p : targets) {
    fix.Clear(p);
    if (protect) fix.Protect(p);
    cache.MarkInstall(p, false);
  }
  for (const Pkg& p : targets) cache.MarkInstall(p, true);
  return fix.Resolve(true, nullptr);
}

}  // namespace

Resolution resolve_configured(const SourceIndex& sources, const ResolveOptions& options) {
  (void)repo::take_apt_messages();  // nothing of an earlier image is blamed on this one
  pkgCacheFile file;
  if (!file.BuildCaches(nullptr, false) || pending_error()) fail_corrupt("build its package cache");
  if (!file.BuildPolicy(nullptr) || !file.BuildDepCache(nullptr) || pending_error())
    fail_corrupt("build its dependency cache");
  pkgDepCache& cache = *file.GetDepCache();

  Resolution out;
  out.universe_packages = cache.Head().PackageCount;
  // CacheFile::CheckDeps: half-installed packages first, then refuse a
  // system whose installed dependencies are already unmet.
  if (!pkgApplyStatus(cache) || pending_error()) fail_corrupt("apply the package states");

  Before before(cache);
  for (Pkg p = cache.PkgBegin(); !p.end(); ++p) {
    before.guest_held[p->ID] = p->SelectedState == pkgCache::State::Hold;
    before.was_auto[p->ID] = p->CurrentVer != 0 && (cache[p].Flags & pkgCache::Flag::Auto) != 0;
  }
  out.unknown_excludes = hold_excluded(cache, options.exclude, before);
  if (cache.BrokenCount() != 0) {
    out.broken = broken_packages(cache, true);
    return out;
  }

  std::vector<Pkg> security_targets;  // by full name: the order of an `apt-get install` command line
  for (Pkg p = cache.PkgBegin(); !p.end(); ++p) {
    before.upgradable[p->ID] = p->CurrentVer != 0 && cache[p].Upgradable();
    if (!before.upgradable[p->ID]) continue;
    before.candidate[p->ID] = cache[p].CandidateVerIter(cache);
    before.security[p->ID] = is_security_update(sources, p.CurrentVer(), before.candidate[p->ID]);
    // apt-get install would override a hold; --security-only must not.
    if (before.security[p->ID] && p->SelectedState != pkgCache::State::Hold) security_targets.push_back(p);
  }
  std::sort(security_targets.begin(), security_targets.end(),
            [](const Pkg& a, const Pkg& b) { return a.FullName(true) < b.FullName(true); });

  bool resolved = options.security_only
                      ? install_targets(cache, security_targets, true)
                      : APT::Upgrade::Upgrade(cache, APT::Upgrade::ALLOW_EVERYTHING, nullptr);
  if (options.security_only && (!resolved || cache.BrokenCount() != 0)) {
    // apt-get install gives up here ("you have held broken packages": a
    // hold or an exclusion blocks a security update). A plan does what it
    // can: start over and let the resolver keep the blocked updates back.
    (void)repo::take_apt_messages();
    cache.Init(nullptr);
    if (!pkgApplyStatus(cache) || pending_error()) fail_corrupt("apply the package states");
    resolved = install_targets(cache, security_targets, false);
  }
  if (!resolved || cache.BrokenCount() != 0) {
    report_failure(sources, before, options.security_only, cache, out);
    return out;
  }
  drop_garbage_new_installs(cache);
  if (cache.BrokenCount() != 0) {
    report_failure(sources, before, options.security_only, cache, out);
    return out;
  }
  // apt-get install makes the packages it was given manual; the plan keeps
  // the guest's flags (after the garbage step, which saw what apt-get sees).
  if (options.security_only)
    for (const Pkg& p : security_targets) cache.MarkAuto(p, before.was_auto[p->ID]);

  for (Pkg p = cache.PkgBegin(); !p.end(); ++p) {
    auto& state = cache[p];
    const Ver current = p.CurrentVer();
    if (state.Delete() && !current.end()) {
      PackageChange removal = describe(sources, p, current, Ver(cache.GetCache()));
      removal.auto_installed = before.was_auto[p->ID];
      out.removed_packages.push_back(std::move(removal));
    } else if (state.NewInstall()) {
      PackageChange added = describe(sources, p, current, state.InstVerIter(cache));
      added.auto_installed = (state.Flags & pkgCache::Flag::Auto) != 0;
      out.new_packages.push_back(std::move(added));
    }
    if (!before.upgradable[p->ID]) continue;
    using Action = PackageChange::Action;
    Ver target = state.Upgrade() ? state.InstVerIter(cache) : before.candidate[p->ID];
    PackageChange change = describe(sources, p, current, target);
    if (state.Upgrade())
      change.action = Action::upgrade;
    else if (state.Delete())
      change.action = Action::removed;
    else
      change.action = not_done(before, p, options.security_only);
    change.auto_installed =
        state.Delete() ? before.was_auto[p->ID] : (state.Flags & pkgCache::Flag::Auto) != 0;
    out.updates.push_back(std::move(change));
  }
  sort_changes(out.updates);
  sort_changes(out.new_packages);
  sort_changes(out.removed_packages);
  (void)repo::take_apt_messages();
  return out;
}

}  // namespace dormant::assess::detail
