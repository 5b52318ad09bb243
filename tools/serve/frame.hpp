// What every `green serve MODE` shares: the options common to all servers,
// how --host is read, the "listening on" line and the exit status of a stop.
// Each mode lives in its own file (echo.cpp, chat.cpp) and is reached through
// run_MODE() below; serve.cpp holds the command line. Files of this directory
// include only <green/...>, common/ and this header.
#pragma once

#include "common/duration.hpp"

#include <green/net.hpp>

#include <green/signal.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace green::tools::serve {

struct ServerCommon {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::size_t max_clients = 0;
  bool verbose = false;
};

/// --host as an address, or a UsageError naming it.
net::address host_or_usage_error(const std::string& host);

/// Prints "listening on HOST:PORT" on stderr (tests and users wait for it).
void announce(const net::Tcp::endpoint& ep);

/// How a server's life ended: SIGTERM (or none) is the normal stop of a
/// service, so 0; SIGINT is an interrupted run, 130 as for every green tool.
int exit_status(int stop_signal);

/// SIGINT and SIGTERM stop a server: `on_stop(sig)` runs in a new greenlet of
/// this hub for each one, and the first is kept in `first` (for exit_status;
/// shared by every hub of a multi-threaded server). With `log`, each is
/// logged as "caught SIGINT, stopping".
class StopSignals {
 public:
  StopSignals(std::atomic<int>& first, bool log, std::function<void(int)> on_stop);

 private:
  green::SignalHandler handler_;
};

/// The frame of a server's life: raises the open-files limit, ignores
/// SIGPIPE, reads --host, then runs `body(address)` in green::run and returns
/// its exit status; a server that cannot start (cannot bind) prints the error
/// and returns 1.
int serve_on_hub(const ServerCommon& opt, const std::function<int(const net::address&)>& body);

struct EchoOptions : ServerCommon {
  Duration idle_timeout = Duration::zero();
  unsigned threads = 1;
};
int run_echo(const EchoOptions& opt);

struct ChatOptions : ServerCommon {
  std::size_t queue_limit = 1024 * 1024;
};
int run_chat(const ChatOptions& opt);

}  // namespace green::tools::serve
