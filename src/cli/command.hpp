// Private to the CLI: the command interface (dnf5-like: configure the
// parser, then run) and what every command gets to run with.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dormant/catalog/catalog.hpp"
#include "dormant/core/progress.hpp"

namespace dormant::cli {

struct Context {
  std::filesystem::path catalog_path;
  bool verbose = false;
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  // What dormant exits with when the command returns normally (--exit-code).
  int exit_status = 0;

  // Opened on first use, so that commands without one (inspect) need no catalog file.
  catalog::Catalog& catalog() {
    if (!catalog_) catalog_.emplace(catalog_path);
    return *catalog_;
  }

 private:
  std::optional<catalog::Catalog> catalog_;
};

class Command {
 public:
  virtual ~Command() = default;
  // Adds this command's subcommand (and its options) under `parent`; returns it.
  virtual CLI::App* configure(CLI::App& parent) = 0;
  virtual void run(Context& context) = 0;

  CLI::App* app = nullptr;  // set by add_command; main runs the one that was parsed
};

using Commands = std::vector<std::unique_ptr<Command>>;

inline void add_command(CLI::App& parent, Commands& commands, std::unique_ptr<Command> command) {
  command->app = command->configure(parent);
  commands.push_back(std::move(command));
}

// Each command group adds its commands to the parser and to `commands`.
void add_inspect_command(CLI::App& app, Commands& commands);
void add_library_commands(CLI::App& app, Commands& commands);
void add_identify_command(CLI::App& app, Commands& commands);
void add_group_commands(CLI::App& app, Commands& commands);
void add_source_commands(CLI::App& app, Commands& commands);
void add_assess_command(CLI::App& app, Commands& commands);
void add_compliance_command(CLI::App& app, Commands& commands);
void add_report_command(CLI::App& app, Commands& commands);

// An image named on the command line: a catalog id or a path (relative ones
// against the working directory). Error(not_found) naming it.
std::int64_t resolve_image(catalog::Catalog& catalog, const std::string& name);

// Images named on the command line, or a group, or --all (exactly one).
struct ImageSelection {
  std::vector<std::string> images;
  std::string group;
  bool all = false;
};
// Adds IMAGE..., --group and --all to `command`.
inline void add_selection_options(CLI::App* command, ImageSelection& selection, std::string_view verb) {
  command->add_option("IMAGE", selection.images,
                      std::string("Images to ") + std::string(verb) + ", by path or catalog id");
  command->add_option("--group,-g", selection.group, std::string("The members of this group"));
  command->add_flag("--all,-a", selection.all, std::string("Every image in the catalog"));
}
// Error(usage) unless exactly one selector is given.
void require_one_selector(const ImageSelection& selection, std::string_view verb);
// The catalog records of the selection; Error(usage) unless exactly one
// selector is given, Error(not_found) when it names nothing.
std::vector<catalog::ImageRecord> select_images(catalog::Catalog& catalog, const ImageSelection& selection,
                                                std::string_view verb);
// Checks the selection, runs identify first when asked (its warnings go to
// stderr), then selects.
std::vector<catalog::ImageRecord> identify_and_select(Context& context, const ImageSelection& selection,
                                                      std::string_view verb, bool identify_first,
                                                      ProgressSink& progress);
// This dormant binary (for `__resolve-worker`).
std::filesystem::path own_executable();

void add_patch_command(CLI::App& app, Commands& commands);
void add_rollback_command(CLI::App& app, Commands& commands);
void add_host_commands(CLI::App& app, Commands& commands);
void add_job_commands(CLI::App& app, Commands& commands);
void add_serve_command(CLI::App& app, Commands& commands);

// The shared --json flag of commands whose output is data.
inline void add_json_flag(CLI::App* command, bool& json) {
  command->add_flag("--json", json, "Print JSON instead of a table (schema in docs/)");
}

}  // namespace dormant::cli
