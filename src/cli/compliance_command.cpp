// dormant compliance: the recorded compliance state of images (the newest
// assessment of each), and one image's history. Reads the catalog only.
#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <ostream>

#include "command.hpp"
#include "dormant/catalog/json.hpp"
#include "dormant/core/error.hpp"
#include "output.hpp"

namespace dormant::cli {
namespace {

class ComplianceCommand final : public Command {
 public:
  CLI::App* configure(CLI::App& parent) override {
    auto* cmd = parent.add_subcommand(
        "compliance", "Show the recorded compliance state of every assessed image, or one image's history");
    cmd->add_option("IMAGE", image_, "Show this image's assessments, newest first (path or catalog id)");
    cmd->add_option("--limit", limit_, "With IMAGE: at most this many assessments")
        ->check(CLI::Range(1, 100000))
        ->capture_default_str();
    add_json_flag(cmd, json_);
    cmd->footer(
        "Nothing is fetched or re-assessed: this is what the last `dormant assess` runs recorded.\n\n"
        "Examples:\n  dormant compliance\n  dormant compliance /srv/images/web-01.qcow2 --json");
    return cmd;
  }

  void run(Context& context) override {
    auto& catalog = context.catalog();
    std::vector<catalog::AssessmentRecord> records =
        image_.empty()
            ? catalog.latest_assessments()
            : catalog.assessment_history(resolve_image(catalog, image_), static_cast<std::size_t>(limit_));
    if (json_) {
      auto out = nlohmann::json::array();
      for (const auto& r : records) out.push_back(catalog::to_json(r));
      *context.out << out.dump(2) << '\n';
      return;
    }
    if (records.empty()) {
      *context.out << (image_.empty() ? "no image has been assessed yet: run `dormant assess`\n"
                                      : "this image has not been assessed yet: run `dormant assess IMAGE`\n");
      return;
    }
    Table table({"IMAGE", "STATE", "UPDATES", "SECURITY", "ASSESSED", "REASON"});
    for (const auto& r : records)
      table.add({r.image_path, r.state + (r.unsigned_sources ? " (UNSIGNED)" : ""), std::to_string(r.updates),
                 std::to_string(r.security_updates), r.assessed_at, or_dash(r.reason)});
    table.print(*context.out);
  }

 private:
  std::string image_;
  int limit_ = 20;
  bool json_ = false;
};

}  // namespace

void add_compliance_command(CLI::App& app, Commands& commands) {
  add_command(app, commands, std::make_unique<ComplianceCommand>());
}

}  // namespace dormant::cli
