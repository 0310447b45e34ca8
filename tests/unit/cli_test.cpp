// The dormant binary end to end on small real images: exit codes, JSON
// output (validated against docs/identify.schema.json), error messages.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "dormant/core/subprocess.hpp"
#include "support/test_support.hpp"

namespace dormant {
namespace {
namespace fs = std::filesystem;

const fs::path kRootfs = testing::fixture_rootfs();
const fs::path kSourceDir = testing::source_dir();

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(fs::exists(kRootfs)) << "run tests/fixtures/make-rootfs.sh first";
    shared_dir_.emplace("dormant-cli");
    shared_ = shared_dir_->path();
    testing::make_rootfs_guest(shared_, "cli-test-guest\n");
    if (HasFatalFailure()) return;
    fs::path tree = shared_ / "tree";
    auto os = run_process(
        {"sh", "-c", ". \"$1\" && printf %s \"$PRETTY_NAME\"", "sh", (tree / "etc/os-release").string()});
    pretty_name_ = os.out;
  }
  static void TearDownTestSuite() { shared_dir_.reset(); }

  void SetUp() override {
    lib_ = dir_ / "lib";
    fs::create_directories(lib_);
  }

  static ProcessResult dormant(std::vector<std::string> args) {
    args.insert(args.begin(), dormant::testing::cli_path());
    return run_process(args);
  }
  ProcessResult cli(std::vector<std::string> args) {
    args.insert(args.begin(), {"--catalog", (dir_ / "catalog.db").string()});
    return dormant(std::move(args));
  }
  nlohmann::json cli_json(std::vector<std::string> args) { return testing::json_output(cli(args)); }

  // "" when valid, else the validator's messages (python3-jsonschema).
  static std::string schema_errors(const fs::path& schema, const nlohmann::json& document,
                                   const fs::path& scratch) {
    std::ofstream(scratch) << document.dump();
    auto result = run_process({"python3", "-c",
                               "import json, sys, jsonschema\n"
                               "s = json.load(open(sys.argv[1])); d = json.load(open(sys.argv[2]))\n"
                               "errors = list(jsonschema.Draft202012Validator(s).iter_errors(d))\n"
                               "[print(list(e.absolute_path), e.message) for e in errors[:10]]\n"
                               "sys.exit(1 if errors else 0)",
                               schema.string(), scratch.string()});
    return result.exit_code == 0 ? "" : result.out + result.err;
  }

  static inline std::optional<testing::TempDir> shared_dir_;
  static inline fs::path shared_;
  static inline std::string pretty_name_;
  testing::TempDir tmp_{"dormant-cli-test"};
  fs::path dir_ = tmp_.path();
  fs::path lib_;
};

TEST_F(CliTest, VersionAndHelpForEveryCommand) {
  auto version = dormant({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out.rfind("dormant ", 0), 0u) << version.out;
  for (std::vector<std::string> command : {std::vector<std::string>{},
                                           {"inspect"},
                                           {"library"},
                                           {"library", "add"},
                                           {"library", "list"},
                                           {"library", "remove"},
                                           {"identify"},
                                           {"group"},
                                           {"group", "create"},
                                           {"group", "add"},
                                           {"group", "remove"},
                                           {"group", "list"},
                                           {"group", "show"}}) {
    command.push_back("--help");
    auto help = dormant(command);
    EXPECT_EQ(help.exit_code, 0) << command[0];
    EXPECT_NE(help.out.find("Example"), std::string::npos) << "help with an example: " << help.out;
  }
}

TEST_F(CliTest, UsageErrorsExitTwo) {
  auto bad_option = dormant({"inspect", "--no-such-option", "x.qcow2"});
  EXPECT_EQ(bad_option.exit_code, 2);
  EXPECT_NE(bad_option.err.find("dormant: error: "), std::string::npos) << bad_option.err;
  EXPECT_NE(bad_option.err.find("--no-such-option"), std::string::npos) << bad_option.err;
  EXPECT_EQ(dormant({}).exit_code, 2);
  EXPECT_EQ(dormant({"inspect"}).exit_code, 2) << "IMAGE is required";
  EXPECT_EQ(dormant({"library"}).exit_code, 2) << "a library subcommand is required";
  EXPECT_EQ(cli({"identify", "--jobs", "0"}).exit_code, 2);
  auto neither = cli({"library", "add"});
  EXPECT_EQ(neither.exit_code, 2) << neither.err;
}

TEST_F(CliTest, InspectMissingImageIsNotFound) {
  auto missing = (dir_ / "absent.qcow2").string();
  auto result = dormant({"inspect", missing});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_EQ(result.err, "dormant: error: " + missing + ": no such file\n");
  EXPECT_TRUE(result.out.empty());
}

TEST_F(CliTest, InspectPrintsTableAndJson) {
  auto image = (shared_ / "guest.qcow2").string();
  auto table = dormant({"inspect", image, "--no-guestfs"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find(pretty_name_), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("cli-test-guest"), std::string::npos) << table.out;
  auto json = dormant({"inspect", "--json", "--no-guestfs", image});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  auto doc = nlohmann::json::parse(json.out);
  EXPECT_EQ(doc.at("hostname"), "cli-test-guest");
  EXPECT_EQ(doc.at("format"), "qcow2");
  EXPECT_FALSE(fs::exists(dir_ / "catalog.db")) << "inspect needs no catalog";
}

TEST_F(CliTest, LibraryIdentifyAndGroupsEndToEnd) {
  fs::copy_file(shared_ / "guest.qcow2", lib_ / "web1.qcow2");
  fs::copy_file(shared_ / "guest.raw", lib_ / "db1.raw");
  std::ofstream(lib_ / "broken.img") << std::string(4096, 'x');

  auto add = cli({"library", "add", lib_.string(), "--name", "golden"});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  auto duplicate = cli({"library", "add", lib_.string(), "--name", "golden"});
  EXPECT_EQ(duplicate.exit_code, 7);
  EXPECT_EQ(duplicate.err.rfind("dormant: error: golden: ", 0), 0u) << duplicate.err;
  auto list = cli_json({"library", "list", "--json"});
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["name"], "golden");
  EXPECT_EQ(list[0]["path"], fs::canonical(lib_).string());

  auto report = cli_json({"identify", "--json", "--jobs", "2", "--no-guestfs"});
  EXPECT_EQ(schema_errors(kSourceDir / "docs/identify.schema.json", report, dir_ / "report.json"), "");
  EXPECT_EQ(report["summary"]["new"], 3);
  EXPECT_EQ(report["summary"]["errors"], 1);
  ASSERT_EQ(report["images"].size(), 3u);
  for (const auto& image : report["images"]) {
    bool broken = image["path"].get<std::string>().ends_with("broken.img");
    EXPECT_EQ(image["state"] == "ok", !broken) << image.dump();
    if (!broken) {
      EXPECT_EQ(image["os"]["pretty_name"], pretty_name_);
    }
    EXPECT_EQ(image["library"], "golden");
  }
  // Not a terminal and no --verbose: no progress on stderr.
  auto again = cli({"identify", "--no-guestfs"});
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_TRUE(again.err.empty()) << again.err;
  EXPECT_NE(again.out.find("0 new, 0 changed, 3 unchanged"), std::string::npos) << again.out;
  auto verbose = cli({"identify", "--no-guestfs", "--verbose"});
  EXPECT_NE(verbose.err.find("web1.qcow2: unchanged"), std::string::npos) << verbose.err;

  ASSERT_EQ(cli({"group", "create", "web", "--match", "web*"}).exit_code, 0);
  EXPECT_EQ(cli({"group", "create", "web"}).exit_code, 7);
  auto add_member = cli({"group", "add", "web", (lib_ / "db1.raw").string()});
  EXPECT_EQ(add_member.exit_code, 0) << add_member.err;
  auto unknown_image = cli({"group", "add", "web", (lib_ / "nope.qcow2").string()});
  EXPECT_EQ(unknown_image.exit_code, 3);
  EXPECT_NE(unknown_image.err.find("nope.qcow2"), std::string::npos) << unknown_image.err;
  auto show = cli_json({"group", "show", "web", "--json"});
  ASSERT_EQ(show["images"].size(), 2u) << show.dump();
  for (const auto& image : show["images"])
    EXPECT_EQ(image["explicit"], image["path"].get<std::string>().ends_with("db1.raw")) << image.dump();
  auto groups = cli_json({"group", "list", "--json"});
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0]["members"], 2);
  auto missing_group = cli({"group", "show", "nosuch"});
  EXPECT_EQ(missing_group.exit_code, 3);
  EXPECT_EQ(missing_group.err, "dormant: error: nosuch: no such group; see `dormant group list`\n");
  EXPECT_EQ(cli({"group", "remove", "web"}).exit_code, 0);

  EXPECT_EQ(cli({"library", "remove", "golden"}).exit_code, 0);
  EXPECT_EQ(cli({"library", "remove", "golden"}).exit_code, 3);
}

TEST_F(CliTest, CorruptCatalogExitsWithIoError) {
  std::ofstream(dir_ / "catalog.db") << std::string(8192, '\x5a');
  auto result = cli({"library", "list"});
  EXPECT_EQ(result.exit_code, 6);
  EXPECT_NE(result.err.find("catalog.db: file is not a database"), std::string::npos) << result.err;
}

TEST_F(CliTest, DefaultCatalogFollowsXdgDataHome) {
  auto result =
      run_process({"env", "XDG_DATA_HOME=" + (dir_ / "xdg").string(), dormant::testing::cli_path(), "library", "list"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(fs::exists(dir_ / "xdg" / "dormant" / "catalog.db"));
}

}  // namespace
}  // namespace dormant
