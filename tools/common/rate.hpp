// --rate, one meaning for every tool: start at most N items per second (per
// minute, per hour), spaced evenly. A start that comes late (the hub was
// busy) lets the next few follow sooner, at most kRateCatchUp intervals'
// worth, so the average holds without a stall turning into a burst.
#pragma once

#include <green/detail/core.hpp>

#include <string>
#include <string_view>

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace green::tools {

/// How many intervals a late schedule may make up.
inline constexpr int kRateCatchUp = 10;

/// Items per second from "N", "N/s", "N/m" or "N/h" (N > 0, fractions
/// allowed); throws UsageError naming `text` otherwise (the option's name is
/// added by CLI11).
double parse_rate(std::string_view text);

/// Adds `--rate N/s` that parses into `per_second` (0: no limit).
CLI::Option* add_rate_option(CLI::App* app, double& per_second, const std::string& help);

/// Paces starts at a rate; a rate of 0 never waits.
class Pacer {
 public:
  explicit Pacer(double per_second);
  /// Waits for the next start's turn. Switch point.
  void wait();

 private:
  Duration interval_;
  Clock::time_point next_;
};

}  // namespace green::tools
