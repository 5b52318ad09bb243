// A program outside green's tree: two greenlets hand numbers over a Queue.
// Prints "consumer: 0 1 2 3 4 (libgreen VERSION)". Its TLS context proves
// that OpenSSL comes along with green (Asio's ssl code is inline: the
// program itself calls OpenSSL). Its Asio timer on the hub's io_context
// uses the library's Asio services and error categories from the program's
// side (libgreen.so keeps those shared: libgreen/green.map).
#include <green/hub.hpp>
#include <green/io.hpp>
#include <green/queue.hpp>
#include <green/tls.hpp>
#include <green/version.hpp>
#include <green/yield.hpp>

#include <boost/asio/steady_timer.hpp>

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
    boost::asio::steady_timer timer(green::io_context(), std::chrono::hours(1));
    auto waiter = green::spawn([&] {
      boost::system::error_code ec;
      timer.async_wait(green::yield[ec]);
      return ec == boost::asio::error::operation_aborted;
    });
    green::sleep(std::chrono::milliseconds(1));
    timer.cancel();
    if (!waiter.get()) out += " (the cancelled timer did not report operation_aborted)";
    return out;
  });
  std::printf("consumer: %s (libgreen %s)\n", got.c_str(), green::version());
}
