// What the web examples share: the port from argv, "listening on" and a
// clean stop on SIGINT/SIGTERM. Not part of libgreen.
#pragma once

#include <green/green.hpp>
#include <green/web.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace example {

inline green::net::Tcp::endpoint endpoint_from(int argc, char** argv, int default_port) {
  const int port = argc > 1 ? std::atoi(argv[1]) : default_port;
  return {boost::asio::ip::address_v4::loopback(), static_cast<std::uint16_t>(port)};
}

// Serves until SIGINT or SIGTERM, then stops gracefully.
inline void serve(green::web::Server& server) {
  green::SignalHandler stop({SIGINT, SIGTERM}, [&](int) { server.stop(std::chrono::seconds(1)); });
  std::fprintf(stderr, "listening on %s\n", green::net::to_string(server.local_endpoint()).c_str());
  std::fflush(stderr);
  server.serve_forever();
}

}  // namespace example
