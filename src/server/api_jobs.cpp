// Jobs and their runs. Creating, deleting and cancelling run the CLI;
// starting or resuming a run starts `dormant job run|resume` as an operation
// and answers once the catalog shows the run that process is driving.
#include <fmt/format.h>
#include <unistd.h>

#include <thread>

#include "api.hpp"
#include "body.hpp"
#include "dormant/catalog/json.hpp"
#include "dormant/jobs/jobs.hpp"
#include "http_error.hpp"

namespace dormant::server {
namespace {

using std::chrono::seconds;

constexpr seconds kEditTimeout{30};
constexpr seconds kCancelTimeout{120};
// How long a started runner may take to record its run before the request
// gives up waiting (the run still goes on; the operation shows it).
constexpr auto kRunRecordWait = std::chrono::seconds(20);

const char* const kTimeoutPhases[] = {"copy", "boot", "update", "shutdown", "finalize", "item"};

nlohmann::json job_summary(catalog::Catalog& catalog, const catalog::Job& job) {
  auto j = catalog::to_json(job);
  j["next_fire"] = jobs::next_fire_text(job);
  auto runs = catalog.job_runs(job.name, 1);
  j["last_run"] = runs.empty() ? nlohmann::json(nullptr) : catalog::to_json(runs.front());
  return j;
}

std::vector<std::string> job_create_args(const Body& body, const std::string& name) {
  std::vector<std::string> args{"job", "create", checked_argument(name, "name")};
  for (const auto& target : body.texts("targets")) args.push_back("--targets=" + target);
  if (auto group = body.text("group")) args.push_back("--group=" + *group);
  if (body.flag("all")) args.push_back("--all");
  if (auto mode = body.text("mode")) args.push_back("--mode=" + *mode);
  if (auto hosts = body.text("hosts")) args.push_back("--hosts=" + *hosts);
  if (body.flag("security_only")) args.push_back("--security-only");
  for (const auto& p : body.texts("exclude")) args.push_back("--exclude=" + p);
  if (body.flag("finalize")) args.push_back("--finalize");
  if (auto n = body.integer("keep_versions", 0, 1000)) args.push_back(fmt::format("--keep-versions={}", *n));
  // Limits are "N" or "P%"; a JSON number is accepted for N.
  for (const char* limit : {"max_concurrent", "max_errors"}) {
    if (!body.has(limit) || body.raw(limit).is_null()) continue;
    const auto& v = body.raw(limit);
    std::string flag = std::string("--") + limit;
    std::replace(flag.begin(), flag.end(), '_', '-');
    if (v.is_number_integer())
      args.push_back(fmt::format("{}={}", flag, v.get<std::int64_t>()));
    else if (v.is_string())
      args.push_back(flag + "=" + v.get<std::string>());
    else
      bad_request(fmt::format("field \"{}\" must be a number or a string like \"25%\"", limit));
  }
  if (auto schedule = body.text("schedule")) args.push_back("--schedule=" + *schedule);
  if (auto window = body.text("window")) args.push_back("--window=" + *window);
  if (body.has("timeouts") && !body.raw("timeouts").is_null()) {
    const auto& t = body.raw("timeouts");
    if (!t.is_object()) bad_request("field \"timeouts\" must be an object: {\"item\": \"2h\", ...}");
    for (const auto& entry : t.items()) {
      // Not a structured binding: clang 14 cannot capture one in a lambda.
      const std::string phase = entry.key();
      const auto& value = entry.value();
      if (std::find_if(std::begin(kTimeoutPhases), std::end(kTimeoutPhases),
                       [&phase](const char* p) { return phase == p; }) == std::end(kTimeoutPhases))
        bad_request(
            fmt::format("unknown time-out \"{}\" (copy, boot, update, shutdown, finalize, item)", phase));
      if (!value.is_string())
        bad_request(fmt::format("time-out \"{}\" must be a string like \"30m\"", phase));
      args.push_back(fmt::format("--timeout-{}={}", phase, value.get<std::string>()));
    }
  }
  return args;
}

Reply create_job(Api& api, const Call& call) {
  Body body(call.http.body,
            {"name", "targets", "group", "all", "mode", "hosts", "security_only", "exclude", "finalize",
             "keep_versions", "max_concurrent", "max_errors", "schedule", "window", "timeouts"});
  const std::string name = body.required_text("name");
  api.cli.run(job_create_args(body, name), kEditTimeout);
  return json_reply(201, job_summary(api.catalog(), *api.catalog().find_job(name)));
}

nlohmann::json run_view(catalog::Catalog& catalog, const catalog::JobRun& run) {
  auto job = catalog.find_job(run.job_name);
  nlohmann::json j = {{"job", job ? catalog::to_json(*job) : nlohmann::json(nullptr)},
                      {"run", catalog::to_json(run)}};
  j["run"]["runner_alive"] = jobs::runner_alive(run);
  j["items"] = nlohmann::json::array();
  nlohmann::json counts = nlohmann::json::object();
  for (const auto& item : catalog.job_items(run.id)) {
    j["items"].push_back(catalog::to_json(item));
    counts[item.state] = counts.value(item.state, 0) + 1;
  }
  j["counts"] = counts;
  return j;
}

// Waits until the catalog shows a running run driven by the operation's
// process (`job run` records its own pid as the runner), or the process ends.
Reply await_run(Api& api, std::int64_t operation, const std::string& job_name) {
  const pid_t pid = api.operations.pid(operation);
  const auto deadline = std::chrono::steady_clock::now() + kRunRecordWait;
  auto& catalog = api.catalog();
  while (true) {
    for (const auto& run : catalog.job_runs(job_name, 5))
      if (run.runner_pid == pid) {
        api.operations.set_job_run(operation, run.id);
        return json_reply(202,
                          {{"run", catalog::to_json(run)}, {"operation", *api.operations.get(operation)}});
      }
    if (auto code = api.operations.exit_code(operation); code && *code > 1) {
      auto kind = kind_of_exit(*code);
      throw ApiError(http_status(kind), std::string(to_string(kind)),
                     api.operations.error_message(operation));
    } else if (code) {
      // It ended (a run that settled at once) without our seeing it running:
      // the newest run with this pid was checked above, so answer with the operation.
      return json_reply(202, {{"run", nullptr}, {"operation", *api.operations.get(operation)}});
    }
    if (std::chrono::steady_clock::now() > deadline)
      return json_reply(202, {{"run", nullptr}, {"operation", *api.operations.get(operation)}});
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

Reply start_run(Api& api, const Call& call) {
  Body body(call.http.body, {"now", "offline"});
  const std::string& name = checked_argument(call.params[0], "name");
  if (!api.catalog().find_job(name)) throw ApiError(404, "not_found", "no such job: " + name);
  std::vector<std::string> args{"job", "run", name};
  auto cache = api.cache_dir_args();
  args.insert(args.end(), cache.begin(), cache.end());
  if (body.flag("now")) args.push_back("--now");
  if (body.flag("offline")) args.push_back("--offline");
  return await_run(api, api.operations.start("job-run", args), name);
}

catalog::JobRun find_run(Api& api, const Call& call) {
  auto run = api.catalog().find_job_run(std::stoll(call.params.at(0)));
  if (!run) throw ApiError(404, "not_found", "no such job run: " + call.params[0]);
  return *run;
}

Reply resume_run(Api& api, const Call& call) {
  Body body(call.http.body, {"now"});
  auto run = find_run(api, call);
  std::vector<std::string> args{"job", "resume", std::to_string(run.id)};
  auto cache = api.cache_dir_args();
  args.insert(args.end(), cache.begin(), cache.end());
  if (body.flag("now")) args.push_back("--now");
  return await_run(api, api.operations.start("job-resume", args), run.job_name);
}

}  // namespace

void add_job_routes(Router& router, Api& api) {
  router.add("GET", "/jobs", [&api](const Call&) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& job : api.catalog().jobs()) out.push_back(job_summary(api.catalog(), job));
    return json_reply(200, out);
  });
  router.add("POST", "/jobs", [&api](const Call& call) { return create_job(api, call); });
  router.add("GET", "/jobs/{name}", [&api](const Call& call) {
    auto job = api.catalog().find_job(call.params[0]);
    if (!job) throw ApiError(404, "not_found", "no such job: " + call.params[0]);
    auto j = job_summary(api.catalog(), *job);
    j["runs"] = nlohmann::json::array();
    for (const auto& run : api.catalog().job_runs(job->name, 20)) j["runs"].push_back(catalog::to_json(run));
    return json_reply(200, j);
  });
  router.add("DELETE", "/jobs/{name}", [&api](const Call& call) {
    api.cli.run({"job", "delete", checked_argument(call.params[0], "name")}, kEditTimeout);
    Reply reply;
    reply.status = 204;
    reply.content_type = "text/plain";
    return reply;
  });
  router.add("POST", "/jobs/{name}/runs", [&api](const Call& call) { return start_run(api, call); });
  router.add("GET", "/runs", [&api](const Call& call) {
    const std::string job = call.http.get_param_value("job");
    auto limit = query_integer(call, "limit", 1, 1000, 50);
    nlohmann::json out = nlohmann::json::array();
    for (const auto& run : api.catalog().job_runs(job, static_cast<std::size_t>(limit)))
      out.push_back(catalog::to_json(run));
    return json_reply(200, out);
  });
  router.add("GET", "/runs/{id}", [&api](const Call& call) {
    return json_reply(200, run_view(api.catalog(), find_run(api, call)));
  });
  router.add("POST", "/runs/{id}/cancel", [&api](const Call& call) {
    Body body(call.http.body, {});
    auto run = find_run(api, call);
    api.cli.run({"job", "cancel", std::to_string(run.id)}, kCancelTimeout);
    return json_reply(200, run_view(api.catalog(), *api.catalog().find_job_run(run.id)));
  });
  router.add("POST", "/runs/{id}/resume", [&api](const Call& call) { return resume_run(api, call); });
}

}  // namespace dormant::server
