// dormant source add|list|remove: the apt repositories updates come from.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>
#include <ostream>

#include "command.hpp"
#include "dormant/catalog/json.hpp"
#include "dormant/core/error.hpp"
#include "output.hpp"

namespace dormant::cli {

void add_source_commands(CLI::App& app, Commands& commands);

namespace {

// Printed on stderr by every command that shows or adds an unsigned source.
void warn_unsigned(std::ostream& err, const std::string& name) {
  err << "dormant: warning: source " << name
      << " is UNSIGNED (--allow-unsigned): its indexes are not verified; use it only for local test "
         "repositories\n";
}

class SourceAddCommand final : public Command {
 public:
  CLI::App* configure(CLI::App& parent) override {
    auto* cmd = parent.add_subcommand("add", "Add an apt repository that updates come from");
    cmd->add_option("NAME", source_.name, "Source name (letters, digits, '.', '_', '-')")->required();
    cmd->add_option("URI", source_.uri, "Repository URI: http://, https:// or file:///path")->required();
    cmd->add_option("--suite", source_.suite,
                    "Suite: the directory under dists/ (bookworm, bookworm-security)")
        ->required();
    cmd->add_option("--component", components_, "Component; repeat for several (default: main)");
    cmd->add_option("--keyring", keyring_,
                    "OpenPGP keyring file the repository is signed with (stored by absolute path)");
    cmd->add_flag("--security", source_.security, "Updates from this source are security updates");
    cmd->add_flag("--allow-unsigned", source_.allow_unsigned,
                  "Do not verify signatures (local test repositories only; flagged in every output)");
    cmd->add_option("--group", group_,
                    "Use this source only for the images of this group (default: every image)");
    cmd->footer(
        "Exactly one of --keyring and --allow-unsigned is required.\n\n"
        "Examples:\n"
        "  dormant source add debian http://MIRROR/debian --suite bookworm --component main \\\n"
        "      --keyring /usr/share/keyrings/debian-archive-keyring.gpg\n"
        "  dormant source add debian-security http://MIRROR/debian-security --suite "
        "bookworm-security \\\n"
        "      --security --keyring /usr/share/keyrings/debian-archive-keyring.gpg\n"
        "  dormant source add local file:///srv/repo --suite dormtest --allow-unsigned --group pilots");
    return cmd;
  }
  void run(Context& context) override {
    if (!components_.empty()) source_.components = components_;
    if (!keyring_.empty()) source_.keyring = keyring_;
    if (!group_.empty()) source_.group = group_;
    auto source = context.catalog().add_source(source_);
    *context.out << fmt::format("added source {} ({} {} {}){}\n", source.name, source.uri, source.suite,
                                fmt::join(source.components, " "),
                                source.group ? " for group " + *source.group : "");
    if (source.allow_unsigned) warn_unsigned(*context.err, source.name);
  }

 private:
  catalog::Source source_;
  std::vector<std::string> components_;
  std::string keyring_;
  std::string group_;
};

class SourceListCommand final : public Command {
 public:
  CLI::App* configure(CLI::App& parent) override {
    auto* cmd = parent.add_subcommand("list", "List update sources; unsigned ones are flagged UNSIGNED");
    add_json_flag(cmd, json_);
    cmd->footer("Example:\n  dormant source list --json");
    return cmd;
  }
  void run(Context& context) override {
    auto sources = context.catalog().list_sources();
    for (const auto& s : sources)
      if (s.allow_unsigned) warn_unsigned(*context.err, s.name);
    if (json_) {
      nlohmann::json j = nlohmann::json::array();
      for (const auto& s : sources) j.push_back(catalog::to_json(s));
      *context.out << j.dump(2) << '\n';
      return;
    }
    Table table({"NAME", "URI", "SUITE", "COMPONENTS", "SECURITY", "KEYRING", "GROUP"});
    for (const auto& s : sources)
      table.add({s.name, s.uri, s.suite, fmt::format("{}", fmt::join(s.components, ",")),
                 s.security ? "yes" : "no", s.allow_unsigned ? "UNSIGNED" : s.keyring.value_or("-"),
                 s.group.value_or("(all)")});
    table.print(*context.out);
  }

 private:
  bool json_ = false;
};

class SourceRemoveCommand final : public Command {
 public:
  CLI::App* configure(CLI::App& parent) override {
    auto* cmd = parent.add_subcommand("remove", "Remove an update source");
    cmd->add_option("NAME", name_, "Source name")->required();
    cmd->footer("Example:\n  dormant source remove local");
    return cmd;
  }
  void run(Context& context) override {
    context.catalog().remove_source(name_);
    *context.out << "removed source " << name_ << '\n';
  }

 private:
  std::string name_;
};

}  // namespace

void add_source_commands(CLI::App& app, Commands& commands) {
  auto* source =
      app.add_subcommand("source", "Manage update sources: the apt repositories images are assessed against");
  source->require_subcommand(1);
  source->footer(
      "Example:\n  dormant source add debian http://MIRROR/debian --suite bookworm \\\n"
      "      --keyring /usr/share/keyrings/debian-archive-keyring.gpg && dormant source list");
  add_command(*source, commands, std::make_unique<SourceAddCommand>());
  add_command(*source, commands, std::make_unique<SourceListCommand>());
  add_command(*source, commands, std::make_unique<SourceRemoveCommand>());
}

}  // namespace dormant::cli
