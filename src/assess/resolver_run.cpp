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

// What a failed dist-upgrade reports: nothing is applied.
void report_failure(const SourceIndex& sources, const std::vector<bool>& upgradable,
                    const std::vector<Ver>& candidate, pkgDepCache& cache, Resolution& out) {
  auto messages = repo::take_apt_messages();
  if (messages.empty()) messages.push_back({true, "Broken packages"});
  out.resolver_error = repo::format_apt_messages(messages);
  out.broken = broken_packages(cache, false);
  for (Pkg p = cache.PkgBegin(); !p.end(); ++p) {
    if (!upgradable[p->ID]) continue;
    PackageChange change = describe(sources, p, p.CurrentVer(), candidate[p->ID]);
    change.action = p->SelectedState == pkgCache::State::Hold ? PackageChange::Action::held
                                                              : PackageChange::Action::kept_back;
    out.updates.push_back(std::move(change));
  }
  sort_changes(out.updates);
}

}  // namespace

Resolution resolve_configured(const SourceIndex& sources) {
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
  if (cache.BrokenCount() != 0) {
    out.broken = broken_packages(cache, true);
    return out;
  }

  // apt-get's ?upgradable and each one's candidate, taken before the upgrade
  // marks anything: the resolver's keep-back resets a kept package's
  // candidate to its installed version, which would hide what is pending.
  std::vector<bool> upgradable(cache.Head().PackageCount, false);
  std::vector<Ver> candidate(cache.Head().PackageCount, Ver(cache.GetCache()));
  for (Pkg p = cache.PkgBegin(); !p.end(); ++p) {
    upgradable[p->ID] = p->CurrentVer != 0 && cache[p].Upgradable();
    if (upgradable[p->ID]) candidate[p->ID] = cache[p].CandidateVerIter(cache);
  }

  const bool resolved = APT::Upgrade::Upgrade(cache, APT::Upgrade::ALLOW_EVERYTHING, nullptr);
  if (!resolved || cache.BrokenCount() != 0) {
    report_failure(sources, upgradable, candidate, cache, out);
    return out;
  }
  drop_garbage_new_installs(cache);
  if (cache.BrokenCount() != 0) {
    report_failure(sources, upgradable, candidate, cache, out);
    return out;
  }

  for (Pkg p = cache.PkgBegin(); !p.end(); ++p) {
    auto& state = cache[p];
    const Ver current = p.CurrentVer();
    if (state.Delete() && !current.end()) {
      out.removed_packages.push_back(describe(sources, p, current, Ver(cache.GetCache())));
    } else if (state.NewInstall()) {
      out.new_packages.push_back(describe(sources, p, current, state.InstVerIter(cache)));
    }
    if (!upgradable[p->ID]) continue;
    using Action = PackageChange::Action;
    Ver target = state.Upgrade() ? state.InstVerIter(cache) : candidate[p->ID];
    PackageChange change = describe(sources, p, current, target);
    if (state.Upgrade())
      change.action = Action::upgrade;
    else if (state.Delete())
      change.action = Action::removed;
    else
      change.action = p->SelectedState == pkgCache::State::Hold ? Action::held : Action::kept_back;
    out.updates.push_back(std::move(change));
  }
  sort_changes(out.updates);
  sort_changes(out.new_packages);
  sort_changes(out.removed_packages);
  (void)repo::take_apt_messages();
  return out;
}

}  // namespace dormant::assess::detail
