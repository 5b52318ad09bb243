// The `green` command: one CLI11 app, one subcommand per tool. Each tool
// lives in tools/<name>.cpp and registers itself with GREEN_SUBCOMMAND.
#include "common/cli_docs.hpp"
#include "common/subcommand.hpp"

#include <algorithm>
#include <cstring>

#include <green/version.hpp>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <string>

namespace green::tools {
std::vector<Subcommand>& subcommands() {
  static std::vector<Subcommand> all;
  return all;
}
}  // namespace green::tools

int main(int argc, char** argv) {
  CLI::App app{"green: concurrent network utilities on a gevent-style fiber hub", "green"};
  app.set_version_flag("-V,--version", green::version_report(), "Print versions of green and its libraries and exit");
  app.require_subcommand(1);
  app.footer(
      "Exit status: 0 when every item succeeded, 1 when some failed, 2 on usage or input errors.\n"
      "Run 'green SUBCOMMAND --help' for a tool's options.");

  int status = 0;
  auto& tools = green::tools::subcommands();
  std::sort(tools.begin(), tools.end(), [](const auto& a, const auto& b) { return std::strcmp(a.name, b.name) < 0; });
  for (const auto& tool : tools) tool.setup(app, status);

  // Hidden: the build generates completions and man-page option lists from
  // the definitions above, so they cannot drift from --help.
  if (argc >= 2 && (std::strcmp(argv[1], "--generate-completions") == 0 ||
                    std::strcmp(argv[1], "--generate-man-options") == 0)) {
    try {
      const std::string what = argc >= 3 ? argv[2] : "";
      std::fputs(std::strcmp(argv[1], "--generate-completions") == 0
                     ? green::tools::generate_completions(app, what).c_str()
                     : green::tools::generate_man_options(app, what).c_str(),
                 stdout);
      return 0;
    } catch (const green::tools::UsageError& e) {
      std::fprintf(stderr, "green: %s\n", e.what());
      return green::tools::kExitUsage;
    }
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);  // prints the message and a hint to stderr
    return green::tools::kExitUsage;
  } catch (const green::tools::UsageError& e) {
    std::fprintf(stderr, "green: %s\n", e.what());
    return green::tools::kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "green: %s\n", e.what());
    return green::tools::kExitFailure;
  }
  return status;
}
