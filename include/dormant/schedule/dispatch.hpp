// The dispatch decision: given what is pending, running and failed, the
// policy and the hosts' capacity now, which items to start and on which
// hosts, or why nothing may start. Pure, so that the job runner (every
// tick), the daemon and the simulator (every event) share one definition.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dormant/schedule/limits.hpp"
#include "dormant/schedule/window.hpp"

namespace dormant::schedule {

struct HostCapacity {
  std::string name;
  int max_vms = 1;
  std::int64_t memory_per_vm_mib = 1024;
  // Probed free memory now (already net of running VMs); nullopt = unknown
  // (not checked), when it does not limit placement.
  std::optional<std::int64_t> free_memory_mib;
  bool reachable = true;
};

struct PendingItem {
  std::int64_t id = 0;
  double estimate_seconds = 0;
};

struct RunningItem {
  std::int64_t id = 0;
  std::string host;  // "" in offline mode
};

struct DispatchPolicy {
  std::size_t max_concurrent = 1;
  std::size_t error_threshold = 0;  // dispatch stops when failed > this
  std::optional<Window> window;     // no new dispatch outside it
  bool needs_host = false;          // service mode: every item needs a host slot
  // Only for Decision::why: how --max-errors was written and how many items
  // the job has, so a percentage can be explained ("20% of 10 items").
  std::optional<Limit> error_limit;
  std::size_t item_count = 0;
};

struct DispatchState {
  SysSeconds now{};
  std::vector<PendingItem> pending;
  std::vector<RunningItem> running;
  std::size_t failed = 0;
  bool cancelled = false;
};

enum class Stop { none, cancelled, errors, window_closed, done };

struct Assignment {
  std::int64_t id = 0;
  std::string host;  // "" unless the policy needs_host
};

struct Decision {
  std::vector<Assignment> start;  // items to dispatch now, in order
  // Why dispatch is stopped (start is then empty); done = nothing pending and
  // nothing running.
  Stop stop = Stop::none;
  // A sentence for the log: "3 failures exceed --max-errors 2 (20% of 10
  // items)"; also why items wait when waiting_for_capacity.
  std::string why;
  // Pending items are left unstarted for want of a slot now: --max-concurrent
  // is reached or no host has a free slot and enough memory.
  bool waiting_for_capacity = false;
};

// In order: cancelled -> Stop::cancelled; failures exceeding the threshold ->
// Stop::errors; a window that does not contain now -> Stop::window_closed
// (running items are left to finish); nothing pending or running ->
// Stop::done. Otherwise starts pending items, longest estimate first (ties
// by id ascending: longest-processing-time-first keeps the makespan short),
// while running + started < max_concurrent.
//
// With needs_host, each item also needs a reachable host with running +
// placed-now < max_vms and, when its free memory is known, free memory -
// memory_per_vm * placed-now >= memory_per_vm. Among those, the host with
// the most free slots wins, then the most free memory (unknown counts as
// less than any known amount: a host known to have room is the safer bet),
// then the name. When no host fits, starting stops (waiting_for_capacity).
Decision decide(const DispatchPolicy& policy, const DispatchState& state,
                const std::vector<HostCapacity>& hosts);

const char* to_string(Stop stop);

}  // namespace dormant::schedule
