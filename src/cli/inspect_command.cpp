// dormant inspect IMAGE: what is inside one image, without a catalog.
#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <ostream>

#include "command.hpp"
#include "dormant/core/error.hpp"
#include "dormant/inspect/inspection.hpp"
#include "output.hpp"

namespace dormant::cli {
namespace {

class InspectCommand final : public Command {
 public:
  CLI::App* configure(CLI::App& parent) override {
    auto* cmd = parent.add_subcommand(
        "inspect", "Show the OS, packages and filesystems inside a disk image, without booting it");
    cmd->add_option("IMAGE", image_, "Disk image file (qcow2, raw, vmdk, vhdx, vpc)")->required();
    add_json_flag(cmd, json_);
    cmd->add_flag("--no-guestfs", no_guestfs_,
                  "Do not fall back to the libguestfs appliance (slow) for LVM, XFS, btrfs or LUKS disks");
    cmd->footer(
        "The image is opened read-only through qemu; its backing files must lie in its own directory.\n"
        "It needs no catalog.\n\n"
        "Example:\n  dormant inspect /var/lib/libvirt/images/web1.qcow2\n  dormant inspect --json web1.qcow2 "
        "| jq .os");
    return cmd;
  }

  void run(Context& context) override {
    std::error_code ec;
    if (!std::filesystem::exists(image_, ec)) fail(ErrorKind::not_found, image_, "no such file");
    image::OpenOptions options;
    options.allow_guestfs = !no_guestfs_;
    auto inspection = inspect::inspect_image(image_, options);
    auto& out = *context.out;
    if (json_) {
      out << inspect::to_json(inspection).dump(2) << '\n';
      return;
    }
    Table table({"FIELD", "VALUE"});
    table.add({"os", or_dash(inspection.os.pretty_name)});
    table.add({"os id", or_dash(fmt::format("{} {}", inspection.os.id, inspection.os.version_id))});
    table.add({"arch", or_dash(inspection.arch)});
    table.add({"hostname", or_dash(inspection.hostname)});
    table.add({"kernels", or_dash(fmt::format("{}", fmt::join(inspection.kernels, ", ")))});
    table.add({"format", or_dash(inspection.format)});
    table.add({"virtual size", human_size(inspection.virtual_size)});
    table.add({"access", or_dash(inspection.access)});
    table.add({"packages", std::to_string(inspection.packages.size())});
    for (const auto& fs : inspection.filesystems)
      table.add({"filesystem", fmt::format("{} {} {} {}", fs.mountpoint, fs.fstype, fs.device, fs.uuid)});
    for (const auto& warning : inspection.warnings) table.add({"warning", warning});
    table.print(out);
  }

 private:
  std::string image_;
  bool json_ = false;
  bool no_guestfs_ = false;
};

}  // namespace

void add_inspect_command(CLI::App& app, Commands& commands) {
  add_command(app, commands, std::make_unique<InspectCommand>());
}

}  // namespace dormant::cli
