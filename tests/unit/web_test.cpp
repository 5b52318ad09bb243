// green::web: the HTTP/1.1 server and its WebSocket against raw clients on
// loopback (green::net streams writing bytes by hand, so malformed and slow
// requests are easy) and Beast's WebSocket client.
#include <green/web.hpp>

#include <green/event.hpp>
#include <green/queue.hpp>
#include <green/yield.hpp>

#include "green_test.hpp"

#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using green::net::TcpStream;
using green::web::Reply;
using green::web::Request;
using green::web::Response;
using green::web::Server;

green::net::Tcp::endpoint loopback() { return {boost::asio::ip::address_v4::loopback(), 0}; }

TcpStream dial(const Server& s) { return TcpStream::connect(s.local_endpoint(), 5s); }

// Everything the server sends until it closes the connection.
std::string read_all(TcpStream& c) {
  std::string out;
  char buf[4096];
  for (;;) {
    std::error_code ec;
    const std::size_t n = c.read_some(buf, ec);
    if (n == 0 || ec) return out;
    out.append(buf, n);
  }
}

// One response with a Content-Length body, read by hand.
std::string read_response(TcpStream& c) {
  std::string head;
  for (;;) {
    std::string line = c.read_line();
    if (line.empty()) return head;
    head += line;
    if (line == "\r\n") break;
  }
  const auto at = head.find("Content-Length: ");
  std::size_t len = at == std::string::npos ? 0 : std::stoul(head.substr(at + 16));
  std::string body(len, '\0');
  std::size_t got = 0;
  while (got < len) {
    const std::size_t n = c.read_some(std::span<char>(body.data() + got, len - got));
    if (n == 0) break;
    got += n;
  }
  return head + body;
}

Response hello(Request& req) {
  Response res{http::status::ok, req.version()};
  res.set(http::field::content_type, "text/plain");
  res.body() = "hello " + std::string(req.target()) + "\n";
  return res;
}

GREEN_TEST(Web, KeepAliveAndPipelinedRequestsAreAnsweredInOrderOnOneConnection) {
  Server server(loopback(), hello);
  server.start();
  TcpStream c = dial(server);
  c.write_all("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string a = read_response(c);
  const std::string b = read_response(c);
  EXPECT_NE(a.find("HTTP/1.1 200 OK\r\n"), std::string::npos) << a;
  EXPECT_NE(a.find("hello /a\n"), std::string::npos) << a;
  EXPECT_NE(b.find("hello /b\n"), std::string::npos) << b;
  c.write_all("GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::string last = read_all(c);
  EXPECT_NE(last.find("hello /c\n"), std::string::npos) << last;
  EXPECT_EQ(server.requests(), 3u);
  server.stop();
}

// Request::waited tells a request whose bytes came with an I/O event the
// hub delivered while the connection was idle from one that was already
// there when the previous answer was done (round_cache.hpp relies on it).
GREEN_TEST(Web, ARequestWaitedForIsToldFromOneAlreadyThere) {
  std::vector<std::pair<std::string, bool>> seen;
  Server server(loopback(), [&](Request& req) {
    seen.emplace_back(std::string(req.target()), req.waited);
    return hello(req);
  });
  server.start();
  TcpStream c = dial(server);
  c.write_all("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  read_response(c);
  // The server answered /a and parked on the empty socket before this runs.
  c.write_all("GET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n");
  read_response(c);
  read_response(c);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[1], std::make_pair(std::string("/b"), true));
  EXPECT_EQ(seen[2], std::make_pair(std::string("/c"), false));  // pipelined behind /b
  server.stop();
}

GREEN_TEST(Web, HeadSendsTheHeadersOfGetWithoutTheBody) {
  Server server(loopback(), hello);
  server.start();
  TcpStream c = dial(server);
  c.write_all("HEAD /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::string r = read_all(c);
  EXPECT_NE(r.find("Content-Length: 9\r\n"), std::string::npos) << r;
  EXPECT_EQ(r.substr(r.size() - 4), "\r\n\r\n") << r;
  server.stop();
}

// One header prepared by the first request and sent again for every later
// one: kept alive for HTTP/1.1, re-serialized where the framing differs
// (HTTP/1.0, Connection: close), header alone for HEAD.
GREEN_TEST(Web, APreparedHeaderIsSentAgainAndFollowsEachRequestsFraming) {
  std::optional<green::web::PreparedHeader> prepared;
  const std::string body = "prepared body\n";
  std::string wrong;
  Server server(loopback(), Server::StreamingHandler([&](Request&, Reply& reply) {
                  if (!prepared) {
                    http::response_header<> h;
                    h.set(http::field::content_type, "text/plain");
                    prepared = reply.prepare(std::move(h), body.size());
                  }
                  if (!reply.head_only()) {  // for HEAD the body is not looked at
                    try {
                      reply.send(*prepared, "short");
                    } catch (const std::logic_error& e) {
                      wrong = e.what();  // nothing went out: the right body follows
                    }
                  }
                  reply.send(*prepared, body);
                }));
  server.start();
  TcpStream c = dial(server);
  c.write_all("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n");
  for (int i = 0; i < 2; ++i) {
    const std::string r = read_response(c);
    EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r;
    EXPECT_NE(r.find("Content-Type: text/plain\r\nServer: green\r\nContent-Length: 14\r\n\r\nprepared body\n"),
              std::string::npos)
        << r;
    EXPECT_EQ(r.find("Connection"), std::string::npos) << r;
  }
  EXPECT_NE(wrong.find("Content-Length"), std::string::npos) << wrong;
  c.write_all("HEAD /c HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string head;
  for (std::string line; (line = c.read_line()) != "\r\n";) head += line;
  EXPECT_NE(head.find("Content-Length: 14\r\n"), std::string::npos) << head;
  c.write_all("GET /d HTTP/1.0\r\n\r\n");
  std::string last = read_all(c);
  EXPECT_EQ(last.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << last;
  EXPECT_EQ(last.substr(last.size() - body.size()), body);
  EXPECT_EQ(last.find("Connection: keep-alive"), std::string::npos) << last;
  TcpStream d = dial(server);
  d.write_all("GET /e HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  last = read_all(d);
  EXPECT_NE(last.find("Connection: close\r\n"), std::string::npos) << last;
  EXPECT_EQ(last.substr(last.size() - body.size()), body);
  EXPECT_EQ(server.requests(), 5u);
  server.stop();
}

// RFC 9110 8.6: no Content-Length in a 204, and in a 304 only the one a 200
// would have had (Beast's prepare_payload adds "Content-Length: 0" to both);
// neither closes the connection, and a streaming 304 sends no body.
GREEN_TEST(Web, ResponsesWithoutContentCarryNoFramingAndKeepTheConnection) {
  Server server(loopback(), Server::StreamingHandler([](Request& req, Reply& reply) {
                  if (req.target() == "/stream") {
                    reply.header().result(http::status::not_modified);
                    reply.write("dropped");
                    return;
                  }
                  Response res{req.target() == "/204" ? http::status::no_content : http::status::not_modified,
                               req.version()};
                  res.set(http::field::etag, "\"x\"");
                  if (req.target() == "/304-length") res.content_length(1234);
                  reply.send(std::move(res));
                }));
  server.start();
  TcpStream c = dial(server);
  const auto head = [&](const char* target) {
    c.write_all(std::string("GET ") + target + " HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string h;
    for (std::string line; (line = c.read_line()) != "\r\n";) h += line;
    return h;
  };
  std::string h = head("/204");
  EXPECT_EQ(h.rfind("HTTP/1.1 204", 0), 0u) << h;
  EXPECT_EQ(h.find("Content-Length"), std::string::npos) << h;
  h = head("/304");
  EXPECT_EQ(h.rfind("HTTP/1.1 304", 0), 0u) << h;
  EXPECT_EQ(h.find("Content-Length"), std::string::npos) << h;
  EXPECT_EQ(h.find("Transfer-Encoding"), std::string::npos) << h;
  h = head("/304-length");
  EXPECT_NE(h.find("Content-Length: 1234\r\n"), std::string::npos) << h;
  h = head("/stream");
  EXPECT_EQ(h.rfind("HTTP/1.1 304", 0), 0u) << h;
  EXPECT_EQ(h.find("Content-Length"), std::string::npos) << h;
  EXPECT_EQ(h.find("Transfer-Encoding"), std::string::npos) << h;
  // Still open, and nothing was sent after those headers.
  c.write_all("GET /304 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::string last = read_all(c);
  EXPECT_EQ(last.rfind("HTTP/1.1 304", 0), 0u) << last;
  EXPECT_EQ(server.requests(), 5u);
  server.stop();
}

GREEN_TEST(Web, AStreamingHandlerWritesChunksAndLongPollsOnAQueue) {
  green::Queue<std::string> q;
  Server server(loopback(), [&](Request&, Reply& reply) {
    reply.header().set(http::field::content_type, "application/json");
    for (int i = 0; i < 2; ++i) {
      auto d = q.get(5s);
      reply.write("\"" + d + "\"\n");
    }
  });
  server.start();
  auto producer = green::spawn([&] {
    green::sleep(10ms);
    q.put("hallo");
    q.put("welt");
  });
  TcpStream c = dial(server);
  c.write_all("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::string r = read_all(c);
  EXPECT_NE(r.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << r;
  EXPECT_NE(r.find("\r\n8\r\n\"hallo\"\n\r\n7\r\n\"welt\"\n\r\n0\r\n\r\n"), std::string::npos) << r;
  producer.join();
  server.stop();
}

// The server's own error answers, as the access log sees them.
struct Logged {
  std::string method, target;
  unsigned status;
  std::uint64_t bytes;
};

void log_into(Server& server, std::vector<Logged>& log) {
  server.on_request([&log](const green::web::AccessRecord& r) {
    log.push_back({std::string(r.method), std::string(r.target), r.status, r.body_bytes});
  });
}

GREEN_TEST(Web, OversizedHeadersGet431AndOversizedBodies413) {
  green::web::Options opt;
  opt.max_header_bytes = 1024;
  opt.max_body_bytes = 100;
  Server server(loopback(), hello, opt);
  std::vector<Logged> log;
  log_into(server, log);
  server.start();
  {
    TcpStream c = dial(server);
    c.write_all("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n");
    EXPECT_EQ(read_all(c).rfind("HTTP/1.1 431 ", 0), 0u);
  }
  {
    TcpStream c = dial(server);
    c.write_all("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + std::string(1000, 'b'));
    EXPECT_EQ(read_all(c).rfind("HTTP/1.1 413 ", 0), 0u);
  }
  {
    TcpStream c = dial(server);
    c.write_all("GARBAGE\r\n\r\n");
    EXPECT_EQ(read_all(c).rfind("HTTP/1.1 400 ", 0), 0u);
  }
  server.stop();
  // Each answer is in the access log; the 413's request header was read.
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0].status, 431u);
  EXPECT_EQ(log[0].method, "");
  EXPECT_EQ(log[1].status, 413u);
  EXPECT_EQ(log[1].method, "POST");
  EXPECT_EQ(log[1].target, "/");
  EXPECT_EQ(log[2].status, 400u);
  EXPECT_EQ(log[2].bytes, std::string_view("Bad Request\n").size());
}

GREEN_TEST(Web, AClientTricklingItsRequestLineGets408AndIsCutOff) {
  green::web::Options opt;
  opt.header_timeout = 150ms;
  Server server(loopback(), hello, opt);
  std::vector<Logged> log;
  log_into(server, log);
  server.start();
  TcpStream c = dial(server);
  std::error_code ec;
  // One byte every 20 ms: it never finishes in time.
  for (char ch : std::string("GET /slow HTTP/1.1\r\nHost: x\r\n")) {
    c.write_all(std::string_view(&ch, 1), ec);
    if (ec) break;
    green::sleep(20ms);
  }
  EXPECT_EQ(read_all(c).rfind("HTTP/1.1 408 ", 0), 0u);
  EXPECT_EQ(server.requests(), 0u);
  server.stop();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].status, 408u);
}

GREEN_TEST(Web, AHandlerExceptionIs500AndTheServerGoesOn) {
  Server server(loopback(), [](Request& req) -> Response {
    if (req.target() == "/boom") throw std::runtime_error("boom");
    return hello(req);
  });
  server.start();
  {
    TcpStream c = dial(server);
    c.write_all("GET /boom HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(read_all(c).rfind("HTTP/1.1 500 ", 0), 0u);
  }
  TcpStream c = dial(server);
  c.write_all("GET /ok HTTP/1.0\r\n\r\n");
  EXPECT_NE(read_all(c).find("hello /ok"), std::string::npos);
  server.stop();
}

GREEN_TEST(Web, IdleKeepAliveConnectionsAreClosedAndStopEndsIdleOnesAtOnce) {
  green::web::Options opt;
  opt.idle_timeout = 50ms;
  Server server(loopback(), hello, opt);
  server.start();
  TcpStream c = dial(server);
  c.write_all("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  read_response(c);
  EXPECT_EQ(read_all(c), "");  // closed by the server after 50 ms idle

  green::web::Options forever_idle;
  forever_idle.idle_timeout = green::forever;
  forever_idle.header_timeout = green::forever;
  Server second(loopback(), hello, forever_idle);
  second.start();
  TcpStream d = dial(second);
  d.write_all("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  read_response(d);
  second.stop(5s);  // an idle connection does not hold the stop for its grace
  EXPECT_EQ(read_all(d), "");
  server.stop();
}

// The idle limit counts from the end of the last request, not from the first
// wait: a connection whose requests keep coming (one of them after the
// idle timer gave back its stack and buffers) lives past the limit and gets
// every answer, then is closed once it stays idle.
GREEN_TEST(Web, TheIdleLimitRestartsWithEveryRequestAndSurvivesATrimmedWait) {
  green::web::Options opt;
  opt.idle_timeout = 400ms;
  Server server(loopback(), hello, opt);
  server.start();
  TcpStream c = dial(server);
  for (int i = 0; i < 8; ++i) {
    const std::string target = "/r" + std::to_string(i);
    c.write_all("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_NE(read_response(c).find("hello " + target), std::string::npos) << i;
    green::sleep(i == 3 ? 250ms : 80ms);  // 250 ms: past the 100 ms trim, short of the limit
  }
  EXPECT_EQ(read_all(c), "");  // closed once idle for 400 ms
  EXPECT_EQ(server.requests(), 8u);
  server.stop();
}

GREEN_TEST(Web, WebSocketEchoesTextAndBinaryAndClosesCleanly) {
  std::uint16_t code = 0;
  Server server(loopback(), [&](Request& req, Reply& reply) {
    ASSERT_TRUE(green::web::is_websocket_upgrade(req));
    auto ws = reply.accept_websocket(req);
    while (auto m = ws.receive()) ws.send(m->data, m->binary);
    code = ws.close_code();
  });
  server.start();
  TcpStream c = dial(server);
  websocket::stream<green::net::Tcp::socket&> ws(c.socket());
  ws.async_handshake("x", "/", green::yield);
  ws.text(true);
  ws.async_write(boost::asio::buffer(std::string("hallo")), green::yield);
  boost::beast::flat_buffer buf;
  ws.async_read(buf, green::yield);
  EXPECT_TRUE(ws.got_text());
  EXPECT_EQ(boost::beast::buffers_to_string(buf.data()), "hallo");
  buf.clear();
  ws.binary(true);
  ws.async_write(boost::asio::buffer(std::string("\x00\xff", 2)), green::yield);
  ws.async_read(buf, green::yield);
  EXPECT_TRUE(ws.got_binary());
  EXPECT_EQ(boost::beast::buffers_to_string(buf.data()), std::string("\x00\xff", 2));
  ws.async_close(websocket::close_code::normal, green::yield);
  server.stop(5s);
  EXPECT_EQ(code, 1000);
}

GREEN_TEST(Web, SendManyWritesEachMessageWholeAndInOrderWhileTheClientPings) {
  const std::string big(100 * 1024, 'b');  // past one write_some of 64 KiB
  Server server(loopback(), [&](Request& req, Reply& reply) {
    auto ws = reply.accept_websocket(req);
    // Receiving answers the client's pings while the batches go out.
    auto reader = green::spawn([&] {
      while (ws.receive()) {
      }
    });
    for (int round = 0; round < 50; ++round) {
      const std::string n = std::to_string(round);
      const std::vector<std::string_view> batch{n, "", big, "last"};
      ws.send_many(batch);
    }
    reader.join();  // the client's close
  });
  server.start();
  TcpStream c = dial(server);
  websocket::stream<green::net::Tcp::socket&> ws(c.socket());
  ws.async_handshake("x", "/", green::yield);
  boost::beast::flat_buffer buf;
  for (int round = 0; round < 50; ++round) {
    if (round % 5 == 0) ws.async_ping({}, green::yield);  // its pong lands between messages
    for (const std::string& want : {std::to_string(round), std::string(), big, std::string("last")}) {
      buf.clear();
      ws.async_read(buf, green::yield);
      ASSERT_TRUE(ws.got_text());
      ASSERT_EQ(boost::beast::buffers_to_string(buf.data()), want) << "round " << round;
    }
  }
  ws.async_close(websocket::close_code::normal, green::yield);
  server.stop(5s);
}

GREEN_TEST(Web, SendsThatFillTheSocketArriveWholeAndInOrderAroundTheClientsPings) {
  // A client that reads slowly and pings while big messages go
  // out: most sends leave part of their frame for later, and the pongs the
  // server answers meanwhile must land between frames, not inside one.
  const auto message = [](int i) { return std::string(i % 2 ? 3 : 1024 * 1024, static_cast<char>('a' + i % 26)); };
  constexpr int kMessages = 24;
  Server server(loopback(), [&](Request& req, Reply& reply) {
    auto ws = reply.accept_websocket(req);
    auto reader = green::spawn([&] {
      while (ws.receive()) {
      }
    });
    for (int i = 0; i < kMessages; ++i) ws.send(message(i), i % 3 == 0);
    reader.join();
  });
  server.start();
  TcpStream c = dial(server);
  c.socket().set_option(boost::asio::socket_base::receive_buffer_size(64 * 1024));
  websocket::stream<green::net::Tcp::socket&> ws(c.socket());
  ws.async_handshake("x", "/", green::yield);
  boost::beast::flat_buffer buf;
  for (int i = 0; i < kMessages; ++i) {
    for (int p = 0; p < 3; ++p) ws.async_ping({}, green::yield);
    green::sleep(1ms);  // the server's socket buffer fills meanwhile
    buf.clear();
    ws.async_read(buf, green::yield);
    ASSERT_EQ(ws.got_binary(), i % 3 == 0) << "message " << i;
    ASSERT_EQ(boost::beast::buffers_to_string(buf.data()), message(i)) << "message " << i;
  }
  ws.async_close(websocket::close_code::normal, green::yield);
  server.stop(5s);
}

GREEN_TEST(Web, KillAndTimeoutInterruptAParkedWebSocketReceive) {
  bool timed_out = false;
  Server server(loopback(), [&](Request& req, Reply& reply) {
    auto ws = reply.accept_websocket(req);
    try {
      green::Timeout t(30ms);
      ws.receive();
    } catch (const green::Timeout&) {
      timed_out = true;
    }
    ws.receive();  // parks until the server's stop kills it
  });
  server.start();
  TcpStream c = dial(server);
  websocket::stream<green::net::Tcp::socket&> ws(c.socket());
  ws.async_handshake("x", "/", green::yield);
  green::sleep(green::testing::scaled(100ms));  // the handler's 30 ms Timeout fires
  server.stop();  // no grace: kills the handler parked in receive()
  EXPECT_TRUE(timed_out);
  EXPECT_EQ(server.connections(), 0u);
}

GREEN_TEST(Web, AMessageATimeoutInterruptedIsWholeAtTheNextReceive) {
  bool timed_out = false;
  std::string got;
  green::Event first_part_in;
  Server server(loopback(), [&](Request& req, Reply& reply) {
    auto ws = reply.accept_websocket(req);
    try {
      green::Timeout t(green::testing::scaled(50ms));
      ws.receive();  // reads the first fragment, then waits for the rest
    } catch (const green::Timeout&) {
      timed_out = true;
    }
    first_part_in.set();
    if (auto m = ws.receive()) got = m->data;
    ws.receive();  // the client's close
  });
  server.start();
  TcpStream c = dial(server);
  websocket::stream<green::net::Tcp::socket&> ws(c.socket());
  ws.async_handshake("x", "/", green::yield);
  ws.async_write_some(false, boost::asio::buffer(std::string("first half, ")), green::yield);
  first_part_in.wait();
  ws.async_write_some(true, boost::asio::buffer(std::string("second half")), green::yield);
  ws.async_close(websocket::close_code::normal, green::yield);
  server.stop(5s);
  EXPECT_TRUE(timed_out);
  EXPECT_EQ(got, "first half, second half");
}

GREEN_TEST(Web, TheIdlePingKeepsAWebSocketPeerThatAnswersIt) {
  green::web::Options opt;
  opt.websocket_idle_timeout = green::testing::scaled(200ms);  // a ping after 100 ms of silence
  Server server(
      loopback(),
      [&](Request& req, Reply& reply) {
        auto ws = reply.accept_websocket(req);
        while (auto m = ws.receive()) ws.send(m->data);
      },
      opt);
  server.start();
  TcpStream c = dial(server);
  websocket::stream<green::net::Tcp::socket&> ws(c.socket());
  ws.async_handshake("x", "/", green::yield);
  int pings = 0;
  ws.control_callback([&](websocket::frame_type kind, boost::beast::string_view) {
    if (kind == websocket::frame_type::ping) ++pings;
  });
  // The client reads (answering each ping) and says nothing for 3 idle
  // timeouts; without the pings, or with their pongs unseen, the server
  // would end the connection after one.
  boost::beast::flat_buffer buf;
  auto reader = green::spawn([&] { ws.async_read(buf, green::yield); });
  green::sleep(green::testing::scaled(600ms));
  ws.async_write(boost::asio::buffer(std::string("still here")), green::yield);
  reader.join();
  EXPECT_EQ(boost::beast::buffers_to_string(buf.data()), "still here");
  EXPECT_GE(pings, 2);
  ws.async_close(websocket::close_code::normal, green::yield);
  server.stop(5s);
}

GREEN_TEST(Web, CloseWhileAnotherGreenletReceivesEndsTheReceiveWithThePeersAnswer) {
  std::uint16_t code = 0;
  bool reader_ended = false, send_refused = false;
  Server server(loopback(), [&](Request& req, Reply& reply) {
    auto ws = reply.accept_websocket(req);
    auto reader = green::spawn([&] {
      while (ws.receive()) {
      }
      reader_ended = true;
    });
    ws.send("bye soon");
    green::Timeout limit(10s);
    ws.close(4000, "done");
    reader.join();
    code = ws.close_code();
    EXPECT_FALSE(ws.is_open());
    try {
      ws.send("after the close");
    } catch (const std::system_error&) {
      send_refused = true;
    }
  });
  server.start();
  TcpStream c = dial(server);
  websocket::stream<green::net::Tcp::socket&> ws(c.socket());
  ws.async_handshake("x", "/", green::yield);
  boost::beast::flat_buffer buf;
  ws.async_read(buf, green::yield);
  EXPECT_EQ(boost::beast::buffers_to_string(buf.data()), "bye soon");
  boost::system::error_code ec;
  ws.async_read(buf, green::yield[ec]);  // answers the close
  EXPECT_EQ(ec, websocket::error::closed);
  EXPECT_EQ(ws.reason().code, 4000);
  EXPECT_EQ(ws.reason().reason, "done");
  server.stop(5s);
  EXPECT_TRUE(reader_ended);
  EXPECT_TRUE(send_refused);
  EXPECT_EQ(code, 4000);
}

GREEN_TEST(Web, TheRequestCarriesThePeerAddressAndNotXForwardedFor) {
  std::vector<green::net::Tcp::endpoint> peers;
  Server server(loopback(), [&](Request& req) {
    peers.push_back(req.peer);
    return hello(req);
  });
  server.start();
  TcpStream c = dial(server);
  c.write_all("GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 192.0.2.7\r\nConnection: close\r\n\r\n");
  read_all(c);
  server.stop();
  std::error_code ec;
  ASSERT_EQ(peers.size(), 1u);
  EXPECT_EQ(peers[0], c.local_endpoint(ec));
}

// A client that finished the handshake and then reads nothing, so the
// server's sends fill the socket buffers and park.
struct StalledClient {
  explicit StalledClient(const Server& s, int receive_buffer = 4096) : c(dial(s)) {
    c.socket().set_option(boost::asio::socket_base::receive_buffer_size(receive_buffer));
    c.write_all(
        "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  }
  TcpStream c;
};

GREEN_TEST(Web, AbortEndsASendParkedOnAClientThatStoppedReading) {
  std::string send_error;
  std::uint16_t code = 0;
  green::Event parked;
  Server server(loopback(), [&](Request& req, Reply& reply) {
    auto ws = reply.accept_websocket(req);
    auto sender = green::spawn([&] {
      const std::string big(256 * 1024, 'x');
      try {
        for (;;) ws.send(big);
      } catch (const std::system_error& e) {
        send_error = e.what();
      }
    });
    green::sleep(100ms);  // long enough for the sends to fill the buffers
    parked.set();
    ws.abort();
    green::Timeout limit(10s);  // the write_timeout is 60 s: only abort ends the send in time
    sender.join();
    EXPECT_FALSE(ws.receive());
    code = ws.close_code();
  });
  server.start();
  StalledClient client(server);
  parked.wait();
  server.stop(10s);
  EXPECT_NE(send_error, "");
  EXPECT_EQ(send_error.find("timed out"), std::string::npos) << send_error;
  EXPECT_EQ(code, 1006);
}

GREEN_TEST(Web, APeersCloseReadWhileASendHoldsTheSocketIsAnsweredAfterAReceiveTimeout) {
  // The close answer Beast's read writes waits behind a send parked on a
  // client that does not read; a Timeout of the receive that fires
  // meanwhile must not lose it: the next receive sees the end, and the
  // client gets the answer after the message.
  green::web::Options opt;
  opt.websocket_idle_timeout = 2s;  // ends a connection whose close went unanswered
  const std::string big(8 * 1024 * 1024, 'x');
  std::uint16_t code = 0;
  int timeouts = 0;
  Server server(
      loopback(),
      [&](Request& req, Reply& reply) {
        auto ws = reply.accept_websocket(req);
        auto sender = green::spawn([&] { ws.send(big, true); });
        green::Timeout limit(10s);
        for (;;) {
          try {
            green::Timeout t(green::testing::scaled(50ms));
            if (!ws.receive()) break;
          } catch (const green::Timeout& e) {
            if (e == limit) throw;
            ++timeouts;
          }
        }
        code = ws.close_code();
        sender.join();
      },
      opt);
  server.start();
  StalledClient client(server, 64 * 1024);
  TcpStream& c = client.c;
  green::sleep(green::testing::scaled(50ms));  // the send fills the socket and parks
  // A masked close (key 0, so the payload is as written), code 1000.
  c.write_all(std::string("\x88\x82\0\0\0\0\x03\xe8", 8));
  green::sleep(green::testing::scaled(200ms));  // receive's Timeouts fire while the send holds the socket
  std::string got;
  {
    green::Timeout limit(10s);
    got = read_all(c);
  }
  server.stop(5s);
  EXPECT_GT(timeouts, 0);
  EXPECT_EQ(code, 1000);
  ASSERT_GT(got.size(), big.size());
  EXPECT_EQ(got.substr(got.size() - 4), std::string("\x88\x02\x03\xe8", 4));  // the answer, last
}

GREEN_TEST(Web, CloseAfterAReceiveTimeoutLeftThePeersCloseUnansweredAnswersIt) {
  // As above, but the handler calls close() after the Timeout: the peer's
  // close is in already, so close() answers it and does not wait for another.
  const std::string big(8 * 1024 * 1024, 'x');
  std::uint16_t code = 0;
  bool closed = false;
  Server server(loopback(), [&](Request& req, Reply& reply) {
    auto ws = reply.accept_websocket(req);
    auto sender = green::spawn([&] { ws.send(big, true); });
    try {
      green::Timeout t(green::testing::scaled(100ms));
      ws.receive();
    } catch (const green::Timeout&) {
    }
    green::Timeout limit(10s);  // the idle timeout is 60 s
    ws.close(1001);
    closed = true;
    code = ws.close_code();
    sender.join();
  });
  server.start();
  StalledClient client(server, 64 * 1024);
  TcpStream& c = client.c;
  green::sleep(green::testing::scaled(50ms));
  c.write_all(std::string("\x88\x82\0\0\0\0\x03\xe8", 8));
  green::sleep(green::testing::scaled(200ms));
  std::string got;
  {
    green::Timeout limit(15s);
    got = read_all(c);
  }
  server.stop(5s);
  EXPECT_TRUE(closed);
  EXPECT_EQ(code, 1000);
  ASSERT_GT(got.size(), big.size());
  EXPECT_EQ(got.substr(got.size() - 4), std::string("\x88\x02\x03\xe8", 4));
}

GREEN_TEST(Web, AWebSocketPeerThatAnswersNoPingIsClosedAfterTheIdleTimeout) {
  green::web::Options opt;
  opt.websocket_idle_timeout = 200ms;  // a ping after 100 ms of silence
  bool ended = false;
  std::uint16_t code = 0;
  Server server(
      loopback(),
      [&](Request& req, Reply& reply) {
        auto ws = reply.accept_websocket(req);
        green::Timeout limit(10s);
        ended = !ws.receive();
        code = ws.close_code();
      },
      opt);
  server.start();
  StalledClient client(server);
  green::sleep(50ms);
  server.stop(15s);
  EXPECT_TRUE(ended);
  EXPECT_EQ(code, 1006);
}

}  // namespace
