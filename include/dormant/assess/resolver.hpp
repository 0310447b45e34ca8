// What `apt-get dist-upgrade` (or a --security-only / --exclude variant of
// it, ResolveOptions) would do to one guest, computed on the host
// with libapt-pkg (the code apt-get itself runs) against indexes already
// fetched and verified by repo::update_source.
//
// libapt-pkg has process-wide state and parses the guest's dpkg status, which
// is hostile input: a Universe lives in a worker process (assess/worker.hpp).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dormant/repo/update.hpp"

namespace dormant::assess {

struct PackageRef;         // download.hpp
struct DownloadedPackage;  // download.hpp

// A fetched source as the resolver sees it.
struct UniverseSource {
  repo::SourceSpec spec;
  std::filesystem::path lists_dir;  // UpdateResult::lists_dir
};

struct UniverseOptions {
  std::filesystem::path work_dir;          // private scratch directory (apt's etc/, per-image lists)
  std::vector<std::string> architectures;  // native first (never empty)
  std::vector<UniverseSource> sources;
  // Resolve every image against the whole universe instead of the pruned
  // per-image one (slower, exact by construction; see docs/design/assess.md).
  bool full_universe = false;
};

struct PackageChange {
  std::string name;
  std::string arch;
  std::string installed;  // "" for a new package
  std::string candidate;  // "" for a removal
  std::string source;     // dormant source that publishes the candidate ("" for removals)
  std::string suite;      // that source's suite
  // Some version newer than `installed` (any, for a new package) up to and
  // including `candidate` is published by a source marked security, or by a
  // release whose Suite/Codename ends in "-security" or whose Label is
  // "Debian-Security" (security.cpp). The range matters: a point release can
  // carry a fix first published in -security.
  bool security = false;
  std::string
      source_package;  // Debian source package of the candidate (for advisories); installed one for removals
  std::string source_version;  // its version
  // For updates only: what the resolution does with it. `removed`: it removes
  // the package instead of upgrading it (it is in removed_packages too); kept
  // here so that a pending security fix is not lost from view. `held`: the
  // guest's dpkg selection is "hold". `excluded`: ResolveOptions::exclude
  // keeps it. `deferred`: ResolveOptions::security_only leaves this
  // non-security update out (one a security update needs is an `upgrade`).
  // `kept_back`: the resolver keeps it back.
  enum class Action { upgrade, held, kept_back, removed, excluded, deferred } action = Action::upgrade;
  // apt's Auto flag in the resolved state (what `apt-mark showauto` would
  // say afterwards): a new package pulled in as a dependency is automatic;
  // an installed one keeps what its extended_states said; for a removal, the
  // flag it had.
  bool auto_installed = false;
};

// "upgrade", "held", "kept-back", "removed", "excluded", "deferred" (the JSON
// of docs/assess.schema.json).
std::string_view to_string(PackageChange::Action action);

// What to resolve (docs/design/patch.md, "patch/plan"). The default is
// `apt-get dist-upgrade`.
struct ResolveOptions {
  // Upgrade only the installed packages whose update is `security`, plus what
  // they need, as `apt-get install PKG...` of exactly those would (their Auto
  // flags are kept, unlike apt-get install). Every other update is
  // `deferred` unless one of them needs it.
  bool security_only = false;
  // "name" (every installed architecture) or "name:arch": kept at the
  // installed version, as `apt-mark hold` would, then resolved. Names that
  // are not installed are reported in Resolution::unknown_excludes.
  std::vector<std::string> exclude;
};

struct Resolution {
  // The guest's dpkg database is already inconsistent (apt-get refuses with
  // "Unmet dependencies"): the packages apt reports broken. Nothing else is filled.
  std::vector<std::string> broken;
  // dist-upgrade itself fails on this guest (apt-get: "Broken packages" or
  // "pkgProblemResolver::Resolve generated breaks"): apt's messages. `broken`
  // then lists the packages that would be left broken; the change lists are
  // empty because apt-get would do nothing.
  std::string resolver_error;
  // Installed packages whose candidate is newer (apt's "upgradable"), sorted
  // by name, arch; `candidate` is the version dist-upgrade installs, or the
  // candidate it keeps back.
  std::vector<PackageChange> updates;
  std::vector<PackageChange> new_packages;      // dist-upgrade installs these (sorted the same way)
  std::vector<PackageChange> removed_packages;  // dist-upgrade removes these (sorted the same way)
  // ResolveOptions::exclude entries that match no installed package (as given).
  std::vector<std::string> unknown_excludes;
  bool pruned = false;                // resolved on the pruned universe
  std::size_t universe_packages = 0;  // package count of the cache it was resolved in
};

class Universe {
 public:
  // Configures apt (repo::configure_apt) and loads the indexes of every
  // source. Error(io) with apt's messages when they cannot be read.
  explicit Universe(UniverseOptions options);
  ~Universe();
  Universe(const Universe&) = delete;
  Universe& operator=(const Universe&) = delete;

  // Resolves one guest. `status` is its /var/lib/dpkg/status,
  // `extended_states` its /var/lib/apt/extended_states ("" when it has none).
  // `options` chooses dist-upgrade (the default), --security-only, --exclude.
  // Error(corrupt) when apt cannot parse the status (apt's messages).
  Resolution resolve(const std::string& status, const std::string& extended_states,
                     const ResolveOptions& options = {});

  // Fetches the .deb of each of `packages` into `archives_dir` (created 0755:
  // as root apt's methods run as _apt) with apt's pkgAcqArchive, which checks
  // the file against the size and hashes of the (signed) Packages index. A
  // file already there whose SHA256 matches is not fetched again (cached);
  // one that does not match is deleted and fetched. Nothing that failed
  // verification is left in `archives_dir`. Results in the order given.
  //   Error(not_found)  name/arch/version is not in the indexes (names it)
  //   Error(hostile)    hash or size mismatch, or an unauthenticated source
  //                     (names the package and the URI, with apt's text)
  //   Error(io)         unreachable, HTTP errors, local I/O
  // See download.hpp.
  std::vector<DownloadedPackage> download(const std::vector<PackageRef>& packages,
                                          const std::filesystem::path& archives_dir);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dormant::assess
