// Catalog::Impl, shared by the files that implement Catalog's methods.
#pragma once

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "dormant/catalog/catalog.hpp"
#include "dormant/core/error.hpp"

namespace dormant::catalog {

struct Catalog::Impl {
  std::filesystem::path path;
  std::string subject;
  SQLite::Database db;

  Impl(std::filesystem::path p, std::string s)
      : path(std::move(p)),
        subject(std::move(s)),
        db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_FULLMUTEX, 10000) {}

  // Every SQLite failure leaves the catalog as it was (transactions) and
  // becomes an Error naming the catalog file.
  template <typename F>
  auto guard(std::string_view what, F&& body) -> decltype(body()) {
    try {
      return body();
    } catch (const Error&) {
      throw;
    } catch (const SQLite::Exception& e) {
      fail(ErrorKind::io, subject, "{}: {}", what, e.what());
    }
  }
};

// A NULL column reads as "", and "" is written as NULL.
inline std::string text(const SQLite::Column& column) {
  return column.isNull() ? std::string() : column.getString();
}

inline void bind_text_or_null(SQLite::Statement& q, int index, const std::string& value) {
  if (value.empty())
    q.bind(index);
  else
    q.bind(index, value);
}

}  // namespace dormant::catalog
