// Maintenance hosts (`dormant host`): the libvirt daemons that servicing VMs
// of `dormant patch --mode service` run on. Probing one says whether it can
// take work now; cleaning one removes what dead patch runs left on it.
//
// What dormant leaves on a host is found by name only: domains
// "dormant-service-<run>-<image>" and volumes "dormant-<run>-<image>-<what>"
// in the host's pool, <run> being a patch run id ("20261129T091904Z-2581":
// UTC start, dash, pid of the dormant process that ran it).
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "dormant/catalog/catalog.hpp"

namespace dormant::patch {

struct HostStatus {
  catalog::Host host;
  bool reachable = false;
  std::string error;  // why not reachable, or why the pool is unusable (libvirt's words + the fix)
  int cpus = 0;
  std::uint64_t memory_mib = 0, free_memory_mib = 0;  // of the host (virNodeGetInfo, virNodeGetFreeMemory)
  bool pool_ok = false;                               // the pool exists and is active
  std::uint64_t pool_available_bytes = 0;
  int running_vms = 0;  // active domains whose name starts with "dormant-service-"
  int free_slots = 0;   // max_vms - running_vms (>= 0); 0 when unreachable or the pool is unusable
};

// Connects to the host (read-write, as servicing will) and reads its node
// info, its pool and its running servicing VMs. Never throws for the host's
// own failures: they are in `error` ("host NAME (URI): cannot connect: ...;
// is libvirtd running there? ..."). Error(unsupported) only when libvirt
// itself is not installed here.
HostStatus probe_host(const catalog::Host& host);

// Every field; the host's own under "host" (its memory_mib is the servicing
// VMs', the status's the node's). As `dormant host list --json` prints it.
nlohmann::json to_json(const HostStatus& status);

// Destroys the running "dormant-service-*" domains and deletes the
// "dormant-<run>-*" volumes in the host's pool of every run for which
// run_is_live(run) is false (asked once per run). Returns what it removed,
// each prefixed "domain " or "volume ". Error(io) when the host is
// unreachable, or naming what could not be removed (after removing the rest).
std::vector<std::string> cleanup_host(const catalog::Host& host,
                                      const std::function<bool(const std::string& run_id)>& run_is_live);

// The run id inside such a domain or volume name, or "" when the name is
// not dormant's: "dormant-service-20261129T091904Z-2581-7" and
// "dormant-20261129T091904Z-2581-7-disk.qcow2" both give
// "20261129T091904Z-2581".
std::string run_of_host_object(std::string_view name);

}  // namespace dormant::patch
