// --color=auto|always|never, and NO_COLOR.
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace green::tools {

enum class ColorMode { automatic, always, never };

/// Adds `--color WHEN` (auto, always, never) bound to `mode`.
void add_color_option(CLI::App* app, ColorMode& mode);

/// Whether to colour output on `fd`: never with --color=never; always with
/// --color=always; otherwise only on a terminal (TERM not "dumb") and when
/// NO_COLOR is unset or empty (see no-color.org).
bool use_color(ColorMode mode, int fd);

}  // namespace green::tools
