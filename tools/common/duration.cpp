#include "common/duration.hpp"

#include "common/subcommand.hpp"

#include <CLI/CLI.hpp>

#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>

namespace green::tools {

namespace {

struct Unit {
  std::string_view name;
  std::uint64_t ns;
};
constexpr Unit kUnits[] = {{"ns", 1},
                           {"us", 1'000},
                           {"\xc2\xb5s", 1'000},
                           {"ms", 1'000'000},
                           {"s", 1'000'000'000},
                           {"m", 60'000'000'000},
                           {"h", 3'600'000'000'000},
                           {"d", 86'400'000'000'000}};

__extension__ typedef unsigned __int128 u128;  // GCC and clang have it; -Wpedantic is told so

}  // namespace

// Exact decimal arithmetic, not strtod: through a double, a count of
// nanoseconds past 2^53 (104 days) would not read back as format_duration
// wrote it. Several NUMBER UNIT parts add up, as Go writes durations
// ("1h30m", "1m30.5s"); a bare number (no unit) is seconds and stands alone.
Duration parse_duration(std::string_view text) {
  auto bad = [&](const char* why) {
    return UsageError("invalid duration '" + std::string(text) + "': " + why + " (examples: 250ms, 1.5s, 2m, 1h30m)");
  };
  if (text.empty()) throw bad("empty");
  constexpr u128 kMax = 1'000'000'000'000'000'000;  // 1e9 s
  u128 total = 0;
  std::string_view rest = text;
  while (!rest.empty()) {
    std::size_t i = 0;
    while (i < rest.size() && (std::isdigit(static_cast<unsigned char>(rest[i])) || rest[i] == '.')) ++i;
    const std::string_view number = rest.substr(0, i);
    const std::size_t dot = number.find('.');
    const std::string_view whole = number.substr(0, dot);
    const std::string_view frac = dot == std::string_view::npos ? std::string_view() : number.substr(dot + 1);
    if (whole.empty() && frac.empty()) throw bad("not a number");
    if (frac.find('.') != std::string_view::npos) throw bad("not a number");
    rest.remove_prefix(i);
    std::size_t u = 0;
    while (u < rest.size() && !std::isdigit(static_cast<unsigned char>(rest[u])) && rest[u] != '.') ++u;
    const std::string_view unit = rest.substr(0, u);
    rest.remove_prefix(u);
    std::uint64_t scale = 0;
    if (unit.empty()) {
      if (number.size() != text.size()) throw bad("every part needs a unit");
      scale = 1'000'000'000;
    } else {
      for (const Unit& un : kUnits)
        if (un.name == unit) scale = un.ns;
      if (scale == 0) throw bad("unknown unit");
    }
    u128 ns = 0;
    for (char c : whole) {
      ns = ns * 10 + static_cast<unsigned>(c - '0');
      if (ns * scale > kMax) throw bad("too long");
    }
    ns *= scale;
    // 24 digits of fraction are far finer than a nanosecond of a day.
    u128 f = 0, den = 1;
    for (std::size_t k = 0; k < frac.size() && k < 24; ++k) {
      f = f * 10 + static_cast<unsigned>(frac[k] - '0');
      den *= 10;
    }
    ns += (f * scale + den / 2) / den;
    total += ns;
    if (total > kMax) throw bad("too long");
  }
  return std::chrono::duration_cast<Duration>(std::chrono::nanoseconds(static_cast<std::int64_t>(total)));
}

std::string format_duration(Duration d) {
  using namespace std::chrono;
  const auto ns = duration_cast<nanoseconds>(d).count();
  char buf[64];
  if (ns % 3'600'000'000'000 == 0 && ns != 0)
    std::snprintf(buf, sizeof buf, "%lldh", static_cast<long long>(ns / 3'600'000'000'000));
  else if (ns % 60'000'000'000 == 0 && ns != 0)
    std::snprintf(buf, sizeof buf, "%lldm", static_cast<long long>(ns / 60'000'000'000));
  else if (ns % 1'000'000 == 0 && ns >= 1'000'000'000) {
    // Not %g: six significant digits would print 101101011 s as 1.01101e+08s.
    const int n = std::snprintf(buf, sizeof buf, "%lld.%03llds", static_cast<long long>(ns / 1'000'000'000),
                                static_cast<long long>(ns / 1'000'000 % 1000));
    std::string out(buf, static_cast<std::size_t>(n) - 1);  // without the 's'
    while (out.back() == '0') out.pop_back();
    if (out.back() == '.') out.pop_back();
    return out + 's';
  } else if (ns % 1'000'000 == 0)
    std::snprintf(buf, sizeof buf, "%lldms", static_cast<long long>(ns / 1'000'000));
  else if (ns % 1'000 == 0)
    std::snprintf(buf, sizeof buf, "%lldus", static_cast<long long>(ns / 1'000));
  else
    std::snprintf(buf, sizeof buf, "%lldns", static_cast<long long>(ns));
  return buf;
}

std::string format_seconds(Duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", std::chrono::duration<double>(d).count());
  return buf;
}

CLI::Option* add_duration_option(CLI::App* app, const std::string& name, Duration& target, const std::string& help) {
  auto* opt = app->add_option_function<std::string>(
      name, [&target](const std::string& text) { target = parse_duration(text); }, help);
  opt->type_name("DUR");
  opt->check(CLI::Validator(
      [](std::string& text) -> std::string {
        try {
          parse_duration(text);
          return {};
        } catch (const UsageError& e) {
          return e.what();
        }
      },
      ""));  // no validator name: --help shows "DUR", not "DUR:DUR"
  if (target != Duration::max()) opt->default_str(format_duration(target));
  return opt;
}

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

}  // namespace green::tools
