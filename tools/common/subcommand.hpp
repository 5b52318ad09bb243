// How a tool plugs into the `green` command.
//
// Each tool has a file tools/<name>.cpp with
//     void setup_<name>(CLI::App& app, int& status);
// which adds the subcommand, binds its options to an options struct and sets
// a callback that runs the tool (inside green::run) and stores its exit
// status. main.cpp calls every setup_ function.
#pragma once

#include <stdexcept>

namespace CLI {
class App;
}

namespace green::tools {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // some items failed
inline constexpr int kExitUsage = 2;    // bad usage or input

/// Thrown by a tool for a usage problem CLI11 cannot see (exit status 2).
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

void setup_demo(CLI::App& app, int& status);

}  // namespace green::tools
