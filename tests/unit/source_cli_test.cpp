// `dormant source add|list|remove` through the built binary: exit codes
// (as mapped in src/cli/main.cpp), error texts, the UNSIGNED flag, and
// `source list --json` validated against docs/sources.schema.json.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "dormant/core/subprocess.hpp"
#include "support/test_support.hpp"

namespace dormant {
namespace {
namespace fs = std::filesystem;

class SourceCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::write_file(keyring_, "a keyring file; only its existence is checked here\n");
  }

  ProcessResult cli(std::vector<std::string> args) {
    args.insert(args.begin(), {dormant::testing::cli_path(), "--catalog", (dir_ / "catalog.db").string()});
    return run_process(args);
  }

  // "" when valid, else the validator's messages (python3-jsonschema).
  std::string schema_errors(const nlohmann::json& document) {
    fs::path scratch = dir_ / "sources.json";
    std::ofstream(scratch) << document.dump();
    auto result =
        run_process({"python3", "-c",
                     "import json, sys, jsonschema\n"
                     "s = json.load(open(sys.argv[1])); d = json.load(open(sys.argv[2]))\n"
                     "jsonschema.Draft202012Validator.check_schema(s)\n"
                     "errors = list(jsonschema.Draft202012Validator(s).iter_errors(d))\n"
                     "[print(list(e.absolute_path), e.message) for e in errors[:10]]\n"
                     "sys.exit(1 if errors else 0)",
                     (testing::source_dir() / "docs/sources.schema.json").string(), scratch.string()});
    return result.exit_code == 0 ? "" : result.out + result.err;
  }

  testing::TempDir tmp_{"dormant-source-cli"};
  fs::path dir_ = tmp_.path();
  fs::path keyring_ = dir_ / "repo.gpg";
};

TEST_F(SourceCliTest, AddListRemoveWithTableAndJson) {
  auto group = cli({"group", "create", "pilots"});
  ASSERT_EQ(group.exit_code, 0) << group.err;
  auto debian = cli({"source", "add", "debian", "http://127.0.0.1:8765/debian", "--suite", "bookworm",
                     "--component", "main", "--component", "contrib", "--keyring", keyring_.string()});
  ASSERT_EQ(debian.exit_code, 0) << debian.err;
  EXPECT_EQ(debian.out, "added source debian (http://127.0.0.1:8765/debian bookworm main contrib)\n");
  EXPECT_EQ(debian.err, "");
  auto security = cli({"source", "add", "sec", "https://127.0.0.1/security", "--suite", "bookworm-security",
                       "--security", "--keyring", keyring_.string(), "--group", "pilots"});
  ASSERT_EQ(security.exit_code, 0) << security.err;
  EXPECT_EQ(security.out,
            "added source sec (https://127.0.0.1/security bookworm-security main) for group pilots\n");
  auto local = cli({"source", "add", "local", "file:///srv/repo", "--suite", "dormtest", "--allow-unsigned"});
  ASSERT_EQ(local.exit_code, 0) << local.err;
  EXPECT_NE(local.err.find("warning: source local is UNSIGNED"), std::string::npos) << local.err;

  auto table = cli({"source", "list"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_EQ(table.out.rfind("NAME", 0), 0u) << table.out;
  for (const char* column : {"URI", "SUITE", "COMPONENTS", "SECURITY", "KEYRING", "GROUP"})
    EXPECT_NE(table.out.find(column), std::string::npos) << column;
  EXPECT_NE(table.out.find("main,contrib"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("UNSIGNED"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find(keyring_.string()), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("pilots"), std::string::npos) << table.out;
  // Loud on stderr in every output that lists an unsigned source, and only for it.
  EXPECT_NE(table.err.find("warning: source local is UNSIGNED"), std::string::npos) << table.err;
  EXPECT_EQ(table.err.find("source debian"), std::string::npos) << table.err;

  auto listed = cli({"source", "list", "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_NE(listed.err.find("UNSIGNED"), std::string::npos) << listed.err;
  auto json = testing::json_output(listed);
  EXPECT_EQ(schema_errors(json), "");
  ASSERT_EQ(json.size(), 3u);
  EXPECT_EQ(json[0]["name"], "debian");
  EXPECT_EQ(json[0]["components"], nlohmann::json({"main", "contrib"}));
  EXPECT_EQ(json[0]["keyring"], keyring_.string());
  EXPECT_EQ(json[0]["allow_unsigned"], false);
  EXPECT_EQ(json[0]["group"], nullptr);
  EXPECT_EQ(json[1]["name"], "local");
  EXPECT_EQ(json[1]["allow_unsigned"], true);
  EXPECT_EQ(json[1]["keyring"], nullptr);
  EXPECT_EQ(json[2]["name"], "sec");
  EXPECT_EQ(json[2]["security"], true);
  EXPECT_EQ(json[2]["group"], "pilots");

  // The schema is not vacuous: a source both signed and unsigned is invalid.
  auto broken = json;
  broken[0]["allow_unsigned"] = true;
  EXPECT_NE(schema_errors(broken), "");

  // A group that a source is bound to cannot be removed.
  auto bound = cli({"group", "remove", "pilots"});
  EXPECT_EQ(bound.exit_code, 7) << bound.err;
  EXPECT_NE(bound.err.find("pilots: sources are bound to this group (sec)"), std::string::npos) << bound.err;

  auto removed = cli({"source", "remove", "sec"});
  ASSERT_EQ(removed.exit_code, 0) << removed.err;
  EXPECT_EQ(removed.out, "removed source sec\n");
  EXPECT_EQ(cli({"group", "remove", "pilots"}).exit_code, 0);
  auto again = cli({"source", "remove", "sec"});
  EXPECT_EQ(again.exit_code, 3);
  EXPECT_EQ(again.err, "dormant: error: sec: no such source; see `dormant source list`\n");
  EXPECT_EQ(testing::json_output(cli({"source", "list", "--json"})).size(), 2u);
}

TEST_F(SourceCliTest, EmptyListIsValidAndQuiet) {
  auto listed = cli({"source", "list", "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_EQ(listed.err, "");
  auto json = testing::json_output(listed);
  EXPECT_EQ(json, nlohmann::json::array());
  EXPECT_EQ(schema_errors(json), "");
}

TEST_F(SourceCliTest, RefusalsExitWithTheMappedCodeAndNameTheSubject) {
  const std::string k = keyring_.string();
  struct Case {
    std::vector<std::string> args;
    int exit_code;
    std::string error;  // the first line of stderr
  };
  std::vector<Case> cases = {
      {{"ftp://example.org/debian", "--suite", "bookworm", "--keyring", k},
       2,
       "dormant: error: ftp://example.org/debian: unsupported repository URI: it must start with http://, "
       "https:// "
       "or file://"},
      {{"http://h/debian", "--suite", "bookworm"},
       2,
       "dormant: error: x: a source needs --keyring FILE (the repository's signing key); --allow-unsigned is "
       "only "
       "for local test repositories"},
      {{"http://h/debian", "--suite", "bookworm", "--keyring", k, "--allow-unsigned"},
       2,
       "dormant: error: x: --keyring and --allow-unsigned exclude each other"},
      {{"http://h/debian", "--suite", "./", "--allow-unsigned"},
       2,
       "dormant: error: ./: flat repositories (a suite ending in '/') are not supported; use a repository "
       "with a "
       "dists/ directory"},
      {{"http://h/debian", "--suite", "a/b", "--allow-unsigned"},
       2,
       "dormant: error: a/b: invalid suite: no '/' or white space (the name under dists/, such as bookworm)"},
      {{"http://h/debian", "--suite", "bookworm", "--keyring", (dir_ / "nope.gpg").string()},
       3,
       "dormant: error: " + (dir_ / "nope.gpg").string() + ": keyring file does not exist"},
      {{"http://h/debian", "--suite", "bookworm", "--keyring", dir_.string()},
       2,
       "dormant: error: " + dir_.string() + ": keyring is not a regular file"},
      {{"http://h/debian", "--suite", "bookworm", "--allow-unsigned", "--group", "nosuch"},
       3,
       "dormant: error: nosuch: no such group; create it with `dormant group create`"},
      {{"http://h/debian"}, 2, ""},  // --suite is required (CLI11's message)
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = {"source", "add", "x"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    auto result = cli(args);
    SCOPED_TRACE(result.err);
    EXPECT_EQ(result.exit_code, c.exit_code);
    if (!c.error.empty()) {
      EXPECT_EQ(result.err.substr(0, result.err.find('\n')), c.error);
    }
    EXPECT_EQ(result.out, "");
  }
  EXPECT_EQ(testing::json_output(cli({"source", "list", "--json"})), nlohmann::json::array());

  ASSERT_EQ(cli({"source", "add", "dup", "http://h/", "--suite", "s", "--keyring", k}).exit_code, 0);
  auto duplicate = cli({"source", "add", "dup", "http://other/", "--suite", "s", "--keyring", k});
  EXPECT_EQ(duplicate.exit_code, 7);
  EXPECT_EQ(duplicate.err,
            "dormant: error: dup: a source with this name exists already; see `dormant source list`\n");
  EXPECT_EQ(cli({"source"}).exit_code, 2) << "a source subcommand is required";
}

TEST_F(SourceCliTest, HelpHasAnExampleForEachCommand) {
  for (std::string command : {"add", "list", "remove"}) {
    auto help = run_process({dormant::testing::cli_path(), "source", command, "--help"});
    EXPECT_EQ(help.exit_code, 0) << command;
    EXPECT_NE(help.out.find("dormant source " + command), std::string::npos) << help.out;
  }
  auto add = run_process({dormant::testing::cli_path(), "source", "add", "--help"});
  EXPECT_NE(add.out.find("--allow-unsigned"), std::string::npos);
  EXPECT_NE(add.out.find("--security"), std::string::npos);
  EXPECT_NE(run_process({dormant::testing::cli_path(), "--help"}).out.find("source"), std::string::npos);
}

}  // namespace
}  // namespace dormant
