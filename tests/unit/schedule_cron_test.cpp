// schedule/cron: parsing, next_after against (a) a brute-force reference
// written here, field by field, as predicates on the broken-down UTC time,
// and (b) systemd-analyze calendar, an independent implementation, for the
// expressions OnCalendar can express.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "dormant/core/error.hpp"
#include "dormant/core/subprocess.hpp"
#include "dormant/schedule/cron.hpp"
#include "support/test_support.hpp"

namespace {

using dormant::Error;
using dormant::ErrorKind;
using namespace dormant::schedule;
using namespace std::chrono;
using ::testing::HasSubstr;

SysSeconds utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0) {
  return sys_days(year(y) / mo / d) + hours(h) + minutes(mi) + seconds(s);
}

std::string show(SysSeconds t) {
  year_month_day ymd(floor<days>(t));
  auto tod = t - floor<days>(t);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u %02lld:%02lld:%02lld", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<long long>(tod.count() / 3600), static_cast<long long>(tod.count() / 60 % 60),
                static_cast<long long>(tod.count() % 60));
  return buf;
}

std::string show(std::optional<SysSeconds> t) { return t ? show(*t) : "none"; }

// The broken-down time the reference predicates look at.
struct Tm {
  int year, month, dom, dow, hour, minute;  // dow: 0 = Sunday
};

using Predicate = bool (*)(const Tm&);

struct Case {
  const char* expression;
  Predicate matches;
  // Fire times years apart: the brute force scans years of minutes for each
  // start, so these are checked from fewer starts to keep the test fast.
  bool rare = false;
};

bool in(int v, std::initializer_list<int> set) {
  for (int x : set)
    if (x == v) return true;
  return false;
}

// Each predicate is the meaning of its expression, written by hand.
const Case kCases[] = {
    {"* * * * *", [](const Tm&) { return true; }},
    {"30 2 * * *", [](const Tm& t) { return t.minute == 30 && t.hour == 2; }},
    {"*/15 * * * *", [](const Tm& t) { return t.minute % 15 == 0; }},
    {"0 9 * * 1-5", [](const Tm& t) { return t.minute == 0 && t.hour == 9 && t.dow >= 1 && t.dow <= 5; }},
    {"0 0 1 */3 *",
     [](const Tm& t) {
       return t.minute == 0 && t.hour == 0 && t.dom == 1 && in(t.month, {1, 4, 7, 10});
     }},
    // Both day fields restricted: either matches.
    {"0 0 1 * mon", [](const Tm& t) { return t.minute == 0 && t.hour == 0 && (t.dom == 1 || t.dow == 1); }},
    {"15 10 13 * 5",
     [](const Tm& t) { return t.minute == 15 && t.hour == 10 && (t.dom == 13 || t.dow == 5); }},
    {"0 8 1-7 * MON", [](const Tm& t) { return t.minute == 0 && t.hour == 8 && (t.dom <= 7 || t.dow == 1); }},
    {"0 4 8-14 6 2",
     [](const Tm& t) {
       return t.minute == 0 && t.hour == 4 && t.month == 6 && ((t.dom >= 8 && t.dom <= 14) || t.dow == 2);
     }},
    // A field starting with '*' is unrestricted for that rule (Vixie cron): both must match.
    {"0 0 */2 * mon",
     [](const Tm& t) { return t.minute == 0 && t.hour == 0 && t.dom % 2 == 1 && t.dow == 1; }},
    {"0 0 13 * */2",
     [](const Tm& t) { return t.minute == 0 && t.hour == 0 && t.dom == 13 && t.dow % 2 == 0; }},
    {"0 0 * jan,JUL sun",
     [](const Tm& t) {
       return t.minute == 0 && t.hour == 0 && in(t.month, {1, 7}) && t.dow == 0;
     }},
    {"0 12 * * 7", [](const Tm& t) { return t.minute == 0 && t.hour == 12 && t.dow == 0; }},
    {"0 12 * * 0", [](const Tm& t) { return t.minute == 0 && t.hour == 12 && t.dow == 0; }},
    {"1 0 * * 5-7",
     [](const Tm& t) {
       return t.minute == 1 && t.hour == 0 && in(t.dow, {5, 6, 0});
     }},
    {"0 0 * * Fri-Sat",
     [](const Tm& t) {
       return t.minute == 0 && t.hour == 0 && in(t.dow, {5, 6});
     }},
    {"0 0 29 2 *", [](const Tm& t) { return t.minute == 0 && t.hour == 0 && t.month == 2 && t.dom == 29; },
     true},
    {"0 0 31 * *", [](const Tm& t) { return t.minute == 0 && t.hour == 0 && t.dom == 31; }},
    {"59 23 28-31 * *", [](const Tm& t) { return t.minute == 59 && t.hour == 23 && t.dom >= 28; }},
    {"5-10/2 1,13 * * *",
     [](const Tm& t) {
       return in(t.minute, {5, 7, 9}) && in(t.hour, {1, 13});
     }},
    {"10/20 */6 * * *",
     [](const Tm& t) {
       return in(t.minute, {10, 30, 50}) && t.hour % 6 == 0;
     }},
    {"0,30 9-17 * * mon-fri",
     [](const Tm& t) {
       return in(t.minute, {0, 30}) && t.hour >= 9 && t.hour <= 17 && t.dow >= 1 && t.dow <= 5;
     }},
    {"0 0 * feb-apr/2 *",
     [](const Tm& t) {
       return t.minute == 0 && t.hour == 0 && in(t.month, {2, 4});
     }},
    {"7 3 * dec *", [](const Tm& t) { return t.minute == 7 && t.hour == 3 && t.month == 12; }},
    {"0 0 1 1 *", [](const Tm& t) { return t.minute == 0 && t.hour == 0 && t.dom == 1 && t.month == 1; },
     true},
    {"@hourly", [](const Tm& t) { return t.minute == 0; }},
    {"@daily", [](const Tm& t) { return t.minute == 0 && t.hour == 0; }},
    {"@midnight", [](const Tm& t) { return t.minute == 0 && t.hour == 0; }},
    {"@weekly", [](const Tm& t) { return t.minute == 0 && t.hour == 0 && t.dow == 0; }},
    {"@monthly", [](const Tm& t) { return t.minute == 0 && t.hour == 0 && t.dom == 1; }},
    {"@YEARLY", [](const Tm& t) { return t.minute == 0 && t.hour == 0 && t.dom == 1 && t.month == 1; }, true},
    {"@annually", [](const Tm& t) { return t.minute == 0 && t.hour == 0 && t.dom == 1 && t.month == 1; },
     true},
    {"0 0 30 2 *", [](const Tm&) { return false; }, true},
    // The month still restricts; only the two day fields are ORed.
    {"0 0 29 2 1",
     [](const Tm& t) { return t.minute == 0 && t.hour == 0 && t.month == 2 && (t.dom == 29 || t.dow == 1); }},
};

// The reference: the first minute strictly after t within 5 years (the
// horizon next_after documents) that the predicate accepts, scanned minute by
// minute; the calendar date comes from the standard library once a day.
std::optional<SysSeconds> reference_next(Predicate matches, SysSeconds t) {
  const SysSeconds limit = t + duration_cast<seconds>(years(5));
  SysSeconds m = floor<minutes>(t) + minutes(1);
  while (m <= limit) {
    sys_days day = floor<days>(m);
    year_month_day ymd(day);
    Tm tm{static_cast<int>(ymd.year()),
          static_cast<int>(static_cast<unsigned>(ymd.month())),
          static_cast<int>(static_cast<unsigned>(ymd.day())),
          static_cast<int>(weekday(day).c_encoding()),
          0,
          0};
    for (int minute_of_day = static_cast<int>((m - day).count() / 60); minute_of_day < 1440 && m <= limit;
         ++minute_of_day, m += minutes(1)) {
      tm.hour = minute_of_day / 60;
      tm.minute = minute_of_day % 60;
      if (matches(tm)) return m;
    }
  }
  return std::nullopt;
}

// The same, backwards: the last accepted minute at or before t.
std::optional<SysSeconds> reference_last(Predicate matches, SysSeconds t) {
  const SysSeconds limit = t - duration_cast<seconds>(years(5));
  SysSeconds m = floor<minutes>(t);
  while (m >= limit) {
    sys_days day = floor<days>(m);
    year_month_day ymd(day);
    Tm tm{static_cast<int>(ymd.year()),
          static_cast<int>(static_cast<unsigned>(ymd.month())),
          static_cast<int>(static_cast<unsigned>(ymd.day())),
          static_cast<int>(weekday(day).c_encoding()),
          0,
          0};
    for (int minute_of_day = static_cast<int>((m - day).count() / 60); minute_of_day >= 0 && m >= limit;
         --minute_of_day, m -= minutes(1)) {
      tm.hour = minute_of_day / 60;
      tm.minute = minute_of_day % 60;
      if (matches(tm)) return m;
    }
  }
  return std::nullopt;
}

std::vector<SysSeconds> start_times() {
  std::vector<SysSeconds> starts = {
      utc(2026, 12, 31, 23, 59, 59), utc(2028, 2, 28, 23, 59), utc(2028, 2, 29),
      utc(2027, 2, 28, 23, 59, 30),  utc(2026, 1, 1),          utc(2026, 3, 31, 23, 59),
      utc(2030, 6, 15, 12, 30),      utc(2000, 2, 28, 12),
  };
  // 1972 to 2090: away from the 2100 leap-day gap, which exceeds the horizon.
  std::mt19937_64 rng(20261129);
  std::uniform_int_distribution<std::int64_t> spread(utc(1972, 1, 1).time_since_epoch().count(),
                                                     utc(2090, 1, 1).time_since_epoch().count());
  for (int i = 0; i < 24; ++i) starts.push_back(SysSeconds(seconds(spread(rng))));
  return starts;
}

TEST(ScheduleCron, NextAfterMatchesBruteForce) {
  const std::vector<SysSeconds> starts = start_times();
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.expression);
    CronSchedule schedule = CronSchedule::parse(c.expression);
    for (std::size_t i = 0; i < starts.size(); i += c.rare ? 4 : 1) {
      SysSeconds start = starts[i];
      // A few consecutive fire times from each start.
      SysSeconds t = start;
      for (int step = 0; step < 3; ++step) {
        std::optional<SysSeconds> expected = reference_next(c.matches, t);
        std::optional<SysSeconds> got = schedule.next_after(t);
        ASSERT_EQ(show(got), show(expected)) << "after " << show(t);
        if (!got) break;
        ASSERT_TRUE(schedule.matches(*got));
        t = *got;
      }
    }
  }
}

TEST(ScheduleCron, LastAtOrBeforeMatchesBruteForce) {
  const std::vector<SysSeconds> starts = start_times();
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.expression);
    CronSchedule schedule = CronSchedule::parse(c.expression);
    for (std::size_t i = 0; i < starts.size(); i += c.rare ? 8 : 3) {
      ASSERT_EQ(show(schedule.last_at_or_before(starts[i])), show(reference_last(c.matches, starts[i])))
          << "at or before " << show(starts[i]);
    }
  }
}

TEST(ScheduleCron, MatchesAgreesWithThePredicates) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<std::int64_t> spread(utc(1990, 1, 1).time_since_epoch().count(),
                                                     utc(2060, 1, 1).time_since_epoch().count());
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.expression);
    CronSchedule schedule = CronSchedule::parse(c.expression);
    for (int i = 0; i < 3000; ++i) {
      SysSeconds t(seconds(spread(rng)));
      sys_days day = floor<days>(t);
      year_month_day ymd(day);
      auto tod = (t - day).count();
      Tm tm{static_cast<int>(ymd.year()),
            static_cast<int>(static_cast<unsigned>(ymd.month())),
            static_cast<int>(static_cast<unsigned>(ymd.day())),
            static_cast<int>(weekday(day).c_encoding()),
            static_cast<int>(tod / 3600),
            static_cast<int>(tod / 60 % 60)};
      ASSERT_EQ(schedule.matches(t), c.matches(tm)) << show(t);
    }
  }
}

TEST(ScheduleCron, NextAfterIsStrictlyAfterAndMinuteAligned) {
  CronSchedule every = CronSchedule::parse("* * * * *");
  EXPECT_EQ(every.next_after(utc(2026, 5, 5, 10, 0, 0)), utc(2026, 5, 5, 10, 1));
  EXPECT_EQ(every.next_after(utc(2026, 5, 5, 10, 0, 59)), utc(2026, 5, 5, 10, 1));
  CronSchedule daily = CronSchedule::parse("30 2 * * *");
  EXPECT_EQ(daily.next_after(utc(2026, 5, 5, 2, 30)), utc(2026, 5, 6, 2, 30));
  EXPECT_EQ(daily.next_after(utc(2026, 5, 5, 2, 29, 59)), utc(2026, 5, 5, 2, 30));
  EXPECT_TRUE(daily.matches(utc(2026, 5, 5, 2, 30, 45)));
  EXPECT_FALSE(daily.matches(utc(2026, 5, 5, 2, 31)));
}

TEST(ScheduleCron, ImpossibleScheduleEndsQuickly) {
  CronSchedule never = CronSchedule::parse("0 0 30 2 *");
  auto before = steady_clock::now();
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(never.next_after(utc(2026, 1, 1) + days(i)));
  EXPECT_FALSE(never.last_at_or_before(utc(2026, 1, 1)));
  if (!dormant::testing::kSanitized) {
    EXPECT_LT(steady_clock::now() - before, milliseconds(500));
  }
  // "0 0 31 4,6,9,11 *": all those months have 30 days.
  EXPECT_FALSE(CronSchedule::parse("0 0 31 4,6,9,11 *").next_after(utc(2026, 1, 1)));
  // 2100 is not a leap year: from 2096-03-01 the next 29 February (2104) is
  // beyond the 5-year horizon, from 2099-06-01 within it.
  CronSchedule leap_day = CronSchedule::parse("0 0 29 2 *");
  EXPECT_FALSE(leap_day.next_after(utc(2096, 3, 1)));
  EXPECT_EQ(leap_day.next_after(utc(2099, 6, 1)), utc(2104, 2, 29));
  EXPECT_EQ(leap_day.last_at_or_before(utc(2104, 2, 28)), std::nullopt);
  EXPECT_EQ(leap_day.last_at_or_before(utc(2100, 12, 31)), utc(2096, 2, 29));
}

TEST(ScheduleCron, KeepsTheText) {
  EXPECT_EQ(CronSchedule::parse("  0 22 * * *\n").text(), "0 22 * * *");
  EXPECT_EQ(CronSchedule::parse("@daily").text(), "@daily");
  // Tabs and repeated blanks separate fields as in crontab(5).
  EXPECT_TRUE(CronSchedule::parse("0\t22  *  * *").matches(utc(2026, 1, 1, 22, 0)));
}

TEST(ScheduleCron, ErrorsNameTheField) {
  struct Row {
    const char* text;
    const char* field;  // expected in the message
  };
  const Row table[] = {
      {"", "5 fields"},
      {"* * * *", "5 fields"},
      {"* * * * * *", "5 fields"},
      {"60 * * * *", "minute field"},
      {"-1 * * * *", "minute field"},
      {"* 24 * * *", "hour field"},
      {"* * 0 * *", "day-of-month field"},
      {"* * 32 * *", "day-of-month field"},
      {"* * * 13 *", "month field"},
      {"* * * 0 *", "month field"},
      {"* * * foo *", "month field"},
      {"* * * * 8", "day-of-week field"},
      {"* * * * sunday", "day-of-week field"},
      {"* * * * sat-sun", "day-of-week field"},
      {"*/0 * * * *", "minute field"},
      {"*/ * * * *", "minute field"},
      {"1,,2 * * * *", "minute field"},
      {"1- * * * *", "minute field"},
      {"5-1 * * * *", "minute field"},
      {"* */x * * *", "hour field"},
      {"* * * jan-feb-mar *", "month field"},
      {"* * * * mon/x", "day-of-week field"},
      {"99999999999 * * * *", "minute field"},
      {"@reboot", "macro"},
      {"@often", "macro"},
      {"0 0 L * *", "day-of-month field"},
      {"0 0 ? * *", "day-of-month field"},
  };
  for (const Row& row : table) {
    SCOPED_TRACE(row.text);
    try {
      CronSchedule::parse(row.text);
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::usage);
      EXPECT_THAT(e.message(), HasSubstr(row.field));
      EXPECT_THAT(e.subject(), HasSubstr(std::string(row.text).substr(0, 4)));
    }
  }
}

TEST(ScheduleCron, DueCoalescesMissedFireTimes) {
  CronSchedule hourly = CronSchedule::parse("0 * * * *");
  // Last checked at 09:30, now 13:10: 10:00..13:00 were missed; one run, for 13:00.
  EXPECT_EQ(due(hourly, utc(2026, 4, 1, 9, 30), utc(2026, 4, 1, 13, 10)), utc(2026, 4, 1, 13));
  // Nothing new since the last check.
  EXPECT_FALSE(due(hourly, utc(2026, 4, 1, 13, 0), utc(2026, 4, 1, 13, 59, 59)));
  // The interval is (last_checked, now]: a fire time equal to now counts, one equal to last_checked not.
  EXPECT_EQ(due(hourly, utc(2026, 4, 1, 13, 59, 59), utc(2026, 4, 1, 14)), utc(2026, 4, 1, 14));
  EXPECT_FALSE(due(hourly, utc(2026, 4, 1, 14), utc(2026, 4, 1, 14, 0, 30)));
  // Weeks away: still the latest one, found without walking every fire time.
  CronSchedule every_minute = CronSchedule::parse("* * * * *");
  EXPECT_EQ(due(every_minute, utc(2026, 1, 1), utc(2026, 3, 1, 5, 6, 7)), utc(2026, 3, 1, 5, 6));
  // A clock going backwards gives nothing.
  EXPECT_FALSE(due(hourly, utc(2026, 4, 1, 13), utc(2026, 4, 1, 12)));
  EXPECT_FALSE(due(CronSchedule::parse("0 0 30 2 *"), utc(2020, 1, 1), utc(2026, 1, 1)));
}

// systemd's calendar events, for the cron expressions OnCalendar can say
// (no day-of-month/day-of-week OR rule).
struct SystemdCase {
  const char* cron;
  const char* on_calendar;
};

const SystemdCase kSystemdCases[] = {
    {"30 2 * * *", "*-*-* 02:30:00"},
    {"*/15 * * * *", "*-*-* *:00/15:00"},
    {"0 9 * * 1-5", "Mon..Fri *-*-* 09:00:00"},
    {"0 0 1 */3 *", "*-01/3-01 00:00:00"},
    {"* * * * *", "*-*-* *:*:00"},
    {"0 0 29 2 *", "*-02-29 00:00:00"},
    {"0 12 * * 7", "Sun *-*-* 12:00:00"},
    {"0 12 * * sun", "Sun *-*-* 12:00:00"},
    {"5,35 */4 * * *", "*-*-* 00/4:05,35:00"},
    {"10-20/5 1 * * *", "*-*-* 01:10..20/5:00"},
    {"0 0 31 * *", "*-*-31 00:00:00"},
    {"@monthly", "*-*-01 00:00:00"},
    {"@weekly", "Sun *-*-* 00:00:00"},
    {"0 6 * jan,jul sat", "Sat *-01,07-* 06:00:00"},
    {"45 23 * feb *", "*-02-* 23:45:00"},
};

// "Next elapse: Fri 2027-01-01 00:00:00 UTC" and "Iter. #2: ..." lines, in
// order. (Parsed by hand: std::regex trips GCC 12's -Wmaybe-uninitialized
// in the sanitizer build.)
std::vector<SysSeconds> systemd_elapses(const std::string& output) {
  std::vector<SysSeconds> out;
  std::size_t pos = 0;
  while (pos < output.size()) {
    std::size_t end = output.find('\n', pos);
    if (end == std::string::npos) end = output.size();
    std::string line = output.substr(pos, end - pos);
    pos = end + 1;
    if (line.find("Next elapse: ") == std::string::npos && line.find("Iter. #") == std::string::npos)
      continue;
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
    char weekday_name[8] = {};
    char zone[8] = {};
    std::size_t colon = line.find(": ");
    if (std::sscanf(line.c_str() + colon + 2, "%7s %d-%d-%d %d:%d:%d %7s", weekday_name, &y, &mo, &d, &h, &mi,
                    &s, zone) != 8 ||
        std::string(zone) != "UTC") {
      ADD_FAILURE() << "unexpected line: " << line;
      continue;
    }
    out.push_back(utc(y, static_cast<unsigned>(mo), static_cast<unsigned>(d), h, mi, s));
  }
  return out;
}

TEST(ScheduleCron, AgreesWithSystemdAnalyzeCalendar) {
  const char* tool = "/usr/bin/systemd-analyze";
  ASSERT_TRUE(std::filesystem::exists(tool))
      << tool << " is not installed (systemd: scripts/install-deps.sh)";
  for (const SystemdCase& c : kSystemdCases) {
    SCOPED_TRACE(std::string(c.cron) + " <-> " + c.on_calendar);
    CronSchedule schedule = CronSchedule::parse(c.cron);
    // systemd counts from its own "now": retry when a minute boundary falls
    // between our reading of the clock and its run.
    for (int attempt = 0;; ++attempt) {
      SysSeconds before = floor<minutes>(floor<seconds>(system_clock::now()));
      dormant::ProcessResult r = dormant::run_process(
          {"env", "TZ=UTC", tool, "calendar", "--iterations=5", std::string(c.on_calendar) + " UTC"});
      SysSeconds after = floor<minutes>(floor<seconds>(system_clock::now()));
      ASSERT_EQ(r.exit_code, 0) << r.err;
      if (before != after && attempt < 3) continue;
      ASSERT_EQ(before, after) << "the clock kept crossing minute boundaries";
      std::vector<SysSeconds> expected = systemd_elapses(r.out);
      ASSERT_EQ(expected.size(), 5u) << r.out;
      SysSeconds t = before;
      for (SysSeconds want : expected) {
        std::optional<SysSeconds> got = schedule.next_after(t);
        ASSERT_EQ(show(got), show(want)) << "after " << show(t);
        t = *got;
      }
      break;
    }
  }
}

}  // namespace
