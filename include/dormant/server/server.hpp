// `dormant serve`: the REST API (docs/api.md, docs/openapi.json) and the web
// console (docs/console.md) from one process. A frontend: reads go to the
// catalog through the same JSON renderers as the CLI's --json; mutations and
// long actions run the dormant CLI itself, so that both frontends share one
// implementation of every command.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace dormant::server {

struct ServeOptions {
  std::string listen = "127.0.0.1:8080";  // HOST:PORT, [IPv6]:PORT; port 0 = any free port
  std::filesystem::path catalog_path;
  std::filesystem::path token_file;   // "" = <catalog>.api-token
  std::filesystem::path dormant_exe;  // the CLI the API runs for mutations and actions
  std::filesystem::path cache_dir;    // passed to assess and job runs; "" = their default
  std::filesystem::path web_dir;      // serve the console from here instead of the embedded copy
  std::string version;
  // One line per event worth an administrator's eye (listening, refusals).
  std::function<void(const std::string&)> log;
};

// Listens, then serves until SIGINT or SIGTERM. Error(usage) for a malformed
// --listen, Error(io) when the address cannot be bound or the token file
// cannot be created, Error(hostile) when the token file is readable by others.
void serve(const ServeOptions& options);

// The token in `path`, created (64 hex digits from getrandom, mode 0600, O_EXCL)
// when the file does not exist. Error(hostile) when the file exists with group
// or other permission bits or is not a regular file owned by this user.
std::string load_or_create_token(const std::filesystem::path& path);

// (method, path template) of every API route, e.g. ("GET", "/images/{id}"),
// paths relative to /api/v1 as in the OpenAPI document.
std::vector<std::pair<std::string, std::string>> api_routes();

// The embedded OpenAPI document (docs/openapi.json).
std::string_view openapi_document();

}  // namespace dormant::server
