// The assessment: for every selected image, without booting it, what is out
// of date, what is a security fix and what a full upgrade would do, against
// the update sources that apply to it; recorded in the catalog as the image's
// compliance state (with history).
//
// One run: every source that some selected image needs is fetched and
// verified once (repo::update_source, conditional GET); images are grouped by
// (sources, architectures), each group's indexes are loaded once in a resolver
// worker, and each distinct package database (clones of a template share
// one) is resolved once.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "dormant/assess/resolver.hpp"
#include "dormant/catalog/catalog.hpp"
#include "dormant/core/progress.hpp"

namespace dormant::assess {

struct AssessOptions {
  std::filesystem::path cache_dir;   // fetched indexes (per source) and the workers' scratch space
  std::filesystem::path worker_exe;  // the dormant binary: runs `__resolve-worker`
  // false: do not fetch; use the indexes of the last successful fetch (still
  // verified then; Valid-Until is not checked again).
  bool refresh = true;
  bool full_universe = false;                       // see UniverseOptions
  std::optional<std::filesystem::path> advisories;  // Debian Security Tracker JSON
  std::chrono::milliseconds timeout_per_image{std::chrono::minutes(2)};
  // What to resolve for (patch plans: --security-only, --exclude). An
  // assessment with non-default options is a plan, not the image's compliance
  // state: it is not recorded whatever `record` says.
  ResolveOptions resolve;
  bool record = true;  // append the results to the catalog's assessment history
};

// One image's result, also its catalog record (result_json).
struct ImageAssessment {
  catalog::ImageRecord image;
  std::string state;                     // catalog::kCompliant, ...
  std::string reason;                    // why unknown
  std::optional<Resolution> resolution;  // on the image's package set
  // Per resolution->updates entry: the advisories (CVE ids) it fixes, from
  // --advisories; empty lists without it.
  std::vector<std::vector<std::string>> update_cves;
  std::vector<std::string> sources;           // names of the sources it was assessed against
  std::vector<std::string> unsigned_sources;  // those of them that are not verified (--allow-unsigned)
  bool reused = false;                        // its package set was resolved for another image of this run
  std::string assessed_at;
  // The universe it was resolved in (sources and architectures; work_dir
  // empty), so that a patch run can download the plan from the same
  // verified indexes. Empty when it was not resolved.
  std::optional<UniverseOptions> universe;
};

// What happened to a source in this run.
struct SourceFetch {
  std::string name;
  bool ok = false;
  bool fetched = false;  // false with ok: --offline (used as last fetched)
  std::size_t files_fetched = 0, files_unchanged = 0;
  std::string error;  // why it cannot be used (names the file)
  std::vector<std::string> warnings;
  bool allow_unsigned = false;
  std::string fetched_at;
};

struct AssessReport {
  std::vector<ImageAssessment> images;  // in the order asked
  std::vector<SourceFetch> sources;
  std::size_t package_sets = 0;  // distinct package sets resolved
  std::size_t advisories = 0;    // advisories loaded (0 without --advisories)
  std::size_t compliant = 0, updates_pending = 0, security_updates_pending = 0, unknown = 0;
};

// Assesses `images` (catalog records; 'missing' or uninspectable ones become
// unknown with the reason) and appends one assessment per image to the
// catalog. Errors that concern one source or one image become that image's
// 'unknown' reason; only a failure of the catalog or an unreadable
// --advisories file throws.
AssessReport assess_images(catalog::Catalog& catalog, const std::vector<catalog::ImageRecord>& images,
                           const AssessOptions& options, ProgressSink& progress);

// Updates of a resolution as the catalog and the table count them: held
// packages apart (they do not count), security updates among the others.
struct UpdateCounts {
  std::size_t updates = 0, security = 0, held = 0;
};
UpdateCounts count_updates(const Resolution& resolution);

// The compliance state of a resolution: security-updates-pending when an
// update dist-upgrade would install is a security update,
// updates-pending when it would change anything, else compliant. Held
// packages are reported but do not count (the administrator held them).
std::string compliance_of(const Resolution& resolution);

// JSON as documented in docs/assess.schema.json.
nlohmann::json to_json(const ImageAssessment& assessment);
nlohmann::json to_json(const SourceFetch& source);
nlohmann::json to_json(const AssessReport& report);

// Removes the scratch directories (cache_dir/work/run-<pid>-*) of assessing
// processes that died; every assessment does this first, and a job run when
// it ends (its killed patch processes may have been assessing).
void remove_abandoned_scratch(const std::filesystem::path& cache_dir);

}  // namespace dormant::assess
