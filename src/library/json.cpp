#include <nlohmann/json.hpp>

#include "dormant/library/identify.hpp"

namespace dormant::library {
namespace {
nlohmann::json string_or_null(const std::string& value) {
  return value.empty() ? nlohmann::json(nullptr) : nlohmann::json(value);
}
}  // namespace

nlohmann::json to_json(const catalog::ImageRecord& image) {
  nlohmann::json j;
  j["id"] = image.id ? nlohmann::json(image.id) : nlohmann::json(nullptr);
  j["path"] = image.path;
  j["library_id"] = image.library_id ? nlohmann::json(*image.library_id) : nlohmann::json(nullptr);
  j["domain"] = string_or_null(image.domain);
  j["format"] = string_or_null(image.format);
  j["virtual_size"] = image.virtual_size;
  j["file_size"] = image.file_size;
  j["state"] = string_or_null(image.state);
  j["reason"] = string_or_null(image.reason);
  j["access"] = string_or_null(image.access);
  j["os"] = {{"id", string_or_null(image.os_id)},
             {"version_id", string_or_null(image.os_version_id)},
             {"pretty_name", string_or_null(image.os_pretty_name)}};
  j["arch"] = string_or_null(image.arch);
  j["hostname"] = string_or_null(image.hostname);
  j["package_count"] = image.package_count ? nlohmann::json(*image.package_count) : nlohmann::json(nullptr);
  j["package_set"] = string_or_null(image.package_set);
  j["inspected_at"] = string_or_null(image.inspected_at);
  return j;
}

nlohmann::json to_json(const catalog::Library& library) {
  nlohmann::json j;
  j["id"] = library.id;
  j["name"] = library.name;
  j["kind"] = std::string(catalog::to_string(library.kind));
  j["path"] = string_or_null(library.path);
  j["pool"] = string_or_null(library.pool);
  j["uri"] = string_or_null(library.uri);
  j["added_at"] = library.added_at;
  return j;
}

nlohmann::json to_json(const IdentifyReport& report) {
  nlohmann::json images = nlohmann::json::array();
  for (const auto& entry : report.entries) {
    auto j = to_json(entry.image);
    j["outcome"] = std::string(to_string(entry.outcome));
    j["library"] = string_or_null(entry.library);
    images.push_back(std::move(j));
  }
  return {{"summary",
           {{"new", report.added},
            {"changed", report.changed},
            {"unchanged", report.unchanged},
            {"missing", report.missing},
            {"skipped", report.skipped},
            {"errors", report.errors},
            {"inspected", report.inspected}}},
          {"images", std::move(images)},
          {"warnings", report.warnings}};
}

}  // namespace dormant::library
