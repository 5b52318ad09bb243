#include "serve/frame.hpp"

#include "common/output.hpp"
#include "common/subcommand.hpp"

#include <green/green.hpp>

#include <csignal>
#include <cstdio>
#include <system_error>

namespace green::tools::serve {

net::address host_or_usage_error(const std::string& host) {
  std::error_code ec;
  auto a = net::parse_address(host, ec);
  if (ec) throw UsageError("--host: cannot use '" + host + "': give a numeric IPv4/IPv6 address or localhost");
  return a;
}

void announce(const net::Tcp::endpoint& ep) {
  std::fprintf(stderr, "listening on %s\n", net::to_string(ep).c_str());
  std::fflush(stderr);
}

int exit_status(int stop_signal) { return stop_signal == SIGINT ? kExitInterrupted : kExitOk; }

StopSignals::StopSignals(std::atomic<int>& first, bool log, std::function<void(int)> on_stop)
    : handler_({SIGINT, SIGTERM}, [&first, log, on_stop = std::move(on_stop)](int sig) {
        if (log) diag_line(std::string("caught ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + ", stopping");
        int none = 0;
        first.compare_exchange_strong(none, sig);
        on_stop(sig);
      }) {}

int serve_on_hub(const ServerCommon& opt, const std::function<int(const net::address&)>& body) {
  net::raise_open_files_limit();
  net::ignore_sigpipe();
  const auto addr = host_or_usage_error(opt.host);
  try {
    return green::run([&] { return body(addr); });
  } catch (const std::system_error& e) {
    diag_line(e.what(), Severity::error);
    return kExitFailure;
  }
}

}  // namespace green::tools::serve
