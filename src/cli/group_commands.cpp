// dormant group create|add|remove|list|show
#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <ostream>

#include "command.hpp"
#include "dormant/catalog/json.hpp"
#include "dormant/core/error.hpp"
#include "dormant/library/identify.hpp"
#include "output.hpp"

namespace dormant::cli {

// An image named on the command line: a catalog id, or a path.
std::int64_t resolve_image(catalog::Catalog& catalog, const std::string& name) {
  if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos) {
    auto id = std::stoll(name);
    if (catalog.find_image(static_cast<std::int64_t>(id))) return id;
  }
  std::error_code ec;
  auto path = std::filesystem::weakly_canonical(std::filesystem::absolute(name), ec);
  if (!ec)
    if (auto image = catalog.find_image(path.string())) return image->id;
  if (auto image = catalog.find_image(name)) return image->id;
  fail(ErrorKind::not_found, name,
       "no such image in the catalog; add its library and run `dormant identify` first");
}

namespace {

class GroupCreateCommand final : public Command {
 public:
  CLI::App* configure(CLI::App& parent) override {
    auto* cmd = parent.add_subcommand("create", "Create a group of images (VM group)");
    cmd->add_option("NAME", name_, "Group name")->required();
    cmd->add_option(
        "--match", glob_,
        "Members are also every image whose path, file name or domain matches this glob (checked when used)");
    cmd->footer("Examples:\n  dormant group create web --match '*web*'\n  dormant group create pilots");
    return cmd;
  }
  void run(Context& context) override {
    auto group = context.catalog().create_group(name_, glob_.empty() ? std::nullopt : std::optional(glob_));
    *context.out << "created group " << group.name << '\n';
  }

 private:
  std::string name_;
  std::string glob_;
};

class GroupAddCommand final : public Command {
 public:
  CLI::App* configure(CLI::App& parent) override {
    auto* cmd = parent.add_subcommand("add", "Add images to a group, by path or catalog id");
    cmd->add_option("NAME", name_, "Group name")->required();
    cmd->add_option("IMAGE", images_,
                    "Image path or catalog id (see `dormant group show` or `identify --json`)")
        ->required();
    cmd->footer("Example:\n  dormant group add pilots /srv/images/web1.qcow2 7");
    return cmd;
  }
  void run(Context& context) override {
    auto& catalog = context.catalog();
    if (!catalog.find_group(name_))
      fail(ErrorKind::not_found, name_, "no such group; create it with `dormant group create`");
    std::vector<std::int64_t> ids;
    for (const auto& image : images_) ids.push_back(resolve_image(catalog, image));
    catalog.add_group_members(name_, ids);
    *context.out << fmt::format("added {} image(s) to group {}\n", ids.size(), name_);
  }

 private:
  std::string name_;
  std::vector<std::string> images_;
};

class GroupRemoveCommand final : public Command {
 public:
  CLI::App* configure(CLI::App& parent) override {
    auto* cmd = parent.add_subcommand(
        "remove",
        "Delete a group (its images stay in the catalog; refused while update sources are bound to it)");
    cmd->add_option("NAME", name_, "Group name")->required();
    cmd->footer("Example:\n  dormant group remove pilots");
    return cmd;
  }
  void run(Context& context) override {
    context.catalog().remove_group(name_);
    *context.out << "removed group " << name_ << '\n';
  }

 private:
  std::string name_;
};

class GroupListCommand final : public Command {
 public:
  CLI::App* configure(CLI::App& parent) override {
    auto* cmd = parent.add_subcommand("list", "List groups with their glob and member count");
    add_json_flag(cmd, json_);
    cmd->footer("Example:\n  dormant group list");
    return cmd;
  }
  void run(Context& context) override {
    auto& catalog = context.catalog();
    auto groups = catalog.groups();
    if (json_) {
      nlohmann::json j = nlohmann::json::array();
      for (const auto& g : groups) {
        auto item = catalog::to_json(g);
        item["members"] = catalog.group_members(g.name).size();
        j.push_back(std::move(item));
      }
      *context.out << j.dump(2) << '\n';
      return;
    }
    Table table({"NAME", "MATCH", "MEMBERS"});
    for (const auto& g : groups)
      table.add({g.name, g.match_glob.value_or("-"), std::to_string(catalog.group_members(g.name).size())});
    table.print(*context.out);
  }

 private:
  bool json_ = false;
};

class GroupShowCommand final : public Command {
 public:
  CLI::App* configure(CLI::App& parent) override {
    auto* cmd = parent.add_subcommand("show", "Show a group's member images with their state and OS");
    cmd->add_option("NAME", name_, "Group name")->required();
    add_json_flag(cmd, json_);
    cmd->footer("Example:\n  dormant group show web --json");
    return cmd;
  }
  void run(Context& context) override {
    auto& catalog = context.catalog();
    auto group = catalog.find_group(name_);
    if (!group) fail(ErrorKind::not_found, name_, "no such group; see `dormant group list`");
    auto members = catalog.group_members(name_);
    if (json_) {
      auto j = catalog::to_json(*group);
      j["images"] = nlohmann::json::array();
      for (const auto& m : members) {
        auto item = library::to_json(m.image);
        item["explicit"] = m.explicit_member;
        j["images"].push_back(std::move(item));
      }
      *context.out << j.dump(2) << '\n';
      return;
    }
    Table table({"ID", "PATH", "STATE", "OS", "PACKAGES", "VIA"});
    for (const auto& m : members)
      table.add({std::to_string(m.image.id), m.image.path, m.image.state, or_dash(m.image.os_pretty_name),
                 m.image.package_count ? std::to_string(*m.image.package_count) : "-",
                 m.explicit_member ? "added" : "match"});
    table.print(*context.out);
  }

 private:
  std::string name_;
  bool json_ = false;
};

}  // namespace

void add_group_commands(CLI::App& app, Commands& commands) {
  auto* group = app.add_subcommand("group", "Manage VM groups: named sets of images, by hand or by glob");
  group->require_subcommand(1);
  group->footer("Example:\n  dormant group create web --match '*web*' && dormant group show web");
  add_command(*group, commands, std::make_unique<GroupCreateCommand>());
  add_command(*group, commands, std::make_unique<GroupAddCommand>());
  add_command(*group, commands, std::make_unique<GroupRemoveCommand>());
  add_command(*group, commands, std::make_unique<GroupListCommand>());
  add_command(*group, commands, std::make_unique<GroupShowCommand>());
}

}  // namespace dormant::cli
