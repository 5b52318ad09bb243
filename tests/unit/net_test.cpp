// green::net: streams, servers and UDP over loopback, on the hub.
#include <green/detail/line_buffer.hpp>
#include <green/net.hpp>

#include "green_test.hpp"
#include "stream_checks.hpp"

#include <sys/resource.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

namespace {

using green::net::DatagramServer;
using green::net::StreamServer;
using green::net::TcpStream;
using green::net::Udp;
using green::net::UdpSocket;

StreamServer line_echo(green::net::StreamServerOptions opt = {}) {
  return StreamServer("127.0.0.1", 0, green::testing::echo_lines<TcpStream>, std::move(opt));
}

GREEN_TEST(Net, ConnectReadLineAndWriteAllRoundTrip) {
  StreamServer server = line_echo();
  server.start();
  EXPECT_NE(server.local_endpoint().port(), 0) << "port 0 must report the real port";
  TcpStream c = TcpStream::connect("127.0.0.1", server.local_endpoint().port(), 5s);
  c.write_all("first\nsecond\nthird");
  EXPECT_EQ(c.read_line(), "first\n");
  EXPECT_EQ(c.read_line(), "second\n");
  c.write_all(" line\n");
  EXPECT_EQ(c.read_line(), "third line\n");
  c.close();
  server.stop(1s);
  EXPECT_EQ(server.accepted(), 1u);
  EXPECT_EQ(server.connections(), 0u);
}

GREEN_TEST(Net, ReadLineReturnsLongLinesInPiecesOfMax) {
  StreamServer server = line_echo();
  server.start();
  TcpStream c = TcpStream::connect("localhost", server.local_endpoint().port());
  c.write_all("abcdefghij\nxy\n");
  EXPECT_EQ(c.read_line(4), "abcd");
  EXPECT_EQ(c.read_line(4), "efgh");
  EXPECT_EQ(c.read_line(4), "ij\n");
  char buf[16];
  // read_some serves what read_line left buffered first.
  std::size_t n = c.read_some(buf);
  EXPECT_EQ(std::string(buf, n), "xy\n");
  c.close();
  server.stop(1s);
}

// The buffer TcpStream and TlsStream read lines through, fed by a reader
// that splits lines, sends one longer than the buffer, then fails.
TEST(LineBuffer, LinesCrossRefillsAndAnErrorReturnsThePartialLine) {
  std::vector<std::string> chunks = {"ab", "c\nde", std::string(40000, 'x') + "\n", "tail"};
  std::size_t next = 0;
  auto read = [&](std::span<char> space, std::error_code& ec) -> std::size_t {
    if (next == chunks.size()) {
      ec = std::make_error_code(std::errc::connection_reset);
      return 0;
    }
    std::string& c = chunks[next];
    const std::size_t n = std::min(space.size(), c.size());
    std::memcpy(space.data(), c.data(), n);
    c.erase(0, n);
    if (c.empty()) ++next;
    return n;
  };
  green::detail::LineBuffer first;
  std::error_code ec;
  EXPECT_EQ(first.read_line(64, ec, read), "abc\n");
  green::detail::LineBuffer b = std::move(first);
  EXPECT_EQ(first.size(), 0u);
  ASSERT_EQ(b.size(), 2u);
  char one[1];
  EXPECT_EQ(b.take(one), 1u);
  EXPECT_EQ(one[0], 'd');
  EXPECT_EQ(b.read_line(2, ec, read), "ex") << "cut at max, across a refill";
  EXPECT_EQ(b.read_line(64 * 1024, ec, read), std::string(39999, 'x') + "\n");
  EXPECT_FALSE(ec);
  EXPECT_EQ(b.read_line(64, ec, read), "tail");
  EXPECT_EQ(ec, std::errc::connection_reset);
  EXPECT_EQ(b.read_line(0, ec, read), "");
  EXPECT_FALSE(ec);
}

GREEN_TEST(Net, HalfCloseDeliversEndOfStreamAndKeepsReading) {
  StreamServer server("127.0.0.1", 0, [](TcpStream& s) {
    std::string all;
    char buf[64];
    while (std::size_t n = s.read_some(buf)) all.append(buf, n);
    s.write_all("got " + all);  // the peer still reads after its half-close
  });
  server.start();
  TcpStream c = TcpStream::connect("127.0.0.1", server.local_endpoint().port());
  c.write_all("request");
  c.shutdown_write();
  EXPECT_EQ(c.read_line(), "got request");
  EXPECT_EQ(c.read_line(), "") << "end of stream after the handler returned";
  server.stop(1s);
}

GREEN_TEST(Net, TimeoutWhileBlockedInReadCancelsAndTheStreamStaysUsable) {
  StreamServer server = line_echo();
  server.start();
  TcpStream c = TcpStream::connect("127.0.0.1", server.local_endpoint().port());
  green::testing::expect_timeout_leaves_stream_usable(c);
  c.close();
  server.stop(1s);
}

GREEN_TEST(Net, KillWhileBlockedInReadUnwindsTheReader) {
  StreamServer server = line_echo();
  server.start();
  TcpStream c = TcpStream::connect("127.0.0.1", server.local_endpoint().port());
  green::testing::expect_kill_unwinds_parked_reader(c);
  c.close();
  server.stop(1s);
}

GREEN_TEST(Net, ClosingAStreamWakesItsParkedReaderWithAnError) {
  StreamServer server = line_echo();
  server.start();
  TcpStream c = TcpStream::connect("127.0.0.1", server.local_endpoint().port());
  std::error_code ec;
  auto reader = green::spawn([&] { c.read_line(1024, ec); });
  green::sleep(green::testing::scaled(5ms));
  c.close();
  reader.join();
  EXPECT_TRUE(ec) << "a read cut off by close() reports an error";
  server.stop(1s);
}

GREEN_TEST(Net, VanishedPeerIsAnErrorOnThatConnectionOnly) {
  green::net::ignore_sigpipe();
  StreamServer server("127.0.0.1", 0, [](TcpStream& s) { s.close(); });
  server.start();
  TcpStream c = TcpStream::connect("127.0.0.1", server.local_endpoint().port());
  EXPECT_EQ(c.read_line(), "");  // the server closed
  std::error_code ec;
  std::string block(64 * 1024, 'x');
  for (int i = 0; i < 100 && !ec; ++i) c.write_all(block, ec);
  EXPECT_TRUE(ec == std::errc::broken_pipe || ec == std::errc::connection_reset) << ec.message();
  EXPECT_THROW(c.write_all(block), std::system_error);
  server.stop(1s);
}

// A scratch file of `size` bytes with a pattern that shows misplaced bytes.
struct PatternFile {
  int fd = -1;
  std::string bytes;
  explicit PatternFile(std::size_t size) {
    char tmpl[] = "/tmp/green-sendfile-XXXXXX";
    fd = ::mkstemp(tmpl);
    ::unlink(tmpl);
    bytes.resize(size);
    for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>((i * 131 + i / 4096) & 0xff);
    EXPECT_EQ(::pwrite(fd, bytes.data(), size, 0), static_cast<ssize_t>(size));
  }
  ~PatternFile() { ::close(fd); }
};

GREEN_TEST(Net, SendFileSendsExactlyTheRangeAskedForThroughAFullSocketBuffer) {
  PatternFile file(6 * 1024 * 1024 + 123);  // far more than a socket buffer: the sender parks
  green::AsyncResult<std::uint64_t> sent;
  StreamServer server("127.0.0.1", 0, [&](TcpStream& s) {
    std::uint64_t n = s.send_file(file.fd, 5, file.bytes.size() - 10);
    n += s.send_file(file.fd, 0, 0);
    sent.set(n);
  });
  server.start();
  TcpStream c = TcpStream::connect("127.0.0.1", server.local_endpoint().port());
  std::string got;
  std::string buf(65536, '\0');  // on the heap: greenlet stacks are small
  while (got.size() < file.bytes.size() - 10) {
    const std::size_t n = c.read_some(buf);
    if (n == 0) break;
    got.append(buf, 0, n);
  }
  EXPECT_EQ(sent.get(), file.bytes.size() - 10);
  EXPECT_TRUE(got == file.bytes.substr(5, file.bytes.size() - 10)) << "the bytes differ";
  EXPECT_EQ(::lseek(file.fd, 0, SEEK_CUR), 0) << "the file's own offset moved";
  server.stop(1s);
}

GREEN_TEST(Net, SendFileStopsShortAtTheEndOfTheFileAndFailsOnAClosedStream) {
  PatternFile file(1000);
  green::AsyncResult<std::uint64_t> sent;
  StreamServer server("127.0.0.1", 0, [&](TcpStream& s) { sent.set(s.send_file(file.fd, 900, 5000)); });
  server.start();
  TcpStream c = TcpStream::connect("127.0.0.1", server.local_endpoint().port());
  EXPECT_EQ(sent.get(), 100u);
  std::error_code ec;
  c.close();
  EXPECT_EQ(c.send_file(file.fd, 0, 10, ec), 0u);
  EXPECT_EQ(ec, std::errc::bad_file_descriptor);
  EXPECT_THROW(c.send_file(file.fd, 0, 10), std::system_error);
  server.stop(1s);
}

GREEN_TEST(Net, SendFileGivesUpOnAPeerThatTakesNothingForTheStallLimit) {
  PatternFile file(16 * 1024 * 1024);  // more than any loopback socket buffer pair holds
  green::AsyncResult<std::pair<std::uint64_t, std::error_code>> result;
  StreamServer server("127.0.0.1", 0, [&](TcpStream& s) {
    std::error_code ec;
    const std::uint64_t n = s.send_file(file.fd, 0, file.bytes.size(), ec, 200ms);
    result.set({n, ec});
  });
  server.start();
  TcpStream c = TcpStream::connect("127.0.0.1", server.local_endpoint().port());  // never reads
  const auto [n, ec] = result.get();
  EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
  EXPECT_GT(n, 0u);
  EXPECT_LT(n, file.bytes.size());
  server.stop(1s);
}

GREEN_TEST(Net, ConnectFailuresFillTheErrorCodeOrThrow) {
  std::uint16_t port;
  {
    StreamServer s = line_echo();
    port = s.local_endpoint().port();
  }  // closed: nothing listens there now
  std::error_code ec;
  TcpStream c = TcpStream::connect("127.0.0.1", port, 5s, ec);
  EXPECT_EQ(ec, std::errc::connection_refused) << ec.message();
  EXPECT_FALSE(c.is_open());
  EXPECT_THROW(TcpStream::connect("127.0.0.1", port), std::system_error);
  // Names other than localhost are refused at once instead of blocking the hub.
  TcpStream::connect("name.invalid", 80, 5s, ec);
  EXPECT_TRUE(ec);
  EXPECT_THROW(green::net::parse_address("name.invalid"), std::system_error);
}

// Reads everything until end of stream with wait_readable() + try_read().
std::string read_to_end_without_waiting_reads(TcpStream& s) {
  std::string all;
  char buf[4];  // small: several reads per message
  for (;;) {
    s.wait_readable();
    std::error_code ec;
    const std::size_t n = s.try_read(buf, ec);
    if (ec == std::errc::operation_would_block) continue;
    EXPECT_FALSE(ec) << ec.message();
    if (ec || n == 0) return all;
    all.append(buf, n);
  }
}

GREEN_TEST(Net, TryReadSaysWouldBlockThenReadsWhatArrivedThenEndOfStream) {
  green::Event got_request;
  StreamServer server("127.0.0.1", 0, [&](TcpStream& s) {
    // The request ends with the client's half-close.
    const std::string request = read_to_end_without_waiting_reads(s);
    got_request.set();
    s.write_all("got " + request);
  });
  server.start();
  TcpStream c = TcpStream::connect("127.0.0.1", server.local_endpoint().port());
  char buf[16];
  std::error_code ec;
  EXPECT_EQ(c.try_read(buf, ec), 0u);
  EXPECT_EQ(ec, std::errc::operation_would_block) << "nothing was sent yet: " << ec.message();
  c.write_all(std::string("ping\0\xff", 6));  // binary-safe
  c.shutdown_write();
  got_request.wait();
  EXPECT_EQ(read_to_end_without_waiting_reads(c), std::string("got ping\0\xff", 10));
  // End of stream stays: no wait, no error.
  c.wait_readable();
  EXPECT_EQ(c.try_read(buf, ec), 0u);
  EXPECT_FALSE(ec);
  c.close();
  EXPECT_EQ(c.try_read(buf, ec), 0u);
  EXPECT_EQ(ec, std::errc::bad_file_descriptor);
  server.stop(1s);
}

GREEN_TEST(Net, TryReadAndWaitReadableServeBytesLeftByReadLineFirst) {
  StreamServer server = line_echo();
  server.start();
  TcpStream c = TcpStream::connect("127.0.0.1", server.local_endpoint().port());
  c.write_all("three\nfour\n");
  EXPECT_EQ(c.read_line(), "three\n");
  std::string rest;
  while (rest.size() < 5) {
    c.wait_readable();  // returns at once while "four\n" is buffered (it normally is)
    char buf[2];
    std::error_code ec;
    const std::size_t n = c.try_read(buf, ec);
    if (ec == std::errc::operation_would_block) continue;
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_NE(n, 0u);
    rest.append(buf, n);
  }
  EXPECT_EQ(rest, "four\n");
  c.close();
  server.stop(1s);
}

GREEN_TEST(Net, TimeoutOrKillWhileInWaitReadableCancelsTheWait) {
  StreamServer server = line_echo();
  server.start();
  TcpStream c = TcpStream::connect("127.0.0.1", server.local_endpoint().port());
  EXPECT_FALSE(green::try_with_timeout(20ms, [&] { c.wait_readable(); }));
  auto waiter = green::spawn([&] { c.wait_readable(); });
  green::sleep(0s);
  EXPECT_FALSE(waiter.ready());
  waiter.kill();
  EXPECT_TRUE(waiter.killed());
  // The stream is still usable after both.
  c.write_all("after\n");
  c.wait_readable();
  EXPECT_EQ(c.read_line(), "after\n");
  // close() wakes a parked waiter with an error.
  std::error_code ec;
  auto closed = green::spawn([&] { c.wait_readable(ec); });
  green::sleep(0s);
  c.close();
  closed.join();
  EXPECT_TRUE(ec);
  server.stop(1s);
}

// wait_readable() keeps one readiness watch per socket instead of re-arming
// epoll per wait; bytes whose readiness event came while nobody waited, and
// reads through Asio (read_line) in between, must not make it miss data.
GREEN_TEST(Net, WaitReadableSeesBytesThatArrivedWhileNobodyWaitedAndMixesWithReadLine) {
  StreamServer server = line_echo();
  server.start();
  TcpStream c = TcpStream::connect("127.0.0.1", server.local_endpoint().port());
  green::Timeout guard(30s);  // a missed wake-up fails here instead of hanging
  EXPECT_FALSE(green::try_with_timeout(10ms, [&] { c.wait_readable(); })) << "nothing was sent: it waits";
  auto read_now = [&] {
    char buf[64];
    std::error_code ec;
    std::string got;
    while (got.empty() || got.back() != '\n') {
      c.wait_readable();
      const std::size_t n = c.try_read(buf, ec);
      if (ec == std::errc::operation_would_block) continue;
      EXPECT_FALSE(ec) << ec.message();
      if (ec || n == 0) break;
      got.append(buf, n);
    }
    return got;
  };
  c.write_all("one\n");
  green::sleep(50ms);  // the echo (and its epoll event) normally arrives while nobody waits
  EXPECT_EQ(read_now(), "one\n");
  auto reader = green::spawn([&] { return c.read_line(); });
  green::sleep(0s);  // parked in Asio's async_read_some
  c.write_all("two\n");
  EXPECT_EQ(reader.get(), "two\n");
  c.write_all("three\n");
  EXPECT_EQ(read_now(), "three\n");
  c.write_all("four\n");
  EXPECT_EQ(c.read_line(), "four\n");
  c.write_all("five\n");
  green::sleep(50ms);
  EXPECT_EQ(read_now(), "five\n");
  c.close();
  server.stop(1s);
}

GREEN_TEST(Net, ParseAddressTakesNumericAddressesAndLocalhost) {
  EXPECT_EQ(green::net::parse_address("[::1]").to_string(), "::1");
  EXPECT_EQ(green::net::parse_address("localhost").to_string(), "127.0.0.1");
  EXPECT_EQ(green::net::parse_address("10.1.2.3").to_string(), "10.1.2.3");
  EXPECT_EQ(green::net::to_string(green::net::Tcp::endpoint(green::net::parse_address("::1"), 80)), "[::1]:80");
}

GREEN_TEST(Net, StreamServerListensOnIpv6Loopback) {
  std::error_code ec;
  StreamServer server = StreamServer("::1", 0, [](TcpStream& s) { s.write_all("hi v6\n"); });
  server.start();
  TcpStream c = TcpStream::connect("::1", server.local_endpoint().port());
  EXPECT_EQ(c.read_line(), "hi v6\n");
  EXPECT_TRUE(c.remote_endpoint().address().is_v6());
  server.stop(1s);
}

GREEN_TEST(Net, ConnectionLimitTurnsExtraClientsAwayWithTheMessage) {
  green::net::StreamServerOptions opt;
  opt.max_connections = 2;
  opt.full_message = "full\n";
  StreamServer server = line_echo(std::move(opt));
  server.start();
  const auto port = server.local_endpoint().port();
  TcpStream a = TcpStream::connect("127.0.0.1", port);
  TcpStream b = TcpStream::connect("127.0.0.1", port);
  a.write_all("a\n");
  b.write_all("b\n");
  EXPECT_EQ(a.read_line(), "a\n");
  EXPECT_EQ(b.read_line(), "b\n");
  TcpStream c = TcpStream::connect("127.0.0.1", port);
  EXPECT_EQ(c.read_line(), "full\n");
  EXPECT_EQ(c.read_line(), "");
  EXPECT_EQ(server.connections(), 2u);
  EXPECT_EQ(server.rejected(), 1u);
  a.close();
  b.close();
  server.stop(1s);
}

GREEN_TEST(Net, GracefulStopLetsHandlersFinishThenKillsTheRest) {
  Lines log;
  StreamServer server("127.0.0.1", 0, [&](TcpStream& s) {
    const std::string name = s.read_line();
    try {
      if (name == "quick\n") {
        green::sleep(5ms);
      } else {
        green::sleep(10s);
      }
      log.push_back("finished " + name.substr(0, name.size() - 1));
    } catch (const green::GreenletExit&) {
      log.push_back("killed " + name.substr(0, name.size() - 1));
      throw;
    }
  });
  server.start();
  const auto port = server.local_endpoint().port();
  TcpStream q = TcpStream::connect("127.0.0.1", port);
  TcpStream s = TcpStream::connect("127.0.0.1", port);
  q.write_all("quick\n");
  s.write_all("slow\n");
  green::sleep(green::testing::scaled(2ms));  // both handlers read their names
  server.stop(green::testing::scaled(50ms));
  EXPECT_EQ(log, (Lines{"finished quick", "killed slow"}));
  EXPECT_EQ(server.connections(), 0u);
  // The listener is closed: new connections are refused.
  std::error_code ec;
  TcpStream::connect("127.0.0.1", port, 5s, ec);
  EXPECT_TRUE(ec);
}

GREEN_TEST(Net, ServeForeverReturnsAfterStop) {
  StreamServer server = line_echo();
  auto stopper = green::spawn([&] {
    TcpStream c = TcpStream::connect("127.0.0.1", server.local_endpoint().port());
    c.write_all("x\n");
    EXPECT_EQ(c.read_line(), "x\n");
    server.stop();
  });
  server.serve_forever();
  stopper.join();
  EXPECT_TRUE(server.stopped());
}

GREEN_TEST(Net, HandlerExceptionsGoToOnError) {
  green::net::StreamServerOptions opt;
  std::string seen;
  opt.on_error = [&](const green::net::Tcp::endpoint&, std::exception_ptr e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      seen = ex.what();
    }
  };
  StreamServer server(
      "127.0.0.1", 0, [](TcpStream&) { throw std::runtime_error("handler failed"); }, std::move(opt));
  server.start();
  TcpStream c = TcpStream::connect("127.0.0.1", server.local_endpoint().port());
  EXPECT_EQ(c.read_line(), "");
  server.stop(1s);
  EXPECT_EQ(seen, "handler failed");
}

GREEN_TEST(Net, UdpRoundTripThroughADatagramServer) {
  DatagramServer server(Udp::endpoint(green::net::parse_address("127.0.0.1"), 0),
                        [](UdpSocket& sock, std::string_view data, const Udp::endpoint& from) {
                          sock.send_to("echo:" + std::string(data), from);
                        });
  server.start();
  UdpSocket client(Udp::endpoint(green::net::parse_address("127.0.0.1"), 0));
  client.send_to("ping", server.local_endpoint());
  char buf[64];
  Udp::endpoint from;
  const std::size_t n = client.receive_from(buf, from);
  EXPECT_EQ(std::string(buf, n), "echo:ping");
  EXPECT_EQ(from, server.local_endpoint());
  // A receive that nothing answers obeys Timeout.
  bool timed_out = false;
  try {
    green::Timeout t(10ms);
    client.receive_from(buf, from);
  } catch (const green::Timeout&) {
    timed_out = true;
  }
  EXPECT_TRUE(timed_out);
  server.stop();
}

GREEN_TEST(Net, RaiseOpenFilesLimitReachesTheHardLimit) {
  rlimit before{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &before), 0);
  struct Restore {
    rlimit r;
    ~Restore() { ::setrlimit(RLIMIT_NOFILE, &r); }
  } restore{before};
  if (before.rlim_max == RLIM_INFINITY) GTEST_SKIP() << "no finite hard limit to reach";
  // Start below the hard limit, as a shell's default soft limit does.
  rlimit low = before;
  low.rlim_cur = before.rlim_max / 2;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  EXPECT_EQ(green::net::raise_open_files_limit(), before.rlim_max);
  rlimit after{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &after), 0);
  EXPECT_EQ(after.rlim_cur, before.rlim_max);
  EXPECT_EQ(green::net::raise_open_files_limit(), before.rlim_max) << "raising again changes nothing";
}

}  // namespace

GREEN_TEST(Net, ReadSharedWithAnIdleLimitTimesOutOnlyWhileWaiting) {
  StreamServer server = line_echo();
  server.start();
  TcpStream c = TcpStream::connect("127.0.0.1", server.local_endpoint().port());
  green::Timeout guard(30s);
  char buf[64];
  std::error_code ec;
  EXPECT_EQ(c.read_shared(buf, 10ms, ec), 0u);  // nothing was sent: the limit ends the wait
  EXPECT_EQ(ec, std::errc::timed_out);
  c.write_all("one\n");
  std::string got;
  while (got.size() < 4) {
    const std::size_t n = c.read_shared(buf, 30s, ec);
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_NE(n, 0u);
    got.append(buf, n);
  }
  EXPECT_EQ(got, "one\n");
  EXPECT_FALSE(guard.expired());  // the limit's own Timeout never leaked out as the outer one
  c.close();
  server.stop(1s);
}
