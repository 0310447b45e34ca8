// dpkg status parsing, checked against dpkg itself: the host's dpkg-query
// reads the same status file (only the file: --admindir points at a copy or
// at the fixture rootfs's database) and must report the same packages.
#include "dormant/inspect/dpkg_status.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>

#include "dormant/core/error.hpp"
#include "dormant/core/subprocess.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using dormant::inspect::DpkgStatus;
using dormant::inspect::Package;
using dormant::inspect::parse_dpkg_status;
using dormant::testing::fixture_rootfs;
using dormant::testing::read_file_text;
using dormant::testing::TempDir;

namespace {

// name, version, arch, source, source_version, status
using Row = std::tuple<std::string, std::string, std::string, std::string, std::string, std::string>;

std::set<Row> dpkg_query_rows(const fs::path& admindir) {
  auto r =
      dormant::run_process({"dpkg-query", "--admindir=" + admindir.string(), "-W",
                            "-f=${binary:Package}\\t${Version}\\t${Architecture}\\t${source:Package}\\t${"
                            "source:Version}\\t${db:Status-Status}\\n"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::set<Row> rows;
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::size_t start = 0;
    for (std::size_t tab; (tab = line.find('\t', start)) != std::string::npos; start = tab + 1)
      f.push_back(line.substr(start, tab - start));
    f.push_back(line.substr(start));
    EXPECT_EQ(f.size(), 6u) << line;
    if (f.size() != 6) continue;
    // ${binary:Package} qualifies Multi-Arch: same packages as name:arch.
    std::string suffix = ":" + f[2];
    if (f[0].size() > suffix.size() && f[0].ends_with(suffix)) f[0].resize(f[0].size() - suffix.size());
    rows.emplace(f[0], f[1], f[2], f[3], f[4], f[5]);
  }
  return rows;
}

std::set<Row> parsed_rows(const DpkgStatus& st) {
  std::set<Row> rows;
  for (const auto& p : st.packages)
    rows.emplace(p.name, p.version, p.arch, p.source, p.source_version, p.status);
  return rows;
}

void expect_sorted(const DpkgStatus& st) {
  for (std::size_t i = 1; i < st.packages.size(); ++i) {
    const auto& a = st.packages[i - 1];
    const auto& b = st.packages[i];
    EXPECT_TRUE(std::tie(a.name, a.arch) < std::tie(b.name, b.arch)) << a.name << " / " << b.name;
  }
}

const Package* find(const DpkgStatus& st, const std::string& name, const std::string& arch) {
  for (const auto& p : st.packages)
    if (p.name == name && p.arch == arch) return &p;
  return nullptr;
}

// Stanzas covering the states and shapes a real database can hold.
const char* const kSynthetic =
    "Package: alpha\n"
    "Status: install ok installed\n"
    "Priority: optional\n"
    "Architecture: amd64\n"
    "Version: 1:2.3-4\n"
    "Maintainer: Someone <someone@example.org>\n"
    "Description: first line\n"
    " continuation line with Version: 9.9 in it\n"
    " .\n"
    " Package: not-a-field\n"
    "\n"
    "package: beta\n"
    "STATUS: install ok half-configured\n"
    "architecture: all\n"
    "version: 0.1\n"
    "Maintainer: x\n"
    "\n"
    "Package: gamma\n"
    "Status: deinstall ok config-files\n"
    "Architecture: amd64\n"
    "Version: 5.0-1\n"
    "Maintainer: x\n"
    "Conffiles:\n"
    " /etc/gamma.conf 0123456789abcdef0123456789abcdef\n"
    "\n"
    "Package: delta\n"
    "Status: hold ok installed\n"
    "Architecture: amd64\n"
    "Source: delta-src (7.0-2)\n"
    "Version: 7.0-2+b1\n"
    "Maintainer: x\n"
    "\n"
    "Package: libmulti1\n"
    "Status: install ok installed\n"
    "Multi-Arch: same\n"
    "Architecture: amd64\n"
    "Source: multi\n"
    "Version: 3.1-1\n"
    "Maintainer: x\n"
    "\n"
    "Package: libmulti1\n"
    "Status: install ok installed\n"
    "Multi-Arch: same\n"
    "Architecture: i386\n"
    "Source: multi\n"
    "Version: 3.1-1\n"
    "Maintainer: x\n"
    "\n"
    "Package: epsilon\n"
    "Status: purge ok not-installed\n"
    "Architecture: amd64\n"
    "\n"
    "Package: zeta\n"
    "Status: install reinstreq half-installed\n"
    "Architecture: amd64\n"
    "Version: 2.0\n"
    "Maintainer: x\n"
    "\n"
    "Package: eta\n"
    "Status: install ok unpacked\n"
    "Architecture: amd64\n"
    "Version: 1.0\n"
    "Maintainer: x\n"
    "\n"
    "Package: theta\n"
    "Status: install ok triggers-pending\n"
    "Architecture: amd64\n"
    "Version: 1.0\n"
    "Triggers-Pending: /usr/share/man\n"
    "Maintainer: x\n"
    "\n"
    "Package: iota\n"
    "Status: install ok triggers-awaited\n"
    "Architecture: amd64\n"
    "Version: 1.0\n"
    "Triggers-Awaited: theta\n"
    "Maintainer: x\n";

std::string to_crlf(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

}  // namespace

TEST(DpkgStatus, RealRootfsMatchesDpkgQuery) {
  fs::path admindir = fixture_rootfs() / "var/lib/dpkg";
  if (!fs::exists(admindir / "status")) FAIL() << "no fixture rootfs at " << fixture_rootfs();
  auto st = parse_dpkg_status(read_file_text(admindir / "status"));
  EXPECT_TRUE(st.warnings.empty()) << st.warnings.front();
  auto expected = dpkg_query_rows(admindir);
  ASSERT_GT(expected.size(), 50u);
  auto actual = parsed_rows(st);
  EXPECT_EQ(actual.size(), st.packages.size());
  for (const auto& row : expected) EXPECT_TRUE(actual.count(row)) << "missing: " << std::get<0>(row);
  for (const auto& row : actual) EXPECT_TRUE(expected.count(row)) << "extra: " << std::get<0>(row);
  expect_sorted(st);
}

TEST(DpkgStatus, SyntheticStanzasMatchDpkgQuery) {
  TempDir dir("dormant-dpkg");
  std::ofstream(dir.path() / "status") << kSynthetic;
  auto st = parse_dpkg_status(kSynthetic);
  EXPECT_TRUE(st.warnings.empty()) << st.warnings.front();
  auto expected = dpkg_query_rows(dir.path());
  EXPECT_EQ(expected.size(), 10u);  // every stanza but the not-installed one
  EXPECT_EQ(parsed_rows(st), expected);
  expect_sorted(st);
}

TEST(DpkgStatus, StatesWantAndSourceAreKept) {
  auto st = parse_dpkg_status(kSynthetic);
  const Package* gamma = find(st, "gamma", "amd64");
  ASSERT_NE(gamma, nullptr);
  EXPECT_EQ(gamma->status, "config-files");
  EXPECT_EQ(gamma->want, "deinstall");
  const Package* delta = find(st, "delta", "amd64");
  ASSERT_NE(delta, nullptr);
  EXPECT_EQ(delta->want, "hold");
  EXPECT_EQ(delta->source, "delta-src");
  EXPECT_EQ(delta->source_version, "7.0-2");
  EXPECT_EQ(delta->version, "7.0-2+b1");
  const Package* beta = find(st, "beta", "all");
  ASSERT_NE(beta, nullptr);  // lowercase field names
  EXPECT_EQ(beta->status, "half-configured");
  EXPECT_EQ(beta->source, "beta");
  EXPECT_EQ(beta->source_version, "0.1");
  EXPECT_NE(find(st, "libmulti1", "amd64"), nullptr);
  EXPECT_NE(find(st, "libmulti1", "i386"), nullptr);
  EXPECT_EQ(find(st, "epsilon", "amd64"), nullptr);
  const Package* alpha = find(st, "alpha", "amd64");
  ASSERT_NE(alpha, nullptr);  // continuation lines are not fields
  EXPECT_EQ(alpha->version, "1:2.3-4");
}

TEST(DpkgStatus, CrLfGivesTheSameResultAsLf) {
  TempDir dir("dormant-dpkg");
  std::ofstream(dir.path() / "status") << kSynthetic;
  auto st = parse_dpkg_status(to_crlf(kSynthetic));
  EXPECT_TRUE(st.warnings.empty()) << st.warnings.front();
  EXPECT_EQ(parsed_rows(st), dpkg_query_rows(dir.path()));
}

TEST(DpkgStatus, StanzasWithoutPackageOrVersionAreSkippedWithTheirLine) {
  const char* text =
      "Package: ok\nStatus: install ok installed\nVersion: 1\n"  // lines 1-3
      "\n"
      "Status: install ok installed\nVersion: 2\n"  // line 5: no Package
      "\n"
      "Package: noversion\nStatus: install ok installed\n"  // line 8: no Version
      "\n"
      "Package: badstatus\nStatus: install ok sideways\nVersion: 1\n"  // line 11
      "\n"
      "Package: nostatus\nVersion: 1\n"  // line 15
      "\n"
      "this line has no colon\n"  // line 18
      "Package: afterjunk\nStatus: install ok installed\nVersion: 3\n";
  auto st = parse_dpkg_status(text);
  ASSERT_EQ(st.packages.size(), 2u);
  EXPECT_EQ(st.packages[0].name, "afterjunk");
  EXPECT_EQ(st.packages[1].name, "ok");
  ASSERT_EQ(st.warnings.size(), 5u);
  EXPECT_EQ(st.warnings[0], "line 5: stanza has no Package field; skipped");
  EXPECT_EQ(st.warnings[1], "line 8: stanza 'noversion' has no Version field; skipped");
  EXPECT_EQ(st.warnings[2],
            "line 11: stanza 'badstatus' has an invalid Status 'install ok sideways'; skipped");
  EXPECT_EQ(st.warnings[3], "line 15: stanza 'nostatus' has no Status field; skipped");
  EXPECT_EQ(st.warnings[4], "line 18: not a 'Field: value' line; ignored");
}

TEST(DpkgStatus, LaterDuplicateWins) {
  auto st = parse_dpkg_status(
      "Package: dup\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n\n"
      "Package: dup\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2\n");
  ASSERT_EQ(st.packages.size(), 1u);
  EXPECT_EQ(st.packages[0].version, "2");
  EXPECT_EQ(st.warnings.size(), 1u);
}

TEST(DpkgStatus, WarningsAreBounded) {
  std::string text;
  for (int i = 0; i < 5000; ++i) text += "garbage line\n\n";
  auto st = parse_dpkg_status(text);
  EXPECT_TRUE(st.packages.empty());
  EXPECT_LE(st.warnings.size(), 101u);
  EXPECT_EQ(st.warnings.back(), "further warnings suppressed");
}

TEST(DpkgStatus, TooManyStanzasIsALimitError) {
  std::string text;
  for (int i = 0; i < 200001; ++i) text += "Package: p\n\n";
  try {
    parse_dpkg_status(text);
    FAIL() << "expected Error(limit)";
  } catch (const dormant::Error& e) {
    EXPECT_EQ(e.kind(), dormant::ErrorKind::limit);
    EXPECT_NE(e.message().find("200000"), std::string::npos) << e.message();
  }
}

TEST(DpkgStatus, EmptyAndGarbageInput) {
  EXPECT_TRUE(parse_dpkg_status("").packages.empty());
  EXPECT_TRUE(parse_dpkg_status("\n\n\n").packages.empty());
  std::string garbage;
  for (int i = 0; i < 65536; ++i) garbage.push_back(static_cast<char>((i * 37 + 11) % 256));
  auto st = parse_dpkg_status(garbage);
  EXPECT_TRUE(st.packages.empty());
}

// A 2 MB database (the real one repeated under new names) must parse in a
// few milliseconds in an optimised build; the bound here is loose so that it
// also holds in Debug and sanitizer builds, and catches quadratic behaviour.
TEST(DpkgStatus, TwoMegabytesParseQuickly) {
  fs::path status = fixture_rootfs() / "var/lib/dpkg/status";
  if (!fs::exists(status)) FAIL() << "no fixture rootfs at " << fixture_rootfs();
  std::string real = read_file_text(status);
  std::string big;
  for (int copy = 0; big.size() < (2u << 20); ++copy) {
    std::string renamed;
    std::istringstream in(real);
    for (std::string line; std::getline(in, line);) {
      if (line.starts_with("Package: ")) line += "-copy" + std::to_string(copy);
      renamed += line + '\n';
    }
    big += renamed + "\n";
  }
  auto start = std::chrono::steady_clock::now();
  auto st = parse_dpkg_status(big);
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GT(st.packages.size(), 1000u);
  if (!dormant::testing::kSanitized) {
    EXPECT_LT(ms, 1000.0) << "parse of " << big.size() << " bytes took " << ms << " ms";
  }
  RecordProperty("parse_ms", std::to_string(ms));
}
