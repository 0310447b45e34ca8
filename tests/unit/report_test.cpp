// dormant report over a real catalog file: the summary (states, the oldest
// unpatched image under both definitions, security packages and CVEs across
// images), per-image details, the per-day history, and each rendering's
// escaping of hostile guest data (CSV quoting, HTML entities, terminal
// control characters).
#include "dormant/report/report.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "dormant/catalog/catalog.hpp"
#include "dormant/core/error.hpp"
#include "support/error_of.hpp"
#include "support/test_support.hpp"

namespace dormant::report {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kWeb1 = "/lib/web-01.qcow2";
const std::string kWeb2 = "/lib/web-02.qcow2";
const std::string kDb = "/lib/db \"prod\", 01.qcow2";  // a comma and quotes: CSV must quote it
const std::string kHostile = "/x/<script>alert(1)</script>.qcow2";

json change(const std::string& name, const std::string& installed, const std::string& candidate,
            bool security, const std::string& action = "upgrade", std::vector<std::string> cves = {}) {
  return {{"name", name},
          {"arch", "amd64"},
          {"installed", installed},
          {"candidate", candidate},
          {"suite", security ? "bookworm-security" : "bookworm"},
          {"source", security ? "debian-security" : "debian"},
          {"security", security},
          {"action", action},
          {"cves", cves}};
}

// One image's object as `dormant assess --json` prints it (docs/assess.schema.json).
std::string result_json(const std::string& path, const std::string& state, const std::string& at,
                        const json& updates) {
  return json{{"image", path},
              {"state", state},
              {"reason", nullptr},
              {"assessed_at", at},
              {"os", "Debian GNU/Linux 12 (bookworm)"},
              {"package_set", nullptr},
              {"reused", false},
              {"sources", {"debian", "debian-security"}},
              {"unsigned_sources", json::array()},
              {"updates", updates},
              {"new_packages", json::array()},
              {"removed_packages", json::array()},
              {"broken", json::array()}}
      .dump();
}

class ReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    catalog::Catalog c(file_);
    std::vector<catalog::ImageRecord> records;
    for (const auto& path : {kWeb1, kWeb2, kDb, kHostile}) {
      catalog::ImageRecord r;
      r.path = path;
      r.format = "qcow2";
      r.identity = "1:2:3:4:5";
      r.state = "ok";
      r.os_pretty_name = path == kHostile ? "Evil\x1b[31mOS <b>" : "Debian GNU/Linux 12 (bookworm)";
      r.domain = path == kWeb1 ? "web-01" : "";
      records.push_back(r);
    }
    c.put_images(records);
    for (const auto& image : c.images()) id_[image.path] = image.id;

    // Chronological order: the catalog's "latest" is the highest id.
    assess(c, kWeb1, "2026-03-01T10:00:00Z", "updates-pending", 1, 0,
           {change("base-files", "12.4", "12.4+deb12u1", false)});
    assess(c, kWeb2, "2026-03-01T11:00:00Z", "compliant", 0, 0, json::array());
    assess(c, kDb, "2026-03-01T12:00:00Z", "unknown", 0, 0, json::array(), "debian: Release file expired");
    assess(c, kWeb1, "2026-03-02T09:00:00Z", "updates-pending", 1, 0,
           {change("base-files", "12.4", "12.4+deb12u1", false)});
    assess(c, kWeb1, "2026-03-02T18:00:00Z", "security-updates-pending", 3, 2,
           {change("base-files", "12.4", "12.4+deb12u1", false),
            change("openssl", "3.0.11-1~deb12u1", "3.0.13-1~deb12u1", true, "upgrade",
                   {"CVE-2026-0001", "CVE-2026-0002"}),
            change("tzdata", "2024a-0+deb12u1", "2025a-0+deb12u1", true, "upgrade", {"CVE-2026-0001"})});
    assess(c, kWeb2, "2026-03-02T19:00:00Z", "security-updates-pending", 1, 1,
           {change("openssl", "3.0.11-1~deb12u2", "3.0.13-1~deb12u1", true, "upgrade", {"CVE-2026-0001"}),
            // Held: dist-upgrade keeps it back, so it is not pending.
            change("libc6", "2.36-9", "2.36-9+deb12u4", true, "held", {"CVE-2026-0009"})});
    assess(c, kDb, "2026-03-03T08:00:00Z", "compliant", 0, 0, json::array());

    // web-02 was serviced (before it became non-compliant again); web-01 only failed.
    c.begin_patch_run(
        {"20260301T070000Z-1", "2026-03-01T07:00:00Z", "", "offline", "{}", "running", std::nullopt});
    patch(c, "20260301T070000Z-1", kWeb2, "committed", "2026-03-01T08:00:00Z", "");
    c.begin_patch_run({"20260302T120000Z-2", "2026-03-02T12:00:00Z", "", "offline", "{}", "running", 7});
    patch(c, "20260302T120000Z-2", kWeb1, "failed", "2026-03-02T12:30:00Z", "verify: e2fsck found errors");
    c.begin_patch_run(
        {"20260302T130000Z-3", "2026-03-02T13:00:00Z", "", "offline", "{}", "running", std::nullopt});
    patch(c, "20260302T130000Z-3", kWeb1, "dry-run", "2026-03-02T13:00:00Z", "");  // a plan is not servicing
  }

  void assess(catalog::Catalog& c, const std::string& path, const std::string& at, const std::string& state,
              std::int64_t updates, std::int64_t security, const json& changes,
              const std::string& reason = "") {
    catalog::AssessmentRecord r;
    r.image_id = id_.at(path);
    r.assessed_at = at;
    r.state = state;
    r.reason = reason;
    r.updates = updates;
    r.security_updates = security;
    r.result_json = result_json(path, state, at, changes);
    c.add_assessments({r});
  }

  void patch(catalog::Catalog& c, const std::string& run, const std::string& path, const std::string& state,
             const std::string& at, const std::string& reason) {
    catalog::PatchImageRecord r;
    r.run_id = run;
    r.image_id = id_.at(path);
    r.state = state;
    r.reason = reason;
    r.updated_at = at;
    c.put_patch_image(r);
  }

  json report_json(const std::string& group = "") {
    catalog::Catalog c(file_);
    auto text = render_report(c, {group, Format::json});
    return json::parse(text);
  }

  static const json& image(const json& report, const std::string& path) {
    for (const auto& i : report.at("images"))
      if (i.at("image") == path) return i;
    throw std::runtime_error("no image " + path);
  }

  testing::TempDir tmp_{"dormant-report"};
  fs::path file_ = tmp_.path() / "catalog.db";
  std::map<std::string, std::int64_t> id_;
};

TEST_F(ReportTest, SummaryCountsStatesAndTotals) {
  auto r = report_json();
  EXPECT_FALSE(r.at("generated_at").get<std::string>().empty());
  EXPECT_TRUE(r.at("group").is_null());
  const auto& s = r.at("summary");
  EXPECT_EQ(s.at("images"), 4);
  EXPECT_EQ(s.at("states"), (json{{"compliant", 1},
                                  {"updates_pending", 0},
                                  {"security_updates_pending", 2},
                                  {"unknown", 0},
                                  {"unassessed", 1}}));
  EXPECT_EQ(s.at("non_compliant"), 2);
  EXPECT_EQ(s.at("updates"), 4);
  EXPECT_EQ(s.at("security_updates"), 3);
  EXPECT_EQ(image(r, kHostile).at("state"), "unassessed");
  EXPECT_TRUE(image(r, kHostile).at("assessed_at").is_null());
}

TEST_F(ReportTest, OldestUnpatchedUsesTheLastServicingElseTheFirstNonCompliantAssessment) {
  // web-02: committed at 03-01 08:00, older than web-01's first non-compliant assessment (03-01 10:00).
  auto all = report_json();
  EXPECT_EQ(all.at("summary").at("oldest_unpatched"), (json{{"image", kWeb2},
                                                            {"state", "security-updates-pending"},
                                                            {"since", "2026-03-01T08:00:00Z"},
                                                            {"basis", "last-servicing"}}));
  // Without web-02: web-01 was never serviced successfully (failed, dry-run).
  catalog::Catalog(file_).create_group("one", std::string("*web-01*"));
  auto one = report_json("one");
  EXPECT_EQ(one.at("group"), "one");
  EXPECT_EQ(one.at("summary").at("oldest_unpatched"), (json{{"image", kWeb1},
                                                            {"state", "security-updates-pending"},
                                                            {"since", "2026-03-01T10:00:00Z"},
                                                            {"basis", "first-non-compliant-assessment"}}));
}

TEST_F(ReportTest, SecurityPackagesAndCvesAreAggregatedAcrossImages) {
  auto s = report_json().at("summary");
  const json packages = s.at("security_packages");
  ASSERT_EQ(packages.size(), 2u) << packages.dump(2);  // held libc6 and non-security base-files left out
  EXPECT_EQ(packages[0], (json{{"name", "openssl"},
                               {"image_count", 2},
                               {"images", {kWeb1, kWeb2}},
                               {"installed", {"3.0.11-1~deb12u1", "3.0.11-1~deb12u2"}},
                               {"candidates", {"3.0.13-1~deb12u1"}},
                               {"cves", {"CVE-2026-0001", "CVE-2026-0002"}}}));
  EXPECT_EQ(packages[1].at("name"), "tzdata");
  EXPECT_EQ(packages[1].at("images"), (json{kWeb1}));
  EXPECT_EQ(
      s.at("cves"),
      (json{{{"id", "CVE-2026-0001"},
             {"packages", {"openssl", "tzdata"}},
             {"image_count", 2},
             {"images", {kWeb1, kWeb2}}},
            {{"id", "CVE-2026-0002"}, {"packages", {"openssl"}}, {"image_count", 1}, {"images", {kWeb1}}}}));
}

TEST_F(ReportTest, ImagesCarryTheirLastServicingAndRecentHistory) {
  auto r = report_json();
  const auto& web1 = image(r, kWeb1);
  EXPECT_EQ(web1.at("domain"), "web-01");
  EXPECT_EQ(web1.at("os"), "Debian GNU/Linux 12 (bookworm)");
  EXPECT_EQ(web1.at("assessed_at"), "2026-03-02T18:00:00Z");
  EXPECT_EQ(web1.at("security_packages"), (json{"openssl", "tzdata"}));
  EXPECT_EQ(web1.at("last_servicing"), (json{{"state", "failed"},
                                             {"at", "2026-03-02T12:30:00Z"},
                                             {"run_id", "20260302T120000Z-2"},
                                             {"job_run_id", 7},
                                             {"reason", "verify: e2fsck found errors"}}));
  const auto& recent = web1.at("recent");
  ASSERT_EQ(recent.size(), kRecentEvents);
  EXPECT_EQ(recent[0].at("at"), "2026-03-02T18:00:00Z");
  EXPECT_EQ(recent[0].at("kind"), "assessment");
  EXPECT_EQ(recent[0].at("security_updates"), 2);
  EXPECT_EQ(recent[1].at("kind"), "patch");
  EXPECT_EQ(recent[1].at("state"), "dry-run");
  EXPECT_EQ(recent[2].at("state"), "failed");
  for (std::size_t i = 1; i < recent.size(); ++i) EXPECT_GE(recent[i - 1].at("at"), recent[i].at("at"));
  EXPECT_EQ(image(r, kWeb2).at("last_servicing").at("job_run_id"), nullptr);
  EXPECT_EQ(image(r, kDb).at("last_servicing"), nullptr);
}

TEST_F(ReportTest, HistoryCountsEachImageByItsLatestAssessmentAtTheEndOfEachDay) {
  auto history = report_json().at("history");
  EXPECT_EQ(history, (json{{{"day", "2026-03-01"},
                            {"compliant", 1},
                            {"updates_pending", 1},
                            {"security_updates_pending", 0},
                            {"unknown", 1}},
                           {{"day", "2026-03-02"},
                            {"compliant", 0},
                            {"updates_pending", 0},
                            {"security_updates_pending", 2},
                            {"unknown", 1}},
                           {{"day", "2026-03-03"},
                            {"compliant", 1},
                            {"updates_pending", 0},
                            {"security_updates_pending", 2},
                            {"unknown", 0}}}))
      << history.dump(2);
}

TEST_F(ReportTest, GroupFilterAndUnknownGroup) {
  {
    catalog::Catalog c(file_);
    c.create_group("db", std::nullopt);
    c.add_group_members("db", {id_.at(kDb)});
  }
  auto r = report_json("db");
  ASSERT_EQ(r.at("images").size(), 1u);
  EXPECT_EQ(r.at("images")[0].at("image"), kDb);
  EXPECT_EQ(r.at("summary").at("states").at("compliant"), 1);
  EXPECT_TRUE(r.at("summary").at("oldest_unpatched").is_null());
  EXPECT_TRUE(r.at("summary").at("security_packages").empty());
  EXPECT_EQ(r.at("history").size(), 2u);  // db was assessed on 03-01 and 03-03 only

  catalog::Catalog c(file_);
  auto error = testing::error_of([&] { render_report(c, {"no-such-group", Format::html}); });
  EXPECT_EQ(error.kind(), ErrorKind::not_found);
  EXPECT_EQ(error.subject(), "no-such-group");
}

// A minimal RFC 4180 reader: the test's own, so that it checks the writer.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1);
  std::string field;
  bool quoted = false, was_quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"' && field.empty() && !was_quoted) {
      quoted = was_quoted = true;
    } else if (c == ',') {
      rows.back().push_back(field);
      field.clear();
      was_quoted = false;
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      rows.back().push_back(field);
      field.clear();
      was_quoted = false;
      rows.emplace_back();
      ++i;
    } else {
      field += c;
    }
  }
  if (rows.back().empty()) rows.pop_back();
  return rows;
}

TEST_F(ReportTest, CsvQuotesFieldsAndParsesBack) {
  catalog::Catalog c(file_);
  const std::string csv = render_report(c, {"", Format::csv});
  EXPECT_NE(csv.find("\"/lib/db \"\"prod\"\", 01.qcow2\""), std::string::npos) << csv;
  auto rows = parse_csv(csv);
  ASSERT_EQ(rows.size(), 5u) << csv;  // header + 4 images
  const auto& header = rows[0];
  EXPECT_EQ(header[0], "image");
  for (const auto& row : rows) EXPECT_EQ(row.size(), header.size()) << csv;
  auto column = [&](const std::string& name) {
    return static_cast<std::size_t>(std::find(header.begin(), header.end(), name) - header.begin());
  };
  // Images by path: "/lib/db ..." < "/lib/web-01" < "/lib/web-02" < "/x/...".
  EXPECT_EQ(rows[1][0], kDb);
  EXPECT_EQ(rows[1][column("state")], "compliant");
  EXPECT_EQ(rows[2][0], kWeb1);
  EXPECT_EQ(rows[2][column("security_updates")], "2");
  EXPECT_EQ(rows[2][column("last_servicing_job_run")], "7");
  EXPECT_EQ(rows[2][column("security_packages")], "openssl tzdata");
  EXPECT_EQ(rows[2][column("cves")], "CVE-2026-0001 CVE-2026-0002");
  EXPECT_EQ(rows[4][0], kHostile);
  EXPECT_EQ(rows[4][column("state")], "unassessed");
}

TEST_F(ReportTest, HtmlIsSelfContainedAndEscapesGuestData) {
  catalog::Catalog c(file_);
  std::string html = render_report(c, {"", Format::html});
  EXPECT_EQ(html.find(kHostile), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("OS <b>"), std::string::npos);  // the OS name
  EXPECT_NE(html.find("OS &lt;b&gt;"), std::string::npos);
  EXPECT_NE(html.find("/x/&lt;script&gt;alert(1)&lt;/script&gt;.qcow2"), std::string::npos);
  EXPECT_NE(html.find("/lib/db &quot;prod&quot;, 01.qcow2"), std::string::npos);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  for (const char* legend :
       {"compliant", "updates-pending", "security-updates-pending", "day (UTC)", "images"})
    EXPECT_NE(html.find(legend), std::string::npos) << legend;
  EXPECT_NE(html.find("<rect"), std::string::npos);
  // No reference outside the file: the SVG namespace is a name, not a fetch.
  const std::string xmlns = "xmlns=\"http://www.w3.org/2000/svg\"";
  for (auto at = html.find(xmlns); at != std::string::npos; at = html.find(xmlns))
    html.erase(at, xmlns.size());
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("url("), std::string::npos);
  EXPECT_EQ(html.find(" src="), std::string::npos);
}

TEST_F(ReportTest, TableHasEverySectionAndNoControlCharacters) {
  catalog::Catalog c(file_);
  const std::string table = render_report(c, {"", Format::table});
  for (const char* section : {"Summary", "Pending security updates by package", "Open CVEs", "Images",
                              "Recent history", "Images by state at the end of each day"})
    EXPECT_NE(table.find(section), std::string::npos) << section;
  EXPECT_NE(table.find("oldest unpatched"), std::string::npos);
  EXPECT_NE(table.find(kWeb2 + " (security-updates-pending since 2026-03-01T08:00:00Z"), std::string::npos)
      << table;
  EXPECT_EQ(table.find('\x1b'), std::string::npos);  // the OS name's escape sequence
  EXPECT_NE(table.find("Evil?[31mOS"), std::string::npos);
  EXPECT_NE(table.find("2026-03-02  0          0                2                         1"),
            std::string::npos)
      << table;
}

TEST(ReportEmpty, AnEmptyCatalogRendersInEveryFormat) {
  testing::TempDir tmp("dormant-report-empty");
  catalog::Catalog c(tmp.path() / "catalog.db");
  for (auto format : {Format::table, Format::json, Format::csv, Format::html})
    EXPECT_FALSE(render_report(c, {"", format}).empty());
  auto r = json::parse(render_report(c, {"", Format::json}));
  EXPECT_EQ(r.at("summary").at("images"), 0);
  EXPECT_TRUE(r.at("summary").at("oldest_unpatched").is_null());
  EXPECT_TRUE(r.at("history").empty());
}

TEST(ReportFormat, ParseAndContentType) {
  EXPECT_EQ(parse_format("html"), Format::html);
  EXPECT_EQ(parse_format("csv"), Format::csv);
  EXPECT_EQ(testing::error_of([] { parse_format("pdf"); }).kind(), ErrorKind::usage);
  EXPECT_EQ(content_type(Format::html), "text/html; charset=utf-8");
  EXPECT_EQ(content_type(Format::json), "application/json");
  EXPECT_TRUE(content_type(Format::csv).starts_with("text/csv"));
}

}  // namespace
}  // namespace dormant::report
