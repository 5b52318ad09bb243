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
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

namespace green::tools::serve {

struct ServerCommon {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::size_t max_clients = 0;
  bool verbose = false;
};

/// --host as the addresses to listen on ("localhost": 127.0.0.1 and ::1),
/// or a UsageError naming it.
std::vector<net::address> hosts_or_usage_error(const std::string& host);

/// A listener that could not be made (`why`: the error, which names the
/// address) while another one was, as a warning on stderr.
void report_unbound(const std::string& why);

/// Makes one listener per address with `make(endpoint)`, all on `port` (0:
/// the port the first one got). An address that cannot be bound (no IPv6 on
/// this machine, the port taken in one family only) is reported on stderr
/// and skipped while another one binds; when none does, the first error is
/// thrown (std::system_error). Never switches.
template <class Make>
auto listen_on_each(const std::vector<net::address>& addrs, std::uint16_t port, Make&& make) {
  std::vector<decltype(make(net::Tcp::endpoint{}))> servers;
  std::vector<std::string> failed;
  std::exception_ptr first_error;
  for (const auto& a : addrs) {
    try {
      servers.push_back(make(net::Tcp::endpoint(a, port)));
      if (port == 0) port = servers.back()->local_endpoint().port();
    } catch (const std::system_error& e) {
      if (!first_error) first_error = std::current_exception();
      failed.emplace_back(e.what());
    }
  }
  if (servers.empty()) std::rethrow_exception(first_error);
  for (const auto& why : failed) report_unbound(why);
  return servers;
}

/// Prints "listening on HOST:PORT" on stderr (tests and users wait for it;
/// one line per address).
void announce(const net::Tcp::endpoint& ep);

/// How a server's life ended: SIGTERM (or none) is the normal stop of a
/// service, so 0; SIGINT is an interrupted run, 130 as for every green tool.
int exit_status(int stop_signal);

/// SIGINT and SIGTERM stop a server: `on_stop(sig)` runs in a new greenlet of
/// this hub for each one, and the first is kept in `first` (for exit_status;
/// shared by every hub of a multi-threaded server). With `log`, the first is
/// logged as "caught SIGINT, stopping", once for all the servers sharing
/// `first`.
class StopSignals {
 public:
  StopSignals(std::atomic<int>& first, bool log, std::function<void(int)> on_stop);

 private:
  green::SignalHandler handler_;
};

/// The frame of a server's life: raises the open-files limit, ignores
/// SIGPIPE, reads --host, then runs `body(addresses)` in green::run and
/// returns its exit status; a server that cannot start (cannot bind) prints
/// the error and returns 1.
int serve_on_hub(const ServerCommon& opt, const std::function<int(const std::vector<net::address>&)>& body);

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

/// Runs `threads` hubs: the calling one, whose servers bind `port` on each
/// of `addrs` (see listen_on_each; port 0: the one picked is the others'
/// too), and threads-1 more, one thread each with its own listeners on the
/// addresses bound; the kernel spreads connections over them. Announces the
/// addresses once every hub listens and returns when every server has
/// stopped (each server's signal handler sees SIGINT/SIGTERM). Returns
/// kExitOk, or kExitFailure after stopping the rest when a hub cannot
/// start. Runs on a hub (inside serve_on_hub). Switch point.
int run_hubs(unsigned threads, const std::vector<net::address>& addrs, std::uint16_t port, const MakeHubServer& make);

struct EchoOptions : ServerCommon {
  Duration idle_timeout = Duration::zero();
  unsigned threads = 1;
};
int run_echo(const EchoOptions& opt);

struct ChatOptions : ServerCommon {
  std::size_t queue_limit = 1024 * 1024;
  std::size_t backlog = 25;                          // messages of a room sent to whoever joins it
  int http_port = -1;                                // the web page, WebSocket and long polling (-1: none)
  Duration name_timeout = std::chrono::seconds(60);  // a TCP client that gives no name is dropped (0: never)
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
