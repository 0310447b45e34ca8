// Private to the server: a request's JSON body, read strictly. Every
// mistake is a 400 naming the field: not JSON, not an object, an unknown
// field (a typo must not be silently ignored), a wrong type, a missing
// required field, a name that would read as a command-line option.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dormant::server {

class Body {
 public:
  // An empty body reads as {}.
  Body(const std::string& text, std::initializer_list<std::string_view> allowed);

  bool has(const char* field) const { return json_.contains(field); }
  std::optional<std::string> text(const char* field) const;
  std::string required_text(const char* field) const;
  bool flag(const char* field) const;  // absent = false
  std::optional<std::int64_t> integer(const char* field, std::int64_t min, std::int64_t max) const;
  // An array of strings; numbers are accepted as catalog ids.
  std::vector<std::string> texts(const char* field) const;
  const nlohmann::json& raw(const char* field) const { return json_.at(field); }

 private:
  nlohmann::json json_;
};

// A name or image reference passed to the CLI as a positional argument: 400
// when empty, when it begins with '-', or when it holds a control character.
const std::string& checked_argument(const std::string& value, std::string_view field);

}  // namespace dormant::server
