// repo/version: Debian version ordering (libapt-pkg) and syntax, differential
// against dpkg itself: every expected relation and every validity verdict
// comes from `dpkg --compare-versions` / `dpkg --validate-version`, never from
// this file.
#include "dormant/repo/version.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "dormant/core/subprocess.hpp"

namespace {

using dormant::repo::compare_versions;
using dormant::repo::is_valid_version;
using dormant::repo::upstream_version;

bool have_dpkg() { return dormant::run_process({"dpkg", "--version"}).exit_code == 0; }

const char* relation_name(int relation) { return relation < 0 ? "lt" : (relation > 0 ? "gt" : "eq"); }

// True when dpkg agrees that `a <relation> b`. dpkg's lt, eq and gt are
// mutually exclusive, so one call checks the whole answer.
bool dpkg_agrees(const std::string& a, int relation, const std::string& b) {
  auto result = dormant::run_process({"dpkg", "--compare-versions", "--", a, relation_name(relation), b});
  return result.exit_code == 0;
}

struct Claim {
  std::string a;
  int relation;
  std::string b;
};

// dpkg_agrees for many claims, on two threads (each dpkg run costs a few ms
// of process start; run_process is posix_spawn with O_CLOEXEC pipes, safe
// from several threads). Results in the order of `claims`.
std::vector<char> dpkg_agrees_all(const std::vector<Claim>& claims) {
  std::vector<char> agreed(claims.size(), 0);
  constexpr std::size_t kThreads = 2;
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < kThreads; ++t)
    threads.emplace_back([&claims, &agreed, t] {
      for (std::size_t i = t; i < claims.size(); i += kThreads)
        agreed[i] = dpkg_agrees(claims[i].a, claims[i].relation, claims[i].b) ? 1 : 0;
    });
  for (auto& thread : threads) thread.join();
  return agreed;
}

// dpkg's verdict on a version's syntax; a failure (not a verdict) when dpkg
// exits non-zero for any other reason than bad syntax.
bool dpkg_valid(const std::string& version) {
  auto result = dormant::run_process({"dpkg", "--validate-version", "--", version});
  if (result.exit_code != 0) {
    EXPECT_NE(result.err.find("has bad syntax"), std::string::npos)
        << "dpkg --validate-version '" << version << "': " << result.err;
  }
  return result.exit_code == 0;
}

// Hand-picked versions around the rules that are easy to get wrong.
const std::vector<std::string>& tricky_versions() {
  static const std::vector<std::string> versions = {
      "0",
      "1",
      "01",
      "0:1",
      "1:0",
      "1:1",
      "2:0.1",
      "00:1",
      "1.0",
      "1.0~rc1",
      "1.0~rc2",
      "1.0~",
      "1.0~~",
      "1.0~~a",
      "1.0+1",
      "1.0+b1",
      "1.0a",
      "1.0A",
      "1.0.0",
      "1.00",
      "1.0-1",
      "1.0-1.1",
      "1.0-01",
      "1.0-1~",
      "1.0-1+b1",
      "1.0-0",
      "1.0-a",
      "1.0-1-1",
      "1:1.0-1",
      "1.0a1",
      "1.0.a",
      "1.0+",
      "1.0.",
      "1.0-1.",
      "2.36-9+deb12u4",
      "2.36-9+deb12u14",
      "2.36-9+deb12u7",
      "12.4+deb12u10",
      "1:2.3:4-5",
      "123456789012345678901234567890",
      "123456789012345678901234567891",
      "1.000000000000000000000000000000000001",
      "1.1",
      "9",
      "10",
      "1.0-1~bpo1",
  };
  return versions;
}

// Pseudo-random valid versions from a fixed seed, from a small alphabet so
// that equal, almost-equal and prefix versions are common.
class VersionGenerator {
 public:
  explicit VersionGenerator(unsigned seed) : rng_(seed) {}

  std::string next() {
    std::string version;
    const bool epoch = chance(30);
    const bool revision = chance(60);
    if (epoch) version += pick({"0", "1", "2", "10", "01", "00"}) + ":";
    version += static_cast<char>('0' + below(10));
    std::string upstream_alphabet = "00112233456789...~~++abzAZ";
    if (epoch) upstream_alphabet += ':';
    if (revision) upstream_alphabet += '-';
    const std::size_t length = below(10);
    for (std::size_t i = 0; i < length; ++i) {
      if (chance(3)) {
        version += std::string(20 + below(10), static_cast<char>('0' + below(10)));
        continue;
      }
      version += upstream_alphabet[below(upstream_alphabet.size())];
    }
    if (revision) {
      version += '-';
      const std::string revision_alphabet = "0011123456789..~~++abz";
      const std::size_t revision_length = 1 + below(6);
      for (std::size_t i = 0; i < revision_length; ++i)
        version += revision_alphabet[below(revision_alphabet.size())];
    }
    return version;
  }

  // A valid version with one or two random edits from a wider alphabet, or a
  // short random string: a mix of valid and invalid input.
  std::string next_mutated() {
    const std::string alphabet = " \t\n:-!_/@#,;a0~.+Z9";
    std::string text;
    if (chance(20)) {
      const std::size_t length = below(8);
      for (std::size_t i = 0; i < length; ++i) text += alphabet[below(alphabet.size())];
      return text;
    }
    text = next();
    const std::size_t edits = 1 + below(2);
    for (std::size_t e = 0; e < edits; ++e) {
      const std::size_t at = below(text.size() + 1);
      switch (below(4)) {
        case 0:
          text.insert(at, 1, alphabet[below(alphabet.size())]);
          break;
        case 1:
          if (at < text.size()) text.erase(at, 1);
          break;
        case 2:
          text.insert(0, pick({"-", "+", " ", "\t", "-1:", "+1:", ":", "a"}));
          break;
        default:
          text += pick({"-", " ", "\t", ":", "-1", "- 1", "-a:b", "-_"});
          break;
      }
    }
    return text;
  }

 private:
  std::size_t below(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_); }
  bool chance(unsigned percent) { return below(100) < percent; }
  std::string pick(std::initializer_list<const char*> options) {
    return *(options.begin() + static_cast<std::ptrdiff_t>(below(options.size())));
  }

  std::mt19937 rng_;
};

TEST(RepoVersion, TrickyPairsAgreeWithDpkg) {
  ASSERT_TRUE(have_dpkg()) << "dpkg is not installed";
  const auto& versions = tricky_versions();
  for (const auto& version : versions)
    ASSERT_TRUE(dpkg_valid(version)) << "corpus version '" << version << "' is not valid for dpkg";
  std::vector<Claim> claims;
  for (std::size_t i = 0; i < versions.size(); ++i)
    for (std::size_t j = i; j < versions.size(); ++j) {
      const int relation = compare_versions(versions[i], versions[j]);
      EXPECT_EQ(compare_versions(versions[j], versions[i]), -relation)
          << versions[i] << " vs " << versions[j];
      claims.push_back({versions[i], relation, versions[j]});
    }
  const auto agreed = dpkg_agrees_all(claims);
  std::size_t checked = 0;
  for (std::size_t k = 0; k < claims.size(); ++k, ++checked)
    EXPECT_TRUE(agreed[k]) << "dormant says '" << claims[k].a << "' " << relation_name(claims[k].relation)
                           << " '" << claims[k].b << "', dpkg does not";
  EXPECT_EQ(checked, versions.size() * (versions.size() + 1) / 2);
}

// 2000 random versions sorted by dormant; dpkg must agree with the relation
// of every adjacent pair. As dpkg's order is total, agreeing on each adjacent
// pair (lt or eq, exactly as dormant says) means agreeing on the whole order.
TEST(RepoVersion, RandomVersionsSortLikeDpkg) {
  ASSERT_TRUE(have_dpkg()) << "dpkg is not installed";
  VersionGenerator generator(20261125);
  std::vector<std::string> versions;
  for (int i = 0; i < 2000; ++i) versions.push_back(generator.next());
  for (const auto& version : versions) ASSERT_TRUE(is_valid_version(version)) << version;
  for (std::size_t i = 0; i < 100; ++i) ASSERT_TRUE(dpkg_valid(versions[i])) << versions[i];

  std::stable_sort(versions.begin(), versions.end(),
                   [](const std::string& a, const std::string& b) { return compare_versions(a, b) < 0; });
  std::size_t equal = 0;
  std::vector<Claim> claims;
  for (std::size_t i = 0; i + 1 < versions.size(); ++i) {
    const int relation = compare_versions(versions[i], versions[i + 1]);
    ASSERT_LE(relation, 0) << "sort is inconsistent at " << versions[i] << ", " << versions[i + 1];
    if (relation == 0) ++equal;
    claims.push_back({versions[i], relation, versions[i + 1]});
  }
  const auto agreed = dpkg_agrees_all(claims);
  std::size_t disagreements = 0;
  for (std::size_t k = 0; k < claims.size(); ++k) {
    if (agreed[k]) continue;
    ADD_FAILURE() << "dormant says '" << claims[k].a << "' " << relation_name(claims[k].relation) << " '"
                  << claims[k].b << "', dpkg does not";
    if (++disagreements > 20) FAIL() << "too many disagreements";
  }
  // The corpus must exercise equality (0: epochs, leading zeros) too.
  EXPECT_GT(equal, 0U);
}

TEST(RepoVersion, ValidityAgreesWithDpkg) {
  ASSERT_TRUE(have_dpkg()) << "dpkg is not installed";
  std::vector<std::string> inputs = {
      "",
      " ",
      "1.0",
      " 1.0",
      "1.0 ",
      "\t1.0\t",
      "1 .0",
      "1.0\n",
      "\n1:1.0",
      "a1.0",
      "1.0a",
      "0",
      "1:",
      ":1.0",
      "1:1.0",
      "+1:1.0",
      "-1:1.0",
      "-0:1.0",
      " 1:1.0",
      "1 :1.0",
      "a:1.0",
      "1a:1.0",
      "01:1.0",
      "2147483647:1",
      "2147483648:1",
      "99999999999999999999:1",
      "1:a",
      "1:1:1",
      "1-",
      "-1",
      "1.0-1",
      "1.0-1-1",
      "1.0-1:1",
      "1.0-a_b",
      "1.0_1",
      "1.0-1~b",
      "1.0~-1",
      "1.0--1",
      "1:2.3:4-5",
      "1.0-1 2",
      "1.0!",
      "1,0",
      "0x10:1",
      "1e5:1",
      "1.0-+",
      "~1",
      "1.0-.",
      "1:-1",
      "1:1-",
      "1.0-1.2~3+4",
      "\v1.0",
  };
  VersionGenerator generator(4242);
  for (int i = 0; i < 300; ++i) inputs.push_back(generator.next_mutated());

  std::size_t valid = 0;
  for (const auto& input : inputs) {
    const bool expected = dpkg_valid(input);
    EXPECT_EQ(is_valid_version(input), expected)
        << "'" << input << "' is " << (expected ? "" : "not ") << "valid for dpkg";
    if (expected) ++valid;
  }
  // Both verdicts must be exercised well.
  EXPECT_GT(valid, inputs.size() / 5);
  EXPECT_LT(valid, inputs.size() * 4 / 5);
}

TEST(RepoVersion, EmbeddedNulIsInvalid) {
  using namespace std::string_view_literals;
  EXPECT_TRUE(is_valid_version("1.0"sv));
  EXPECT_FALSE(is_valid_version("1.0\0"sv));
  EXPECT_FALSE(is_valid_version("1\0.0"sv));
}

// A view must be compared as its own bytes: libapt-pkg reads past the end of
// the range it is given (digit runs, zeros) unless something ends it, so views
// cut out of a longer buffer followed by digits must compare exactly as the
// same versions as whole strings (whose order dpkg checked above).
TEST(RepoVersion, ViewsCutFromLongerTextCompareAsThemselves) {
  const auto& versions = tricky_versions();
  std::vector<std::string> buffers;
  for (const auto& version : versions) buffers.push_back(version + "0009-1");
  for (std::size_t i = 0; i < versions.size(); ++i)
    for (std::size_t j = 0; j < versions.size(); ++j) {
      const std::string_view a(buffers[i].data(), versions[i].size());
      const std::string_view b(buffers[j].data(), versions[j].size());
      EXPECT_EQ(compare_versions(a, b), compare_versions(std::string(versions[i]), std::string(versions[j])))
          << versions[i] << " vs " << versions[j];
    }
  // The empty version (and a null view) is an ordinary, consistent value.
  EXPECT_EQ(compare_versions("", ""), 0);
  EXPECT_EQ(compare_versions(std::string_view(), ""), 0);
  EXPECT_EQ(compare_versions("", "1.0"), -compare_versions("1.0", ""));
  EXPECT_NE(compare_versions("", "1.0"), 0);
}

// No reference tool prints the upstream part, so these are hand-written:
// epoch up to the first colon, revision from the last hyphen.
TEST(RepoVersion, UpstreamVersion) {
  EXPECT_EQ(upstream_version("1.0"), "1.0");
  EXPECT_EQ(upstream_version("1:1.0-1"), "1.0");
  EXPECT_EQ(upstream_version("1:2.3:4-5"), "2.3:4");
  EXPECT_EQ(upstream_version("1.0-1-2"), "1.0-1");
  EXPECT_EQ(upstream_version("2.36-9+deb12u4"), "2.36");
  EXPECT_EQ(upstream_version(""), "");
}

// compare_versions needs no initialisation and keeps no state: the same
// answers from four threads at once as from one.
TEST(RepoVersion, ConcurrentComparisonsMatchSequential) {
  VersionGenerator generator(7);
  std::vector<std::string> versions;
  for (int i = 0; i < 400; ++i) versions.push_back(generator.next());
  std::vector<int> expected;
  for (std::size_t i = 0; i + 1 < versions.size(); ++i)
    expected.push_back(compare_versions(versions[i], versions[i + 1]));

  std::vector<std::vector<int>> results(4);
  std::vector<std::thread> threads;
  for (auto& result : results)
    threads.emplace_back([&versions, &result] {
      for (int round = 0; round < 20; ++round) {
        result.clear();
        for (std::size_t i = 0; i + 1 < versions.size(); ++i)
          result.push_back(compare_versions(versions[i], versions[i + 1]));
      }
    });
  for (auto& thread : threads) thread.join();
  for (const auto& result : results) EXPECT_EQ(result, expected);
  EXPECT_TRUE(std::any_of(expected.begin(), expected.end(), [](int r) { return r != 0; }));
}

}  // namespace
