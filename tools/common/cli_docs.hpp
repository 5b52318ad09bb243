// Shell completions and man-page option lists, generated from the CLI11
// definitions themselves so that they cannot drift from --help.
#pragma once

#include <string>
#include <vector>

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace green::tools {

/// Values a shell should offer for `opt` (record types, --color modes).
/// `comma_list`: the option takes several, separated by commas.
void completion_values(CLI::Option* opt, std::vector<std::string> values, bool comma_list = false);

/// The completion script for `shell` ("bash", "zsh" or "fish"); throws
/// UsageError for another shell.
std::string generate_completions(const CLI::App& app, const std::string& shell);

/// The OPTIONS section body (roff) of `green SUB`, or of `green` itself when
/// `sub` is empty; throws UsageError for an unknown subcommand.
std::string generate_man_options(const CLI::App& app, const std::string& sub);

}  // namespace green::tools
