#include "common/rate.hpp"

#include "common/subcommand.hpp"

#include <green/hub.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>

namespace green::tools {

double parse_rate(std::string_view text) {
  const auto slash = text.find('/');
  const std::string_view num = text.substr(0, slash);
  const std::string_view unit = slash == std::string_view::npos ? "s" : text.substr(slash + 1);
  double n = 0;
  const auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), n);
  double per = 0;
  if (unit == "s" || unit == "sec")
    per = 1;
  else if (unit == "m" || unit == "min")
    per = 60;
  else if (unit == "h" || unit == "hour")
    per = 3600;
  if (num.empty() || ec != std::errc() || end != num.data() + num.size() || !(n > 0) || per == 0) {
    throw UsageError("'" + std::string(text) + "' is not a rate (want N, N/s, N/m or N/h with N above 0)");
  }
  return n / per;
}

CLI::Option* add_rate_option(CLI::App* app, double& per_second, const std::string& help) {
  auto* opt = app->add_option_function<std::string>(
      "--rate", [&per_second](const std::string& text) { per_second = parse_rate(text); }, help);
  opt->type_name("N/s");
  opt->check(CLI::Validator(
      [](std::string& text) -> std::string {
        try {
          parse_rate(text);
          return {};
        } catch (const UsageError& e) {
          return e.what();
        }
      },
      ""));  // no validator name: --help shows "N/s", not "N/s:N/s"
  return opt;
}

Pacer::Pacer(double per_second)
    : interval_(per_second > 0 ? std::chrono::duration_cast<Duration>(std::chrono::duration<double>(1.0 / per_second))
                               : Duration::zero()),
      next_(Clock::now()) {}

void Pacer::wait() {
  if (interval_ == Duration::zero()) return;
  const auto now = Clock::now();
  if (next_ > now) green::sleep(next_ - now);
  next_ = std::max(next_, now - kRateCatchUp * interval_) + interval_;
}

}  // namespace green::tools
