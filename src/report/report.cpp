// The report's entry points: formats and the one call the CLI and the web
// server make.
#include "dormant/report/report.hpp"

#include "dormant/core/error.hpp"

namespace dormant::report {

Format parse_format(std::string_view text) {
  if (text == "table") return Format::table;
  if (text == "json") return Format::json;
  if (text == "csv") return Format::csv;
  if (text == "html") return Format::html;
  fail(ErrorKind::usage, std::string(text), "unknown report format; use table, json, csv or html");
}

std::string_view content_type(Format format) {
  switch (format) {
    case Format::table:
      return "text/plain; charset=utf-8";
    case Format::json:
      return "application/json";
    case Format::csv:
      // RFC 4180's media type; header=present tells a reader the first row names the columns.
      return "text/csv; charset=utf-8; header=present";
    case Format::html:
      return "text/html; charset=utf-8";
  }
  return "application/octet-stream";
}

std::string render_report(catalog::Catalog& catalog, const Options& options) {
  const Report report = build_report(catalog, options.group);
  switch (options.format) {
    case Format::table:
      return render_table(report);
    case Format::json:
      return render_json(report);
    case Format::csv:
      return render_csv(report);
    case Format::html:
      return render_html(report);
  }
  fail(ErrorKind::internal, "report", "unhandled format");
}

}  // namespace dormant::report
