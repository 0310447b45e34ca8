// Private to the CLI: tables and sizes for people.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace dormant::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  bool empty() const { return rows_.empty(); }
  // Columns padded to their widest cell; the last column is not padded.
  void print(std::ostream& out) const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// "1.5 GiB", "512 B".
std::string human_size(std::uint64_t bytes);

// "-" for an empty value.
std::string or_dash(const std::string& value);

}  // namespace dormant::cli
