// Maintenance hosts: probing one (node, pool, servicing VMs) and removing
// what dead patch runs left on it. See dormant/patch/hosts.hpp.
#include "dormant/patch/hosts.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>

#include "dormant/core/error.hpp"
#include "libvirt_api.hpp"

namespace dormant::patch {
namespace {

using library::Connection;
using library::DomainHandle;
using library::last_libvirt_error;
using library::libvirt_api;
using library::PoolHandle;
using library::silence_libvirt;
using library::VolumeHandle;

constexpr std::string_view kServiceDomainPrefix = "dormant-service-";
constexpr std::string_view kVolumePrefix = "dormant-";

// "host NAME (URI)": the subject of every message about a host.
std::string subject(const catalog::Host& host) { return fmt::format("host {} ({})", host.name, host.uri); }

// The URI as it can be pasted into a shell (qemu+unix:///system?socket=...
// has a '?').
std::string shell_quoted(const std::string& text) {
  bool plain = std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view(":/._@+-=,").find(c) != std::string_view::npos;
  });
  if (plain) return text;
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::string connect_error() {
  return fmt::format(
      "cannot connect: {}; is libvirtd running there? (scripts/start-libvirt.sh starts it locally; a remote "
      "host needs libvirtd and, for qemu+ssh://, key-based ssh access as the URI's user)",
      last_libvirt_error());
}

Connection connect(const catalog::Host& host, std::string& error) {
  silence_libvirt();
  Connection conn(libvirt_api().virConnectOpen(host.uri.c_str()));
  if (!conn) error = connect_error();
  return conn;
}

// Every domain (or volume) libvirt lists, as owned handles.
std::vector<DomainHandle> list_domains(virConnectPtr conn, unsigned flags, const catalog::Host& host) {
  virDomainPtr* domains = nullptr;
  int n = libvirt_api().virConnectListAllDomains(conn, &domains, flags);
  if (n < 0) fail(ErrorKind::io, subject(host), "cannot list domains: {}", last_libvirt_error());
  std::vector<DomainHandle> out;
  for (int i = 0; i < n; ++i) out.emplace_back(domains[i]);
  std::free(domains);  // NOLINT(cppcoreguidelines-no-malloc): libvirt allocates the array with malloc
  return out;
}

std::vector<VolumeHandle> list_volumes(virStoragePoolPtr pool, const catalog::Host& host) {
  virStorageVolPtr* volumes = nullptr;
  int n = libvirt_api().virStoragePoolListAllVolumes(pool, &volumes, 0);
  if (n < 0)
    fail(ErrorKind::io, subject(host), "cannot list the volumes of storage pool {}: {}", host.pool,
         last_libvirt_error());
  std::vector<VolumeHandle> out;
  for (int i = 0; i < n; ++i) out.emplace_back(volumes[i]);
  std::free(volumes);  // NOLINT(cppcoreguidelines-no-malloc)
  return out;
}

std::string pool_missing_fix(const catalog::Host& host) {
  const std::string c = "virsh -c " + shell_quoted(host.uri);
  return fmt::format(
      "create it on that host: {0} pool-define-as {1} dir --target /var/lib/libvirt/dormant && {0} "
      "pool-build {1} "
      "&& {0} pool-start {1} && {0} pool-autostart {1}; or name an existing pool with --pool",
      c, shell_quoted(host.pool));
}

bool all_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(),
                                      [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

}  // namespace

std::string run_of_host_object(std::string_view name) {
  std::string_view rest;
  if (name.starts_with(kServiceDomainPrefix))
    rest = name.substr(kServiceDomainPrefix.size());
  else if (name.starts_with(kVolumePrefix))
    rest = name.substr(kVolumePrefix.size());
  else
    return "";
  // YYYYMMDDTHHMMSSZ-PID-<image>...
  constexpr std::size_t kStamp = 16;  // "20261129T091904Z"
  if (rest.size() < kStamp + 2 || !all_digits(rest.substr(0, 8)) || rest[8] != 'T' ||
      !all_digits(rest.substr(9, 6)) || rest[15] != 'Z' || rest[16] != '-')
    return "";
  std::size_t pid_end = kStamp + 1;
  while (pid_end < rest.size() && std::isdigit(static_cast<unsigned char>(rest[pid_end]))) ++pid_end;
  // The pid, then "-<image>" (something after the dash).
  if (pid_end == kStamp + 1 || pid_end + 1 >= rest.size() || rest[pid_end] != '-') return "";
  return std::string(rest.substr(0, pid_end));
}

HostStatus probe_host(const catalog::Host& host) {
  HostStatus status;
  status.host = host;
  const auto& api = libvirt_api();  // Error(unsupported) when libvirt is not installed
  std::string error;
  Connection conn = connect(host, error);
  if (!conn) {
    status.error = subject(host) + ": " + error;
    return status;
  }
  status.reachable = true;
  std::vector<std::string> problems;

  virNodeInfo node{};
  if (api.virNodeGetInfo(conn.get(), &node) == 0) {
    status.cpus = static_cast<int>(node.cpus);
    status.memory_mib = static_cast<std::uint64_t>(node.memory) / 1024;  // KiB
  } else {
    problems.push_back("cannot read the node's CPUs and memory: " + last_libvirt_error());
  }
  if (unsigned long long free_bytes = api.virNodeGetFreeMemory(conn.get()); free_bytes > 0)
    status.free_memory_mib = free_bytes >> 20;

  PoolHandle pool(api.virStoragePoolLookupByName(conn.get(), host.pool.c_str()));
  if (!pool) {
    problems.push_back(fmt::format("storage pool {} does not exist ({}); {}", host.pool, last_libvirt_error(),
                                   pool_missing_fix(host)));
  } else {
    virStoragePoolInfo info{};
    if (api.virStoragePoolGetInfo(pool.get(), &info) != 0) {
      problems.push_back(fmt::format("cannot read storage pool {}: {}", host.pool, last_libvirt_error()));
    } else if (info.state != VIR_STORAGE_POOL_RUNNING) {
      problems.push_back(fmt::format("storage pool {} is not active; start it: virsh -c {} pool-start {}",
                                     host.pool, shell_quoted(host.uri), shell_quoted(host.pool)));
    } else {
      status.pool_ok = true;
      status.pool_available_bytes = info.available;
    }
  }

  try {
    for (const auto& domain : list_domains(conn.get(), VIR_CONNECT_LIST_DOMAINS_ACTIVE, host)) {
      const char* name = api.virDomainGetName(domain.get());
      if (name && std::string_view(name).starts_with(kServiceDomainPrefix)) ++status.running_vms;
    }
  } catch (const Error& e) {
    problems.push_back(e.message());
  }

  if (status.pool_ok)
    status.free_slots = static_cast<int>(std::max<std::int64_t>(0, host.max_vms - status.running_vms));
  if (!problems.empty()) {
    status.error = subject(host) + ":";
    for (std::size_t i = 0; i < problems.size(); ++i) status.error += (i ? "; " : " ") + problems[i];
  }
  return status;
}

std::vector<std::string> cleanup_host(const catalog::Host& host,
                                      const std::function<bool(const std::string& run_id)>& run_is_live) {
  const auto& api = libvirt_api();
  std::string error;
  Connection conn = connect(host, error);
  if (!conn) fail(ErrorKind::io, subject(host), "{}", error);

  std::map<std::string, bool> live;  // run_is_live, asked once per run
  auto dead = [&](const std::string& run) {
    auto [it, inserted] = live.emplace(run, false);
    if (inserted) it->second = run_is_live(run);
    return !it->second;
  };
  std::vector<std::string> removed;
  std::vector<std::string> failed;

  // Domains first: their volumes are in use while they run.
  for (const auto& domain : list_domains(conn.get(), VIR_CONNECT_LIST_DOMAINS_ACTIVE, host)) {
    const char* raw = api.virDomainGetName(domain.get());
    std::string name = raw ? raw : "";
    if (!name.starts_with(kServiceDomainPrefix)) continue;
    std::string run = run_of_host_object(name);
    if (run.empty() || !dead(run)) continue;
    if (api.virDomainDestroy(domain.get()) == 0)
      removed.push_back("domain " + name);
    else
      failed.push_back(fmt::format("domain {}: {}", name, last_libvirt_error()));
  }

  PoolHandle pool(api.virStoragePoolLookupByName(conn.get(), host.pool.c_str()));
  if (!pool) {
    failed.push_back(
        fmt::format("storage pool {}: {} (its volumes were not looked at)", host.pool, last_libvirt_error()));
  } else {
    // Volumes written behind libvirt's back are listed only after a refresh;
    // an inactive pool fails here and again, clearly, when listed.
    api.virStoragePoolRefresh(pool.get(), 0);
    for (const auto& volume : list_volumes(pool.get(), host)) {
      const char* raw = api.virStorageVolGetName(volume.get());
      std::string name = raw ? raw : "";
      if (name.starts_with(kServiceDomainPrefix)) continue;  // a domain's name, not a volume's
      std::string run = run_of_host_object(name);
      if (run.empty() || !dead(run)) continue;
      if (api.virStorageVolDelete(volume.get(), 0) == 0)
        removed.push_back("volume " + name);
      else
        failed.push_back(fmt::format("volume {}: {}", name, last_libvirt_error()));
    }
  }

  if (!failed.empty())
    fail(ErrorKind::io, subject(host), "could not remove {}{}", fmt::join(failed, "; "),
         removed.empty() ? std::string() : fmt::format(" (removed: {})", fmt::join(removed, ", ")));
  return removed;
}

}  // namespace dormant::patch
