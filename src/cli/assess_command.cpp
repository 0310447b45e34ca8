// dormant assess: pending and security updates of images, without booting them.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>

#include "command.hpp"
#include "dormant/assess/assess.hpp"
#include "dormant/core/error.hpp"
#include "dormant/core/paths.hpp"
#include "dormant/library/identify.hpp"
#include "output.hpp"
#include "progress.hpp"

namespace dormant::cli {
namespace {

namespace fs = std::filesystem;

std::string change_line(const assess::PackageChange& c) {
  return fmt::format("{}:{} {} -> {}", c.name, c.arch, or_dash(c.installed), or_dash(c.candidate));
}

void print_details(std::ostream& out, const assess::ImageAssessment& a) {
  if (!a.resolution) return;
  const auto& r = *a.resolution;
  for (std::size_t i = 0; i < r.updates.size(); ++i) {
    const auto& u = r.updates[i];
    std::string tags = u.security ? "security" : "";
    if (u.action == assess::PackageChange::Action::held) tags += tags.empty() ? "held" : ", held";
    if (u.action == assess::PackageChange::Action::kept_back)
      tags += tags.empty() ? "kept back" : ", kept back";
    if (u.action == assess::PackageChange::Action::removed)
      tags += tags.empty() ? "removed instead" : ", removed instead";
    std::string cves = i < a.update_cves.size() && !a.update_cves[i].empty()
                           ? fmt::format(" {}", fmt::join(a.update_cves[i], " "))
                           : "";
    out << fmt::format("    upgrade {} ({}{}{}){}\n", change_line(u), or_dash(u.suite),
                       tags.empty() ? "" : ", ", tags, cves);
  }
  for (const auto& n : r.new_packages)
    out << fmt::format("    install {} ({})\n", change_line(n), or_dash(n.suite));
  for (const auto& d : r.removed_packages) out << fmt::format("    remove  {}\n", change_line(d));
}

class AssessCommand final : public Command {
 public:
  CLI::App* configure(CLI::App& parent) override {
    auto* cmd = parent.add_subcommand(
        "assess",
        "Find pending (security) updates of images against their update sources, without booting them");
    add_selection_options(cmd, selection_, "assess");
    add_json_flag(cmd, json_);
    cmd->add_option(
           "--exit-code", exit_code_,
           "Exit with this code when any assessed image is not compliant (updates pending or unknown)")
        ->check(CLI::Range(1, 125));
    cmd->add_option("--advisories", advisories_,
                    "Debian Security Tracker JSON file: list the CVEs each update fixes")
        ->check(CLI::ExistingFile);
    cmd->add_flag("--offline", offline_,
                  "Do not fetch: use the indexes of each source's last successful fetch");
    cmd->add_flag(
        "--no-identify", no_identify_,
        "Do not run identify first (by default changed images are inspected again before they are assessed)");
    cmd->add_flag(
        "--full-universe", full_universe_,
        "Resolve against every package of the sources instead of the part reachable from each image "
        "(slower; the same answer)");
    cmd->add_flag("--details,-d", details_, "List every update, new and removed package under each image");
    cmd->add_option("--cache-dir", cache_dir_, "Where fetched indexes are kept")->capture_default_str();
    cmd->add_option("--timeout", timeout_s_, "Seconds the resolver may spend on one image")
        ->check(CLI::Range(1, 86400))
        ->capture_default_str();
    cmd->footer(
        "States: compliant, updates-pending, security-updates-pending, unknown (with the reason). An update "
        "is a\n"
        "security update when a version newer than the installed one, up to the candidate, comes from a "
        "source\n"
        "added with --security or from a '-security' suite. Held packages are listed but do not count. "
        "Every\n"
        "assessment is recorded in the catalog (history kept). Sources are fetched and verified first "
        "(signature,\n"
        "Valid-Until, index hashes); an unchanged repository is not downloaded again.\n\n"
        "Examples:\n"
        "  dormant source add debian-security http://MIRROR/debian-security --suite bookworm-security \\\n"
        "      --keyring /usr/share/keyrings/debian-archive-keyring.gpg --security\n"
        "  dormant assess --all\n"
        "  dormant assess --group web --json --exit-code 10");
    return cmd;
  }

  void run(Context& context) override {
    TerminalProgress progress(*context.err, ::isatty(STDERR_FILENO) == 1, context.verbose);
    auto selected = identify_and_select(context, selection_, "assess", !no_identify_, progress);
    auto& catalog = context.catalog();

    assess::AssessOptions options;
    options.cache_dir = fs::absolute(cache_dir_);  // apt resolves relative paths against its own directories
    options.worker_exe = own_executable();
    options.refresh = !offline_;
    options.full_universe = full_universe_;
    if (!advisories_.empty()) options.advisories = fs::absolute(advisories_);
    options.timeout_per_image = std::chrono::seconds(timeout_s_);
    auto report = assess::assess_images(catalog, selected, options, progress);
    report_sources(*context.err, report);

    if (json_)
      *context.out << assess::to_json(report).dump(2) << '\n';
    else
      print_table(*context.out, report);
    if (exit_code_ != 0 && report.compliant != report.images.size()) context.exit_status = exit_code_;
  }

 private:
  // Source problems and unverified data go to stderr, loudly, whatever the output format.
  static void report_sources(std::ostream& err, const assess::AssessReport& report) {
    for (const auto& s : report.sources) {
      if (!s.ok) err << "dormant: error: " << s.error << '\n';
      for (const auto& w : s.warnings) err << "dormant: warning: source " << s.name << ": " << w << '\n';
      if (s.allow_unsigned)
        err << "dormant: WARNING: source " << s.name
            << " is UNSIGNED (--allow-unsigned): results that use it rest on unverified data\n";
    }
  }

  void print_table(std::ostream& out, const assess::AssessReport& report) const {
    Table table({"IMAGE", "STATE", "UPDATES", "SECURITY", "NEW", "REMOVE", "HELD", "REASON"});
    for (const auto& a : report.images) {
      assess::UpdateCounts counts;
      std::size_t added = 0, removed = 0;
      if (a.resolution) {
        counts = assess::count_updates(*a.resolution);
        added = a.resolution->new_packages.size();
        removed = a.resolution->removed_packages.size();
      }
      std::string state = a.state + (a.unsigned_sources.empty() ? "" : " (UNSIGNED)");
      auto count = [&](std::size_t n) { return a.resolution ? std::to_string(n) : std::string("-"); };
      table.add({a.image.path, state, count(counts.updates), count(counts.security), count(added),
                 count(removed), count(counts.held), or_dash(a.reason)});
    }
    table.print(out);
    if (details_ || report.images.size() == 1)
      for (const auto& a : report.images) {
        if (!a.resolution || (a.resolution->updates.empty() && a.resolution->new_packages.empty() &&
                              a.resolution->removed_packages.empty()))
          continue;
        out << a.image.path << ":\n";
        print_details(out, a);
      }
    out << fmt::format(
        "{} images: {} compliant, {} updates pending, {} security updates pending, {} unknown ({} package "
        "sets resolved)\n",
        report.images.size(), report.compliant, report.updates_pending, report.security_updates_pending,
        report.unknown, report.package_sets);
  }

  ImageSelection selection_;
  bool json_ = false;
  int exit_code_ = 0;
  std::string advisories_;
  bool offline_ = false;
  bool no_identify_ = false;
  bool full_universe_ = false;
  bool details_ = false;
  std::string cache_dir_ = default_cache_dir().string();
  int timeout_s_ = 120;
};

}  // namespace

void add_assess_command(CLI::App& app, Commands& commands) {
  add_command(app, commands, std::make_unique<AssessCommand>());
}

}  // namespace dormant::cli
