// Settling a job run's items after their processes died, and cancelling.
#include <fmt/format.h>
#include <signal.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "dormant/core/error.hpp"
#include "dormant/core/process.hpp"
#include "dormant/jobs/jobs.hpp"
#include "dormant/patch/patch.hpp"
#include "item_outcome.hpp"

namespace dormant::jobs {
namespace {

// True when pid is a `dormant patch` serving job run `run_id` (and not a
// process that reused the pid).
bool is_item_process(std::int64_t pid, std::int64_t run_id) {
  std::ifstream in(fmt::format("/proc/{}/cmdline", pid));
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string cmdline = buffer.str();
  for (auto& c : cmdline)
    if (c == '\0') c = ' ';
  return cmdline.find(fmt::format(" --job-run {} ", run_id)) != std::string::npos ||
         cmdline.ends_with(fmt::format(" --job-run {}", run_id));
}

// An item process that outlived its runner (PR_SET_PDEATHSIG makes that
// rare) is killed before its item is settled: two processes must never
// work on one image.
void kill_orphan(std::int64_t pid, std::int64_t run_id, std::vector<std::string>& actions) {
  if (!process_alive(static_cast<pid_t>(pid)) || !is_item_process(pid, run_id)) return;
  ::kill(static_cast<pid_t>(pid), SIGKILL);
  for (int i = 0; i < 100 && process_alive(static_cast<pid_t>(pid)); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  actions.push_back(fmt::format("killed item process {} left by the dead runner", pid));
}

}  // namespace

std::vector<std::string> reconcile_job_run(catalog::Catalog& catalog, std::int64_t run_id) {
  std::vector<std::string> actions;
  const auto items = catalog.job_items(run_id);
  for (const auto& item : items)
    if (item.state == "running") kill_orphan(item.pid, run_id, actions);
  for (auto& line : patch::reconcile_dead_runs(catalog)) actions.push_back(std::move(line));
  for (auto item : items) {
    if (item.state != "running") continue;
    auto outcome = detail::outcome_from_record(catalog, item);
    actions.push_back(fmt::format("{}: was running (attempt {}), now {}{}", item.image_path, item.attempt,
                                  outcome.state, outcome.reason.empty() ? "" : ": " + outcome.reason));
    item.log = fmt::format("attempt {}{}: its runner died; settled from the record as {}\n", item.attempt,
                           item.host.empty() ? std::string() : " on " + item.host, outcome.state) +
               outcome.log;
    item.state = outcome.state;
    item.result = outcome.result;
    item.reason = outcome.reason;
    item.patch_run_id = outcome.patch_run_id;
    catalog.end_job_item(item);
  }
  return actions;
}

std::vector<std::string> cancel_job_run(catalog::Catalog& catalog, std::int64_t run_id) {
  auto run = catalog.find_job_run(run_id);
  if (!run) fail(ErrorKind::not_found, std::to_string(run_id), "no such job run");
  if (run->state == "done" || run->state == "failed" || run->state == "cancelled")
    fail(ErrorKind::conflict, std::to_string(run_id), "the run is already {}", run->state);
  catalog.request_job_cancel(run_id);
  if (runner_alive(*run)) {
    // The runner sees the request within a tick and stops its items itself.
    for (int i = 0; i < 600; ++i) {
      run = catalog.find_job_run(run_id);
      if (run->state != "running") return {fmt::format("run {} cancelled by its runner", run_id)};
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    fail(ErrorKind::limit, std::to_string(run_id), "the runner (pid {}) did not stop within 60 s",
         run->runner_pid);
  }
  auto actions = reconcile_job_run(catalog, run_id);
  catalog.cancel_pending_job_items(run_id, "the run was cancelled before this image was started");
  catalog.finish_job_run(run_id, "cancelled", "cancelled by `dormant job cancel`");
  actions.push_back(fmt::format("run {} cancelled", run_id));
  return actions;
}

}  // namespace dormant::jobs
