// Jobs, their runs, items and dispatch events (schema version 6).
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>

#include "catalog_impl.hpp"
#include "dormant/catalog/catalog.hpp"

namespace dormant::catalog {
namespace {

constexpr const char* kJobColumns =
    "name, targets_json, mode, host_group, options_json, max_concurrent, max_errors, schedule, "
    "maintenance_window, created_at, last_fire";

Job read_job(SQLite::Statement& q) {
  Job job;
  job.name = q.getColumn(0).getString();
  job.targets_json = q.getColumn(1).getString();
  job.mode = q.getColumn(2).getString();
  job.host_group = text(q.getColumn(3));
  job.options_json = q.getColumn(4).getString();
  job.max_concurrent = q.getColumn(5).getString();
  job.max_errors = q.getColumn(6).getString();
  job.schedule = text(q.getColumn(7));
  job.window = text(q.getColumn(8));
  job.created_at = q.getColumn(9).getString();
  job.last_fire = text(q.getColumn(10));
  return job;
}

constexpr const char* kRunColumns =
    "id, job_name, run_trigger, started_at, finished_at, state, stop_reason, runner_pid, cancel_requested, "
    "settings_json";

JobRun read_run(SQLite::Statement& q) {
  JobRun run;
  run.id = q.getColumn(0).getInt64();
  run.job_name = q.getColumn(1).getString();
  run.trigger = q.getColumn(2).getString();
  run.started_at = q.getColumn(3).getString();
  run.finished_at = text(q.getColumn(4));
  run.state = q.getColumn(5).getString();
  run.stop_reason = text(q.getColumn(6));
  run.runner_pid = q.getColumn(7).isNull() ? 0 : q.getColumn(7).getInt64();
  run.cancel_requested = q.getColumn(8).getInt() != 0;
  run.settings_json = q.getColumn(9).getString();
  return run;
}

constexpr const char* kItemColumns =
    "j.run_id, j.image_id, i.path, j.state, j.attempt, j.host, j.pid, j.patch_run_id, j.started_at, "
    "j.finished_at, j.result, j.reason, j.log";

JobItem read_item(SQLite::Statement& q) {
  JobItem item;
  item.run_id = q.getColumn(0).getInt64();
  item.image_id = q.getColumn(1).getInt64();
  item.image_path = q.getColumn(2).getString();
  item.state = q.getColumn(3).getString();
  item.attempt = q.getColumn(4).getInt64();
  item.host = text(q.getColumn(5));
  item.pid = q.getColumn(6).isNull() ? 0 : q.getColumn(6).getInt64();
  item.patch_run_id = text(q.getColumn(7));
  item.started_at = text(q.getColumn(8));
  item.finished_at = text(q.getColumn(9));
  item.result = text(q.getColumn(10));
  item.reason = text(q.getColumn(11));
  item.log = q.getColumn(12).getString();
  return item;
}

void add_event(SQLite::Database& db, std::int64_t run_id, std::int64_t image_id, const std::string& host,
               const char* kind) {
  SQLite::Statement q(
      db, "INSERT INTO job_events (run_id, image_id, host, kind, at) VALUES (?1, ?2, ?3, ?4, ?5)");
  q.bind(1, run_id);
  q.bind(2, image_id);
  bind_text_or_null(q, 3, host);
  q.bind(4, kind);
  q.bind(5, utc_now_ms());
  q.exec();
}

}  // namespace

void Catalog::add_job(const Job& job) {
  impl_->guard("recording a job", [&] {
    if (find_job(job.name)) fail(ErrorKind::conflict, job.name, "a job of this name exists");
    SQLite::Statement q(
        impl_->db,
        "INSERT INTO jobs (name, targets_json, mode, host_group, options_json, max_concurrent, "
        "max_errors, schedule, maintenance_window, created_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    q.bind(1, job.name);
    q.bind(2, job.targets_json);
    q.bind(3, job.mode);
    bind_text_or_null(q, 4, job.host_group);
    q.bind(5, job.options_json);
    q.bind(6, job.max_concurrent);
    q.bind(7, job.max_errors);
    bind_text_or_null(q, 8, job.schedule);
    bind_text_or_null(q, 9, job.window);
    q.bind(10, job.created_at.empty() ? utc_now() : job.created_at);
    q.exec();
  });
}

void Catalog::remove_job(std::string_view name) {
  impl_->guard("removing a job", [&] {
    SQLite::Transaction transaction(impl_->db, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement running(impl_->db,
                              "SELECT id FROM job_runs WHERE job_name = ?1 AND state = 'running' LIMIT 1");
    running.bind(1, std::string(name));
    if (running.executeStep())
      fail(ErrorKind::conflict, std::string(name),
           "run {} of this job is running; `dormant job cancel {}` first", running.getColumn(0).getInt64(),
           name);
    SQLite::Statement q(impl_->db, "DELETE FROM jobs WHERE name = ?1");
    q.bind(1, std::string(name));
    if (q.exec() == 0) fail(ErrorKind::not_found, std::string(name), "no such job");
    transaction.commit();
  });
}

std::vector<Job> Catalog::jobs() {
  return impl_->guard("reading jobs", [&] {
    SQLite::Statement q(impl_->db, std::string("SELECT ") + kJobColumns + " FROM jobs ORDER BY name");
    std::vector<Job> out;
    while (q.executeStep()) out.push_back(read_job(q));
    return out;
  });
}

std::optional<Job> Catalog::find_job(std::string_view name) {
  return impl_->guard("reading a job", [&]() -> std::optional<Job> {
    SQLite::Statement q(impl_->db, std::string("SELECT ") + kJobColumns + " FROM jobs WHERE name = ?1");
    q.bind(1, std::string(name));
    if (!q.executeStep()) return std::nullopt;
    return read_job(q);
  });
}

void Catalog::set_job_last_fire(std::string_view name, const std::string& fire) {
  impl_->guard("recording a schedule fire time", [&] {
    SQLite::Statement q(impl_->db, "UPDATE jobs SET last_fire = ?2 WHERE name = ?1");
    q.bind(1, std::string(name));
    q.bind(2, fire);
    if (q.exec() == 0) fail(ErrorKind::not_found, std::string(name), "no such job");
  });
}

std::int64_t Catalog::begin_job_run(const JobRun& run, const std::vector<std::int64_t>& image_ids) {
  return impl_->guard("recording a job run", [&] {
    SQLite::Transaction transaction(impl_->db, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement q(impl_->db,
                        "INSERT INTO job_runs (job_name, run_trigger, started_at, state, runner_pid, "
                        "settings_json) VALUES (?1, ?2, ?3, 'running', ?4, ?5)");
    q.bind(1, run.job_name);
    q.bind(2, run.trigger);
    q.bind(3, run.started_at.empty() ? utc_now() : run.started_at);
    q.bind(4, run.runner_pid);
    q.bind(5, run.settings_json);
    q.exec();
    const std::int64_t id = impl_->db.getLastInsertRowid();
    SQLite::Statement item(impl_->db,
                           "INSERT INTO job_items (run_id, image_id, state) VALUES (?1, ?2, 'pending')");
    for (auto image_id : image_ids) {
      item.bind(1, id);
      item.bind(2, image_id);
      item.exec();
      item.reset();
    }
    transaction.commit();
    return id;
  });
}

std::optional<JobRun> Catalog::find_job_run(std::int64_t id) {
  return impl_->guard("reading a job run", [&]() -> std::optional<JobRun> {
    SQLite::Statement q(impl_->db, std::string("SELECT ") + kRunColumns + " FROM job_runs WHERE id = ?1");
    q.bind(1, id);
    if (!q.executeStep()) return std::nullopt;
    return read_run(q);
  });
}

std::vector<JobRun> Catalog::job_runs(std::string_view job_name, std::size_t limit) {
  return impl_->guard("reading job runs", [&] {
    SQLite::Statement q(impl_->db,
                        std::string("SELECT ") + kRunColumns +
                            " FROM job_runs WHERE ?1 = '' OR job_name = ?1 ORDER BY id DESC LIMIT ?2");
    q.bind(1, std::string(job_name));
    q.bind(2, static_cast<std::int64_t>(limit));
    std::vector<JobRun> out;
    while (q.executeStep()) out.push_back(read_run(q));
    return out;
  });
}

void Catalog::set_job_run_runner(std::int64_t id, std::int64_t pid, const std::string& state) {
  impl_->guard("recording a job run's runner", [&] {
    SQLite::Statement q(impl_->db,
                        "UPDATE job_runs SET runner_pid = ?2, state = ?3, finished_at = NULL WHERE id = ?1");
    q.bind(1, id);
    q.bind(2, pid);
    q.bind(3, state);
    if (q.exec() == 0) fail(ErrorKind::not_found, impl_->subject, "no job run {}", id);
  });
}

void Catalog::finish_job_run(std::int64_t id, const std::string& state, const std::string& stop_reason) {
  impl_->guard("finishing a job run", [&] {
    SQLite::Statement q(impl_->db,
                        "UPDATE job_runs SET state = ?2, stop_reason = ?3, finished_at = ?4 WHERE id = ?1");
    q.bind(1, id);
    q.bind(2, state);
    bind_text_or_null(q, 3, stop_reason);
    q.bind(4, utc_now());
    if (q.exec() == 0) fail(ErrorKind::not_found, impl_->subject, "no job run {}", id);
  });
}

void Catalog::request_job_cancel(std::int64_t id) {
  impl_->guard("requesting a job run's cancellation", [&] {
    SQLite::Statement q(impl_->db, "UPDATE job_runs SET cancel_requested = 1 WHERE id = ?1");
    q.bind(1, id);
    if (q.exec() == 0) fail(ErrorKind::not_found, impl_->subject, "no job run {}", id);
  });
}

std::vector<JobItem> Catalog::job_items(std::int64_t run_id) {
  return impl_->guard("reading job items", [&] {
    SQLite::Statement q(impl_->db, std::string("SELECT ") + kItemColumns +
                                       " FROM job_items j JOIN images i ON i.id = j.image_id "
                                       "WHERE j.run_id = ?1 ORDER BY i.path");
    q.bind(1, run_id);
    std::vector<JobItem> out;
    while (q.executeStep()) out.push_back(read_item(q));
    return out;
  });
}

bool Catalog::claim_job_item(std::int64_t run_id, std::int64_t image_id, const std::string& host,
                             std::int64_t host_max_vms) {
  return impl_->guard("dispatching a job item", [&] {
    SQLite::Transaction transaction(impl_->db, SQLite::TransactionBehavior::IMMEDIATE);
    if (!host.empty()) {
      SQLite::Statement count(impl_->db,
                              "SELECT count(*) FROM job_items j JOIN job_runs r ON r.id = j.run_id "
                              "WHERE j.host = ?1 AND j.state = 'running' AND r.state = 'running'");
      count.bind(1, host);
      count.executeStep();
      if (count.getColumn(0).getInt64() >= host_max_vms) return false;  // rolled back
    }
    SQLite::Statement q(
        impl_->db,
        "UPDATE job_items SET state = 'running', attempt = attempt + 1, host = ?3, pid = NULL, "
        "patch_run_id = NULL, started_at = ?4, finished_at = NULL "
        "WHERE run_id = ?1 AND image_id = ?2 AND state = 'pending'");
    q.bind(1, run_id);
    q.bind(2, image_id);
    bind_text_or_null(q, 3, host);
    q.bind(4, utc_now_ms());
    if (q.exec() == 0)
      fail(ErrorKind::conflict, impl_->subject, "job run {}: image {} is not pending", run_id, image_id);
    add_event(impl_->db, run_id, image_id, host, "start");
    transaction.commit();
    return true;
  });
}

void Catalog::set_job_item_process(std::int64_t run_id, std::int64_t image_id, std::int64_t pid) {
  impl_->guard("recording a job item's process", [&] {
    SQLite::Statement q(impl_->db, "UPDATE job_items SET pid = ?3 WHERE run_id = ?1 AND image_id = ?2");
    q.bind(1, run_id);
    q.bind(2, image_id);
    q.bind(3, pid);
    q.exec();
  });
}

void Catalog::end_job_item(const JobItem& item) {
  impl_->guard("recording a job item's end", [&] {
    SQLite::Transaction transaction(impl_->db, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement q(impl_->db,
                        "UPDATE job_items SET state = ?3, result = ?4, reason = ?5, log = log || ?6, "
                        "patch_run_id = coalesce(?7, patch_run_id), finished_at = ?8, pid = NULL "
                        "WHERE run_id = ?1 AND image_id = ?2 AND state = 'running'");
    q.bind(1, item.run_id);
    q.bind(2, item.image_id);
    q.bind(3, item.state);
    bind_text_or_null(q, 4, item.result);
    bind_text_or_null(q, 5, item.reason);
    q.bind(6, item.log);
    bind_text_or_null(q, 7, item.patch_run_id);
    q.bind(8, utc_now_ms());
    if (q.exec() == 0)
      fail(ErrorKind::conflict, impl_->subject, "job run {}: image {} is not running", item.run_id,
           item.image_id);
    add_event(impl_->db, item.run_id, item.image_id, item.host, "finish");
    transaction.commit();
  });
}

void Catalog::cancel_pending_job_items(std::int64_t run_id, const std::string& reason) {
  impl_->guard("cancelling job items", [&] {
    SQLite::Statement q(impl_->db,
                        "UPDATE job_items SET state = 'cancelled', reason = ?2, finished_at = ?3 "
                        "WHERE run_id = ?1 AND state = 'pending'");
    q.bind(1, run_id);
    q.bind(2, reason);
    q.bind(3, utc_now_ms());
    q.exec();
  });
}

std::vector<JobEvent> Catalog::job_events(std::int64_t run_id) {
  return impl_->guard("reading job events", [&] {
    SQLite::Statement q(impl_->db,
                        "SELECT seq, run_id, image_id, host, kind, at FROM job_events "
                        "WHERE ?1 = 0 OR run_id = ?1 ORDER BY seq");
    q.bind(1, run_id);
    std::vector<JobEvent> out;
    while (q.executeStep()) {
      JobEvent e;
      e.seq = q.getColumn(0).getInt64();
      e.run_id = q.getColumn(1).getInt64();
      e.image_id = q.getColumn(2).getInt64();
      e.host = text(q.getColumn(3));
      e.kind = q.getColumn(4).getString();
      e.at = q.getColumn(5).getString();
      out.push_back(std::move(e));
    }
    return out;
  });
}

}  // namespace dormant::catalog
