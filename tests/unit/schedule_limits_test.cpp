// schedule/limits: --max-concurrent and --max-errors, and the rounding rules
// the user documentation quotes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "dormant/core/error.hpp"
#include "dormant/schedule/limits.hpp"
#include "support/error_of.hpp"

namespace {

using dormant::Error;
using dormant::ErrorKind;
using namespace dormant::schedule;
using ::testing::HasSubstr;

using dormant::testing::error_of;

TEST(ScheduleLimits, ParsesCountsAndPercentages) {
  Limit four = parse_concurrency("4");
  EXPECT_FALSE(four.percent);
  EXPECT_EQ(four.value, 4u);
  EXPECT_EQ(four.text(), "4");
  Limit quarter = parse_concurrency("25%");
  EXPECT_TRUE(quarter.percent);
  EXPECT_EQ(quarter.value, 25u);
  EXPECT_EQ(quarter.text(), "25%");
  EXPECT_EQ(parse_concurrency("100%").value, 100u);
  EXPECT_EQ(parse_error_limit("0").value, 0u);
  EXPECT_EQ(parse_error_limit("0%").text(), "0%");
  EXPECT_EQ(parse_error_limit("100%").value, 100u);
}

struct Rounding {
  const char* limit;
  std::size_t items;
  std::size_t concurrency;  // from the limit as --max-concurrent (0: not valid there)
  std::size_t threshold;    // from the limit as --max-errors
};

// Worked by hand from the rules: concurrency = ceil(P*items/100) and at
// least 1, threshold = floor(P*items/100).
TEST(ScheduleLimits, RoundingTable) {
  const Rounding table[] = {
      {"25%", 10, 3, 2},       {"1%", 10, 1, 0},     {"100%", 10, 10, 10}, {"100%", 0, 1, 0},
      {"50%", 3, 2, 1},        {"33%", 100, 33, 33}, {"33%", 101, 34, 33}, {"10%", 1000, 100, 100},
      {"99%", 1, 1, 0},        {"1%", 0, 1, 0},      {"5", 10, 5, 5},      {"3", 0, 3, 3},
      {"1%", 12345, 124, 123},
  };
  for (const Rounding& row : table) {
    SCOPED_TRACE(std::string(row.limit) + " of " + std::to_string(row.items));
    EXPECT_EQ(concurrency_for(parse_concurrency(row.limit), row.items), row.concurrency);
    EXPECT_EQ(error_threshold_for(parse_error_limit(row.limit), row.items), row.threshold);
  }
  EXPECT_EQ(error_threshold_for(parse_error_limit("0"), 10), 0u);
  EXPECT_EQ(error_threshold_for(parse_error_limit("0%"), 10), 0u);
}

TEST(ScheduleLimits, PercentagesOfHugeItemCountsDoNotOverflow) {
  const std::size_t huge = static_cast<std::size_t>(-1) / 2;
  EXPECT_EQ(concurrency_for(parse_concurrency("100%"), huge), huge);
  EXPECT_EQ(error_threshold_for(parse_error_limit("50%"), huge), huge / 2);
}

TEST(ScheduleLimits, ExceededMeansMoreThanNotEqual) {
  EXPECT_FALSE(errors_exceeded(0, 0));
  EXPECT_TRUE(errors_exceeded(1, 0));
  EXPECT_FALSE(errors_exceeded(2, 2));
  EXPECT_TRUE(errors_exceeded(3, 2));
}

TEST(ScheduleLimits, RejectsBadConcurrency) {
  for (const char* bad : {"", "0", "0%", "101%", "-1", "5%%", "abc", "99999999999", " 4", "4 ", "+4", "%",
                          "4.5", "25 %", "1e3"}) {
    SCOPED_TRACE(bad);
    Error e = error_of([&] { parse_concurrency(bad); });
    EXPECT_EQ(e.kind(), ErrorKind::usage);
    EXPECT_EQ(e.subject(), "--max-concurrent");
    EXPECT_THAT(e.message(), HasSubstr(std::string("'") + bad + "'"));
  }
}

TEST(ScheduleLimits, RejectsBadErrorLimits) {
  for (const char* bad : {"", "101%", "-1", "5%%", "abc", "99999999999", "-0%"}) {
    SCOPED_TRACE(bad);
    Error e = error_of([&] { parse_error_limit(bad); });
    EXPECT_EQ(e.kind(), ErrorKind::usage);
    EXPECT_EQ(e.subject(), "--max-errors");
    EXPECT_THAT(e.message(), HasSubstr(std::string("'") + bad + "'"));
  }
}

}  // namespace
