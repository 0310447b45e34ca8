// Fetching and verifying apt repositories (`apt-get update`), through
// libapt-pkg's own acquire code: InRelease (or Release + Release.gpg)
// verified with gpgv against the source's keyring (Signed-By), Valid-Until,
// every index checked against the hashes of the signed Release, conditional
// GET so an unchanged repository is not downloaded again.
//
// Each source is fetched into its own directory, so sources bound to
// different groups never clean each other's lists. Call from a process that
// does no other apt work at the same time (see apt_context.hpp).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "dormant/repo/apt_context.hpp"

namespace dormant::repo {

// An update source as apt needs it (the catalog's Source, without ids).
struct SourceSpec {
  std::string name;  // dormant's name for it: every error names it
  std::string uri;   // http://, https:// or file://
  std::string suite;
  std::vector<std::string> components{"main"};
  std::optional<std::filesystem::path> keyring;  // absolute; Signed-By
  bool allow_unsigned = false;                   // Trusted: yes (test repositories only)
  bool security = false;
};

// The deb822 stanzas for `sources` with `Architectures:` set to
// `architectures` (Signed-By: the keyring, or Trusted: yes when unsigned).
std::string render_sources(const std::vector<SourceSpec>& sources, const std::vector<std::string>& architectures);

// apt's lists file name prefix of a source ("127.0.0.1:8080_repo_dists_bookworm_"):
// every index file of the source in a lists directory starts with it.
std::string lists_prefix(const SourceSpec& source);

// Where a source's state lives under the cache directory: a stable name
// derived from everything that changes what is fetched (URI, suite,
// components, keyring path, unsigned).
std::filesystem::path source_dir(const std::filesystem::path& cache_dir, const SourceSpec& source);

// unchanged: apt's "Hit" (HTTP 304 to its If-Modified-Since). apt asks only
// for the InRelease when it did not change: the indexes it lists are not
// requested at all, so an unchanged source reports just its InRelease. Over
// file:// the InRelease is always read again (apt's file method cannot hit a
// file of unknown size): fetched, but its unchanged indexes are not.
enum class FetchOutcome { fetched, unchanged, failed };

struct FetchedFile {
  std::string uri;          // what apt fetched or tried (file:/path for file://), with the
                            // compression apt chose (".../Packages.xz")
  FetchOutcome outcome = FetchOutcome::fetched;
  std::string error;        // apt's text, for failed
};

struct UpdateResult {
  std::string source;                  // SourceSpec::name
  std::filesystem::path lists_dir;     // source_dir(...)/lists
  std::vector<FetchedFile> files;
  std::vector<AptMessage> warnings;    // apt warnings and notices that did not fail the update (shown
                                       // to the user), e.g. the _apt sandbox being off
  std::string fetched_at;              // UTC ISO 8601
};

// Fetches and verifies one source for `architectures` into
// source_dir(cache_dir, source)/lists. Any failed item fails the whole source
// (apt itself would keep the old lists and go on; a missing security index
// would silently mean "no security updates"); the lists of the last good
// update stay as they were. Errors name the source and the file, with apt's
// own text:
//   Error(hostile)  bad or missing signature, unsigned without allow_unsigned,
//                   hash or size mismatch, expired Valid-Until
//   Error(io)       unreachable, HTTP errors, local I/O
UpdateResult update_source(const SourceSpec& source, const std::filesystem::path& cache_dir,
                           const std::vector<std::string>& architectures);

}  // namespace dormant::repo
