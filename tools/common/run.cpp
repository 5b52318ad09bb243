#include "common/run.hpp"

#include "common/output.hpp"
#include "common/subcommand.hpp"

#include <green/green.hpp>
#include <green/net.hpp>

#include <csignal>
#include <cstdlib>

namespace green::tools {

namespace {
bool g_stop = false;
}  // namespace

bool stop_requested() { return g_stop; }

int run_tool(std::function<int()> body, bool second_signal_exits) {
  green::net::ignore_sigpipe();
  green::net::raise_open_files_limit();
  g_stop = false;
  return green::run([&] {
    int signalled = 0;
    bool stdout_closed = false;
    auto work = green::spawn([&] { return body(); });
    green::SignalHandler signals({SIGINT, SIGTERM}, [&](int sig) {
      if (signalled && second_signal_exits) std::_Exit(128 + sig);  // a second signal: stop now
      if (!signalled) signalled = sig;
      g_stop = true;
      // A reader that never reads must not hold the summary back.
      Output::out().stop_waiting();
      Output::err().stop_waiting();
      work.kill(GreenletExit{}, /*block=*/false);
    });
    Output& out = Output::out();
    out.on_closed([&] {
      stdout_closed = true;
      g_stop = true;
      work.kill(GreenletExit{}, /*block=*/false);
    });
    work.join();
    out.flush();
    Output::err().flush_at_exit();  // never hangs on a stderr nobody reads
    out.on_closed(nullptr);
    signals.cancel();
    if (signalled) return 128 + signalled;
    if (out.failed()) return kExitFailure;  // results were lost, and said so
    if (stdout_closed || out.closed()) return 0;
    if (work.killed()) return 1;
    return work.get();  // rethrows the body's exception
  });
}

}  // namespace green::tools
