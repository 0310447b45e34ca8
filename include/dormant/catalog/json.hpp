// The JSON form of catalog records, shared by the CLI's --json output and the
// REST API (docs/cli.md, docs/api.md), so that both print the same objects.
#pragma once

#include <nlohmann/json.hpp>

#include "dormant/catalog/catalog.hpp"

namespace dormant::catalog {

nlohmann::json to_json(const Group& group);  // without members
nlohmann::json to_json(const Source& source);
nlohmann::json to_json(const Host& host);
nlohmann::json to_json(const Job& job);
nlohmann::json to_json(const JobRun& run);
nlohmann::json to_json(const JobItem& item);
nlohmann::json to_json(const AssessmentRecord& record);
nlohmann::json to_json(const PatchImageRecord& record);

}  // namespace dormant::catalog
