// schedule/duration: --timeout style durations.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "dormant/core/error.hpp"
#include "dormant/schedule/duration.hpp"

namespace {

using dormant::Error;
using dormant::ErrorKind;
using namespace dormant::schedule;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

TEST(ScheduleDuration, Accepts) {
  struct Row {
    const char* text;
    std::chrono::seconds expected;
  };
  const Row table[] = {
      {"90", 90s},     {"90s", 90s},         {"30m", 30min},   {"2h", 2h},     {"1d", 24h},  {"1h30m", 90min},
      {"2m30s", 150s}, {"1d2h3m4s", 93784s}, {"1d4s", 86404s}, {"0h5m", 5min}, {"007s", 7s}, {"100m", 6000s},
  };
  for (const Row& row : table) {
    SCOPED_TRACE(row.text);
    EXPECT_EQ(parse_duration(row.text, "--timeout"), row.expected);
  }
}

TEST(ScheduleDuration, Rejects) {
  for (const char* bad : {"",
                          "0",
                          "0s",
                          "0h0m",
                          "-5",
                          "-5m",
                          "5x",
                          "m",
                          "h5",
                          "1h30",
                          "30m1h",
                          "1m1m",
                          "1h 30m",
                          " 5",
                          "5 ",
                          "1.5h",
                          "+5",
                          "99999999999999999999",
                          "9999999999999999d",
                          "1H",
                          "5mm",
                          "s",
                          "5s5"}) {
    SCOPED_TRACE(bad);
    try {
      parse_duration(bad, "--timeout");
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::usage);
      EXPECT_EQ(e.subject(), "--timeout");
    }
  }
}

TEST(ScheduleDuration, Formats) {
  EXPECT_EQ(format_duration(5400s), "1h30m");
  EXPECT_EQ(format_duration(45s), "45s");
  EXPECT_EQ(format_duration(48h), "2d");
  EXPECT_EQ(format_duration(0s), "0s");
  EXPECT_EQ(format_duration(86401s), "1d1s");
  EXPECT_EQ(format_duration(-90s), "-1m30s");
}

TEST(ScheduleDuration, FormatParsesBack) {
  std::mt19937_64 rng(20261130);
  std::uniform_int_distribution<std::int64_t> magnitude(0, 12);
  for (int i = 0; i < 2000; ++i) {
    // Spread over seconds to years.
    std::int64_t limit = std::int64_t{1} << (magnitude(rng) * 3 + 2);
    std::chrono::seconds d(std::uniform_int_distribution<std::int64_t>(1, limit)(rng));
    std::string text = format_duration(d);
    SCOPED_TRACE(text);
    EXPECT_EQ(parse_duration(text, "--every"), d);
  }
}

}  // namespace
