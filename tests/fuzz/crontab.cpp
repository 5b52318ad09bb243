// A crontab (`green cron --tab FILE`) and the run times computed from it.
// Promises checked: a bad line is a ScheduleError, nothing else; the next
// run is after the start and within the five-year horizon; it is a wall
// clock time the schedule names, or the first instant after a daylight
// saving gap; and there is no run in between (asking from any instant
// between the start and the run gives the same run). The time zone and the
// start are picked from the input, among zones with unusual DST (Lord Howe
// moves by 30 minutes) and starts next to their transitions.
#include "check.hpp"

#include "common/crontab.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <string_view>
#include <vector>

namespace {

using green::tools::cron::Schedule;

bool matches(const Schedule& s, std::time_t t) {
  std::tm tm{};
  localtime_r(&t, &tm);
  const auto u = [](int v) { return static_cast<std::size_t>(v); };
  const bool dom = s.days[u(tm.tm_mday)];
  const bool dow = s.weekdays[u(tm.tm_wday)];
  const bool day = s.days_star && s.weekdays_star ? true : s.days_star ? dow : s.weekdays_star ? dom : dom || dow;
  return s.seconds[u(tm.tm_sec)] && s.minutes[u(tm.tm_min)] && s.hours[u(tm.tm_hour)] && s.months[u(tm.tm_mon + 1)] &&
         day;
}

// Whether the wall clock jumped forward just before t (t is the first
// instant after a DST gap).
bool after_gap(std::time_t t) {
  std::tm a{}, b{};
  const std::time_t before = t - 1;
  localtime_r(&before, &a);
  localtime_r(&t, &b);
  return b.tm_gmtoff > a.tm_gmtoff;
}

void check_runs(const Schedule& s, std::time_t start) {
  const auto next = s.next_after(start);
  if (!next) return;
  FUZZ_CHECK(*next > start);
  FUZZ_CHECK(*next - start <= std::time_t{6} * 366 * 86400);
  FUZZ_CHECK(matches(s, *next) || after_gap(*next));
  if (*next - start > 1) {
    const std::time_t mid = start + (*next - start) / 2;
    FUZZ_CHECK(s.next_after(mid) == next);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace green::tools::cron;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::uint32_t h = 2166136261u;  // FNV-1a: the same input always picks the same zone and start
  for (unsigned char c : text) h = (h ^ c) * 16777619u;
  static const char* const kZones[] = {"UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe"};
  // 2026-03-08 06:59:59 UTC (New York springs forward at 07:00 UTC) and
  // 2026-10-25 00:59:59 UTC (Berlin falls back at 01:00 UTC), Lord Howe's
  // 2026-04-04 14:59:59 UTC, and an ordinary day.
  static const std::time_t kStarts[] = {1772953199, 1792889999, 1775314799, 1780000000};
  setenv("TZ", kZones[h % 4], 1);
  tzset();
  std::vector<Job> jobs;
  try {
    jobs = parse_crontab(text, "fuzz");
  } catch (const ScheduleError&) {
    return 0;
  }
  for (const Job& job : jobs) {
    if (job.schedule.every) {
      FUZZ_CHECK(*job.schedule.every > green::Duration::zero());
      continue;
    }
    check_runs(job.schedule, kStarts[(h >> 2) % 4] - 3600 + static_cast<std::time_t>((h >> 4) % 7200));
  }
  return 0;
}
