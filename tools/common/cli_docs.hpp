// Shell completions and man-page option lists, generated from the CLI11
// definitions themselves so that they cannot drift from --help.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace CLI {
class App;
class Option;
class FormatterBase;
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

/// The COMMANDS section body (roff) of green(1): every subcommand with its
/// description.
std::string generate_man_commands(const CLI::App& app);

/// The --help layout of every command, in plain words: "-c, --concurrency N"
/// on the left, the description wrapped on the right with the range, the
/// choices and the default said once, none of CLI11's own syntax.
std::shared_ptr<CLI::FormatterBase> help_formatter();

/// CLI11's message for a rejected command line in plain words ("--rate:
/// '0' is not a number above 0" for "Value 0 not in range 0.000000 to
/// 1797...", "unknown option '--concurency' (did you mean
/// '--concurrency'?)"); `app` is the command whose line it was.
std::string plain_parse_error(const CLI::App& app, const std::string& message);

/// "-L takes no value (got '-L=x')" for a flag of `app` given a value in
/// `args` (its arguments): CLI11 reads "-L=x" as -L and an unknown option
/// "-=x". Empty when there is none.
std::string flag_with_value(const CLI::App& app, const std::vector<std::string>& args);

/// The candidate nearest to `word` by edit distance, if near enough to be
/// a typo of it; empty otherwise.
std::string nearest_word(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace green::tools
