// A discrete-event simulator of a job over a fleet: `decide` at every event
// (a start, a finish, a fire time) on a simulated clock, never sleeping. Used
// by the tests to check the dispatch invariants at every instant and the
// makespan against a lower bound, and by bench/ to try policies.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "dormant/schedule/cron.hpp"
#include "dormant/schedule/dispatch.hpp"

namespace dormant::schedule {

struct SimHost {
  std::string name;
  int max_vms = 1;
  std::int64_t memory_mib_total = 0;
  std::int64_t memory_per_vm_mib = 1024;
};

struct SimItem {
  std::int64_t id = 0;
  double seconds = 0;           // how long it really takes
  double estimate_seconds = 0;  // what dispatch is told
  bool fails = false;           // fails when it finishes
};

struct SimConfig {
  std::vector<SimHost> hosts;  // used when policy.needs_host
  std::vector<SimItem> items;
  DispatchPolicy policy;
  SysSeconds start{};
  // When set, the job (re)starts at each fire time (the first one at or after
  // start) and dispatches the remaining items; a window closing leaves the
  // rest pending for the next fire time. When not set, the job runs from
  // start once, and a closed window ends it.
  std::optional<CronSchedule> schedule;
  // Simulated time after which the simulation gives up (a schedule whose fire
  // times all fall outside the window would otherwise never end).
  double horizon_seconds = 10.0 * 365 * 86400;
};

struct SimEvent {
  double at = 0;  // seconds since start
  std::int64_t id = 0;
  std::string host;
  bool started = false;  // false: finished (succeeded or failed)
};

struct SimResult {
  double makespan = 0;  // seconds from start to the last completion
  // max(total work / total slots, longest item), total slots being
  // min(max_concurrent, the sum over hosts of min(max_vms, memory_mib_total /
  // memory_per_vm_mib)) with needs_host, else max_concurrent. Only
  // meaningful with no window and no schedule.
  double lower_bound = 0;
  std::size_t max_running_seen = 0;
  std::map<std::string, int> max_per_host_seen;
  std::int64_t max_memory_per_host_seen_mib = 0;  // max over hosts and instants of memory used by VMs
  std::size_t completed = 0, failed = 0, never_started = 0;
  Stop stop = Stop::none;  // none when the job got stuck or reached the horizon
  // Every start and finish, sorted by time, finishes before starts at equal
  // times (the order the simulator applied them in).
  std::vector<SimEvent> events;
};

SimResult simulate(const SimConfig& config);

}  // namespace dormant::schedule
