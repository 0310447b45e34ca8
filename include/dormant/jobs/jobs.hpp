// Durable jobs (docs/jobs.md): a saved servicing task over a set of images,
// run by hand or on a schedule, with rate control and crash-safe resume.
//
// A job run has one item per target image. The runner (this process)
// dispatches items under the job's limits (schedule/dispatch.hpp): each item
// is one `dormant patch IMAGE --job-run RUN` process, whose own steps are
// durable in the catalog before their effects (patch.hpp). The runner
// records every claim and end of an item (with an event of a global
// sequence number) before it acts on it. When anything dies — an item's
// process, the runner, the machine — reconcile_job_run settles the record
// against the world: dead patch runs are reconciled (patch.hpp:
// reconcile_dead_runs: commits completed or rolled back by hash, work
// directories and host objects removed), and each item whose process died
// half way goes back to pending, to run again from its first step.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "dormant/catalog/catalog.hpp"

namespace dormant::jobs {

// What `dormant job create` checks before the job is saved: the name, the
// targets (exactly one kind; named images must be in the catalog; the group
// must exist), mode and host group (service needs one with hosts), limits,
// schedule, window and time-outs (options_json). Error(usage|not_found)
// naming the field.
void validate_job(catalog::Catalog& catalog, const catalog::Job& job);

// The images a job targets now: groups and --all are resolved at each run.
std::vector<catalog::ImageRecord> job_targets(catalog::Catalog& catalog, const catalog::Job& job);

struct RunnerOptions {
  std::filesystem::path dormant_exe;   // spawned per item: `dormant patch ...`
  std::filesystem::path catalog_path;  // passed to the item processes
  std::filesystem::path cache_dir;     // indexes, .debs, item output (cache/jobs/run-N)
  bool refresh = true;                 // fetch the sources' indexes once when the run starts
  bool ignore_window = false;          // `job run --now`: dispatch outside the window
  std::chrono::milliseconds tick{500};
  std::function<void(const std::string&)> log;  // one line per event, for the terminal
};

struct RunOutcome {
  std::int64_t run_id = 0;
  std::string state;  // as JobRun::state
  std::string stop_reason;
  std::size_t done = 0, failed = 0, cancelled = 0, pending = 0;
};

// Starts a run of `job` over its targets now and drives it to its end.
// Error(conflict) when a run of the job is already running with a live runner.
RunOutcome run_job(catalog::Catalog& catalog, const catalog::Job& job, const std::string& trigger,
                   const RunnerOptions& options);

// Takes over run `run_id` (interrupted, stopped, or running with a dead
// runner), reconciles it and drives it on. Error(conflict) when its runner
// is alive; Error(not_found).
RunOutcome resume_job_run(catalog::Catalog& catalog, std::int64_t run_id, const RunnerOptions& options);

// Settles the items of run `run_id` whose processes are gone (see the top
// of this file). Returns one line per action. Idempotent.
std::vector<std::string> reconcile_job_run(catalog::Catalog& catalog, std::int64_t run_id);

// True while the run's runner process exists.
bool runner_alive(const catalog::JobRun& run);

// The job's next schedule fire after now, "2026-11-29 22:00Z"; "-" without a
// schedule, "never" when the expression never fires again.
std::string next_fire_text(const catalog::Job& job);

// `dormant job cancel`: asks a live runner to stop (it kills its item
// processes and reconciles them); for a run without a live runner, does
// that itself. Returns what it did.
std::vector<std::string> cancel_job_run(catalog::Catalog& catalog, std::int64_t run_id);

// Set by the SIGTERM/SIGINT handler of `job run`, `job resume` and `daemon`:
// the runner then stops its items the way cancel does, but leaves the run
// interrupted (resumable) instead of cancelled.
void request_stop();
bool stop_requested();

struct DaemonOptions {
  RunnerOptions runner;
  std::chrono::seconds tick{30};
  bool once = false;  // one scheduling pass, wait for what it started, return
  // The clock the schedules are evaluated with (tests: a fixed instant).
  std::function<std::chrono::sys_seconds()> now;
};

// `dormant daemon`: resumes interrupted runs, then starts scheduled runs
// when their cron time comes (inside their window), each as a `dormant job`
// process. One daemon per catalog (a lock file beside it).
void run_daemon(catalog::Catalog& catalog, const DaemonOptions& options);

}  // namespace dormant::jobs
