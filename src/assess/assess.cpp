// The assessment run: triage, fetch each needed source once, resolve each
// distinct package set once per (sources, architectures) group, classify,
// record. See include/dormant/assess/assess.hpp.
#include "dormant/assess/assess.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <system_error>

#include "dormant/assess/advisories.hpp"
#include "dormant/assess/worker.hpp"
#include "dormant/core/error.hpp"
#include "dormant/core/process.hpp"
#include "dormant/core/sha256.hpp"
#include "dormant/inspect/inspection.hpp"
#include "dormant/repo/update.hpp"

namespace dormant::assess {
namespace {

namespace fs = std::filesystem;

repo::SourceSpec spec_of(const catalog::Source& source) {
  repo::SourceSpec spec;
  spec.name = source.name;
  spec.uri = source.uri;
  spec.suite = source.suite;
  spec.components = source.components;
  if (source.keyring) spec.keyring = fs::path(*source.keyring);
  spec.allow_unsigned = source.allow_unsigned;
  spec.security = source.security;
  return spec;
}

// An image that can be resolved: its package set and the sources for it.
struct Candidate {
  std::size_t index = 0;  // into AssessReport::images
  const catalog::PackageSet* package_set = nullptr;
  std::vector<catalog::Source> sources;  // sorted by name
};

std::string unknown_reason_of_record(const catalog::ImageRecord& image) {
  if (image.state == "missing") return "the image file no longer exists";
  if (image.state != "ok")
    return fmt::format("the image could not be inspected ({}): {}", image.state, image.reason);
  if (image.package_set.empty())
    return "no dpkg database was found in the image: only Debian-family guests can be assessed "
           "(or it was identified by an older dormant: run `dormant identify`)";
  return {};
}

// Fetches (or, offline, checks) one source for the architectures its images need.
SourceFetch fetch_source(const catalog::Source& source, const std::vector<std::string>& architectures,
                         const AssessOptions& options) {
  SourceFetch fetch;
  fetch.name = source.name;
  fetch.allow_unsigned = source.allow_unsigned;
  const auto spec = spec_of(source);
  if (!options.refresh) {
    std::error_code ec;
    fs::path lists = repo::source_dir(options.cache_dir, spec) / "lists";
    bool any = false;
    for (fs::directory_iterator it(lists, ec), end; !ec && it != end; it.increment(ec))
      if (it->path().filename().string().starts_with(repo::lists_prefix(spec))) any = true;
    fetch.ok = any;
    if (!any)
      fetch.error = fmt::format("{}: never fetched into {}; run the assessment without --offline once",
                                source.name, lists.string());
    return fetch;
  }
  try {
    auto result = repo::update_source(spec, options.cache_dir, architectures);
    fetch.ok = true;
    fetch.fetched = true;
    fetch.fetched_at = result.fetched_at;
    for (const auto& file : result.files) {
      if (file.outcome == repo::FetchOutcome::fetched) ++fetch.files_fetched;
      if (file.outcome == repo::FetchOutcome::unchanged) ++fetch.files_unchanged;
    }
    for (const auto& w : result.warnings) fetch.warnings.push_back(w.text);
  } catch (const Error& e) {
    fetch.error = e.what();
  }
  return fetch;
}

// The inspection recorded with the image (inspect::to_json), for the
// installed source versions and the release codename advisories are keyed
// by. An unreadable one gives no CVEs, never a failed assessment.
std::optional<inspect::Inspection> recorded_inspection(const catalog::ImageRecord& image) {
  auto j = nlohmann::json::parse(image.inspection_json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  try {
    return inspect::inspection_from_json(j);
  } catch (const Error&) {
    return std::nullopt;
  }
}

nlohmann::json change_json(const PackageChange& c, const std::vector<std::string>& cves, bool with_action) {
  nlohmann::json j{{"name", c.name},           {"arch", c.arch},   {"installed", c.installed},
                   {"candidate", c.candidate}, {"suite", c.suite}, {"source", c.source},
                   {"security", c.security}};
  if (with_action) j["action"] = std::string(to_string(c.action));
  j["cves"] = cves;
  return j;
}

// The CVEs each update fixes, when advisories were given.
std::vector<std::vector<std::string>> cves_of(const ImageAssessment& a, const Advisories* advisories) {
  std::vector<std::vector<std::string>> out(a.resolution ? a.resolution->updates.size() : 0);
  if (!advisories || !a.resolution) return out;
  const auto inspection = recorded_inspection(a.image);
  const std::string codename = inspection ? inspection->os.version_codename : std::string();
  std::map<std::string, std::string> installed_source_versions;  // name:arch -> installed source version
  if (inspection)
    for (const auto& p : inspection->packages)
      installed_source_versions[p.name + ":" + p.arch] = p.source_version;
  for (std::size_t i = 0; i < a.resolution->updates.size(); ++i) {
    const auto& u = a.resolution->updates[i];
    auto it = installed_source_versions.find(u.name + ":" + u.arch);
    std::string source = u.source_package.empty() ? u.name : u.source_package;
    std::string from = it != installed_source_versions.end() ? it->second : u.installed;
    std::string to = u.source_version.empty() ? u.candidate : u.source_version;
    out[i] = advisories->fixed_between(source, codename, from, to);
  }
  return out;
}

// A run killed with SIGKILL cannot remove its work directory. The name holds
// the pid: directories of processes that no longer exist are removed by the
// next run (a reused pid only delays that).
void remove_abandoned_run_dirs(const fs::path& base) {
  std::error_code ec;
  for (fs::directory_iterator it(base, ec), end; !ec && it != end; it.increment(ec)) {
    // run-<pid>-XXXXXX (assessments) and patch-<UTC>-<pid> (patch runs).
    const std::string name = it->path().filename().string();
    std::string_view digits;
    if (name.starts_with("run-")) {
      const auto dash = name.find('-', 4);
      if (dash == std::string::npos) continue;
      digits = std::string_view(name).substr(4, dash - 4);
    } else if (name.starts_with("patch-")) {
      digits = std::string_view(name).substr(name.rfind('-') + 1);
    } else {
      continue;
    }
    pid_t pid = 0;
    auto [ptr, parse] = std::from_chars(digits.data(), digits.data() + digits.size(), pid);
    if (parse != std::errc() || ptr != digits.data() + digits.size() || pid <= 0) continue;
    if (!process_alive(pid)) {
      std::error_code ignored;
      fs::remove_all(it->path(), ignored);
    }
  }
}

fs::path make_run_dir(const fs::path& cache_dir) {
  fs::path base = cache_dir / "work";
  std::error_code ec;
  fs::create_directories(base, ec);
  if (ec) fail(ErrorKind::io, base.string(), "cannot create directory: {}", ec.message());
  remove_abandoned_run_dirs(base);
  std::string pattern = (base / fmt::format("run-{}-XXXXXX", ::getpid())).string();
  if (::mkdtemp(pattern.data()) == nullptr)
    fail(ErrorKind::io, base.string(), "cannot create a private work directory: {}",
         std::generic_category().message(errno));
  return pattern;
}

struct RunDir {
  fs::path path;
  ~RunDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

void tally(AssessReport& report) {
  for (const auto& a : report.images) {
    if (a.state == catalog::kCompliant)
      ++report.compliant;
    else if (a.state == catalog::kUpdatesPending)
      ++report.updates_pending;
    else if (a.state == catalog::kSecurityUpdatesPending)
      ++report.security_updates_pending;
    else
      ++report.unknown;
  }
}

}  // namespace

UpdateCounts count_updates(const Resolution& r) {
  UpdateCounts counts;
  for (const auto& u : r.updates) {
    if (u.action == PackageChange::Action::held) {
      ++counts.held;
      continue;
    }
    ++counts.updates;
    if (u.security) ++counts.security;
  }
  return counts;
}

std::string compliance_of(const Resolution& r) {
  if (!r.broken.empty() || !r.resolver_error.empty()) return std::string(catalog::kUnknown);
  bool pending = !r.new_packages.empty() || !r.removed_packages.empty();
  for (const auto& u : r.updates) {
    if (u.action == PackageChange::Action::held) continue;
    if (u.security) return std::string(catalog::kSecurityUpdatesPending);
    pending = true;
  }
  return std::string(pending ? catalog::kUpdatesPending : catalog::kCompliant);
}

AssessReport assess_images(catalog::Catalog& catalog, const std::vector<catalog::ImageRecord>& images,
                           const AssessOptions& options, ProgressSink& progress) {
  AssessReport report;
  std::optional<Advisories> advisories;
  if (options.advisories) {
    advisories = Advisories::load(*options.advisories);
    report.advisories = advisories->advisory_count();
  }
  const std::string now = catalog::utc_now();
  report.images.resize(images.size());

  // 1. Triage: what can be resolved, and against which sources.
  std::map<std::string, catalog::PackageSet> package_sets;
  std::vector<Candidate> candidates;
  std::map<std::string, std::pair<catalog::Source, std::set<std::string>>> needed;  // source name -> archs
  for (std::size_t i = 0; i < images.size(); ++i) {
    auto& a = report.images[i];
    a.image = images[i];
    a.assessed_at = now;
    a.state = std::string(catalog::kUnknown);
    a.reason = unknown_reason_of_record(a.image);
    if (!a.reason.empty()) continue;
    auto sources = catalog.sources_for_image(a.image.id);
    std::sort(sources.begin(), sources.end(), [](const auto& x, const auto& y) { return x.name < y.name; });
    for (const auto& s : sources) {
      a.sources.push_back(s.name);
      if (s.allow_unsigned) a.unsigned_sources.push_back(s.name);
    }
    if (sources.empty()) {
      a.reason = "no update source applies to this image: add one with `dormant source add`";
      continue;
    }
    auto it = package_sets.find(a.image.package_set);
    if (it == package_sets.end()) {
      auto set = catalog.find_package_set(a.image.package_set);
      if (!set) {
        a.reason = "its package database is not in the catalog: run `dormant identify`";
        continue;
      }
      it = package_sets.emplace(a.image.package_set, std::move(*set)).first;
    }
    for (const auto& s : sources) {
      auto& entry = needed.try_emplace(s.name, s, std::set<std::string>{}).first->second;
      entry.second.insert(it->second.architectures.begin(), it->second.architectures.end());
    }
    candidates.push_back({i, &it->second, std::move(sources)});
  }

  // 2. Fetch and verify each needed source once, for every architecture its images need.
  progress.begin(options.refresh ? "fetch" : "check sources", needed.size());
  std::map<std::string, std::size_t> fetch_index;
  for (auto& [name, entry] : needed) {
    std::vector<std::string> archs(entry.second.begin(), entry.second.end());
    report.sources.push_back(fetch_source(entry.first, archs, options));
    fetch_index[name] = report.sources.size() - 1;
    progress.step(report.sources.size(), name, report.sources.back().ok ? "ok" : "failed");
  }
  progress.end();

  // 3. Group what can be resolved by (sources, architectures); resolve each distinct package set once per
  // group.
  std::map<std::string, std::vector<const Candidate*>> groups;
  for (const auto& c : candidates) {
    auto& a = report.images[c.index];
    std::vector<std::string> failed;
    for (const auto& s : c.sources)
      if (!report.sources[fetch_index[s.name]].ok)
        failed.push_back(report.sources[fetch_index[s.name]].error);
    if (!failed.empty()) {
      a.reason = fmt::format("update source not usable: {}", fmt::join(failed, "; "));
      continue;
    }
    std::string key =
        fmt::format("{}|{}", fmt::join(a.sources, ","), fmt::join(c.package_set->architectures, ","));
    groups[key].push_back(&c);
  }

  RunDir run{make_run_dir(options.cache_dir)};
  std::size_t distinct_total = 0;
  for (const auto& [key, members] : groups) {
    std::set<std::string> seen;
    for (const auto* c : members) seen.insert(c->package_set->sha256);
    distinct_total += seen.size();
  }
  progress.begin("resolve", distinct_total);
  std::size_t resolved = 0;
  for (const auto& [key, members] : groups) {
    UniverseOptions universe;
    universe.work_dir = run.path / sha256_hex(key).substr(0, 16);
    universe.architectures = members.front()->package_set->architectures;
    universe.full_universe = options.full_universe;
    for (const auto& s : members.front()->sources) {
      auto spec = spec_of(s);
      universe.sources.push_back({spec, repo::source_dir(options.cache_dir, spec) / "lists"});
    }
    std::vector<WorkerJob> jobs;
    std::set<std::string> queued;
    for (const auto* c : members)
      if (queued.insert(c->package_set->sha256).second)
        jobs.push_back({c->package_set->sha256, c->package_set->dpkg_status, c->package_set->extended_states,
                        options.resolve});
    auto results = resolve_in_worker(options.worker_exe, universe, jobs, options.timeout_per_image);
    std::map<std::string, const WorkerResult*> by_key;
    for (const auto& r : results) by_key[r.key] = &r;
    std::set<std::string> used;
    for (const auto* c : members) {
      auto& a = report.images[c->index];
      const WorkerResult* r = by_key[c->package_set->sha256];
      a.reused = !used.insert(c->package_set->sha256).second;
      if (r == nullptr || !r->resolution) {
        a.reason = r ? fmt::format("resolving its packages failed: {}", r->error)
                     : "the resolver returned nothing for it";
        continue;
      }
      a.resolution = r->resolution;
      a.universe = universe;
      a.universe->work_dir.clear();
      a.update_cves = cves_of(a, advisories ? &*advisories : nullptr);
      a.state = compliance_of(*a.resolution);
      if (!a.resolution->resolver_error.empty())
        a.reason =
            fmt::format("apt's resolver cannot upgrade this image (apt-get dist-upgrade would fail too): {}",
                        a.resolution->resolver_error);
      else if (!a.resolution->broken.empty())
        a.reason = fmt::format("its dpkg database already has unmet dependencies (apt-get would refuse): {}",
                               fmt::join(a.resolution->broken, ", "));
    }
    resolved += jobs.size();
    progress.step(resolved, key, "resolved");
  }
  progress.end();
  report.package_sets = resolved;

  tally(report);
  const bool plan_only = options.resolve.security_only || !options.resolve.exclude.empty();
  if (!options.record || plan_only) return report;

  // 4. Record every image's result, in one transaction.
  std::vector<catalog::AssessmentRecord> records;
  for (const auto& a : report.images) {
    catalog::AssessmentRecord r;
    r.image_id = a.image.id;
    r.assessed_at = a.assessed_at;
    r.state = a.state;
    r.reason = a.reason;
    if (a.resolution) {
      const auto counts = count_updates(*a.resolution);
      r.updates = static_cast<std::int64_t>(counts.updates);
      r.security_updates = static_cast<std::int64_t>(counts.security);
    }
    r.unsigned_sources = !a.unsigned_sources.empty();
    r.package_set = a.image.package_set;
    r.result_json = to_json(a).dump();
    records.push_back(std::move(r));
  }
  catalog.add_assessments(records);
  return report;
}

nlohmann::json to_json(const ImageAssessment& a) {
  nlohmann::json j;
  j["image"] = a.image.path;
  j["state"] = a.state;
  j["reason"] = a.reason.empty() ? nlohmann::json(nullptr) : nlohmann::json(a.reason);
  j["assessed_at"] = a.assessed_at;
  j["os"] = a.image.os_pretty_name;
  j["package_set"] =
      a.image.package_set.empty() ? nlohmann::json(nullptr) : nlohmann::json(a.image.package_set);
  j["reused"] = a.reused;
  j["sources"] = a.sources;
  j["unsigned_sources"] = a.unsigned_sources;
  auto updates = nlohmann::json::array(), added = nlohmann::json::array(), removed = nlohmann::json::array();
  nlohmann::json broken = nlohmann::json::array();
  if (a.resolution) {
    for (std::size_t i = 0; i < a.resolution->updates.size(); ++i)
      updates.push_back(change_json(a.resolution->updates[i],
                                    i < a.update_cves.size() ? a.update_cves[i] : std::vector<std::string>{},
                                    true));
    for (const auto& n : a.resolution->new_packages) added.push_back(change_json(n, {}, false));
    for (const auto& r : a.resolution->removed_packages) removed.push_back(change_json(r, {}, false));
    broken = a.resolution->broken;
  }
  j["updates"] = std::move(updates);
  j["new_packages"] = std::move(added);
  j["removed_packages"] = std::move(removed);
  j["broken"] = std::move(broken);
  return j;
}

nlohmann::json to_json(const SourceFetch& s) {
  return {{"name", s.name},
          {"ok", s.ok},
          {"fetched", s.fetched},
          {"files_fetched", s.files_fetched},
          {"files_unchanged", s.files_unchanged},
          {"error", s.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.error)},
          {"warnings", s.warnings},
          {"unsigned", s.allow_unsigned},
          {"fetched_at", s.fetched_at.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.fetched_at)}};
}

nlohmann::json to_json(const AssessReport& report) {
  nlohmann::json images = nlohmann::json::array(), sources = nlohmann::json::array();
  for (const auto& a : report.images) images.push_back(to_json(a));
  for (const auto& s : report.sources) sources.push_back(to_json(s));
  return {{"images", std::move(images)},
          {"sources", std::move(sources)},
          {"summary",
           {{"images", report.images.size()},
            {"package_sets_resolved", report.package_sets},
            {"advisories", report.advisories},
            {"compliant", report.compliant},
            {"updates_pending", report.updates_pending},
            {"security_updates_pending", report.security_updates_pending},
            {"unknown", report.unknown}}}};
}

void remove_abandoned_scratch(const fs::path& cache_dir) { remove_abandoned_run_dirs(cache_dir / "work"); }

}  // namespace dormant::assess
