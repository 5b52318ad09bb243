// How a tool plugs into the `green` command.
//
// Each tool lives in tools/<name>.cpp and registers itself:
//
//     namespace green::tools {
//     void setup_fetch(CLI::App& app, int& status) { ... }
//     GREEN_SUBCOMMAND(fetch, setup_fetch);
//     }
//
// setup_<name> adds the subcommand, binds its options to an options struct
// and sets a callback that runs the tool (inside green::run) and stores its
// exit status. main.cpp sets every registered tool up, in name order.
#pragma once

#include <stdexcept>
#include <vector>

namespace CLI {
class App;
}

namespace green::tools {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;        // some items failed
inline constexpr int kExitUsage = 2;          // bad usage or input
inline constexpr int kExitInterrupted = 130;  // SIGINT (128 + 2)

/// Thrown by a tool for a usage problem CLI11 cannot see (exit status 2).
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using SetupFn = void (*)(CLI::App& app, int& status);

struct Subcommand {
  const char* name;
  SetupFn setup;
};

/// Every registered tool (filled by GREEN_SUBCOMMAND before main runs).
std::vector<Subcommand>& subcommands();

inline bool register_subcommand(const char* name, SetupFn setup) {
  subcommands().push_back({name, setup});
  return true;
}

}  // namespace green::tools

#define GREEN_SUBCOMMAND(name, setup_fn)                                  \
  [[maybe_unused]] static const bool green_subcommand_registered_##name = \
      ::green::tools::register_subcommand(#name, &(setup_fn))
