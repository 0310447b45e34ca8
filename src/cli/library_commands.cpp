// dormant library add|list|remove
#include <nlohmann/json.hpp>
#include <ostream>

#include "command.hpp"
#include "dormant/core/error.hpp"
#include "dormant/library/identify.hpp"
#include "dormant/library/libraries.hpp"
#include "output.hpp"

namespace dormant::cli {
namespace {

class LibraryAddCommand final : public Command {
 public:
  CLI::App* configure(CLI::App& parent) override {
    auto* cmd = parent.add_subcommand(
        "add", "Add a directory of disk images, or a libvirt storage pool, as a library");
    cmd->add_option("DIR", directory_, "Directory holding disk images (scanned recursively)");
    cmd->add_option("--name", name_, "Library name (default: the directory or pool name)");
    auto* pool = cmd->add_option("--libvirt-pool", pool_, "A libvirt storage pool instead of a directory");
    cmd->add_option("--connect", uri_,
                    "libvirt connection URI for --libvirt-pool; its shut-off domains are identified too")
        ->needs(pool)
        ->capture_default_str();
    cmd->footer(
        "Examples:\n  dormant library add /srv/images --name golden\n"
        "  dormant library add --libvirt-pool default --connect qemu:///system");
    return cmd;
  }

  void run(Context& context) override {
    if (directory_.empty() == pool_.empty())
      fail(ErrorKind::usage, "library add", "give either a DIR or --libvirt-pool POOL");
    auto library = pool_.empty() ? library::add_directory_library(context.catalog(), directory_, name_)
                                 : library::add_pool_library(context.catalog(), pool_, uri_, name_);
    *context.out << "added library " << library.name << " ("
                 << (library.kind == catalog::LibraryKind::directory ? library.path
                                                                     : library.pool + " on " + library.uri)
                 << ")\n";
  }

 private:
  std::string directory_;
  std::string name_;
  std::string pool_;
  std::string uri_ = "qemu:///system";
};

class LibraryListCommand final : public Command {
 public:
  CLI::App* configure(CLI::App& parent) override {
    auto* cmd = parent.add_subcommand("list", "List the libraries in the catalog");
    add_json_flag(cmd, json_);
    cmd->footer("Example:\n  dormant library list --json");
    return cmd;
  }

  void run(Context& context) override {
    auto libraries = context.catalog().libraries();
    if (json_) {
      nlohmann::json j = nlohmann::json::array();
      for (const auto& lib : libraries) j.push_back(library::to_json(lib));
      *context.out << j.dump(2) << '\n';
      return;
    }
    Table table({"NAME", "KIND", "LOCATION", "ADDED"});
    for (const auto& lib : libraries)
      table.add({lib.name, std::string(catalog::to_string(lib.kind)),
                 lib.kind == catalog::LibraryKind::directory ? lib.path : lib.pool + " on " + lib.uri,
                 lib.added_at});
    table.print(*context.out);
  }

 private:
  bool json_ = false;
};

class LibraryRemoveCommand final : public Command {
 public:
  CLI::App* configure(CLI::App& parent) override {
    auto* cmd = parent.add_subcommand(
        "remove", "Remove a library and its images from the catalog (files are not touched)");
    cmd->add_option("NAME", name_, "Library name")->required();
    cmd->footer("Example:\n  dormant library remove golden");
    return cmd;
  }

  void run(Context& context) override {
    context.catalog().remove_library(name_);
    *context.out << "removed library " << name_ << '\n';
  }

 private:
  std::string name_;
};

}  // namespace

void add_library_commands(CLI::App& app, Commands& commands) {
  auto* group =
      app.add_subcommand("library", "Manage libraries: directories and libvirt pools of disk images");
  group->require_subcommand(1);
  group->footer("Example:\n  dormant library add /srv/images && dormant identify");
  add_command(*group, commands, std::make_unique<LibraryAddCommand>());
  add_command(*group, commands, std::make_unique<LibraryListCommand>());
  add_command(*group, commands, std::make_unique<LibraryRemoveCommand>());
}

}  // namespace dormant::cli
