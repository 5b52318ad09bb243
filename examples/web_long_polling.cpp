// The seeds' long polling: a producer greenlet puts "Hallo Welt" on a queue
// every second; each request streams what arrives as JSON lines, waiting up
// to 5 s at a time (an empty wait just waits again), until the client leaves.
// Usage: example_web_long_polling [PORT] [INTERVAL_MS] (default 8000, 1000).
#include "web_common.hpp"

#include <green/queue.hpp>

using namespace green::web;
using namespace std::chrono_literals;

int main(int argc, char** argv) {
  const auto interval = std::chrono::milliseconds(argc > 2 ? std::atoi(argv[2]) : 1000);
  green::run([&] {
    green::Queue<std::string> data_source;
    auto producer = green::spawn([&] {
      for (;;) {
        data_source.put_nowait("Hallo Welt");
        green::sleep(interval);
      }
    });
    Server server(example::endpoint_from(argc, argv, 8000), [&](Request&, Reply& reply) {
      reply.header().set(http::field::content_type, "application/json");
      for (;;) {
        try {
          const std::string datum = data_source.get(5s);
          reply.write("\"" + datum + "\"\n");  // json.dumps of a plain ASCII string
        } catch (const green::Timeout&) {
          // Empty: wait again
        }
      }
    });
    example::serve(server);
    producer.kill();
  });
}
