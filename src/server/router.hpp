// Private to the server: the API's route table. cpp-httplib hands every
// request to Router::handle, which authenticates, matches a route template
// ("/jobs/{name}/runs"), tells 404 from 405, and turns every exception into
// the JSON error of docs/api.md. Keeping the table here (not in httplib's
// own regex routes) is what lets the tests compare it with the OpenAPI file.
#pragma once

#include <httplib.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <utility>
#include <vector>

namespace dormant::server {

struct Reply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

// A JSON reply: `value` dumped with a trailing newline.
Reply json_reply(int status, const nlohmann::json& value);

struct Call {
  const httplib::Request& http;
  std::vector<std::string> params;  // the template's {placeholders}, in order
};

using Handler = std::function<Reply(const Call&)>;

class Router {
 public:
  explicit Router(std::string token) : token_(std::move(token)) {}
  // `path` is relative to /api/v1. `{id}` matches digits, other
  // placeholders any non-empty segment.
  void add(std::string method, std::string path, Handler handler, bool needs_token = true);
  // Served for GET requests outside /api/ (the console's files).
  void set_static(std::function<bool(const std::string& path, Reply& reply)> static_files) {
    static_ = std::move(static_files);
  }
  void handle(const httplib::Request& request, httplib::Response& response) const;
  std::vector<std::pair<std::string, std::string>> routes() const;

 private:
  struct Route {
    std::string method, path;
    std::regex pattern;
    Handler handler;
    bool needs_token;
  };
  Reply dispatch(const httplib::Request& request) const;
  bool authorized(const httplib::Request& request) const;

  std::string token_;
  std::vector<Route> routes_;
  std::function<bool(const std::string&, Reply&)> static_;
};

}  // namespace dormant::server
