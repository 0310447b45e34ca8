// The listening loop: address, token, routes, thread pool, clean stop.
#include <fmt/format.h>
#include <httplib.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "api.hpp"
#include "assets.hpp"
#include "dormant/core/error.hpp"
#include "dormant/server/server.hpp"
#include "http_error.hpp"

namespace dormant::server {
namespace {

// Enough workers that 50 polling clients on keep-alive connections are all
// served at once; each idle worker costs a thread, not a catalog query.
constexpr std::size_t kWorkers = 64;
constexpr std::size_t kMaxBody = 1 << 20;

std::atomic<bool> g_stop{false};
void on_serve_stop_signal(int) { g_stop = true; }

struct Address {
  std::string host;
  int port = 0;
};

Address parse_listen(const std::string& text) {
  Address a;
  std::string port;
  if (text.starts_with("[")) {
    auto close = text.find("]:");
    if (close == std::string::npos)
      fail(ErrorKind::usage, "--listen", "expected [IPv6]:PORT, got \"{}\"", text);
    a.host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0)
      fail(ErrorKind::usage, "--listen", "expected HOST:PORT (127.0.0.1:8080), got \"{}\"", text);
    a.host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port) > 65535)
    fail(ErrorKind::usage, "--listen", "the port must be 0-65535, got \"{}\"", port);
  a.port = std::stoi(port);
  return a;
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

thread_local std::unique_ptr<catalog::Catalog> t_catalog;

}  // namespace

catalog::Catalog& Api::catalog() const {
  if (!t_catalog) t_catalog = std::make_unique<catalog::Catalog>(options.catalog_path);
  return *t_catalog;
}

std::vector<std::string> Api::cache_dir_args() const {
  if (options.cache_dir.empty()) return {};
  return {"--cache-dir=" + options.cache_dir.string()};
}

std::vector<std::pair<std::string, std::string>> api_routes() {
  // The table is the same whatever the options; built on an unused catalog path.
  static ServeOptions options;
  Router router("");
  Cli cli("", "");
  Operations operations(cli, "/nonexistent");  // never started
  Api api{options, cli, operations};
  add_read_routes(router, api);
  add_write_routes(router, api);
  add_job_routes(router, api);
  return router.routes();
}

void serve(const ServeOptions& options) {
  auto log = options.log ? options.log : [](const std::string&) {};
  const Address address = parse_listen(options.listen);
  // Opening the catalog first: a missing or damaged one fails here, not on
  // the first request.
  catalog::Catalog check(options.catalog_path);
  const auto token_file = options.token_file.empty()
                              ? std::filesystem::path(options.catalog_path.string() + ".api-token")
                              : options.token_file;
  const std::string token = load_or_create_token(token_file);

  char work_template[] = "/tmp/dormant-serve.XXXXXX";
  if (!::mkdtemp(work_template))
    fail(ErrorKind::io, "/tmp", "cannot make a work directory: {}", std::strerror(errno));
  const std::filesystem::path work_dir = work_template;

  Cli cli(options.dormant_exe, std::filesystem::absolute(options.catalog_path));
  Operations operations(cli, work_dir);
  Api api{options, cli, operations};
  Router router(token);
  add_read_routes(router, api);
  add_write_routes(router, api);
  add_job_routes(router, api);
  router.set_static(console_files(options.web_dir));

  httplib::Server http;
  http.new_task_queue = [] { return new httplib::ThreadPool(kWorkers); };
  http.set_payload_max_length(kMaxBody);
  // Pollers keep their connection: no reconnect every 5 requests.
  http.set_keep_alive_max_count(10000);
  http.set_keep_alive_timeout(30);
  // Small JSON answers must not wait for a delayed ACK (Nagle): ~40 ms each.
  http.set_tcp_nodelay(true);
  auto handler = [&router](const httplib::Request& request, httplib::Response& response) {
    response.set_header("X-Content-Type-Options", "nosniff");
    response.set_header("Referrer-Policy", "no-referrer");
    response.set_header("X-Frame-Options", "DENY");
    response.set_header(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; frame-ancestors 'none'");
    router.handle(request, response);
  };
  // Every request goes through the router, which knows 404 from 405.
  http.Get(".*", handler);
  http.Post(".*", handler);
  http.Put(".*", handler);
  http.Patch(".*", handler);
  http.Delete(".*", handler);
  http.set_error_handler([](const httplib::Request&, httplib::Response& response) {
    // httplib's own refusals (a body over the limit, a malformed request).
    if (!response.body.empty()) return;
    const std::string kind = response.status == 413 ? "limit" : "usage";
    const std::string message = response.status == 413 ? "the request body is over the 1 MiB limit"
                                                       : "the request could not be read (HTTP " +
                                                             std::to_string(response.status) + ")";
    response.set_content(error_json(response.status, kind, message).dump(2), "application/json");
  });

  const int port = address.port == 0 ? http.bind_to_any_port(address.host)
                                     : (http.bind_to_port(address.host, address.port) ? address.port : -1);
  if (port < 0) fail(ErrorKind::io, options.listen, "cannot listen there: {}", std::strerror(errno));
  if (!is_loopback(address.host))
    log(fmt::format(
        "dormant: warning: listening on {}, which is not loopback: the API is plain HTTP, protected only "
        "by the bearer token; put it behind a TLS proxy",
        address.host));
  log(fmt::format("dormant: token in {} (mode 0600)", token_file.string()));
  const std::string shown =
      address.host.find(':') != std::string::npos ? "[" + address.host + "]" : address.host;
  log(fmt::format("dormant: listening on http://{}:{}", shown, port));

  g_stop = false;
  std::signal(SIGINT, on_serve_stop_signal);
  std::signal(SIGTERM, on_serve_stop_signal);
  std::thread watcher([&http] {
    while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    http.stop();
  });
  http.listen_after_bind();
  g_stop = true;
  watcher.join();
  std::error_code ec;
  std::filesystem::remove_all(work_dir, ec);
  log("dormant: stopped");
}

}  // namespace dormant::server
