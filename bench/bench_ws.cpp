// WebSocket echo load: N clients (greenlets on one hub), each sending a
// SIZE-byte text message and waiting for its echo, again and again, for S
// seconds. Prints one line: messages/s and the p50/p99 round trip in ms over
// the measured seconds, and the echoes of the whole run (warm-up included).
// The clients are Beast websocket streams run with green::yield, so the
// client side costs the same for every server it is pointed at.
// Usage: bench_ws PORT [CLIENTS] [SECONDS] [SIZE]   (1000, 5, 32)
#include <green/green.hpp>
#include <green/net.hpp>
#include <green/yield.hpp>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace std::chrono_literals;
namespace websocket = boost::beast::websocket;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_ws PORT [CLIENTS] [SECONDS] [SIZE]\n");
    return 2;
  }
  const auto port = static_cast<std::uint16_t>(std::atoi(argv[1]));
  const int clients = argc > 2 ? std::atoi(argv[2]) : 1000;
  const auto seconds = std::chrono::seconds(argc > 3 ? std::atoi(argv[3]) : 5);
  const std::size_t size = argc > 4 ? static_cast<std::size_t>(std::atoi(argv[4])) : 32;
  green::net::raise_open_files_limit();
  return green::run([&] {
    std::vector<std::vector<float>> rtts(static_cast<std::size_t>(clients));
    std::uint64_t failed = 0;
    std::uint64_t echoes = 0;  // all of them, warm-up included (the server's CPU time covers those too)
    bool measuring = false, done = false;
    green::Group group;
    for (int i = 0; i < clients; ++i) {
      group.spawn([&, i] {
        try {
          auto s = green::net::TcpStream::connect("127.0.0.1", port, 30s);
          std::error_code ec;
          s.set_nodelay(true, ec);
          websocket::stream<green::net::Tcp::socket&> ws(s.socket());
          ws.async_handshake("127.0.0.1", "/ws", green::yield);
          ws.text(true);
          const std::string msg(size, 'm');
          boost::beast::flat_buffer buf;
          while (!done) {
            const auto t0 = green::Clock::now();
            ws.async_write(boost::asio::buffer(msg), green::yield);
            buf.clear();
            ws.async_read(buf, green::yield);
            if (buf.size() != size) throw std::runtime_error("wrong echo");
            ++echoes;
            if (measuring) {
              rtts[static_cast<std::size_t>(i)].push_back(
                  std::chrono::duration<float, std::milli>(green::Clock::now() - t0).count());
            }
          }
          ws.async_close(websocket::close_code::normal, green::yield);
        } catch (const std::exception& e) {
          if (failed++ == 0) std::fprintf(stderr, "client: %s\n", e.what());
        }
      });
    }
    green::sleep(1s);  // everyone connected and warm
    measuring = true;
    const auto start = green::Clock::now();
    green::sleep(seconds);
    measuring = false;
    const double secs = std::chrono::duration<double>(green::Clock::now() - start).count();
    done = true;
    group.join(10s);
    group.kill();
    std::vector<float> all;
    for (auto& v : rtts) all.insert(all.end(), v.begin(), v.end());
    std::sort(all.begin(), all.end());
    const auto pct = [&](double p) { return all.empty() ? 0.0 : all[static_cast<std::size_t>(p * (all.size() - 1))]; };
    std::printf("msgs_per_s %.0f p50_ms %.2f p99_ms %.2f failed %llu echoes %llu\n", all.size() / secs, pct(0.5),
                pct(0.99), static_cast<unsigned long long>(failed), static_cast<unsigned long long>(echoes));
    return failed ? 1 : 0;
  });
}
