#include "dormant/catalog/json.hpp"

namespace dormant::catalog {
namespace {

nlohmann::json text_or_null(const std::string& value) {
  return value.empty() ? nlohmann::json(nullptr) : nlohmann::json(value);
}

nlohmann::json optional_or_null(const std::optional<std::string>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

// Stored JSON columns are written by dormant; a damaged one reads as null
// rather than failing a whole listing.
nlohmann::json parsed_or_null(const std::string& text) {
  auto parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  return parsed.is_discarded() ? nlohmann::json(nullptr) : parsed;
}

}  // namespace

nlohmann::json to_json(const Group& group) {
  return {{"id", group.id}, {"name", group.name}, {"match", optional_or_null(group.match_glob)}};
}

nlohmann::json to_json(const Source& source) {
  return {{"id", source.id},
          {"name", source.name},
          {"uri", source.uri},
          {"suite", source.suite},
          {"components", source.components},
          {"keyring", optional_or_null(source.keyring)},
          {"security", source.security},
          {"allow_unsigned", source.allow_unsigned},
          {"group", optional_or_null(source.group)},
          {"added_at", source.added_at}};
}

nlohmann::json to_json(const Host& host) {
  return {{"name", host.name},
          {"uri", host.uri},
          {"host_group", host.host_group},
          {"max_vms", host.max_vms},
          {"memory_mib", host.memory_mib},
          {"pool", host.pool},
          {"added_at", host.added_at}};
}

nlohmann::json to_json(const Job& job) {
  return {{"name", job.name},
          {"targets", parsed_or_null(job.targets_json)},
          {"mode", job.mode},
          {"hosts", text_or_null(job.host_group)},
          {"options", parsed_or_null(job.options_json)},
          {"max_concurrent", job.max_concurrent},
          {"max_errors", job.max_errors},
          {"schedule", text_or_null(job.schedule)},
          {"window", text_or_null(job.window)},
          {"created_at", job.created_at},
          {"last_fire", text_or_null(job.last_fire)}};
}

nlohmann::json to_json(const JobRun& run) {
  return {{"id", run.id},
          {"job", run.job_name},
          {"trigger", run.trigger},
          {"started_at", run.started_at},
          {"finished_at", text_or_null(run.finished_at)},
          {"state", run.state},
          {"stop_reason", text_or_null(run.stop_reason)},
          {"runner_pid", run.runner_pid},
          {"settings", parsed_or_null(run.settings_json)}};
}

nlohmann::json to_json(const JobItem& item) {
  return {{"image", item.image_path},
          {"image_id", item.image_id},
          {"state", item.state},
          {"attempt", item.attempt},
          {"host", text_or_null(item.host)},
          {"patch_run", text_or_null(item.patch_run_id)},
          {"started_at", text_or_null(item.started_at)},
          {"finished_at", text_or_null(item.finished_at)},
          {"result", text_or_null(item.result)},
          {"reason", text_or_null(item.reason)},
          {"log", item.log}};
}

nlohmann::json to_json(const AssessmentRecord& r) {
  return {{"id", r.id},
          {"image", r.image_path},
          {"assessed_at", r.assessed_at},
          {"state", r.state},
          {"reason", text_or_null(r.reason)},
          {"updates", r.updates},
          {"security_updates", r.security_updates},
          {"unsigned_sources", r.unsigned_sources},
          {"package_set", text_or_null(r.package_set)},
          {"result", parsed_or_null(r.result_json)}};
}

nlohmann::json to_json(const PatchImageRecord& r) {
  nlohmann::json j = {{"run", r.run_id},
                      {"image", r.image_path},
                      {"image_id", r.image_id},
                      {"state", r.state},
                      {"reason", text_or_null(r.reason)},
                      {"planned", r.planned},
                      {"staged", r.staged},
                      {"applied", r.applied ? nlohmann::json(*r.applied) : nlohmann::json(nullptr)},
                      {"verified", r.verified},
                      {"old_sha256", text_or_null(r.old_sha256)},
                      {"new_sha256", text_or_null(r.new_sha256)},
                      {"version_path", text_or_null(r.version_path)},
                      {"updated_at", r.updated_at}};
  return j;
}

}  // namespace dormant::catalog
