// Reading a catalog file with SQLite itself, bypassing the Catalog: what the
// tests check is what is on disk.
#pragma once

#include <filesystem>
#include <string>

namespace dormant::testing {

// Runs `sql` on `file`; returns the values of every row, joined by '|'
// ("NULL" for NULL). A failing statement fails the calling test.
std::string sqlite_query(const std::filesystem::path& file, const std::string& sql);

}  // namespace dormant::testing
