#include "common/duration.hpp"

#include "common/subcommand.hpp"

#include <CLI/CLI.hpp>

#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace green::tools {

namespace {

struct Unit {
  std::string_view name;
  double seconds;
};
constexpr Unit kUnits[] = {{"ns", 1e-9}, {"us", 1e-6}, {"\xc2\xb5s", 1e-6}, {"ms", 1e-3},
                           {"s", 1.0},   {"m", 60.0},  {"h", 3600.0},       {"d", 86400.0}};

}  // namespace

Duration parse_duration(std::string_view text) {
  auto bad = [&](const char* why) {
    return UsageError("invalid duration '" + std::string(text) + "': " + why + " (examples: 250ms, 1.5s, 2m)");
  };
  if (text.empty()) throw bad("empty");
  std::size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  if (i == 0) throw bad("not a number");
  double value = 0;
  const std::string number(text.substr(0, i));
  char* end = nullptr;
  value = std::strtod(number.c_str(), &end);
  if (end != number.c_str() + number.size() || !std::isfinite(value)) throw bad("not a number");
  const std::string_view unit = text.substr(i);
  double scale = 0;
  if (unit.empty()) {
    scale = 1.0;
  } else {
    for (const Unit& u : kUnits)
      if (u.name == unit) scale = u.seconds;
    if (scale == 0) throw bad("unknown unit");
  }
  const double seconds = value * scale;
  if (seconds > 1e9) throw bad("too long");
  // Round to whole nanoseconds: 100us is 1e-4 s, which a double cannot hold.
  return std::chrono::round<Duration>(std::chrono::duration<double>(seconds));
}

std::string format_duration(Duration d) {
  using namespace std::chrono;
  const auto ns = duration_cast<nanoseconds>(d).count();
  char buf[64];
  if (ns % 3'600'000'000'000 == 0 && ns != 0)
    std::snprintf(buf, sizeof buf, "%lldh", static_cast<long long>(ns / 3'600'000'000'000));
  else if (ns % 60'000'000'000 == 0 && ns != 0)
    std::snprintf(buf, sizeof buf, "%lldm", static_cast<long long>(ns / 60'000'000'000));
  else if (ns % 1'000'000 == 0 && ns >= 1'000'000'000)
    std::snprintf(buf, sizeof buf, "%gs", static_cast<double>(ns) / 1e9);
  else if (ns % 1'000'000 == 0)
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
