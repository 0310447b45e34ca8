#include "router.hpp"

#include <nlohmann/json.hpp>

#include "dormant/core/error.hpp"
#include "http_error.hpp"

namespace dormant::server {
namespace {

constexpr std::string_view kPrefix = "/api/v1";

std::regex template_regex(const std::string& path) {
  static const std::regex placeholder(R"(\{([a-z_]+)\})");
  std::string out;
  auto begin = std::sregex_iterator(path.begin(), path.end(), placeholder);
  std::size_t last = 0;
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    out += path.substr(last, static_cast<std::size_t>(it->position()) - last);
    out += (*it)[1] == "id" ? "([0-9]{1,18})" : "([^/]+)";
    last = static_cast<std::size_t>(it->position() + it->length());
  }
  out += path.substr(last);
  return std::regex(out);
}

// Compares every byte whatever the input, so the time taken says nothing
// about how much of a guessed token was right.
bool same_token(std::string_view given, std::string_view expected) {
  unsigned char diff = given.size() == expected.size() ? 0 : 1;
  for (std::size_t i = 0; i < given.size(); ++i)
    diff |= static_cast<unsigned char>(given[i] ^ expected[i % expected.size()]);
  return diff == 0;
}

}  // namespace

Reply json_reply(int status, const nlohmann::json& value) {
  Reply reply;
  reply.status = status;
  reply.body = value.dump(2) + "\n";
  return reply;
}

void Router::add(std::string method, std::string path, Handler handler, bool needs_token) {
  auto pattern = template_regex(path);
  routes_.push_back(
      {std::move(method), std::move(path), std::move(pattern), std::move(handler), needs_token});
}

std::vector<std::pair<std::string, std::string>> Router::routes() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& r : routes_) out.emplace_back(r.method, r.path);
  return out;
}

bool Router::authorized(const httplib::Request& request) const {
  const std::string header = request.get_header_value("Authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (header.size() <= kBearer.size() || header.compare(0, kBearer.size(), kBearer) != 0) return false;
  return same_token(std::string_view(header).substr(kBearer.size()), token_);
}

Reply Router::dispatch(const httplib::Request& request) const {
  const std::string& path = request.path;
  if (path.compare(0, kPrefix.size(), kPrefix) != 0 ||
      (path.size() > kPrefix.size() && path[kPrefix.size()] != '/')) {
    Reply reply;
    if ((request.method == "GET" || request.method == "HEAD") && static_ && static_(path, reply))
      return reply;
    throw ApiError(404, "not_found", "no such page: " + path);
  }
  const std::string relative = path.substr(kPrefix.size());
  bool path_known = false;
  for (const auto& route : routes_) {
    std::smatch match;
    if (!std::regex_match(relative, match, route.pattern)) continue;
    path_known = true;
    if (route.method != request.method) continue;
    if (route.needs_token && !authorized(request)) {
      Reply reply =
          json_reply(401, error_json(401, "unauthorized",
                                     "a bearer token is required: send 'Authorization: Bearer TOKEN' "
                                     "with the token from the server's token file"));
      reply.headers.emplace_back("WWW-Authenticate", R"(Bearer realm="dormant")");
      return reply;
    }
    Call call{request, {}};
    for (std::size_t i = 1; i < match.size(); ++i) call.params.push_back(match[i].str());
    return route.handler(call);
  }
  if (path_known) throw ApiError(405, "method_not_allowed", request.method + " is not allowed on " + path);
  throw ApiError(404, "not_found", "no such API endpoint: " + path + " (see /api/v1/openapi.json)");
}

void Router::handle(const httplib::Request& request, httplib::Response& response) const {
  Reply reply;
  try {
    reply = dispatch(request);
  } catch (const ApiError& e) {
    reply = json_reply(e.status(), error_json(e.status(), e.kind(), e.what()));
  } catch (const Error& e) {
    auto api = from_error(e);
    reply = json_reply(api.status(), error_json(api.status(), api.kind(), api.what()));
  } catch (const std::exception& e) {
    reply = json_reply(500, error_json(500, "internal", std::string("internal error: ") + e.what()));
  }
  response.status = reply.status;
  for (const auto& [name, value] : reply.headers) response.set_header(name, value);
  // The API's data must never be cached by a browser or a proxy.
  if (reply.content_type.find("json") != std::string::npos) response.set_header("Cache-Control", "no-store");
  response.set_content(reply.body, reply.content_type);
}

}  // namespace dormant::server
