#include "serve/frame.hpp"

#include "common/output.hpp"
#include "common/subcommand.hpp"

#include <green/green.hpp>

#include <boost/asio/post.hpp>

#include <csignal>
#include <cstdio>
#include <future>
#include <system_error>
#include <thread>
#include <vector>

namespace green::tools::serve {

std::vector<net::address> hosts_or_usage_error(const std::string& host) {
  // A client may look localhost up as either family (curl tries ::1 first).
  if (host == "localhost") return {boost::asio::ip::address_v4::loopback(), boost::asio::ip::address_v6::loopback()};
  std::error_code ec;
  auto a = net::parse_address(host, ec);
  if (ec) throw UsageError("--host: cannot use '" + host + "': give a numeric IPv4/IPv6 address or localhost");
  return {a};
}

void report_unbound(const std::string& why) { diag_line(why + "; serving on the other address", Severity::warning); }

void announce(const net::Tcp::endpoint& ep) {
  Output::err().diag("listening on " + net::to_string(ep) + "\n", /*keep=*/true);
}

int exit_status(int stop_signal) { return stop_signal == SIGINT ? kExitInterrupted : kExitOk; }

StopSignals::StopSignals(std::atomic<int>& first, bool log, std::function<void(int)> on_stop)
    : handler_({SIGINT, SIGTERM}, [&first, log, on_stop = std::move(on_stop)](int sig) {
        // Every server of the process (a hub per thread, a listener per
        // address) sees the signal; the one that records it first logs it.
        int none = 0;
        if (first.compare_exchange_strong(none, sig) && log)
          diag_line(std::string("caught ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + ", stopping");
        on_stop(sig);
      }) {}

namespace {
// A hub's servers, one per address, until each has stopped.
void run_all(const std::vector<std::unique_ptr<HubServer>>& servers) {
  green::Group others;
  for (std::size_t i = 1; i < servers.size(); ++i) others.spawn([s = servers[i].get()] { s->run(); });
  servers.front()->run();
  others.join();
}
}  // namespace

int run_hubs(unsigned threads, const std::vector<net::address>& addrs, std::uint16_t port, const MakeHubServer& make) {
  const bool reuse_port = threads > 1;
  std::vector<std::unique_ptr<HubServer>> first =
      listen_on_each(addrs, port, [&](const net::Tcp::endpoint& ep) { return make(ep, reuse_port); });
  std::vector<net::Tcp::endpoint> bound;
  for (const auto& s : first) bound.push_back(s->local_endpoint());
  struct Started {
    boost::asio::io_context* io;
    std::vector<HubServer*> servers;
  };
  std::vector<std::thread> extra;
  std::vector<std::future<Started>> ready;
  for (unsigned i = 1; i < threads; ++i) {
    auto promise = std::make_shared<std::promise<Started>>();
    ready.push_back(promise->get_future());
    extra.emplace_back([&make, bound, promise] {
      try {
        green::run([&] {
          std::vector<std::unique_ptr<HubServer>> servers;
          Started started{&green::io_context(), {}};
          for (const auto& ep : bound) {
            servers.push_back(make(ep, true));
            started.servers.push_back(servers.back().get());
          }
          promise->set_value(std::move(started));
          run_all(servers);
        });
      } catch (...) {
        try {
          promise->set_exception(std::current_exception());
        } catch (const std::future_error&) {
          // already started: the error came later and ends only this hub
        }
      }
    });
  }
  std::vector<Started> started;
  std::string failure;
  for (auto& f : ready) {
    try {
      started.push_back(f.get());  // blocks this thread briefly, before any client is served
    } catch (const std::exception& e) {
      if (failure.empty()) failure = e.what();
    }
  }
  if (!failure.empty()) {
    diag_line("cannot start a server thread: " + failure, Severity::error);
    for (const Started& s : started) {
      // Runs on that hub; a posted callback may spawn but not switch.
      boost::asio::post(*s.io, [servers = s.servers] {
        green::spawn([servers] {
          for (HubServer* srv : servers) srv->stop();
        });
      });
    }
    for (auto& t : extra) t.join();
    return kExitFailure;
  }
  for (const auto& ep : bound) announce(ep);
  run_all(first);
  for (auto& t : extra) t.join();
  return kExitOk;
}

int serve_on_hub(const ServerCommon& opt, const std::function<int(const std::vector<net::address>&)>& body) {
  net::raise_open_files_limit();
  net::ignore_sigpipe();
  const auto addrs = hosts_or_usage_error(opt.host);
  try {
    return green::run([&] {
      const int rc = body(addrs);
      Output::err().flush_at_exit();
      return rc;
    });
  } catch (const std::system_error& e) {
    diag_line(e.what(), Severity::error);
    return kExitFailure;
  }
}

}  // namespace green::tools::serve
