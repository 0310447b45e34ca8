// Job definitions: what `dormant job create` accepts, and the images a job
// targets when it runs.
#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <set>

#include "dormant/core/error.hpp"
#include "dormant/jobs/jobs.hpp"
#include "dormant/schedule/cron.hpp"
#include "dormant/schedule/limits.hpp"
#include "dormant/schedule/window.hpp"

namespace dormant::jobs {
namespace {

bool valid_name(std::string_view name) {
  auto name_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  };
  return !name.empty() && name.size() <= 64 && std::isalnum(static_cast<unsigned char>(name[0])) &&
         std::all_of(name.begin(), name.end(), name_char);
}

nlohmann::json parse_object(const std::string& text, const std::string& job, std::string_view what) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) fail(ErrorKind::corrupt, job, "the job's {} is not a JSON object", what);
  return j;
}

}  // namespace

void validate_job(catalog::Catalog& catalog, const catalog::Job& job) {
  if (!valid_name(job.name))
    fail(ErrorKind::usage, job.name.empty() ? std::string("job") : job.name,
         "invalid job name: use up to 64 letters, digits, '.', '_' and '-', starting with a letter or digit");
  // `job show|resume|cancel` take a job name or a run id.
  if (job.name.find_first_not_of("0123456789") == std::string::npos)
    fail(ErrorKind::usage, job.name, "invalid job name: digits only would read as a run id");
  const auto targets = parse_object(job.targets_json, job.name, "targets");
  const int kinds = (targets.contains("images") ? 1 : 0) + (targets.contains("group") ? 1 : 0) +
                    (targets.value("all", false) ? 1 : 0);
  if (kinds != 1)
    fail(ErrorKind::usage, job.name, "give the targets as IMAGE..., or --group G, or --all (exactly one)");
  if (targets.contains("group") && !catalog.find_group(targets["group"].get<std::string>()))
    fail(ErrorKind::not_found, targets["group"].get<std::string>(), "no such group (`dormant group list`)");
  if (targets.contains("images") && targets["images"].empty())
    fail(ErrorKind::usage, job.name, "no images given");
  if (job.mode != "offline" && job.mode != "service")
    fail(ErrorKind::usage, job.name, "--mode must be offline or service (got '{}')", job.mode);
  if (job.mode == "service") {
    if (job.host_group.empty())
      fail(ErrorKind::usage, job.name,
           "--mode service needs --hosts GROUP (`dormant host add ... --group G`)");
    if (catalog.hosts_in_group(job.host_group).empty())
      fail(ErrorKind::not_found, job.host_group,
           "no maintenance host in this group; add one with `dormant host add NAME URI --group {}`",
           job.host_group);
  } else if (!job.host_group.empty()) {
    fail(ErrorKind::usage, job.name, "--hosts is for --mode service");
  }
  schedule::parse_concurrency(job.max_concurrent);
  schedule::parse_error_limit(job.max_errors);
  if (!job.schedule.empty()) {
    auto cron = schedule::CronSchedule::parse(job.schedule);
    if (!cron.next_after(std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now())))
      fail(ErrorKind::usage, job.name, "--schedule '{}' never fires", job.schedule);
  }
  if (!job.window.empty()) schedule::Window::parse(job.window);
  const auto options = parse_object(job.options_json, job.name, "options");
  if (options.contains("timeouts"))
    for (const auto& [phase, seconds] : options["timeouts"].items()) {
      // The ranges `dormant patch` accepts, so that no item fails on them.
      const bool service_phase =
          phase == "copy" || phase == "boot" || phase == "update" || phase == "shutdown";
      if (service_phase && job.mode != "service")
        fail(ErrorKind::usage, job.name, "--timeout-{} is a --mode service phase", phase);
      if (phase == "finalize" && !options.value("finalize", false))
        fail(ErrorKind::usage, job.name, "--timeout-finalize needs --finalize");
      const std::int64_t low = phase == "update" ? 5 : phase == "item" ? 60 : 10;
      const std::int64_t high = phase == "item" ? 7 * 86400 : 86400;
      if (!seconds.is_number_integer() || seconds.get<std::int64_t>() < low ||
          seconds.get<std::int64_t>() > high)
        fail(ErrorKind::usage, job.name, "--timeout-{} must be between {} s and {} s", phase, low, high);
    }
  if (options.contains("keep_versions")) {
    const auto& keep = options["keep_versions"];
    if (!keep.is_number_integer() || keep.get<std::int64_t>() < 0 || keep.get<std::int64_t>() > 1000)
      fail(ErrorKind::usage, job.name, "--keep-versions must be between 0 and 1000");
  }
  if (options.value("finalize", false) && job.mode != "offline")
    fail(ErrorKind::usage, job.name, "--finalize is for --mode offline; --mode service boots anyway");
}

std::vector<catalog::ImageRecord> job_targets(catalog::Catalog& catalog, const catalog::Job& job) {
  const auto targets = parse_object(job.targets_json, job.name, "targets");
  std::vector<catalog::ImageRecord> out;
  if (targets.value("all", false)) {
    for (auto& image : catalog.images())
      if (image.state != "missing") out.push_back(std::move(image));
  } else if (targets.contains("group")) {
    const auto group = targets["group"].get<std::string>();
    if (!catalog.find_group(group))
      fail(ErrorKind::not_found, group, "job {}: its group no longer exists", job.name);
    for (auto& member : catalog.group_members(group)) out.push_back(std::move(member.image));
  } else {
    std::set<std::int64_t> seen;
    for (const auto& path : targets["images"]) {
      auto image = catalog.find_image(path.get<std::string>());
      if (!image)
        fail(ErrorKind::not_found, path.get<std::string>(),
             "job {}: this image is no longer in the catalog (`dormant identify`)", job.name);
      if (seen.insert(image->id).second) out.push_back(std::move(*image));
    }
  }
  return out;
}

std::string next_fire_text(const catalog::Job& job) {
  if (job.schedule.empty()) return "-";
  auto next = schedule::CronSchedule::parse(job.schedule)
                  .next_after(std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()));
  return next ? fmt::format("{:%Y-%m-%d %H:%M}Z", *next) : "never";
}

}  // namespace dormant::jobs
