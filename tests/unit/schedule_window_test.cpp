// schedule/window: daily maintenance windows in UTC, wrapping midnight.
#include <gtest/gtest.h>

#include "dormant/core/error.hpp"
#include "dormant/schedule/window.hpp"

namespace {

using dormant::Error;
using dormant::ErrorKind;
using namespace dormant::schedule;
using namespace std::chrono;

// 2026-03-10 (a Tuesday) at hh:mm:ss UTC, plus `day_offset` days.
SysSeconds at(int hh, int mm, int ss = 0, int day_offset = 0) {
  return sys_days(2026y / March / 10) + days(day_offset) + hours(hh) + minutes(mm) + seconds(ss);
}

TEST(ScheduleWindow, PlainWindowBoundaries) {
  Window w = Window::parse("09:00-17:30");
  EXPECT_EQ(w.text(), "09:00-17:30");
  EXPECT_FALSE(w.contains(at(8, 59, 59)));
  EXPECT_TRUE(w.contains(at(9, 0)));  // start inclusive
  EXPECT_TRUE(w.contains(at(17, 29, 59)));
  EXPECT_FALSE(w.contains(at(17, 30)));  // end exclusive
  EXPECT_EQ(w.closes_at(at(9, 0)), at(17, 30));
  EXPECT_EQ(w.closes_at(at(17, 29, 59)), at(17, 30));
  EXPECT_EQ(w.next_open(at(12, 0)), at(12, 0));
  EXPECT_EQ(w.next_open(at(3, 0)), at(9, 0));
  EXPECT_EQ(w.next_open(at(17, 30)), at(9, 0, 0, 1));
  EXPECT_EQ(w.next_open(at(23, 59, 59)), at(9, 0, 0, 1));
}

TEST(ScheduleWindow, WrapsMidnight) {
  Window w = Window::parse("22:00-04:00");
  EXPECT_EQ(w.text(), "22:00-04:00");
  EXPECT_FALSE(w.contains(at(21, 59, 59)));
  EXPECT_TRUE(w.contains(at(22, 0)));
  EXPECT_TRUE(w.contains(at(23, 59, 59)));
  EXPECT_TRUE(w.contains(at(0, 0)));
  EXPECT_TRUE(w.contains(at(3, 59, 59)));
  EXPECT_FALSE(w.contains(at(4, 0)));
  EXPECT_FALSE(w.contains(at(12, 0)));
  // The evening part closes the next morning, the morning part this morning.
  EXPECT_EQ(w.closes_at(at(22, 0)), at(4, 0, 0, 1));
  EXPECT_EQ(w.closes_at(at(23, 30)), at(4, 0, 0, 1));
  EXPECT_EQ(w.closes_at(at(0, 0)), at(4, 0));
  EXPECT_EQ(w.closes_at(at(3, 59, 59)), at(4, 0));
  EXPECT_EQ(w.next_open(at(4, 0)), at(22, 0));
  EXPECT_EQ(w.next_open(at(21, 59, 59)), at(22, 0));
  EXPECT_EQ(w.next_open(at(1, 0)), at(1, 0));
}

TEST(ScheduleWindow, EndingAtMidnight) {
  Window w = Window::parse("23:00-00:00");
  EXPECT_TRUE(w.contains(at(23, 59, 59)));
  EXPECT_FALSE(w.contains(at(0, 0)));
  EXPECT_EQ(w.closes_at(at(23, 15)), at(0, 0, 0, 1));
  Window from_midnight = Window::parse("0:00-1:30");
  EXPECT_EQ(from_midnight.text(), "00:00-01:30");
  EXPECT_TRUE(from_midnight.contains(at(0, 0)));
  EXPECT_EQ(from_midnight.next_open(at(1, 30)), at(0, 0, 0, 1));
}

TEST(ScheduleWindow, ClosesAtOutsideIsTheNextWindowsEnd) {
  Window w = Window::parse("22:00-04:00");
  EXPECT_EQ(w.closes_at(at(12, 0)), at(4, 0, 0, 1));
}

// Checked second by second against the definition over two days.
TEST(ScheduleWindow, AgreesWithTheDefinitionEveryMinute) {
  for (const char* text : {"22:00-04:00", "09:15-09:16", "00:00-23:59", "23:59-00:00", "05:30-05:29"}) {
    SCOPED_TRACE(text);
    Window w = Window::parse(text);
    int start = std::stoi(std::string(text).substr(0, 2)) * 60 + std::stoi(std::string(text).substr(3, 2));
    int end = std::stoi(std::string(text).substr(6, 2)) * 60 + std::stoi(std::string(text).substr(9, 2));
    for (int m = 0; m < 2 * 1440; m += 1) {
      SysSeconds t = at(0, 0) + minutes(m) + seconds(m % 60);
      int minute_of_day = m % 1440;
      bool inside = start < end ? (minute_of_day >= start && minute_of_day < end)
                                : (minute_of_day >= start || minute_of_day < end);
      ASSERT_EQ(w.contains(t), inside) << m;
      SysSeconds open = w.next_open(t);
      ASSERT_TRUE(w.contains(open));
      ASSERT_GE(open, t);
      ASSERT_FALSE(open > t && w.contains(open - seconds(1)) && open - seconds(1) >= t) << m;
      SysSeconds close = w.closes_at(open);
      ASSERT_FALSE(w.contains(close));
      ASSERT_TRUE(w.contains(close - seconds(1)));
      ASSERT_GT(close, open);
    }
  }
}

TEST(ScheduleWindow, RejectsBadText) {
  for (const char* bad : {"", "22:00", "22:00-22:00", "24:00-01:00", "22:60-01:00", "22-04", "22:00-4",
                          "2200-0400", "22:00 - 04:00", "-04:00", "22:00-", "aa:bb-cc:dd",
                          "22:00-04:00-05:00", "123:00-01:00", "22:0-04:00"}) {
    SCOPED_TRACE(bad);
    try {
      Window::parse(bad);
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::usage);
      EXPECT_EQ(e.subject(), "--window");
    }
  }
}

}  // namespace
