// green cron's schedules: parsing and next-run times against a fixed clock,
// in named time zones (tzdata), across daylight-saving changes.
#include "common/crontab.hpp"

#include "common/duration.hpp"
#include "common/subcommand.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <string>

namespace {

using green::tools::cron::parse_crontab;
using green::tools::cron::parse_job;
using green::tools::cron::parse_schedule;
using green::tools::cron::ScheduleError;

// Sets TZ for one test and restores it after.
class Zone {
 public:
  explicit Zone(const char* tz) {
    if (const char* old = std::getenv("TZ")) old_ = old;
    ::setenv("TZ", tz, 1);
    ::tzset();
  }
  ~Zone() {
    if (old_.empty())
      ::unsetenv("TZ");
    else
      ::setenv("TZ", old_.c_str(), 1);
    ::tzset();
  }

 private:
  std::string old_;
};

std::time_t utc(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return ::timegm(&tm);
}

std::string show(std::optional<std::time_t> t) {
  if (!t) return "none";
  std::tm tm{};
  ::gmtime_r(&*t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string next(const char* schedule, std::time_t from) { return show(parse_schedule(schedule).next_after(from)); }

std::string error_of(const char* schedule) {
  try {
    parse_schedule(schedule);
  } catch (const ScheduleError& e) {
    return e.what();
  }
  return "no error";
}

TEST(Crontab, FieldsWithRangesListsStepsAndNames) {
  auto s = parse_schedule("*/15 9-17 1,15 jan-mar,DEC mon-fri");
  EXPECT_EQ(s.minutes.count(), 4u);
  EXPECT_TRUE(s.minutes[0] && s.minutes[15] && s.minutes[30] && s.minutes[45]);
  EXPECT_EQ(s.hours.count(), 9u);
  EXPECT_TRUE(s.days[1] && s.days[15]);
  EXPECT_EQ(s.days.count(), 2u);
  EXPECT_TRUE(s.months[1] && s.months[2] && s.months[3] && s.months[12]);
  EXPECT_EQ(s.months.count(), 4u);
  EXPECT_EQ(s.weekdays.count(), 5u);
  EXPECT_FALSE(s.weekdays[0]);
  auto t = parse_schedule("5/20 * * * 7");  // N/S is N-max/S; 7 is Sunday
  EXPECT_TRUE(t.minutes[5] && t.minutes[25] && t.minutes[45]);
  EXPECT_EQ(t.minutes.count(), 3u);
  EXPECT_TRUE(t.weekdays[0]);
  EXPECT_EQ(t.weekdays.count(), 1u);
}

TEST(Crontab, AStepLargerThanTheFieldTakesOnlyItsStart) {
  // Under UBSan this overflowed an int stepping past 59 (tests/fuzz/crontab.cpp's invariants).
  auto s = parse_schedule("59/2147483647 23/2147483647 * * 6/2147483647");
  EXPECT_TRUE(s.minutes[59]);
  EXPECT_EQ(s.minutes.count(), 1u);
  EXPECT_TRUE(s.hours[23]);
  EXPECT_EQ(s.hours.count(), 1u);
  EXPECT_TRUE(s.weekdays[6]);
  EXPECT_EQ(s.weekdays.count(), 1u);
}

TEST(Crontab, BadFieldsAreNamedInTheError) {
  EXPECT_NE(error_of("61 * * * *").find("minute field '61': 61 is out of range 0-59"), std::string::npos);
  EXPECT_NE(error_of("* 5-1 * * *").find("hour field '5-1': range 5-1 runs backwards"), std::string::npos);
  EXPECT_NE(error_of("*/0 * * * *").find("bad step '0'"), std::string::npos);
  EXPECT_NE(error_of("* * * foo *").find("month field 'foo': unknown name"), std::string::npos);
  EXPECT_NE(error_of("* * 0 * *").find("day-of-month"), std::string::npos);
  EXPECT_NE(error_of("* * *").find("expected 5 fields"), std::string::npos);
  EXPECT_NE(error_of("@reboot").find("unknown shortcut '@reboot'"), std::string::npos);
  EXPECT_NE(error_of("@every soon").find("invalid duration 'soon'"), std::string::npos);
  EXPECT_NE(error_of("1,,2 * * * *").find("empty list item"), std::string::npos);
}

TEST(Crontab, NextRunInUtc) {
  Zone z("UTC");
  const auto jan1 = utc(2026, 1, 1);  // a Thursday
  EXPECT_EQ(next("30 2 * * *", jan1), "2026-01-01 02:30:00");
  EXPECT_EQ(next("30 2 * * *", utc(2026, 1, 1, 2, 30)), "2026-01-02 02:30:00");  // strictly after
  EXPECT_EQ(next("@hourly", utc(2026, 1, 1, 10, 15)), "2026-01-01 11:00:00");
  EXPECT_EQ(next("@daily", utc(2026, 1, 1, 10, 15)), "2026-01-02 00:00:00");
  EXPECT_EQ(next("@weekly", jan1), "2026-01-04 00:00:00");
  EXPECT_EQ(next("@monthly", jan1), "2026-02-01 00:00:00");
  EXPECT_EQ(next("@yearly", jan1), "2027-01-01 00:00:00");
  EXPECT_EQ(next("*/20 * * * * *", utc(2026, 1, 1, 0, 0, 5)), "2026-01-01 00:00:20");
}

TEST(Crontab, MonthAndDayOfWeekRules) {
  Zone z("UTC");
  EXPECT_EQ(next("0 0 31 * *", utc(2026, 2, 1)), "2026-03-31 00:00:00");   // skips short months
  EXPECT_EQ(next("0 0 29 2 *", utc(2026, 1, 1)), "2028-02-29 00:00:00");   // leap day
  EXPECT_EQ(next("0 0 30 2 *", utc(2026, 1, 1)), "none");                  // never
  EXPECT_EQ(next("0 0 * * fri", utc(2026, 1, 1)), "2026-01-02 00:00:00");  // weekday only
  EXPECT_EQ(next("0 12 * * 7", utc(2026, 1, 1)), "2026-01-04 12:00:00");   // 7 = Sunday
  // Both restricted: either matches (Friday 2 January comes before the 13th).
  EXPECT_EQ(next("0 0 13 * fri", utc(2026, 1, 1)), "2026-01-02 00:00:00");
  EXPECT_EQ(next("0 0 13 * fri", utc(2026, 1, 10)), "2026-01-13 00:00:00");  // a Tuesday
  // Day-of-month restricted, weekday `*`: only the day counts.
  EXPECT_EQ(next("0 0 13 * *", utc(2026, 1, 1)), "2026-01-13 00:00:00");
  // A weekday field starting with `*` (even `*/3`) counts as unrestricted
  // (Vixie): only the 1st matches, not Saturday 3 January.
  EXPECT_EQ(next("0 0 1 * */3", utc(2026, 1, 2)), "2026-02-01 00:00:00");
  EXPECT_EQ(next("0 0 * jun mon", utc(2026, 1, 1)), "2026-06-01 00:00:00");
}

TEST(Crontab, SpringForwardGapRunsAtTheEndOfTheGap) {
  Zone z("America/New_York");  // 2026-03-08 02:00 EST -> 03:00 EDT (07:00 UTC)
  // 02:30 does not exist that day: the job runs at 03:00 EDT, once.
  EXPECT_EQ(next("30 2 * * *", utc(2026, 3, 7, 17)), "2026-03-08 07:00:00");
  EXPECT_EQ(next("30 2 * * *", utc(2026, 3, 8, 7)), "2026-03-09 06:30:00");  // 02:30 EDT
  // Every 15 minutes: 01:45 EST, then the skipped 02:xx collapse into 03:00.
  EXPECT_EQ(next("*/15 * * * *", utc(2026, 3, 8, 6, 40)), "2026-03-08 06:45:00");
  EXPECT_EQ(next("*/15 * * * *", utc(2026, 3, 8, 6, 45)), "2026-03-08 07:00:00");
  EXPECT_EQ(next("*/15 * * * *", utc(2026, 3, 8, 7)), "2026-03-08 07:15:00");
  EXPECT_EQ(next("0 3 * * *", utc(2026, 3, 8, 6)), "2026-03-08 07:00:00");
}

TEST(Crontab, FallBackRepeatedHourRunsOnce) {
  Zone z("America/New_York");  // 2026-11-01 02:00 EDT -> 01:00 EST (06:00 UTC)
  EXPECT_EQ(next("30 1 * * *", utc(2026, 10, 31, 16)), "2026-11-01 05:30:00");  // 01:30 EDT
  // Not again at 01:30 EST (06:30 UTC): next day, 01:30 EST.
  EXPECT_EQ(next("30 1 * * *", utc(2026, 11, 1, 5, 30)), "2026-11-02 06:30:00");
  EXPECT_EQ(next("0 2 * * *", utc(2026, 11, 1, 5, 30)), "2026-11-01 07:00:00");  // 02:00 EST
}

TEST(Crontab, OtherZonesUseTheirOwnRules) {
  Zone z("Europe/Berlin");  // 2026-03-29 02:00 CET -> 03:00 CEST (01:00 UTC)
  EXPECT_EQ(next("30 2 * * *", utc(2026, 3, 28, 12)), "2026-03-29 01:00:00");
  EXPECT_EQ(next("0 9 * * mon", utc(2026, 3, 28, 12)), "2026-03-30 07:00:00");  // 09:00 CEST
}

TEST(Crontab, SixthFieldIsSecondsOnlyWhenItParsesAsOne) {
  auto a = parse_job("0 30 2 * * * echo hi");
  EXPECT_EQ(a.command, "echo hi");
  EXPECT_TRUE(a.schedule.seconds[0]);
  EXPECT_EQ(a.schedule.seconds.count(), 1u);
  EXPECT_TRUE(a.schedule.minutes[30] && a.schedule.hours[2]);
  auto b = parse_job("30 2 * * * 7z x  archive.7z ");
  EXPECT_EQ(b.command, "7z x  archive.7z");
  EXPECT_TRUE(b.schedule.minutes[30]);
  auto c = parse_job("@every 90s   date +%s");
  EXPECT_EQ(c.command, "date +%s");
  ASSERT_TRUE(c.schedule.every);
  EXPECT_EQ(*c.schedule.every, std::chrono::seconds(90));
  EXPECT_THROW(parse_job("* * * * *"), ScheduleError);  // no command
}

TEST(Crontab, FileWithEnvironmentCommentsAndLineNumbers) {
  auto jobs = parse_crontab(
      "# nightly\n\nSHELL_GREETING=hello\n  @daily  echo $SHELL_GREETING\n"
      "*/5 * * * * date\n",
      "tab");
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0].line, 4u);
  EXPECT_EQ(jobs[0].command, "echo $SHELL_GREETING");
  ASSERT_EQ(jobs[0].env.size(), 1u);
  EXPECT_EQ(jobs[0].env[0].second, "hello");
  EXPECT_EQ(jobs[1].line, 5u);
  try {
    parse_crontab("@hourly true\n\n* * * * mon-xyz true\n", "my.tab");
    FAIL() << "no error";
  } catch (const ScheduleError& e) {
    EXPECT_EQ(std::string(e.what()), "my.tab:3: day-of-week field 'mon-xyz': unknown name 'xyz'");
  }
}

}  // namespace

namespace {

using green::tools::parse_duration;

TEST(Crontab, SeventhFieldIsAnErrorNotTheCommand) {
  try {
    parse_job("0 0 12 * * * 2026 echo new year");
    FAIL() << "no error";
  } catch (const ScheduleError& e) {
    EXPECT_NE(std::string(e.what()).find("7 fields: there is no year field"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_job("* * * * * * * echo x"), ScheduleError);
  // A command that merely starts with a digit is still a command.
  EXPECT_EQ(parse_job("0 30 2 * * * 7z x archive.7z").command, "7z x archive.7z");
}

TEST(Crontab, NameCommentDirectlyAboveAJobNamesIt) {
  auto jobs = parse_crontab(
      "# name: backup\n@daily tar cf /tmp/x /etc\n"
      "# name: not-me\n\n@hourly date\n"
      "# name:   spaced out  \n* * * * * true\n",
      "tab");
  ASSERT_EQ(jobs.size(), 3u);
  EXPECT_EQ(jobs[0].name, "backup");
  EXPECT_EQ(jobs[0].command, "tar cf /tmp/x /etc");
  EXPECT_EQ(jobs[1].name, "date");  // a blank line between: not named
  EXPECT_EQ(jobs[2].name, "spaced out");
  try {
    parse_crontab("# name: a\n@daily true\n# name: a\n@hourly true\n", "tab");
    FAIL() << "no error";
  } catch (const ScheduleError& e) {
    EXPECT_EQ(std::string(e.what()), "tab:3: the name 'a' is taken by the job on line 2");
  }
  EXPECT_THROW(parse_crontab("# name:\n@daily true\n", "tab"), ScheduleError);
  EXPECT_THROW(parse_crontab("# name: x\nA=b\n@daily true\n", "tab"), ScheduleError);
}

TEST(Duration, CompoundDurationsAsGoWritesThem) {
  using namespace std::chrono;
  EXPECT_EQ(parse_duration("1h30m"), duration_cast<green::Duration>(minutes(90)));
  EXPECT_EQ(parse_duration("2h45m30s"), duration_cast<green::Duration>(seconds(9930)));
  EXPECT_EQ(parse_duration("1m30.5s"), duration_cast<green::Duration>(milliseconds(90500)));
  EXPECT_EQ(parse_duration("1s500ms"), duration_cast<green::Duration>(milliseconds(1500)));
  EXPECT_EQ(parse_duration("90"), duration_cast<green::Duration>(seconds(90)));  // bare: seconds
  EXPECT_THROW(parse_duration("1h30"), green::tools::UsageError);                 // a part without unit
  EXPECT_THROW(parse_duration("1h-30m"), green::tools::UsageError);
  EXPECT_THROW(parse_duration("h"), green::tools::UsageError);
  auto every = parse_schedule("@every 1h30m");
  ASSERT_TRUE(every.every);
  EXPECT_EQ(*every.every, duration_cast<green::Duration>(minutes(90)));
}

}  // namespace
