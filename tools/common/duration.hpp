// Durations on the command line: "250ms", "1.5s", "2m", "1h", "100us", or
// several parts as Go writes them ("1h30m", "2m30.5s"); a bare number is
// seconds.
#pragma once

#include <green/detail/core.hpp>

#include <string>
#include <string_view>

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace green::tools {

/// Parses a duration; throws UsageError naming `text` when it is not one
/// (empty, negative, unknown unit, not a number).
Duration parse_duration(std::string_view text);

/// "1.5s", "250ms", "2m" — the shortest exact spelling parse_duration reads.
std::string format_duration(Duration d);

/// Seconds with millisecond precision, for result lines ("0.123").
std::string format_seconds(Duration d);

/// Seconds elapsed since `start`, for summaries.
double seconds_since(Clock::time_point start);

/// Adds `--name DUR` that parses into `target` (CLI11 reports bad values
/// as usage errors naming the option).
CLI::Option* add_duration_option(CLI::App* app, const std::string& name, Duration& target, const std::string& help);

}  // namespace green::tools
