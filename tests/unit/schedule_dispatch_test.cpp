// schedule/dispatch: the pure "what to start now" decision.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dormant/schedule/dispatch.hpp"

namespace {

using namespace dormant::schedule;
using namespace std::chrono;
using ::testing::HasSubstr;

SysSeconds noon() { return sys_days(2026y / March / 10) + hours(12); }

std::vector<PendingItem> items(std::initializer_list<std::pair<std::int64_t, double>> list) {
  std::vector<PendingItem> out;
  for (auto [id, estimate] : list) out.push_back(PendingItem{id, estimate});
  return out;
}

std::vector<std::int64_t> ids(const Decision& d) {
  std::vector<std::int64_t> out;
  for (const Assignment& a : d.start) out.push_back(a.id);
  return out;
}

std::vector<std::string> hosts_of(const Decision& d) {
  std::vector<std::string> out;
  for (const Assignment& a : d.start) out.push_back(a.host);
  return out;
}

HostCapacity host(std::string name, int max_vms, std::optional<std::int64_t> free_mib = std::nullopt,
                  std::int64_t per_vm = 1024, bool reachable = true) {
  return HostCapacity{std::move(name), max_vms, per_vm, free_mib, reachable};
}

TEST(ScheduleDispatch, LongestEstimateFirstTiesById) {
  DispatchPolicy policy;
  policy.max_concurrent = 4;
  DispatchState state;
  state.now = noon();
  state.pending = items({{5, 10}, {3, 60}, {9, 60}, {1, 5}, {2, 30}, {4, 0}});
  Decision d = decide(policy, state, {});
  EXPECT_EQ(d.stop, Stop::none);
  EXPECT_EQ(ids(d), (std::vector<std::int64_t>{3, 9, 2, 5}));
  EXPECT_THAT(hosts_of(d), ::testing::Each(""));
  EXPECT_TRUE(d.waiting_for_capacity);
}

TEST(ScheduleDispatch, RunningItemsUseConcurrency) {
  DispatchPolicy policy;
  policy.max_concurrent = 3;
  DispatchState state;
  state.now = noon();
  state.pending = items({{1, 1}, {2, 2}, {3, 3}});
  state.running = {{10, ""}, {11, ""}};
  EXPECT_EQ(ids(decide(policy, state, {})), (std::vector<std::int64_t>{3}));
  state.running.push_back({12, ""});
  Decision full = decide(policy, state, {});
  EXPECT_TRUE(full.start.empty());
  EXPECT_EQ(full.stop, Stop::none);
  EXPECT_TRUE(full.waiting_for_capacity);
  EXPECT_THAT(full.why, HasSubstr("--max-concurrent 3"));
  // More running than allowed (the limit was lowered): still nothing starts.
  state.running.push_back({13, ""});
  EXPECT_TRUE(decide(policy, state, {}).start.empty());
}

TEST(ScheduleDispatch, AllFitNoWaiting) {
  DispatchPolicy policy;
  policy.max_concurrent = 10;
  DispatchState state;
  state.now = noon();
  state.pending = items({{1, 1}, {2, 2}});
  Decision d = decide(policy, state, {});
  EXPECT_EQ(d.start.size(), 2u);
  EXPECT_FALSE(d.waiting_for_capacity);
}

TEST(ScheduleDispatch, DoneOnlyWhenNothingPendingNorRunning) {
  DispatchPolicy policy;
  DispatchState state;
  state.now = noon();
  state.running = {{1, ""}};
  Decision waiting = decide(policy, state, {});
  EXPECT_EQ(waiting.stop, Stop::none);
  EXPECT_TRUE(waiting.start.empty());
  EXPECT_FALSE(waiting.waiting_for_capacity);
  state.running.clear();
  EXPECT_EQ(decide(policy, state, {}).stop, Stop::done);
}

TEST(ScheduleDispatch, ErrorsStopOnlyWhenExceeded) {
  DispatchPolicy policy;
  policy.max_concurrent = 5;
  policy.error_threshold = 2;
  DispatchState state;
  state.now = noon();
  state.pending = items({{1, 1}});
  state.failed = 2;
  Decision equal = decide(policy, state, {});
  EXPECT_EQ(equal.stop, Stop::none);
  EXPECT_EQ(equal.start.size(), 1u);
  state.failed = 3;
  state.running = {{7, ""}};
  Decision over = decide(policy, state, {});
  EXPECT_EQ(over.stop, Stop::errors);
  EXPECT_TRUE(over.start.empty());
  EXPECT_EQ(over.why, "3 failures exceed --max-errors 2");
  // Even with nothing left, the job is reported as stopped by errors.
  state.pending.clear();
  state.running.clear();
  EXPECT_EQ(decide(policy, state, {}).stop, Stop::errors);
}

TEST(ScheduleDispatch, ErrorsExplainAPercentage) {
  DispatchPolicy policy;
  policy.error_limit = parse_error_limit("20%");
  policy.item_count = 10;
  policy.error_threshold = error_threshold_for(*policy.error_limit, 10);
  DispatchState state;
  state.now = noon();
  state.pending = items({{1, 1}});
  state.failed = 3;
  EXPECT_EQ(decide(policy, state, {}).why, "3 failures exceed --max-errors 2 (20% of 10 items)");
  policy.error_threshold = 0;
  state.failed = 1;
  EXPECT_THAT(decide(policy, state, {}).why, HasSubstr("1 failure exceeds --max-errors 0"));
}

TEST(ScheduleDispatch, ZeroErrorsAllowedStopsAtFirstFailure) {
  DispatchPolicy policy;
  DispatchState state;
  state.now = noon();
  state.pending = items({{1, 1}});
  EXPECT_EQ(decide(policy, state, {}).stop, Stop::none);
  state.failed = 1;
  EXPECT_EQ(decide(policy, state, {}).stop, Stop::errors);
}

TEST(ScheduleDispatch, CancelBeatsEverything) {
  DispatchPolicy policy;
  policy.window = Window::parse("01:00-02:00");
  DispatchState state;
  state.now = noon();
  state.failed = 5;
  state.cancelled = true;
  EXPECT_EQ(decide(policy, state, {}).stop, Stop::cancelled);
  state.cancelled = false;
  EXPECT_EQ(decide(policy, state, {}).stop, Stop::errors);
  state.failed = 0;
  EXPECT_EQ(decide(policy, state, {}).stop, Stop::window_closed);
}

TEST(ScheduleDispatch, WindowClosedLeavesRunningItems) {
  DispatchPolicy policy;
  policy.max_concurrent = 4;
  policy.window = Window::parse("22:00-04:00");
  DispatchState state;
  state.now = noon();
  state.pending = items({{1, 1}, {2, 2}});
  state.running = {{3, ""}};
  Decision closed = decide(policy, state, {});
  EXPECT_EQ(closed.stop, Stop::window_closed);
  EXPECT_TRUE(closed.start.empty());
  EXPECT_THAT(closed.why, HasSubstr("22:00-04:00"));
  state.now = sys_days(2026y / March / 10) + hours(3) + minutes(59) + seconds(59);
  EXPECT_EQ(decide(policy, state, {}).start.size(), 2u);
  state.now = sys_days(2026y / March / 10) + hours(4);
  EXPECT_EQ(decide(policy, state, {}).stop, Stop::window_closed);
}

TEST(ScheduleDispatch, HostWithMostFreeSlotsThenMemoryThenName) {
  DispatchPolicy policy;
  policy.max_concurrent = 100;
  policy.needs_host = true;
  DispatchState state;
  state.now = noon();
  state.pending = items({{1, 50}});
  // b has 3 free slots (4 - 1 running), a and c 2.
  state.running = {{9, "b"}};
  std::vector<HostCapacity> hosts = {host("a", 2, 8192), host("b", 4, 4096), host("c", 2, 16384)};
  EXPECT_EQ(hosts_of(decide(policy, state, hosts)), (std::vector<std::string>{"b"}));
  // Equal slots: more free memory wins.
  state.running.clear();
  hosts = {host("a", 2, 8192), host("c", 2, 16384)};
  EXPECT_EQ(hosts_of(decide(policy, state, hosts)), (std::vector<std::string>{"c"}));
  // Equal slots and memory: the name.
  hosts = {host("z", 2, 8192), host("m", 2, 8192)};
  EXPECT_EQ(hosts_of(decide(policy, state, hosts)), (std::vector<std::string>{"m"}));
  // Known memory beats unknown at equal slots.
  hosts = {host("a", 2), host("b", 2, 2048)};
  EXPECT_EQ(hosts_of(decide(policy, state, hosts)), (std::vector<std::string>{"b"}));
  hosts = {host("b", 2), host("a", 2)};
  EXPECT_EQ(hosts_of(decide(policy, state, hosts)), (std::vector<std::string>{"a"}));
}

TEST(ScheduleDispatch, SpreadsOverHostsAsSlotsFill) {
  DispatchPolicy policy;
  policy.max_concurrent = 100;
  policy.needs_host = true;
  DispatchState state;
  state.now = noon();
  state.pending = items({{1, 6}, {2, 5}, {3, 4}, {4, 3}, {5, 2}, {6, 1}});
  std::vector<HostCapacity> hosts = {host("a", 3), host("b", 2)};
  Decision d = decide(policy, state, hosts);
  // a(3) b(2) -> a -> tie 2:2 on slots, unknown memory both, name a -> b -> a -> stop.
  EXPECT_EQ(ids(d), (std::vector<std::int64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(hosts_of(d), (std::vector<std::string>{"a", "a", "b", "a", "b"}));
  EXPECT_TRUE(d.waiting_for_capacity);
  EXPECT_THAT(d.why, HasSubstr("host"));
}

TEST(ScheduleDispatch, MemoryLimitsPlacement) {
  DispatchPolicy policy;
  policy.max_concurrent = 100;
  policy.needs_host = true;
  DispatchState state;
  state.now = noon();
  state.pending = items({{1, 5}, {2, 4}, {3, 3}, {4, 2}});
  // Slots for 8, memory for 2 VMs of 1024 (3071 MiB is not enough for 3).
  std::vector<HostCapacity> hosts = {host("a", 8, 3071)};
  Decision d = decide(policy, state, hosts);
  EXPECT_EQ(ids(d), (std::vector<std::int64_t>{1, 2}));
  EXPECT_TRUE(d.waiting_for_capacity);
  // Exactly enough memory counts as fitting.
  hosts = {host("a", 8, 3072)};
  EXPECT_EQ(decide(policy, state, hosts).start.size(), 3u);
  // Less than one VM's worth: nothing.
  hosts = {host("a", 8, 1023)};
  Decision none = decide(policy, state, hosts);
  EXPECT_TRUE(none.start.empty());
  EXPECT_EQ(none.stop, Stop::none);
  EXPECT_TRUE(none.waiting_for_capacity);
  // The per-VM memory is the host's own.
  hosts = {host("a", 8, 4096, 2048)};
  EXPECT_EQ(decide(policy, state, hosts).start.size(), 2u);
}

TEST(ScheduleDispatch, UnreachableHostsGetNothing) {
  DispatchPolicy policy;
  policy.max_concurrent = 100;
  policy.needs_host = true;
  DispatchState state;
  state.now = noon();
  state.pending = items({{1, 5}, {2, 4}, {3, 3}});
  std::vector<HostCapacity> hosts = {host("big", 50, std::nullopt, 1024, false), host("small", 1)};
  Decision d = decide(policy, state, hosts);
  EXPECT_EQ(hosts_of(d), (std::vector<std::string>{"small"}));
  EXPECT_TRUE(d.waiting_for_capacity);
  hosts[1].reachable = false;
  EXPECT_TRUE(decide(policy, state, hosts).start.empty());
}

TEST(ScheduleDispatch, NeverExceedsMaxVmsWithRunningItems) {
  DispatchPolicy policy;
  policy.max_concurrent = 100;
  policy.needs_host = true;
  DispatchState state;
  state.now = noon();
  state.pending = items({{1, 5}, {2, 4}, {3, 3}});
  state.running = {{7, "a"}, {8, "a"}, {9, "elsewhere"}};
  std::vector<HostCapacity> hosts = {host("a", 3)};
  EXPECT_EQ(ids(decide(policy, state, hosts)), (std::vector<std::int64_t>{1}));
}

TEST(ScheduleDispatch, ConcurrencyCapsHostPlacement) {
  DispatchPolicy policy;
  policy.max_concurrent = 2;
  policy.needs_host = true;
  DispatchState state;
  state.now = noon();
  state.pending = items({{1, 5}, {2, 4}, {3, 3}});
  Decision d = decide(policy, state, {host("a", 10), host("b", 10)});
  EXPECT_EQ(d.start.size(), 2u);
  EXPECT_TRUE(d.waiting_for_capacity);
}

TEST(ScheduleDispatch, StopNames) {
  EXPECT_STREQ(to_string(Stop::none), "none");
  EXPECT_STREQ(to_string(Stop::cancelled), "cancelled");
  EXPECT_STREQ(to_string(Stop::errors), "errors");
  EXPECT_STREQ(to_string(Stop::window_closed), "window_closed");
  EXPECT_STREQ(to_string(Stop::done), "done");
}

}  // namespace
