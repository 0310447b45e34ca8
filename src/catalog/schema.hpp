// Private: the catalog schema and its migrations.
#pragma once

#include <SQLiteCpp/Database.h>

namespace dormant::catalog::detail {

// Brings the database from its PRAGMA user_version to kSchemaVersion, one
// migration per transaction. Throws Error(unsupported) when the file is newer.
void migrate(SQLite::Database& db, const std::string& subject);

}  // namespace dormant::catalog::detail
