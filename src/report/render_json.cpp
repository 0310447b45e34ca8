// The JSON rendering (schema: docs/report.md).
#include <nlohmann/json.hpp>

#include "dormant/report/report.hpp"

namespace dormant::report {
namespace {

using nlohmann::json;

json or_null(const std::string& value) { return value.empty() ? json(nullptr) : json(value); }

json states_json(const StateCounts& s) {
  return {{"compliant", s.compliant},
          {"updates_pending", s.updates_pending},
          {"security_updates_pending", s.security_updates_pending},
          {"unknown", s.unknown},
          {"unassessed", s.unassessed}};
}

json event_json(const Event& e) {
  json j{{"at", e.at}, {"kind", e.kind}, {"state", e.state}, {"reason", or_null(e.reason)}};
  if (e.kind == "assessment") {
    j["updates"] = e.updates;
    j["security_updates"] = e.security_updates;
  } else {
    j["run_id"] = e.run_id;
  }
  return j;
}

json image_json(const ImageReport& image) {
  json servicing = nullptr;
  if (const auto& s = image.last_servicing)
    servicing = {{"state", s->state},
                 {"at", s->at},
                 {"run_id", s->run_id},
                 {"job_run_id", s->job_run_id ? json(*s->job_run_id) : json(nullptr)},
                 {"reason", or_null(s->reason)}};
  json recent = json::array();
  for (const auto& e : image.recent) recent.push_back(event_json(e));
  return {{"id", image.id},
          {"image", image.path},
          {"domain", or_null(image.domain)},
          {"os", image.os},
          {"state", image.state},
          {"reason", or_null(image.reason)},
          {"updates", image.updates},
          {"security_updates", image.security_updates},
          {"unsigned_sources", image.unsigned_sources},
          {"assessed_at", or_null(image.assessed_at)},
          {"security_packages", image.security_packages},
          {"cves", image.cves},
          {"last_servicing", servicing},
          {"recent", recent}};
}

json summary_json(const Report& report) {
  json oldest = nullptr;
  if (const auto& o = report.oldest_unpatched)
    oldest = {{"image", o->path}, {"state", o->state}, {"since", o->since}, {"basis", o->basis}};
  json packages = json::array();
  for (const auto& p : report.security_packages)
    packages.push_back({{"name", p.name},
                        {"image_count", p.images.size()},
                        {"images", p.images},
                        {"installed", p.installed},
                        {"candidates", p.candidates},
                        {"cves", p.cves}});
  json cves = json::array();
  for (const auto& c : report.cves)
    cves.push_back(
        {{"id", c.id}, {"packages", c.packages}, {"image_count", c.images.size()}, {"images", c.images}});
  return {{"images", report.states.total()},
          {"states", states_json(report.states)},
          {"non_compliant", report.states.updates_pending + report.states.security_updates_pending},
          {"updates", report.updates},
          {"security_updates", report.security_updates},
          {"oldest_unpatched", oldest},
          {"security_packages", packages},
          {"cves", cves}};
}

}  // namespace

std::string render_json(const Report& report) {
  json images = json::array();
  for (const auto& image : report.images) images.push_back(image_json(image));
  json history = json::array();
  for (const auto& day : report.history) {
    json entry = states_json(day.states);
    entry.erase("unassessed");  // an image not assessed by then is not counted at all
    entry["day"] = day.day;
    history.push_back(std::move(entry));
  }
  const json out{{"generated_at", report.generated_at},
                 {"group", or_null(report.group)},
                 {"summary", summary_json(report)},
                 {"images", images},
                 {"history", history}};
  // Image paths are host bytes, not necessarily UTF-8: replace what is not
  // (U+FFFD) instead of failing the whole report.
  return out.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace dormant::report
