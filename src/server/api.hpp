// Private to the server: what the API's handlers share, and the functions
// that add them to the router (reads in api_read.cpp, mutations and actions
// in api_write.cpp, jobs in api_jobs.cpp).
#pragma once

#include <filesystem>
#include <string>

#include "cli_call.hpp"
#include "dormant/catalog/catalog.hpp"
#include "dormant/server/server.hpp"
#include "operations.hpp"
#include "router.hpp"

namespace dormant::server {

struct Api {
  const ServeOptions& options;
  Cli cli;
  Operations& operations;

  // This thread's connection to the catalog: SQLite connections are not
  // shared between threads, and httplib's pool threads live as long as the
  // server, so each opens the catalog once.
  catalog::Catalog& catalog() const;
  // --cache-dir for the commands that fetch, when the server was given one.
  std::vector<std::string> cache_dir_args() const;
};

void add_read_routes(Router& router, Api& api);
void add_write_routes(Router& router, Api& api);
void add_job_routes(Router& router, Api& api);

// A group with its member images (GET /groups/{name}).
nlohmann::json group_json_with_members(catalog::Catalog& catalog, const catalog::Group& group);

// Query parameter `name` as an integer in [min, max], or `fallback`; 400 otherwise.
std::int64_t query_integer(const Call& call, const char* name, std::int64_t min, std::int64_t max,
                           std::int64_t fallback);

}  // namespace dormant::server
