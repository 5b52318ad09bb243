// --color=auto|always|never, and NO_COLOR (no-color.org).
#pragma once

#include <string>
#include <string_view>

namespace CLI {
class App;
}

namespace green::tools {

/// Adds `--color WHEN` (auto, always, never) to a tool; it sets the
/// process-wide mode that color_stdout() and color_stderr() apply.
void add_color_option(CLI::App* app);

/// Whether the running tool colours stdout / stderr (decided once, on first
/// use): never with --color=never; always with --color=always; otherwise only
/// on a terminal (TERM not "dumb") and when NO_COLOR is unset or empty.
bool color_stdout();
bool color_stderr();

enum class Color { red, green, yellow, blue, magenta, cyan, bold, dim };

/// `text` wrapped in the SGR sequence for `c` and a reset when `on`;
/// otherwise `text` unchanged.
std::string paint(std::string_view text, Color c, bool on);

}  // namespace green::tools
