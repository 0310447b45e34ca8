// --mode service: the image runs briefly on a maintenance host to update
// itself (docs/patch.md, "Maintenance-host servicing"). Phases:
//   prepare   working copy (qcow2, from an overlay: the library image is only
//             read), the guest's kernel and initrd, the repository disk
//   copy_in   each file uploaded as a volume into the host's pool
//   boot      transient domain (no NIC), until qemu-guest-agent answers
//   update    rounds of the service script through guest-exec, a reboot
//             between two when the guest asks for one
//   shutdown  agent, then ACPI, then forced off
//   copy_out  the working copy downloaded back
//   verify    offline: clean journals, planned versions in dpkg, compliant
// The host's domain and volumes are removed whatever happens; when the
// host is gone they are listed in ImagePatch::leftovers.
#include <fmt/format.h>

#include <algorithm>
#include <thread>
#include <utility>

#include "dormant/core/error.hpp"
#include "dormant/core/sha256.hpp"
#include "dormant/image/overlay.hpp"
#include "dormant/image/probe.hpp"
#include "dormant/inspect/dpkg_status.hpp"
#include "dormant/patch/hosts.hpp"
#include "finalize_check.hpp"
#include "finalize_domain.hpp"
#include "finalize_guest.hpp"
#include "guest_agent.hpp"
#include "libvirt_api.hpp"
#include "run_context.hpp"
#include "service_domain.hpp"
#include "service_repo.hpp"
#include "service_volumes.hpp"

namespace dormant::patch {
namespace {

namespace fs = std::filesystem;
using library::libvirt_api;
using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kBootFileCap = std::uint64_t{512} << 20;
constexpr std::size_t kGuestLogCap = 256 << 10;

// Guest text goes into messages, JSON and the catalog: control characters
// other than newline and tab are replaced, and only the tail is kept.
std::string printable_tail(std::string_view text, std::size_t cap) {
  if (text.size() > cap) text = text.substr(text.size() - cap);
  std::string out(text);
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\n' && c != '\t') || u == 0x7f) c = '?';
  }
  return out;
}

// Offline, before anything is copied: the guest's dpkg database must have
// qemu-guest-agent installed.
void require_guest_agent(catalog::Catalog& catalog, const catalog::ImageRecord& image) {
  auto set = image.package_set.empty() ? std::nullopt : catalog.find_package_set(image.package_set);
  if (!set) return;  // no database read: the boot phase finds out
  for (const auto& pkg : inspect::parse_dpkg_status(set->dpkg_status).packages)
    if (pkg.name == "qemu-guest-agent" && pkg.status == "installed") return;
  fail(ErrorKind::unsupported, image.path,
       "needs qemu-guest-agent: the guest has no qemu-guest-agent installed, and a maintenance host drives "
       "the update through it. `dormant patch --mode offline` can install it (or install it in the guest "
       "once)");
}

// The reachable host with the most free VM slots (ties: the first by name).
patch::HostStatus choose_host(const std::vector<catalog::Host>& hosts, std::vector<std::string>& log) {
  if (hosts.empty()) fail(ErrorKind::usage, "service", "no maintenance host given (--hosts GROUP)");
  std::optional<HostStatus> best;
  std::vector<std::string> why_not;
  for (const auto& host : hosts) {
    auto status = probe_host(host);
    if (status.free_slots <= 0) {
      why_not.push_back(status.reachable && status.pool_ok
                            ? fmt::format("{}: all {} VM slots busy", host.name, host.max_vms)
                            : fmt::format("{}: {}", host.name, status.error));
      continue;
    }
    if (!best || status.free_slots > best->free_slots) best = std::move(status);
  }
  if (!best)
    fail(ErrorKind::limit, "service", "no maintenance host can take the image now: {}",
         fmt::join(why_not, "; "));
  log.push_back(fmt::format("host {} ({}): {} free slot(s), {} MiB free memory", best->host.name,
                            best->host.uri, best->free_slots, best->free_memory_mib));
  return *best;
}

// What the run put on the host; removed on scope exit. Anything that cannot
// be removed (the host went away) is listed in `leftovers`.
class HostObjects {
 public:
  HostObjects(virConnectPtr conn, virStoragePoolPtr pool, ImagePatch& p) : conn_(conn), pool_(pool), p_(p) {}
  ~HostObjects() { release(); }
  HostObjects(const HostObjects&) = delete;
  HostObjects& operator=(const HostObjects&) = delete;

  void add_volume(const std::string& name) { volumes_.push_back(name); }
  // Owns the handle: it must outlive the destroy in release(), whatever the
  // order the caller's locals go out of scope in.
  virDomainPtr set_domain(library::DomainHandle domain) {
    domain_ = std::move(domain);
    return domain_.get();
  }
  void domain_gone() { domain_.reset(); }

  void release() {
    if (domain_) {
      if (libvirt_api().virDomainDestroy(domain_.get()) == 0 || !domain_exists())
        p_.phase_log.push_back(fmt::format("cleanup: domain {} destroyed", p_.domain));
      else
        p_.leftovers.push_back(fmt::format("domain {} ({})", p_.domain, library::last_libvirt_error()));
      domain_.reset();
    }
    for (const auto& name : volumes_) {
      if (detail::delete_volume(pool_, name))
        p_.phase_log.push_back(fmt::format("cleanup: volume {} deleted", name));
      else
        p_.leftovers.push_back(fmt::format("volume {} ({})", name, library::last_libvirt_error()));
    }
    volumes_.clear();
  }

 private:
  bool domain_exists() {
    library::DomainHandle d(libvirt_api().virDomainLookupByName(conn_, p_.domain.c_str()));
    return d != nullptr;
  }
  virConnectPtr conn_;
  virStoragePoolPtr pool_;
  ImagePatch& p_;
  library::DomainHandle domain_;
  std::vector<std::string> volumes_;
};

bool domain_active(virDomainPtr domain) { return libvirt_api().virDomainIsActive(domain) == 1; }

bool wait_until_off(virDomainPtr domain, Clock::time_point deadline) {
  while (Clock::now() < deadline) {
    if (!domain_active(domain)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return !domain_active(domain);
}

// Agent, then ACPI, then forced off; returns which one stopped it.
std::string shut_down(virDomainPtr domain, detail::GuestAgent& agent, std::chrono::seconds timeout,
                      std::vector<std::string>& log) {
  const auto start = Clock::now();
  const auto half = start + timeout / 2;
  if (agent.shutdown()) {
    log.push_back("shutdown: asked the guest agent to power off");
    if (wait_until_off(domain, half)) return "agent";
    log.push_back("shutdown: still running after the agent's power-off; sending the ACPI power button");
  } else {
    log.push_back(
        fmt::format("shutdown: the agent refused ({}); sending the ACPI power button", agent.last_error()));
  }
  if (libvirt_api().virDomainShutdownFlags(domain, VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN) == 0 &&
      wait_until_off(domain, start + timeout))
    return "acpi";
  log.push_back(fmt::format("shutdown: not off after {} s; forcing it off", timeout.count()));
  libvirt_api().virDomainDestroy(domain);
  return "forced";
}

[[noreturn]] void phase_failed(ImagePatch& p, ErrorKind kind, std::string_view phase,
                               const std::string& why) {
  p.step = std::string(phase);
  fail(kind, p.image.path, "{}", why);
}

// After a guest operation failed: when the connection to the host is gone,
// that is the failure to report (not the guest's silence).
void fail_if_host_gone(virConnectPtr conn, ImagePatch& p, std::string_view phase) {
  if (libvirt_api().virConnectIsAlive(conn) == 1) return;
  phase_failed(
      p, ErrorKind::io, phase,
      fmt::format("lost the connection to host {} during {} ({}); the library image is unchanged and "
                  "nothing was committed",
                  p.host, phase, library::last_libvirt_error()));
}

}  // namespace

fs::path service_image(RunContext& ctx, ImagePatch& p, const assess::ImageAssessment& a,
                       const std::vector<assess::DownloadedPackage>& debs, const fs::path& work) {
  const auto& options = ctx.options;
  const auto& timeouts = options.service_timeouts;
  const fs::path library_dir = fs::path(p.image.path).parent_path();
  auto note = [&p](std::string line) { p.phase_log.push_back(std::move(line)); };

  // The cheap refusals first: no agent, no host free.
  p.step = "prepare";
  note(fmt::format("prepare: {} maintenance host(s) to choose from", options.hosts.size()));
  require_guest_agent(ctx.catalog, p.image);
  const auto host = choose_host(options.hosts, p.phase_log);
  p.host = host.host.name;
  // Durable before anything is put on the host: reconciliation cleans it.
  record(ctx.catalog, ctx.run_id, p);
  kill_point("host-chosen");
  {
    StepTimer h(p, "hash_before");
    p.old_sha256 = sha256_file(p.image.path).sha256;
  }
  image::ProbeOptions base_probe;
  base_probe.allowed_roots = {library_dir};
  base_probe.format = image::format_from_string(p.image.format);
  const auto probe = image::probe_image(p.image.path, base_probe);
  std::uint64_t deb_bytes = 0;
  for (const auto& d : debs) deb_bytes += d.size;
  // The working copy, the copy brought back and the new image.
  check_host_space(library_dir, 2 * deb_bytes + 2 * probe.file_size, probe.file_size);

  const fs::path overlay = work / "overlay.qcow2";
  const fs::path upload = work / "upload.qcow2";
  detail::BootFiles boot;
  detail::RepoDisk repo;
  {
    StepTimer t(p, "prepare");
    image::create_overlay(probe, overlay);
    fs::create_directories(work / "boot");
    boot = detail::extract_boot_files(overlay, work / "boot", kBootFileCap);
    image::flatten_overlay(overlay, "qcow2", upload);
    fs::remove(overlay);
    repo = detail::build_repo_disk(work, ctx.run_id, p, debs);
    note(fmt::format(
        "prepare: working copy ({} bytes), kernel {}, repository disk of {} package(s) ({} bytes)",
        fs::file_size(upload), boot.guest.kernel, debs.size(), repo.size));
  }

  library::silence_libvirt();
  library::Connection conn(libvirt_api().virConnectOpen(host.host.uri.c_str()));
  if (!conn)
    phase_failed(p, ErrorKind::io, "copy_in",
                 fmt::format("host {} ({}): cannot connect: {}", host.host.name, host.host.uri,
                             library::last_libvirt_error()));
  library::PoolHandle pool(libvirt_api().virStoragePoolLookupByName(conn.get(), host.host.pool.c_str()));
  if (!pool)
    phase_failed(
        p, ErrorKind::io, "copy_in",
        fmt::format("host {}: pool {}: {}", host.host.name, host.host.pool, library::last_libvirt_error()));
  HostObjects objects(conn.get(), pool.get(), p);
  const std::string prefix = fmt::format("dormant-{}-{}", ctx.run_id, p.image.id);
  p.domain = fmt::format("dormant-service-{}-{}", ctx.run_id, p.image.id);

  detail::ServiceDomainSpec spec;
  spec.name = p.domain;
  spec.memory_mib = static_cast<unsigned>(host.host.memory_mib);
  spec.cmdline = detail::kernel_cmdline(boot.root_uuid);
  {
    StepTimer t(p, "copy_in");
    p.step = "copy_in";
    const auto deadline = Clock::now() + timeouts.copy;
    auto put = [&](const std::string& suffix, const std::string& format, std::uint64_t capacity,
                   const fs::path& file) {
      const std::string name = prefix + "-" + suffix;
      objects.add_volume(name);
      auto path = detail::upload_volume(conn.get(), pool.get(), name, format, capacity, file, deadline);
      note(fmt::format("copy_in: {} -> {}:{} ({} bytes)", file.filename().string(), host.host.name, path,
                       fs::file_size(file)));
      return path;
    };
    spec.disk = put("disk.qcow2", "qcow2", probe.virtual_size, upload);
    spec.repo = put("repo.img", "raw", repo.size, repo.image);
    spec.kernel = put("vmlinuz", "raw", fs::file_size(boot.kernel), boot.kernel);
    spec.initrd = put("initrd.img", "raw", fs::file_size(boot.initrd), boot.initrd);
    fs::remove(upload);
  }
  record(ctx.catalog, ctx.run_id, p);
  kill_point("copied");

  const std::string xml = detail::service_domain_xml(spec);
  // Auto-destroy: when dormant dies, libvirtd destroys the domain.
  library::DomainHandle created(
      libvirt_api().virDomainCreateXML(conn.get(), xml.c_str(), VIR_DOMAIN_START_AUTODESTROY));
  if (!created)
    phase_failed(p, ErrorKind::io, "boot",
                 fmt::format("host {} refused to start the servicing domain: {}", host.host.name,
                             library::last_libvirt_error()));
  virDomainPtr domain = objects.set_domain(std::move(created));
  note(fmt::format("boot: domain {} started on {} (no network device)", p.domain, host.host.name));
  detail::GuestAgent agent(domain);
  {
    StepTimer t(p, "boot");
    p.step = "boot";
    if (!agent.wait_ready(Clock::now() + timeouts.boot)) {
      fail_if_host_gone(conn.get(), p, "boot");
      phase_failed(
          p, ErrorKind::limit, "boot",
          fmt::format("needs qemu-guest-agent: the guest agent did not answer within {} s of the start "
                      "({}); the VM was stopped and nothing was committed",
                      timeouts.boot.count(), agent.last_error()));
    }
    note("boot: the guest agent answers");
  }
  record(ctx.catalog, ctx.run_id, p);
  kill_point("booted");

  const std::string script = detail::service_script(ctx.run_id);
  for (;;) {
    ++p.rounds;
    detail::ServiceRound round;
    {
      StepTimer t(p, "update");
      p.step = "update";
      auto result = agent.exec({"/bin/sh", "-c", script}, Clock::now() + timeouts.update);
      p.guest_log += fmt::format("--- round {} ---\n{}{}", p.rounds, result.out, result.err);
      p.guest_log = printable_tail(p.guest_log, kGuestLogCap);
      if (!result.exited) fail_if_host_gone(conn.get(), p, "update");
      if (!result.exited)
        phase_failed(p, ErrorKind::limit, "update",
                     fmt::format("update round {} did not finish within {} s ({}); the VM was stopped and "
                                 "nothing was committed (guest-exec returns output only at the end)",
                                 p.rounds, timeouts.update.count(), agent.last_error()));
      round = detail::parse_service_output(result.out);
      p.guest_interfaces = round.interfaces;
      note(fmt::format(
          "update: round {}: status {}, apt exit {}, {} pending{}, {} network interface(s) besides lo",
          p.rounds, round.status.empty() ? "none" : round.status, round.apt_exit, round.pending,
          round.reboot_required ? ", reboot required" : "", round.interfaces));
      if (round.status != "success")
        phase_failed(p, ErrorKind::corrupt, "update",
                     fmt::format("the update failed in the guest (status {}, exit status {}); nothing was "
                                 "committed. Its output ends:\n{}",
                                 round.status.empty() ? "none" : round.status, result.exit_code,
                                 tail_lines(printable_tail(result.out + result.err, kGuestLogCap), 15)));
      p.pending_after = round.pending;
    }
    const bool again = round.reboot_required || round.pending != 0;
    if (!again) break;
    if (p.rounds >= options.max_rounds)
      phase_failed(
          p, ErrorKind::limit, "update",
          fmt::format("after {} rounds the guest still has {} update(s) pending{}; nothing was "
                      "committed",
                      p.rounds, round.pending, round.reboot_required ? " and asks for a reboot" : ""));
    if (round.reboot_required) {
      StepTimer t(p, "boot");
      p.step = "boot";
      const auto deadline = Clock::now() + timeouts.boot;
      const std::string before = agent.boot_id(deadline);
      if (libvirt_api().virDomainReboot(domain, VIR_DOMAIN_REBOOT_GUEST_AGENT) != 0)
        phase_failed(
            p, ErrorKind::io, "boot",
            fmt::format("the reboot the update asked for failed: {}", library::last_libvirt_error()));
      note("boot: rebooting as the update asked (/run/reboot-required)");
      bool back = false;
      while (!back && Clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::seconds(2));
        back = agent.wait_ready(deadline) && agent.boot_id(deadline) != before;
      }
      if (!back) fail_if_host_gone(conn.get(), p, "boot");
      if (!back)
        phase_failed(
            p, ErrorKind::limit, "boot",
            fmt::format("the guest did not come back from its reboot within {} s", timeouts.boot.count()));
      note("boot: the guest agent answers after the reboot");
    }
  }

  {
    StepTimer t(p, "shutdown");
    p.step = "shutdown";
    p.shutdown = shut_down(domain, agent, timeouts.shutdown, p.phase_log);
    if (p.shutdown == "forced") fail_if_host_gone(conn.get(), p, "shutdown");
    objects.domain_gone();
    if (p.shutdown == "forced")
      phase_failed(
          p, ErrorKind::limit, "shutdown",
          fmt::format("the guest did not shut down within {} s and was forced off; its filesystems may "
                      "be inconsistent, so nothing was committed",
                      timeouts.shutdown.count()));
    note(fmt::format("shutdown: off ({})", p.shutdown));
  }
  record(ctx.catalog, ctx.run_id, p);
  kill_point("shut-down");

  const fs::path returned = work / "returned.qcow2";
  {
    StepTimer t(p, "copy_out");
    p.step = "copy_out";
    detail::download_volume(conn.get(), pool.get(), prefix + "-disk.qcow2", returned,
                            Clock::now() + timeouts.copy);
    note(fmt::format("copy_out: {} bytes back from {}", fs::file_size(returned), host.host.name));
  }
  objects.release();
  record(ctx.catalog, ctx.run_id, p);
  kill_point("copied-out");
  if (!p.leftovers.empty())
    phase_failed(p, ErrorKind::io, "cleanup",
                 fmt::format("could not remove from host {}: {}; `dormant host cleanup {}` removes them",
                             host.host.name, fmt::join(p.leftovers, ", "), host.host.name));

  StepTimer t(p, "verify");
  p.step = "verify";
  image::ProbeOptions work_probe;
  work_probe.allowed_roots = {work};
  work_probe.format = image::ImageFormat::qcow2;
  const auto returned_probe = image::probe_image(returned, work_probe);
  if (returned_probe.backing_file || returned_probe.virtual_size != probe.virtual_size)
    phase_failed(p, ErrorKind::hostile, "verify",
                 "the image brought back from the host is not a standalone qcow2 of the original size");
  const fs::path checked = work / "verify.qcow2";
  image::create_overlay(returned_probe, checked);
  FinalizeCheck check;
  {
    auto guest = image::open_guest_writer(checked, work_probe);
    if (journals_clean(*guest, "servicing", check))
      check_installed(*guest, p, *a.universe, options, ctx.scratch, check);
  }
  p.applied = check.applied;
  p.compliance_after = check.compliance;
  p.applied_status = "success";
  if (!check.problem.empty())
    phase_failed(p, ErrorKind::corrupt, "verify", check.problem + "; nothing was committed");
  p.verified = true;
  p.state = "verified";
  record(ctx.catalog, ctx.run_id, p);
  return checked;
}

}  // namespace dormant::patch
