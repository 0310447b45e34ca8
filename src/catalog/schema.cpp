#include "schema.hpp"

#include <SQLiteCpp/Transaction.h>

#include <array>
#include <string_view>

#include "dormant/catalog/catalog.hpp"
#include "dormant/core/error.hpp"

namespace dormant::catalog::detail {
namespace {

// migrations[i] brings user_version i to i+1. Never edit a released entry:
// append a new one.
constexpr std::array<std::string_view, kSchemaVersion> kMigrations = {
    R"sql(
CREATE TABLE libraries (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL CHECK (kind IN ('directory', 'libvirt-pool')),
  path TEXT,
  pool TEXT,
  uri TEXT,
  added_at TEXT NOT NULL,
  CHECK ((kind = 'directory' AND path IS NOT NULL) OR (kind = 'libvirt-pool' AND pool IS NOT NULL AND uri IS NOT NULL))
);
CREATE UNIQUE INDEX libraries_directory ON libraries(path) WHERE kind = 'directory';
CREATE UNIQUE INDEX libraries_pool ON libraries(uri, pool) WHERE kind = 'libvirt-pool';

CREATE TABLE libvirt_connections (
  id INTEGER PRIMARY KEY,
  uri TEXT NOT NULL UNIQUE
);

CREATE TABLE images (
  id INTEGER PRIMARY KEY,
  library_id INTEGER REFERENCES libraries(id) ON DELETE CASCADE,
  path TEXT NOT NULL UNIQUE,
  domain TEXT,
  format TEXT NOT NULL,
  virtual_size INTEGER NOT NULL DEFAULT 0,
  file_size INTEGER NOT NULL DEFAULT 0,
  identity TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('ok', 'unsupported', 'error', 'missing')),
  reason TEXT,
  access TEXT,
  os_id TEXT,
  os_version_id TEXT,
  os_pretty_name TEXT,
  arch TEXT,
  hostname TEXT,
  package_count INTEGER,
  inspection_json TEXT,
  inspected_at TEXT NOT NULL
);
CREATE INDEX images_library ON images(library_id);

CREATE TABLE groups (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  match_glob TEXT
);

CREATE TABLE group_members (
  group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
  image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  explicit INTEGER NOT NULL DEFAULT 1,
  PRIMARY KEY (group_id, image_id)
);
)sql",
    // 1 -> 2: update sources (docs/catalog.md). A group that sources are
    // bound to cannot be deleted (RESTRICT): silently turning a group's
    // source into a global one, or dropping it, would change what every
    // image is assessed against.
    R"sql(
CREATE TABLE sources (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  uri TEXT NOT NULL,
  suite TEXT NOT NULL,
  components TEXT NOT NULL,
  keyring TEXT,
  security INTEGER NOT NULL DEFAULT 0 CHECK (security IN (0, 1)),
  allow_unsigned INTEGER NOT NULL DEFAULT 0 CHECK (allow_unsigned IN (0, 1)),
  group_id INTEGER REFERENCES groups(id) ON DELETE RESTRICT,
  added_at TEXT NOT NULL,
  CHECK ((keyring IS NULL) <> (allow_unsigned = 0))
);
CREATE INDEX sources_group ON sources(group_id);
)sql",
    // 2 -> 3: assessments (docs/catalog.md). An image's package database
    // (dpkg status, apt's extended_states, architectures) is stored once per
    // distinct content: clones of one template share a row, and the
    // assessment resolves each row once. Identities are cleared so that the
    // next identify reads the package databases of images recorded before.
    R"sql(
CREATE TABLE package_sets (
  sha256 TEXT PRIMARY KEY,
  dpkg_status BLOB NOT NULL,
  extended_states BLOB NOT NULL,
  architectures TEXT NOT NULL
);
ALTER TABLE images ADD COLUMN package_set TEXT REFERENCES package_sets(sha256);
UPDATE images SET identity = '';

CREATE TABLE assessments (
  id INTEGER PRIMARY KEY,
  image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  assessed_at TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('compliant', 'updates-pending', 'security-updates-pending', 'unknown')),
  reason TEXT,
  updates INTEGER NOT NULL DEFAULT 0,
  security_updates INTEGER NOT NULL DEFAULT 0,
  unsigned_sources INTEGER NOT NULL DEFAULT 0 CHECK (unsigned_sources IN (0, 1)),
  package_set TEXT,
  result_json TEXT NOT NULL
);
CREATE INDEX assessments_image ON assessments(image_id, id);
)sql",
    // 3 -> 4: offline patch runs (docs/catalog.md). A run row is written
    // before anything is done; each image's row moves through its states as
    // the steps complete (durable before effect), so a killed run leaves a
    // record of how far each image got.
    R"sql(
CREATE TABLE patch_runs (
  id TEXT PRIMARY KEY,
  started_at TEXT NOT NULL,
  finished_at TEXT,
  mode TEXT NOT NULL CHECK (mode IN ('offline')),
  options_json TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed', 'abandoned'))
);

CREATE TABLE patch_images (
  run_id TEXT NOT NULL REFERENCES patch_runs(id) ON DELETE CASCADE,
  image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  state TEXT NOT NULL CHECK (state IN ('planned', 'downloaded', 'staged', 'verified', 'finalized',
                                       'committed', 'nothing-to-do', 'dry-run', 'failed')),
  reason TEXT,
  planned INTEGER NOT NULL DEFAULT 0,
  staged INTEGER NOT NULL DEFAULT 0,
  applied INTEGER,
  verified INTEGER NOT NULL DEFAULT 0 CHECK (verified IN (0, 1)),
  old_sha256 TEXT,
  new_sha256 TEXT,
  version_path TEXT,
  updated_at TEXT NOT NULL,
  detail_json TEXT NOT NULL,
  PRIMARY KEY (run_id, image_id)
);
CREATE INDEX patch_images_image ON patch_images(image_id, updated_at);
)sql",
    // 4 -> 5: maintenance hosts (docs/catalog.md): the libvirt daemons that
    // servicing VMs run on (`dormant host add`).
    R"sql(
CREATE TABLE hosts (
  name TEXT PRIMARY KEY,
  uri TEXT NOT NULL,
  host_group TEXT NOT NULL DEFAULT 'default',
  max_vms INTEGER NOT NULL CHECK (max_vms >= 1),
  memory_mib INTEGER NOT NULL CHECK (memory_mib >= 128),
  pool TEXT NOT NULL,
  added_at TEXT NOT NULL
);
CREATE INDEX hosts_group ON hosts(host_group, name);

-- patch runs of --mode service: the mode CHECK is widened by rebuilding the
-- table (SQLite cannot alter a CHECK); migrate() runs with foreign keys off,
-- so patch_images rows stay, and checks them before it commits.
CREATE TABLE patch_runs_v5 (
  id TEXT PRIMARY KEY,
  started_at TEXT NOT NULL,
  finished_at TEXT,
  mode TEXT NOT NULL CHECK (mode IN ('offline', 'service')),
  options_json TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed', 'abandoned'))
);
INSERT INTO patch_runs_v5 SELECT id, started_at, finished_at, mode, options_json, state FROM patch_runs;
DROP TABLE patch_runs;
ALTER TABLE patch_runs_v5 RENAME TO patch_runs;
)sql",
    // 5 -> 6: jobs (docs/jobs.md, docs/catalog.md). A job is a saved
    // servicing task; each run of it has one item per target image. Every
    // dispatch and finish is an event with a global sequence number, so
    // what ran where at any instant can be replayed from the record.
    R"sql(
CREATE TABLE jobs (
  name TEXT PRIMARY KEY,
  targets_json TEXT NOT NULL,
  mode TEXT NOT NULL CHECK (mode IN ('offline', 'service')),
  host_group TEXT,
  options_json TEXT NOT NULL,
  max_concurrent TEXT NOT NULL,
  max_errors TEXT NOT NULL,
  schedule TEXT,
  maintenance_window TEXT,
  created_at TEXT NOT NULL,
  last_fire TEXT
);

CREATE TABLE job_runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  job_name TEXT NOT NULL REFERENCES jobs(name) ON DELETE CASCADE,
  run_trigger TEXT NOT NULL CHECK (run_trigger IN ('manual', 'schedule')),
  started_at TEXT NOT NULL,
  finished_at TEXT,
  state TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed', 'stopped', 'cancelled', 'interrupted')),
  stop_reason TEXT,
  runner_pid INTEGER,
  cancel_requested INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
  settings_json TEXT NOT NULL
);
CREATE INDEX job_runs_job ON job_runs(job_name, id);

CREATE TABLE job_items (
  run_id INTEGER NOT NULL REFERENCES job_runs(id) ON DELETE CASCADE,
  image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed', 'cancelled')),
  attempt INTEGER NOT NULL DEFAULT 0,
  host TEXT,
  pid INTEGER,
  patch_run_id TEXT,
  started_at TEXT,
  finished_at TEXT,
  result TEXT,
  reason TEXT,
  log TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (run_id, image_id)
);

CREATE TABLE job_events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id INTEGER NOT NULL REFERENCES job_runs(id) ON DELETE CASCADE,
  image_id INTEGER NOT NULL,
  host TEXT,
  kind TEXT NOT NULL CHECK (kind IN ('start', 'finish')),
  at TEXT NOT NULL
);
CREATE INDEX job_events_run ON job_events(run_id, seq);

ALTER TABLE patch_runs ADD COLUMN job_run_id INTEGER;
)sql",
};

}  // namespace

void migrate(SQLite::Database& db, const std::string& subject) {
  int version = db.execAndGet("PRAGMA user_version").getInt();
  if (version > kSchemaVersion)
    fail(ErrorKind::unsupported, subject,
         "catalog schema version {} is newer than this dormant understands ({}); use a newer dormant",
         version, kSchemaVersion);
  // Table rebuilds (5) need foreign keys off, and that pragma is a no-op
  // inside a transaction: off for the migrations, checked before each commit.
  db.exec("PRAGMA foreign_keys=OFF");
  struct ForeignKeysOn {
    SQLite::Database& db;
    ~ForeignKeysOn() {
      try {
        db.exec("PRAGMA foreign_keys=ON");
      } catch (...) {  // NOLINT(bugprone-empty-catch): the connection is unusable anyway
      }
    }
  } restore{db};
  for (; version < kSchemaVersion; ++version) {
    // IMMEDIATE: take the write lock first, so two processes opening a fresh
    // catalog at once do not both run the same migration.
    SQLite::Transaction transaction(db, SQLite::TransactionBehavior::IMMEDIATE);
    int current = db.execAndGet("PRAGMA user_version").getInt();
    if (current != version) {  // another process migrated meanwhile
      transaction.commit();
      version = current - 1;
      continue;
    }
    db.exec(std::string(kMigrations[static_cast<std::size_t>(version)]));
    db.exec("PRAGMA user_version = " + std::to_string(version + 1));
    if (db.execAndGet("SELECT count(*) FROM pragma_foreign_key_check").getInt() != 0)
      fail(ErrorKind::corrupt, subject, "migration to schema version {} leaves dangling references",
           version + 1);
    transaction.commit();
  }
}

}  // namespace dormant::catalog::detail
