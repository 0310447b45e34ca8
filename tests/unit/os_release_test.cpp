// os-release parsing. os-release(5) is designed to be sourceable by a POSIX
// shell, so for valid files the host's /bin/sh is the reference: the test
// writes its own (trusted) text to a temp file and lets sh print each value.
#include "dormant/inspect/os_release.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "dormant/core/subprocess.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using dormant::inspect::parse_os_release;
using dormant::testing::fixture_rootfs;
using dormant::testing::TempDir;

namespace {

// What a POSIX shell makes of `. file; printf %s "$KEY"`.
std::string shell_value(const fs::path& file, const std::string& key) {
  auto r = dormant::run_process(
      {"sh", "-c", ". \"$1\" && eval \"printf %s \\\"\\$$2\\\"\"", "sh", file.string(), key});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out;
}

void expect_same_as_shell(const std::string& text) {
  TempDir dir("dormant-osrel");
  fs::path file = dir.path() / "os-release";
  std::ofstream(file) << text;
  auto parsed = parse_os_release(text);
  ASSERT_FALSE(parsed.empty()) << text;
  for (const auto& [key, value] : parsed)
    EXPECT_EQ(value, shell_value(file, key)) << "key " << key << " in\n" << text;
}

}  // namespace

TEST(OsRelease, RealDebianFileMatchesShell) {
  fs::path file = fixture_rootfs() / "usr/lib/os-release";
  if (!fs::exists(file))
    FAIL() << "no fixture rootfs at " << fixture_rootfs() << " (tests/fixtures/make-rootfs.sh)";
  std::ifstream in(file);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto parsed = parse_os_release(text);
  for (const char* key : {"ID", "VERSION_ID", "PRETTY_NAME", "VERSION_CODENAME", "NAME", "HOME_URL"}) {
    ASSERT_TRUE(parsed.count(key)) << key;
    EXPECT_EQ(parsed[key], shell_value(file, key)) << key;
  }
}

TEST(OsRelease, QuotingAndEscapesMatchShell) {
  expect_same_as_shell(
      "ID=debian\n"
      "NAME=\"Debian GNU/Linux\"\n"
      "PRETTY_NAME='Single quoted $HOME \\n stays'\n"
      "A=\"dollar \\$HOME quote \\\" backslash \\\\ backtick \\` other \\n\"\n"
      "B=unquoted\\ escaped\\ space\n"
      "C=\"concat\"'enated'plain\n"
      "D=\"\"\n"
      "E=\n"
      "F=\"trailing\"   \n");
}

TEST(OsRelease, CommentsBlankLinesAndCrLf) {
  auto m = parse_os_release("# comment=1\n\n   \nID=fedora\r\n  # indented comment\nVERSION_ID=\"40\"\r\n");
  EXPECT_EQ(m.size(), 2u);
  EXPECT_EQ(m["ID"], "fedora");
  EXPECT_EQ(m["VERSION_ID"], "40");
}

TEST(OsRelease, LaterAssignmentWins) {
  expect_same_as_shell("ID=first\nID=second\n");
  EXPECT_EQ(parse_os_release("ID=first\nID=second\n").at("ID"), "second");
}

TEST(OsRelease, InvalidLinesAreIgnored) {
  auto m = parse_os_release(
      "lower=case\n"           // keys are [A-Z0-9_]+
      "=novalue\n"             // no key
      "NO_EQUALS\n"            // no '='
      "BAD-KEY=x\n"            // '-' not allowed in keys
      "OPEN=\"unterminated\n"  // quote never closed
      "OPEN2='unterminated\n"
      "SPACES=two words\n"  // must be quoted
      "TRAIL=x\\\n"         // dangling backslash
      "ID=ok\n");
  EXPECT_EQ(m.size(), 1u);
  EXPECT_EQ(m["ID"], "ok");
}

TEST(OsRelease, GarbageDoesNotCrash) {
  std::string garbage;
  for (int i = 0; i < 4096; ++i) garbage.push_back(static_cast<char>((i * 131 + 7) % 256));
  garbage += "\nID=after_garbage\n";
  auto m = parse_os_release(garbage);
  EXPECT_EQ(m["ID"], "after_garbage");
  EXPECT_TRUE(parse_os_release(std::string("\0\0\0=\0", 5)).empty());
  EXPECT_TRUE(parse_os_release("").empty());
}

TEST(OsRelease, OnlyTheFirstThousandLinesCount) {
  std::string text;
  for (int i = 0; i < 999; ++i) text += "# filler\n";
  text += "ID=line1000\n";
  text += "VERSION_ID=line1001\n";
  auto m = parse_os_release(text);
  EXPECT_EQ(m["ID"], "line1000");
  EXPECT_FALSE(m.count("VERSION_ID"));
}
