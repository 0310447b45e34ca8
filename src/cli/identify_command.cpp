// dormant identify: scan every library and record what each image holds.
#include <fmt/format.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <ostream>

#include "command.hpp"
#include "dormant/library/identify.hpp"
#include "output.hpp"
#include "progress.hpp"

namespace dormant::cli {
namespace {

std::string os_of(const catalog::ImageRecord& image) {
  if (!image.os_pretty_name.empty()) return image.os_pretty_name;
  return or_dash(fmt::format("{} {}", image.os_id, image.os_version_id)
                     .substr(0, image.os_id.empty() ? 0 : std::string::npos));
}

class IdentifyCommand final : public Command {
 public:
  CLI::App* configure(CLI::App& parent) override {
    auto* cmd = parent.add_subcommand(
        "identify",
        "Scan all libraries and shut-off libvirt domains; inspect new and changed images into the catalog");
    add_json_flag(cmd, json_);
    cmd->add_option("--jobs,-j", jobs_, "Images inspected at once (default: number of cores)")
        ->check(CLI::Range(1u, 256u));
    cmd->add_flag("--no-guestfs", no_guestfs_,
                  "Do not fall back to the libguestfs appliance (slow) for LVM, XFS, btrfs or LUKS disks");
    cmd->footer(
        "An image whose file identity (device, inode, size, mtime, ctime) is as recorded is not inspected "
        "again.\n"
        "Images that cannot be inspected are recorded with state 'error' or 'unsupported' and a reason.\n\n"
        "Example:\n  dormant library add /srv/images\n  dormant identify --jobs 2");
    return cmd;
  }

  void run(Context& context) override {
    library::IdentifyOptions options;
    options.jobs = jobs_;
    options.allow_guestfs = !no_guestfs_;
    TerminalProgress progress(*context.err, ::isatty(STDERR_FILENO) == 1, context.verbose);
    auto report = library::identify(context.catalog(), options, progress);
    for (const auto& warning : report.warnings) *context.err << "dormant: warning: " << warning << '\n';
    if (json_) {
      *context.out << library::to_json(report).dump(2) << '\n';
      return;
    }
    Table table({"PATH", "FORMAT", "SIZE", "OS", "PACKAGES", "STATE", "SCAN", "REASON"});
    for (const auto& entry : report.entries) {
      const auto& image = entry.image;
      table.add({image.path, or_dash(image.format), image.virtual_size ? human_size(image.virtual_size) : "-",
                 os_of(image), image.package_count ? std::to_string(*image.package_count) : "-",
                 or_dash(image.state), std::string(library::to_string(entry.outcome)),
                 or_dash(image.reason)});
    }
    if (!table.empty()) table.print(*context.out);
    *context.out << fmt::format(
        "{} images: {} new, {} changed, {} unchanged, {} missing, {} skipped, {} errors\n",
        report.entries.size(), report.added, report.changed, report.unchanged, report.missing, report.skipped,
        report.errors);
  }

 private:
  unsigned jobs_ = 0;
  bool json_ = false;
  bool no_guestfs_ = false;
};

}  // namespace

void add_identify_command(CLI::App& app, Commands& commands) {
  add_command(app, commands, std::make_unique<IdentifyCommand>());
}

}  // namespace dormant::cli
