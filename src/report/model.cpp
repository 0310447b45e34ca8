// build_report: the report's model from the catalog (docs/report.md has the
// definitions this implements).
#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "dormant/core/error.hpp"
#include "dormant/report/report.hpp"

namespace dormant::report {
namespace {

using nlohmann::json;

bool non_compliant(std::string_view state) {
  return state == catalog::kUpdatesPending || state == catalog::kSecurityUpdatesPending;
}

// A servicing that left the image as planned: the start of "unpatched since".
bool serviced(std::string_view patch_state) {
  return patch_state == "committed" || patch_state == "nothing-to-do";
}

std::string day_of(const std::string& timestamp) { return timestamp.substr(0, 10); }

// result_json is dormant's own output, but a field of the wrong type must
// cost that field, not the report.
std::string text_of(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

template <typename Set>
std::vector<std::string> sorted(const Set& set) {
  return {set.begin(), set.end()};
}

struct PackageAcc {
  std::set<std::string> images, installed, candidates, cves;
};
struct CveAcc {
  std::set<std::string> packages, images;
};

struct Accumulator {
  std::map<std::string, PackageAcc> packages;
  std::map<std::string, CveAcc> cves;
};

// The pending security updates of one image's latest assessment (held
// packages are not pending: dist-upgrade keeps them), into `image` and `acc`.
void collect_security(const catalog::AssessmentRecord& record, ImageReport& image, Accumulator& acc) {
  auto result = json::parse(record.result_json, nullptr, /*allow_exceptions=*/false);
  if (!result.is_object()) return;
  auto updates = result.find("updates");
  if (updates == result.end() || !updates->is_array()) return;
  std::set<std::string> names, image_cves;
  for (const auto& change : *updates) {
    if (!change.is_object()) continue;
    auto security = change.find("security");
    if (security == change.end() || !security->is_boolean() || !security->get<bool>()) continue;
    if (text_of(change, "action") == "held") continue;
    const std::string name = text_of(change, "name");
    if (name.empty()) continue;
    names.insert(name);
    auto& package = acc.packages[name];
    package.images.insert(image.path);
    if (auto v = text_of(change, "installed"); !v.empty()) package.installed.insert(v);
    if (auto v = text_of(change, "candidate"); !v.empty()) package.candidates.insert(v);
    auto cves = change.find("cves");
    if (cves == change.end() || !cves->is_array()) continue;
    for (const auto& cve : *cves) {
      if (!cve.is_string() || cve.get<std::string>().empty()) continue;
      const auto id = cve.get<std::string>();
      package.cves.insert(id);
      image_cves.insert(id);
      acc.cves[id].packages.insert(name);
      acc.cves[id].images.insert(image.path);
    }
  }
  image.security_packages = sorted(names);
  image.cves = sorted(image_cves);
}

// Assessments oldest first (by time, then by insertion).
std::vector<catalog::AssessmentRecord> chronological(std::vector<catalog::AssessmentRecord> records) {
  std::sort(records.begin(), records.end(), [](const auto& a, const auto& b) {
    return a.assessed_at != b.assessed_at ? a.assessed_at < b.assessed_at : a.id < b.id;
  });
  return records;
}

// The first non-compliant assessment after the last compliant one; "" when none.
std::string non_compliant_since(const std::vector<catalog::AssessmentRecord>& oldest_first) {
  std::string since;
  for (const auto& a : oldest_first) {
    if (a.state == catalog::kCompliant)
      since.clear();
    else if (non_compliant(a.state) && since.empty())
      since = a.assessed_at;
  }
  return since;
}

std::vector<Event> recent_events(const std::vector<catalog::AssessmentRecord>& oldest_first,
                                 const std::vector<catalog::PatchImageRecord>& patches) {
  std::vector<Event> events;
  for (auto it = oldest_first.rbegin(); it != oldest_first.rend() && events.size() < kRecentEvents; ++it)
    events.push_back(
        {it->assessed_at, "assessment", it->state, it->updates, it->security_updates, "", it->reason});
  for (std::size_t i = 0; i < patches.size() && i < kRecentEvents; ++i)
    events.push_back(
        {patches[i].updated_at, "patch", patches[i].state, 0, 0, patches[i].run_id, patches[i].reason});
  std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.at > b.at; });
  if (events.size() > kRecentEvents) events.resize(kRecentEvents);
  return events;
}

std::vector<catalog::ImageRecord> selected_images(catalog::Catalog& catalog, const std::string& group) {
  std::vector<catalog::ImageRecord> images;
  if (group.empty()) {
    images = catalog.images();
  } else {
    if (!catalog.find_group(group))
      fail(ErrorKind::not_found, group, "no such group; `dormant group list` shows the groups");
    for (auto& member : catalog.group_members(group)) images.push_back(std::move(member.image));
  }
  std::sort(images.begin(), images.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
  return images;
}

// Images per state at the end of each day anything was assessed.
std::vector<Day> daily_history(const std::vector<std::vector<catalog::AssessmentRecord>>& per_image) {
  std::set<std::string> days;
  for (const auto& records : per_image)
    for (const auto& r : records) days.insert(day_of(r.assessed_at));
  std::vector<Day> history;
  for (const auto& day : days) {
    Day entry{day, {}};
    for (const auto& records : per_image) {
      // Oldest first, so the assessments up to `day` are a prefix.
      auto end = std::partition_point(records.begin(), records.end(),
                                      [&](const auto& r) { return day_of(r.assessed_at) <= day; });
      if (end != records.begin()) entry.states.add(std::prev(end)->state);
    }
    history.push_back(std::move(entry));
  }
  return history;
}

}  // namespace

void StateCounts::add(std::string_view state) {
  if (state == catalog::kCompliant)
    ++compliant;
  else if (state == catalog::kUpdatesPending)
    ++updates_pending;
  else if (state == catalog::kSecurityUpdatesPending)
    ++security_updates_pending;
  else if (state == kUnassessed)
    ++unassessed;
  else
    ++unknown;
}

Report build_report(catalog::Catalog& catalog, const std::string& group) {
  Report report;
  report.generated_at = catalog::utc_now();
  report.group = group;
  const auto images = selected_images(catalog, group);

  std::map<std::int64_t, catalog::AssessmentRecord> latest;
  for (auto& a : catalog.latest_assessments()) latest.emplace(a.image_id, std::move(a));
  std::map<std::string, std::optional<std::int64_t>> job_run_of;  // patch run id -> job run id
  Accumulator acc;
  std::vector<std::vector<catalog::AssessmentRecord>> per_image;

  for (const auto& record : images) {
    ImageReport image;
    image.id = record.id;
    image.path = record.path;
    image.domain = record.domain;
    image.os = record.os_pretty_name.empty() ? record.os_id : record.os_pretty_name;
    image.state = kUnassessed;
    if (auto it = latest.find(record.id); it != latest.end()) {
      const auto& a = it->second;
      image.state = a.state;
      image.reason = a.reason;
      image.updates = a.updates;
      image.security_updates = a.security_updates;
      image.unsigned_sources = a.unsigned_sources;
      image.assessed_at = a.assessed_at;
      report.updates += a.updates;
      report.security_updates += a.security_updates;
      collect_security(a, image, acc);
    }
    report.states.add(image.state);

    auto history = chronological(catalog.assessment_history(record.id, kHistoryLimit));
    const auto patches = catalog.patch_history(record.id);  // newest first
    std::string last_good;
    for (const auto& p : patches) {
      if (p.state == "dry-run") continue;  // a plan changes nothing
      if (!image.last_servicing) {
        if (!job_run_of.contains(p.run_id)) {
          auto run = catalog.find_patch_run(p.run_id);
          job_run_of[p.run_id] = run ? run->job_run_id : std::nullopt;
        }
        image.last_servicing = Servicing{p.state, p.updated_at, p.run_id, job_run_of[p.run_id], p.reason};
      }
      if (serviced(p.state)) {
        last_good = p.updated_at;
        break;
      }
    }
    if (non_compliant(image.state)) {
      OldestUnpatched candidate{image.path, image.state, last_good, "last-servicing"};
      if (last_good.empty()) {
        candidate.since = non_compliant_since(history);
        candidate.basis = "first-non-compliant-assessment";
      }
      if (candidate.since.empty()) candidate.since = image.assessed_at;  // beyond kHistoryLimit
      auto& oldest = report.oldest_unpatched;
      if (!oldest || std::tie(candidate.since, candidate.path) < std::tie(oldest->since, oldest->path))
        oldest = candidate;
    }
    image.recent = recent_events(history, patches);
    per_image.push_back(std::move(history));
    report.images.push_back(std::move(image));
  }

  for (auto& [name, p] : acc.packages)
    report.security_packages.push_back(
        {name, sorted(p.images), sorted(p.installed), sorted(p.candidates), sorted(p.cves)});
  for (auto& [id, c] : acc.cves) report.cves.push_back({id, sorted(c.packages), sorted(c.images)});
  report.history = daily_history(per_image);
  return report;
}

}  // namespace dormant::report
