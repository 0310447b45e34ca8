// Patch runs and their per-image records (schema version 4; job_run_id: 6).
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>

#include "catalog_impl.hpp"
#include "dormant/catalog/catalog.hpp"

namespace dormant::catalog {
namespace {

constexpr const char* kRunColumns = "id, started_at, finished_at, mode, options_json, state, job_run_id";

PatchRun read_run(SQLite::Statement& q) {
  PatchRun run;
  run.id = q.getColumn(0).getString();
  run.started_at = q.getColumn(1).getString();
  run.finished_at = text(q.getColumn(2));
  run.mode = q.getColumn(3).getString();
  run.options_json = q.getColumn(4).getString();
  run.state = q.getColumn(5).getString();
  if (!q.getColumn(6).isNull()) run.job_run_id = q.getColumn(6).getInt64();
  return run;
}

constexpr const char* kImageColumns =
    "p.run_id, p.image_id, i.path, p.state, p.reason, p.planned, p.staged, p.applied, p.verified, "
    "p.old_sha256, p.new_sha256, p.version_path, p.updated_at, p.detail_json";

PatchImageRecord read_image(SQLite::Statement& q) {
  PatchImageRecord r;
  r.run_id = q.getColumn(0).getString();
  r.image_id = q.getColumn(1).getInt64();
  r.image_path = q.getColumn(2).getString();
  r.state = q.getColumn(3).getString();
  r.reason = text(q.getColumn(4));
  r.planned = q.getColumn(5).getInt64();
  r.staged = q.getColumn(6).getInt64();
  if (!q.getColumn(7).isNull()) r.applied = q.getColumn(7).getInt64();
  r.verified = q.getColumn(8).getInt() != 0;
  r.old_sha256 = text(q.getColumn(9));
  r.new_sha256 = text(q.getColumn(10));
  r.version_path = text(q.getColumn(11));
  r.updated_at = q.getColumn(12).getString();
  r.detail_json = q.getColumn(13).getString();
  return r;
}

}  // namespace

void Catalog::begin_patch_run(const PatchRun& run) {
  impl_->guard("recording a patch run", [&] {
    if (find_patch_run(run.id))
      fail(ErrorKind::conflict, impl_->subject, "patch run {} is already recorded", run.id);
    SQLite::Statement q(impl_->db,
                        "INSERT INTO patch_runs (id, started_at, mode, options_json, state, job_run_id) "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    q.bind(1, run.id);
    q.bind(2, run.started_at.empty() ? utc_now() : run.started_at);
    q.bind(3, run.mode);
    q.bind(4, run.options_json.empty() ? std::string("{}") : run.options_json);
    q.bind(5, run.state);
    if (run.job_run_id)
      q.bind(6, *run.job_run_id);
    else
      q.bind(6);
    q.exec();
  });
}

void Catalog::finish_patch_run(const std::string& run_id, const std::string& state) {
  impl_->guard("finishing a patch run", [&] {
    SQLite::Statement q(impl_->db, "UPDATE patch_runs SET state = ?2, finished_at = ?3 WHERE id = ?1");
    q.bind(1, run_id);
    q.bind(2, state);
    q.bind(3, utc_now());
    if (q.exec() == 0) fail(ErrorKind::not_found, impl_->subject, "no patch run {}", run_id);
  });
}

std::optional<PatchRun> Catalog::find_patch_run(const std::string& run_id) {
  return impl_->guard("reading a patch run", [&]() -> std::optional<PatchRun> {
    SQLite::Statement q(impl_->db, std::string("SELECT ") + kRunColumns + " FROM patch_runs WHERE id = ?1");
    q.bind(1, run_id);
    if (!q.executeStep()) return std::nullopt;
    return read_run(q);
  });
}

std::vector<PatchRun> Catalog::patch_runs(std::size_t limit) {
  return impl_->guard("reading patch runs", [&] {
    SQLite::Statement q(impl_->db, std::string("SELECT ") + kRunColumns +
                                       " FROM patch_runs ORDER BY started_at DESC, id DESC LIMIT ?1");
    q.bind(1, static_cast<std::int64_t>(limit));
    std::vector<PatchRun> runs;
    while (q.executeStep()) runs.push_back(read_run(q));
    return runs;
  });
}

void Catalog::put_patch_image(const PatchImageRecord& r) {
  impl_->guard("recording a patched image", [&] {
    SQLite::Statement q(
        impl_->db,
        "INSERT OR REPLACE INTO patch_images (run_id, image_id, state, reason, planned, staged, applied, "
        "verified, old_sha256, new_sha256, version_path, updated_at, detail_json) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)");
    q.bind(1, r.run_id);
    q.bind(2, r.image_id);
    q.bind(3, r.state);
    bind_text_or_null(q, 4, r.reason);
    q.bind(5, r.planned);
    q.bind(6, r.staged);
    if (r.applied)
      q.bind(7, *r.applied);
    else
      q.bind(7);
    q.bind(8, r.verified ? 1 : 0);
    bind_text_or_null(q, 9, r.old_sha256);
    bind_text_or_null(q, 10, r.new_sha256);
    bind_text_or_null(q, 11, r.version_path);
    q.bind(12, r.updated_at.empty() ? utc_now() : r.updated_at);
    q.bind(13, r.detail_json.empty() ? std::string("{}") : r.detail_json);
    q.exec();
  });
}

std::vector<PatchImageRecord> Catalog::patch_images(const std::string& run_id) {
  return impl_->guard("reading patched images", [&] {
    SQLite::Statement q(impl_->db, std::string("SELECT ") + kImageColumns +
                                       " FROM patch_images p JOIN images i ON i.id = p.image_id "
                                       "WHERE p.run_id = ?1 ORDER BY i.path");
    q.bind(1, run_id);
    std::vector<PatchImageRecord> out;
    while (q.executeStep()) out.push_back(read_image(q));
    return out;
  });
}

std::vector<PatchRun> Catalog::patch_runs_of_job_run(std::int64_t job_run_id) {
  return impl_->guard("reading the patch runs of a job run", [&] {
    SQLite::Statement q(impl_->db, std::string("SELECT ") + kRunColumns +
                                       " FROM patch_runs WHERE job_run_id = ?1 ORDER BY started_at, id");
    q.bind(1, job_run_id);
    std::vector<PatchRun> runs;
    while (q.executeStep()) runs.push_back(read_run(q));
    return runs;
  });
}

std::vector<PatchImageRecord> Catalog::patch_history(std::int64_t image_id, std::size_t limit) {
  return impl_->guard("reading an image's patch history", [&] {
    SQLite::Statement q(impl_->db, std::string("SELECT ") + kImageColumns +
                                       " FROM patch_images p JOIN images i ON i.id = p.image_id "
                                       "WHERE p.image_id = ?1 ORDER BY p.updated_at DESC, p.run_id DESC "
                                       "LIMIT ?2");
    q.bind(1, image_id);
    q.bind(2, static_cast<std::int64_t>(limit));
    std::vector<PatchImageRecord> out;
    while (q.executeStep()) out.push_back(read_image(q));
    return out;
  });
}

}  // namespace dormant::catalog
