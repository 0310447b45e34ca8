#include "body.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "http_error.hpp"

namespace dormant::server {

Body::Body(const std::string& text, std::initializer_list<std::string_view> allowed) {
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    json_ = nlohmann::json::object();
    return;
  }
  json_ = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json_.is_discarded()) bad_request("the request body is not valid JSON");
  if (!json_.is_object()) bad_request("the request body must be a JSON object");
  for (const auto& [key, value] : json_.items())
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string known;
      for (auto name : allowed) known += (known.empty() ? "" : ", ") + std::string(name);
      bad_request(
          fmt::format("unknown field \"{}\" (this request takes: {})", key, known.empty() ? "none" : known));
    }
}

std::optional<std::string> Body::text(const char* field) const {
  if (!json_.contains(field) || json_[field].is_null()) return std::nullopt;
  if (!json_[field].is_string()) bad_request(fmt::format("field \"{}\" must be a string", field));
  return json_[field].get<std::string>();
}

std::string Body::required_text(const char* field) const {
  auto value = text(field);
  if (!value || value->empty()) bad_request(fmt::format("field \"{}\" is required", field));
  return *value;
}

bool Body::flag(const char* field) const {
  if (!json_.contains(field) || json_[field].is_null()) return false;
  if (!json_[field].is_boolean()) bad_request(fmt::format("field \"{}\" must be true or false", field));
  return json_[field].get<bool>();
}

std::optional<std::int64_t> Body::integer(const char* field, std::int64_t min, std::int64_t max) const {
  if (!json_.contains(field) || json_[field].is_null()) return std::nullopt;
  const auto& v = json_[field];
  if (!v.is_number_integer()) bad_request(fmt::format("field \"{}\" must be an integer", field));
  auto n = v.get<std::int64_t>();
  if (n < min || n > max) bad_request(fmt::format("field \"{}\" must be between {} and {}", field, min, max));
  return n;
}

std::vector<std::string> Body::texts(const char* field) const {
  std::vector<std::string> out;
  if (!json_.contains(field) || json_[field].is_null()) return out;
  const auto& v = json_[field];
  if (!v.is_array()) bad_request(fmt::format("field \"{}\" must be an array", field));
  for (const auto& item : v) {
    if (item.is_string())
      out.push_back(item.get<std::string>());
    else if (item.is_number_integer() && item.get<std::int64_t>() > 0)
      out.push_back(std::to_string(item.get<std::int64_t>()));
    else
      bad_request(fmt::format("field \"{}\" must hold strings (or catalog ids)", field));
    checked_argument(out.back(), field);
  }
  return out;
}

const std::string& checked_argument(const std::string& value, std::string_view field) {
  if (value.empty()) bad_request(fmt::format("field \"{}\" must not be empty", field));
  if (value.front() == '-')
    bad_request(fmt::format("field \"{}\" must not begin with '-': \"{}\"", field, value));
  if (std::any_of(value.begin(), value.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; }))
    bad_request(fmt::format("field \"{}\" holds a control character", field));
  return value;
}

}  // namespace dormant::server
