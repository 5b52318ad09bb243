// The `green` command: one CLI11 app, one subcommand per tool. Each tool
// lives in tools/<name>.cpp and registers itself with GREEN_SUBCOMMAND.
#include "common/cli_docs.hpp"
#include "common/color.hpp"
#include "common/output.hpp"
#include "common/subcommand.hpp"

#include <green/version.hpp>

#include <CLI/CLI.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

namespace green::tools {
std::vector<Subcommand>& subcommands() {
  static std::vector<Subcommand> all;
  return all;
}
}  // namespace green::tools

namespace {

// A command line CLI11 rejected: "green fetch: MESSAGE" and where to look.
// (A tool's own UsageError, such as a bad input line, is the one line alone.)
void usage_error(const CLI::App* sub, const std::string& message) {
  green::tools::diag_error("{}", message);
  std::fprintf(stderr, "Run 'green%s%s --help' for more information.\n", sub ? " " : "",
               sub ? sub->get_name().c_str() : "");
}

void usage_error(const CLI::App& app, const char* message) {
  const auto used = app.get_subcommands();
  const CLI::App* sub = used.empty() ? nullptr : used.front();
  usage_error(sub, green::tools::plain_parse_error(sub ? *sub : app, message));
}

// A shell can start us with fd 0, 1 or 2 closed (`<&-`, `>&-`): the next
// open() (a URL list, a socket, the hub's epoll) would take that number, and
// results meant for stdout or diagnostics would land in it. Each gets
// /dev/null opened the wrong way round (glibc does the same for set-user-ID
// programs), so that reading or writing it still fails as on a closed one.
void occupy_closed_std_fds() {
  for (int fd = 0; fd <= 2; ++fd) {
    // open() takes the lowest free number: this one, as those below are open by now.
    if (::fcntl(fd, F_GETFD) < 0 && errno == EBADF) ::open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY);
  }
}

}  // namespace

int main(int argc, char** argv) {
  occupy_closed_std_fds();
  CLI::App app{"green: concurrent network utilities on a gevent-style fiber hub", "green"};
  app.formatter(green::tools::help_formatter());  // before the subcommands: they copy it
  app.set_version_flag("-V,--version", green::version_report(), "Print versions of green and its libraries and exit");
  app.require_subcommand(1);
  app.footer(
      "Exit status: 0 when every item succeeded, 1 when some failed, 2 on usage or input errors.\n"
      "Run 'green COMMAND --help' for a command's options.");

  int status = 0;
  auto& tools = green::tools::subcommands();
  std::sort(tools.begin(), tools.end(), [](const auto& a, const auto& b) { return std::strcmp(a.name, b.name) < 0; });
  for (const auto& tool : tools) tool.setup(app, status);
  // What every tool shares: --color, and its name in diagnostics.
  std::vector<std::string> names;
  for (CLI::App* sub : app.get_subcommands({})) {
    sub->group("Commands");
    names.push_back(sub->get_name());
    green::tools::add_color_option(sub);
    sub->preparse_callback([sub](std::size_t) { green::tools::set_tool_name(sub->get_name()); });
  }

  // Hidden: the build generates completions and man-page option lists from
  // the definitions above, so they cannot drift from --help.
  if (argc >= 2 && std::strncmp(argv[1], "--generate-", 11) == 0) {
    try {
      const std::string what = argc >= 3 ? argv[2] : "";
      if (std::strcmp(argv[1], "--generate-completions") == 0) {
        std::fputs(green::tools::generate_completions(app, what).c_str(), stdout);
      } else if (std::strcmp(argv[1], "--generate-man-options") == 0) {
        std::fputs(green::tools::generate_man_options(app, what).c_str(), stdout);
      } else if (std::strcmp(argv[1], "--generate-man-commands") == 0) {
        std::fputs(green::tools::generate_man_commands(app).c_str(), stdout);
      } else {
        throw green::tools::UsageError(std::string("unknown option '") + argv[1] + "'");
      }
      return 0;
    } catch (const green::tools::UsageError& e) {
      std::fprintf(stderr, "green: %s\n", e.what());
      return green::tools::kExitUsage;
    }
  }

  // CLI11 says "A subcommand is required" for `green fetc`, `green --bogus`
  // and `green` alike: name the word, and the command it is probably a typo of.
  if (argc == 1) {
    green::tools::diag_error("no command given (the commands: {}); run 'green --help' for more",
                             fmt::join(names, ", "));
    return green::tools::kExitUsage;
  }
  if (const std::string first = argv[1];
      !app.get_option_no_throw(first) && std::find(names.begin(), names.end(), first) == names.end()) {
    const bool option = first.starts_with("-");
    const std::string near =
        green::tools::nearest_word(first, option ? std::vector<std::string>{"--help", "--version"} : names);
    green::tools::diag_error("unknown {} '{}' ({}); run 'green --help' for more", option ? "option" : "command",
                             green::tools::printable(first),
                             near.empty() ? fmt::format("the commands: {}", fmt::join(names, ", "))
                                          : fmt::format("did you mean '{}'?", near));
    return green::tools::kExitUsage;
  }

  if (std::find(names.begin(), names.end(), argv[1]) != names.end()) {
    const CLI::App* sub = app.get_subcommand(argv[1]);
    const std::string bad = green::tools::flag_with_value(*sub, std::vector<std::string>(argv + 2, argv + argc));
    if (!bad.empty()) {
      green::tools::set_tool_name(sub->get_name());
      usage_error(sub, bad);
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
    usage_error(app, e.what());
    return green::tools::kExitUsage;
  } catch (const green::tools::UsageError& e) {
    green::tools::diag_error("{}", e.what());
    return green::tools::kExitUsage;
  } catch (const std::exception& e) {
    green::tools::diag_error("{}", e.what());
    return green::tools::kExitFailure;
  }
  return status;
}
