#include "dormant/schedule/dispatch.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace dormant::schedule {
namespace {

// A host as placement sees it during one decision.
struct Slot {
  const HostCapacity* host;
  int used;        // running there + placed now
  int placed = 0;  // placed by this decision
  bool fits() const {
    if (!host->reachable || used >= host->max_vms) return false;
    return !host->free_memory_mib || free_memory() >= host->memory_per_vm_mib;
  }
  int free_slots() const { return host->max_vms - used; }
  std::int64_t free_memory() const { return *host->free_memory_mib - host->memory_per_vm_mib * placed; }
};

// Whether a should be preferred to b: more free slots, then more free memory
// (known beats unknown), then the name.
bool better(const Slot& a, const Slot& b) {
  if (a.free_slots() != b.free_slots()) return a.free_slots() > b.free_slots();
  bool a_known = a.host->free_memory_mib.has_value(), b_known = b.host->free_memory_mib.has_value();
  if (a_known != b_known) return a_known;
  if (a_known && a.free_memory() != b.free_memory()) return a.free_memory() > b.free_memory();
  return a.host->name < b.host->name;
}

std::string errors_why(const DispatchPolicy& policy, std::size_t failed) {
  std::string why = fmt::format("{} failure{} exceed{} --max-errors {}", failed, failed == 1 ? "" : "s",
                                failed == 1 ? "s" : "", policy.error_threshold);
  if (policy.error_limit && policy.error_limit->percent)
    why += fmt::format(" ({} of {} item{})", policy.error_limit->text(), policy.item_count,
                       policy.item_count == 1 ? "" : "s");
  return why;
}

}  // namespace

Decision decide(const DispatchPolicy& policy, const DispatchState& state,
                const std::vector<HostCapacity>& hosts) {
  Decision decision;
  auto stop = [&](Stop why, std::string sentence) {
    decision.stop = why;
    decision.why = std::move(sentence);
    return decision;
  };
  if (state.cancelled) return stop(Stop::cancelled, "the job was cancelled");
  if (errors_exceeded(state.failed, policy.error_threshold))
    return stop(Stop::errors, errors_why(policy, state.failed));
  if (policy.window && !policy.window->contains(state.now))
    return stop(
        Stop::window_closed,
        fmt::format("outside the maintenance window {} (UTC); {} running item{} left to finish",
                    policy.window->text(), state.running.size(), state.running.size() == 1 ? "" : "s"));
  if (state.pending.empty() && state.running.empty())
    return stop(Stop::done, "nothing pending and nothing running");
  if (state.pending.empty()) return decision;

  std::vector<const PendingItem*> order;
  order.reserve(state.pending.size());
  for (const PendingItem& item : state.pending) order.push_back(&item);
  std::stable_sort(order.begin(), order.end(), [](const PendingItem* a, const PendingItem* b) {
    if (a->estimate_seconds != b->estimate_seconds) return a->estimate_seconds > b->estimate_seconds;
    return a->id < b->id;
  });

  std::vector<Slot> slots;
  if (policy.needs_host) {
    for (const HostCapacity& host : hosts) {
      int running_here =
          static_cast<int>(std::count_if(state.running.begin(), state.running.end(),
                                         [&](const RunningItem& r) { return r.host == host.name; }));
      slots.push_back(Slot{&host, running_here});
    }
  }

  std::size_t room =
      state.running.size() < policy.max_concurrent ? policy.max_concurrent - state.running.size() : 0;
  for (const PendingItem* item : order) {
    if (decision.start.size() >= room) {
      decision.waiting_for_capacity = true;
      decision.why = fmt::format("--max-concurrent {} reached", policy.max_concurrent);
      break;
    }
    if (!policy.needs_host) {
      decision.start.push_back(Assignment{item->id, ""});
      continue;
    }
    Slot* best = nullptr;
    for (Slot& slot : slots)
      if (slot.fits() && (best == nullptr || better(slot, *best))) best = &slot;
    if (best == nullptr) {
      decision.waiting_for_capacity = true;
      decision.why = "no reachable host has a free VM slot and enough free memory";
      break;
    }
    ++best->used;
    ++best->placed;
    decision.start.push_back(Assignment{item->id, best->host->name});
  }
  return decision;
}

const char* to_string(Stop stop) {
  switch (stop) {
    case Stop::none:
      return "none";
    case Stop::cancelled:
      return "cancelled";
    case Stop::errors:
      return "errors";
    case Stop::window_closed:
      return "window_closed";
    case Stop::done:
      return "done";
  }
  return "none";
}

}  // namespace dormant::schedule
