#include "common/color.hpp"

#include "common/cli_docs.hpp"

#include <CLI/CLI.hpp>

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <map>

namespace green::tools {

void add_color_option(CLI::App* app, ColorMode& mode) {
  const std::map<std::string, ColorMode> names{
      {"auto", ColorMode::automatic}, {"always", ColorMode::always}, {"never", ColorMode::never}};
  auto* opt = app->add_option("--color", mode, "Colour diagnostics: auto (terminal, unless NO_COLOR is set), always, never")
                  ->type_name("WHEN")
                  ->transform(CLI::CheckedTransformer(names, CLI::ignore_case))
                  ->default_str("auto");
  completion_values(opt, {"auto", "always", "never"});
}

bool use_color(ColorMode mode, int fd) {
  if (mode == ColorMode::never) return false;
  if (mode == ColorMode::always) return true;
  const char* no_color = std::getenv("NO_COLOR");
  if (no_color && *no_color) return false;
  const char* term = std::getenv("TERM");
  if (term && std::strcmp(term, "dumb") == 0) return false;
  return ::isatty(fd) == 1;
}

}  // namespace green::tools
