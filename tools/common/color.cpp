#include "common/color.hpp"

#include "common/cli_docs.hpp"

#include <CLI/CLI.hpp>

#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace green::tools {

namespace {

enum class ColorMode { automatic, always, never };
ColorMode g_mode = ColorMode::automatic;

bool use_color(ColorMode mode, int fd) {
  if (mode == ColorMode::never) return false;
  if (mode == ColorMode::always) return true;
  const char* no_color = std::getenv("NO_COLOR");
  if (no_color && *no_color) return false;
  const char* term = std::getenv("TERM");
  if (term && std::strcmp(term, "dumb") == 0) return false;
  return ::isatty(fd) == 1;
}

}  // namespace

void add_color_option(CLI::App* app) {
  auto* opt = app->add_option_function<std::string>(
                     "--color",
                     [](const std::string& when) {
                       g_mode = when == "always"  ? ColorMode::always
                                : when == "never" ? ColorMode::never
                                                  : ColorMode::automatic;
                     },
                     "Colour the output: auto (on a terminal, unless NO_COLOR is set), always, never")
                  ->type_name("WHEN")
                  ->check(CLI::IsMember({"auto", "always", "never"}))
                  ->default_str("auto");
  completion_values(opt, {"auto", "always", "never"});
}

bool color_stdout() {
  static const bool on = use_color(g_mode, STDOUT_FILENO);
  return on;
}

bool color_stderr() {
  static const bool on = use_color(g_mode, STDERR_FILENO);
  return on;
}

std::string paint(std::string_view text, Color c, bool on) {
  if (!on) return std::string(text);
  static constexpr const char* kSgr[] = {"31", "32", "33", "34", "35", "36", "1", "2"};
  std::string s;
  s.reserve(text.size() + 10);
  s += "\033[";
  s += kSgr[static_cast<int>(c)];
  s += 'm';
  s += text;
  s += "\033[0m";
  return s;
}

}  // namespace green::tools
