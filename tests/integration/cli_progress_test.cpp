// The progress display of the real CLI: under a pseudo-terminal (util-linux
// `script`) `dormant identify` draws a bar; with stderr on a pipe it prints
// no escape sequence, and plain lines only with --verbose.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fixture_support.hpp"

namespace dormant::testing {
namespace {

namespace fs = std::filesystem;

std::string quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

class CliProgress : public ::testing::Test {
 protected:
  void SetUp() override {
    library_ = dir_.path() / "library";
    fs::create_directories(library_);
    for (const char* name : {"a.qcow2", "b.qcow2"})
      run_ok({"cp", "--sparse=always", "--reflink=auto", (fixtures_dir() / "mbr-ext4.qcow2").string(),
              (library_ / name).string()});
    ASSERT_EQ(cli({"library", "add", library_.string(), "--name", "lib"}).exit_code, 0);
  }

  std::vector<std::string> argv(std::vector<std::string> args) const {
    args.insert(args.begin(), {dormant::testing::cli_path(), "--catalog", (dir_.path() / "catalog.db").string()});
    return args;
  }
  ProcessResult cli(std::vector<std::string> args) const {
    args.insert(args.begin(), {"--catalog", (dir_.path() / "catalog.db").string()});
    return run_cli(args);
  }

  TempDir dir_{"dormant-cli-progress"};
  fs::path library_;
};

TEST_F(CliProgress, ABarIsDrawnOnATerminal) {
  std::string command;
  for (const auto& a : argv({"identify", "--no-guestfs"})) command += quoted(a) + " ";
  // script gives the command a pty as its terminal; everything it writes
  // there (stdout and stderr) comes out on script's stdout.
  ProcessOptions options;
  options.timeout = std::chrono::seconds(120);
  auto result = run_ok({"script", "-qfec", command, "/dev/null"}, options);
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_NE(result.out.find("identify ["), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("#"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("100% 2/2"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("\r\033[K"), std::string::npos) << "redrawn in place";
}

TEST_F(CliProgress, NoEscapeSequencesWithoutATerminal) {
  auto quiet = cli({"identify", "--no-guestfs"});
  ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_EQ(quiet.err.find('\033'), std::string::npos) << quiet.err;
  EXPECT_EQ(quiet.out.find('\033'), std::string::npos) << quiet.out;
  EXPECT_EQ(quiet.err.find("identify ["), std::string::npos) << quiet.err;

  auto verbose = cli({"identify", "--no-guestfs", "--verbose"});  // unchanged now: still one line each
  ASSERT_EQ(verbose.exit_code, 0) << verbose.err;
  EXPECT_EQ(verbose.err.find('\033'), std::string::npos) << verbose.err;
  EXPECT_NE(verbose.err.find("identify [1/2] "), std::string::npos) << verbose.err;
  EXPECT_NE(verbose.err.find("identify [2/2] "), std::string::npos) << verbose.err;
  EXPECT_EQ(verbose.err.find('%'), std::string::npos) << "no bar off a terminal";
}

}  // namespace
}  // namespace dormant::testing
