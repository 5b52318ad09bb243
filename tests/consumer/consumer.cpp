// A program outside green's tree: two greenlets hand numbers over a Queue.
// Prints "consumer: 0 1 2 3 4 (libgreen VERSION)". Its TLS context proves
// that OpenSSL comes along with green (Asio's ssl code is inline: the
// program itself calls OpenSSL).
#include <green/hub.hpp>
#include <green/queue.hpp>
#include <green/tls.hpp>
#include <green/version.hpp>

#include <cstdio>
#include <string>

int main() {
  auto tls = green::net::tls_client_context();
  tls->set_verify_mode(boost::asio::ssl::verify_peer);
  const std::string got = green::run([] {
    green::Queue<int> q;
    auto producer = green::spawn([&] {
      for (int i = 0; i < 5; ++i) q.put(i);
      q.close();
    });
    std::string out;
    while (auto v = q.next()) out += (out.empty() ? "" : " ") + std::to_string(*v);
    producer.join();
    return out;
  });
  std::printf("consumer: %s (libgreen %s)\n", got.c_str(), green::version());
}
