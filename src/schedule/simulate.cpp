#include "dormant/schedule/simulate.hpp"

#include <algorithm>
#include <cmath>
#include <unordered_map>
#include <unordered_set>

namespace dormant::schedule {
namespace {

using namespace std::chrono;

struct Running {
  const SimItem* item;
  std::string host;
  double finish;
};

// Slots that can really be used at once: a host's memory may allow fewer VMs
// than its max_vms.
std::size_t usable_slots(const SimConfig& config) {
  if (!config.policy.needs_host) return config.policy.max_concurrent;
  std::size_t slots = 0;
  for (const SimHost& host : config.hosts) {
    std::int64_t by_memory = host.memory_per_vm_mib > 0 ? host.memory_mib_total / host.memory_per_vm_mib : 0;
    slots +=
        static_cast<std::size_t>(std::max<std::int64_t>(0, std::min<std::int64_t>(host.max_vms, by_memory)));
  }
  return std::min(slots, config.policy.max_concurrent);
}

double lower_bound(const SimConfig& config) {
  double work = 0, longest = 0;
  for (const SimItem& item : config.items) {
    work += item.seconds;
    longest = std::max(longest, item.seconds);
  }
  std::size_t slots = usable_slots(config);
  return slots == 0 ? longest : std::max(work / static_cast<double>(slots), longest);
}

// The simulation's mutable state and the bookkeeping of what it saw.
class Simulation {
 public:
  explicit Simulation(const SimConfig& config) : config_(config) {
    for (const SimItem& item : config.items) {
      items_[item.id] = &item;
      pending_.push_back(PendingItem{item.id, item.estimate_seconds});
    }
    for (const SimHost& host : config.hosts) {
      on_host_[host.name] = 0;
      if (config.policy.needs_host) result_.max_per_host_seen[host.name] = 0;
    }
    result_.lower_bound = lower_bound(config);
  }

  SimResult run() {
    double t = 0;
    if (config_.schedule) {
      // The first fire time at or after start.
      std::optional<SysSeconds> first = config_.schedule->next_after(config_.start - seconds(1));
      if (!first) return finish();
      t = static_cast<double>((*first - config_.start).count());
    }
    bool active = true;     // the job is dispatching (between a fire time and a stop)
    bool finished = false;  // stopped for good: errors or cancelled
    while (t <= config_.horizon_seconds) {
      complete_until(t);
      if (active) {
        Decision decision = decide(config_.policy, state_at(t), capacities());
        result_.stop = decision.stop;
        start(decision.start, t);
        if (decision.stop == Stop::done) return finish();
        if (decision.stop == Stop::errors || decision.stop == Stop::cancelled) finished = true;
        if (decision.stop != Stop::none) active = false;
      }
      std::optional<double> next_fire;
      if (!active && !finished && config_.schedule) {
        std::optional<SysSeconds> fire = config_.schedule->next_after(now_at(t));
        if (fire) next_fire = static_cast<double>((*fire - config_.start).count());
      }
      if (running_.empty()) {
        // Nothing will change unless a fire time restarts the job; an active
        // job with nothing running that started nothing is stuck (no host
        // can ever take an item).
        if (active || !next_fire) return finish();
        t = *next_fire;
        active = true;
        continue;
      }
      double next_finish =
          std::min_element(running_.begin(), running_.end(), [](const Running& a, const Running& b) {
            return a.finish < b.finish;
          })->finish;
      if (next_fire && *next_fire < next_finish) {
        t = *next_fire;
        active = true;
      } else {
        t = next_finish;
      }
    }
    result_.stop = Stop::none;  // gave up at the horizon
    return finish();
  }

 private:
  SysSeconds now_at(double t) const {
    return config_.start + seconds(static_cast<std::int64_t>(std::floor(t)));
  }

  DispatchState state_at(double t) const {
    DispatchState state;
    state.now = now_at(t);
    state.pending = pending_;
    for (const Running& r : running_) state.running.push_back(RunningItem{r.item->id, r.host});
    state.failed = result_.failed;
    return state;
  }

  std::vector<HostCapacity> capacities() const {
    std::vector<HostCapacity> hosts;
    for (const SimHost& host : config_.hosts) {
      int here = on_host_.at(host.name);
      hosts.push_back(HostCapacity{host.name, host.max_vms, host.memory_per_vm_mib,
                                   host.memory_mib_total - host.memory_per_vm_mib * here, true});
    }
    return hosts;
  }

  // Finishes, in time order, every running item that ends at or before t.
  void complete_until(double t) {
    std::stable_sort(running_.begin(), running_.end(),
                     [](const Running& a, const Running& b) { return a.finish < b.finish; });
    auto done =
        std::find_if(running_.begin(), running_.end(), [&](const Running& r) { return r.finish > t; });
    for (auto it = running_.begin(); it != done; ++it) {
      result_.events.push_back(SimEvent{it->finish, it->item->id, it->host, false});
      if (it->item->fails)
        ++result_.failed;
      else
        ++result_.completed;
      result_.makespan = std::max(result_.makespan, it->finish);
      if (!it->host.empty()) --on_host_[it->host];
    }
    running_.erase(running_.begin(), done);
  }

  void start(const std::vector<Assignment>& assignments, double t) {
    std::unordered_set<std::int64_t> started;
    for (const Assignment& a : assignments) {
      const SimItem* item = items_.at(a.id);
      running_.push_back(Running{item, a.host, t + item->seconds});
      result_.events.push_back(SimEvent{t, a.id, a.host, true});
      started.insert(a.id);
      if (!a.host.empty()) ++on_host_[a.host];
    }
    std::erase_if(pending_, [&](const PendingItem& p) { return started.count(p.id) != 0; });
    result_.max_running_seen = std::max(result_.max_running_seen, running_.size());
    for (const SimHost& host : config_.hosts) {
      int here = on_host_[host.name];
      if (config_.policy.needs_host)
        result_.max_per_host_seen[host.name] = std::max(result_.max_per_host_seen[host.name], here);
      result_.max_memory_per_host_seen_mib =
          std::max(result_.max_memory_per_host_seen_mib, host.memory_per_vm_mib * here);
    }
  }

  SimResult finish() {
    result_.never_started = pending_.size();
    std::stable_sort(result_.events.begin(), result_.events.end(), [](const SimEvent& a, const SimEvent& b) {
      if (a.at != b.at) return a.at < b.at;
      return !a.started && b.started;
    });
    return std::move(result_);
  }

  const SimConfig& config_;
  std::unordered_map<std::int64_t, const SimItem*> items_;
  std::vector<PendingItem> pending_;
  std::vector<Running> running_;
  std::map<std::string, int> on_host_;
  SimResult result_;
};

}  // namespace

SimResult simulate(const SimConfig& config) { return Simulation(config).run(); }

}  // namespace dormant::schedule
