#include "common/run.hpp"

#include "common/output.hpp"

#include <green/green.hpp>

#include <sys/resource.h>

#include <csignal>
#include <cstdlib>

namespace green::tools {

namespace {
bool g_stop = false;

void raise_nofile_limit() {
  struct rlimit rl;
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
}
}  // namespace

bool stop_requested() { return g_stop; }

int run_tool(std::function<int()> body) {
  std::signal(SIGPIPE, SIG_IGN);
  raise_nofile_limit();
  g_stop = false;
  return green::run([&] {
    int signalled = 0;
    bool stdout_closed = false;
    auto work = green::spawn([&] { return body(); });
    green::SignalHandler signals({SIGINT, SIGTERM}, [&](int sig) {
      if (signalled) std::_Exit(128 + sig);  // a second signal: stop now
      signalled = sig;
      g_stop = true;
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
    out.on_closed(nullptr);
    signals.cancel();
    if (signalled) return 128 + signalled;
    if (stdout_closed || out.closed()) return 0;
    if (work.killed()) return 1;
    return work.get();  // rethrows the body's exception
  });
}

}  // namespace green::tools
