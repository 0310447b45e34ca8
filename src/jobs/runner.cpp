// The job runner: dispatches a run's items as `dormant patch` processes
// under the job's limits and records every claim and end before acting on
// it (see jobs.hpp).
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "dormant/assess/assess.hpp"
#include "dormant/core/error.hpp"
#include "dormant/core/kill_point.hpp"
#include "dormant/core/process.hpp"
#include "dormant/core/progress.hpp"
#include "dormant/jobs/jobs.hpp"
#include "dormant/patch/hosts.hpp"
#include "dormant/patch/patch.hpp"
#include "dormant/schedule/dispatch.hpp"
#include "item_outcome.hpp"
#include "item_process.hpp"

namespace dormant::jobs {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::atomic<bool> g_stop{false};

constexpr auto kHostProbeInterval = std::chrono::seconds(5);
constexpr auto kNoHostPatience = std::chrono::minutes(10);
// Without --timeout-item an item may take this long before it is killed:
// every phase has its own time-out already; this catches the rest.
constexpr std::int64_t kDefaultItemTimeout = 6 * 3600;

std::string lower_or(const std::string& text, const char* fallback) { return text.empty() ? fallback : text; }

class Runner {
 public:
  Runner(catalog::Catalog& catalog, catalog::Job job, std::int64_t run_id, const RunnerOptions& options)
      : catalog_(catalog), job_(std::move(job)), run_id_(run_id), options_(options) {
    job_options_ = nlohmann::json::parse(job_.options_json, nullptr, false);
    if (!job_options_.is_object()) job_options_ = nlohmann::json::object();
    const auto settings =
        nlohmann::json::parse(catalog_.find_job_run(run_id_)->settings_json, nullptr, false);
    policy_.max_concurrent = settings.value("max_concurrent", std::size_t{1});
    policy_.error_threshold = settings.value("error_threshold", std::size_t{0});
    policy_.item_count = settings.value("items", std::size_t{0});
    policy_.error_limit = schedule::parse_error_limit(job_.max_errors);
    if (!job_.window.empty() && !options_.ignore_window)
      policy_.window = schedule::Window::parse(job_.window);
    policy_.needs_host = job_.mode == "service";
    if (policy_.needs_host) hosts_ = catalog_.hosts_in_group(job_.host_group);
    item_timeout_ = std::chrono::seconds(job_options_.contains("timeouts")
                                             ? job_options_["timeouts"].value("item", kDefaultItemTimeout)
                                             : kDefaultItemTimeout);
    output_dir_ = options_.cache_dir / "jobs" / fmt::format("run-{}", run_id_);
    fs::create_directories(output_dir_);
  }

  RunOutcome drive() {
    for (;;) {
      reap();
      enforce_item_timeouts();
      const auto run = catalog_.find_job_run(run_id_);
      if (run->cancel_requested || g_stop) return stop_everything(run->cancel_requested);
      const auto items = catalog_.job_items(run_id_);
      schedule::DispatchState state;
      state.now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
      for (const auto& item : items) {
        if (item.state == "pending")
          state.pending.push_back({item.image_id, estimate(item)});
        else if (item.state == "failed")
          ++state.failed;
      }
      for (const auto& [id, p] : in_flight_) state.running.push_back({id, p.host});
      const auto decision = schedule::decide(policy_, state, capacities(!state.pending.empty()));
      if (decision.stop != schedule::Stop::none && in_flight_.empty()) return finish(decision);
      if (host_starved(decision)) return finish(decision);
      if (decision.stop != last_stop_ && decision.stop != schedule::Stop::none) {
        say(fmt::format("dispatch stopped: {}; waiting for {} running item(s)", decision.why,
                        in_flight_.size()));
        last_stop_ = decision.stop;
      }
      for (const auto& a : decision.start) start(a, items);
      std::this_thread::sleep_for(options_.tick);
    }
  }

 private:
  double estimate(const catalog::JobItem& item) {
    // Longest first: the image file's size (st_size) stands for its work.
    auto [it, fresh] = estimates_.try_emplace(item.image_id, 0.0);
    if (fresh)
      if (auto image = catalog_.find_image(item.image_id))
        it->second = static_cast<double>(image->file_size) / (64.0 * 1024 * 1024);
    return it->second;
  }

  // Service mode, nothing running, images waiting and no host of the group
  // reachable: after kNoHostPatience the run stops instead of waiting forever.
  bool host_starved(const schedule::Decision& decision) {
    const bool starved =
        policy_.needs_host && in_flight_.empty() && decision.waiting_for_capacity &&
        std::none_of(probed_.begin(), probed_.end(), [](const auto& c) { return c.reachable; });
    if (!starved) {
      starved_since_.reset();
      return false;
    }
    if (!starved_since_) starved_since_ = Clock::now();
    if (Clock::now() - *starved_since_ < kNoHostPatience) return false;
    no_host_ =
        fmt::format("no maintenance host of group {} was reachable for {} s: {}", job_.host_group,
                    std::chrono::duration_cast<std::chrono::seconds>(kNoHostPatience).count(), decision.why);
    return true;
  }

  std::vector<schedule::HostCapacity> capacities(bool needed) {
    if (!policy_.needs_host) return {};
    if (needed && Clock::now() - probed_at_ > kHostProbeInterval) {
      hosts_ = catalog_.hosts_in_group(job_.host_group);  // hosts may be added or removed meanwhile
      probed_.clear();
      for (const auto& host : hosts_) {
        auto status = patch::probe_host(host);
        schedule::HostCapacity c;
        c.name = host.name;
        c.max_vms = static_cast<int>(host.max_vms);
        c.memory_per_vm_mib = host.memory_mib;
        c.reachable = status.reachable && status.pool_ok;
        if (status.reachable) c.free_memory_mib = static_cast<std::int64_t>(status.free_memory_mib);
        probed_.push_back(std::move(c));
      }
      probed_at_ = Clock::now();
    }
    return probed_;
  }

  std::vector<std::string> item_argv(const catalog::ImageRecord& image, const std::string& host) const {
    std::vector<std::string> argv{options_.dormant_exe.string(),
                                  "--catalog",
                                  options_.catalog_path.string(),
                                  "patch",
                                  image.path,
                                  "--mode",
                                  job_.mode,
                                  "--json",
                                  "--offline",
                                  "--no-identify",
                                  "--cache-dir",
                                  options_.cache_dir.string(),
                                  "--job-run",
                                  std::to_string(run_id_)};
    if (!host.empty()) argv.insert(argv.end(), {"--host", host});
    if (job_options_.value("security_only", false)) argv.push_back("--security-only");
    if (job_options_.value("finalize", false)) argv.push_back("--finalize");
    if (job_options_.contains("exclude"))
      for (const auto& p : job_options_["exclude"])
        argv.insert(argv.end(), {"--exclude", p.get<std::string>()});
    if (job_options_.contains("keep_versions"))
      argv.insert(argv.end(), {"--keep-versions", std::to_string(job_options_["keep_versions"].get<int>())});
    if (job_options_.contains("timeouts"))
      for (const auto& [phase, seconds] : job_options_["timeouts"].items())
        if (phase != "item")
          argv.insert(argv.end(),
                      {fmt::format("--{}-timeout", phase), std::to_string(seconds.get<std::int64_t>())});
    return argv;
  }

  void start(const schedule::Assignment& a, const std::vector<catalog::JobItem>& items) {
    const catalog::Host* host = nullptr;
    for (const auto& h : hosts_)
      if (h.name == a.host) host = &h;
    // The claim is durable (and, on a host, checked against every running
    // job's items) before the process exists.
    if (!catalog_.claim_job_item(run_id_, a.id, a.host, host ? host->max_vms : 0)) {
      say(fmt::format("host {} is full with other jobs' items; image {} waits", a.host, a.id));
      probed_at_ = {};
      return;
    }
    kill_point("job-claimed");
    auto image = catalog_.find_image(a.id);
    const auto argv = item_argv(*image, a.host);
    auto p = detail::spawn_item(argv, output_dir_ / fmt::format("item-{}.json", a.id),
                                output_dir_ / fmt::format("item-{}.err", a.id));
    p.image_id = a.id;
    p.host = a.host;
    catalog_.set_job_item_process(run_id_, a.id, p.pid);
    std::int64_t attempt = 1;
    for (const auto& item : items)
      if (item.image_id == a.id) attempt = item.attempt + 1;
    say(fmt::format("start   {}{} (attempt {}, pid {})", image->path,
                    a.host.empty() ? std::string() : " on " + a.host, attempt, p.pid));
    in_flight_[a.id] = std::move(p);
    kill_point("job-spawned");
  }

  // Settles an item whose process has ended, from the record.
  enum class Kill { none, cancel, timeout, stop };

  void settle(const detail::ItemProcess& p, int status, Kill kill) {
    patch::reconcile_dead_runs(catalog_);  // the process is gone: settle what it left half done
    catalog::JobItem item;
    for (auto& i : catalog_.job_items(run_id_))
      if (i.image_id == p.image_id) item = std::move(i);
    auto outcome = detail::outcome_from_record(catalog_, item);
    const auto seconds = std::chrono::duration<double>(Clock::now() - p.started).count();
    std::string header =
        fmt::format("attempt {}{}: {} after {:.1f} s ({})\n", item.attempt,
                    p.host.empty() ? std::string() : " on " + p.host,
                    lower_or(outcome.result, "no patch record"), seconds, detail::describe_status(status));
    // Killed by this runner: a cancel ends the item, a time-out fails it,
    // a stop (SIGTERM) leaves it to run again on resume — unless its commit
    // had completed, which stands.
    // A failure the patch had recorded itself stands as well.
    if (kill == Kill::cancel && outcome.state == "pending") {
      outcome.state = "cancelled";
      outcome.reason = "cancelled while running; nothing was committed";
    } else if (kill == Kill::timeout && outcome.state == "pending") {
      outcome.state = "failed";
      outcome.reason = fmt::format(
          "timed out: the item ran longer than --timeout-item {} s and was stopped; "
          "nothing was committed",
          item_timeout_.count());
    } else if (kill == Kill::stop && outcome.state == "pending") {
      outcome.reason = "the runner was stopped; `dormant job resume` runs it again";
    }
    if (outcome.result.empty() || (outcome.state == "failed" && outcome.reason.empty())) {
      const auto err = detail::file_tail(p.err.string(), 8);
      if (!err.empty()) outcome.log += "  stderr:\n" + err;
      if (outcome.reason.empty())
        outcome.reason = fmt::format("the patch process ended ({})", detail::describe_status(status));
    }
    item.state = outcome.state;
    item.result = outcome.result;
    item.reason = outcome.reason;
    item.patch_run_id = outcome.patch_run_id;
    item.host = p.host;
    item.log = header + outcome.log;
    catalog_.end_job_item(item);
    say(fmt::format("{:<7} {} {}", outcome.state, item.image_path,
                    outcome.reason.empty() ? outcome.result : outcome.reason.substr(0, 200)));
    kill_point("job-ended");
  }

  void reap() {
    for (auto it = in_flight_.begin(); it != in_flight_.end();) {
      if (auto status = detail::poll_exit(it->second)) {
        settle(it->second, *status, Kill::none);
        it = in_flight_.erase(it);
      } else {
        ++it;
      }
    }
  }

  void enforce_item_timeouts() {
    for (auto it = in_flight_.begin(); it != in_flight_.end();) {
      if (Clock::now() - it->second.started <= item_timeout_) {
        ++it;
        continue;
      }
      const int status = detail::kill_and_reap(it->second);
      settle(it->second, status, Kill::timeout);
      it = in_flight_.erase(it);
    }
  }

  RunOutcome stop_everything(bool cancelled) {
    for (auto& [id, p] : in_flight_) {
      const int status = detail::kill_and_reap(p);
      settle(p, status, cancelled ? Kill::cancel : Kill::stop);
    }
    in_flight_.clear();
    assess::remove_abandoned_scratch(options_.cache_dir);
    if (cancelled) {
      catalog_.cancel_pending_job_items(run_id_, "the run was cancelled before this image was started");
      catalog_.finish_job_run(run_id_, "cancelled", "cancelled by `dormant job cancel`");
    } else {
      // Items stopped by a signal go back to pending for `job resume`.
      catalog_.finish_job_run(
          run_id_, "interrupted",
          fmt::format("stopped by a signal; `dormant job resume {}` continues it", run_id_));
    }
    return outcome();
  }

  RunOutcome finish(const schedule::Decision& decision) {
    assess::remove_abandoned_scratch(options_.cache_dir);
    auto result = outcome();
    std::string state = result.failed > 0 ? "failed" : "done";
    std::string reason;
    if (decision.stop == schedule::Stop::window_closed) {
      state = "stopped";
      reason = fmt::format(
          "the maintenance window {} closed; {} image(s) not started (`dormant job resume {}` "
          "continues, in the window)",
          job_.window, result.pending, run_id_);
    } else if (decision.stop == schedule::Stop::errors) {
      state = "stopped";
      reason = fmt::format("{}; {} image(s) not started", decision.why, result.pending);
    } else if (no_host_) {
      state = "stopped";
      reason = *no_host_;
    }
    catalog_.finish_job_run(run_id_, state, reason);
    say(fmt::format("run {} {}: {} done, {} failed, {} not started{}", run_id_, state, result.done,
                    result.failed, result.pending, reason.empty() ? "" : " — " + reason));
    return outcome();
  }

  RunOutcome outcome() {
    RunOutcome out;
    out.run_id = run_id_;
    auto run = catalog_.find_job_run(run_id_);
    out.state = run->state;
    out.stop_reason = run->stop_reason;
    for (const auto& item : catalog_.job_items(run_id_)) {
      if (item.state == "done") ++out.done;
      if (item.state == "failed") ++out.failed;
      if (item.state == "cancelled") ++out.cancelled;
      if (item.state == "pending") ++out.pending;
    }
    return out;
  }

  void say(const std::string& line) const {
    if (options_.log) options_.log(line);
  }

  catalog::Catalog& catalog_;
  catalog::Job job_;
  std::int64_t run_id_;
  const RunnerOptions& options_;
  nlohmann::json job_options_;
  schedule::DispatchPolicy policy_;
  std::vector<catalog::Host> hosts_;
  std::vector<schedule::HostCapacity> probed_;
  Clock::time_point probed_at_{};
  std::chrono::seconds item_timeout_{kDefaultItemTimeout};
  fs::path output_dir_;
  std::map<std::int64_t, detail::ItemProcess> in_flight_;
  std::map<std::int64_t, double> estimates_;
  schedule::Stop last_stop_ = schedule::Stop::none;
  std::optional<Clock::time_point> starved_since_;
  std::optional<std::string> no_host_;
};

// Fetches the indexes of the targets' sources once, so the item processes
// all plan against the same verified indexes (they run with --offline).
void refresh_indexes(catalog::Catalog& catalog, const std::vector<catalog::ImageRecord>& images,
                     const RunnerOptions& options) {
  assess::AssessOptions a;
  a.cache_dir = options.cache_dir;
  a.worker_exe = options.dormant_exe;
  a.refresh = true;
  NullProgress progress;
  assess::assess_images(catalog, images, a, progress);
}

}  // namespace

void request_stop() { g_stop = true; }
bool stop_requested() { return g_stop; }

bool runner_alive(const catalog::JobRun& run) {
  return run.state == "running" && run.runner_pid != ::getpid() &&
         process_alive(static_cast<pid_t>(run.runner_pid));
}

RunOutcome run_job(catalog::Catalog& catalog, const catalog::Job& job, const std::string& trigger,
                   const RunnerOptions& options) {
  for (const auto& run : catalog.job_runs(job.name, 20))
    if (runner_alive(run))
      fail(ErrorKind::conflict, job.name, "run {} of this job is running (pid {}); `dormant job show {}`",
           run.id, run.runner_pid, job.name);
  if (!job.window.empty() && !options.ignore_window) {
    const auto window = schedule::Window::parse(job.window);
    const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    if (!window.contains(now))
      fail(ErrorKind::conflict, job.name,
           "outside the job's maintenance window {} (UTC; now {:%H:%M}); --now runs it anyway", job.window,
           now);
  }
  const auto images = job_targets(catalog, job);
  if (images.empty()) fail(ErrorKind::not_found, job.name, "the job targets no image now");
  if (options.refresh) refresh_indexes(catalog, images, options);
  const auto concurrency = schedule::parse_concurrency(job.max_concurrent);
  const auto errors = schedule::parse_error_limit(job.max_errors);
  nlohmann::json settings = {{"items", images.size()},
                             {"max_concurrent", schedule::concurrency_for(concurrency, images.size())},
                             {"max_concurrent_text", concurrency.text()},
                             {"error_threshold", schedule::error_threshold_for(errors, images.size())},
                             {"max_errors_text", errors.text()}};
  std::vector<std::int64_t> ids;
  for (const auto& image : images) ids.push_back(image.id);
  catalog::JobRun run;
  run.job_name = job.name;
  run.trigger = trigger;
  run.runner_pid = ::getpid();
  run.settings_json = settings.dump();
  const auto run_id = catalog.begin_job_run(run, ids);
  if (options.log)
    options.log(
        fmt::format("run {} of job {}: {} image(s), at most {} at once, stops when failures exceed {}",
                    run_id, job.name, images.size(), settings["max_concurrent"].get<std::size_t>(),
                    settings["error_threshold"].get<std::size_t>()));
  kill_point("job-run-recorded");
  return Runner(catalog, job, run_id, options).drive();
}

RunOutcome resume_job_run(catalog::Catalog& catalog, std::int64_t run_id, const RunnerOptions& options) {
  auto run = catalog.find_job_run(run_id);
  if (!run) fail(ErrorKind::not_found, std::to_string(run_id), "no such job run (`dormant job history JOB`)");
  if (runner_alive(*run))
    fail(ErrorKind::conflict, std::to_string(run_id), "its runner (pid {}) is alive", run->runner_pid);
  if (run->state == "done" || run->state == "cancelled" || run->state == "failed")
    fail(ErrorKind::conflict, std::to_string(run_id), "the run is {}: nothing to resume", run->state);
  auto job = catalog.find_job(run->job_name);
  if (!job) fail(ErrorKind::not_found, run->job_name, "the run's job no longer exists");
  catalog.set_job_run_runner(run_id, ::getpid(), "running");
  for (const auto& action : reconcile_job_run(catalog, run_id))
    if (options.log) options.log("reconcile: " + action);
  return Runner(catalog, *job, run_id, options).drive();
}

}  // namespace dormant::jobs
