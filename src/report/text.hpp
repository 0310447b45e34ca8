// Private to report/: escaping for each format and a plain-text table.
// Guest data (paths, package names, OS names) reaches every one of them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dormant::report {

// For a terminal: control characters (C0, DEL) become '?', so that a package
// name cannot carry an escape sequence to the reader's terminal.
std::string terminal_safe(std::string_view text);

// RFC 4180: quoted (quotes doubled) when it holds a comma, quote, CR or LF.
std::string csv_field(std::string_view text);

// & < > " ' as entities: safe in element content and in quoted attributes.
std::string html_escape(std::string_view text);

// Columns padded to their widest cell (counted in UTF-8 code points); the
// last column is not padded. Cells are made terminal_safe.
class TextTable {
 public:
  explicit TextTable(std::vector<std::string> header) : header_(std::move(header)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  bool empty() const { return rows_.empty(); }
  std::string render(std::string_view indent = "") const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace dormant::report
