// Crontab schedules for `green cron`: parsing and next-run computation.
//
// A schedule is either calendar fields, evaluated in the local time zone
// (TZ), or a fixed interval (@every DUR). Calendar rules follow Vixie cron:
//  - fields: [second] minute hour day-of-month month day-of-week, each a
//    list of `*`, N, N-M, with an optional /STEP; months and weekdays also
//    by name (jan..dec, sun..sat); day-of-week 7 is Sunday;
//  - when both day-of-month and day-of-week are restricted (neither starts
//    with `*`), a day matches if EITHER does;
//  - @yearly @annually @monthly @weekly @daily @midnight @hourly;
//  - a sixth field before the command is a seconds field when it parses as
//    a day-of-week field (so `0 30 2 * * * cmd` runs at 02:30:00 and
//    `30 2 * * * cmd` also at 02:30:00); a seventh field-like token (a
//    year, as Quartz writes it) is an error, not the start of the command.
// Daylight saving: a wall-clock time that does not exist (the hour skipped
// in spring) runs at the first instant after the gap; a wall-clock time
// that happens twice (the hour repeated in autumn) runs once, at the first.
#pragma once

#include <green/detail/core.hpp>

#include <bitset>
#include <cstddef>
#include <ctime>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace green::tools::cron {

/// A bad schedule; what() says which field and why.
class ScheduleError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

struct Schedule {
  /// Set for @every: runs every `every`, first one `every` after start.
  std::optional<Duration> every;
  std::bitset<60> seconds;
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days;     // 1..31
  std::bitset<13> months;   // 1..12
  std::bitset<7> weekdays;  // 0 = Sunday
  bool days_star = true;
  bool weekdays_star = true;
  std::string text;  // as written, for listings

  /// The first calendar run strictly after `t`, in the local time zone;
  /// nullopt if none within about five years (e.g. `0 0 31 2 *`). Not for
  /// @every schedules.
  std::optional<std::time_t> next_after(std::time_t t) const;
};

/// Parses five or six calendar fields or an @-shortcut; throws ScheduleError.
Schedule parse_schedule(std::string_view text);

/// One job of a crontab.
struct Job {
  std::string name;     // from `# name: NAME` or --name, else the command as written
  std::string command;  // run with /bin/sh -c
  Schedule schedule;
  std::size_t line = 0;
  std::vector<std::pair<std::string, std::string>> env;  // NAME=value lines above it
};

/// Splits a crontab line into schedule and command (a `%` is literal here,
/// unlike Vixie cron). Throws ScheduleError.
Job parse_job(std::string_view line);

/// Parses a whole crontab: blank lines and `#` comments skipped, `NAME=value`
/// lines set environment variables for the jobs after them, and a
/// `# name: NAME` comment on the line right above a job names it (names are
/// unique). Throws ScheduleError with "SOURCE:LINE: why" for the first bad
/// line.
std::vector<Job> parse_crontab(std::string_view text, const std::string& source);

}  // namespace green::tools::cron
