#include "common/crontab.hpp"

#include "common/duration.hpp"
#include "common/subcommand.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <tuple>

namespace green::tools::cron {

namespace {

constexpr std::array<const char*, 12> kMonths = {"jan", "feb", "mar", "apr", "may", "jun",
                                                 "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<const char*, 7> kWeekdays = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

std::vector<std::string_view> split_ws(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    std::size_t j = i;
    while (j < s.size() && !std::isspace(static_cast<unsigned char>(s[j]))) ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

// Where the (n+1)-th whitespace-separated token starts (the rest of the line).
std::string_view rest_after(std::string_view s, std::size_t n) {
  std::size_t i = 0;
  for (std::size_t k = 0; k < n; ++k) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  }
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

struct FieldSpec {
  const char* name;
  int lo, hi;
  const char* const* names;  // lo-based, or null
  std::size_t name_count;
};

constexpr FieldSpec kSecond{"second", 0, 59, nullptr, 0};
constexpr FieldSpec kMinute{"minute", 0, 59, nullptr, 0};
constexpr FieldSpec kHour{"hour", 0, 23, nullptr, 0};
constexpr FieldSpec kDay{"day-of-month", 1, 31, nullptr, 0};
constexpr FieldSpec kMonth{"month", 1, 12, kMonths.data(), kMonths.size()};
constexpr FieldSpec kWeekday{"day-of-week", 0, 7, kWeekdays.data(), kWeekdays.size()};

int parse_value(std::string_view v, const FieldSpec& f, std::string_view field) {
  auto bad = [&](const std::string& why) {
    return ScheduleError(std::string(f.name) + " field '" + std::string(field) + "': " + why);
  };
  if (v.empty()) throw bad("empty value");
  if (std::isalpha(static_cast<unsigned char>(v[0]))) {
    std::string lower(v);
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (std::size_t i = 0; i < f.name_count; ++i)
      if (lower == f.names[i]) return f.lo + static_cast<int>(i);
    throw bad("unknown name '" + std::string(v) + "'");
  }
  int n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size()) throw bad("'" + std::string(v) + "' is not a number");
  if (n < f.lo || n > f.hi)
    throw bad(std::to_string(n) + " is out of range " + std::to_string(f.lo) + "-" + std::to_string(f.hi));
  return n;
}

std::uint64_t parse_field(std::string_view field, const FieldSpec& f) {
  std::uint64_t mask = 0;
  std::size_t start = 0;
  while (start <= field.size()) {
    std::size_t comma = field.find(',', start);
    if (comma == std::string_view::npos) comma = field.size();
    std::string_view item = field.substr(start, comma - start);
    auto bad = [&](const std::string& why) {
      return ScheduleError(std::string(f.name) + " field '" + std::string(field) + "': " + why);
    };
    if (item.empty()) throw bad("empty list item");
    int step = 1;
    bool has_step = false;
    if (auto slash = item.find('/'); slash != std::string_view::npos) {
      std::string_view s = item.substr(slash + 1);
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), step);
      if (s.empty() || ec != std::errc() || p != s.data() + s.size() || step <= 0)
        throw bad("bad step '" + std::string(s) + "'");
      item = item.substr(0, slash);
      has_step = true;
    }
    int lo, hi;
    if (item == "*") {
      lo = f.lo;
      hi = f.hi == 7 ? 6 : f.hi;
    } else if (auto dash = item.find('-'); dash != std::string_view::npos) {
      lo = parse_value(item.substr(0, dash), f, field);
      hi = parse_value(item.substr(dash + 1), f, field);
      if (lo > hi) throw bad("range " + std::string(item) + " runs backwards");
    } else {
      lo = parse_value(item, f, field);
      hi = has_step ? (f.hi == 7 ? 6 : f.hi) : lo;  // N/S means N-max/S
    }
    for (std::int64_t v = lo; v <= hi; v += step) mask |= std::uint64_t{1} << v;  // int would overflow on 59/2147483647
    start = comma + 1;
  }
  if (f.hi == 7 && (mask >> 7) & 1) mask = (mask | 1) & ~(std::uint64_t{1} << 7);  // 7 is Sunday
  return mask;
}

template <std::size_t N>
std::bitset<N> to_bits(std::uint64_t mask) {
  return std::bitset<N>(static_cast<unsigned long long>(mask));
}

// ---- civil (wall-clock) time, without time zones -----------------------------

struct Civil {
  int y, mo, d, h, mi, s;
  auto key() const { return std::tie(y, mo, d, h, mi, s); }
  friend bool operator<(const Civil& a, const Civil& b) { return a.key() < b.key(); }
  friend bool operator==(const Civil& a, const Civil& b) { return a.key() == b.key(); }
};

bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
int days_in_month(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : kDays[m - 1];
}
// 0 = Sunday (Howard Hinnant's days_from_civil).
int weekday(int y, int m, int d) {
  y -= m <= 2;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * static_cast<unsigned>(m + (m > 2 ? -3 : 9)) + 2) / 5 + static_cast<unsigned>(d) - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const long days = static_cast<long>(era) * 146097 + static_cast<long>(doe) - 719468;
  return static_cast<int>(((days % 7) + 11) % 7);  // 1970-01-01 was a Thursday (4)
}

void next_day(Civil& c) {
  c.h = c.mi = c.s = 0;
  if (++c.d > days_in_month(c.y, c.mo)) {
    c.d = 1;
    if (++c.mo > 12) {
      c.mo = 1;
      ++c.y;
    }
  }
}
void next_hour(Civil& c) {
  c.mi = c.s = 0;
  if (++c.h > 23) next_day(c);
}
void next_minute(Civil& c) {
  c.s = 0;
  if (++c.mi > 59) next_hour(c);
}
void next_second(Civil& c) {
  if (++c.s > 59) next_minute(c);
}

Civil civil_of(std::time_t t) {
  std::tm tm{};
  localtime_r(&t, &tm);
  return {tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec};
}

std::time_t make_local(const Civil& c, int isdst) {
  std::tm tm{};
  tm.tm_year = c.y - 1900;
  tm.tm_mon = c.mo - 1;
  tm.tm_mday = c.d;
  tm.tm_hour = c.h;
  tm.tm_min = c.mi;
  tm.tm_sec = c.s;
  tm.tm_isdst = isdst;
  return std::mktime(&tm);
}

// The instant a wall-clock time names: the earlier one when it happens
// twice, the end of the gap when it does not happen at all.
std::time_t resolve(const Civil& c) {
  std::optional<std::time_t> best;
  for (int isdst : {0, 1}) {
    const std::time_t t = make_local(c, isdst);
    if (t != static_cast<std::time_t>(-1) && civil_of(t) == c && (!best || t < *best)) best = t;
  }
  if (best) return *best;
  // In a gap: the first instant whose wall clock is past c.
  const std::time_t guess = make_local(c, -1);
  std::time_t lo = guess - 6 * 3600, hi = guess + 6 * 3600;  // civil(lo) < c < civil(hi)
  while (hi - lo > 1) {
    const std::time_t mid = lo + (hi - lo) / 2;
    if (c < civil_of(mid))
      hi = mid;
    else
      lo = mid;
  }
  return hi;
}

}  // namespace

std::optional<std::time_t> Schedule::next_after(std::time_t t) const {
  Civil c = civil_of(t);
  const int limit_year = c.y + 5;
  next_second(c);
  while (c.y <= limit_year) {
    if (!months[static_cast<std::size_t>(c.mo)]) {
      c.d = days_in_month(c.y, c.mo);
      next_day(c);
      continue;
    }
    const bool dom = days[static_cast<std::size_t>(c.d)];
    const bool dow = weekdays[static_cast<std::size_t>(weekday(c.y, c.mo, c.d))];
    const bool day_ok = days_star && weekdays_star ? true : days_star ? dow : weekdays_star ? dom : (dom || dow);
    if (!day_ok) {
      next_day(c);
      continue;
    }
    if (!hours[static_cast<std::size_t>(c.h)]) {
      next_hour(c);
      continue;
    }
    if (!minutes[static_cast<std::size_t>(c.mi)]) {
      next_minute(c);
      continue;
    }
    if (!seconds[static_cast<std::size_t>(c.s)]) {
      next_second(c);
      continue;
    }
    const std::time_t r = resolve(c);
    // A repeated wall-clock time whose first occurrence is already past
    // (t is in the repeated hour) does not run again.
    if (r > t) return r;
    next_second(c);
  }
  return std::nullopt;
}

Schedule parse_schedule(std::string_view text) {
  auto tokens = split_ws(text);
  Schedule s;
  s.text = std::string(text);
  if (tokens.empty()) throw ScheduleError("empty schedule");
  if (tokens[0][0] == '@') {
    std::string_view m = tokens[0];
    if (m == "@every") {
      if (tokens.size() != 2) throw ScheduleError("@every takes one duration (@every 5m)");
      try {
        s.every = parse_duration(tokens[1]);
      } catch (const UsageError& e) {
        throw ScheduleError(e.what());
      }
      if (*s.every <= Duration::zero()) throw ScheduleError("@every needs a positive duration");
      return s;
    }
    const char* expanded = m == "@yearly" || m == "@annually"  ? "0 0 1 1 *"
                           : m == "@monthly"                   ? "0 0 1 * *"
                           : m == "@weekly"                    ? "0 0 * * 0"
                           : m == "@daily" || m == "@midnight" ? "0 0 * * *"
                           : m == "@hourly"                    ? "0 * * * *"
                                                               : nullptr;
    if (!expanded) throw ScheduleError("unknown shortcut '" + std::string(m) + "'");
    if (tokens.size() != 1) throw ScheduleError(std::string(m) + " takes no fields");
    Schedule e = parse_schedule(expanded);
    e.text = s.text;
    return e;
  }
  if (tokens.size() != 5 && tokens.size() != 6)
    throw ScheduleError("expected 5 fields (or 6 with seconds), got " + std::to_string(tokens.size()));
  std::size_t i = 0;
  s.seconds = tokens.size() == 6 ? to_bits<60>(parse_field(tokens[i++], kSecond)) : std::bitset<60>(1);
  s.minutes = to_bits<60>(parse_field(tokens[i++], kMinute));
  s.hours = to_bits<24>(parse_field(tokens[i++], kHour));
  s.days_star = tokens[i][0] == '*';
  s.days = to_bits<32>(parse_field(tokens[i++], kDay));
  s.months = to_bits<13>(parse_field(tokens[i++], kMonth));
  s.weekdays_star = tokens[i][0] == '*';
  s.weekdays = to_bits<7>(parse_field(tokens[i++], kWeekday));
  return s;
}

Job parse_job(std::string_view line) {
  auto tokens = split_ws(line);
  if (tokens.empty()) throw ScheduleError("empty line");
  std::size_t nfields;
  if (tokens[0][0] == '@') {
    nfields = tokens[0] == "@every" ? 2 : 1;
  } else {
    nfields = 5;
    if (tokens.size() >= 7) {
      try {
        parse_field(tokens[5], kWeekday);
        nfields = 6;
      } catch (const ScheduleError&) {
      }
    }
  }
  // A seventh schedule-like field is most likely a year (Quartz, AWS): run
  // as a command it would be a per-second job running `2026 ...`.
  auto field_like = [](std::string_view t) {
    return t.find_first_not_of("0123456789*,-/?") == std::string_view::npos;
  };
  if (nfields == 6 && tokens.size() > 6 && field_like(tokens[6]))
    throw ScheduleError("7 fields: there is no year field (5 fields, or 6 with seconds first, then the command)");
  if (tokens.size() <= nfields) throw ScheduleError("no command after the schedule");
  Job job;
  std::string fields;
  for (std::size_t i = 0; i < nfields; ++i) {
    if (i) fields += ' ';
    fields += tokens[i];
  }
  job.schedule = parse_schedule(fields);
  std::string_view cmd = rest_after(line, nfields);
  while (!cmd.empty() && std::isspace(static_cast<unsigned char>(cmd.back()))) cmd.remove_suffix(1);
  job.command = std::string(cmd);
  job.name = job.command;
  return job;
}

std::vector<Job> parse_crontab(std::string_view text, const std::string& source) {
  std::vector<Job> jobs;
  std::vector<std::pair<std::string, std::string>> env;
  std::string name;  // from a `# name: NAME` comment on the line just above
  std::size_t lineno = 0;
  std::size_t pos = text.starts_with("\xEF\xBB\xBF") ? 3 : 0;  // a byte-order mark, as editors on Windows write
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++lineno;
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.remove_suffix(1);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front()))) line.remove_prefix(1);
    std::string above = std::exchange(name, {});
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::string_view c = line.substr(1);
      while (!c.empty() && std::isspace(static_cast<unsigned char>(c.front()))) c.remove_prefix(1);
      if (c.starts_with("name:")) {
        c.remove_prefix(5);
        while (!c.empty() && std::isspace(static_cast<unsigned char>(c.front()))) c.remove_prefix(1);
        if (c.empty()) throw ScheduleError(source + ":" + std::to_string(lineno) + ": '# name:' without a name");
        for (const Job& j : jobs)
          if (j.name == c)
            throw ScheduleError(source + ":" + std::to_string(lineno) + ": the name '" + std::string(c) +
                                "' is taken by the job on line " + std::to_string(j.line));
        name = std::string(c);
      }
      continue;
    }
    try {
      // NAME=value (no space before '='): an environment line.
      std::size_t eq = line.find('=');
      const bool is_env = eq != std::string_view::npos && eq > 0 &&
                          (std::isalpha(static_cast<unsigned char>(line[0])) || line[0] == '_') &&
                          std::all_of(line.begin(), line.begin() + static_cast<std::ptrdiff_t>(eq), [](char ch) {
                            return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
                          });
      if (is_env) {
        std::string value(line.substr(eq + 1));
        if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front())
          value = value.substr(1, value.size() - 2);
        env.emplace_back(std::string(line.substr(0, eq)), std::move(value));
        if (!above.empty())
          throw ScheduleError("'# name: " + above + "' must be directly above a job, not above NAME=value");
        continue;
      }
      Job job = parse_job(line);
      if (!above.empty()) job.name = std::move(above);
      job.line = lineno;
      job.env = env;
      jobs.push_back(std::move(job));
    } catch (const ScheduleError& e) {
      throw ScheduleError(source + ":" + std::to_string(lineno) + ": " + e.what());
    }
  }
  return jobs;
}

}  // namespace green::tools::cron
