// `dormant report` end to end: a fixture image really assessed (a signed
// repository on a loopback HTTP server that updates base-files and, as a
// security update, tzdata; a tracker file naming a CVE the tzdata update
// fixes), then reported in every format by the real CLI.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "fixture_support.hpp"
#include "support/apt_repo.hpp"
#include "support/loopback_http.hpp"
#include "update_repos.hpp"

namespace dormant::testing {
namespace {

namespace fs = std::filesystem;

const char* kImage = "mbr-ext4.qcow2";

// One assessed catalog for the suite: the report only reads it.
struct Assessed {
  TempDir dir{"dormant-cli-report"};
  fs::path catalog, library;
  bool ready = false;  // the setup ran to its end
};
Assessed* assessed = nullptr;

ProcessResult cli(std::vector<std::string> args) {
  args.insert(args.begin(), {"--catalog", assessed->catalog.string()});
  return run_cli(args, std::chrono::seconds(300));
}

class CliReport : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    assessed = new Assessed;
    const fs::path dir = assessed->dir.path();
    open_to_apt(dir);  // apt's methods run as _apt when root
    assessed->catalog = dir / "catalog.db";
    assessed->library = dir / "library";
    fs::create_directories(assessed->library);
    const fs::path tree = tree_path(manifest_entry(kImage));
    build_repo(dir / "repo", updating_spec(tree));
    run_ok({"cp", "--sparse=always", "--reflink=auto", (fixtures_dir() / kImage).string(),
            (assessed->library / "web-01.qcow2").string()});
    ASSERT_EQ(cli({"library", "add", assessed->library.string(), "--name", "lib"}).exit_code, 0);
    ASSERT_EQ(cli({"identify", "--no-guestfs"}).exit_code, 0);
    ASSERT_EQ(cli({"group", "create", "web", "--match", "*web*"}).exit_code, 0);
    LoopbackHttpServer server(dir / "repo");
    const std::string keyring = (dir / "repo" / "keyring.gpg").string();
    ASSERT_EQ(
        cli({"source", "add", "debian", server.url(), "--suite", "bookworm", "--keyring", keyring}).exit_code,
        0);
    ASSERT_EQ(cli({"source", "add", "debian-security", server.url(), "--suite", "bookworm-security",
                   "--security", "--keyring", keyring})
                  .exit_code,
              0);
    // Tracker format: source package -> CVE -> releases -> codename.
    const nlohmann::json tracker = {
        {"tzdata",
         {{"CVE-2099-0001",
           {{"releases",
             {{"bookworm",
               {{"status", "resolved"},
                {"fixed_version", installed_version(tree, "tzdata") + "+dormant1"}}}}}}}}}};
    write_file(dir / "tracker.json", tracker.dump());
    auto result = cli({"assess", "--all", "--cache-dir", (dir / "cache").string(), "--advisories",
                       (dir / "tracker.json").string()});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    assessed->ready = true;
  }
  static void TearDownTestSuite() {
    delete assessed;
    assessed = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(assessed != nullptr && assessed->ready) << "the suite's set-up failed (see its first test's log)";
  }
};

TEST_F(CliReport, JsonReflectsTheRealAssessment) {
  auto result = cli({"report", "--format", "json"});
  const auto report = json_output(result);
  ASSERT_TRUE(report.is_object()) << result.err;
  const std::string image = (assessed->library / "web-01.qcow2").string();
  const auto& summary = report.at("summary");
  EXPECT_EQ(summary.at("images"), 1);
  EXPECT_EQ(summary.at("states").at("security_updates_pending"), 1);
  ASSERT_EQ(summary.at("security_packages").size(), 1u) << summary.dump(2);
  EXPECT_EQ(summary.at("security_packages")[0].at("name"), "tzdata");
  EXPECT_EQ(summary.at("security_packages")[0].at("images"), (nlohmann::json{image}));
  EXPECT_EQ(
      summary.at("cves"),
      (nlohmann::json{
          {{"id", "CVE-2099-0001"}, {"packages", {"tzdata"}}, {"image_count", 1}, {"images", {image}}}}));
  EXPECT_EQ(summary.at("oldest_unpatched").at("image"), image);
  EXPECT_EQ(summary.at("oldest_unpatched").at("basis"), "first-non-compliant-assessment");
  ASSERT_EQ(report.at("images").size(), 1u);
  EXPECT_EQ(report.at("images")[0].at("updates"), 2);  // base-files and tzdata
  EXPECT_EQ(report.at("images")[0].at("security_updates"), 1);
  ASSERT_EQ(report.at("history").size(), 1u);
  EXPECT_EQ(report.at("history")[0].at("security_updates_pending"), 1);
}

TEST_F(CliReport, TableIsTheDefaultAndExitsZeroWhenNotCompliant) {
  auto result = cli({"report", "--group", "web"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("group web"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("tzdata"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("CVE-2099-0001"), std::string::npos) << result.out;
}

TEST_F(CliReport, OutputFileIsWrittenAndStdoutIsEmpty) {
  const fs::path out_dir = assessed->dir.path() / "out";
  fs::create_directories(out_dir);
  for (const std::string format : {"html", "csv", "json"}) {
    const fs::path file = out_dir / ("report." + format);
    auto result = cli({"report", "--format", format, "-o", file.string()});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(result.out, "");
    EXPECT_FALSE(fs::exists(file.string() + ".tmp"));
    const std::string text = read_file_text(file);
    const std::map<std::string, std::string> starts{
        {"html", "<!DOCTYPE html>"}, {"csv", "image,domain,os,state,"}, {"json", "{"}};
    EXPECT_TRUE(text.starts_with(starts.at(format))) << text.substr(0, 100);
  }
  // A second run replaces the file.
  const fs::path file = out_dir / "report.html";
  write_file(file, "old");
  ASSERT_EQ(cli({"report", "--format", "html", "-o", file.string()}).exit_code, 0);
  EXPECT_NE(read_file_text(file), "old");
}

TEST_F(CliReport, UnknownGroupExits3AndWritesNothing) {
  const fs::path file = assessed->dir.path() / "never.html";
  auto result = cli({"report", "--group", "no-such-group", "--format", "html", "-o", file.string()});
  EXPECT_EQ(result.exit_code, 3) << result.err;
  EXPECT_NE(result.err.find("no-such-group: no such group"), std::string::npos) << result.err;
  EXPECT_EQ(result.out, "");
  EXPECT_FALSE(fs::exists(file));
  EXPECT_FALSE(fs::exists(file.string() + ".tmp"));
}

TEST_F(CliReport, BadFormatExits2) {
  auto result = cli({"report", "--format", "pdf"});
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_NE(result.err.find("pdf: unknown report format"), std::string::npos) << result.err;
  EXPECT_EQ(result.out, "");
}

TEST_F(CliReport, HelpShowsExamples) {
  auto result = cli({"report", "--help"});
  ASSERT_EQ(result.exit_code, 0);
  EXPECT_NE(result.out.find("dormant report --format html -o"), std::string::npos) << result.out;
}

}  // namespace
}  // namespace dormant::testing
