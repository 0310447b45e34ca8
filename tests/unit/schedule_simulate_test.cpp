// schedule/simulate: whole jobs on a simulated clock. The invariants are
// checked by replaying every start and finish, and the makespan against a
// lower bound computed here from the fleet.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <string>

#include "dormant/schedule/simulate.hpp"

namespace {

using namespace dormant::schedule;
using namespace std::chrono;

SysSeconds noon() { return sys_days(2026y / March / 10) + hours(12); }

// Ten heterogeneous hosts (2 to 8 VMs); on three of them memory, not
// max_vms, binds: h2 fits 5 of its 8 VMs, h5 4 of 6, h9 2 of 3.
std::vector<SimHost> fleet() {
  return {
      {"h0", 2, 64 * 1024, 2048},  {"h1", 4, 64 * 1024, 4096}, {"h2", 8, 20 * 1024, 4096},
      {"h3", 6, 64 * 1024, 2048},  {"h4", 3, 64 * 1024, 2048}, {"h5", 6, 9000, 2048},
      {"h6", 8, 128 * 1024, 4096}, {"h7", 5, 64 * 1024, 2048}, {"h8", 7, 64 * 1024, 2048},
      {"h9", 3, 5000, 2048},
  };
}

// Servicing times from a seeded log-normal (median 10 min) clamped to 2-60
// min; estimates off by up to 20% either way.
std::vector<SimItem> workload(std::size_t count, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<double> minutes_taken(std::log(10.0), 0.8);
  std::uniform_real_distribution<double> noise(-0.2, 0.2);
  std::vector<SimItem> items;
  for (std::size_t i = 0; i < count; ++i) {
    double seconds = std::clamp(minutes_taken(rng), 2.0, 60.0) * 60;
    items.push_back(SimItem{static_cast<std::int64_t>(i + 1), seconds, seconds * (1 + noise(rng)), false});
  }
  return items;
}

struct Bound {
  double value;
  std::size_t slots;
};

// max(work / usable slots, longest item); a host's usable slots are limited
// by its memory as well as by max_vms.
Bound lower_bound(const std::vector<SimHost>& hosts, const std::vector<SimItem>& items,
                  std::size_t max_concurrent) {
  std::size_t slots = 0;
  for (const SimHost& h : hosts)
    slots +=
        static_cast<std::size_t>(std::min<std::int64_t>(h.max_vms, h.memory_mib_total / h.memory_per_vm_mib));
  slots = std::min(slots, max_concurrent);
  double work = 0, longest = 0;
  for (const SimItem& item : items) {
    work += item.seconds;
    longest = std::max(longest, item.seconds);
  }
  return {std::max(work / static_cast<double>(slots), longest), slots};
}

// Replays the events in time order, finishes before starts at equal times
// (sorted here, not trusting the simulator's order), and checks the limits
// at every instant and that each item runs once for exactly its duration.
void check_invariants(const SimConfig& config, const SimResult& result) {
  std::vector<SimEvent> events = result.events;
  std::stable_sort(events.begin(), events.end(), [](const SimEvent& a, const SimEvent& b) {
    return a.at != b.at ? a.at < b.at : (!a.started && b.started);
  });
  std::map<std::int64_t, const SimItem*> items;
  for (const SimItem& item : config.items) items[item.id] = &item;
  std::map<std::string, const SimHost*> hosts;
  for (const SimHost& host : config.hosts) hosts[host.name] = &host;
  std::map<std::int64_t, double> started_at;
  std::set<std::int64_t> finished;
  std::map<std::string, int> on_host;
  std::size_t running = 0;
  for (const SimEvent& e : events) {
    ASSERT_TRUE(items.count(e.id)) << e.id;
    if (e.started) {
      ASSERT_FALSE(started_at.count(e.id)) << "item " << e.id << " started twice";
      started_at[e.id] = e.at;
      ++running;
      ASSERT_LE(running, config.policy.max_concurrent) << "at " << e.at;
      if (config.policy.needs_host) {
        ASSERT_TRUE(hosts.count(e.host)) << "unknown host '" << e.host << "'";
        const SimHost& host = *hosts[e.host];
        int here = ++on_host[e.host];
        ASSERT_LE(here, host.max_vms) << e.host << " at " << e.at;
        ASSERT_LE(here * host.memory_per_vm_mib, host.memory_mib_total) << e.host << " at " << e.at;
      }
    } else {
      ASSERT_TRUE(started_at.count(e.id)) << "item " << e.id << " finished before starting";
      ASSERT_TRUE(finished.insert(e.id).second) << "item " << e.id << " finished twice";
      ASSERT_NEAR(e.at - started_at[e.id], items[e.id]->seconds, 1e-6);
      --running;
      if (config.policy.needs_host) --on_host[e.host];
    }
  }
  EXPECT_EQ(running, 0u);
  EXPECT_EQ(finished.size(), result.completed + result.failed);
  EXPECT_EQ(config.items.size(), result.completed + result.failed + result.never_started);
  EXPECT_LE(result.max_running_seen, config.policy.max_concurrent);
  for (const SimHost& host : config.hosts) {
    if (config.policy.needs_host) {
      EXPECT_LE(result.max_per_host_seen.at(host.name), host.max_vms);
    }
  }
}

double run_fleet(std::size_t max_concurrent, const char* label) {
  SimConfig config;
  config.hosts = fleet();
  config.items = workload(1000, 20261129);
  config.policy.max_concurrent = max_concurrent;
  config.policy.error_threshold = 1000;
  config.policy.needs_host = true;
  config.start = noon();
  SimResult result = simulate(config);
  check_invariants(config, result);
  Bound bound = lower_bound(config.hosts, config.items, max_concurrent);
  EXPECT_EQ(result.stop, Stop::done);
  EXPECT_EQ(result.completed, 1000u);
  EXPECT_NEAR(result.lower_bound, bound.value, 1e-6);
  EXPECT_LE(result.makespan, 1.10 * bound.value);
  EXPECT_GE(result.makespan, bound.value - 1e-6);
  if (max_concurrent >= lower_bound(config.hosts, config.items, SIZE_MAX).slots) {
    // Memory binds: these hosts ran as many VMs as their memory allows, fewer than max_vms.
    EXPECT_EQ(result.max_per_host_seen.at("h2"), 5);
    EXPECT_EQ(result.max_per_host_seen.at("h5"), 4);
    EXPECT_EQ(result.max_per_host_seen.at("h9"), 2);
  }
  double ratio = result.makespan / bound.value;
  std::printf(
      "[ %s ] 1000 VMs, 10 hosts, %zu usable slots: makespan %.0f s, lower bound %.0f s, ratio %.4f\n", label,
      bound.slots, result.makespan, bound.value, ratio);
  ::testing::Test::RecordProperty(std::string(label) + "_makespan_over_lower_bound", std::to_string(ratio));
  return ratio;
}

TEST(ScheduleSimulate, FleetOfAThousandVmsNearTheLowerBound) {
  std::size_t slots = 0;
  for (const SimHost& h : fleet()) slots += static_cast<std::size_t>(h.max_vms);
  run_fleet(slots + 10, "all_slots");
}

TEST(ScheduleSimulate, FleetLimitedByMaxConcurrent) { run_fleet(20, "max_concurrent_20"); }

TEST(ScheduleSimulate, MaxErrorsStopsDispatch) {
  SimConfig config;
  config.items = workload(200, 42);
  // One item in eight fails.
  for (SimItem& item : config.items) item.fails = item.id % 8 == 3;
  config.policy.max_concurrent = 8;
  config.policy.error_threshold = error_threshold_for(parse_error_limit("5%"), config.items.size());
  ASSERT_EQ(config.policy.error_threshold, 10u);
  config.start = noon();
  SimResult result = simulate(config);
  check_invariants(config, result);
  EXPECT_EQ(result.stop, Stop::errors);
  EXPECT_GT(result.failed, config.policy.error_threshold);
  EXPECT_LE(result.failed, config.policy.error_threshold + config.policy.max_concurrent);
  EXPECT_GT(result.never_started, 0u);
  // Nothing starts once the failures exceed the threshold.
  std::size_t failed = 0;
  std::map<std::int64_t, bool> fails;
  for (const SimItem& item : config.items) fails[item.id] = item.fails;
  double crossed = -1;
  for (const SimEvent& e : result.events) {
    if (e.started) {
      EXPECT_TRUE(crossed < 0) << "item " << e.id << " started at " << e.at << " after failures exceeded at "
                               << crossed;
    } else if (fails[e.id] && ++failed > config.policy.error_threshold && crossed < 0) {
      crossed = e.at;
    }
  }
  EXPECT_GE(crossed, 0);
}

TEST(ScheduleSimulate, NightlyScheduleWithWindowTakesSeveralNights) {
  SimConfig config;
  config.hosts = {{"a", 3, 16384, 2048}, {"b", 3, 16384, 2048}};
  config.items = workload(150, 7);
  for (SimItem& item : config.items) item.seconds = item.estimate_seconds = 30 * 60 + item.seconds;
  config.policy.max_concurrent = 100;
  config.policy.error_threshold = 1000;
  config.policy.needs_host = true;
  config.policy.window = Window::parse("22:00-04:00");
  config.schedule = CronSchedule::parse("0 22 * * *");
  config.start = noon();
  SimResult result = simulate(config);
  check_invariants(config, result);
  EXPECT_EQ(result.stop, Stop::done);
  EXPECT_EQ(result.completed, config.items.size());
  std::set<std::int64_t> nights;
  for (const SimEvent& e : result.events) {
    if (!e.started) continue;
    SysSeconds at = config.start + seconds(static_cast<std::int64_t>(std::floor(e.at)));
    auto hour = (at - floor<days>(at)) / hours(1);
    EXPECT_TRUE(hour >= 22 || hour < 4) << "item " << e.id << " started at hour " << hour;
    // The night a start belongs to: the day its 22:00 fell on.
    nights.insert((floor<days>(at - hours(22)) - floor<days>(config.start)).count());
  }
  // 150 items of 32-90 min on 6 slots need over 24 slot-hours of a 6-hour window.
  EXPECT_GE(nights.size(), 3u);
  EXPECT_EQ(*nights.begin(), 0);  // the first night is the start day's
  EXPECT_GT(result.makespan, 2 * 86400.0);
  std::printf("[ nightly ] 150 items finished over %zu nights, makespan %.1f h\n", nights.size(),
              result.makespan / 3600);
}

TEST(ScheduleSimulate, WindowWithoutScheduleEndsTheJob) {
  SimConfig config;
  config.items = workload(100, 3);
  config.policy.max_concurrent = 2;
  config.policy.window = Window::parse("12:00-13:00");
  config.start = noon();
  SimResult result = simulate(config);
  check_invariants(config, result);
  EXPECT_EQ(result.stop, Stop::window_closed);
  EXPECT_GT(result.never_started, 0u);
  for (const SimEvent& e : result.events) {
    if (e.started) {
      EXPECT_LT(e.at, 3600);
    }
  }
}

TEST(ScheduleSimulate, NoHostThatFitsEndsWithoutStarting) {
  SimConfig config;
  config.hosts = {{"tiny", 4, 1000, 2048}};
  config.items = workload(5, 1);
  config.policy.max_concurrent = 4;
  config.policy.needs_host = true;
  config.start = noon();
  SimResult result = simulate(config);
  EXPECT_EQ(result.stop, Stop::none);
  EXPECT_EQ(result.never_started, 5u);
  EXPECT_TRUE(result.events.empty());
}

TEST(ScheduleSimulate, ScheduleFiringOutsideTheWindowGivesUpAtTheHorizon) {
  SimConfig config;
  config.items = workload(3, 1);
  config.policy.window = Window::parse("22:00-04:00");
  config.schedule = CronSchedule::parse("0 12 * * *");
  config.horizon_seconds = 30 * 86400;
  config.start = noon();
  SimResult result = simulate(config);
  EXPECT_EQ(result.never_started, 3u);
  EXPECT_NE(result.stop, Stop::done);
}

}  // namespace
