// green::yield: Asio and Beast operations on a greenlet, cancelled by kill and
// Timeout through their cancellation slots; servers that fail say so.
#include <green/yield.hpp>

#include <green/net.hpp>

#include "green_test.hpp"

#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <array>
#include <cstdint>
#include <system_error>
#include <string>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using Local = asio::local::stream_protocol;

struct Pair {
  Local::socket a{green::io_context()};
  Local::socket b{green::io_context()};
  Pair() { asio::local::connect_pair(a, b); }
};

GREEN_TEST(Yield, AnAsioOperationParksOnlyItsGreenlet) {
  asio::steady_timer timer(green::io_context(), 20ms);
  bool other_ran = false;
  auto other = green::spawn([&] { other_ran = true; });
  timer.async_wait(green::yield);
  EXPECT_TRUE(other_ran);
  other.join();
}

GREEN_TEST(Yield, ReturnsTheCompletionValueOrThrowsItsError) {
  Pair p;
  asio::write(p.b, asio::buffer(std::string("hello")));
  std::array<char, 16> buf{};
  const std::size_t n = p.a.async_read_some(asio::buffer(buf), green::yield);
  EXPECT_EQ(std::string(buf.data(), n), "hello");

  p.b.close();
  boost::system::error_code ec = asio::error::would_block;  // cleared or set by the call
  EXPECT_EQ(p.a.async_read_some(asio::buffer(buf), green::yield[ec]), 0u);
  EXPECT_EQ(ec, asio::error::eof);
  EXPECT_THROW(p.a.async_read_some(asio::buffer(buf), green::yield), boost::system::system_error);
}

GREEN_TEST(Yield, KillCancelsAParkedReadThroughItsSlotAndRaisesGreenletExit) {
  Pair p;
  bool returned = false;
  auto reader = green::spawn([&] {
    std::array<char, 16> buf{};
    p.a.async_read_some(asio::buffer(buf), green::yield);
    returned = true;
  });
  green::sleep(green::testing::scaled(10ms));
  reader.kill();
  EXPECT_TRUE(reader.dead());
  EXPECT_FALSE(returned);
  // Cancelled, not closed: the socket still works afterwards.
  EXPECT_TRUE(p.a.is_open());
  asio::write(p.b, asio::buffer(std::string("x")));
  std::array<char, 4> buf{};
  EXPECT_EQ(p.a.async_read_some(asio::buffer(buf), green::yield), 1u);
}

GREEN_TEST(Yield, TimeoutCancelsABeastReadAndIsRaisedAsItself) {
  Pair p;
  // Half a request: Beast's read waits for the rest, which never comes.
  asio::write(p.b, asio::buffer(std::string("GET / HTTP/1.1\r\nHost: x\r\n")));
  boost::beast::flat_buffer buffer;
  http::request<http::string_body> req;
  bool timed_out = false;
  green::Timeout limit(30ms);
  try {
    boost::system::error_code ec;
    http::async_read(p.a, buffer, req, green::yield[ec]);
    ADD_FAILURE() << "the read returned: " << ec.message();
  } catch (const green::Timeout& t) {
    timed_out = t == limit;
  }
  EXPECT_TRUE(timed_out);
}

GREEN_TEST(Yield, BeastWritesAndReadsARequestThroughTheToken) {
  Pair p;
  auto writer = green::spawn([&] {
    http::request<http::string_body> req{http::verb::post, "/x", 11};
    req.set(http::field::host, "h");
    req.body() = "payload";
    req.prepare_payload();
    http::async_write(p.b, req, green::yield);
  });
  boost::beast::flat_buffer buffer;
  http::request<http::string_body> got;
  const std::size_t n = http::async_read(p.a, buffer, got, green::yield);
  EXPECT_GT(n, 0u);
  EXPECT_EQ(got.target(), "/x");
  EXPECT_EQ(got.body(), "payload");
  writer.join();
}

GREEN_TEST(Yield, ADatagramHandlerThatThrowsEndsServeForeverWithItsError) {
  green::net::DatagramServer server(green::net::Udp::endpoint(boost::asio::ip::address_v4::loopback(), 0),
                                    [](green::net::UdpSocket&, std::string_view, const green::net::Udp::endpoint&) {
                                      throw std::runtime_error("handler failed");
                                    });
  auto sender = green::spawn([&] {
    green::net::UdpSocket s(green::net::Udp::endpoint(boost::asio::ip::address_v4::loopback(), 0));
    s.send_to("x", server.local_endpoint());
  });
  EXPECT_THROW(
      {
        try {
          server.serve_forever();
        } catch (const std::runtime_error& e) {
          EXPECT_STREQ(e.what(), "handler failed");
          throw;
        }
      },
      std::runtime_error);
  sender.join();
}

// The descriptor listening on `port` (TCP, SO_ACCEPTCONN), or -1.
int listener_fd(std::uint16_t port) {
  for (int fd = 0; fd < 4096; ++fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    int listening = 0;
    socklen_t ilen = sizeof listening;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0 || ss.ss_family != AF_INET) continue;
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ilen) != 0 || !listening) continue;
    if (ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port) == port) return fd;
  }
  return -1;
}

GREEN_TEST(Yield, AStreamServerWhoseAcceptLoopFailsEndsServeForeverWithItsError) {
  green::net::StreamServer server("127.0.0.1", 0, [](green::net::TcpStream&) {});
  // A UDP socket in the listener's place: accept4 fails with EOPNOTSUPP,
  // an error the accept loop does not retry.
  const int fd = listener_fd(server.local_endpoint().port());
  ASSERT_GE(fd, 0);
  const int udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(udp, 0);
  ASSERT_EQ(::dup2(udp, fd), fd);
  ::close(udp);
  EXPECT_THROW(server.serve_forever(), std::system_error);
  server.stop();
}

}  // namespace
