// The seeds' gevent-websocket server: sends {"x": x, "y": random 1..5} to
// the WebSocket every half second, x counting up from 0. A plain HTTP request
// gets 426 (Upgrade Required).
// Usage: example_web_websocket [PORT] [INTERVAL_MS] (default 10000, 500).
#include "web_common.hpp"

#include <random>

using namespace green::web;

int main(int argc, char** argv) {
  const auto interval = std::chrono::milliseconds(argc > 2 ? std::atoi(argv[2]) : 500);
  green::run([&] {
    Server server(example::endpoint_from(argc, argv, 10000), [&](Request& req, Reply& reply) {
      if (!is_websocket_upgrade(req)) {
        reply.header().result(http::status::upgrade_required);
        reply.header().set(http::field::upgrade, "websocket");
        return;
      }
      WebSocket ws = reply.accept_websocket(req);
      // The sender runs in a greenlet of its own; this one reads, which
      // answers pings and the client's close, and then ends the sender.
      auto sender = green::spawn([&] {
        std::mt19937 rng(std::random_device{}());
        std::uniform_int_distribution<int> y(1, 5);
        for (int x = 0;; ++x) {
          ws.send("{\"x\": " + std::to_string(x) + ", \"y\": " + std::to_string(y(rng)) + "}");
          green::sleep(interval);
        }
      });
      while (ws.receive()) {
      }
      sender.kill();
    });
    example::serve(server);
  });
}
