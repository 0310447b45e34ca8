// GET endpoints: the catalog as the CLI's --json prints it.
#include <fmt/format.h>

#include <map>
#include <set>

#include "api.hpp"
#include "dormant/catalog/json.hpp"
#include "dormant/library/identify.hpp"
#include "dormant/patch/hosts.hpp"
#include "dormant/report/report.hpp"
#include "http_error.hpp"

namespace dormant::server {
namespace {

std::int64_t id_param(const Call& call, std::size_t index = 0) { return std::stoll(call.params.at(index)); }

nlohmann::json compliance_summary(const catalog::AssessmentRecord* record) {
  if (!record) return nullptr;
  return {{"state", record->state},
          {"updates", record->updates},
          {"security_updates", record->security_updates},
          {"unsigned_sources", record->unsigned_sources},
          {"assessed_at", record->assessed_at}};
}

Reply list_images(Api& api, const Call& call) {
  auto& catalog = api.catalog();
  const std::string group = call.http.get_param_value("group");
  const std::string state = call.http.get_param_value("state");
  std::vector<catalog::ImageRecord> images;
  if (group.empty()) {
    images = catalog.images();
  } else {
    if (!catalog.find_group(group)) throw ApiError(404, "not_found", "no such group: " + group);
    for (auto& member : catalog.group_members(group)) images.push_back(std::move(member.image));
  }
  std::map<std::string, catalog::AssessmentRecord> latest;
  for (auto& record : catalog.latest_assessments()) latest.emplace(record.image_path, std::move(record));
  std::map<std::int64_t, std::vector<std::string>> groups_of;
  for (const auto& g : catalog.groups())
    for (const auto& member : catalog.group_members(g.name)) groups_of[member.image.id].push_back(g.name);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& image : images) {
    auto found = latest.find(image.path);
    const auto* record = found == latest.end() ? nullptr : &found->second;
    if (!state.empty() && (record ? record->state : std::string("unassessed")) != state) continue;
    auto j = library::to_json(image);
    j["compliance"] = compliance_summary(record);
    j["groups"] = groups_of[image.id];
    out.push_back(std::move(j));
  }
  return json_reply(200, out);
}

Reply show_image(Api& api, const Call& call) {
  auto& catalog = api.catalog();
  auto image = catalog.find_image(id_param(call));
  if (!image) throw ApiError(404, "not_found", "no such image id: " + call.params[0]);
  auto j = library::to_json(*image);
  j["inspection"] = nlohmann::json::parse(image->inspection_json, nullptr, false);
  if (j["inspection"].is_discarded()) j["inspection"] = nullptr;
  j["assessments"] = nlohmann::json::array();
  for (const auto& r : catalog.assessment_history(image->id, 50))
    j["assessments"].push_back(catalog::to_json(r));
  j["patches"] = nlohmann::json::array();
  for (const auto& r : catalog.patch_history(image->id, 50)) j["patches"].push_back(catalog::to_json(r));
  return json_reply(200, j);
}

nlohmann::json group_with_members(catalog::Catalog& catalog, const catalog::Group& group) {
  auto j = catalog::to_json(group);
  j["members"] = nlohmann::json::array();
  for (const auto& m : catalog.group_members(group.name)) {
    auto image = library::to_json(m.image);
    image["explicit"] = m.explicit_member;
    j["members"].push_back(std::move(image));
  }
  return j;
}

Reply list_hosts(Api& api, const Call& call) {
  const bool probe = call.http.get_param_value("probe") == "1";
  nlohmann::json out = nlohmann::json::array();
  for (const auto& host : api.catalog().hosts()) {
    auto j = catalog::to_json(host);
    if (probe) j["status"] = patch::to_json(patch::probe_host(host));
    out.push_back(std::move(j));
  }
  return json_reply(200, out);
}

Reply report(Api& api, const Call& call) {
  report::Options options;
  options.group = call.http.get_param_value("group");
  const std::string format = call.http.get_param_value("format");
  options.format = report::parse_format(format.empty() ? "json" : format);
  Reply reply;
  reply.body = report::render_report(api.catalog(), options);
  reply.content_type = std::string(report::content_type(options.format));
  return reply;
}

}  // namespace

std::int64_t query_integer(const Call& call, const char* name, std::int64_t min, std::int64_t max,
                           std::int64_t fallback) {
  if (!call.http.has_param(name)) return fallback;
  const std::string text = call.http.get_param_value(name);
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos)
    bad_request(fmt::format("query parameter {} must be a whole number", name));
  auto n = std::stoll(text);
  if (n < min || n > max)
    bad_request(fmt::format("query parameter {} must be between {} and {}", name, min, max));
  return n;
}

void add_read_routes(Router& router, Api& api) {
  router.add("GET", "/health", [&api](const Call&) {
    return json_reply(200, {{"status", "ok"},
                            {"version", api.options.version},
                            {"catalog", std::filesystem::absolute(api.options.catalog_path).string()},
                            {"schema_version", api.catalog().schema_version()}});
  });
  router.add(
      "GET", "/openapi.json",
      [](const Call&) {
        Reply reply;
        reply.body = std::string(openapi_document());
        return reply;
      },
      /*needs_token=*/false);
  router.add("GET", "/libraries", [&api](const Call&) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& l : api.catalog().libraries()) out.push_back(library::to_json(l));
    return json_reply(200, out);
  });
  router.add("GET", "/images", [&api](const Call& call) { return list_images(api, call); });
  router.add("GET", "/images/{id}", [&api](const Call& call) { return show_image(api, call); });
  router.add("GET", "/groups", [&api](const Call&) {
    auto& catalog = api.catalog();
    nlohmann::json out = nlohmann::json::array();
    for (const auto& g : catalog.groups()) {
      auto j = catalog::to_json(g);
      j["members"] = catalog.group_members(g.name).size();
      out.push_back(std::move(j));
    }
    return json_reply(200, out);
  });
  router.add("GET", "/groups/{name}", [&api](const Call& call) {
    auto group = api.catalog().find_group(call.params[0]);
    if (!group) throw ApiError(404, "not_found", "no such group: " + call.params[0]);
    return json_reply(200, group_with_members(api.catalog(), *group));
  });
  router.add("GET", "/sources", [&api](const Call&) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& s : api.catalog().list_sources()) out.push_back(catalog::to_json(s));
    return json_reply(200, out);
  });
  router.add("GET", "/hosts", [&api](const Call& call) { return list_hosts(api, call); });
  router.add("GET", "/compliance", [&api](const Call&) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : api.catalog().latest_assessments()) out.push_back(catalog::to_json(r));
    return json_reply(200, out);
  });
  router.add("GET", "/operations", [&api](const Call&) { return json_reply(200, api.operations.list()); });
  router.add("GET", "/operations/{id}", [&api](const Call& call) {
    auto op = api.operations.get(id_param(call));
    if (!op) throw ApiError(404, "not_found", "no such operation: " + call.params[0]);
    return json_reply(200, *op);
  });
  router.add("GET", "/report", [&api](const Call& call) { return report(api, call); });
}

nlohmann::json group_json_with_members(catalog::Catalog& catalog, const catalog::Group& group) {
  return group_with_members(catalog, group);
}

}  // namespace dormant::server
