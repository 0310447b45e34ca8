// `dormant job create|list|show|run|cancel|resume|history|delete` and
// `dormant daemon` (docs/jobs.md).
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <unistd.h>

#include <csignal>
#include <iostream>
#include <nlohmann/json.hpp>
#include <ostream>

#include "command.hpp"
#include "dormant/catalog/json.hpp"
#include "dormant/core/error.hpp"
#include "dormant/core/paths.hpp"
#include "dormant/jobs/jobs.hpp"
#include "dormant/schedule/cron.hpp"
#include "dormant/schedule/duration.hpp"
#include "dormant/schedule/window.hpp"
#include "output.hpp"

namespace dormant::cli {

namespace {

namespace fs = std::filesystem;

constexpr const char* kPhases[] = {"copy", "boot", "update", "shutdown", "finalize", "item"};

extern "C" void on_stop_signal(int) { jobs::request_stop(); }

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
}

jobs::RunnerOptions runner_options(Context& context, const std::string& cache_dir, bool offline, bool now) {
  jobs::RunnerOptions o;
  o.dormant_exe = own_executable();
  o.catalog_path = fs::absolute(context.catalog_path);
  o.cache_dir = fs::absolute(cache_dir);
  o.refresh = !offline;
  o.ignore_window = now;
  std::ostream* err = context.err;
  o.log = [err](const std::string& line) { *err << line << '\n' << std::flush; };
  return o;
}

std::string targets_text(const catalog::Job& job) {
  auto t = nlohmann::json::parse(job.targets_json);
  if (t.value("all", false)) return "all images";
  if (t.contains("group")) return "group " + t["group"].get<std::string>();
  return fmt::format("{} image(s)", t["images"].size());
}

// A run named by its id, or the newest run of a job named.
catalog::JobRun find_run(catalog::Catalog& catalog, const std::string& name_or_id) {
  if (!name_or_id.empty() && name_or_id.find_first_not_of("0123456789") == std::string::npos)
    if (auto run = catalog.find_job_run(std::stoll(name_or_id))) return *run;
  if (!catalog.find_job(name_or_id))
    fail(ErrorKind::not_found, name_or_id, "no such job or job run (`dormant job list`)");
  auto runs = catalog.job_runs(name_or_id, 1);
  if (runs.empty())
    fail(ErrorKind::not_found, name_or_id, "the job has not run yet (`dormant job run {}`)", name_or_id);
  return runs.front();
}

class JobCreateCommand final : public Command {
 public:
  CLI::App* configure(CLI::App& parent) override {
    auto* cmd = parent.add_subcommand("create", "Save a servicing job: targets, mode, limits, schedule");
    cmd->add_option("NAME", job_.name, "Job name (letters, digits, '.', '_', '-')")->required();
    cmd->add_option("--targets,-t", images_, "Images to service, by path, catalog id or libvirt domain name");
    cmd->add_option("--group,-g", group_, "The members of this group (resolved at each run)");
    cmd->add_flag("--all,-a", all_, "Every image in the catalog (resolved at each run)");
    cmd->add_option("--mode", job_.mode,
                    "offline (write the update into the image) or service (a maintenance host)")
        ->check(CLI::IsMember({"offline", "service"}))
        ->capture_default_str();
    cmd->add_option("--hosts", job_.host_group, "--mode service: the host group to run on");
    cmd->add_flag("--security-only", security_only_, "Install only security updates");
    cmd->add_option("--exclude,-x", exclude_, "Keep this package at its installed version (repeatable)");
    cmd->add_flag("--finalize", finalize_,
                  "--mode offline: boot each image once to apply and check the update");
    cmd->add_option("--keep-versions", keep_versions_, "Previous versions kept for rollback")
        ->capture_default_str();
    cmd->add_option("--max-concurrent", job_.max_concurrent,
                    "Items at once: N, or P% of the run's images rounded up (at least 1)")
        ->capture_default_str();
    cmd->add_option("--max-errors", job_.max_errors,
                    "Stop dispatching when failures exceed N, or P% of the images rounded down")
        ->capture_default_str();
    for (const char* phase : kPhases)
      cmd->add_option(
          fmt::format("--timeout-{}", phase), timeouts_[phase],
          std::string_view(phase) == "item"
              ? std::string("Time-out of one image, all phases (default 6h): 90s, 30m, 2h, 1h30m")
              : fmt::format("Time-out of the {} phase (as `dormant patch --{}-timeout`)", phase, phase));
    cmd->add_option("--schedule", job_.schedule, "Cron expression, UTC: 'MIN HOUR DOM MON DOW' or @daily");
    cmd->add_option("--window", job_.window, "Maintenance window, UTC: HH:MM-HH:MM (may wrap midnight)");
    add_json_flag(cmd, json_);
    cmd->footer(
        "A job is saved, not run: `dormant job run NAME` runs it now, `dormant daemon` on its --schedule.\n"
        "Limits (docs/jobs.md): --max-concurrent P% rounds up; --max-errors P% rounds down, and dispatch\n"
        "stops only when failures EXCEED it; items already running then finish, so up to concurrency-1\n"
        "more failures can follow. A --window stops new dispatches when it closes; running items finish or\n"
        "reach their time-outs.\n\n"
        "Examples:\n"
        "  dormant job create nightly --group web --mode offline --max-concurrent 25% --max-errors 10%\n"
        "      --schedule '0 22 * * *' --window 22:00-04:00\n"
        "  dormant job create svc --targets web1.qcow2 web2.qcow2 --mode service --hosts maint "
        "--timeout-update 45m");
    return cmd;
  }

  void run(Context& context) override {
    auto& catalog = context.catalog();
    const int selectors = (images_.empty() ? 0 : 1) + (group_.empty() ? 0 : 1) + (all_ ? 1 : 0);
    if (selectors != 1)
      fail(ErrorKind::usage, "job create", "give --targets IMAGE..., or --group G, or --all (exactly one)");
    nlohmann::json targets;
    if (all_) targets["all"] = true;
    if (!group_.empty()) targets["group"] = group_;
    if (!images_.empty()) {
      targets["images"] = nlohmann::json::array();
      for (const auto& name : images_) {
        // A libvirt domain's name stands for every disk of it the catalog has.
        bool domain = false;
        for (auto& candidate : catalog.images())
          if (!candidate.domain.empty() && candidate.domain == name) {
            targets["images"].push_back(candidate.path);
            domain = true;
          }
        if (!domain) targets["images"].push_back(catalog.find_image(resolve_image(catalog, name))->path);
      }
    }
    job_.targets_json = targets.dump();
    nlohmann::json options = {{"security_only", security_only_},
                              {"exclude", exclude_},
                              {"finalize", finalize_},
                              {"keep_versions", keep_versions_}};
    options["timeouts"] = nlohmann::json::object();
    for (const auto& [phase, text] : timeouts_)
      if (!text.empty())
        options["timeouts"][phase] = schedule::parse_duration(text, "--timeout-" + phase).count();
    job_.options_json = options.dump();
    jobs::validate_job(catalog, job_);
    if (!job_.window.empty()) job_.window = schedule::Window::parse(job_.window).text();
    catalog.add_job(job_);
    auto saved = *catalog.find_job(job_.name);
    if (json_)
      *context.out << catalog::to_json(saved).dump(2) << '\n';
    else
      *context.out << fmt::format("job {} saved: {} ({}), next scheduled run {}\n", saved.name,
                                  targets_text(saved), saved.mode, jobs::next_fire_text(saved));
  }

 private:
  catalog::Job job_;
  std::vector<std::string> images_;
  std::string group_;
  bool all_ = false;
  bool security_only_ = false;
  bool finalize_ = false;
  std::vector<std::string> exclude_;
  int keep_versions_ = 2;
  std::map<std::string, std::string> timeouts_;
  bool json_ = false;
};

class JobListCommand final : public Command {
 public:
  CLI::App* configure(CLI::App& parent) override {
    auto* cmd = parent.add_subcommand("list", "List jobs with their last run and next scheduled time");
    add_json_flag(cmd, json_);
    return cmd;
  }
  void run(Context& context) override {
    auto& catalog = context.catalog();
    nlohmann::json out = nlohmann::json::array();
    Table table({"NAME", "MODE", "TARGETS", "SCHEDULE", "WINDOW", "NEXT", "LAST RUN"});
    for (const auto& job : catalog.jobs()) {
      auto runs = catalog.job_runs(job.name, 1);
      auto j = catalog::to_json(job);
      j["next_fire"] = jobs::next_fire_text(job);
      j["last_run"] = runs.empty() ? nlohmann::json(nullptr) : catalog::to_json(runs.front());
      out.push_back(j);
      table.add({job.name, job.mode, targets_text(job), or_dash(job.schedule), or_dash(job.window),
                 jobs::next_fire_text(job),
                 runs.empty() ? "-"
                              : fmt::format("{} {} ({})", runs.front().id, runs.front().state,
                                            runs.front().started_at)});
    }
    if (json_)
      *context.out << out.dump(2) << '\n';
    else
      table.print(*context.out);
  }

 private:
  bool json_ = false;
};

class JobShowCommand final : public Command {
 public:
  CLI::App* configure(CLI::App& parent) override {
    auto* cmd = parent.add_subcommand("show", "Show a job run: every image's state, host, attempts and log");
    cmd->add_option("JOB", name_, "Job name, or a run id")->required();
    add_json_flag(cmd, json_);
    cmd->add_flag("--no-log", no_log_, "Only the table, not each image's log");
    return cmd;
  }
  void run(Context& context) override {
    auto& catalog = context.catalog();
    const auto run = find_run(catalog, name_);
    const auto items = catalog.job_items(run.id);
    auto job = catalog.find_job(run.job_name);
    if (json_) {
      nlohmann::json j = {{"job", job ? catalog::to_json(*job) : nlohmann::json(nullptr)},
                          {"run", catalog::to_json(run)}};
      j["run"]["runner_alive"] = jobs::runner_alive(run);
      auto& list = j["items"] = nlohmann::json::array();
      for (const auto& item : items) list.push_back(catalog::to_json(item));
      *context.out << j.dump(2) << '\n';
      return;
    }
    auto& out = *context.out;
    out << fmt::format("job {} run {} ({}): {}{}\n", run.job_name, run.id, run.trigger, run.state,
                       run.stop_reason.empty() ? "" : " — " + run.stop_reason);
    out << fmt::format("started {}{}\n", run.started_at,
                       run.finished_at.empty() ? "" : ", finished " + run.finished_at);
    Table table({"IMAGE", "STATE", "ATTEMPT", "HOST", "RESULT", "REASON"});
    for (const auto& item : items)
      table.add({item.image_path, item.state, std::to_string(item.attempt), or_dash(item.host),
                 or_dash(item.result), or_dash(item.reason.substr(0, 120))});
    table.print(out);
    if (no_log_) return;
    for (const auto& item : items)
      if (!item.log.empty()) out << "\n" << item.image_path << ":\n" << item.log;
  }

 private:
  std::string name_;
  bool json_ = false;
  bool no_log_ = false;
};

void print_outcome(Context& context, const jobs::RunOutcome& outcome, bool json) {
  auto run = *context.catalog().find_job_run(outcome.run_id);
  if (json) {
    nlohmann::json j = catalog::to_json(run);
    auto& list = j["items"] = nlohmann::json::array();
    for (const auto& item : context.catalog().job_items(outcome.run_id))
      list.push_back(catalog::to_json(item));
    *context.out << j.dump(2) << '\n';
  } else {
    *context.out << fmt::format("run {} {}: {} done, {} failed, {} cancelled, {} not started{}\n",
                                outcome.run_id, outcome.state, outcome.done, outcome.failed,
                                outcome.cancelled, outcome.pending,
                                outcome.stop_reason.empty() ? "" : " — " + outcome.stop_reason);
  }
  if (outcome.state != "done") context.exit_status = 1;
}

class JobRunCommand final : public Command {
 public:
  CLI::App* configure(CLI::App& parent) override {
    auto* cmd =
        parent.add_subcommand("run", "Run a job now, in the foreground, until every image is settled");
    cmd->add_option("NAME", name_, "Job name")->required();
    cmd->add_flag("--now", now_, "Run even outside the job's maintenance window");
    cmd->add_flag("--offline", offline_, "Do not fetch indexes: use each source's last successful fetch");
    cmd->add_option("--cache-dir", cache_dir_, "Indexes and the verified .deb cache")->capture_default_str();
    cmd->add_option("--trigger", trigger_, "")->group("")->check(CLI::IsMember({"manual", "schedule"}));
    add_json_flag(cmd, json_);
    cmd->footer(
        "Progress goes to stderr, one line per start and end. SIGTERM or Ctrl-C stops the run's images\n"
        "(their work is rolled back) and leaves it resumable: `dormant job resume NAME`.\n"
        "Exit status: 0 all done, 1 an image failed or the run was stopped or cancelled.");
    return cmd;
  }
  void run(Context& context) override {
    auto job = context.catalog().find_job(name_);
    if (!job) fail(ErrorKind::not_found, name_, "no such job (`dormant job list`)");
    install_stop_handlers();
    auto outcome =
        jobs::run_job(context.catalog(), *job, trigger_, runner_options(context, cache_dir_, offline_, now_));
    print_outcome(context, outcome, json_);
  }

 private:
  std::string name_;
  bool now_ = false;
  bool offline_ = false;
  bool json_ = false;
  std::string trigger_ = "manual";
  std::string cache_dir_ = default_cache_dir().string();
};

class JobResumeCommand final : public Command {
 public:
  CLI::App* configure(CLI::App& parent) override {
    auto* cmd = parent.add_subcommand(
        "resume",
        "Continue an interrupted or stopped run: reconcile what its dead processes left, then go on");
    cmd->add_option("RUN", name_, "Run id, or a job name (its newest run)")->required();
    cmd->add_flag("--now", now_, "Run even outside the job's maintenance window");
    cmd->add_option("--cache-dir", cache_dir_, "Indexes and the verified .deb cache")->capture_default_str();
    add_json_flag(cmd, json_);
    cmd->footer(
        "Reconciliation: every patch process of the run that died is settled from the record — a commit\n"
        "that had replaced the image is completed, one that had not is rolled back, work directories and\n"
        "the servicing VMs and volumes on maintenance hosts are removed — and each image that was half done\n"
        "runs again from its first step (at most 3 attempts).");
    return cmd;
  }
  void run(Context& context) override {
    const auto run = find_run(context.catalog(), name_);
    install_stop_handlers();
    auto outcome =
        jobs::resume_job_run(context.catalog(), run.id, runner_options(context, cache_dir_, true, now_));
    print_outcome(context, outcome, json_);
  }

 private:
  std::string name_;
  bool now_ = false;
  bool json_ = false;
  std::string cache_dir_ = default_cache_dir().string();
};

class JobCancelCommand final : public Command {
 public:
  CLI::App* configure(CLI::App& parent) override {
    auto* cmd =
        parent.add_subcommand("cancel", "Cancel a run: its running images are stopped and rolled back");
    cmd->add_option("RUN", name_, "Run id, or a job name (its newest run)")->required();
    return cmd;
  }
  void run(Context& context) override {
    const auto run = find_run(context.catalog(), name_);
    for (const auto& line : jobs::cancel_job_run(context.catalog(), run.id)) *context.out << line << '\n';
  }

 private:
  std::string name_;
};

class JobHistoryCommand final : public Command {
 public:
  CLI::App* configure(CLI::App& parent) override {
    auto* cmd = parent.add_subcommand("history", "List a job's runs, newest first");
    cmd->add_option("NAME", name_, "Job name (all jobs when omitted)");
    cmd->add_option("--limit", limit_, "At most this many runs")->capture_default_str();
    add_json_flag(cmd, json_);
    return cmd;
  }
  void run(Context& context) override {
    auto& catalog = context.catalog();
    if (!name_.empty() && !catalog.find_job(name_)) fail(ErrorKind::not_found, name_, "no such job");
    nlohmann::json out = nlohmann::json::array();
    Table table({"RUN", "JOB", "TRIGGER", "STARTED", "FINISHED", "STATE", "DONE", "FAILED", "REASON"});
    for (const auto& run : catalog.job_runs(name_, limit_)) {
      std::size_t done = 0, failed = 0;
      for (const auto& item : catalog.job_items(run.id)) {
        done += item.state == "done";
        failed += item.state == "failed";
      }
      auto j = catalog::to_json(run);
      j["done"] = done;
      j["failed"] = failed;
      out.push_back(j);
      table.add({std::to_string(run.id), run.job_name, run.trigger, run.started_at, or_dash(run.finished_at),
                 run.state, std::to_string(done), std::to_string(failed),
                 or_dash(run.stop_reason.substr(0, 100))});
    }
    if (json_)
      *context.out << out.dump(2) << '\n';
    else
      table.print(*context.out);
  }

 private:
  std::string name_;
  std::size_t limit_ = 20;
  bool json_ = false;
};

class JobDeleteCommand final : public Command {
 public:
  CLI::App* configure(CLI::App& parent) override {
    auto* cmd = parent.add_subcommand("delete", "Delete a job and its run history (images are not touched)");
    cmd->add_option("NAME", name_, "Job name")->required();
    return cmd;
  }
  void run(Context& context) override {
    context.catalog().remove_job(name_);
    *context.out << "job " << name_ << " deleted\n";
  }

 private:
  std::string name_;
};

class DaemonCommand final : public Command {
 public:
  CLI::App* configure(CLI::App& parent) override {
    auto* cmd =
        parent.add_subcommand("daemon", "Run job schedules: start each job at its cron time, in its window");
    cmd->add_option("--tick", tick_s_, "Seconds between schedule checks")->capture_default_str();
    cmd->add_flag("--once", once_, "One scheduling pass; wait for the runs it started; exit");
    cmd->add_option("--at", at_, "")->group("");  // tests: evaluate the schedules at this UTC instant
    cmd->add_option("--cache-dir", cache_dir_, "Indexes and the verified .deb cache")->capture_default_str();
    cmd->footer(
        "At start the daemon resumes runs whose runner died (`dormant job resume`). Then, every --tick, "
        "each\n"
        "job whose --schedule fired since its last fire time gets a run (missed fire times coalesce into\n"
        "one; a fire time outside the job's window, or while its previous run still runs, is skipped and\n"
        "logged). Each run is a `dormant job run` process. SIGTERM stops the runs (resumable) and exits.\n"
        "One daemon per catalog.");
    return cmd;
  }
  void run(Context& context) override {
    install_stop_handlers();
    jobs::DaemonOptions o;
    o.runner = runner_options(context, cache_dir_, false, false);
    o.tick = std::chrono::seconds(tick_s_);
    o.once = once_;
    if (!at_.empty()) {
      std::tm tm{};
      if (::strptime(at_.c_str(), "%Y-%m-%dT%H:%M", &tm) == nullptr)
        fail(ErrorKind::usage, at_, "--at wants YYYY-MM-DDTHH:MM (UTC)");
      const auto at = std::chrono::sys_seconds(std::chrono::seconds(::timegm(&tm)));
      o.now = [at] { return at; };
    }
    jobs::run_daemon(context.catalog(), o);
  }

 private:
  int tick_s_ = 30;
  bool once_ = false;
  std::string at_;
  std::string cache_dir_ = default_cache_dir().string();
};

}  // namespace

void add_job_commands(CLI::App& app, Commands& commands) {
  auto* job =
      app.add_subcommand("job", "Durable servicing jobs: saved targets and limits, schedules, resume");
  job->require_subcommand(1);
  job->footer("Example:\n  dormant job create web --group web --max-concurrent 2 && dormant job run web");
  add_command(*job, commands, std::make_unique<JobCreateCommand>());
  add_command(*job, commands, std::make_unique<JobListCommand>());
  add_command(*job, commands, std::make_unique<JobShowCommand>());
  add_command(*job, commands, std::make_unique<JobRunCommand>());
  add_command(*job, commands, std::make_unique<JobCancelCommand>());
  add_command(*job, commands, std::make_unique<JobResumeCommand>());
  add_command(*job, commands, std::make_unique<JobHistoryCommand>());
  add_command(*job, commands, std::make_unique<JobDeleteCommand>());
  add_command(app, commands, std::make_unique<DaemonCommand>());
}

}  // namespace dormant::cli
