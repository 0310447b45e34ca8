// assess/advisories: the Debian Security Tracker's JSON, reduced to "which
// advisories does an upgrade from installed to candidate fix". Samples in
// tests/fixtures/advisories/ are hand-written in the tracker's shape.
#include "dormant/assess/advisories.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "dormant/core/error.hpp"
#include "support/error_of.hpp"
#include "support/test_support.hpp"

namespace {

namespace fs = std::filesystem;
using dormant::Error;
using dormant::ErrorKind;
using dormant::assess::Advisories;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Ids = std::vector<std::string>;

fs::path fixture(const std::string& name) {
  return dormant::testing::source_dir() / "tests" / "fixtures" / "advisories" / name;
}

const Advisories& sample() {
  static const Advisories advisories = Advisories::load(fixture("tracker-sample.json"));
  return advisories;
}

using dormant::testing::error_of;

TEST(Advisories, CountsTheSample) {
  EXPECT_EQ(sample().advisory_count(), 11u);
  EXPECT_EQ(sample().skipped_entries(), 0u);
}

TEST(Advisories, FixedBetweenInstalledAndCandidate) {
  // 3.0.8-1 is older than what is installed; open advisories never count.
  EXPECT_THAT(sample().fixed_between("openssl", "bookworm", "3.0.11-1~deb12u2", "3.0.13-1~deb12u1"),
              ElementsAre("CVE-2023-5678", "CVE-2024-0727", "TEMP-0000000-6E9E1A"));
  EXPECT_THAT(sample().fixed_between("openssl", "bookworm", "0", "99"),
              ElementsAre("CVE-2023-0464", "CVE-2023-5678", "CVE-2024-0727", "TEMP-0000000-6E9E1A"));
}

TEST(Advisories, BoundariesAreInstalledExclusiveCandidateInclusive) {
  const Advisories& a = sample();
  // installed == fixed: already fixed.
  EXPECT_THAT(a.fixed_between("openssl", "bookworm", "3.0.13-1~deb12u1", "3.0.14-1~deb12u1"), IsEmpty());
  // candidate == fixed: the upgrade fixes it.
  EXPECT_THAT(a.fixed_between("openssl", "bookworm", "3.0.8-1", "3.0.8-1"), IsEmpty());
  EXPECT_THAT(a.fixed_between("openssl", "bookworm", "3.0.7-1", "3.0.8-1"), ElementsAre("CVE-2023-0464"));
  // A tilde sorts before anything: ~deb12u0 is before the fix, the release without one after it.
  EXPECT_THAT(a.fixed_between("openssl", "bookworm", "3.0.11-1~deb12u2", "3.0.13-1~deb12u0"), IsEmpty());
  EXPECT_THAT(a.fixed_between("openssl", "bookworm", "3.0.13-1~deb12u0", "3.0.13-1"),
              ElementsAre("CVE-2023-5678", "CVE-2024-0727", "TEMP-0000000-6E9E1A"));
  // A downgrade fixes nothing.
  EXPECT_THAT(a.fixed_between("openssl", "bookworm", "3.0.13-1~deb12u1", "3.0.11-1~deb12u2"), IsEmpty());
}

TEST(Advisories, EpochsOrderBeforeEverythingElse) {
  const Advisories& a = sample();
  // Fixed in 1:2.0~rc1-1, 1:2.0-1 and 2.5-1 (epoch 0).
  EXPECT_THAT(a.fixed_between("epochal", "bookworm", "2.0-1", "1:2.0-1"),
              ElementsAre("CVE-2030-0001", "CVE-2030-0002", "CVE-2030-0003"));
  EXPECT_THAT(a.fixed_between("epochal", "bookworm", "1:2.0~rc1-1", "1:2.0-1"), ElementsAre("CVE-2030-0002"));
  // "0:2.5-1" is 2.5-1: installed == fixed.
  EXPECT_THAT(a.fixed_between("epochal", "bookworm", "0:2.5-1", "1:2.0-1"),
              ElementsAre("CVE-2030-0001", "CVE-2030-0002"));
  EXPECT_THAT(a.fixed_between("epochal", "bookworm", "2.4", "0:2.5-1"), ElementsAre("CVE-2030-0003"));
}

TEST(Advisories, OtherReleasesAreIgnored) {
  const Advisories& a = sample();
  // sid's fix (3.0.13-1) is not bookworm's.
  EXPECT_THAT(a.fixed_between("openssl", "bookworm", "3.0.13-1~deb12u1", "3.0.13-1"), IsEmpty());
  EXPECT_THAT(a.fixed_between("openssl", "sid", "3.0.13-1~deb12u1", "3.0.13-1"),
              ElementsAre("CVE-2023-5678"));
  EXPECT_THAT(a.fixed_between("openssl", "bullseye", "1.1.1w-0+deb11u1", "1.1.1w-0+deb11u2"),
              ElementsAre("CVE-2023-5678"));
  EXPECT_THAT(a.fixed_between("openssl", "trixie", "0", "99"), IsEmpty());
  EXPECT_THAT(a.fixed_between("no-such-package", "bookworm", "0", "99"), IsEmpty());
}

TEST(Advisories, OpenAndUndeterminedAreIgnored) {
  for (const char* codename : {"bookworm", "sid"})
    for (const auto& id : sample().fixed_between("openssl", codename, "0", "99"))
      EXPECT_NE(id, "CVE-2024-2511");
}

TEST(Advisories, FixedVersionZeroNeverMatches) {
  const Advisories& a = sample();
  // CVE-2022-3821 (bookworm) and CVE-2023-7008 (bullseye) are "0": never affected.
  EXPECT_THAT(a.fixed_between("systemd", "bookworm", "", "999"), ElementsAre("CVE-2023-7008"));
  EXPECT_THAT(a.fixed_between("systemd", "bullseye", "", "999"), IsEmpty());
}

TEST(Advisories, MissingFieldsAreTolerated) {
  // linux's advisory has no description, epochal's no repositories or urgency.
  EXPECT_THAT(sample().fixed_between("linux", "bookworm", "6.1.76-1", "6.1.90-1"),
              ElementsAre("CVE-2024-26581"));
  const auto a = Advisories::parse(R"({"p": {"CVE-1": {}, "CVE-2": {"releases": {}}, "CVE-3": {"releases":
    {"bookworm": {}}}}, "q": {}})",
                                   "inline");
  EXPECT_EQ(a.advisory_count(), 3u);
  EXPECT_EQ(a.skipped_entries(), 0u);
  EXPECT_THAT(a.fixed_between("p", "bookworm", "0", "99"), IsEmpty());
}

TEST(Advisories, WrongTypesAreSkippedAndCounted) {
  const auto a = Advisories::load(fixture("wrong-types.json"));
  // See the file: two packages, eight advisories or releases of the wrong
  // shape; CVE-2031-0017's bad fixed_version is not used (open).
  EXPECT_EQ(a.skipped_entries(), 10u);
  EXPECT_EQ(a.advisory_count(), 9u);
  // Wrong types in fields that are not used do not matter.
  EXPECT_THAT(a.fixed_between("mixed", "bookworm", "0", "99"), ElementsAre("CVE-2031-0018", "CVE-2031-0019"));
}

TEST(Advisories, DuplicateKeysLastOneWins) {
  const auto a = Advisories::parse(R"({"p": {"CVE-1": {"releases": {"bookworm":
      {"status": "open", "fixed_version": 3, "status": "resolved", "fixed_version": "2"}}},
    "CVE-2": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "2", "status": []}}}}})",
                                   "inline");
  EXPECT_THAT(a.fixed_between("p", "bookworm", "1", "2"), ElementsAre("CVE-1"));
  EXPECT_EQ(a.skipped_entries(), 1u);
}

TEST(Advisories, DeepNestingCostsNothing) {
  // Values nobody reads may nest as deep as they like: only counted.
  const std::size_t depth = 200000;
  const std::string text = R"({"p": {"CVE-1": {"description": )" + std::string(depth, '[') +
                           std::string(depth, ']') +
                           R"(, "releases": {"bookworm": {"status": "resolved", "fixed_version": "2"}}}}})";
  const auto a = Advisories::parse(text, "inline");
  EXPECT_THAT(a.fixed_between("p", "bookworm", "1", "2"), ElementsAre("CVE-1"));
  EXPECT_EQ(a.skipped_entries(), 0u);
}

TEST(Advisories, LoadReadsPastItsBuffer) {
  // The file is read in 1 MiB pieces: entries on both sides of the seams.
  dormant::testing::TempDir dir("dormant-advisories");
  std::string text = "{";
  const std::string padding(1000, 'x');
  for (int i = 0; i < 2500; ++i) {
    if (i != 0) text += ",";
    text += "\"pkg" + std::to_string(i) + "\": {\"CVE-2000-" + std::to_string(i) +
            "\": {\"description\": \"" + padding +
            "\", \"releases\": {\"bookworm\": {\"status\": \"resolved\", \"fixed_version\": \"1." +
            std::to_string(i) + "\"}}}}";
  }
  text += "}";
  ASSERT_GT(text.size(), std::size_t{2} << 20);
  dormant::testing::write_file(dir.path() / "big.json", text);
  const auto a = Advisories::load(dir.path() / "big.json");
  EXPECT_EQ(a.advisory_count(), 2500u);
  for (int i : {0, 1, 1040, 1041, 2080, 2081, 2499})
    EXPECT_THAT(a.fixed_between("pkg" + std::to_string(i), "bookworm", "0", "2"),
                ElementsAre("CVE-2000-" + std::to_string(i)))
        << i;
}

TEST(Advisories, InvalidJsonNamesTheFileAndTheOffset) {
  const fs::path file = fixture("truncated.json");
  const Error e = error_of([&] { Advisories::load(file); });
  EXPECT_EQ(e.kind(), ErrorKind::corrupt);
  EXPECT_EQ(e.subject(), file.string());
  EXPECT_THAT(e.what(), HasSubstr(file.string() + ": invalid JSON at byte 133: "));

  const Error inline_error = error_of([] { Advisories::parse(R"({"p": {"CVE-1": tru}})", "tracker.json"); });
  EXPECT_EQ(inline_error.kind(), ErrorKind::corrupt);
  EXPECT_THAT(inline_error.what(), HasSubstr("tracker.json: invalid JSON at byte 19: "));
  EXPECT_EQ(error_of([] { Advisories::parse("", "empty"); }).kind(), ErrorKind::corrupt);
  EXPECT_EQ(error_of([] { Advisories::parse("{} {}", "two"); }).kind(), ErrorKind::corrupt);
}

TEST(Advisories, TopLevelMustBeAnObject) {
  for (const char* text : {"[]", "\"openssl\"", "3", "null"}) {
    const Error e = error_of([&] { Advisories::parse(text, "tracker.json"); });
    EXPECT_EQ(e.kind(), ErrorKind::corrupt) << text;
    EXPECT_THAT(e.what(), HasSubstr("tracker.json: not the security tracker's JSON")) << text;
  }
}

TEST(Advisories, MissingFileIsNotFound) {
  const fs::path file = fixture("no-such-file.json");
  const Error e = error_of([&] { Advisories::load(file); });
  EXPECT_EQ(e.kind(), ErrorKind::not_found);
  EXPECT_EQ(e.subject(), file.string());
  EXPECT_EQ(error_of([] { Advisories::load(fixture("")); }).kind(), ErrorKind::io);  // a directory
}

TEST(Advisories, OverOneGibibyteIsALimit) {
  dormant::testing::TempDir dir("dormant-advisories");
  const fs::path file = dir.path() / "huge.json";
  dormant::testing::write_file(file, "{");
  fs::resize_file(file, Advisories::kMaxBytes + 1);  // sparse: no disk space used
  const Error e = error_of([&] { Advisories::load(file); });
  EXPECT_EQ(e.kind(), ErrorKind::limit);
  EXPECT_EQ(e.subject(), file.string());
}

TEST(Advisories, EmptyAndMovedFromAnswerNothing) {
  Advisories empty;
  EXPECT_EQ(empty.advisory_count(), 0u);
  EXPECT_THAT(empty.fixed_between("openssl", "bookworm", "0", "99"), IsEmpty());
  Advisories moved = Advisories::load(fixture("tracker-sample.json"));
  Advisories target = std::move(moved);
  EXPECT_EQ(target.advisory_count(), 11u);
  EXPECT_THAT(moved.fixed_between("openssl", "bookworm", "0", "99"),
              IsEmpty());  // NOLINT(bugprone-use-after-move)
}

}  // namespace
