// `dormant serve` over loopback: every endpoint, authentication, bad input,
// and the whole flow (identify, assess, create and run a job, report) on
// real guests and a real signed repository (the job tests' fixture).
#include <fmt/format.h>
#include <sys/stat.h>

#include <fstream>
#include <regex>
#include <thread>

#include "job_fixture.hpp"
#include "support/serve_process.hpp"

namespace dormant::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class Api : public JobTest {
 protected:
  void start_server() {
    server_process_ = std::make_unique<ServeProcess>(dormant::testing::cli_path(), catalog(),
                                                     std::vector<std::string>{"--cache-dir", cache_arg()});
    ASSERT_NE(server_process_->port(), 0);
    client_ = server_process_->client();
  }
  httplib::Result post(const std::string& path, const json& body) {
    return client_->Post(("/api/v1" + path).c_str(), body.dump(), "application/json");
  }
  httplib::Result get(const std::string& path) { return client_->Get(("/api/v1" + path).c_str()); }
  // Polls an operation until it is not running.
  json wait_operation(std::int64_t id, std::chrono::seconds limit = std::chrono::seconds(300)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    json op;
    while (std::chrono::steady_clock::now() < deadline) {
      op = json_of(get(fmt::format("/operations/{}", id)));
      if (op.value("state", "") != "running") return op;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    ADD_FAILURE() << "operation " << id << " still running: " << op.dump(2);
    return op;
  }
  static void expect_error(const httplib::Result& r, int status, const std::string& says) {
    ASSERT_TRUE(r) << "no response";
    EXPECT_EQ(r->status, status) << r->body;
    auto j = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(j.is_object() && j.contains("error")) << r->body;
    EXPECT_EQ(j["error"]["status"], status);
    EXPECT_NE(j["error"]["message"].get<std::string>().find(says), std::string::npos) << r->body;
  }

  std::unique_ptr<ServeProcess> server_process_;
  std::unique_ptr<httplib::Client> client_;
};

// A concrete path for a documented template.
std::string concrete(std::string path) {
  path = std::regex_replace(path, std::regex(R"(\{id\})"), "1");
  return std::regex_replace(path, std::regex(R"(\{[a-z_]+\})"), "x");
}

TEST_F(Api, EveryEndpointButTheOpenApiDocumentAndTheConsoleNeedsTheToken) {
  start_server();
  std::ifstream in(source_dir() / "docs/openapi.json");
  auto doc = json::parse(in);
  auto anonymous = server_process_->client(false);
  httplib::Client wrong("127.0.0.1", server_process_->port());
  wrong.set_bearer_token_auth(std::string(64, '0').c_str());
  httplib::Client prefix_only("127.0.0.1", server_process_->port());
  prefix_only.set_bearer_token_auth(server_process_->token().substr(0, 32).c_str());
  int checked = 0;
  for (const auto& [path, item] : doc["paths"].items())
    for (const auto& [method, op] : item.items()) {
      if (path == "/openapi.json") continue;
      const std::string url = "/api/v1" + concrete(path);
      for (httplib::Client* c : {anonymous.get(), &wrong, &prefix_only}) {
        httplib::Result r = method == "get"    ? c->Get(url.c_str())
                            : method == "post" ? c->Post(url.c_str(), "{}", "application/json")
                                               : c->Delete(url.c_str());
        ASSERT_TRUE(r) << method << " " << url;
        EXPECT_EQ(r->status, 401) << method << " " << url << ": " << r->body;
        EXPECT_EQ(r->get_header_value("WWW-Authenticate"), R"(Bearer realm="dormant")");
        EXPECT_EQ(json_of(r)["error"]["kind"], "unauthorized");
      }
      ++checked;
    }
  EXPECT_GE(checked, 30);
  auto r = anonymous->Get("/api/v1/openapi.json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json_of(r)["openapi"].get<std::string>().substr(0, 2), "3.");
  // The console's page and every script and style sheet it loads.
  auto index = anonymous->Get("/");
  ASSERT_TRUE(index);
  ASSERT_EQ(index->status, 200);
  EXPECT_EQ(anonymous->Get("/index.html")->body, index->body);
  static const std::regex asset(R"re((?:src|href)="/?([a-z0-9_-]+\.(?:js|css))")re");
  int assets = 0;
  for (std::sregex_iterator it(index->body.begin(), index->body.end(), asset), end; it != end;
       ++it, ++assets) {
    const std::string page = "/" + (*it)[1].str();
    auto p = anonymous->Get(page.c_str());
    ASSERT_TRUE(p);
    EXPECT_EQ(p->status, 200) << page;
    EXPECT_FALSE(p->body.empty()) << page;
  }
  EXPECT_GE(assets, 2) << index->body;
  EXPECT_EQ(anonymous->Get("/etc/passwd")->status, 404);
  EXPECT_EQ(anonymous->Get("/../CMakeLists.txt")->status, 404);
  // The token file: mode 0600, and the same token after a restart.
  struct stat st {};
  ASSERT_EQ(::stat(server_process_->token_file().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string token = server_process_->token();
  EXPECT_EQ(server_process_->stop(), 0) << server_process_->stderr_text();
  start_server();
  EXPECT_EQ(server_process_->token(), token);
}

TEST_F(Api, AWorldReadableTokenFileStopsTheServerFromStarting) {
  start_server();
  server_process_->stop();
  ::chmod(server_process_->token_file().c_str(), 0644);
  auto r = cli({"serve", "--listen", "127.0.0.1:0"}, std::chrono::seconds(30));
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_NE(r.err.find("chmod 600"), std::string::npos) << r.err;
  auto bad_listen = cli({"serve", "--listen", "127.0.0.1"}, std::chrono::seconds(30));
  EXPECT_EQ(bad_listen.exit_code, 2) << bad_listen.err;
  EXPECT_NE(bad_listen.err.find("HOST:PORT"), std::string::npos) << bad_listen.err;
}

TEST_F(Api, BadInputGetsAClear4xxAndChangesNothing) {
  start_server();
  ASSERT_EQ(post("/groups", {{"name", "web"}})->status, 201);
  auto raw = [&](const std::string& path, const std::string& body) {
    return client_->Post(("/api/v1" + path).c_str(), body, "application/json");
  };
  expect_error(raw("/groups", "{\"name\": "), 400, "not valid JSON");
  expect_error(raw("/groups", "[1]"), 400, "JSON object");
  expect_error(post("/groups", {{"name", "x"}, {"mtach", "*"}}), 400, "unknown field \"mtach\"");
  expect_error(post("/groups", {{"name", 7}}), 400, "\"name\" must be a string");
  expect_error(post("/groups", json::object()), 400, "\"name\" is required");
  expect_error(post("/groups", {{"name", "--all"}}), 400, "must not begin with '-'");
  expect_error(post("/groups", {{"name", "web"}}), 409, "exists already");
  expect_error(post("/groups/nope/members", {{"images", {"1"}}}), 404, "nope");
  expect_error(post("/groups/web/members", {{"images", json::array()}}), 400, "at least one image");
  expect_error(post("/sources", {{"name", "s"}, {"uri", "ftp://x"}, {"suite", "bookworm"}}), 400, "ftp://x");
  expect_error(post("/hosts", {{"name", "h"}, {"uri", "qemu:///system"}, {"max_vms", 0}}), 400, "max_vms");
  expect_error(post("/jobs", {{"name", "j"}, {"all", true}, {"schedule", "61 * * * *"}}), 400, "minute");
  expect_error(post("/jobs", {{"name", "j"}, {"all", true}, {"max_concurrent", true}}), 400,
               "max_concurrent");
  expect_error(post("/jobs", {{"name", "j"}, {"all", true}, {"timeouts", {{"lunch", "1h"}}}}), 400, "lunch");
  expect_error(post("/jobs", {{"name", "j"}, {"group", "nogroup"}}), 404, "no such group");
  expect_error(post("/assessments", {{"all", true}, {"group", "web"}}), 400, "exactly one");
  expect_error(post("/libraries", {{"path", "/a"}, {"pool", "p"}}), 400, "one");
  expect_error(post("/jobs/nojob/runs", json::object()), 404, "nojob");
  expect_error(post("/runs/99/cancel", json::object()), 404, "99");
  expect_error(get("/runs/99"), 404, "99");
  expect_error(get("/runs?limit=abc"), 400, "limit");
  expect_error(get("/runs?limit=0"), 400, "limit");
  expect_error(get("/images?group=nogroup"), 404, "nogroup");
  expect_error(get("/images/12345"), 404, "12345");
  expect_error(get("/operations/5"), 404, "5");
  expect_error(get("/report?format=pdf"), 400, "pdf");
  expect_error(get("/report?group=nogroup"), 404, "nogroup");
  expect_error(get("/nothing"), 404, "no such API endpoint");
  expect_error(client_->Delete("/api/v1/libraries/nolib"), 404, "nolib");
  expect_error(client_->Delete("/api/v1/jobs"), 405, "DELETE");
  expect_error(client_->Put("/api/v1/groups", "{}", "application/json"), 405, "PUT");
  auto big = raw("/groups", "{\"name\": \"" + std::string(2 << 20, 'a') + "\"}");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
  // Nothing but the one group was made.
  auto groups = json_of(get("/groups"));
  ASSERT_EQ(groups.size(), 1u) << groups.dump();
  EXPECT_EQ(json_of(get("/jobs")).size(), 0u);
  EXPECT_EQ(json_of(get("/sources")).size(), 0u);
  EXPECT_EQ(json_of(get("/hosts")).size(), 0u);
}

// The server keeps a catalog connection per worker thread. Opening one must
// not drop the POSIX locks of the others (a close() on the catalog file did:
// a CLI writer then reset the WAL under them, and they read stale data).
TEST_F(Api, EveryWorkerSeesWhatOtherProcessesWrite) {
  start_server();
  for (int round = 0; round < 4; ++round) {
    for (int i = 0; i < 20; ++i) ASSERT_EQ(get("/groups")->status, 200);  // new connection each: many workers
    const std::string name = fmt::format("g{}", round);
    ASSERT_EQ(cli({"group", "create", name}).exit_code, 0);
    int saw = 0;
    for (int i = 0; i < 30; ++i) {
      auto groups = json_of(get("/groups"));
      for (const auto& g : groups) saw += g["name"] == name ? 1 : 0;
    }
    EXPECT_EQ(saw, 30) << "round " << round << ": stale reads";
  }
}

TEST_F(Api, LibrariesGroupsSourcesAndHostsAreManagedLikeTheCli) {
  guest("web-1.raw");
  guest("db-1.raw");
  start_server();
  auto lib = post("/libraries", {{"path", library_.string()}, {"name", "lib"}});
  ASSERT_EQ(lib->status, 201) << lib->body;
  EXPECT_EQ(json_of(lib)["name"], "lib");
  EXPECT_EQ(json_of(get("/libraries")).size(), 1u);
  auto identify = post("/identify", json::object());
  ASSERT_EQ(identify->status, 202) << identify->body;
  EXPECT_EQ(identify->get_header_value("Location"),
            fmt::format("/api/v1/operations/{}", json_of(identify)["id"].get<int>()));
  auto op = wait_operation(json_of(identify)["id"]);
  EXPECT_EQ(op["state"], "succeeded") << op.dump(2);
  EXPECT_EQ(op["kind"], "identify");
  ASSERT_TRUE(op["result"].is_object()) << op.dump(2);
  auto images = json_of(get("/images"));
  ASSERT_EQ(images.size(), 2u) << images.dump(2);
  for (const auto& image : images) {
    EXPECT_EQ(image["state"], "ok");
    EXPECT_TRUE(image["compliance"].is_null());
  }
  auto health = json_of(get("/health"));
  EXPECT_EQ(health["status"], "ok");
  EXPECT_EQ(health["catalog"], catalog().string());
  EXPECT_EQ(health["schema_version"], 6);
  auto group = post("/groups", {{"name", "web"}, {"match", "*web*"}});
  ASSERT_EQ(group->status, 201) << group->body;
  ASSERT_EQ(json_of(group)["members"].size(), 1u);
  auto shown = json_of(get("/groups/web"));
  ASSERT_EQ(shown["members"].size(), 1u) << shown.dump(2);
  EXPECT_TRUE(shown["members"][0]["path"].get<std::string>().ends_with("web-1.raw"));
  EXPECT_EQ(shown["members"][0]["explicit"], false);
  const auto db_id = [&] {
    for (const auto& i : images)
      if (i["path"].get<std::string>().ends_with("db-1.raw")) return i["id"].get<std::int64_t>();
    return std::int64_t{0};
  }();
  auto added = post("/groups/web/members", {{"images", {db_id}}});
  ASSERT_EQ(added->status, 200) << added->body;
  EXPECT_EQ(json_of(added)["members"].size(), 2u);
  EXPECT_EQ(json_of(get("/groups"))[0]["members"], 2);
  EXPECT_EQ(json_of(get("/images?group=web")).size(), 2u);
  EXPECT_EQ(json_of(get("/images?state=unassessed")).size(), 2u);
  auto detail = json_of(get(fmt::format("/images/{}", db_id)));
  EXPECT_TRUE(detail["inspection"].is_object()) << detail.dump(2);
  EXPECT_TRUE(detail["assessments"].empty());

  const std::string keyring = (repo_ / "keyring.gpg").string();
  auto source = post("/sources", {{"name", "debian"},
                                  {"uri", server_->url()},
                                  {"suite", "bookworm"},
                                  {"components", {"main"}},
                                  {"keyring", keyring},
                                  {"group", "web"}});
  ASSERT_EQ(source->status, 201) << source->body;
  EXPECT_EQ(json_of(source)["group"], "web");
  EXPECT_EQ(json_of(source)["keyring"], keyring);
  expect_error(post("/sources", {{"name", "debian"}, {"uri", server_->url()}, {"suite", "bookworm"}}), 400,
               "needs --keyring");
  expect_error(
      post("/sources",
           {{"name", "debian"}, {"uri", server_->url()}, {"suite", "bookworm"}, {"keyring", keyring}}),
      409, "debian");
  auto host = post("/hosts", {{"name", "h1"}, {"uri", "qemu:///system"}, {"max_vms", 3}, {"check", false}});
  ASSERT_EQ(host->status, 201) << host->body;
  EXPECT_EQ(json_of(host)["max_vms"], 3);
  EXPECT_EQ(json_of(get("/hosts"))[0]["name"], "h1");
  EXPECT_FALSE(json_of(get("/hosts"))[0].contains("status"));
  // Groups bound to sources cannot go; after the source, it can.
  expect_error(client_->Delete("/api/v1/groups/web"), 409, "debian");
  EXPECT_EQ(client_->Delete("/api/v1/sources/debian")->status, 204);
  EXPECT_EQ(client_->Delete("/api/v1/groups/web")->status, 204);
  EXPECT_EQ(client_->Delete("/api/v1/hosts/h1")->status, 204);
  EXPECT_EQ(client_->Delete("/api/v1/libraries/lib")->status, 204);
  EXPECT_EQ(json_of(get("/libraries")).size(), 0u);
  // The CLI sees what the API did.
  auto r = cli({"group", "list", "--json"});
  EXPECT_EQ(json::parse(r.out).size(), 0u) << r.out;
}

TEST_F(Api, AssessThenCreateRunAndWatchAJobThenReport) {
  const auto a = guest("a.raw");
  const auto b = guest("b.raw");
  add_library_and_sources();
  start_server();
  auto assess = post("/assessments", {{"all", true}});
  ASSERT_EQ(assess->status, 202) << assess->body;
  auto op = wait_operation(json_of(assess)["id"]);
  ASSERT_EQ(op["state"], "succeeded") << op.dump(2);
  ASSERT_TRUE(op["result"].is_object()) << op.dump(2);
  auto images = json_of(get("/images"));
  ASSERT_EQ(images.size(), 2u);
  for (const auto& image : images) {
    ASSERT_TRUE(image["compliance"].is_object()) << image.dump(2);
    EXPECT_EQ(image["compliance"]["state"], "security-updates-pending") << image.dump(2);
    EXPECT_GT(image["compliance"]["updates"].get<int>(), 0);
  }
  EXPECT_EQ(json_of(get("/images?state=security-updates-pending")).size(), 2u);
  EXPECT_EQ(json_of(get("/images?state=compliant")).size(), 0u);
  EXPECT_EQ(json_of(get("/compliance")).size(), 2u);

  auto job = post("/jobs", {{"name", "nightly"},
                            {"targets", {a.string(), b.string()}},
                            {"mode", "offline"},
                            {"max_concurrent", 2},
                            {"max_errors", "0"},
                            {"timeouts", {{"item", "30m"}}}});
  ASSERT_EQ(job->status, 201) << job->body;
  EXPECT_EQ(json_of(job)["max_concurrent"], "2");
  EXPECT_EQ(json_of(job)["targets"]["images"].size(), 2u);
  EXPECT_TRUE(json_of(job)["last_run"].is_null());
  auto started = post("/jobs/nightly/runs", {{"now", true}});
  ASSERT_EQ(started->status, 202) << started->body;
  auto started_json = json_of(started);
  ASSERT_TRUE(started_json["run"].is_object()) << started->body;
  const auto run_id = started_json["run"]["id"].get<std::int64_t>();
  EXPECT_EQ(started_json["operation"]["job_run"], run_id);
  // Watch it: per-image states move from pending/running to done.
  json view;
  std::set<std::string> seen;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (std::chrono::steady_clock::now() < deadline) {
    view = json_of(get(fmt::format("/runs/{}", run_id)));
    for (const auto& item : view["items"]) seen.insert(item["state"].get<std::string>());
    if (view["run"]["state"] != "running") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(view["run"]["state"], "done") << view.dump(2);
  EXPECT_EQ(view["counts"]["done"], 2) << view.dump(2);
  for (const auto& item : view["items"]) EXPECT_EQ(item["result"], "committed") << item.dump(2);
  EXPECT_TRUE(seen.count("done"));
  EXPECT_EQ(json_of(get("/runs?job=nightly")).size(), 1u);
  auto job_view = json_of(get("/jobs/nightly"));
  EXPECT_EQ(job_view["runs"].size(), 1u);
  EXPECT_EQ(job_view["last_run"]["state"], "done");
  // The catalog, through the CLI, agrees.
  EXPECT_EQ(show("nightly")["run"]["state"], "done");
  // A finished run cannot be resumed, and the image's history shows the patch.
  auto resumed = post(fmt::format("/runs/{}/resume", run_id), json::object());
  ASSERT_TRUE(resumed);
  EXPECT_EQ(resumed->status, 409) << resumed->body;
  auto detail = json_of(get(fmt::format("/images/{}", images[0]["id"].get<int>())));
  ASSERT_FALSE(detail["patches"].empty()) << detail.dump(2);
  EXPECT_EQ(detail["patches"][0]["state"], "committed");
  // Reports in every format.
  auto report = get("/report?format=json");
  ASSERT_EQ(report->status, 200) << report->body;
  EXPECT_TRUE(json_of(report).is_object());
  auto csv = get("/report?format=csv");
  ASSERT_EQ(csv->status, 200);
  EXPECT_NE(csv->get_header_value("Content-Type").find("text/csv"), std::string::npos);
  EXPECT_NE(csv->body.find("a.raw"), std::string::npos);
  auto html = get("/report?format=html");
  ASSERT_EQ(html->status, 200);
  EXPECT_NE(html->get_header_value("Content-Type").find("text/html"), std::string::npos);
  EXPECT_NE(html->body.find("<svg"), std::string::npos);
  // Operations list: newest first, both kept.
  auto ops = json_of(get("/operations"));
  ASSERT_EQ(ops.size(), 3u) << ops.dump(2);
  EXPECT_EQ(ops[0]["kind"], "job-resume");
  EXPECT_EQ(ops[0]["state"], "failed");
  EXPECT_EQ(ops[1]["kind"], "job-run");
  EXPECT_EQ(ops[1]["state"], "succeeded");
  EXPECT_EQ(ops[2]["kind"], "assess");
  // Deleting the job deletes its runs; the images stay.
  EXPECT_EQ(client_->Delete("/api/v1/jobs/nightly")->status, 204);
  expect_error(get(fmt::format("/runs/{}", run_id)), 404, std::to_string(run_id));
  EXPECT_TRUE(fs::exists(a));
}

// Talks to libvirtd over RPC, which ASan cannot run: its own suite, which
// runs in the release tree like CliHost (tests/README.md).
class ApiHostProbe : public Api {};

TEST_F(ApiHostProbe, AnswersForEveryHost) {
  start_server();
  ASSERT_EQ(post("/hosts", {{"name", "h1"}, {"uri", "qemu:///system"}, {"check", false}})->status, 201);
  auto response = get("/hosts?probe=1");
  ASSERT_TRUE(response);
  ASSERT_EQ(response->status, 200) << response->body;
  auto probed = json_of(response);
  ASSERT_EQ(probed.size(), 1u) << response->body;
  ASSERT_TRUE(probed[0]["status"].is_object()) << probed.dump(2);
  EXPECT_TRUE(probed[0]["status"]["reachable"].is_boolean());
  EXPECT_EQ(probed[0]["status"]["host"]["name"], "h1");
}

TEST_F(Api, CancelThroughTheApiStopsARunningJob) {
  for (const char* name : {"a.raw", "b.raw", "c.raw"}) guest(name);
  add_library_and_sources();
  start_server();
  ASSERT_EQ(post("/jobs", {{"name", "c"}, {"all", true}, {"max_concurrent", 1}})->status, 201);
  auto started = json_of(post("/jobs/c/runs", {{"now", true}}));
  ASSERT_TRUE(started["run"].is_object()) << started.dump(2);
  const auto run_id = started["run"]["id"].get<std::int64_t>();
  auto cancelled =
      client_->Post(fmt::format("/api/v1/runs/{}/cancel", run_id).c_str(), "", "application/json");
  ASSERT_TRUE(cancelled);
  ASSERT_EQ(cancelled->status, 200) << cancelled->body;
  auto view = json_of(cancelled);
  EXPECT_EQ(view["run"]["state"], "cancelled") << view.dump(2);
  EXPECT_GE(view["counts"].value("cancelled", 0), 1) << view.dump(2);
  // The runner's operation ends (exit 1: the run did not finish done), and
  // a second cancel is refused.
  auto op = wait_operation(started["operation"]["id"]);
  EXPECT_EQ(op["state"], "failed") << op.dump(2);
  EXPECT_EQ(op["error"]["kind"], "outcome") << op.dump(2);
  expect_error(post(fmt::format("/runs/{}/cancel", run_id), json::object()), 409, "already cancelled");
  expect_no_work_left();
}

}  // namespace
}  // namespace dormant::testing
