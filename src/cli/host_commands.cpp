// dormant host add|list|remove|cleanup: the maintenance hosts that servicing
// VMs (`dormant patch --mode service`) run on.
#include <fmt/format.h>

#include <future>
#include <nlohmann/json.hpp>
#include <ostream>

#include "command.hpp"
#include "dormant/catalog/json.hpp"
#include "dormant/core/error.hpp"
#include "dormant/patch/hosts.hpp"
#include "dormant/patch/patch.hpp"
#include "output.hpp"

namespace dormant::cli {
namespace {

// The probe's message without its "host NAME (URI): " prefix, which becomes
// the Error's subject.
[[noreturn]] void fail_probe(ErrorKind kind, const patch::HostStatus& status) {
  std::string subject = fmt::format("host {} ({})", status.host.name, status.host.uri);
  std::string message = status.error;
  if (message.starts_with(subject + ": ")) message.erase(0, subject.size() + 2);
  throw Error(kind, subject, message);
}

class HostAddCommand final : public Command {
 public:
  CLI::App* configure(CLI::App& parent) override {
    auto* cmd = parent.add_subcommand("add", "Add a maintenance host: a libvirt daemon servicing VMs run on");
    cmd->add_option("NAME", host_.name, "Host name (letters, digits, '.', '_', '-')")->required();
    cmd->add_option("URI", host_.uri,
                    "libvirt connection URI: qemu:///system (this machine), qemu+ssh://root@HOST/system, "
                    "qemu+tls://HOST/system, qemu+unix:///system?socket=PATH (a second local daemon)")
        ->required();
    cmd->add_option("--group", host_.host_group,
                    "Host group: patch runs are sent to a group, whose hosts are interchangeable")
        ->capture_default_str();
    cmd->add_option("--max-vms", host_.max_vms, "Servicing VMs this host runs at once (at least 1)")
        ->capture_default_str();
    cmd->add_option("--memory", host_.memory_mib,
                    "Memory of each servicing VM in MiB, unless the image says otherwise (at least 128)")
        ->capture_default_str();
    cmd->add_option("--pool", host_.pool,
                    "libvirt storage pool on the host for the servicing VMs' temporary volumes")
        ->capture_default_str();
    cmd->add_flag("--no-check", no_check_,
                  "Do not connect to the host first (add one that is down now, or prepared later)");
    cmd->footer(
        "The host is probed first: it must answer on URI and have the pool, active. Connecting\n"
        "needs the same rights servicing will (a read-write connection).\n\n"
        "Examples:\n"
        "  dormant host add local qemu:///system --max-vms 2 --memory 2048\n"
        "  dormant host add kvm2 qemu+ssh://root@kvm2.example.org/system --group dc1 --pool dormant\n"
        "  virsh -c qemu+ssh://root@kvm2.example.org/system pool-define-as dormant dir --target "
        "/var/lib/libvirt/dormant \\\n"
        "      && virsh -c ... pool-build dormant && virsh -c ... pool-start dormant   # making the pool");
    return cmd;
  }

  void run(Context& context) override {
    catalog::validate_host(host_);
    auto& catalog = context.catalog();
    if (catalog.find_host(host_.name))
      fail(ErrorKind::conflict, host_.name, "a host with this name exists already; see `dormant host list`");
    std::string checked = " (not checked: --no-check)";
    if (!no_check_) {
      auto status = patch::probe_host(host_);
      if (!status.reachable) fail_probe(ErrorKind::io, status);
      if (!status.pool_ok) fail_probe(ErrorKind::not_found, status);
      if (!status.error.empty()) *context.err << "dormant: warning: " << status.error << '\n';
      checked =
          fmt::format("; it answers: {} CPUs, {} free memory, {} free in the pool", status.cpus,
                      human_size(status.free_memory_mib << 20), human_size(status.pool_available_bytes));
    }
    catalog.add_host(host_);
    *context.out << fmt::format("added host {} ({}, group {}, up to {} VMs of {} MiB, pool {}){}\n",
                                host_.name, host_.uri, host_.host_group, host_.max_vms, host_.memory_mib,
                                host_.pool, checked);
  }

 private:
  catalog::Host host_;
  bool no_check_ = false;
};

class HostListCommand final : public Command {
 public:
  CLI::App* configure(CLI::App& parent) override {
    auto* cmd =
        parent.add_subcommand("list", "List maintenance hosts, probing each: reachable, free capacity");
    add_json_flag(cmd, json_);
    cmd->footer(
        "Every host is connected to (in parallel). VMS is running servicing VMs / --max-vms; FREE-MEM the\n"
        "host's free memory; POOL-FREE the space left in its pool. A host that does not answer, or whose\n"
        "pool is missing or inactive, is listed with a warning on stderr saying why; the exit status is\n"
        "0 all the same (it is a report).\n\n"
        "Example:\n  dormant host list --json");
    return cmd;
  }

  void run(Context& context) override {
    auto hosts = context.catalog().hosts();
    std::vector<std::future<patch::HostStatus>> probes;
    probes.reserve(hosts.size());
    for (const auto& host : hosts)
      probes.push_back(std::async(std::launch::async, [host] { return patch::probe_host(host); }));
    std::vector<patch::HostStatus> statuses;
    for (auto& probe : probes) statuses.push_back(probe.get());

    for (const auto& s : statuses)
      if (!s.error.empty()) *context.err << "dormant: warning: " << s.error << '\n';
    if (json_) {
      nlohmann::json j = nlohmann::json::array();
      for (const auto& s : statuses) j.push_back(patch::to_json(s));
      *context.out << j.dump(2) << '\n';
      return;
    }
    Table table({"NAME", "URI", "GROUP", "REACHABLE", "VMS", "FREE-MEM", "POOL-FREE"});
    for (const auto& s : statuses) {
      std::string pool = !s.reachable ? "-" : s.pool_ok ? human_size(s.pool_available_bytes) : "unusable";
      table.add({s.host.name, s.host.uri, s.host.host_group, s.reachable ? "yes" : "NO",
                 s.reachable ? fmt::format("{}/{}", s.running_vms, s.host.max_vms)
                             : fmt::format("?/{}", s.host.max_vms),
                 s.reachable ? human_size(s.free_memory_mib << 20) : "-", pool});
    }
    table.print(*context.out);
    std::size_t unreachable = 0;
    for (const auto& s : statuses) unreachable += s.reachable ? 0 : 1;
    if (unreachable > 0)
      *context.err << fmt::format("dormant: {} of {} hosts did not answer\n", unreachable, statuses.size());
  }

 private:
  bool json_ = false;
};

class HostRemoveCommand final : public Command {
 public:
  CLI::App* configure(CLI::App& parent) override {
    auto* cmd = parent.add_subcommand(
        "remove", "Remove a maintenance host from the catalog (nothing on the host is touched)");
    cmd->add_option("NAME", name_, "Host name")->required();
    cmd->footer(
        "Run `dormant host cleanup NAME` first to remove what dead patch runs left there.\n\n"
        "Example:\n  dormant host remove kvm2");
    return cmd;
  }

  void run(Context& context) override {
    context.catalog().remove_host(name_);
    *context.out << "removed host " << name_ << '\n';
  }

 private:
  std::string name_;
};

class HostCleanupCommand final : public Command {
 public:
  CLI::App* configure(CLI::App& parent) override {
    auto* cmd = parent.add_subcommand(
        "cleanup", "Remove the servicing VMs and temporary volumes that dead patch runs left on a host");
    cmd->add_option("NAME", name_, "Host name")->required();
    add_json_flag(cmd, json_);
    cmd->footer(
        "dormant names what it makes on a host after the patch run: domains dormant-service-<run>-<image>\n"
        "and volumes dormant-<run>-<image>-<what> in the host's pool. Those of runs that are not live are\n"
        "destroyed and deleted; a run is live while the catalog records it as running and its process\n"
        "(the pid at the end of the run id) exists on this machine. Nothing else on the host is touched.\n\n"
        "Example:\n  dormant host cleanup kvm2");
    return cmd;
  }

  void run(Context& context) override {
    auto& catalog = context.catalog();
    auto host = catalog.find_host(name_);
    if (!host) fail(ErrorKind::not_found, name_, "no such host; see `dormant host list`");
    auto removed = patch::cleanup_host(
        *host, [&](const std::string& run_id) { return patch::patch_run_is_live(catalog, run_id); });
    if (json_) {
      *context.out << nlohmann::json{{"host", host->name}, {"removed", removed}}.dump(2) << '\n';
      return;
    }
    for (const auto& what : removed) *context.out << "removed " << what << '\n';
    *context.out << fmt::format("host {}: {}\n", host->name,
                                removed.empty()
                                    ? std::string("nothing left by dead patch runs")
                                    : fmt::format("removed {} leftovers of dead patch runs", removed.size()));
  }

 private:
  std::string name_;
  bool json_ = false;
};

}  // namespace

void add_host_commands(CLI::App& app, Commands& commands) {
  auto* host = app.add_subcommand(
      "host", "Manage maintenance hosts: libvirt daemons that servicing VMs (patch --mode service) run on");
  host->require_subcommand(1);
  host->footer("Example:\n  dormant host add local qemu:///system --max-vms 2 && dormant host list");
  add_command(*host, commands, std::make_unique<HostAddCommand>());
  add_command(*host, commands, std::make_unique<HostListCommand>());
  add_command(*host, commands, std::make_unique<HostRemoveCommand>());
  add_command(*host, commands, std::make_unique<HostCleanupCommand>());
}

}  // namespace dormant::cli
