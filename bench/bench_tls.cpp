// TLS echo round trips: green's TlsStreamServer against a plain
// single-threaded Boost.Asio ssl::stream callback server, both driven by the
// same client. bench/tls_bench.sh runs them side by side.
//
//   bench_tls green-server CERT KEY     prints "port N", serves until killed
//   bench_tls asio-server CERT KEY      the same with Asio callbacks
//   bench_tls client PORT CA_FILE CONNS ROUNDS
//       CONNS TLS connections (handshakes first, not timed), then each makes
//       ROUNDS 64-byte request/response round trips; prints one key=value line
#include <green/event.hpp>
#include <green/hub.hpp>
#include <green/tls.hpp>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using asio::ip::tcp;

namespace {

constexpr std::size_t kMessage = 64;

void print_port(std::uint16_t port) {
  std::printf("port %u\n", port);
  std::fflush(stdout);
}

int green_server(const std::string& cert, const std::string& key) {
  return green::run([&] {
    green::net::TlsServerOptions tls;
    tls.cert_file = cert;
    tls.key_file = key;
    green::net::TlsStreamServer server(
        "127.0.0.1", 0,
        [](green::net::TlsStream& s) {
          std::error_code ec;
          s.set_nodelay(true, ec);
          std::array<char, 16 * 1024> buf;
          while (std::size_t n = s.read_some(buf, ec)) {
            s.write_all(std::string_view(buf.data(), n), ec);
            if (ec) return;
          }
        },
        std::move(tls));
    print_port(server.local_endpoint().port());
    server.serve_forever();
    return 0;
  });
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket s, ssl::context& ctx) : stream_(std::move(s), ctx) {}
  void start() {
    boost::system::error_code ec;
    stream_.next_layer().set_option(tcp::no_delay(true), ec);
    stream_.async_handshake(ssl::stream_base::server, [self = shared_from_this()](boost::system::error_code e) {
      if (!e) self->read();
    });
  }

 private:
  void read() {
    stream_.async_read_some(asio::buffer(buf_),
                            [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
                              if (!ec) self->write(n);
                            });
  }
  void write(std::size_t n) {
    asio::async_write(stream_, asio::buffer(buf_.data(), n),
                      [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                        if (!ec) self->read();
                      });
  }
  ssl::stream<tcp::socket> stream_;
  std::array<char, 16 * 1024> buf_;
};

void accept_loop(tcp::acceptor& acceptor, ssl::context& ctx) {
  acceptor.async_accept([&](boost::system::error_code ec, tcp::socket s) {
    if (!ec) std::make_shared<Session>(std::move(s), ctx)->start();
    accept_loop(acceptor, ctx);
  });
}

int asio_server(const std::string& cert, const std::string& key) {
  asio::io_context io(1);
  ssl::context ctx(ssl::context::tls_server);
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                  ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  ctx.use_certificate_chain_file(cert);
  ctx.use_private_key_file(key, ssl::context::pem);
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  print_port(acceptor.local_endpoint().port());
  accept_loop(acceptor, ctx);
  io.run();
  return 0;
}

int client(std::uint16_t port, const std::string& ca_file, int conns, int rounds) {
  return green::run([&] {
    green::net::TlsClientOptions opt;
    opt.context = green::net::tls_client_context(ca_file);
    std::vector<green::net::TlsStream> streams;
    for (int i = 0; i < conns; ++i) {
      streams.push_back(green::net::TlsStream::connect("localhost", port, std::chrono::seconds(30), opt));
      std::error_code ec;
      streams.back().set_nodelay(true, ec);
    }
    const std::string msg(kMessage, 'x');
    const auto start = std::chrono::steady_clock::now();
    std::vector<green::Greenlet<void>> workers;
    for (auto& s : streams) {
      workers.push_back(green::spawn([&s, &msg, rounds] {
        std::array<char, kMessage> buf;
        for (int r = 0; r < rounds; ++r) {
          s.write_all(msg);
          std::size_t got = 0;
          while (got < kMessage) {
            const std::size_t n = s.read_some(std::span<char>(buf.data() + got, kMessage - got));
            if (n == 0) throw std::runtime_error("server closed");
            got += n;
          }
        }
      }));
    }
    for (auto& w : workers) w.get();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("conns=%d rounds=%d seconds=%.3f rt_per_s=%.0f\n", conns, rounds, secs,
                static_cast<double>(conns) * rounds / secs);
    return 0;
  });
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  try {
    if (mode == "green-server" && argc == 4) return green_server(argv[2], argv[3]);
    if (mode == "asio-server" && argc == 4) return asio_server(argv[2], argv[3]);
    if (mode == "client" && argc == 6) {
      return client(static_cast<std::uint16_t>(std::atoi(argv[2])), argv[3], std::atoi(argv[4]), std::atoi(argv[5]));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_tls: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr,
               "usage: bench_tls green-server|asio-server CERT KEY\n"
               "       bench_tls client PORT CA_FILE CONNS ROUNDS\n");
  return 2;
}
