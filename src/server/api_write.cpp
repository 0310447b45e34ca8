// Mutations and actions: each runs the CLI command that does the same, then
// answers with the record as the catalog now holds it.
#include <fmt/format.h>

#include "api.hpp"
#include "body.hpp"
#include "dormant/catalog/json.hpp"
#include "dormant/library/identify.hpp"
#include "http_error.hpp"

namespace dormant::server {
namespace {

using std::chrono::seconds;

// Quick catalog edits; `host add` probes the host, which may take a while.
constexpr seconds kEditTimeout{30};
constexpr seconds kProbeTimeout{120};

Reply no_content() {
  Reply reply;
  reply.status = 204;
  reply.content_type = "text/plain";
  return reply;
}

Reply accepted_operation(Api& api, std::int64_t id) {
  auto reply = json_reply(202, *api.operations.get(id));
  reply.headers.emplace_back("Location", fmt::format("/api/v1/operations/{}", id));
  return reply;
}

Reply add_library(Api& api, const Call& call) {
  Body body(call.http.body, {"name", "path", "pool", "uri"});
  auto path = body.text("path");
  auto pool = body.text("pool");
  if (path.has_value() == pool.has_value())
    bad_request("give \"path\" (a directory) or \"pool\" (a libvirt pool), one");
  std::vector<std::string> args{"library", "add"};
  if (auto name = body.text("name")) args.push_back("--name=" + checked_argument(*name, "name"));
  if (pool) {
    args.push_back("--libvirt-pool=" + checked_argument(*pool, "pool"));
    if (auto uri = body.text("uri")) args.push_back("--connect=" + checked_argument(*uri, "uri"));
  } else {
    if (body.has("uri")) bad_request("field \"uri\" goes with \"pool\"");
    args.push_back(checked_argument(*path, "path"));
  }
  auto& catalog = api.catalog();
  std::int64_t newest = 0;
  for (const auto& l : catalog.libraries()) newest = std::max(newest, l.id);
  api.cli.run(args, kProbeTimeout);
  for (const auto& l : catalog.libraries())
    if (l.id > newest) return json_reply(201, library::to_json(l));
  throw ApiError(500, "internal", "the library was added but is not in the catalog");
}

Reply add_group(Api& api, const Call& call) {
  Body body(call.http.body, {"name", "match"});
  const std::string name = body.required_text("name");
  std::vector<std::string> args{"group", "create", checked_argument(name, "name")};
  if (auto match = body.text("match")) args.push_back("--match=" + *match);
  api.cli.run(args, kEditTimeout);
  return json_reply(201, group_json_with_members(api.catalog(), *api.catalog().find_group(name)));
}

Reply add_group_members(Api& api, const Call& call) {
  Body body(call.http.body, {"images"});
  auto images = body.texts("images");
  if (images.empty()) bad_request("field \"images\" must name at least one image");
  std::vector<std::string> args{"group", "add", checked_argument(call.params[0], "name")};
  args.insert(args.end(), images.begin(), images.end());
  api.cli.run(args, kEditTimeout);
  return json_reply(200, group_json_with_members(api.catalog(), *api.catalog().find_group(call.params[0])));
}

Reply add_source(Api& api, const Call& call) {
  Body body(call.http.body,
            {"name", "uri", "suite", "components", "keyring", "security", "allow_unsigned", "group"});
  const std::string name = body.required_text("name");
  std::vector<std::string> args{"source", "add", checked_argument(name, "name"),
                                checked_argument(body.required_text("uri"), "uri"),
                                "--suite=" + body.required_text("suite")};
  for (const auto& c : body.texts("components")) args.push_back("--component=" + c);
  if (auto keyring = body.text("keyring")) args.push_back("--keyring=" + *keyring);
  if (auto group = body.text("group")) args.push_back("--group=" + *group);
  if (body.flag("security")) args.push_back("--security");
  if (body.flag("allow_unsigned")) args.push_back("--allow-unsigned");
  api.cli.run(args, kEditTimeout);
  return json_reply(201, catalog::to_json(*api.catalog().find_source(name)));
}

Reply add_host(Api& api, const Call& call) {
  Body body(call.http.body, {"name", "uri", "group", "max_vms", "memory_mib", "pool", "check"});
  const std::string name = body.required_text("name");
  std::vector<std::string> args{"host", "add", checked_argument(name, "name"),
                                checked_argument(body.required_text("uri"), "uri")};
  if (auto group = body.text("group")) args.push_back("--group=" + *group);
  if (auto n = body.integer("max_vms", 1, 1024)) args.push_back(fmt::format("--max-vms={}", *n));
  if (auto n = body.integer("memory_mib", 128, 1 << 20)) args.push_back(fmt::format("--memory={}", *n));
  if (auto pool = body.text("pool")) args.push_back("--pool=" + *pool);
  if (body.has("check") && !body.flag("check")) args.push_back("--no-check");
  api.cli.run(args, kProbeTimeout);
  return json_reply(201, catalog::to_json(*api.catalog().find_host(name)));
}

Reply start_assessment(Api& api, const Call& call) {
  Body body(call.http.body, {"images", "group", "all", "offline", "advisories"});
  auto images = body.texts("images");
  auto group = body.text("group");
  const bool all = body.flag("all");
  if ((images.empty() ? 0 : 1) + (group ? 1 : 0) + (all ? 1 : 0) != 1)
    bad_request("give \"images\", \"group\" or \"all\": true (exactly one)");
  std::vector<std::string> args{"assess", "--json"};
  auto cache = api.cache_dir_args();
  args.insert(args.end(), cache.begin(), cache.end());
  if (group) args.push_back("--group=" + *group);
  if (all) args.push_back("--all");
  if (body.flag("offline")) args.push_back("--offline");
  if (auto advisories = body.text("advisories")) args.push_back("--advisories=" + *advisories);
  args.insert(args.end(), images.begin(), images.end());
  return accepted_operation(api, api.operations.start("assess", args));
}

// DELETE /COLLECTION/{name} runs `dormant KIND remove NAME`.
void add_remove_route(Router& router, Api& api, const std::string& collection, const std::string& kind) {
  router.add("DELETE", "/" + collection + "/{name}", [&api, kind](const Call& call) {
    api.cli.run({kind, "remove", checked_argument(call.params[0], "name")}, kEditTimeout);
    return no_content();
  });
}

}  // namespace

void add_write_routes(Router& router, Api& api) {
  router.add("POST", "/libraries", [&api](const Call& call) { return add_library(api, call); });
  router.add("POST", "/identify", [&api](const Call& call) {
    Body body(call.http.body, {});
    return accepted_operation(api, api.operations.start("identify", {"identify", "--json"}));
  });
  router.add("POST", "/groups", [&api](const Call& call) { return add_group(api, call); });
  router.add("POST", "/groups/{name}/members",
             [&api](const Call& call) { return add_group_members(api, call); });
  router.add("POST", "/sources", [&api](const Call& call) { return add_source(api, call); });
  router.add("POST", "/hosts", [&api](const Call& call) { return add_host(api, call); });
  router.add("POST", "/assessments", [&api](const Call& call) { return start_assessment(api, call); });
  add_remove_route(router, api, "libraries", "library");
  add_remove_route(router, api, "groups", "group");
  add_remove_route(router, api, "sources", "source");
  add_remove_route(router, api, "hosts", "host");
}

}  // namespace dormant::server
