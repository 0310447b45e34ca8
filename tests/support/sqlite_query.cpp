#include "support/sqlite_query.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

namespace dormant::testing {

std::string sqlite_query(const std::filesystem::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  std::string result;
  char* error = nullptr;
  int rc = sqlite3_exec(
      db, sql.c_str(),
      [](void* out, int columns, char** values, char**) {
        auto& text = *static_cast<std::string*>(out);
        for (int i = 0; i < columns; ++i)
          text += std::string(text.empty() ? "" : "|") + (values[i] ? values[i] : "NULL");
        return 0;
      },
      &result, &error);
  EXPECT_EQ(rc, SQLITE_OK) << sql << ": " << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
  return result;
}

}  // namespace dormant::testing
