// gevent's examples/echoserver.py with TLS (StreamServer(..., keyfile=,
// certfile=)), and a client for it.
//
//   example_tls_echo server CERT KEY [PORT]      serves on 127.0.0.1 (PORT 0 or
//                                                none: any free port, printed)
//   example_tls_echo client HOST PORT CA_FILE LINE...
//                                                sends each LINE, prints the
//                                                replies (the server's
//                                                certificate checked against
//                                                CA_FILE; "" for the system store)
//
//   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes
//     -keyout key.pem -out cert.pem -days 1 -subj /CN=localhost
//     -addext subjectAltName=DNS:localhost,IP:127.0.0.1
//   example_tls_echo server cert.pem key.pem 16000 &
//   example_tls_echo client localhost 16000 cert.pem hello 'how are you' quit
#include <green/hub.hpp>
#include <green/tls.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

using green::net::TlsStream;

// The greenlet of one connection: its handshake has already happened, in
// this same greenlet, bounded by TlsServerOptions::handshake_timeout.
void echo(TlsStream& s) {
  std::printf("New connection from %s (%s)\n", green::net::to_string(s.remote_endpoint()).c_str(),
              s.protocol().c_str());
  std::fflush(stdout);
  s.write_all("Welcome to the echo server! Type quit to exit.\r\n");
  for (;;) {
    const std::string line = s.read_line();
    if (line.empty()) {
      std::printf("client disconnected\n");
      return;
    }
    if (line.rfind("quit", 0) == 0) return;
    s.write_all(line);
  }
}

int serve(const std::string& cert, const std::string& key, std::uint16_t port) {
  green::net::TlsServerOptions tls;
  tls.cert_file = cert;
  tls.key_file = key;
  tls.on_handshake_error = [](const green::net::Tcp::endpoint& peer, const std::error_code& ec) {
    std::fprintf(stderr, "handshake with %s failed: %s\n", green::net::to_string(peer).c_str(), ec.message().c_str());
  };
  green::net::TlsStreamServer server("127.0.0.1", port, echo, std::move(tls));
  std::printf("Starting echo server on port %u\n", server.local_endpoint().port());
  std::fflush(stdout);
  server.serve_forever();
  return 0;
}

int client(const std::string& host, std::uint16_t port, const std::string& ca_file,
           const std::vector<std::string>& lines) {
  green::net::TlsClientOptions opt;
  opt.ca_file = ca_file;
  TlsStream s = TlsStream::connect(host, port, std::chrono::seconds(10), opt);
  std::fputs(s.read_line().c_str(), stdout);  // the welcome line
  for (const std::string& line : lines) {
    s.write_all(line + "\n");
    if (line == "quit") break;
    std::fputs(s.read_line().c_str(), stdout);
  }
  s.shutdown();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view mode = argc > 1 ? argv[1] : "";
  try {
    if (mode == "server" && (argc == 4 || argc == 5)) {
      const auto port = static_cast<std::uint16_t>(argc == 5 ? std::atoi(argv[4]) : 0);
      return green::run([&] { return serve(argv[2], argv[3], port); });
    }
    if (mode == "client" && argc >= 5) {
      const auto port = static_cast<std::uint16_t>(std::atoi(argv[3]));
      const std::vector<std::string> lines(argv + 5, argv + argc);
      return green::run([&] { return client(argv[2], port, argv[4], lines); });
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "example_tls_echo: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr,
               "usage: example_tls_echo server CERT KEY [PORT]\n"
               "       example_tls_echo client HOST PORT CA_FILE LINE...\n");
  return 2;
}
