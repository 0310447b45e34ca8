// dormant rollback IMAGE: put the previous version of a patched image back.
#include <fmt/format.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <ostream>

#include "command.hpp"
#include "dormant/core/error.hpp"
#include "dormant/core/sha256.hpp"
#include "dormant/patch/versions.hpp"
#include "output.hpp"

namespace dormant::cli {
namespace {

namespace fs = std::filesystem;

class RollbackCommand final : public Command {
 public:
  CLI::App* configure(CLI::App& parent) override {
    auto* cmd = parent.add_subcommand(
        "rollback", "Replace a patched image by its previous version (the replaced one is kept in turn)");
    cmd->add_option("IMAGE", image_, "The image, by path or catalog id")->required();
    cmd->add_option("--to", version_, "A kept version's path (default: the newest)");
    cmd->add_flag("--list,-l", list_, "List the kept versions and change nothing");
    add_json_flag(cmd, json_);
    cmd->footer(
        "Versions are kept by `dormant patch` in .dormant-versions/<image name>/ beside the image (hard\n"
        "links, --keep-versions of them). The swap is one rename(2): the image is at every moment either\n"
        "the old or the new file. Run `dormant identify` (or any assess) afterwards to record it.");
    return cmd;
  }

  void run(Context& context) override {
    fs::path path = image_;
    if (!fs::exists(path)) {
      auto& catalog = context.catalog();
      path = catalog.find_image(resolve_image(catalog, image_))->path;
    }
    path = fs::absolute(path);
    if (list_) {
      auto versions = patch::list_versions(path);
      if (json_) {
        auto j = nlohmann::json::array();
        for (const auto& v : versions)
          j.push_back({{"path", v.path.string()},
                       {"created", v.created},
                       {"sha256_prefix", v.sha256_prefix},
                       {"size", v.size}});
        *context.out << j.dump(2) << '\n';
        return;
      }
      Table table({"CREATED", "SHA256", "SIZE", "PATH"});
      for (const auto& v : versions)
        table.add({v.created, v.sha256_prefix, human_size(v.size), v.path.string()});
      table.print(*context.out);
      return;
    }
    const auto current = sha256_file(path).sha256;
    auto restored = patch::rollback(path, current, version_.empty() ? fs::path() : fs::path(version_));
    if (json_) {
      *context.out << nlohmann::json{{"image", path.string()},
                                     {"restored", restored.path.string()},
                                     {"restored_created", restored.created},
                                     {"replaced_sha256", current}}
                          .dump(2)
                   << '\n';
      return;
    }
    *context.out << fmt::format(
        "{}: restored the version of {} ({}); the replaced image is kept as a version\n", path.string(),
        restored.created, restored.sha256_prefix);
  }

 private:
  std::string image_;
  std::string version_;
  bool list_ = false;
  bool json_ = false;
};

}  // namespace

void add_rollback_command(CLI::App& app, Commands& commands) {
  add_command(app, commands, std::make_unique<RollbackCommand>());
}

}  // namespace dormant::cli
