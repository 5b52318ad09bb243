// How a tool's body runs: on a hub, stoppable by SIGINT/SIGTERM and by a
// closed stdout.
#pragma once

#include <functional>

namespace green::tools {

/// Runs `body` as a greenlet on a fresh hub and returns the exit status:
///  - body's own return value when it finishes;
///  - 130 after SIGINT, 143 after SIGTERM: the first signal kills the body
///    (GreenletExit unwinds it, so a catch or destructor can print what was
///    done and the summary); a second one exits at once;
///  - 0 when stdout was closed by the reader (`| head -n 1`): the body is
///    killed and the run ends quietly;
///  - 1 after any other write error on stdout (`> /dev/full`), reported
///    once on stderr: the body is killed (its summary still goes out).
/// Exceptions from body propagate (main maps UsageError to status 2).
/// Also ignores SIGPIPE and raises the open-files soft limit to the hard
/// limit, so thousands of sockets work without `ulimit`.
/// With `second_signal_exits` false a second signal kills the body again
/// instead (a body that must clean up, like green cron's, takes it as "hurry").
int run_tool(std::function<int()> body, bool second_signal_exits = true);

/// True inside run_tool once a SIGINT/SIGTERM or a closed stdout asked the
/// body to stop (for bodies that want to stop feeding new work first).
bool stop_requested();

}  // namespace green::tools
