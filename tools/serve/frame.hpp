// What every `green serve MODE` shares: the options common to all servers,
// how --host is read, the "listening on" line and the exit status of a stop.
// Each mode lives in its own file (echo.cpp, chat.cpp, http.cpp) and is reached through
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
#include <memory>
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

/// One hub's server, as run_hubs drives it.
class HubServer {
 public:
  virtual ~HubServer() = default;
  virtual net::Tcp::endpoint local_endpoint() const = 0;
  /// Serves until stopped (by its own StopSignals, or stop()). Switch point.
  virtual void run() = 0;
  /// Switch point.
  virtual void stop() = 0;
};

/// Builds the calling hub's server, listening on `ep` (with SO_REUSEPORT
/// when `reuse_port`: other hubs listen on the same port).
using MakeHubServer = std::function<std::unique_ptr<HubServer>(const net::Tcp::endpoint& ep, bool reuse_port)>;

/// Runs `threads` hubs: the calling one, whose server binds `ep` (port 0:
/// the one picked is the others' too), and threads-1 more, one thread each
/// with its own listener on that port; the kernel spreads connections over
/// them. Announces the address once every hub listens and returns when
/// every server has stopped (each hub's signal handler sees SIGINT/SIGTERM).
/// Returns kExitOk, or kExitFailure after stopping the rest when a hub
/// cannot start. Runs on a hub (inside serve_on_hub). Switch point.
int run_hubs(unsigned threads, const net::Tcp::endpoint& ep, const MakeHubServer& make);

struct EchoOptions : ServerCommon {
  Duration idle_timeout = Duration::zero();
  unsigned threads = 1;
};
int run_echo(const EchoOptions& opt);

struct ChatOptions : ServerCommon {
  std::size_t queue_limit = 1024 * 1024;
  std::size_t backlog = 25;  // messages of a room sent to whoever joins it
  int http_port = -1;        // the web page, WebSocket and long polling (-1: none)
};
int run_chat(const ChatOptions& opt);

struct HttpOptions : ServerCommon {
  std::string dir = ".";
  unsigned threads = 1;
  bool json = false;
  bool follow_symlinks = false;
  bool dotfiles = false;
};
int run_http(const HttpOptions& opt);

}  // namespace green::tools::serve
