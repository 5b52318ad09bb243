// `green serve echo`: the seeds' first example (gevent's StreamServer echo
// server) as a server that stays up. One greenlet per connection copies bytes
// back as they arrive; --threads N runs N hubs on one port (SO_REUSEPORT).
#include "common/output.hpp"
#include "common/subcommand.hpp"
#include "serve/frame.hpp"

#include <green/green.hpp>
#include <green/net.hpp>

#include <atomic>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace green::tools::serve {

namespace {

using green::net::StreamServer;
using green::net::TcpStream;

// Shared by every hub of `serve echo --threads N`, for the summary.
struct EchoStats {
  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::uint64_t> clients{0};  // now, on every listener of every hub
  std::atomic<std::uint64_t> bytes{0};
  std::atomic<int> stop_signal{0};
};

class EchoServer final : public HubServer {
 public:
  EchoServer(const EchoOptions& opt, EchoStats& stats, Duration idle, const net::Tcp::endpoint& ep, bool reuse_port)
      : opt_(opt),
        stats_(stats),
        idle_(idle),
        server_(
            ep, [this](TcpStream& s) { handle(s); }, options(opt, reuse_port)) {}

  net::Tcp::endpoint local_endpoint() const override { return server_.local_endpoint(); }

  // Serves until SIGINT/SIGTERM.
  void run() override {
    StopSignals signals(stats_.stop_signal, opt_.verbose, [this](int) { server_.stop(); });
    server_.serve_forever();
  }

  void stop() override { server_.stop(); }

 private:
  static net::StreamServerOptions options(const EchoOptions& opt, bool reuse_port) {
    net::StreamServerOptions o;
    o.max_connections = opt.max_clients;
    o.reject_when_full = true;
    o.reuse_port = reuse_port;
    if (opt.verbose) {
      o.on_error = [](const net::Tcp::endpoint& peer, std::exception_ptr e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          diag_line(net::to_string(peer) + ": " + ex.what());
        } catch (...) {
          diag_line(net::to_string(peer) + ": unknown error");
        }
      };
    }
    return o;
  }

  void handle(TcpStream& s) {
    const std::string who = opt_.verbose ? net::to_string(s.remote_endpoint()) : std::string();
    ++stats_.connections;
    const std::uint64_t clients = ++stats_.clients;
    if (opt_.verbose) diag_line("connect " + who + " (" + count_of(clients, "client") + ")");
    std::error_code ec;
    s.set_nodelay(true, ec);
    std::uint64_t bytes = 0;
    // Into the summary even when a stop kills this greenlet mid-loop.
    struct Tally {
      EchoStats& stats;
      const std::uint64_t& n;
      ~Tally() {
        stats.bytes += n;
        --stats.clients;
      }
    } tally{stats_, bytes};
    const char* why = "closed by peer";
    // Reads go into one buffer per hub (thread) shared by every connection
    // (read_shared() writes it only after its wait), used up to the
    // try_write() after it with no switch in between: an idle connection
    // costs little more than its greenlet's top stack page. Bytes the peer
    // does not take at once go to a buffer of the connection's own, freed
    // once written.
    const std::span<char> shared = green::scratch_buffer();
    const Duration idle = idle_ > Duration::zero() ? idle_ : forever;
    for (;;) {
      const std::size_t n = s.read_shared(shared, idle, ec);
      if (ec) {
        why = ec == std::errc::timed_out ? "idle timeout" : "read error";
        break;
      }
      if (n == 0) break;
      const std::size_t sent = s.try_write(std::string_view(shared.data(), n), ec);
      if (!ec && sent < n) {
        const std::string rest(shared.data() + sent, n - sent);
        s.write_all(rest, ec);
      }
      if (ec) {
        why = "write error";
        break;
      }
      bytes += n;
    }
    if (opt_.verbose) {
      diag_line("disconnect " + who + ": " + why + (ec ? " (" + ec.message() + ")" : std::string()) + ", " +
                count_of(bytes, "byte") + " echoed");
    }
  }

  const EchoOptions& opt_;
  EchoStats& stats_;
  Duration idle_;
  StreamServer server_;
};

}  // namespace

int run_echo(const EchoOptions& opt) {
  EchoStats stats;
  const auto start = Clock::now();
  return serve_on_hub(opt, [&](const std::vector<net::address>& addrs) {
    const int status = run_hubs(opt.threads, addrs, opt.port, [&](const net::Tcp::endpoint& ep, bool reuse_port) {
      return std::make_unique<EchoServer>(opt, stats, opt.idle_timeout, ep, reuse_port);
    });
    if (status != kExitOk) return status;
    diag_summary("{} connection{}, {} echoed in {:.1f} s", stats.connections.load(), stats.connections == 1 ? "" : "s",
         human_bytes(stats.bytes), seconds_since(start));
    return exit_status(stats.stop_signal);
  });
}

}  // namespace green::tools::serve
