// Cron schedules for jobs (`dormant job create --schedule '0 22 * * *'`), in UTC.
//
// The five standard fields: minute (0-59), hour (0-23), day of month (1-31),
// month (1-12 or jan..dec), day of week (0-7 or sun..sat; 0 and 7 are both
// Sunday). Each field is a comma-separated list of `*`, `N`, `A-B`, `*/S`,
// `A-B/S` or `A/S` (A through the field's maximum, step S). Names are
// case-insensitive. Macros: @hourly, @daily (= @midnight), @weekly,
// @monthly, @yearly (= @annually).
//
// Days follow Vixie cron (and cronie): when both the day-of-month and the
// day-of-week fields are restricted, a day matches if EITHER matches
// ("0 0 1 * mon" is the 1st of each month and every Monday); otherwise both
// must. As in Vixie cron, a field is unrestricted when it starts with '*',
// so "0 0 */2 * mon" means odd days that are Mondays.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dormant::schedule {

using SysSeconds = std::chrono::sys_seconds;

class CronSchedule {
 public:
  // Error(usage) saying which field is wrong and why.
  static CronSchedule parse(std::string_view text);

  // The first matching minute strictly after t; nullopt when none comes
  // within 5 years of t (as for "0 0 30 2 *", which never matches).
  std::optional<SysSeconds> next_after(SysSeconds t) const;

  // The last matching minute at or before t; nullopt when none came within
  // 5 years before t.
  std::optional<SysSeconds> last_at_or_before(SysSeconds t) const;

  // Whether the minute holding `minute` matches (its seconds are ignored).
  bool matches(SysSeconds minute) const;

  // The text parsed, without surrounding white space.
  const std::string& text() const { return text_; }

 private:
  CronSchedule() = default;
  bool day_matches(std::chrono::sys_days day) const;
  bool month_matches(std::chrono::sys_days day) const;
  // The first (last) matching minute of the day at or after (before)
  // minute_of_day, by hour and minute only; -1 when none.
  int first_time_from(int minute_of_day) const;
  int last_time_until(int minute_of_day) const;

  std::string text_;
  std::uint64_t minutes_ = 0;  // bit N set: minute N matches
  std::uint64_t hours_ = 0;
  std::uint64_t days_of_month_ = 0;  // bits 1..31
  std::uint64_t months_ = 0;         // bits 1..12
  std::uint64_t days_of_week_ = 0;   // bits 0..6, Sunday = 0
  bool day_of_month_restricted_ = false;
  bool day_of_week_restricted_ = false;
};

// The fire time to act on now: the latest fire time in (last_checked, now],
// or nullopt when there is none. Fire times missed while dormant was not
// running coalesce into this one run instead of being run one by one.
std::optional<SysSeconds> due(const CronSchedule& schedule, SysSeconds last_checked, SysSeconds now);

}  // namespace dormant::schedule
