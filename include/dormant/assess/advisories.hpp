// Security advisories from the Debian Security Tracker: which CVEs (and
// TEMP- ids) an update fixes.
//
// The input is the tracker's https://security-tracker.debian.org/tracker/data/json:
//
//   { "<source package>": { "<CVE or TEMP id>": { "description": ..., "scope": ...,
//       "debianbug": N, "releases": { "<codename>": { "status": "resolved",
//       "repositories": { "bookworm": "ver", ... }, "fixed_version": "ver",
//       "urgency": "..." } } } } }
//
// The real file is ~100 MB, almost all of it descriptions; only what
// fixed_between() needs is kept (per source package: id, codename and fixed
// version of each resolved release), parsed as a stream so that neither the
// file nor a JSON tree is ever held in memory.
//
// Missing fields are tolerated. A field that is used (the entries, "releases",
// each release, "status", and "fixed_version" of a resolved release) but has
// the wrong type, or a resolved release without a usable fixed version, skips
// that one entry (as does an id or a version over 1 KiB) and counts it in
// skipped_entries(); it never fails the load.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dormant::assess {

namespace detail {
struct AdvisoryData;  // advisories.cpp
}

class Advisories {
 public:
  // Bigger than any tracker file will plausibly be (it grows by a few MB a
  // year): a bigger file is not the tracker's.
  static constexpr std::uintmax_t kMaxBytes = std::uintmax_t{1} << 30;

  // Error(not_found) when `file` does not exist, Error(io) when it cannot be
  // read, Error(limit) over kMaxBytes, Error(corrupt) for invalid JSON or a
  // top level that is not an object ("<file>: invalid JSON at byte N: ...",
  // N the 0-based offset of the offending byte, the file's size when it
  // ends too early). Every error names the file (its subject).
  static Advisories load(const std::filesystem::path& file);
  // The same from memory; errors name `subject`.
  static Advisories parse(std::string_view json, const std::string& subject);

  // No advisories; a moved-from object answers the same.
  Advisories();
  Advisories(Advisories&&) noexcept;
  Advisories& operator=(Advisories&&) noexcept;
  ~Advisories();

  // The ids (sorted, unique, as the tracker spells them) of the advisories
  // of `source_package` whose release `codename` is resolved with a fixed
  // version v such that installed < v <= candidate in Debian order: the
  // advisories an upgrade from `installed` to `candidate` fixes. A fixed
  // version "0" (the release was never affected) never matches. Const
  // queries may run from several threads at once.
  std::vector<std::string> fixed_between(std::string_view source_package, std::string_view codename,
                                         std::string_view installed, std::string_view candidate) const;

  // Advisory entries (source package x id, each an object) read, whatever
  // their status.
  std::size_t advisory_count() const;
  // Entries skipped because a field they need had the wrong type or was
  // missing (see above).
  std::size_t skipped_entries() const;

 private:
  explicit Advisories(std::unique_ptr<detail::AdvisoryData> data);

  std::unique_ptr<detail::AdvisoryData> data_;
};

}  // namespace dormant::assess
