// `dormant inspect` end to end: JSON that validates against the published
// schema and agrees with the reference tools, the exit-code contract, and a
// system-call trace proving a hostile image makes no process open the host
// file it points at.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "dormant/core/subprocess.hpp"
#include "fixture_support.hpp"

namespace dormant::testing {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> inspect_args(const TempDir& dir, const fs::path& image, bool json) {
  std::vector<std::string> args{"--catalog", (dir.path() / "catalog.db").string(), "inspect", image.string()};
  if (json) args.push_back("--json");
  args.push_back("--no-guestfs");
  return args;
}

class CliInspectJson : public ::testing::TestWithParam<std::string> {};

TEST_P(CliInspectJson, ValidatesAgainstTheSchemaAndMatchesDpkgQuery) {
  TempDir dir;
  const auto& entry = manifest_entry(GetParam());
  auto result = run_cli(inspect_args(dir, image_path(entry), true));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  nlohmann::json doc;
  ASSERT_NO_THROW(doc = nlohmann::json::parse(result.out)) << result.out.substr(0, 2000);
  auto schema = source_dir() / "docs/inspect.schema.json";
  ASSERT_TRUE(fs::exists(schema)) << schema;
  EXPECT_EQ(schema_errors(schema, doc), "");

  auto expected = expected_from_tree(tree_path(entry));
  ASSERT_TRUE(doc.contains("packages"));
  EXPECT_EQ(doc["packages"].size(), expected.packages.size());
  EXPECT_EQ(doc.value("hostname", ""), expected.hostname);
  ASSERT_TRUE(doc.contains("os"));
  EXPECT_EQ(doc["os"].value("id", ""), expected.os_release["ID"]);
  EXPECT_EQ(doc.value("format", ""), entry.at("format").get<std::string>());
  EXPECT_TRUE(result.err.empty() || result.err.find("error") == std::string::npos) << result.err;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CliInspectJson,
                         ::testing::Values("mbr-ext4.qcow2", "gpt-multifs.qcow2", "gpt4k-ext4.vpc"),
                         test_name);

TEST(CliInspect, TableNamesTheOsAndHost) {
  TempDir dir;
  const auto& entry = manifest_entry("mbr-ext4.qcow2");
  auto expected = expected_from_tree(tree_path(entry));
  auto result = run_cli(inspect_args(dir, image_path(entry), false));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find(expected.os_release["PRETTY_NAME"]), std::string::npos) << result.out;
  EXPECT_NE(result.out.find(expected.hostname), std::string::npos) << result.out;
}

struct ExitCase {
  const char* image;  // relative to the fixtures; "" for a missing file
  int exit_code;
};

TEST(CliInspect, ExitCodesFollowTheContract) {
  TempDir dir;
  const std::vector<ExitCase> cases = {
      {"does-not-exist.qcow2", 3},
      {"hostile/no-linux-root.qcow2", 4},
      {"hostile/backing-etc-passwd.qcow2", 5},
      {"hostile/extent-etc-passwd.vmdk", 5},
      {"hostile/truncated.qcow2", 5},
      {"hostile/corrupt-superblock.raw", 5},
      {"hostile/status-sparse-2g.raw", 5},
  };
  for (const auto& c : cases) {
    auto image = fixtures_dir() / c.image;
    auto result = run_cli(inspect_args(dir, image, false));
    EXPECT_EQ(result.exit_code, c.exit_code) << c.image << ": " << result.err;
    EXPECT_NE(result.err.find(image.filename().string()), std::string::npos)
        << c.image << ": stderr should name the image: " << result.err;
    EXPECT_TRUE(result.out.empty()) << c.image << ": nothing on stdout after an error: " << result.out;
  }
  auto usage = run_cli({"inspect", "--no-such-option"});
  EXPECT_EQ(usage.exit_code, 2) << usage.err;
  auto missing_arg = run_cli({"inspect"});
  EXPECT_EQ(missing_arg.exit_code, 2) << missing_arg.err;
}

// Runs the CLI under strace and returns every (pid, path) the processes it
// started opened, plus the program each pid executed.
struct Trace {
  std::vector<std::pair<std::string, std::string>> opens;  // pid, path
  std::map<std::string, std::string> programs;            // pid -> executed path
  int exit_code = -1;
  std::string err;
};

Trace trace_cli(const std::vector<std::string>& args, const TempDir& dir) {
  auto log = dir.path() / "strace.log";
  // LeakSanitizer cannot run under ptrace; keep the rest of ASan (sanitizer tier).
  std::string asan = "ASAN_OPTIONS=";
  if (const char* current = std::getenv("ASAN_OPTIONS")) asan += std::string(current) + ":";
  asan += "detect_leaks=0";
  std::vector<std::string> argv{"env",  asan, "strace", "-f", "-qq", "-e", "trace=execve,open,openat,openat2",
                                "-o", log.string(), dormant::testing::cli_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessOptions options;
  options.timeout = std::chrono::seconds(120);
  auto result = run_process(argv, options);
  Trace trace;
  trace.exit_code = result.exit_code;
  trace.err = result.err;
  std::ifstream in(log);
  std::string line;
  static const std::regex open_re(R"(^(\d+)\s+open(?:at2?)?\((?:[^,]*,\s*)?\"([^\"]*)\")");
  static const std::regex exec_re(R"(^(\d+)\s+execve\(\"([^\"]*)\")");
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_search(line, m, exec_re)) {
      trace.programs[m[1]] = m[2];
    } else if (std::regex_search(line, m, open_re)) {
      trace.opens.emplace_back(m[1], m[2]);
    }
  }
  return trace;
}

class CliOutsideFile : public ::testing::TestWithParam<std::string> {};

TEST_P(CliOutsideFile, NoProcessOpensIt) {
  ASSERT_EQ(run_process({"strace", "-V"}).exit_code, 0) << "strace is needed (Debian package strace)";
  TempDir dir;
  const auto& entry = manifest_entry(GetParam());
  auto outside = entry.at("outside_file").get<std::string>();
  auto trace = trace_cli(inspect_args(dir, image_path(entry), false), dir);
  EXPECT_EQ(trace.exit_code, 5) << trace.err;
  ASSERT_FALSE(trace.programs.empty()) << "strace recorded nothing: " << trace.err;
  for (const auto& [pid, path] : trace.opens) {
    EXPECT_NE(path, outside) << "process " << pid << " ("
                             << (trace.programs.count(pid) ? trace.programs[pid] : "a fork of dormant")
                             << ") opened " << outside;
  }
  for (const auto& [pid, program] : trace.programs) {
    EXPECT_NE(fs::path(program).filename().string(), "qemu-nbd")
        << "qemu-nbd (pid " << pid << ") was started for an image the probe must refuse";
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CliOutsideFile,
                         ::testing::Values("hostile/backing-etc-passwd.qcow2", "hostile/extent-etc-passwd.vmdk"),
                         test_name);

}  // namespace
}  // namespace dormant::testing
