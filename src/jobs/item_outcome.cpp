#include "item_outcome.hpp"

#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "dormant/patch/patch.hpp"

namespace dormant::jobs::detail {
namespace {

constexpr std::size_t kGuestTailLines = 40;

std::string last_lines(const std::string& text, std::size_t lines) {
  std::size_t pos = text.size();
  std::size_t seen = 0;
  while (pos > 0) {
    const std::size_t nl = text.rfind('\n', pos - 1);
    if (nl == std::string::npos) return text;
    if (nl + 1 < text.size() && ++seen > lines) return text.substr(nl + 1);
    pos = nl;
  }
  return text;
}

}  // namespace

std::string file_tail(const std::string& path, std::size_t lines) {
  std::ifstream in(path);
  if (!in) return {};
  std::stringstream buffer;
  buffer << in.rdbuf();
  return last_lines(buffer.str(), lines);
}

std::string log_from_detail(const std::string& detail_json) {
  auto j = nlohmann::json::parse(detail_json, nullptr, false);
  if (!j.is_object()) return {};
  std::string log;
  if (j.contains("seconds") && j["seconds"].is_object() && !j["seconds"].empty()) {
    std::vector<std::string> parts;
    for (const auto& [step, secs] : j["seconds"].items())
      if (secs.is_number()) parts.push_back(fmt::format("{} {:.1f}", step, secs.get<double>()));
    log += fmt::format("  seconds: {}\n", fmt::join(parts, ", "));
  }
  if (j.contains("service") && j["service"].is_object()) {
    const auto& s = j["service"];
    if (s.contains("log") && s["log"].is_array())
      for (const auto& line : s["log"])
        if (line.is_string()) log += "  " + line.get<std::string>() + "\n";
    if (s.contains("guest_output") && s["guest_output"].is_string() &&
        !s["guest_output"].get<std::string>().empty()) {
      log += "  guest output (tail):\n";
      std::istringstream lines(last_lines(s["guest_output"].get<std::string>(), kGuestTailLines));
      for (std::string line; std::getline(lines, line);) log += "    " + line + "\n";
    }
  }
  if (j.contains("reason") && j["reason"].is_string())
    log += "  reason: " + j["reason"].get<std::string>() + "\n";
  return log;
}

ItemOutcome outcome_from_record(catalog::Catalog& catalog, const catalog::JobItem& item) {
  ItemOutcome out;
  std::optional<catalog::PatchImageRecord> row;
  for (const auto& run : catalog.patch_runs_of_job_run(item.run_id))
    for (auto& r : catalog.patch_images(run.id))
      if (r.image_id == item.image_id) {
        row = std::move(r);
        out.patch_run_id = run.id;
      }
  auto again = [&](std::string why) {
    if (item.attempt >= kMaxAttempts) {
      out.state = "failed";
      out.reason = fmt::format("{}; interrupted {} times, not tried again", why, item.attempt);
    } else {
      out.state = "pending";
      out.reason = why + "; it will run again from its first step";
    }
  };
  if (!row) {
    again("its patch process died before it recorded anything");
    out.log = "  " + out.reason + "\n";
    return out;
  }
  out.result = row->state;
  out.log = log_from_detail(row->detail_json);
  if (row->state == "committed" || row->state == "nothing-to-do") {
    out.state = "done";
    out.reason = row->reason;
  } else if (row->state == "failed" && !row->reason.starts_with(patch::kInterruptedReason)) {
    out.state = "failed";
    out.reason = row->reason;
  } else {
    again(row->state == "failed" ? row->reason
                                 : fmt::format("its patch stopped after step '{}'", row->state));
  }
  return out;
}

}  // namespace dormant::jobs::detail
