// dormant patch: --mode offline stages verified updates into images without
// booting them; --mode service runs each image briefly on a maintenance host
// (docs/patch.md).
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <ostream>

#include "command.hpp"
#include "dormant/assess/assess.hpp"
#include "dormant/core/error.hpp"
#include "dormant/core/paths.hpp"
#include "dormant/library/identify.hpp"
#include "dormant/patch/patch.hpp"
#include "output.hpp"
#include "progress.hpp"

namespace dormant::cli {
namespace {

namespace fs = std::filesystem;

std::string change_text(const assess::PackageChange& c) {
  return fmt::format("{}:{} {} -> {}{}", c.name, c.arch, or_dash(c.installed), or_dash(c.candidate),
                     c.security ? " (security)" : "");
}

class PatchCommand final : public Command {
 public:
  CLI::App* configure(CLI::App& parent) override {
    auto* cmd = parent.add_subcommand(
        "patch", "Patch images: offline (staged into the image) or on a maintenance host");
    add_selection_options(cmd, selection_, "patch");
    cmd->add_option("--mode", mode_,
                    "offline: stage the update into the image, applied at its next boot; service: run the "
                    "image on a maintenance host (--hosts) until it is up to date")
        ->check(CLI::IsMember({"offline", "service"}))
        ->capture_default_str();
    cmd->add_option("--hosts", host_group_, "--mode service: the host group to run on (`dormant host add`)");
    cmd->add_option("--host", host_name_, "--mode service: run on this one host (instead of --hosts)");
    // The job run this patch serves: set by `dormant job run` for its items.
    cmd->add_option("--job-run", job_run_id_, "")->group("");
    cmd->add_option("--copy-timeout", copy_timeout_s_, "--mode service: seconds per upload or download")
        ->check(CLI::Range(10, 86400))
        ->capture_default_str();
    cmd->add_option("--boot-timeout", boot_timeout_s_,
                    "--mode service: seconds from start (or reboot) until the guest agent answers")
        ->check(CLI::Range(10, 86400))
        ->capture_default_str();
    cmd->add_option("--update-timeout", update_timeout_s_,
                    "--mode service: seconds per update round in the guest")
        ->check(CLI::Range(5, 86400))
        ->capture_default_str();
    cmd->add_option("--shutdown-timeout", shutdown_timeout_s_,
                    "--mode service: seconds for agent then ACPI shutdown before it is forced off")
        ->check(CLI::Range(10, 86400))
        ->capture_default_str();
    cmd->add_option("--max-rounds", max_rounds_,
                    "--mode service: update rounds (a reboot between two) before giving up")
        ->check(CLI::Range(1, 10))
        ->capture_default_str();
    cmd->add_flag(
        "--security-only", security_only_,
        "Install only security updates and what they need (default: everything dist-upgrade would)");
    cmd->add_option("--exclude,-x", exclude_, "Keep this package at its installed version (repeatable)");
    cmd->add_flag("--dry-run,-n", dry_run_, "Print the plan and change nothing");
    cmd->add_flag("--finalize", finalize_,
                  "Boot each staged image once (libvirt, qemu, no network device) so the update is applied "
                  "before the image goes back; commit only if it was");
    cmd->add_option("--finalize-timeout", finalize_timeout_s_,
                    "Seconds a finalize boot may take (default: 120 + 20 per package + 1200 per kernel)")
        ->check(CLI::Range(10, 86400));
    cmd->add_option("--connect,-c", libvirt_uri_, "libvirt URI for --finalize")->capture_default_str();
    cmd->add_flag("--replay-journal", replay_journal_,
                  "Replay an ext journal that needs recovery on the overlay (default: refuse such images)");
    cmd->add_option("--keep-versions", keep_versions_,
                    "Previous versions kept per image for `dormant rollback`")
        ->check(CLI::Range(0, 1000))
        ->capture_default_str();
    add_json_flag(cmd, json_);
    cmd->add_flag("--offline", offline_, "Do not fetch indexes: use each source's last successful fetch");
    cmd->add_flag("--no-identify", no_identify_, "Do not run identify first");
    cmd->add_option("--cache-dir", cache_dir_, "Indexes and the verified .deb cache")->capture_default_str();
    cmd->add_option("--timeout", timeout_s_, "Seconds the resolver or a download may take per image")
        ->check(CLI::Range(1, 86400))
        ->capture_default_str();
    cmd->footer(
        "Per image: plan (the assessment's dist-upgrade), download the .debs into a verified cache (hashes\n"
        "from the signed indexes), write them and a systemd offline-update unit into a qcow2 overlay of the\n"
        "image (never the image itself), verify the overlay (every staged file re-hashed, e2fsck clean), "
        "with\n"
        "--finalize boot it once without network and check the guest applied the update, then replace the\n"
        "library image atomically. The previous version is kept for `dormant rollback`. Whatever fails, the\n"
        "library image stays byte-identical. Without --finalize the guest applies the update at its next\n"
        "boot, before its network and services start (systemd.offline-updates(7)).\n\n"
        "--mode service instead uploads a copy of the image to a maintenance host (libvirt storage "
        "volumes),\n"
        "starts it there with no network device and a read-only disk holding exactly the planned packages,\n"
        "updates it through qemu-guest-agent until apt in the guest has nothing pending (rebooting when it\n"
        "asks), shuts it down, brings it back, verifies it offline and commits it the same way.\n\n"
        "Examples:\n"
        "  dormant patch web1.qcow2 --mode offline --dry-run\n"
        "  dormant patch --group web --mode service --hosts maint\n"
        "  dormant patch --group web --mode offline --security-only --finalize\n"
        "  dormant rollback web1.qcow2");
    return cmd;
  }

  void run(Context& context) override {
    TerminalProgress progress(*context.err, ::isatty(STDERR_FILENO) == 1, context.verbose);
    if (!host_group_.empty() && !host_name_.empty())
      fail(ErrorKind::usage, "patch", "give --hosts GROUP or --host NAME, not both");
    if (mode_ == "service") {
      if (host_group_.empty() && host_name_.empty())
        fail(ErrorKind::usage, "patch",
             "--mode service needs --hosts GROUP (a host group of `dormant host add`) or --host NAME");
      if (finalize_)
        fail(ErrorKind::usage, "patch", "--finalize is for --mode offline; --mode service boots anyway");
    } else if (!host_group_.empty() || !host_name_.empty()) {
      fail(ErrorKind::usage, "patch", "--hosts and --host are for --mode service");
    }
    std::vector<catalog::Host> hosts;
    if (!host_group_.empty()) {
      hosts = context.catalog().hosts_in_group(host_group_);
      if (hosts.empty())
        fail(ErrorKind::not_found, host_group_,
             "no maintenance host in this group; add one with `dormant host add NAME URI --group {}`",
             host_group_);
    }
    if (!host_name_.empty()) {
      auto host = context.catalog().find_host(host_name_);
      if (!host) fail(ErrorKind::not_found, host_name_, "no such maintenance host (`dormant host list`)");
      hosts.push_back(*host);
    }
    auto selected = identify_and_select(context, selection_, "patch", !no_identify_, progress);
    auto& catalog = context.catalog();

    patch::PatchOptions options;
    options.cache_dir = fs::absolute(cache_dir_);
    options.worker_exe = own_executable();
    options.refresh = !offline_;
    options.security_only = security_only_;
    options.exclude = exclude_;
    options.dry_run = dry_run_;
    options.finalize = finalize_;
    options.finalize_timeout = std::chrono::seconds(finalize_timeout_s_);
    options.libvirt_uri = libvirt_uri_;
    options.replay_journal = replay_journal_;
    options.keep_versions = keep_versions_;
    options.timeout_per_image = std::chrono::seconds(timeout_s_);
    options.mode = mode_ == "service" ? patch::PatchMode::service : patch::PatchMode::offline;
    options.hosts = hosts;
    options.service_timeouts = {std::chrono::seconds(copy_timeout_s_), std::chrono::seconds(boot_timeout_s_),
                                std::chrono::seconds(update_timeout_s_),
                                std::chrono::seconds(shutdown_timeout_s_)};
    options.max_rounds = max_rounds_;
    if (job_run_id_ > 0) options.job_run_id = job_run_id_;
    auto report = patch::patch_images(catalog, selected, options, progress);

    // The committed images are new files: record them, and their compliance.
    if (report.committed > 0) {
      library::identify(catalog, {}, progress);
      std::vector<catalog::ImageRecord> committed;
      for (const auto& p : report.images)
        if (p.state == "committed")
          if (auto image = catalog.find_image(p.image.path)) committed.push_back(*image);
      assess::AssessOptions reassess;
      reassess.cache_dir = options.cache_dir;
      reassess.worker_exe = options.worker_exe;
      reassess.refresh = false;
      reassess.timeout_per_image = options.timeout_per_image;
      assess::assess_images(catalog, committed, reassess, progress);
    }

    if (json_)
      *context.out << patch::to_json(report).dump(2) << '\n';
    else
      print(*context.out, report);
    if (report.failed > 0) context.exit_status = 1;
  }

 private:
  void print(std::ostream& out, const patch::PatchReport& report) const {
    const bool service = mode_ == "service";
    Table table({"IMAGE", "STATE", "INSTALL", "REMOVE", service ? "HOST" : "STAGED", "APPLIED", "REASON"});
    for (const auto& p : report.images) {
      std::size_t debs = 0;
      for (const auto& f : p.staged)
        if (f.guest_path.ends_with(".deb")) ++debs;
      std::string state = p.state == "failed" ? fmt::format("failed ({})", p.step) : p.state;
      table.add({p.image.path, state, std::to_string(p.installs.size()), std::to_string(p.removals.size()),
                 service ? or_dash(p.host) : std::to_string(debs),
                 p.applied ? std::to_string(*p.applied) : "-", or_dash(p.reason)});
    }
    table.print(out);
    for (const auto& p : report.images) {
      if (p.installs.empty() && p.removals.empty() && p.not_planned.empty()) continue;
      if (!dry_run_ && report.images.size() > 1) continue;
      out << p.image.path << ":\n";
      for (const auto& c : p.installs)
        out << "    " << (c.installed.empty() ? "install " : "upgrade ") << change_text(c) << '\n';
      for (const auto& c : p.removals) out << "    remove  " << change_text(c) << '\n';
      for (const auto& c : p.not_planned)
        out << "    skip    " << change_text(c) << " [" << assess::to_string(c.action) << "]\n";
      if (!p.version_path.empty()) out << "    previous version kept as " << p.version_path << '\n';
      for (const auto& line : p.phase_log) out << "    " << line << '\n';
    }
    out << fmt::format("{} images: {} committed, {} nothing to do, {} failed{} (run {})\n",
                       report.images.size(), report.committed, report.nothing_to_do, report.failed,
                       report.dry_run ? "; dry run, nothing changed" : "", report.run_id);
  }

  ImageSelection selection_;
  std::string mode_ = "offline";
  std::string host_group_;
  std::string host_name_;
  std::int64_t job_run_id_ = 0;
  int copy_timeout_s_ = 900;
  int boot_timeout_s_ = 300;
  int update_timeout_s_ = 1800;
  int shutdown_timeout_s_ = 180;
  int max_rounds_ = 3;
  bool security_only_ = false;
  std::vector<std::string> exclude_;
  bool dry_run_ = false;
  bool finalize_ = false;
  int finalize_timeout_s_ = 0;
  std::string libvirt_uri_ = "qemu:///system";
  bool replay_journal_ = false;
  std::size_t keep_versions_ = 2;
  bool json_ = false;
  bool offline_ = false;
  bool no_identify_ = false;
  std::string cache_dir_ = default_cache_dir().string();
  int timeout_s_ = 300;
};

}  // namespace

void add_patch_command(CLI::App& app, Commands& commands) {
  add_command(app, commands, std::make_unique<PatchCommand>());
}

}  // namespace dormant::cli
