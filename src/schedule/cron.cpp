#include "dormant/schedule/cron.hpp"

#include <array>
#include <bit>
#include <cctype>
#include <vector>

#include "dormant/core/error.hpp"

namespace dormant::schedule {
namespace {

using namespace std::chrono;

struct FieldSpec {
  const char* name;   // for error messages: "day-of-week"
  unsigned low;       // smallest value written
  unsigned high;      // largest value written (7 for day of week)
  const char* names;  // "jan feb ..." 3-letter names for low, low+1, ...; nullptr when none
  unsigned first_named;
};

constexpr std::array<FieldSpec, 5> kFields{{
    {"minute", 0, 59, nullptr, 0},
    {"hour", 0, 23, nullptr, 0},
    {"day-of-month", 1, 31, nullptr, 0},
    {"month", 1, 12, "janfebmaraprmayjunjulaugsepoctnovdec", 1},
    {"day-of-week", 0, 7, "sunmontuewedthufrisat", 0},
}};

struct Macro {
  const char* name;
  const char* fields;
};

constexpr std::array<Macro, 7> kMacros{{
    {"@hourly", "0 * * * *"},
    {"@daily", "0 0 * * *"},
    {"@midnight", "0 0 * * *"},
    {"@weekly", "0 0 * * 0"},
    {"@monthly", "0 0 1 * *"},
    {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
}};

// The span parsing gives up after, both ways.
constexpr seconds kHorizon = duration_cast<seconds>(years(5));

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view text) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!text.empty() && space(text.front())) text.remove_prefix(1);
  while (!text.empty() && space(text.back())) text.remove_suffix(1);
  return text;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    std::size_t end = text.find(separator, start);
    parts.push_back(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

std::vector<std::string_view> split_blanks(std::string_view text) {
  std::vector<std::string_view> words;
  std::size_t pos = 0;
  while (pos < text.size()) {
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t')) ++pos;
    std::size_t start = pos;
    while (pos < text.size() && text[pos] != ' ' && text[pos] != '\t') ++pos;
    if (pos > start) words.push_back(text.substr(start, pos - start));
  }
  return words;
}

// Parses the fields of one schedule, throwing with the schedule as subject.
class FieldParser {
 public:
  explicit FieldParser(std::string_view text) : subject_(fmt::format("schedule '{}'", text)) {}

  [[noreturn]] void bad(const FieldSpec& spec, std::string_view field, std::string_view why) const {
    fail(ErrorKind::usage, subject_, "{} field '{}': {}", spec.name, field, why);
  }

  // A number (its range checked while it is read, so a long one cannot
  // overflow) or a 3-letter name.
  unsigned value(const FieldSpec& spec, std::string_view field, std::string_view text) const {
    if (text.empty()) bad(spec, field, "a value is missing");
    if (std::isdigit(static_cast<unsigned char>(text[0]))) {
      unsigned number = 0;
      for (char c : text) {
        if (!std::isdigit(static_cast<unsigned char>(c)))
          bad(spec, field, fmt::format("'{}' is not a number", text));
        if (number > 1000)
          bad(spec, field, fmt::format("{} is out of range {}-{}", text, spec.low, spec.high));
        number = number * 10 + static_cast<unsigned>(c - '0');
      }
      if (number < spec.low || number > spec.high)
        bad(spec, field, fmt::format("{} is out of range {}-{}", text, spec.low, spec.high));
      return number;
    }
    if (spec.names != nullptr && text.size() == 3) {
      std::string_view names(spec.names);
      std::string name = lower(text);
      for (std::size_t i = 0; i + 3 <= names.size(); i += 3)
        if (names.substr(i, 3) == name) return spec.first_named + static_cast<unsigned>(i / 3);
    }
    if (spec.names != nullptr)
      bad(spec, field,
          fmt::format("'{}' is neither a number {}-{} nor a name {}..{}", text, spec.low, spec.high,
                      std::string_view(spec.names).substr(0, 3),
                      std::string_view(spec.names).substr(std::string_view(spec.names).size() - 3)));
    bad(spec, field, fmt::format("'{}' is not a number {}-{}", text, spec.low, spec.high));
  }

  // Bits of the values the field lists; bit 7 of the day of week is folded
  // into bit 0 (both are Sunday).
  std::uint64_t field(const FieldSpec& spec, std::string_view field) const {
    std::uint64_t bits = 0;
    for (std::string_view item : split(field, ',')) {
      if (item.empty()) bad(spec, field, "an empty list item");
      std::string_view base = item;
      unsigned step = 1;
      bool stepped = false;
      if (std::size_t slash = item.find('/'); slash != std::string_view::npos) {
        base = item.substr(0, slash);
        std::string_view step_text = item.substr(slash + 1);
        if (step_text.empty() || step_text.size() > 3 ||
            step_text.find_first_not_of("0123456789") != std::string_view::npos)
          bad(spec, field, fmt::format("step '{}' is not a number from 1 to 999", step_text));
        step = static_cast<unsigned>(std::stoul(std::string(step_text)));
        if (step == 0) bad(spec, field, "a step of 0");
        stepped = true;
      }
      unsigned first = spec.low, last = spec.high;
      if (base == "*") {
        // the whole range
      } else if (std::size_t dash = base.find('-'); dash != std::string_view::npos) {
        first = value(spec, field, base.substr(0, dash));
        last = value(spec, field, base.substr(dash + 1));
        if (first > last)
          bad(spec, field, fmt::format("range {} starts after it ends; ranges do not wrap around", base));
      } else {
        first = value(spec, field, base);
        if (!stepped) last = first;  // "A/S" runs from A to the field's maximum
      }
      for (unsigned v = first; v <= last; v += step) bits |= std::uint64_t{1} << v;
    }
    if (spec.high == 7 && (bits & (std::uint64_t{1} << 7))) bits = (bits | 1) & ~(std::uint64_t{1} << 7);
    return bits;
  }

  const std::string& subject() const { return subject_; }

 private:
  std::string subject_;
};

bool has(std::uint64_t bits, unsigned n) { return (bits >> n) & 1; }

}  // namespace

CronSchedule CronSchedule::parse(std::string_view text) {
  CronSchedule schedule;
  schedule.text_ = std::string(trim(text));
  FieldParser parser(schedule.text_);
  std::string_view fields_text = schedule.text_;
  if (!fields_text.empty() && fields_text[0] == '@') {
    std::string name = lower(fields_text);
    const Macro* found = nullptr;
    for (const Macro& macro : kMacros)
      if (name == macro.name) found = &macro;
    if (found == nullptr)
      fail(ErrorKind::usage, parser.subject(),
           "unknown macro: use @hourly, @daily, @midnight, @weekly, @monthly, @yearly or @annually "
           "(@reboot has no meaning for dormant's jobs)");
    fields_text = found->fields;
  }
  std::vector<std::string_view> fields = split_blanks(fields_text);
  if (fields.size() != kFields.size())
    fail(ErrorKind::usage, parser.subject(),
         "expected 5 fields (minute hour day-of-month month day-of-week), got {}", fields.size());
  schedule.minutes_ = parser.field(kFields[0], fields[0]);
  schedule.hours_ = parser.field(kFields[1], fields[1]);
  schedule.days_of_month_ = parser.field(kFields[2], fields[2]);
  schedule.months_ = parser.field(kFields[3], fields[3]);
  schedule.days_of_week_ = parser.field(kFields[4], fields[4]);
  schedule.day_of_month_restricted_ = fields[2][0] != '*';
  schedule.day_of_week_restricted_ = fields[4][0] != '*';
  return schedule;
}

bool CronSchedule::month_matches(sys_days day) const {
  return has(months_, static_cast<unsigned>(year_month_day(day).month()));
}

bool CronSchedule::day_matches(sys_days day) const {
  bool dom = has(days_of_month_, static_cast<unsigned>(year_month_day(day).day()));
  bool dow = has(days_of_week_, weekday(day).c_encoding());
  if (day_of_month_restricted_ && day_of_week_restricted_) return dom || dow;
  return dom && dow;
}

int CronSchedule::first_time_from(int minute_of_day) const {
  for (int hour = minute_of_day / 60; hour < 24; ++hour) {
    if (!has(hours_, static_cast<unsigned>(hour))) continue;
    int from = hour == minute_of_day / 60 ? minute_of_day % 60 : 0;
    std::uint64_t candidates = minutes_ >> from;
    if (candidates != 0) return hour * 60 + from + std::countr_zero(candidates);
  }
  return -1;
}

int CronSchedule::last_time_until(int minute_of_day) const {
  for (int hour = minute_of_day / 60; hour >= 0; --hour) {
    if (!has(hours_, static_cast<unsigned>(hour))) continue;
    int until = hour == minute_of_day / 60 ? minute_of_day % 60 : 59;
    std::uint64_t candidates = minutes_ & ((std::uint64_t{2} << until) - 1);
    if (candidates != 0) return hour * 60 + 63 - std::countl_zero(candidates);
  }
  return -1;
}

// Walks day by day, and month by month over months that cannot match, so a
// search costs at most a few thousand steps whatever the schedule.
std::optional<SysSeconds> CronSchedule::next_after(SysSeconds t) const {
  const SysSeconds limit = t + kHorizon;
  const sys_time<minutes> from = floor<minutes>(t) + minutes(1);
  sys_days day = floor<days>(from);
  int minute_of_day = static_cast<int>((from - day).count());
  while (day <= limit) {
    if (!month_matches(day)) {
      year_month next_month = year_month_day(day).year() / year_month_day(day).month() + months(1);
      day = sys_days(next_month / 1);
      minute_of_day = 0;
      continue;
    }
    if (day_matches(day)) {
      if (int time = first_time_from(minute_of_day); time >= 0) {
        SysSeconds found = day + minutes(time);
        if (found > limit) return std::nullopt;
        return found;
      }
    }
    day += days(1);
    minute_of_day = 0;
  }
  return std::nullopt;
}

std::optional<SysSeconds> CronSchedule::last_at_or_before(SysSeconds t) const {
  const SysSeconds limit = t - kHorizon;
  const sys_time<minutes> from = floor<minutes>(t);
  sys_days day = floor<days>(from);
  int minute_of_day = static_cast<int>((from - day).count());
  while (day + days(1) > limit) {
    if (!month_matches(day)) {
      // The last day of the month before.
      year_month_day ymd(day);
      day = sys_days(ymd.year() / ymd.month() / 1) - days(1);
      minute_of_day = 24 * 60 - 1;
      continue;
    }
    if (day_matches(day)) {
      if (int time = last_time_until(minute_of_day); time >= 0) {
        SysSeconds found = day + minutes(time);
        if (found < limit) return std::nullopt;
        return found;
      }
    }
    day -= days(1);
    minute_of_day = 24 * 60 - 1;
  }
  return std::nullopt;
}

bool CronSchedule::matches(SysSeconds minute) const {
  const sys_time<minutes> at = floor<minutes>(minute);
  const sys_days day = floor<days>(at);
  int minute_of_day = static_cast<int>((at - day).count());
  return month_matches(day) && day_matches(day) && has(hours_, static_cast<unsigned>(minute_of_day / 60)) &&
         has(minutes_, static_cast<unsigned>(minute_of_day % 60));
}

std::optional<SysSeconds> due(const CronSchedule& schedule, SysSeconds last_checked, SysSeconds now) {
  if (now <= last_checked) return std::nullopt;
  std::optional<SysSeconds> fire = schedule.last_at_or_before(now);
  if (fire && *fire > last_checked) return fire;
  return std::nullopt;
}

}  // namespace dormant::schedule
