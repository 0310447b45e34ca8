// Compliance reports over the catalog (docs/report.md). Reads the catalog
// only: nothing is fetched or re-assessed.
//
// build_report gathers the model (summary, per-image details, history);
// render_* turn it into one of the four formats. Every string in the model
// may come from a guest (paths, package names, OS names): the renderers
// escape for their format.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dormant/catalog/catalog.hpp"

namespace dormant::report {

enum class Format { table, json, csv, html };

// "table", "json", "csv", "html"; Error(usage) naming the value otherwise.
Format parse_format(std::string_view text);
// The MIME type a rendering is served with ("text/html; charset=utf-8", ...).
std::string_view content_type(Format format);

struct Options {
  std::string group;  // only this group's members; "" = every image
  Format format = Format::table;
};

// An image without any assessment.
inline constexpr std::string_view kUnassessed = "unassessed";

// Images per compliance state (the four catalog states plus "unassessed").
struct StateCounts {
  std::int64_t compliant = 0, updates_pending = 0, security_updates_pending = 0, unknown = 0, unassessed = 0;
  void add(std::string_view state);
  std::int64_t total() const {
    return compliant + updates_pending + security_updates_pending + unknown + unassessed;
  }
};

// The newest patch row of an image that is not a dry run.
struct Servicing {
  std::string state;  // committed, nothing-to-do, failed, or a step a run stopped at
  std::string at;     // the row's updated_at
  std::string run_id;
  std::optional<std::int64_t> job_run_id;  // the job run the patch run served
  std::string reason;
};

// One line of an image's recent history.
struct Event {
  std::string at;
  std::string kind;                                // "assessment" or "patch"
  std::string state;                               // compliance state, or patch state
  std::int64_t updates = 0, security_updates = 0;  // assessment
  std::string run_id, reason;                      // patch (reason also for an unknown assessment)
};

struct ImageReport {
  std::int64_t id = 0;
  std::string path, domain, os;
  std::string state;   // compliance state of the latest assessment, or "unassessed"
  std::string reason;  // why unknown
  std::int64_t updates = 0, security_updates = 0;
  bool unsigned_sources = false;
  std::string assessed_at;                     // "" when unassessed
  std::vector<std::string> security_packages;  // names with a pending security update, sorted
  std::vector<std::string> cves;               // CVE ids those updates fix, sorted
  std::optional<Servicing> last_servicing;
  std::vector<Event> recent;  // newest first, at most kRecentEvents
};

// A package with a pending security update on some images.
struct SecurityPackage {
  std::string name;
  std::vector<std::string> images;                 // paths, sorted
  std::vector<std::string> installed, candidates;  // distinct versions, sorted
  std::vector<std::string> cves;
};

struct Cve {
  std::string id;
  std::vector<std::string> packages, images;  // sorted
};

// The non-compliant image unpatched the longest (docs/report.md): `since` is
// its last successful servicing (committed or nothing-to-do), or, never
// serviced, the first non-compliant assessment after its last compliant one.
struct OldestUnpatched {
  std::string path;
  std::string state;
  std::string since;
  std::string basis;  // "last-servicing" or "first-non-compliant-assessment"
};

// Images per state as of the end of one UTC day on which something was
// assessed; an image counts by its latest assessment at or before that day,
// images not assessed by then do not count.
struct Day {
  std::string day;  // YYYY-MM-DD
  StateCounts states;
};

struct Report {
  std::string generated_at;
  std::string group;  // "" = every image
  StateCounts states;
  std::int64_t updates = 0, security_updates = 0;  // sums over the latest assessments
  std::optional<OldestUnpatched> oldest_unpatched;
  std::vector<SecurityPackage> security_packages;  // by name
  std::vector<Cve> cves;                           // by id
  std::vector<ImageReport> images;                 // by path
  std::vector<Day> history;                        // oldest day first
};

inline constexpr std::size_t kRecentEvents = 5;
// Assessments read per image for the history: bounds the work on a catalog
// assessed every hour for years.
inline constexpr std::size_t kHistoryLimit = 1000;

// The model, for `group` ("" = every image). Error(not_found) for an unknown group.
Report build_report(catalog::Catalog& catalog, const std::string& group);

std::string render_table(const Report& report);
std::string render_json(const Report& report);
std::string render_csv(const Report& report);
std::string render_html(const Report& report);

// The whole report rendered in options.format. Error(not_found) for an
// unknown group.
std::string render_report(catalog::Catalog& catalog, const Options& options);

}  // namespace dormant::report
